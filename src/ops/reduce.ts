// Deterministic reductions (assembly/reduce.ts): partial sums of fixed chunks, added
// in chunk order, so a sum does not depend on how the chunks were split.
import { expectTensor, slice, type Tensor } from '../engine/tensor.ts';
import type { OpContext } from './context.ts';

// dst [n] += sum over chunks c of partials[c, column + j], in c order; partials [chunks, stride]
export function sumChunks(ctx: OpContext, dst: Tensor, partials: Tensor, column: number): void {
  const [chunks, stride] = partials.shape;
  const n = dst.size;
  expectTensor('sumChunks: dst', dst, 'f32', [n]);
  if (partials.dtype !== 'f32' || partials.shape.length !== 2 || column + n > stride) {
    throw new TypeError(`sumChunks: partials [${partials.shape.join(', ')}] have no columns [${column}, ${column + n})`);
  }
  const first = slice(partials, column, [partials.size - column]); // where column `column` of chunk 0 starts
  ctx.run('sumChunks', [dst.offset, first.offset, chunks, stride], 0, n, 4);
}
