// Token + learned position embedding ops (assembly/embedding.ts).
import { expectTensor, type Tensor } from '../engine/tensor.ts';
import type { OpContext } from './context.ts';

// out [B, T, C] = wte[ids] + wpe[t]; ids [B, T] i32, wte [V, C], wpe [maxT, C]
export function embeddingForward(ctx: OpContext, o: { out: Tensor; ids: Tensor; wte: Tensor; wpe: Tensor }): void {
  const [B, T] = o.ids.shape;
  const C = o.wte.shape[1];
  expectTensor('embeddingForward: ids', o.ids, 'i32', [B, T]);
  expectTensor('embeddingForward: out', o.out, 'f32', [B, T, C]);
  expectTensor('embeddingForward: wte', o.wte, 'f32', [o.wte.shape[0], C]);
  expectTensor('embeddingForward: wpe', o.wpe, 'f32', [o.wpe.shape[0], C]);
  if (T > o.wpe.shape[0]) throw new RangeError(`embeddingForward: ${T} positions, but wpe has ${o.wpe.shape[0]}`);
  ctx.run('embeddingForward', [o.out.offset, o.ids.offset, o.wte.offset, o.wpe.offset, T, C], 0, B * T);
}

// dwte [V, C] += the dout rows of each token; threads split the vocabulary, so no two
// add into one row
export function tokenEmbeddingBackward(ctx: OpContext, o: { dwte: Tensor; dout: Tensor; ids: Tensor }): void {
  const [V, C] = o.dwte.shape;
  const [B, T] = o.ids.shape;
  expectTensor('tokenEmbeddingBackward: ids', o.ids, 'i32', [B, T]);
  expectTensor('tokenEmbeddingBackward: dout', o.dout, 'f32', [B, T, C]);
  expectTensor('tokenEmbeddingBackward: dwte', o.dwte, 'f32', [V, C]);
  ctx.run('tokenEmbeddingBackward', [o.dwte.offset, o.dout.offset, o.ids.offset, B * T, C], 0, V);
}

// dwpe[t] += sum over the batch of dout[b, t]
export function positionEmbeddingBackward(ctx: OpContext, o: { dwpe: Tensor; dout: Tensor }): void {
  const [B, T, C] = o.dout.shape;
  expectTensor('positionEmbeddingBackward: dout', o.dout, 'f32', [B, T, C]);
  expectTensor('positionEmbeddingBackward: dwpe', o.dwpe, 'f32', [o.dwpe.shape[0], C]);
  if (T > o.dwpe.shape[0]) throw new RangeError(`positionEmbeddingBackward: ${T} positions, but wpe has ${o.dwpe.shape[0]}`);
  ctx.run('positionEmbeddingBackward', [o.dwpe.offset, o.dout.offset, B, T, C], 0, T);
}
