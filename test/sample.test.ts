// Generation on the key/value-cache decoder (src/model/decoder.ts, src/train/sample.ts):
// its logits against the training model's, greedy decoding with and without the cache,
// the sliding window past block_size, and top-k / top-p.
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import { Decoder } from '../src/model/decoder.ts';
import type { GPTConfig } from '../src/model/config.ts';
import { generate, generateWithoutCache, sampleLogits } from '../src/train/sample.ts';
import { Rng } from '../src/engine/random.ts';
import { BUILDS, expectClose } from './harness.ts';

const CONFIGS: [string, GPTConfig][] = [
  ['gelu', { vocabSize: 37, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: true }],
  ['swiglu, no bias', { vocabSize: 37, blockSize: 24, nLayer: 2, nHead: 4, nEmbd: 16, dropout: 0, bias: false, activation: 'swiglu', mlpHidden: 21 }],
];

describe.each(BUILDS)('%s decoder', (build) => {
  let engine: Engine;
  beforeAll(() => {
    engine = new Engine({ kernels: build });
  });

  // A model away from its init (larger weights: logits far from uniform, so greedy choices are clear).
  function models(config: GPTConfig, chunkRows?: number): { model: GPT; decoder: Decoder } {
    const model = new GPT(engine, config, 1, { optimizer: false });
    model.init(3);
    const rng = new Rng(4);
    const p = model.params();
    for (let i = 0; i < p.length; i++) p[i] = Math.fround(p[i] * 8 + 0.05 * rng.normal());
    const decoder = new Decoder(engine, config, { chunkRows });
    decoder.params().set(p);
    return { model, decoder };
  }

  it.each(CONFIGS)('%s: logits after each position match the training model\'s, fed a token or a chunk at a time', (_, config) => {
    const ids = Array.from({ length: 20 }, (_, i) => (i * 7 + 2) % config.vocabSize);
    for (const chunk of [1, 6, 64]) {
      const { model, decoder } = models(config, chunk);
      model.forward(ids, null, 1, ids.length);
      decoder.reset();
      // the prompt in one feed (chunks of `chunk` rows), then one token
      expectClose(decoder.feed(ids.slice(0, 13)), model.logitsRow(12), { rtol: 1e-5 }, `chunk ${chunk}: after 13`);
      expectClose(decoder.feed([ids[13]]), model.logitsRow(13), { rtol: 1e-5 }, `chunk ${chunk}: after 14`);
      expect(decoder.position).toBe(14);
    }
  });

  it.each(CONFIGS)('%s: greedy decoding with and without the cache gives the same tokens; one seed, one text', (_, config) => {
    const { model, decoder } = models(config);
    const greedy = { maxNewTokens: 10, temperature: 1, topK: 1 };
    const prompt = [5, 9, 1, 30];
    const cached = generate(decoder, prompt, greedy, new Rng(1));
    expect(cached).toEqual(generateWithoutCache(model, prompt, greedy, new Rng(1)));
    expect(new Set(cached.slice(4)).size, 'not one token repeated').toBeGreaterThan(1);
    const sampled = { maxNewTokens: 30, temperature: 0.9, topK: 0, topP: 0.95 };
    expect(generate(decoder, prompt, sampled, new Rng(7))).toEqual(generate(decoder, prompt, sampled, new Rng(7)));
  });

  it('past block_size the context slides (half a window is kept and re-run)', () => {
    const [, config] = CONFIGS[0];
    const { decoder } = models(config);
    const out = generate(decoder, [1, 2, 3], { maxNewTokens: 60, temperature: 1, topK: 0 }, new Rng(2));
    expect(out).toHaveLength(63);
    expect(out.every((id) => Number.isInteger(id) && id >= 0 && id < config.vocabSize)).toBe(true);
    expect(decoder.position).toBeLessThanOrEqual(config.blockSize);
    // a prompt longer than the window keeps its last block_size tokens
    expect(generate(decoder, Array.from({ length: 40 }, (_, i) => i % 37), { maxNewTokens: 2, temperature: 1, topK: 1 }, new Rng(1))).toHaveLength(42);
  });
});

describe('sampleLogits', () => {
  const logits = Float32Array.from([1, 3, 2, 0.5, 2.9]);
  it('top-k 1 is greedy; top-p keeps the fewest most likely tokens reaching p', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 50; i++) expect(sampleLogits(logits, { temperature: 1, topK: 1 }, rng)).toBe(1);
    const seen = new Set<number>();
    // p(1) = 0.401, p(4) = 0.363, p(2) = 0.148: top-p 0.7 keeps 1 and 4 only (0.764)
    for (let i = 0; i < 400; i++) seen.add(sampleLogits(logits, { temperature: 1, topK: 0, topP: 0.7 }, rng));
    expect([...seen].sort()).toEqual([1, 4]);
    for (let i = 0; i < 50; i++) expect(sampleLogits(logits, { temperature: 1, topK: 0, topP: 0.1 }, rng)).toBe(1);
  });
});

// ---------------------------------------------------------------- the sample and eval commands

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, truncateSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/trainer.ts';
import { exportHfGpt2 } from '../src/interop/hf-gpt2.ts';

const root = join(import.meta.dirname, '..');
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-sample-'));
const cli = (...args: string[]) => spawnSync('npx', ['tsx', 'train.ts', ...args], { cwd: root, encoding: 'utf8' });
const poem = 'Shall I compare thee to a summer\'s day? Thou art more lovely and more temperate.\n'.repeat(50);

describe('the sample and eval commands', () => {
  let charOut: string;
  let gpt2Out: string;
  let data: string;
  beforeAll(async () => {
    data = join(tmp(), 'poem.txt');
    writeFileSync(data, poem);
    const base = { data: [data], nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 32, batchSize: 8, maxIters: 40, evalInterval: 40, evalIters: 2, lr: 3e-3, sampleTokens: 0, cacheDir: null, threads: 1 };
    charOut = join(tmp(), 'char');
    await train({ ...base, tokenizer: 'char', outDir: charOut }, {});
    gpt2Out = join(tmp(), 'gpt2');
    await train({ ...base, tokenizer: 'gpt2', outDir: gpt2Out }, {});
  }, 60_000);

  it('sample: stdout is the prompt and its continuation only; one seed, one text; greedy is one text whatever the seed', () => {
    const a = cli('sample', '--from', charOut, '--prompt', 'Shall I', '--max-new-tokens', '40', '--seed', '3', '--threads', '1');
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout.startsWith('Shall I')).toBe(true);
    expect([...a.stdout].length).toBe('Shall I'.length + 40 + 1); // and a final newline
    expect(a.stderr).toMatch(/^checkpoint .* \(step 40\): 2 layers/);
    expect(cli('sample', '--from', charOut, '--prompt', 'Shall I', '--max-new-tokens', '40', '--seed', '3', '--threads', '1').stdout).toBe(a.stdout);
    const g1 = cli('sample', '--from', gpt2Out, '--prompt', 'Thou art', '--top-k', '1', '--seed', '1', '--max-new-tokens', '12', '--num-samples', '2');
    expect(g1.status, g1.stderr).toBe(0);
    const [s1, s2] = g1.stdout.split('\n---------------\n');
    expect(s1).toBe(s2.replace(/\n$/, ''));
    expect(s1.startsWith('Thou art')).toBe(true);
  });

  it('sample: from a Hugging Face export too (a char export\'s table comes along)', () => {
    const hf = join(tmp(), 'hf');
    exportHfGpt2(charOut, hf);
    const a = cli('sample', '--from', charOut, '--prompt', 'Thou', '--top-k', '1', '--max-new-tokens', '20');
    const b = cli('sample', '--from', hf, '--prompt', 'Thou', '--top-k', '1', '--max-new-tokens', '20');
    expect(b.status, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/^Hugging Face GPT-2 .*model\.safetensors: 2 layers.*\(char\)/);
    expect(b.stdout).toBe(a.stdout);
  });

  it('sample: one-line errors for an empty prompt, a missing or damaged checkpoint; unknown characters are counted', () => {
    const empty = cli('sample', '--from', charOut, '--prompt', '');
    expect(empty.status).toBe(1);
    expect(empty.stderr.trim()).toBe('error: sample: the prompt is empty: give --prompt TEXT or --prompt-file FILE');
    const missing = cli('sample', '--from', join(tmp(), 'none'), '--prompt', 'x');
    expect(missing.stderr.trim()).toMatch(/^error: --from .*none: no such file or directory$/);
    const damaged = join(tmp(), 'damaged');
    spawnSync('cp', ['-r', charOut, damaged]);
    const model = readdirSync(damaged).find((f) => f.startsWith('model-'))!;
    truncateSync(join(damaged, model), 100);
    const bad = cli('sample', '--from', damaged, '--prompt', 'x');
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: .*model-/);
    const unknown = cli('sample', '--from', charOut, '--prompt', 'Shall I ✓✓ zq', '--max-new-tokens', '3');
    expect(unknown.status, unknown.stderr).toBe(0);
    expect(unknown.stderr).toMatch(/note: 4 characters of the prompt are not in the model's vocabulary: mapped to the unknown id 0/);
    expect(unknown.stdout.startsWith('Shall I ✓✓ zq')).toBe(true);
  });

  it('eval: the held-out split, or --data; one line, or a JSON record; bits per byte', () => {
    const a = cli('eval', '--from', charOut, '--threads', '1');
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^loss [\d.]+ \| perplexity [\d.]+ \| bits per byte [\d.]+ \| \d+ tokens\n$/);
    expect(a.stderr).toMatch(/the held-out split: \d+ tokens .* in \d+ windows of 32 tokens, stride 16/);
    const j = cli('eval', '--from', gpt2Out, '--data', data, '--json', '--stride', '32');
    expect(j.status, j.stderr).toBe(0);
    const r = JSON.parse(j.stdout);
    expect(r).toMatchObject({ type: 'eval', block_size: 32, stride: 32 });
    expect(r.perplexity).toBeCloseTo(Math.exp(r.loss), 6);
    expect(r.bits_per_byte).toBeCloseTo((r.loss * r.tokens) / Math.LN2 / r.bytes, 6);
    expect(r.loss).toBeLessThan(3); // the model was trained on this very text
    const hf = join(tmp(), 'hf');
    exportHfGpt2(gpt2Out, hf);
    expect(cli('eval', '--from', hf).stderr.trim().split('\n').at(-1)).toBe('error: eval: a Hugging Face file has no held-out split of its own: give --data FILE ...');
  });
});

describe('scoreTokens', () => {
  it('scores every token after the first exactly once, whatever the stride', async () => {
    const engine = new Engine({ kernels: 'simd' });
    const config: GPTConfig = { vocabSize: 13, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true };
    const model = new GPT(engine, config, 3, { optimizer: false });
    model.init(1);
    const tokens = Uint32Array.from({ length: 29 }, (_, i) => (i * 5) % 13);
    const { scoreTokens } = await import('../src/train/inference.ts');
    // stride = block size: disjoint windows, each token scored with its window's context
    const disjoint = scoreTokens(model, tokens, 8);
    expect(disjoint.tokens).toBe(28);
    let want = 0;
    for (let s = 0; s < 28; s += 8) {
      const L = Math.min(8, 28 - s);
      want += model.forward(tokens.slice(s, s + L), tokens.slice(s + 1, s + L + 1), 1, L) * L;
    }
    expect(disjoint.loss).toBeCloseTo(want / 28, 6);
    for (const stride of [1, 3, 5]) expect(scoreTokens(model, tokens, stride).tokens).toBe(28);
  });
});
