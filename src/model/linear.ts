// Linear layer: y = x W^T + b, W [outDim, inDim] (PyTorch layout), b [outDim] or none.
// Addresses are byte offsets into the shared memory.
import { GRAIN_ROWS, type KernelContext } from './context.ts';

export interface LinearParams {
  weight: number;
  bias: number; // 0 when the layer has no bias
  dweight: number;
  dbias: number;
  inDim: number;
  outDim: number;
}

// out [rows, outDim] = inp [rows, inDim] W^T + b
export function linearForward(ctx: KernelContext, p: LinearParams, out: number, inp: number, rows: number): void {
  ctx.run('matmulForward', [out, inp, p.weight, p.bias, rows, p.inDim, p.outDim], 0, rows, GRAIN_ROWS);
}

// dW += dout^T inp, db += sum_rows dout, dinp (+)= dout W (skipped when dinp is 0)
export function linearBackward(
  ctx: KernelContext, p: LinearParams, dinp: number, dout: number, inp: number, rows: number, accumulate: boolean,
): void {
  if (p.bias) ctx.run('matmulBackwardWeightsBias', [p.dweight, p.dbias, dout, inp, rows, p.inDim, p.outDim], 0, p.outDim, GRAIN_ROWS);
  else ctx.run('matmulBackwardWeights', [p.dweight, dout, inp, rows, p.inDim, p.outDim], 0, p.outDim, GRAIN_ROWS);
  if (dinp) ctx.run('matmulBackwardInput', [dinp, dout, p.weight, rows, p.inDim, p.outDim, accumulate ? 1 : 0], 0, rows, GRAIN_ROWS);
}
