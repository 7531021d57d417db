// bf16/fp16 training (--precision): fp32 master weights with a 16-bit copy for the
// matmuls, 16-bit saved activations and inter-layer gradients, fp32 compute; and fp16's
// dynamic loss scaling (PyTorch GradScaler semantics).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.ts';
import { GPT, type GPTOptions } from '../src/model/gpt.ts';
import type { GPTConfig } from '../src/model/config.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { newTrainState, trainStep, snapshot, restore } from '../src/train/state.ts';
import { LossScaler } from '../src/train/loss-scaler.ts';
import { TrainingError } from '../src/train/errors.ts';
import { Rng } from '../src/engine/random.ts';
import { expectBitwiseEqual, inArena, twoMicroBatchGradients } from './harness.ts';

const BASE: GPTConfig = { vocabSize: 53, blockSize: 16, nLayer: 3, nHead: 2, nEmbd: 32, dropout: 0.1, bias: true };
const B = 4;
const T = 15; // below blockSize: the working set and the 16-bit copies are used below capacity

const engines = new Map<number, Engine>();
beforeAll(async () => {
  for (const threads of [1, 2]) engines.set(threads, await Engine.create({ threads, kernels: 'simd' }));
});
afterAll(async () => {
  for (const e of engines.values()) await e.dispose();
});

// Each weight rounded to the nearest value of the format (ties to even; fp16 subnormals
// kept): then the 16-bit copy the matmuls read is the fp32 weight exactly.
function roundWeights(p: Float32Array, format: 'bf16' | 'fp16'): void {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < p.length; i++) {
    if (format === 'bf16') {
      f[0] = p[i];
      u[0] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) & 0xffff0000;
      p[i] = f[0];
    } else {
      // fp16: 11 significant bits, spacing 2^-24 below 2^-14 (|w| < 65504 here)
      const e = Math.max(Math.floor(Math.log2(Math.abs(p[i]) || 1)), -14);
      const q = 2 ** (e - 10);
      const r = p[i] / q;
      const n = Math.round(r);
      p[i] = (Math.abs(r - Math.trunc(r)) === 0.5 ? 2 * Math.round(r / 2) : n) * q;
    }
  }
}

/** Loss and gradients of two micro-batches accumulated (dropout on), weights rounded to `rounded`. */
function gradients(threads: number, config: GPTConfig, options: GPTOptions, rounded: 'bf16' | 'fp16') {
  return twoMicroBatchGradients(engines.get(threads)!, config, options, B, T, (model) => roundWeights(model.params(), rounded));
}

function relativeL2(got: Float32Array, want: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}

// The gradients' error from storing activations and inter-layer gradients in 16 bits: each
// stored value is off by at most half a unit in the last place (2^-9 relative for bf16,
// 2^-12 for fp16); through a few layers, and summed over rows, the error of the whole
// gradient vector stays near that. Bound: 2 x that unit roundoff (observed about 1x).
const BOUND = { bf16: 2 * 2 ** -9, fp16: 2 * 2 ** -12 };

describe.each(['gelu', 'swiglu'] as const)('%s MLP', (activation) => {
  const config: GPTConfig = { ...BASE, activation };

  describe.each(['bf16', 'fp16'] as const)('%s', (precision) => {
    it('forward: with weights the format holds exactly, the loss is the fp32 model\'s bit for bit (the matmuls read the 16-bit copy, compute is fp32)', () => {
      const fp32 = gradients(1, config, {}, precision);
      for (const lmHeadChunk of [0, 7]) {
        expect(gradients(1, config, { precision, lmHeadChunk }, precision).loss, `chunk ${lmHeadChunk}`).toBe(gradients(1, config, { lmHeadChunk }, precision).loss);
      }
      expect(gradients(2, config, { precision }, precision).loss).toBe(fp32.loss);
    });

    it('backward: gradients within 2 units of 16-bit roundoff of fp32\'s (and not equal: 16 bits are used); bitwise the same at 1 and 2 threads; recompute blocks as close', () => {
      const fp32 = gradients(1, config, {}, precision);
      const one = gradients(1, config, { precision }, precision);
      const err = relativeL2(one.grads, fp32.grads);
      expect(err, `relative L2 error ${err.toExponential(2)}`).toBeLessThan(BOUND[precision]);
      expect(err).toBeGreaterThan(0);
      expectBitwiseEqual(gradients(2, config, { precision }, precision).grads, one.grads, '2 threads vs 1');
      const recompute1 = gradients(1, config, { precision, recompute: 'blocks' }, precision);
      expectBitwiseEqual(gradients(2, config, { precision, recompute: 'blocks' }, precision).grads, recompute1.grads, 'recompute: 2 threads vs 1');
      expect(relativeL2(recompute1.grads, fp32.grads)).toBeLessThan(BOUND[precision]);
    });
  });
});

describe('memory plan', () => {
  const engine = () => engines.get(1)!;
  const deep: GPTConfig = { vocabSize: 50, blockSize: 128, nLayer: 12, nHead: 4, nEmbd: 128, dropout: 0, bias: true };

  it('16-bit weights copy and saved activations, named by dtype; activations about halved', () => {
    const fp32 = GPT.plan(engine(), deep, 8);
    for (const [precision, name] of [['bf16', 'bf16'], ['fp16', 'fp16']] as const) {
      const half = GPT.plan(engine(), deep, 8, { precision });
      const format = precision === 'bf16' ? 'bf16' : 'f16';
      // the weights' copy: 2 bytes a parameter (cache-line aligned)
      expect(half.halfBytes.parameters[format]).toBe(Math.ceil(fp32.bytes.parameters / 2 / 64) * 64);
      expect(half.bytes.parameters - half.halfBytes.parameters[format]).toBe(fp32.bytes.parameters);
      expect(half.bytes.gradients).toBe(fp32.bytes.gradients);
      expect(half.bytes.optimizer).toBe(fp32.bytes.optimizer);
      // half of 11 blocks' saved activations, one block's in the fp32 working set, and the
      // unchanged rest (ln_f, the LM head's logits, backward scratch): ~11/24 + 1/12 + a bit
      const ratio = half.bytes.activations / fp32.bytes.activations;
      expect(ratio, `activations ${half.bytes.activations} vs ${fp32.bytes.activations}`).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(0.6);
      expect(half.describe()).toMatch(new RegExp(`^memory plan \\(fp32 unless named\\): parameters [\\d.]+ [KM]iB \\+ [\\d.]+ [KM]iB ${name}, .*activations [\\d.]+ [KM]iB \\+ [\\d.]+ [KM]iB ${name},`));
      // recompute: only the block inputs are kept in 16 bits
      const both = GPT.plan(engine(), deep, 8, { precision, recompute: 'blocks' });
      const fp32Recompute = GPT.plan(engine(), deep, 8, { recompute: 'blocks' });
      expect(both.bytes.activations).toBeLessThan(fp32Recompute.bytes.activations);
      // (all but the last block's: its backward comes first, from the working set)
      expect(both.activationParts.get('block inputs')! * 2 * 12).toBe(fp32Recompute.activationParts.get('block inputs')! * 11);
    }
    expect(() => GPT.plan(engine(), deep, 8, { precision: 'fp8' as never })).toThrow(/precision must be one of fp32, bf16, fp16, got fp8/);
  });
});

describe('loss scaler (GradScaler semantics)', () => {
  it('grows by the factor after the interval of clean steps, backs off on overflow (resetting the count), refuses to fall below 1', () => {
    const s = new LossScaler({ initScale: 4, growthInterval: 3, growthFactor: 2, backoffFactor: 0.5 });
    s.update(false, 0);
    s.update(false, 1);
    expect(s.scale).toBe(4);
    s.update(false, 2);
    expect(s.state).toEqual({ scale: 8, cleanSteps: 0, skipped: 0 });
    s.update(false, 3);
    s.update(true, 4);
    expect(s.state).toEqual({ scale: 4, cleanSteps: 0, skipped: 1 });
    s.update(true, 5);
    s.update(true, 6);
    expect(s.scale).toBe(1);
    expect(() => s.update(true, 7)).toThrow(TrainingError);
    expect(() => s.update(true, 7)).toThrow(/fp16 gradients overflowed at step 7 with the loss scale at 1; it would fall below 1/);
  });
});

describe('fp16 training step', () => {
  function fp16Run(engine: Engine, initScale: number) {
    const model = new GPT(engine, { vocabSize: 23, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0.1, bias: true }, 3, { precision: 'fp16' });
    model.init(5);
    const optimizer = new AdamW(model, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
    const rng = new Rng(9);
    // a learnable sequence (a repeating pattern), so the loss has somewhere to go
    const tokens = Uint16Array.from({ length: 600 }, (_, i) => (i % 7 === 0 ? rng.int(23) : (i * 5) % 23));
    const scaler = new LossScaler({ initScale, growthInterval: 2000, growthFactor: 2, backoffFactor: 0.5 });
    return newTrainState(model, optimizer, { tokens, batchSize: 3, blockSize: 8, gradAccum: 2, gradClip: 1, seed: 11, scaler });
  }

  it('a forced overflow (initial scale 2^40): the step is skipped with weights, moments and AdamW\'s count untouched, the scale halves, training goes on and the loss falls', () => {
    const engine = engines.get(2)!;
    inArena(engine, () => {
      const state = fp16Run(engine, 2 ** 40);
      const before = snapshot(state);
      const r = trainStep(state, 1e-2);
      expect(r).toMatchObject({ skipped: true, overflow: true, lossScale: 2 ** 40 });
      expect(Number.isFinite(r.loss)).toBe(true);
      expectBitwiseEqual(state.model.params(), before.params, 'weights after a skipped step');
      expectBitwiseEqual(state.optimizer.moments().m, before.m, 'first moments');
      expectBitwiseEqual(state.optimizer.moments().v, before.v, 'second moments');
      expect(state.optimizer.t).toBe(0);
      expect(state.step).toBe(1); // the batch was consumed, the schedule moved on
      expect(state.scaler!.scale).toBe(2 ** 39);
      const losses: number[] = [];
      let skipped = 1;
      for (let i = 0; i < 60; i++) {
        const s = trainStep(state, 1e-2);
        if (s.skipped) skipped++;
        else losses.push(s.loss);
      }
      // backs off once per overflowing step until the gradients fit fp16, then trains
      expect(state.scaler!.skipped).toBe(skipped);
      expect(state.scaler!.scale).toBe(2 ** (40 - skipped));
      expect(state.optimizer.t).toBe(61 - skipped);
      expect(losses.length).toBeGreaterThan(20);
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.5);
    });
  });

  it('gradients beyond fp16 at any scale: the run stops with an error when the scale would fall below 1, instead of skipping forever', () => {
    const engine = engines.get(1)!;
    inArena(engine, () => {
      const state = fp16Run(engine, 8);
      // a final LayerNorm gain of 1e6: the gradient reaching the blocks is ~1e6 x the
      // logits' gradient, past fp16's 65504 even unscaled (the loss itself stays finite)
      state.model.param('ln_f.weight').fill(1e6);
      const results = [0, 1, 2].map(() => trainStep(state, 1e-2));
      expect(results.map((r) => [r.overflow, r.lossScale])).toEqual([[true, 8], [true, 4], [true, 2]]);
      expect(results.every((r) => Number.isFinite(r.loss))).toBe(true);
      // at scale 1 it overflows once more: halving would go below 1
      expect(() => trainStep(state, 1e-2)).toThrow(/fp16 gradients overflowed at step 3 with the loss scale at 1; it would fall below 1 \(4 steps skipped\)/);
    });
  });

  it('a snapshot carries the scaler: restored, the run continues bit for bit with the same scale', () => {
    const engine = engines.get(1)!;
    inArena(engine, () => {
      const state = fp16Run(engine, 2 ** 26); // a few overflows first
      for (let i = 0; i < 6; i++) trainStep(state, 1e-2);
      const saved = snapshot(state);
      expect(saved.scaler!.skipped).toBeGreaterThan(0);
      const straight = [0, 1, 2, 3, 4, 5].map(() => trainStep(state, 1e-2));
      const end = { params: state.model.params().slice(), scaler: state.scaler!.state };
      restore(state, saved);
      const again = [0, 1, 2, 3, 4, 5].map(() => trainStep(state, 1e-2));
      expect(again).toEqual(straight);
      expectBitwiseEqual(state.model.params(), end.params, 'weights');
      expect(state.scaler!.state).toEqual(end.scaler);
    });
  });
});
