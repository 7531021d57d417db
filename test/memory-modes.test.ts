// The memory-saving modes of src/model: activation recompute (--recompute blocks) and the
// chunked LM head (--lm-head-chunk). Recompute replays each block's forward exactly
// (same kernels, same counter-based dropout masks), so its gradients are the same bits as
// keeping every activation; the chunked head changes only the order wte's gradient is
// summed in. Both at 1 and 2 threads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.ts';
import { GPT, type GPTOptions } from '../src/model/gpt.ts';
import type { GPTConfig } from '../src/model/config.ts';
import { checkMemoryPlan } from '../src/train/trainer.ts';
import { expectBitwiseEqual, expectClose, twoMicroBatchGradients } from './harness.ts';

const BASE: GPTConfig = { vocabSize: 53, blockSize: 16, nLayer: 3, nHead: 2, nEmbd: 32, dropout: 0.1, bias: true };
const B = 4;
const T = 15; // below blockSize: the shared block buffers are used below capacity

const engines = new Map<number, Engine>();
beforeAll(async () => {
  for (const threads of [1, 2]) engines.set(threads, await Engine.create({ threads, kernels: 'simd' }));
});
afterAll(async () => {
  for (const e of engines.values()) await e.dispose();
});

/** Gradients (and the loss) of two micro-batches accumulated, with dropout on. */
function gradients(threads: number, config: GPTConfig, options: GPTOptions): { loss: number; grads: Float32Array; model: GPT } {
  return twoMicroBatchGradients(engines.get(threads)!, config, options, B, T);
}

describe.each(['gelu', 'swiglu'] as const)('%s MLP', (activation) => {
  const config: GPTConfig = { ...BASE, activation };

  it('recompute blocks: the same loss and gradients, bit for bit, at 1 and 2 threads, with dropout', () => {
    const want = gradients(1, config, { recompute: 'none' });
    for (const threads of [1, 2]) {
      for (const recompute of ['none', 'blocks'] as const) {
        const got = gradients(threads, config, { recompute });
        expect(got.loss, `${recompute}, ${threads} threads`).toBe(want.loss);
        expectBitwiseEqual(got.grads, want.grads, `gradients, recompute ${recompute}, ${threads} threads`);
      }
    }
  });

  it('chunked LM head: every gradient but wte\'s the same bits; wte\'s within f32 reassociation; bitwise across threads', () => {
    const whole = gradients(1, config, {});
    const wte = whole.model.layout.byName.get('wte')!;
    for (const chunk of [7, 64]) {
      const one = gradients(1, config, { lmHeadChunk: chunk, recompute: 'blocks' });
      const two = gradients(2, config, { lmHeadChunk: chunk, recompute: 'blocks' });
      expectBitwiseEqual(two.grads, one.grads, `chunk ${chunk}: 2 threads vs 1`);
      expect(one.loss, `chunk ${chunk}: loss`).toBe(whole.loss);
      // wte's gradient: the head's part is summed over 60 rows chunk by chunk instead of in
      // one matmul; f32 reassociation of such sums stays within ~60 ulps of the largest
      // term, so 1e-5 of the tensor's largest element (observed ~1e-7)
      const range = (g: Float32Array) => g.subarray(wte.offset, wte.offset + wte.size);
      expectClose(range(one.grads), range(whole.grads), { rtol: 1e-5 }, `chunk ${chunk}: wte`);
      const rest = (g: Float32Array) => Float32Array.from([...g.subarray(0, wte.offset), ...g.subarray(wte.offset + wte.size)]);
      expectBitwiseEqual(rest(one.grads), rest(whole.grads), `chunk ${chunk}: the other gradients`);
    }
  });
});

describe('memory plan', () => {
  const L: GPTConfig = { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0, bias: true };

  it('shows what each mode keeps; recompute keeps one block\'s activations, the chunked head one chunk of logits', () => {
    const engine = engines.get(1)!;
    const none = GPT.plan(engine, L, 4);
    const blocks = GPT.plan(engine, L, 4, { recompute: 'blocks' });
    const both = GPT.plan(engine, L, 4, { recompute: 'blocks', lmHeadChunk: 256 });
    expect(none.describe()).toMatch(/activations: block inputs 144\.0 MiB, saved by 12 blocks [\d.]+ GiB, .*LM head logits 785\.\d MiB/);
    expect(blocks.describe()).toMatch(/block inputs 144\.0 MiB, one block \(replayed in backward\) 180\.\d MiB/);
    expect(both.describe()).toMatch(/LM head \(chunks of 256 rows\) 49\.\d MiB/);
    const perBlock = blocks.activationParts.get('one block (replayed in backward)')!;
    expect(none.activationParts.get('saved by 12 blocks')).toBe(12 * perBlock);
    expect(none.total - blocks.total).toBe(11 * perBlock);
    expect(none.total).toBeGreaterThan(4 * 2 ** 30);
    expect(both.total).toBeLessThan(3 * 2 ** 30);
  });

  it('a plan over 4 GiB is refused naming the memory options that make it fit', () => {
    const engine = engines.get(1)!;
    const before = engine.arena.usedBytes;
    expect(() => checkMemoryPlan(engine, L, 4)).toThrow(/over the 4 GiB wasm32 limit .*: --recompute blocks makes it fit \(3\.\d\d GiB\), or use a smaller --batch-size/);
    // with the head chunked too, only recompute is left to name
    expect(() => checkMemoryPlan(engine, L, 4, { lmHeadChunk: 256 })).toThrow(/--recompute blocks makes it fit \(2\.\d\d GiB\)/);
    expect(() => checkMemoryPlan(engine, L, 16)).toThrow(/: --recompute blocks --lm-head-chunk 256 makes it fit \(3\.\d\d GiB\)/);
    // past what all of them can save (16-bit storage too): only the usual fixes
    expect(() => checkMemoryPlan(engine, L, 64)).toThrow(/limit \(parameters [^)]*\): use a smaller --batch-size/);
    expect(() => checkMemoryPlan(engine, L, 64, { precision: 'bf16' })).toThrow(/limit \(parameters [^)]*\): use a smaller --batch-size/);
    expect(checkMemoryPlan(engine, L, 4, { recompute: 'blocks' }).total).toBeLessThan(4 * 2 ** 30);
    expect(engine.arena.usedBytes, 'planning allocates nothing').toBe(before);
  });
});
