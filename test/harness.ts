// Test helpers: moving arrays into and out of the engine's shared memory, and
// comparisons of f32 kernel results against f64 references.
import { expect } from 'vitest';
import type { Engine } from '../src/engine/engine.ts';
import { GPT, type GPTOptions } from '../src/model/gpt.ts';
import type { GPTConfig } from '../src/model/config.ts';
import * as ref from './reference.ts';

export const BUILDS = ['simd', 'relaxed'] as const;

/** Arena allocations for one test, released together; pointers are byte offsets. */
export class Scope {
  private readonly mark: number;

  constructor(readonly engine: Engine) {
    this.mark = engine.arena.mark();
  }

  /** Views of n elements at byte offset off. */
  viewF32(off: number, n: number): Float32Array {
    return new Float32Array(this.engine.memory.buffer, off, n);
  }

  viewI32(off: number, n: number): Int32Array {
    return new Int32Array(this.engine.memory.buffer, off, n);
  }

  viewF64(off: number, n: number): Float64Array {
    return new Float64Array(this.engine.memory.buffer, off, n);
  }

  /** n f32 elements, every one NaN (to show a kernel overwrites what it should). */
  nan(n: number): number {
    const off = this.engine.arena.alloc(Math.max(n, 1) * 4);
    this.viewF32(off, n).fill(NaN);
    return off;
  }

  /** n f32 elements, zero. */
  zeros(n: number): number {
    const off = this.engine.arena.alloc(Math.max(n, 1) * 4);
    this.viewF32(off, n).fill(0);
    return off;
  }

  /** A copy of data as f32. */
  f32(data: ArrayLike<number>): number {
    const off = this.engine.arena.alloc(Math.max(data.length, 1) * 4);
    this.viewF32(off, data.length).set(data);
    return off;
  }

  /** A copy of data as i32. */
  i32(data: ArrayLike<number>): number {
    const off = this.engine.arena.alloc(Math.max(data.length, 1) * 4);
    this.viewI32(off, data.length).set(data);
    return off;
  }

  /** n f64 elements, NaN. */
  f64(n: number): number {
    const off = this.engine.arena.alloc(Math.max(n, 1) * 8, 64);
    this.viewF64(off, n).fill(NaN);
    return off;
  }

  /** A snapshot of n f32 elements at off, as f64. */
  read(off: number, n: number): Float64Array {
    return Float64Array.from(this.viewF32(off, n));
  }

  /** A snapshot of n f32 elements at off, as f32 (for bitwise comparisons). */
  readF32(off: number, n: number): Float32Array {
    return this.viewF32(off, n).slice();
  }

  /** Copies n f32 elements from src to a fresh allocation. */
  clone(src: number, n: number): number {
    return this.f32(this.viewF32(src, n));
  }

  release(): void {
    this.engine.arena.release(this.mark);
  }
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export interface CloseOptions {
  /** Relative tolerance. */
  rtol: number;
  /**
   * Magnitude each element's error is measured against: max(|want_i|, floor).
   * Defaults to max|want| (a normwise comparison: f32 rounding errors scale with the
   * largest values an element is computed from, not with the element itself).
   */
  floor?: number;
}

/** Worst |got_i - want_i| / max(|want_i|, floor), and where; NaN anywhere in got gives Infinity. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>, floor?: number): { err: number; index: number } {
  if (got.length !== want.length) throw new Error(`length ${got.length} != ${want.length}`);
  const base = floor ?? maxAbs(want);
  let err = 0;
  let index = -1;
  for (let i = 0; i < want.length; i++) {
    const scale = Math.max(Math.abs(want[i]), base, Number.MIN_VALUE);
    const e = Math.abs(got[i] - want[i]) / scale;
    if (!(e <= err)) {
      err = Number.isNaN(e) ? Infinity : e;
      index = i;
      if (err === Infinity) break;
    }
  }
  return { err, index };
}

/** Expects got ≈ want elementwise: |got_i - want_i| <= rtol * max(|want_i|, floor). */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, opts: CloseOptions, label = ''): void {
  const { err, index } = relativeError(got, want, opts.floor);
  const where = index >= 0 ? ` at [${index}]: got ${got[index]}, want ${want[index]}` : '';
  expect(err, `${label}: relative error ${err.toExponential(2)} > ${opts.rtol}${where}`).toBeLessThanOrEqual(opts.rtol);
}

/** Index of the first element whose bits differ, or -1. */
export function firstBitDifference(a: Float32Array | Float64Array, b: Float32Array | Float64Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : new BigUint64Array(a.buffer, a.byteOffset, a.length);
  const ub = b instanceof Float32Array ? new Uint32Array(b.buffer, b.byteOffset, b.length) : new BigUint64Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

export function expectBitwiseEqual(got: Float32Array | Float64Array, want: Float32Array | Float64Array, label = ''): void {
  const i = firstBitDifference(got, want);
  const detail = i >= 0 ? ` first difference at [${i}]: ${got[i]} vs ${want[i]}` : '';
  expect(i, `${label}: not bitwise equal;${detail}`).toBe(-1);
}

/** f64 values rounded to f32, as f32 (what an exactly rounded f32 kernel would produce). */
export function toF32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a);
}

/** fn's result; whatever fn allocated in the engine's arena is released after. */
export function inArena<T>(engine: Engine, fn: () => T): T {
  const mark = engine.arena.mark();
  try {
    return fn();
  } finally {
    engine.arena.release(mark);
  }
}

/** The loss and gradients of two micro-batches of B x T random tokens accumulated, dropout
 * on (seeds 77 and 78), for a model built with `options`; `prepare` may change its weights first. */
export function twoMicroBatchGradients(
  engine: Engine, config: GPTConfig, options: GPTOptions, B: number, T: number, prepare: (model: GPT) => void = () => {},
): { loss: number; grads: Float32Array; model: GPT } {
  return inArena(engine, () => {
    const model = new GPT(engine, config, B, options);
    model.init(77);
    prepare(model);
    const rng = new ref.Rng(78);
    model.zeroGrad();
    let loss = 0;
    for (let micro = 0; micro < 2; micro++) {
      const ids = ref.randomInts(rng, B * T, config.vocabSize), targets = ref.randomInts(rng, B * T, config.vocabSize);
      loss += model.forward(ids, targets, B, T, { train: true, lossScale: 0.5 });
      model.backward(0.5);
    }
    return { loss, grads: model.grads().slice(), model };
  });
}
