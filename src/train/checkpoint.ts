// Checkpoints: <dir>/ckpt.json (configs, step, tokenizer) + <dir>/ckpt.bin
// (f32 little-endian: parameters, then AdamW m, then v, each layout.total long).
// Both are written to temporary names and renamed, so a crash never leaves half a file.
import { mkdirSync, writeFileSync, renameSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GPTConfig } from '../model/config.ts';
import type { TokenizerDescription } from '../data/tokenizer.ts';
import { bytesOf } from '../engine/tensor.ts';

export const CHECKPOINT_VERSION = 1;

export interface CheckpointMeta {
  version: number;
  step: number;
  modelConfig: GPTConfig;
  trainConfig: Record<string, unknown>;
  tokenizer: TokenizerDescription;
  adamSteps: number;
  paramCount: number; // floats per section of ckpt.bin
}

export interface CheckpointData {
  meta: CheckpointMeta;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export function saveCheckpoint(dir: string, data: CheckpointData): string {
  mkdirSync(dir, { recursive: true });
  const sectionBytes = bytesOf('f32', data.meta.paramCount);
  const bin = Buffer.alloc(3 * sectionBytes);
  let offset = 0;
  for (const part of [data.params, data.m, data.v]) {
    Buffer.from(part.buffer, part.byteOffset, sectionBytes).copy(bin, offset);
    offset += sectionBytes;
  }
  const binPath = join(dir, 'ckpt.bin');
  const jsonPath = join(dir, 'ckpt.json');
  writeFileSync(binPath + '.tmp', bin);
  writeFileSync(jsonPath + '.tmp', JSON.stringify(data.meta, null, 2));
  renameSync(binPath + '.tmp', binPath);
  renameSync(jsonPath + '.tmp', jsonPath);
  return jsonPath;
}

export class CheckpointError extends Error {}

export function loadCheckpoint(dir: string): CheckpointData {
  const jsonPath = join(dir, 'ckpt.json');
  const binPath = join(dir, 'ckpt.bin');
  if (!existsSync(jsonPath) || !existsSync(binPath)) {
    throw new CheckpointError(`no checkpoint in ${dir} (expected ckpt.json and ckpt.bin; check --out-dir)`);
  }
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`corrupt checkpoint ${jsonPath}: ${(e as Error).message} (delete it or train from scratch)`);
  }
  if (meta.version !== CHECKPOINT_VERSION || !Number.isInteger(meta.paramCount) || !meta.modelConfig || !meta.tokenizer) {
    throw new CheckpointError(`corrupt or foreign checkpoint ${jsonPath}: missing fields or version ${meta.version} (expected ${CHECKPOINT_VERSION})`);
  }
  const bin = readFileSync(binPath);
  const n = meta.paramCount;
  const expected = 3 * bytesOf('f32', n);
  if (bin.length !== expected) {
    throw new CheckpointError(`corrupt checkpoint ${binPath}: ${bin.length} bytes, expected ${expected} (truncated write?)`);
  }
  const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length));
  return { meta, params: all.subarray(0, n), m: all.subarray(n, 2 * n), v: all.subarray(2 * n, 3 * n) };
}
