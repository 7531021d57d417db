// LayerNorm over channels. The forward saves per-row mean and rstd for backward.
import { NORM_CHUNK_ROWS, type KernelContext } from './context.ts';

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
  ctx.run('layernormForward', [out, s.mean, s.rstd, inp, p.weight, p.bias, p.C], 0, rows);
}

// dinp += gradient through the norm; dweight, dbias accumulate: per fixed chunk of
// rows first (ctx.normPartials), then the chunks in order
export function layernormBackward(ctx: KernelContext, p: LayerNormParams, dinp: number, dout: number, s: LayerNormSaved, inp: number, rows: number): void {
  const chunks = normChunks(rows);
  const hasBias = p.bias ? 1 : 0;
  ctx.run('layernormBackwardChunks', [dinp, ctx.normPartials, dout, inp, p.weight, s.mean, s.rstd, p.C, rows, NORM_CHUNK_ROWS, hasBias], 0, chunks);
  ctx.run('sumChunks', [p.dweight, ctx.normPartials, chunks, 2 * p.C], 0, p.C, 4);
  if (p.bias) ctx.run('sumChunks', [p.dbias, ctx.normPartials + 4 * p.C, chunks, 2 * p.C], 0, p.C, 4);
}

export function normChunks(rows: number): number {
  return Math.ceil(rows / NORM_CHUNK_ROWS);
}
