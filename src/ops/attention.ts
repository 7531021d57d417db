// Causal multi-head self-attention ops (assembly/attention.ts), over qkv [B, T, 3C]
// (q | k | v per position; head h uses channels [h*hs, (h+1)*hs)). The forward saves
// only each row's log-sum-exp, lse [B, H, T]; the backward recomputes the
// probabilities from q, k and lse. Threads split (batch, head) pairs.
import { expectTensor, type Tensor } from '../engine/tensor.ts';
import type { Kernels } from '../engine/kernel-table.ts';
import type { OpContext } from './context.ts';
import type { DropoutMask } from './random.ts';

export function attentionThreadScratchBytes(kernels: Kernels, T: number, headSize: number): number {
  return kernels.attentionScratchBytes(T, headSize);
}

function shapes(where: string, qkv: Tensor, nHead: number): { B: number; T: number; C: number } {
  const [B, T, C3] = qkv.shape;
  const C = C3 / 3;
  if (qkv.shape.length !== 3 || !Number.isInteger(C) || C % nHead !== 0) {
    throw new TypeError(`${where}: qkv is [${qkv.shape.join(', ')}], expected [B, T, 3C] with C a multiple of ${nHead} heads`);
  }
  return { B, T, C };
}

// out [B, T, C] = attention(qkv); lse [B, H, T] saved for backward; dropout on the probabilities
export function attentionForward(
  ctx: OpContext, o: { out: Tensor; lse: Tensor; qkv: Tensor }, nHead: number, mask: DropoutMask,
): void {
  const { B, T, C } = shapes('attentionForward', o.qkv, nHead);
  expectTensor('attentionForward: qkv', o.qkv, 'f32', [B, T, 3 * C]);
  expectTensor('attentionForward: out', o.out, 'f32', [B, T, C]);
  expectTensor('attentionForward: lse', o.lse, 'f32', [B, nHead, T]);
  ctx.run('attentionForwardLse', [o.out.offset, o.lse.offset, o.qkv.offset, B, T, C, nHead, mask.key, mask.threshold, mask.scale],
    0, B * nHead, 1, ctx.threadScratch);
}

// dqkv [B, T, 3C] (overwritten) from dout [B, T, C], with the forward's qkv, lse and mask
export function attentionBackward(
  ctx: OpContext, o: { dqkv: Tensor; dout: Tensor; qkv: Tensor; lse: Tensor }, nHead: number, mask: DropoutMask,
): void {
  const { B, T, C } = shapes('attentionBackward', o.qkv, nHead);
  expectTensor('attentionBackward: qkv', o.qkv, 'f32', [B, T, 3 * C]);
  expectTensor('attentionBackward: dqkv', o.dqkv, 'f32', [B, T, 3 * C]);
  expectTensor('attentionBackward: dout', o.dout, 'f32', [B, T, C]);
  expectTensor('attentionBackward: lse', o.lse, 'f32', [B, nHead, T]);
  ctx.run('attentionBackwardLse', [o.dqkv.offset, o.dout.offset, o.qkv.offset, o.lse.offset, B, T, C, nHead, mask.key, mask.threshold, mask.scale],
    0, B * nHead, 1, ctx.threadScratch);
}

// out [m, C] = attention of m new positions pos0 .. pos0 + m - 1 (their queries: the q part
// of qkv [m, 3C]) over the key/value cache [maxT, C] that already holds positions up to
// pos0 + m - 1. Threads split (row, head) pairs.
export function attentionCachedForward(
  ctx: OpContext, o: { out: Tensor; qkv: Tensor; kCache: Tensor; vCache: Tensor }, pos0: number, nHead: number,
): void {
  const [m, C3] = o.qkv.shape;
  const C = C3 / 3;
  const maxT = o.kCache.shape[0];
  expectTensor('attentionCachedForward: out', o.out, 'f32', [m, C]);
  expectTensor('attentionCachedForward: kCache', o.kCache, 'f32', [maxT, C]);
  expectTensor('attentionCachedForward: vCache', o.vCache, 'f32', [maxT, C]);
  if (!(pos0 >= 0 && pos0 + m <= maxT)) throw new RangeError(`attentionCachedForward: positions [${pos0}, ${pos0 + m}) outside the cache's ${maxT}`);
  ctx.run('attentionCached', [o.out.offset, o.qkv.offset, 3 * C, o.kCache.offset, o.vCache.offset, pos0, C, nHead], 0, m * nHead, 1, ctx.threadScratch);
}
