// Checkpoints: a directory holding
//   model-<tag>.safetensors      the weights, fp32, under the parameter names (no padding)
//   optimizer-<tag>.safetensors  AdamW's moments: exp_avg.<name>, exp_avg_sq.<name>
//   state.json                   everything else a run continues from, the files' SHA-256,
//                                and a checksum of its own content
// Saving is atomic and durable: the new tensor files get new names (nothing is
// overwritten), each is written to a unique temporary name, fsynced and renamed; then
// state.json is replaced the same way (the commit point), the directory fsynced, and only
// then are the previous checkpoint's files and stale temporaries removed. A crash at any
// moment leaves the old checkpoint or the new one, both complete. Loading verifies sizes,
// checksums, names and shapes; any mismatch is a CheckpointError naming the file.
import type { LossScalerState } from './loss-scaler.ts';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { GPTConfig } from '../model/config.ts';
import type { ParameterLayout } from '../model/parameters.ts';
import type { TokenizerDescription } from '../data/tokenizer.ts';
import type { RngState } from '../engine/random.ts';
import type { DropoutState } from '../model/gpt.ts';
import { decodeSafetensors, encodeSafetensors, f32Tensor, f32Values, SafetensorsError, type SafeTensor } from '../io/safetensors.ts';
import { WasmgptError, type ErrorCode } from '../errors.ts';

export const CHECKPOINT_FORMAT = 'wasmgpt-checkpoint';
export const CHECKPOINT_VERSION = 2;
const STATE_FILE = 'state.json';

export class CheckpointError extends WasmgptError {
  override name = 'CheckpointError';

  constructor(message: string, code: ErrorCode = 'E_CHECKPOINT') {
    super(message, code);
  }
}

// What state.json holds besides the file list and checksum.
export interface CheckpointState {
  step: number; // optimizer steps taken
  adamSteps: number;
  batches: RngState; // the training batch sampler
  dropout: DropoutState;
  modelConfig: GPTConfig;
  trainConfig: Record<string, unknown>;
  tokenizer: TokenizerDescription;
  kernels: string; // the build that trained it (relaxed results differ in the last bits by CPU)
  valLoss: number | null; // at the last evaluation
  dataHash: string; // SHA-256 of the corpus's tokens (a resumed run checks it)
  lossScaler: LossScalerState | null; // fp16 runs: the dynamic loss scale (absent in older checkpoints)
}

interface FileEntry {
  name: string;
  bytes: number;
  sha256: string;
}

interface StateFile extends CheckpointState {
  format: string;
  version: number;
  files: { model: FileEntry; optimizer: FileEntry };
  checksum: string; // SHA-256 of this object's JSON without this field
}

export interface CheckpointData {
  state: CheckpointState;
  params: Float32Array; // flat, in the layout's order (padding zero)
  m: Float32Array;
  v: Float32Array;
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

function checksumOf(state: Omit<StateFile, 'checksum'>): string {
  return sha256(JSON.stringify(state));
}

// Writes bytes to `path` through a unique temporary name: write, fsync, rename.
export function writeDurably(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'w');
  try {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let written = 0;
    while (written < data.byteLength) written += writeSync(fd, data, written, data.byteLength - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Each parameter as its own tensor: the flat buffer without its alignment padding.
function byName(layout: ParameterLayout, flat: Float32Array, prefix: string): Map<string, SafeTensor> {
  return new Map(layout.specs.map((s) => [prefix + s.name, f32Tensor(s.shape, flat.subarray(s.offset, s.offset + s.size))]));
}

// Saves a checkpoint into dir (created if needed); returns the path of its state.json.
export function saveCheckpoint(dir: string, layout: ParameterLayout, data: CheckpointData): string {
  mkdirSync(dir, { recursive: true });
  const tag = `${String(data.state.step).padStart(7, '0')}-${randomBytes(3).toString('hex')}`;
  const model = encodeSafetensors(byName(layout, data.params, ''), { format: 'pt' });
  const optimizer = encodeSafetensors(new Map([...byName(layout, data.m, 'exp_avg.'), ...byName(layout, data.v, 'exp_avg_sq.')]));
  const files = {
    model: { name: `model-${tag}.safetensors`, bytes: model.byteLength, sha256: sha256(model) },
    optimizer: { name: `optimizer-${tag}.safetensors`, bytes: optimizer.byteLength, sha256: sha256(optimizer) },
  };
  writeDurably(join(dir, files.model.name), model);
  writeDurably(join(dir, files.optimizer.name), optimizer);
  const body: Omit<StateFile, 'checksum'> = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...runState(data.state as StateFile), files };
  const statePath = join(dir, STATE_FILE);
  writeDurably(statePath, JSON.stringify({ ...body, checksum: checksumOf(body) }, null, 2) + '\n');
  fsyncDirectory(dir);
  // the new checkpoint is in place: what the old one used, and any temporary left by a crash, can go
  const keep = new Set([files.model.name, files.optimizer.name, STATE_FILE]);
  for (const f of readdirSync(dir)) {
    if (!keep.has(f) && (/^(model|optimizer)-.*\.safetensors$/.test(f) || /\.tmp-\d+-[0-9a-f]+$/.test(f))) unlinkSync(join(dir, f));
  }
  return statePath;
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE));
}

function readState(dir: string): StateFile {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) throw new CheckpointError(`no checkpoint in ${dir} (expected ${STATE_FILE}; check --out-dir)`);
  let state: StateFile;
  try {
    state = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`corrupt checkpoint ${path}: ${(e as Error).message}`, 'E_CHECKPOINT_CORRUPT');
  }
  if (state?.format !== CHECKPOINT_FORMAT || state.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`${path} is not a checkpoint of this version (format ${state?.format}, version ${state?.version}; expected ${CHECKPOINT_FORMAT} ${CHECKPOINT_VERSION})`);
  }
  const { checksum, ...body } = state;
  if (checksum !== checksumOf(body)) throw new CheckpointError(`corrupt checkpoint ${path}: its checksum does not match its content`, 'E_CHECKPOINT_CORRUPT');
  return state;
}

function readVerified(dir: string, entry: FileEntry, what: string): Map<string, SafeTensor> {
  const path = join(dir, entry.name);
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${dir} is missing its ${what} file ${entry.name}`, 'E_CHECKPOINT_CORRUPT');
  const bytes = readFileSync(path);
  if (bytes.byteLength !== entry.bytes) throw new CheckpointError(`corrupt checkpoint: ${path} has ${bytes.byteLength} bytes, expected ${entry.bytes} (truncated?)`, 'E_CHECKPOINT_CORRUPT');
  if (sha256(bytes) !== entry.sha256) throw new CheckpointError(`corrupt checkpoint: ${path} does not match its SHA-256 in ${STATE_FILE}`, 'E_CHECKPOINT_CORRUPT');
  try {
    return decodeSafetensors(bytes, path).tensors;
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(`corrupt checkpoint: ${e.message}`, 'E_CHECKPOINT_CORRUPT');
    throw e;
  }
}

// What a state file says about the run (without its file list and checksum).
function runState(s: StateFile): CheckpointState {
  const { step, adamSteps, batches, dropout, modelConfig, trainConfig, tokenizer, kernels, valLoss, dataHash } = s;
  return { step, adamSteps, batches, dropout, modelConfig, trainConfig, tokenizer, kernels, valLoss, dataHash, lossScaler: s.lossScaler ?? null };
}

// The state of the checkpoint in dir, verified (its tensors are not read).
export function loadCheckpointState(dir: string): CheckpointState {
  return runState(readState(dir));
}

// Loads and verifies the checkpoint in dir for a model of this layout.
export function loadCheckpoint(dir: string, layout: ParameterLayout): CheckpointData {
  const state = readState(dir);
  const moments = readVerified(dir, state.files.optimizer, 'optimizer');
  return {
    state: runState(state),
    params: weightsOf(dir, state, layout),
    m: flatTensors(layout, moments, 'exp_avg.', state.files.optimizer.name),
    v: flatTensors(layout, moments, 'exp_avg_sq.', state.files.optimizer.name),
  };
}

// The weights alone (verified), for export: the optimizer file is not read.
export function loadCheckpointWeights(dir: string, layout: ParameterLayout): Float32Array {
  return weightsOf(dir, readState(dir), layout);
}

function weightsOf(dir: string, state: StateFile, layout: ParameterLayout): Float32Array {
  return flatTensors(layout, readVerified(dir, state.files.model, 'model'), '', state.files.model.name);
}

// The tensors named prefix + each parameter's name, flat in the layout's order.
function flatTensors(layout: ParameterLayout, tensors: Map<string, SafeTensor>, prefix: string, file: string): Float32Array {
  const out = new Float32Array(layout.total);
  for (const s of layout.specs) {
    const t = tensors.get(prefix + s.name);
    if (!t) throw new CheckpointError(`checkpoint ${file} has no tensor ${prefix + s.name} (a checkpoint of another model?)`);
    if (t.dtype !== 'F32' || t.shape.join(',') !== s.shape.join(',')) {
      throw new CheckpointError(`checkpoint ${file}: ${prefix + s.name} is ${t.dtype}[${t.shape.join(', ')}], the model has F32[${s.shape.join(', ')}]`);
    }
    out.set(f32Values(t), s.offset);
  }
  if (tensors.size !== layout.specs.length * (prefix ? 2 : 1)) throw new CheckpointError(`checkpoint ${file} holds ${tensors.size} tensors, the model ${layout.specs.length}${prefix ? ' x 2' : ''}`);
  return out;
}
