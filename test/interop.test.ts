// Hugging Face GPT-2 export and import (src/interop/hf-gpt2.ts), and the same files in
// PyTorch: the GPT-2 of examples/continue_in_pytorch.py (HF names, Conv1D layout) scores our
// export, writes a model we import, and trains on our export for a few steps.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { train } from '../src/train/trainer.ts';
import type { TrainConfig } from '../src/train/config.ts';
import { loadCheckpoint, loadCheckpointState } from '../src/train/checkpoint.ts';
import { exportHfGpt2, readHfGpt2, copyHfWeights, InteropError } from '../src/interop/hf-gpt2.ts';
import { decodeSafetensors, encodeSafetensors, f32Values, type SafeTensor } from '../src/io/safetensors.ts';
import { parameterLayout } from '../src/model/parameters.ts';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import type { GPTConfig } from '../src/model/config.ts';
import { expectBitwiseEqual } from './harness.ts';

const root = join(import.meta.dirname, '..');
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-interop-'));
const quiet = {};
const text = 'Now is the winter of our discontent made glorious summer by this sun of York.\n'.repeat(40);

function corpus(): string {
  const file = join(tmp(), 'corpus.txt');
  writeFileSync(file, text);
  return file;
}

// A few steps of a small model, so the weights are not at their init.
async function trained(overrides: Partial<TrainConfig>): Promise<string> {
  const outDir = join(tmp(), 'out');
  await train({
    data: [corpus()], nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 4, maxIters: 5, evalInterval: 5, evalIters: 1,
    sampleTokens: 0, outDir, cacheDir: null, threads: 1, lr: 1e-2, ...overrides,
  }, quiet);
  return outDir;
}

const header = (file: string) => decodeSafetensors(readFileSync(file), file);

// Our model's logits [B*T, V] for ids [B, T], from a checkpoint or an import.
function ourLogits(config: GPTConfig, params: Float32Array, ids: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number): { logits: Float32Array; loss: number } {
  const engine = new Engine({ kernels: 'simd' });
  const model = new GPT(engine, config, B, { optimizer: false });
  model.params().set(params);
  const loss = model.forward(ids, targets, B, T);
  model.forward(ids, null, B, T);
  const logits = new Float32Array(B * T * config.vocabSize);
  for (let i = 0; i < B * T; i++) logits.set(model.logitsRow(i), i * config.vocabSize);
  return { logits, loss };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('export to Hugging Face GPT-2', () => {
  let charOut: string;
  beforeAll(async () => {
    charOut = await trained({ tokenizer: 'char' });
  });

  it('writes save_pretrained\'s names and layout: transformer. prefix, Conv1D weights [in, out], no lm_head; config.json; the char table', () => {
    const to = join(tmp(), 'hf');
    const r = exportHfGpt2(charOut, to);
    const { tensors, metadata } = header(join(to, 'model.safetensors'));
    expect(metadata).toEqual({ format: 'pt' });
    const state = loadCheckpointState(charOut);
    const c = state.modelConfig;
    expect(r.vocabSize).toBe(c.vocabSize);
    expect(tensors.get('transformer.wte.weight')!.shape).toEqual([c.vocabSize, 16]);
    expect(tensors.get('transformer.h.1.attn.c_attn.weight')!.shape).toEqual([16, 48]);
    expect(tensors.get('transformer.h.1.mlp.c_proj.weight')!.shape).toEqual([64, 16]);
    expect([...tensors.keys()].some((n) => n.startsWith('lm_head') || n.endsWith('.attn.bias'))).toBe(false);
    expect(tensors.size).toBe(2 + 2 * 12 + 2);
    // the values: our c_attn weight [3C, C] is theirs transposed
    const ours = loadCheckpoint(charOut, parameterLayout(c)).params;
    const s = parameterLayout(c).byName.get('h.1.attn.c_attn.weight')!;
    const theirs = f32Values(tensors.get('transformer.h.1.attn.c_attn.weight')!);
    for (const [o, i] of [[0, 0], [5, 3], [47, 15]]) expect(theirs[i * 48 + o]).toBe(ours[s.offset + o * 16 + i]);
    const config = JSON.parse(readFileSync(join(to, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: c.vocabSize, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 2,
      activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, tie_word_embeddings: true, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0,
    });
    const vocab = JSON.parse(readFileSync(join(to, 'char-vocab.json'), 'utf8'));
    expect(vocab.chars.length).toBe(c.vocabSize - 1);
    // read back: the same weights
    const back = readHfGpt2(to, 2);
    expect(back.source).toBe('config.json');
    for (const spec of parameterLayout(c).specs) expectBitwiseEqual(back.weights.get(spec.name)!, ours.subarray(spec.offset, spec.offset + spec.size), spec.name);
  });

  it('a compacted GPT-2 vocabulary goes back to the 50257 ids: used rows as trained, the others zero', async () => {
    const out = await trained({ tokenizer: 'gpt2' });
    const to = join(tmp(), 'hf');
    const r = exportHfGpt2(out, to);
    expect(r.vocabSize).toBe(50257);
    expect(r.note).toMatch(/zero rows/);
    const state = loadCheckpointState(out);
    const dense = (state.tokenizer as { vocab: number[] }).vocab;
    const ours = loadCheckpoint(out, parameterLayout(state.modelConfig)).params;
    const wte = f32Values(header(join(to, 'model.safetensors')).tensors.get('transformer.wte.weight')!);
    const used = new Set(dense);
    dense.forEach((id, i) => expectBitwiseEqual(wte.subarray(id * 16, id * 16 + 16), ours.subarray(i * 16, i * 16 + 16), `id ${id}`));
    for (let id = 0; id < 50257; id += 97) if (!used.has(id)) expect(wte.subarray(id * 16, id * 16 + 16).every((v) => v === 0)).toBe(true);
  });

  it('refuses SwiGLU (GPT-2 has no such MLP) and an existing export without --overwrite', async () => {
    const swiglu = await trained({ tokenizer: 'char', activation: 'swiglu' });
    expect(() => exportHfGpt2(swiglu, join(tmp(), 'hf'))).toThrow(/swiglu MLP, which GPT-2 cannot represent/);
    const to = join(tmp(), 'hf');
    exportHfGpt2(charOut, to);
    expect(() => exportHfGpt2(charOut, to)).toThrow(/model\.safetensors exists: choose another --to, or pass --overwrite/);
    expect(() => exportHfGpt2(charOut, to, true)).not.toThrow();
  });

  it('the CLI: one line on success and on a mistake', () => {
    const to = join(tmp(), 'hf');
    const ok = spawnSync('npx', ['tsx', 'train.ts', 'export', '--from', charOut, '--to', to], { cwd: root, encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^exported .* as Hugging Face GPT-2 \(vocab_size \d+\) in [\d.]+ s: .*model\.safetensors/);
    const bad = spawnSync('npx', ['tsx', 'train.ts', 'export', '--from', join(tmp(), 'nothing'), '--to', to, '--overwrite'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: .*nothing/);
  });
});

describe('import (--init-from)', () => {
  let hf: string; // an export of a trained GPT-2-vocabulary model
  beforeAll(async () => {
    hf = join(tmp(), 'hf');
    exportHfGpt2(await trained({ tokenizer: 'gpt2', compactVocab: false }), hf);
  });

  // A copy of the export with its tensors edited.
  function edited(edit: (t: Map<string, SafeTensor>) => void, withConfig = true): string {
    const dir = join(tmp(), 'edited');
    cpSync(hf, dir, { recursive: true });
    const tensors = new Map(header(join(hf, 'model.safetensors')).tensors);
    edit(tensors);
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
    if (!withConfig) rmSync(join(dir, 'config.json'));
    return dir;
  }

  it('reads names with or without the prefix, a tied lm_head, attn.bias buffers; the shape from config.json or the tensors', () => {
    const base = readHfGpt2(hf, 2);
    const plain = readHfGpt2(edited((t) => {
      for (const [k, v] of [...t]) {
        t.delete(k);
        t.set(k.replace(/^transformer\./, ''), v);
      }
      t.set('lm_head.weight', t.get('wte.weight')!);
      t.set('h.0.attn.bias', { dtype: 'F32', shape: [1], data: new Uint8Array(4) });
      t.set('h.1.attn.masked_bias', { dtype: 'F32', shape: [1], data: new Uint8Array(4) });
    }, false), 2);
    expect(plain.source).toBe('tensor shapes');
    expect(plain.config).toEqual(base.config);
    for (const [name, w] of base.weights) expectBitwiseEqual(plain.weights.get(name)!, w, name);
  });

  it('names the tensor: missing, unexpected, wrong shape, unsupported dtype, an untied lm_head', () => {
    const cases: [string, (t: Map<string, SafeTensor>) => void, RegExp][] = [
      ['missing', (t) => t.delete('transformer.h.1.ln_2.bias'), /missing tensor h\.1\.ln_2\.bias/],
      ['unexpected', (t) => t.set('transformer.h.0.mlp.c_gate.weight', t.get('transformer.h.0.mlp.c_fc.weight')!), /unexpected tensor h\.0\.mlp\.c_gate\.weight/],
      ['shape', (t) => t.set('transformer.h.0.attn.c_proj.bias', { dtype: 'F32', shape: [3], data: new Uint8Array(12) }), /h\.0\.attn\.c_proj\.bias is \[3\], expected \[16\]/],
      ['dtype', (t) => {
        const b = t.get('transformer.ln_f.bias')!;
        t.set('transformer.ln_f.bias', { ...b, dtype: 'I32' });
      }, /ln_f\.bias is I32; GPT-2 weights must be F32, F16 or BF16/],
      ['lm_head', (t) => {
        const wte = t.get('transformer.wte.weight')!;
        t.set('lm_head.weight', { ...wte, data: new Uint8Array(wte.data.byteLength) });
      }, /lm_head\.weight differs from wte\.weight/],
    ];
    for (const [what, edit, message] of cases) {
      expect(() => readHfGpt2(edited(edit), 2), what).toThrow(InteropError);
      expect(() => readHfGpt2(edited(edit), 2), what).toThrow(message);
    }
  });

  it('F16 and BF16 tensors are converted exactly', () => {
    const base = readHfGpt2(hf, 2);
    const to16 = (format: 'F16' | 'BF16') => edited((t) => {
      for (const [k, v] of [...t]) {
        const x = f32Values(v);
        const dv = new DataView(new ArrayBuffer(x.length * 2));
        const bits = new Uint32Array(x.buffer);
        for (let i = 0; i < x.length; i++) {
          if (format === 'F16') setFloat16(dv, 2 * i, x[i], true);
          else dv.setUint16(2 * i, bits[i] >>> 16, true); // truncation: any bf16 value will do
        }
        t.set(k, { dtype: format, shape: v.shape, data: new Uint8Array(dv.buffer) });
      }
    });
    // the value each 16-bit pattern written above stands for
    const d = new DataView(new ArrayBuffer(4));
    const asF16 = (x: number) => (setFloat16(d, 0, x), getFloat16(d, 0));
    const asBf16 = (x: number) => (d.setFloat32(0, x), d.setUint16(2, 0), d.getFloat32(0));
    for (const format of ['F16', 'BF16'] as const) {
      const got = readHfGpt2(to16(format), 2);
      for (const [name, w] of base.weights) {
        const g = got.weights.get(name)!;
        for (let i = 0; i < w.length; i += 7) expect(g[i], `${format} ${name}[${i}]`).toBe(format === 'F16' ? asF16(w[i]) : asBf16(w[i]));
      }
    }
  });

  it('fine-tunes: the trainer takes the shape from the file, turns --compact-vocab off with a note, starts from its weights', async () => {
    const lines: string[] = [];
    const outDir = join(tmp(), 'ft');
    const result = await train({
      data: [corpus()], initFrom: hf, blockSize: 8, batchSize: 2, maxIters: 0, evalIters: 1, sampleTokens: 0, outDir, cacheDir: null, threads: 1,
    }, { onLog: (l) => lines.push(l) });
    const out = lines.join('\n');
    expect(out).toMatch(/note: --init-from: the GPT-2 tokenizer keeps all 50257 ids/);
    expect(out).toMatch(/init from .*model\.safetensors \(shape from config\.json\): 2 layers, 2 heads, n_embd 16, n_positions 16, vocab 50257/);
    const base = readHfGpt2(hf, 2);
    const layout = result.layout;
    const wte = layout.byName.get('wte')!, wpe = layout.byName.get('wpe')!;
    expectBitwiseEqual(result.params.subarray(wte.offset, wte.offset + wte.size), base.weights.get('wte')!, 'wte');
    expectBitwiseEqual(result.params.subarray(wpe.offset, wpe.offset + wpe.size), base.weights.get('wpe')!.subarray(0, 8 * 16), 'wpe: the first block-size rows');
    await expect(train({ data: [corpus()], initFrom: hf, blockSize: 32, outDir: join(tmp(), 'x'), cacheDir: null }, quiet)).rejects.toThrow(/--block-size 32 is longer than the model's n_positions 16/);
    await expect(train({ data: [corpus()], initFrom: hf, tokenizer: 'char', outDir: join(tmp(), 'x'), cacheDir: null }, quiet)).rejects.toThrow(/needs --tokenizer gpt2/);
  });
});

// Debian's torch (../shared/anchors/pytorch-bench installs it); skipped with the reason printed otherwise.
const python = '/usr/bin/python3';
const torchCheck = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
const hasTorch = torchCheck.status === 0;
if (!hasTorch) console.log(`skipping the PyTorch cross-checks: ${python} cannot import torch and numpy (run ../shared/anchors/pytorch-bench --help once to install them)`);
const script = join(root, 'test/fixtures/hf_gpt2_check.py');

describe.skipIf(!hasTorch)('the same files in PyTorch', () => {
  it('our export scores the same in PyTorch (logits and loss), and theirs the same in ours', async () => {
    // ours -> PyTorch: a trained char model
    const out = await trained({ tokenizer: 'char' });
    const to = join(tmp(), 'hf');
    exportHfGpt2(out, to);
    const state = loadCheckpointState(out);
    const c = state.modelConfig;
    const B = 2, T = 16;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % c.vocabSize);
    const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % c.vocabSize);
    const batch = join(tmp(), 'batch.safetensors');
    writeFileSync(batch, encodeSafetensors(new Map([
      ['ids', { dtype: 'I32', shape: [B, T], data: new Uint8Array(ids.buffer) }],
      ['targets', { dtype: 'I32', shape: [B, T], data: new Uint8Array(targets.buffer) }],
    ])));
    const scored = join(tmp(), 'scored.safetensors');
    const r = spawnSync(python, [script, 'score', to, batch, scored], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const theirs = header(scored).tensors;
    const ours = ourLogits(c, loadCheckpoint(out, parameterLayout(c)).params, ids, targets, B, T);
    const logitsDiff = maxAbsDiff(ours.logits, f32Values(theirs.get('logits')!));
    const lossDiff = Math.abs(ours.loss - f32Values(theirs.get('loss')!)[0]);

    // PyTorch -> ours: a random GPT-2 in HF layout (prefix, attn.bias buffers, tied lm_head)
    const pt = join(tmp(), 'pt');
    const w = spawnSync(python, [script, 'write', pt], { encoding: 'utf8' });
    expect(w.status, w.stderr).toBe(0);
    const check = header(join(pt, 'check.safetensors')).tensors;
    const imported = readHfGpt2(pt, 1);
    const config: GPTConfig = { ...imported.config, dropout: 0, bias: true };
    const layout = parameterLayout(config);
    const params = new Float32Array(layout.total);
    copyHfWeights(imported, layout, params, config.blockSize, config.nEmbd);
    const [Bp, Tp] = check.get('ids')!.shape;
    const i32 = (name: string) => new Int32Array(new Uint8Array(check.get(name)!.data).buffer);
    const back = ourLogits(config, params, i32('ids'), i32('targets'), Bp, Tp);
    const backLogitsDiff = maxAbsDiff(back.logits, f32Values(check.get('logits')!));
    const backLossDiff = Math.abs(back.loss - f32Values(check.get('loss')!)[0]);
    console.log(`PyTorch cross-check: our export in PyTorch: logits ${logitsDiff.toExponential(2)}, loss ${lossDiff.toExponential(2)} (max abs); ` +
      `a PyTorch file in ours: logits ${backLogitsDiff.toExponential(2)}, loss ${backLossDiff.toExponential(2)}`);
    expect(logitsDiff).toBeLessThan(1e-4);
    expect(lossDiff).toBeLessThan(1e-4);
    expect(backLogitsDiff).toBeLessThan(1e-4);
    expect(backLossDiff).toBeLessThan(1e-4);
  });

  it('examples/continue_in_pytorch.py trains our export for a few steps and writes a model we load back', async () => {
    const out = await trained({ tokenizer: 'gpt2', compactVocab: false });
    const to = join(tmp(), 'hf');
    exportHfGpt2(out, to);
    const tokens = join(tmp(), 'train.bin');
    writeFileSync(tokens, new Uint8Array(Uint16Array.from({ length: 4000 }, (_, i) => (i * 31) % 50257).buffer));
    const continued = join(tmp(), 'continued');
    const r = spawnSync(python, [join(root, 'examples/continue_in_pytorch.py'), '--model', to, '--tokens', tokens, '--steps', '3', '--batch-size', '2', '--out', continued], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^step 0 \| loss [\d.]+$/), expect.stringMatching(/^step 1 /), expect.stringMatching(/^step 2 /)]);
    expect(existsSync(join(continued, 'model.safetensors'))).toBe(true);
    const back = readHfGpt2(continued, 2);
    expect(back.config.nLayer).toBe(2);
  });
});
