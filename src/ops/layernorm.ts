// LayerNorm ops (assembly/layernorm.ts) over the channels of x [rows, C]. The forward
// saves each row's mean and rstd for backward. The backward sums parameter gradients
// per fixed chunk of rows, then the chunks in order (ops/reduce.ts), so they do not
// depend on the thread count.
import type { MemoryPlan } from '../engine/arena.ts';
import { expectTensor, prefix, type Tensor } from '../engine/tensor.ts';
import type { OpContext } from './context.ts';
import type { DropoutMask } from './random.ts';
import { sumChunks } from './reduce.ts';

export const NORM_CHUNK_ROWS = 32;

export interface LayernormScratch {
  partials: Tensor<'f32'>; // [chunks, 2C]: each chunk's dweight | dbias
}

export function normChunks(rows: number): number {
  return Math.ceil(rows / NORM_CHUNK_ROWS);
}

export function planLayernorm(plan: MemoryPlan, rows: number, C: number): LayernormScratch {
  return { partials: plan.tensor('scratch', [normChunks(rows), 2 * C], 'f32') };
}

interface Normed {
  out: Tensor; // [rows, C]
  mean: Tensor; // [rows]
  rstd: Tensor; // [rows]
  weight: Tensor; // [C]
  bias: Tensor | null; // [C]
}

function check(where: string, o: Normed, inp: Tensor): [number, number] {
  const [R, C] = inp.shape;
  expectTensor(`${where}: input`, inp, 'f32', [R, C]);
  expectTensor(`${where}: out`, o.out, 'f32', [R, C]);
  expectTensor(`${where}: mean`, o.mean, 'f32', [R]);
  expectTensor(`${where}: rstd`, o.rstd, 'f32', [R]);
  expectTensor(`${where}: weight`, o.weight, 'f32', [C]);
  if (o.bias) expectTensor(`${where}: bias`, o.bias, 'f32', [C]);
  return [R, C];
}

// out = layernorm(inp) * weight + bias
export function layernormForward(ctx: OpContext, o: Normed & { inp: Tensor }): void {
  const [R, C] = check('layernormForward', o, o.inp);
  ctx.run('layernormForward', [o.out.offset, o.mean.offset, o.rstd.offset, o.inp.offset, o.weight.offset, o.bias?.offset ?? 0, C], 0, R);
}

// res = a + dropout(b), then out = layernorm(res): one pass per row while it is in cache
export function residualLayernormForward(ctx: OpContext, o: Normed & { res: Tensor; a: Tensor; b: Tensor }, mask: DropoutMask): void {
  const [R, C] = check('residualLayernormForward', o, o.res);
  expectTensor('residualLayernormForward: a', o.a, 'f32', [R, C]);
  expectTensor('residualLayernormForward: b', o.b, 'f32', [R, C]);
  ctx.run('residualLayernormForward', [
    o.res.offset, o.out.offset, o.mean.offset, o.rstd.offset, o.a.offset, o.b.offset, o.weight.offset, o.bias?.offset ?? 0,
    mask.key, mask.threshold, mask.scale, C,
  ], 0, R);
}

// dinp += gradient through the norm; dweight and dbias (when not null) accumulate
export function layernormBackward(ctx: OpContext, o: {
  dinp: Tensor; dweight: Tensor; dbias: Tensor | null; dout: Tensor; inp: Tensor; weight: Tensor; mean: Tensor; rstd: Tensor;
}): void {
  const [R, C] = o.inp.shape;
  expectTensor('layernormBackward: inp', o.inp, 'f32', [R, C]);
  expectTensor('layernormBackward: dinp', o.dinp, 'f32', [R, C]);
  expectTensor('layernormBackward: dout', o.dout, 'f32', [R, C]);
  expectTensor('layernormBackward: mean', o.mean, 'f32', [R]);
  expectTensor('layernormBackward: rstd', o.rstd, 'f32', [R]);
  expectTensor('layernormBackward: weight', o.weight, 'f32', [C]);
  expectTensor('layernormBackward: dweight', o.dweight, 'f32', [C]);
  if (o.dbias) expectTensor('layernormBackward: dbias', o.dbias, 'f32', [C]);
  const chunks = normChunks(R);
  const partials = prefix(ctx.layernorm.partials, [chunks, 2 * C]);
  ctx.run('layernormBackwardChunks', [
    o.dinp.offset, partials.offset, o.dout.offset, o.inp.offset, o.weight.offset, o.mean.offset, o.rstd.offset,
    C, R, NORM_CHUNK_ROWS, o.dbias ? 1 : 0,
  ], 0, chunks);
  sumChunks(ctx, o.dweight, partials, 0);
  if (o.dbias) sumChunks(ctx, o.dbias, partials, C);
}
