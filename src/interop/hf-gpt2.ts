// Hugging Face GPT-2 files, both ways: a checkpoint exported as `model.safetensors` +
// `config.json` as transformers' save_pretrained writes them for GPT2LMHeadModel, and such
// a file read back into our parameter layout to fine-tune from.
//
// HF names are ours with a `transformer.` prefix (`wte`/`wpe` gain `.weight`); its four
// Conv1D weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) are stored [in, out],
// transposed from our nn.Linear [out, in]; lm_head.weight is tied to wte and left out.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, f32Tensor, SafetensorsError, type SafeTensor } from '../io/safetensors.ts';
import { activationOf, mlpHiddenOf, type GPTConfig } from '../model/config.ts';
import { parameterLayout, type ParameterLayout } from '../model/parameters.ts';
import type { TokenizerDescription } from '../data/tokenizer.ts';
import { CheckpointError, loadCheckpointWeights, loadCheckpointState, writeDurably } from '../train/checkpoint.ts';
import { WasmgptError, type ErrorCode } from '../errors.ts';

export const GPT2_VOCAB_SIZE = 50257;
const LAYER_NORM_EPSILON = 1e-5; // assembly/layernorm.ts
const CONV1D = /\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;
// tanh-approximated GELU under its transformers names
const TANH_GELU = ['gelu_new', 'gelu_pytorch_tanh'];

export class InteropError extends WasmgptError {
  override name = 'InteropError';

  constructor(message: string, code: ErrorCode = 'E_INTEROP') {
    super(message, code);
  }
}

// Our parameter name -> the HF name (without the transformer. prefix).
function hfName(ours: string): string {
  return ours === 'wte' || ours === 'wpe' ? `${ours}.weight` : ours;
}

// [rows, cols] -> [cols, rows]
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}

// The transformers config.json of a model of ours.
export function hfConfig(c: GPTConfig, vocabSize: number): Record<string, unknown> {
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: vocabSize,
    n_positions: c.blockSize,
    n_ctx: c.blockSize,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: mlpHiddenOf(c) === 4 * c.nEmbd ? null : mlpHiddenOf(c),
    activation_function: 'gelu_new',
    layer_norm_epsilon: LAYER_NORM_EPSILON,
    initializer_range: 0.02,
    resid_pdrop: c.dropout,
    embd_pdrop: c.dropout,
    attn_pdrop: c.dropout,
    tie_word_embeddings: true,
    bos_token_id: GPT2_VOCAB_SIZE - 1,
    eos_token_id: GPT2_VOCAB_SIZE - 1,
    torch_dtype: 'float32',
  };
}

export interface ExportResult {
  files: string[];
  vocabSize: number;
  bytes: number;
  note: string | null; // what the reader should know (unused rows, the char table)
}

// Exports the checkpoint in `from` to `to` (model.safetensors, config.json, and for a char
// model char-vocab.json). Existing export files in `to` are replaced only with overwrite.
export function exportHfGpt2(from: string, to: string, overwrite = false): ExportResult {
  const state = loadCheckpointState(from);
  const c = state.modelConfig;
  if (activationOf(c) !== 'gelu') {
    throw new InteropError(`the checkpoint in ${from} has a ${activationOf(c)} MLP, which GPT-2 cannot represent (transformers' GPT2LMHeadModel has a GELU MLP only): export a --activation gelu model`);
  }
  const outputs = ['model.safetensors', 'config.json', ...(state.tokenizer.kind === 'char' ? ['char-vocab.json'] : [])].map((f) => join(to, f));
  if (existsSync(to) && !statSync(to).isDirectory()) throw new InteropError(`--to ${to} is a file, not a directory`);
  const present = outputs.filter((f) => existsSync(f));
  if (present.length && !overwrite) throw new InteropError(`${present[0]} exists: choose another --to, or pass --overwrite to replace the export there`);
  const layout = parameterLayout(c);
  const params = loadCheckpointWeights(from, layout);
  const { tensors, vocabSize, note } = hfTensors(c, layout, params, state.tokenizer);
  const bytes = encodeSafetensors(tensors, { format: 'pt' });
  mkdirSync(to, { recursive: true });
  writeDurably(outputs[0], bytes);
  writeDurably(outputs[1], JSON.stringify(hfConfig(c, vocabSize), null, 2) + '\n');
  if (state.tokenizer.kind === 'char') {
    // id i + 1 is chars[i]; id 0 is the unknown character
    writeDurably(outputs[2], JSON.stringify({ kind: 'char', unknown_id: 0, chars: state.tokenizer.chars }, null, 1) + '\n');
  }
  return { files: outputs, vocabSize, bytes: bytes.byteLength, note };
}

// Our weights under HF names and layouts. A compacted GPT-2 vocabulary goes back to the
// 50257 GPT-2 ids (rows of ids the corpus never used are zero); a --no-bias model gets
// zero biases (GPT-2 has them everywhere).
export function hfTensors(c: GPTConfig, layout: ParameterLayout, params: Float32Array, tokenizer: TokenizerDescription):
  { tensors: Map<string, SafeTensor>; vocabSize: number; note: string | null } {
  const C = c.nEmbd;
  const H = mlpHiddenOf(c);
  const value = (name: string) => {
    const s = layout.byName.get(name)!;
    return params.subarray(s.offset, s.offset + s.size);
  };
  let vocabSize = c.vocabSize;
  let note: string | null = null;
  let wte: Float32Array = value('wte');
  if (tokenizer.kind === 'gpt2' && tokenizer.vocab) {
    vocabSize = GPT2_VOCAB_SIZE;
    const full = new Float32Array(GPT2_VOCAB_SIZE * C);
    tokenizer.vocab.forEach((id, dense) => full.set(wte.subarray(dense * C, (dense + 1) * C), id * C));
    wte = full;
    note = `the compacted vocabulary (${c.vocabSize} ids) is expanded to GPT-2's ${GPT2_VOCAB_SIZE}: the ${GPT2_VOCAB_SIZE - c.vocabSize} ids the corpus never used have zero rows in wte (logit 0 until trained)`;
  } else if (tokenizer.kind === 'char') {
    note = `a char model: vocab_size ${c.vocabSize}, its character table in char-vocab.json (id i + 1 is chars[i], id 0 the unknown character)`;
  }
  const tensors = new Map<string, SafeTensor>();
  const put = (name: string, shape: number[], values: Float32Array) => tensors.set(`transformer.${name}`, f32Tensor(shape, values));
  put('wte.weight', [vocabSize, C], wte);
  put('wpe.weight', [c.blockSize, C], value('wpe'));
  const bias = (name: string, n: number) => (layout.byName.has(name) ? value(name) : new Float32Array(n));
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}`;
    const linear = (name: string, out: number, inp: number) => {
      put(`${p}.${name}.weight`, [inp, out], transpose(value(`${p}.${name}.weight`), out, inp));
      put(`${p}.${name}.bias`, [out], bias(`${p}.${name}.bias`, out));
    };
    put(`${p}.ln_1.weight`, [C], value(`${p}.ln_1.weight`));
    put(`${p}.ln_1.bias`, [C], bias(`${p}.ln_1.bias`, C));
    linear('attn.c_attn', 3 * C, C);
    linear('attn.c_proj', C, C);
    put(`${p}.ln_2.weight`, [C], value(`${p}.ln_2.weight`));
    put(`${p}.ln_2.bias`, [C], bias(`${p}.ln_2.bias`, C));
    linear('mlp.c_fc', H, C);
    linear('mlp.c_proj', C, H);
  }
  put('ln_f.weight', [C], value('ln_f.weight'));
  put('ln_f.bias', [C], bias('ln_f.bias', C));
  return { tensors, vocabSize, note };
}

// ---------------------------------------------------------------- import

// What an HF GPT-2 file says about the model: from config.json when there is one, else
// from the tensor shapes (n_head cannot be read from shapes: the caller's is used).
export interface HfModel {
  config: Pick<GPTConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nHead' | 'nEmbd' | 'mlpHidden'>;
  source: 'config.json' | 'tensor shapes';
  // by our parameter name, in our [out, in] layout, f32
  weights: Map<string, Float32Array>;
  file: string;
}

function f32From(t: SafeTensor, name: string, file: string): Float32Array {
  const n = t.data.byteLength;
  const dv = new DataView(t.data.buffer, t.data.byteOffset, n);
  if (t.dtype === 'F32') return new Float32Array(new Uint8Array(t.data).buffer);
  if (t.dtype === 'BF16') {
    const out = new Uint32Array(n / 2);
    for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(2 * i, true) << 16;
    return new Float32Array(out.buffer);
  }
  if (t.dtype === 'F16') {
    const out = new Float32Array(n / 2);
    for (let i = 0; i < out.length; i++) out[i] = f16ToNumber(dv.getUint16(2 * i, true));
    return out;
  }
  throw new InteropError(`${file}: ${name} is ${t.dtype}; GPT-2 weights must be F32, F16 or BF16`);
}

// The exact value of an IEEE half-precision pattern.
function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

// Reads an HF GPT-2 model.safetensors (a file, or a directory holding it and perhaps
// config.json). nHead: used when there is no config.json.
export function readHfGpt2(path: string, nHead: number): HfModel {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const file = isDir ? join(path, 'model.safetensors') : path;
  if (!existsSync(file)) throw new InteropError(`--init-from: no ${isDir ? 'model.safetensors in ' + path : 'file ' + path}`);
  const configPath = join(isDir ? path : join(file, '..'), 'config.json');
  let tensors: Map<string, SafeTensor>;
  try {
    tensors = decodeSafetensors(readFileSync(file), file).tensors;
  } catch (e) {
    if (e instanceof SafetensorsError) throw new InteropError(e.message);
    throw e;
  }
  // names without the prefix; buffers and the tied head set aside
  const byName = new Map<string, SafeTensor>();
  let lmHead: SafeTensor | null = null;
  for (const [raw, t] of tensors) {
    const name = raw.startsWith('transformer.') ? raw.slice('transformer.'.length) : raw;
    if (/\.attn\.(bias|masked_bias)$/.test(name)) continue;
    if (name === 'lm_head.weight') {
      lmHead = t;
      continue;
    }
    if (byName.has(name)) throw new InteropError(`${file}: ${name} appears both with and without the transformer. prefix`);
    byName.set(name, t);
  }
  const wte = byName.get('wte.weight');
  const wpe = byName.get('wpe.weight');
  if (!wte || wte.shape.length !== 2) throw new InteropError(`${file}: no 2-D wte.weight (is it a GPT-2 model?)`);
  if (!wpe || wpe.shape.length !== 2) throw new InteropError(`${file}: no 2-D wpe.weight (is it a GPT-2 model?)`);
  const layers = new Set([...byName.keys()].map((n) => /^h\.(\d+)\./.exec(n)?.[1]).filter((x): x is string => x !== undefined));
  const fc = byName.get('h.0.mlp.c_fc.weight');
  let config: HfModel['config'];
  let source: HfModel['source'];
  if (existsSync(configPath)) {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new InteropError(`${configPath} is not JSON (${(e as Error).message})`);
    }
    if (j.model_type !== undefined && j.model_type !== 'gpt2') throw new InteropError(`${configPath}: model_type ${JSON.stringify(j.model_type)}, expected "gpt2"`);
    const act = j.activation_function ?? 'gelu_new';
    if (!TANH_GELU.includes(act as string)) throw new InteropError(`${configPath}: activation_function ${JSON.stringify(act)}; we compute GELU's tanh form only (${TANH_GELU.join(', ')})`);
    const eps = j.layer_norm_epsilon ?? LAYER_NORM_EPSILON;
    if (eps !== LAYER_NORM_EPSILON) throw new InteropError(`${configPath}: layer_norm_epsilon ${eps}; our LayerNorm uses ${LAYER_NORM_EPSILON}`);
    if (j.tie_word_embeddings === false) throw new InteropError(`${configPath}: tie_word_embeddings is false; our LM head is tied to wte`);
    const int = (key: string) => {
      const v = j[key];
      if (!Number.isInteger(v) || (v as number) < 1) throw new InteropError(`${configPath}: ${key} is ${JSON.stringify(v)}, expected a positive integer`);
      return v as number;
    };
    const nEmbd = int('n_embd');
    config = {
      vocabSize: int('vocab_size'), blockSize: int('n_positions'), nLayer: int('n_layer'), nHead: int('n_head'), nEmbd,
      mlpHidden: j.n_inner === null || j.n_inner === undefined ? 4 * nEmbd : int('n_inner'),
    };
    source = 'config.json';
  } else {
    const nEmbd = wte.shape[1];
    config = { vocabSize: wte.shape[0], blockSize: wpe.shape[0], nLayer: layers.size, nHead, nEmbd, mlpHidden: fc?.shape[1] ?? 4 * nEmbd };
    source = 'tensor shapes';
  }
  if (config.nEmbd % config.nHead !== 0) throw new InteropError(`${file}: n_embd ${config.nEmbd} is not a multiple of n_head ${config.nHead}`);

  // every tensor our model has, in the shape it must have; nothing else
  const full: GPTConfig = { ...config, dropout: 0, bias: true, activation: 'gelu' };
  const layout = parameterLayout(full);
  const weights = new Map<string, Float32Array>();
  const expected = new Set<string>();
  for (const s of layout.specs) {
    const name = hfName(s.name);
    expected.add(name);
    const t = byName.get(name);
    if (!t) throw new InteropError(`${file}: missing tensor ${name} (a GPT-2 of ${config.nLayer} layers, n_embd ${config.nEmbd}, from ${source})`);
    const conv = CONV1D.test(name);
    const want = conv ? [s.shape[1], s.shape[0]] : [...s.shape];
    if (t.shape.join(',') !== want.join(',')) throw new InteropError(`${file}: ${name} is [${t.shape.join(', ')}], expected [${want.join(', ')}] (from ${source})`);
    const values = f32From(t, name, file);
    weights.set(s.name, conv ? transpose(values, want[0], want[1]) : values);
  }
  for (const name of byName.keys()) {
    if (!expected.has(name)) throw new InteropError(`${file}: unexpected tensor ${name} (not part of a GPT-2 of ${config.nLayer} layers)`);
  }
  if (lmHead) {
    const tied = f32From(lmHead, 'lm_head.weight', file);
    const w = weights.get('wte')!;
    if (lmHead.shape.join(',') !== wte.shape.join(',') || tied.some((v, i) => !Object.is(v, w[i]))) {
      throw new InteropError(`${file}: lm_head.weight differs from wte.weight; our LM head is tied to the token embedding`);
    }
  }
  return { config, source, weights, file };
}

// Sets a model's parameters (our layout) from an imported file: the first blockSize rows of wpe.
export function copyHfWeights(hf: HfModel, layout: ParameterLayout, params: Float32Array, blockSize: number, nEmbd: number): void {
  for (const s of layout.specs) {
    const v = hf.weights.get(s.name);
    if (!v) throw new CheckpointError(`${hf.file}: no weights for ${s.name}`);
    params.set(s.name === 'wpe' ? v.subarray(0, blockSize * nEmbd) : v, s.offset);
  }
}
