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
