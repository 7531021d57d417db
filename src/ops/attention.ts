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
