// Causal multi-head self-attention over qkv [B, T, 3C] (the output of c_attn).
// Saved for backward: att [B, H, T, T], the softmax probabilities before dropout.
import type { KernelContext, DropoutMask } from './context.ts';

export interface AttentionShape {
  B: number;
  T: number;
  C: number;
  H: number;
}

export function attentionForward(ctx: KernelContext, out: number, lse: number, qkv: number, s: AttentionShape, drop: DropoutMask): void {
  ctx.run('attentionForwardLse', [out, lse, qkv, s.B, s.T, s.C, s.H, drop.key, drop.threshold, drop.scale], 0, s.B * s.H);
}

// dqkv is overwritten
export function attentionBackward(ctx: KernelContext, dqkv: number, dout: number, qkv: number, lse: number, s: AttentionShape, drop: DropoutMask): void {
  ctx.run('attentionBackwardLse', [dqkv, dout, qkv, lse, s.B, s.T, s.C, s.H, drop.key, drop.threshold, drop.scale], 0, s.B * s.H);
}
