// Checkpoints: safetensors weights and moments under the parameter names, a verified
// state file, atomic saves that never leave a broken checkpoint, and clear errors.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, truncateSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train, TrainingError } from '../src/train/trainer.ts';
import { loadCheckpoint, loadCheckpointState, saveCheckpoint, CheckpointError } from '../src/train/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors, f32Tensor, f32Values, SafetensorsError } from '../src/io/safetensors.ts';
import type { TrainConfig } from '../src/train/config.ts';
import { expectBitwiseEqual } from './harness.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-ckpt-'));
const quiet = {};

function corpus(): string {
  const file = join(tmp(), 'corpus.txt');
  writeFileSync(file, 'A line of text for a tiny model to learn, over and over.\n'.repeat(80));
  return file;
}

function tiny(overrides: Partial<TrainConfig>): Partial<TrainConfig> {
  return {
    data: [corpus()], tokenizer: 'char', cacheDir: null, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, maxIters: 6,
    evalInterval: 3, evalIters: 1, sampleTokens: 0, threads: 1, ...overrides,
  };
}

describe('safetensors', () => {
  it('round-trips tensors and metadata; the header keeps the data 8-byte aligned', () => {
    const a = Float32Array.from([1, -2.5, 3e-8, NaN, Infinity, 0]);
    const b = Float32Array.from([7]);
    const bytes = encodeSafetensors(new Map([['a', f32Tensor([2, 3], a)], ['b.c', f32Tensor([1], b)]]), { format: 'pt' });
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get('a')!.shape).toEqual([2, 3]);
    expectBitwiseEqual(f32Values(tensors.get('a')!), a, 'a');
    expectBitwiseEqual(f32Values(tensors.get('b.c')!), b, 'b.c');
  });

  it('refuses a truncated file, overlapping or uncovered data, and a bad header', () => {
    const bytes = encodeSafetensors(new Map([['a', f32Tensor([4], new Float32Array(4))]]));
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 1))).toThrow(SafetensorsError);
    const bad = (header: object) => {
      const json = Buffer.from(JSON.stringify(header));
      const out = Buffer.alloc(8 + json.length + 16);
      out.writeBigUInt64LE(BigInt(json.length));
      json.copy(out, 8);
      return out;
    };
    expect(() => decodeSafetensors(bad({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }))).not.toThrow();
    expect(() => decodeSafetensors(bad({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }))).toThrow(/cover 8 of 16/);
    expect(() => decodeSafetensors(bad({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }))).toThrow(/contiguous/);
    expect(() => decodeSafetensors(bad({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }))).toThrow(/dtype "F128"/);
  });
});

describe('checkpoints', () => {
  it('hold the weights under the parameter names (no padding), the moments as exp_avg / exp_avg_sq, and a verified state', async () => {
    const outDir = join(tmp(), 'out');
    const result = await train(tiny({ outDir }), quiet);
    const layout = result.layout;
    const state = JSON.parse(readFileSync(join(outDir, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ format: 'wasmgpt-checkpoint', version: 2, step: 6, adamSteps: 6, kernels: result.kernels });
    const weights = decodeSafetensors(readFileSync(join(outDir, state.files.model.name)));
    expect(weights.metadata.format).toBe('pt');
    expect([...weights.tensors.keys()]).toEqual(layout.specs.map((s) => s.name));
    for (const s of layout.specs) expectBitwiseEqual(f32Values(weights.tensors.get(s.name)!), result.params.subarray(s.offset, s.offset + s.size), s.name);
    const moments = decodeSafetensors(readFileSync(join(outDir, state.files.optimizer.name)));
    expect(moments.tensors.has('exp_avg.wte') && moments.tensors.has('exp_avg_sq.ln_f.weight')).toBe(true);
    const loaded = loadCheckpoint(outDir, layout);
    expectBitwiseEqual(loaded.params, result.params, 'params through load');
    // the best validation checkpoint sits in best/
    expect(loadCheckpointState(join(outDir, 'best')).step).toBeGreaterThan(0);
    // only the latest checkpoint's files remain
    expect(readdirSync(outDir).filter((f) => f.endsWith('.safetensors'))).toHaveLength(2);
  });

  it('every damage is a CheckpointError naming the file: truncation, flipped bytes, a foreign file, edited state', async () => {
    const outDir = join(tmp(), 'out');
    const result = await train(tiny({ outDir }), quiet);
    const layout = result.layout;
    const state = JSON.parse(readFileSync(join(outDir, 'state.json'), 'utf8'));
    const model = join(outDir, state.files.model.name);
    const original = readFileSync(model);
    const expectError = (message: RegExp) => {
      expect(() => loadCheckpoint(outDir, layout)).toThrow(CheckpointError);
      expect(() => loadCheckpoint(outDir, layout)).toThrow(message);
    };
    truncateSync(model, 100);
    expectError(/model-.*\.safetensors has 100 bytes, expected \d+ \(truncated\?\)/);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 3] ^= 0x10;
    writeFileSync(model, flipped);
    expectError(/model-.*\.safetensors does not match its SHA-256/);
    writeFileSync(model, original);
    expect(() => loadCheckpoint(outDir, layout)).not.toThrow();
    // another run's (valid) state file: its checksum holds, but the files it names are gone
    writeFileSync(join(outDir, 'state.json'), JSON.stringify({ ...state, step: 99 }));
    expectError(/checksum does not match/);
    writeFileSync(join(outDir, 'state.json'), '{ not json');
    expectError(/corrupt checkpoint .*state\.json/);
    expect(() => loadCheckpoint(join(outDir, 'nowhere'), layout)).toThrow(/no checkpoint/);
    // a checkpoint of another model
    const otherDir = join(tmp(), 'o2');
    await train(tiny({ outDir: otherDir, nEmbd: 8 }), quiet);
    expect(() => loadCheckpoint(otherDir, layout)).toThrow(/is F32\[\d+, 8\], the model has F32\[\d+, 16\]/);
  });

  it('a save that dies half way leaves the previous checkpoint loadable; its temporaries are cleaned at the next save', async () => {
    const outDir = join(tmp(), 'out');
    const result = await train(tiny({ outDir }), quiet);
    const layout = result.layout;
    const before = loadCheckpoint(outDir, layout);
    // a crash after the new tensor files, before the new state.json: stray files, old state
    writeFileSync(join(outDir, 'model-0000099-abcdef.safetensors'), 'partial');
    writeFileSync(join(outDir, 'state.json.tmp-123-deadbeef'), '{');
    expectBitwiseEqual(loadCheckpoint(outDir, layout).params, before.params, 'old checkpoint after a crash');
    saveCheckpoint(outDir, layout, { ...before, state: { ...before.state, step: 7 } });
    expect(loadCheckpointState(outDir).step).toBe(7);
    expect(readdirSync(outDir).sort()).toEqual(expect.arrayContaining(['state.json']));
    expect(readdirSync(outDir).some((f) => f.includes('.tmp-') || f.includes('0000099'))).toBe(false);
  });

  it('a run into a directory with a checkpoint says so, and keeps it until its own first save', async () => {
    const outDir = join(tmp(), 'out');
    await train(tiny({ outDir }), quiet);
    const lines: string[] = [];
    await train(tiny({ outDir, maxIters: 2, saveInterval: 1 }), { onLog: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(/note: .* holds a checkpoint \(step 6\); this run replaces it at its first save/);
    expect(loadCheckpointState(outDir).step).toBe(2);
  });

  it('saves every --save-interval steps, and the state before a diverging step', async () => {
    const outDir = join(tmp(), 'out');
    await expect(train(tiny({ outDir, maxIters: 40, lr: 1e6, minLr: 0, warmupIters: 0, gradClip: 0, saveInterval: 2 }), quiet)).rejects.toThrow(TrainingError);
    const state = loadCheckpointState(outDir);
    expect(state.step).toBeGreaterThan(0);
    const layout = (await train(tiny({ outDir: join(tmp(), 'o'), maxIters: 0 }), quiet)).layout;
    expect(loadCheckpoint(outDir, layout).params.every(Number.isFinite)).toBe(true);
    expect(existsSync(join(outDir, 'state.json'))).toBe(true);
  });
});
