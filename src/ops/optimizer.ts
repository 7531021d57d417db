// Optimizer ops (assembly/optimizer.ts) over flat parameter, gradient and moment
// buffers: the AdamW update and the global gradient norm.
import type { MemoryPlan } from '../engine/arena.ts';
import { expectTensor, viewOf, type Tensor } from '../engine/tensor.ts';
import type { OpContext } from './context.ts';

// Chunk of the gradient norm: partial sums per chunk are added in index order, so the
// norm does not depend on how chunks are split across threads.
const NORM_CHUNK = 16384;
const ADAMW_GRAIN = 1024;

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number; // decoupled
  gradScale: number; // every gradient is multiplied by this first (clipping)
  t: number; // steps taken, this one included (bias correction)
}

// One AdamW update of params from grads, with moments m and v (all [n]).
export function adamw(ctx: OpContext, o: { params: Tensor; grads: Tensor; m: Tensor; v: Tensor }, h: AdamWStep): void {
  const n = o.params.size;
  for (const [name, t] of [['params', o.params], ['grads', o.grads], ['m', o.m], ['v', o.v]] as const) {
    expectTensor(`adamw: ${name}`, t, 'f32', [n]);
  }
  const bc1 = 1 - h.beta1 ** h.t;
  const bc2 = 1 - h.beta2 ** h.t;
  ctx.run('adamw', [o.params.offset, o.grads.offset, o.m.offset, o.v.offset, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.gradScale, bc1, bc2],
    0, n, ADAMW_GRAIN);
}

// f64 partial sums of the gradient norm of n values
export function planGradNorm(plan: MemoryPlan, n: number): Tensor<'f64'> {
  return plan.tensor('optimizer', [Math.ceil(n / NORM_CHUNK)], 'f64');
}

// sqrt(sum of x^2): NaN or Infinity when any value is not finite.
export function globalNorm(ctx: OpContext, x: Tensor, partials: Tensor<'f64'>): number {
  const chunks = Math.ceil(x.size / NORM_CHUNK);
  expectTensor('globalNorm: x', x, 'f32', [x.size]);
  expectTensor('globalNorm: partials', partials, 'f64', [chunks]);
  ctx.run('sumSquaresChunks', [partials.offset, x.offset, x.size, NORM_CHUNK], 0, chunks);
  const parts = viewOf(ctx.memory, partials);
  let sum = 0;
  for (let i = 0; i < chunks; i++) sum += parts[i];
  return Math.sqrt(sum);
}
