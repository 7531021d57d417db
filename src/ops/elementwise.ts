// Elementwise ops (assembly/elementwise.ts): residual adds, dropout, zeroing.
import { expectTensor, type Tensor } from '../engine/tensor.ts';
import { GRAIN_ELEMENTS, type OpContext } from './context.ts';
import type { DropoutMask } from './random.ts';

// out = a + dropout(b)
export function residualForward(ctx: OpContext, o: { out: Tensor; a: Tensor; b: Tensor }, mask: DropoutMask): void {
  expectTensor('residualForward: a', o.a, 'f32', o.out.shape);
  expectTensor('residualForward: b', o.b, 'f32', o.out.shape);
  expectTensor('residualForward: out', o.out, 'f32', o.out.shape);
  const n = o.out.size;
  if (mask.threshold) ctx.run('residualDropoutForward', [o.out.offset, o.a.offset, o.b.offset, mask.key, mask.threshold, mask.scale], 0, n, GRAIN_ELEMENTS);
  else ctx.run('residualForward', [o.out.offset, o.a.offset, o.b.offset], 0, n, GRAIN_ELEMENTS);
}

// out = dropout(inp); out may be inp. Forward and backward use the same call: both
// multiply by the same mask. Without dropout, out must be inp (nothing to do).
export function dropout(ctx: OpContext, o: { out: Tensor; inp: Tensor }, mask: DropoutMask): void {
  expectTensor('dropout: out', o.out, 'f32', o.inp.shape);
  if (mask.threshold) ctx.run('dropout', [o.out.offset, o.inp.offset, mask.key, mask.threshold, mask.scale], 0, o.inp.size, GRAIN_ELEMENTS);
  else if (o.out.offset !== o.inp.offset) throw new Error('dropout: without a mask, out must be inp');
}

// t = +0
export function zeroFill(ctx: OpContext, t: Tensor): void {
  if (t.dtype !== 'f32') throw new TypeError(`zeroFill: ${t.dtype} tensor, expected f32`);
  ctx.run('zeroFill', [t.offset], 0, t.size, GRAIN_ELEMENTS);
}
