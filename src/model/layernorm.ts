// LayerNorm over channels. The forward saves per-row mean and rstd for backward.
import type { KernelContext } from './context.ts';

export interface LayerNormParams {
  weight: number;
  bias: number; // 0 when the layer has no bias
  dweight: number;
  dbias: number;
  C: number;
}

// Saved per call: mean [rows], rstd [rows].
export interface LayerNormSaved {
  mean: number;
  rstd: number;
}

export function layernormForward(ctx: KernelContext, p: LayerNormParams, out: number, s: LayerNormSaved, inp: number, rows: number): void {
  ctx.k.layernormForward(out, s.mean, s.rstd, inp, p.weight, p.bias, p.C, 0, rows);
}

// dinp += gradient through the norm; dweight, dbias accumulate
export function layernormBackward(ctx: KernelContext, p: LayerNormParams, dinp: number, dout: number, s: LayerNormSaved, inp: number, rows: number): void {
  ctx.k.layernormBackward(dinp, p.dweight, p.dbias, dout, inp, p.weight, s.mean, s.rstd, p.C, 0, rows);
}
