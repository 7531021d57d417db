// Linear layer: y = x W^T + b, W [outDim, inDim] (PyTorch layout), b [outDim] or none.
// Addresses are byte offsets into the shared memory.
import { GRAIN_ROWS, type KernelContext } from './context.ts';

// Column chunks of a short, wide C: any number of panels. A thread's last chunk of a
// dispatch is then small (1 panel of L's LM head: ~0.15 ms), so little time is lost
// waiting for the slower thread at the end of each of its ~200 column dispatches a step.
const GRAIN_PANELS = 1;

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
  gemm(ctx, { c: out, a: inp, aRow: p.inDim, aCol: 1, b: p.weight, bRow: 1, bCol: p.inDim, bias: p.bias, dbias: 0, M: rows, N: p.outDim, K: p.inDim, accumulate: false });
}

// dW += dout^T inp, db += sum_rows dout, dinp (+)= dout W (skipped when dinp is 0)
export function linearBackward(
  ctx: KernelContext, p: LinearParams, dinp: number, dout: number, inp: number, rows: number, accumulate: boolean,
): void {
  linearBackwardWeights(ctx, p, dout, inp, rows);
  if (dinp) linearBackwardInput(ctx, p, dinp, dout, rows, accumulate);
}

// dW [outDim, inDim] += dout^T [outDim, rows] inp [rows, inDim]; db rides on packing dout^T
export function linearBackwardWeights(ctx: KernelContext, p: LinearParams, dout: number, inp: number, rows: number): void {
  gemm(ctx, { c: p.dweight, a: dout, aRow: 1, aCol: p.outDim, b: inp, bRow: p.inDim, bCol: 1, bias: 0, dbias: p.dbias, M: p.outDim, N: p.inDim, K: rows, accumulate: true });
}

// dinp [rows, inDim] (+)= dout [rows, outDim] W [outDim, inDim]
export function linearBackwardInput(ctx: KernelContext, p: LinearParams, dinp: number, dout: number, rows: number, accumulate: boolean): void {
  gemm(ctx, { c: dinp, a: dout, aRow: p.outDim, aCol: 1, b: p.weight, bRow: p.inDim, bCol: 1, bias: 0, dbias: 0, M: rows, N: p.inDim, K: p.outDim, accumulate });
}

// C [M, N] (+)= A [M, K] B [K, N] (+ bias [N]); A and B are read through (row, column)
// element strides, so W^T and dout^T need no copies. dbias nonzero: dbias[i] += sum_k A[i, k].
interface GemmOperands {
  c: number;
  a: number; aRow: number; aCol: number;
  b: number; bRow: number; bCol: number;
  bias: number;
  dbias: number;
  M: number; N: number; K: number;
  accumulate: boolean;
}

// Per step of B (columns blockN at most, K blocks as many as the shared buffer holds):
// all threads pack its panels into the one shared buffer, then all compute row chunks
// of C from it. For a C with fewer rows than the step has columns (a small batch), row
// chunks would each stream all of the packed B: A is packed once per step too, and the
// threads take column chunks. Each thread packing all of B for its own rows (as a
// single gemm call does) cost a thread up to ~15% more work on such matrices. Same bits
// as the single-call gemm, however it is split.
function gemm(ctx: KernelContext, g: GemmOperands): void {
  if (g.K <= 0) throw new RangeError(`matmul needs K >= 1, got ${g.K}`);
  const { packedB, packedA, packedBBytes, blockK, blockN, panelWidth, tileRows } = ctx.gemm;
  const acc = g.accumulate ? 1 : 0;
  for (let jc = 0; jc < g.N; jc += blockN) {
    const nc = Math.min(blockN, g.N - jc);
    const panels = Math.ceil(nc / panelWidth);
    const kSpan = blockK * Math.max(1, Math.floor(packedBBytes / (4 * blockK * panels * panelWidth)));
    for (let pc0 = 0; pc0 < g.K; pc0 += kSpan) {
      const span = Math.min(kSpan, g.K - pc0);
      const bUnits = Math.ceil(span / blockK) * panels;
      if (g.M < nc) {
        ctx.run('gemmPackSpan', [packedB, g.b, g.bRow, g.bCol, packedA, g.a, g.aRow, g.aCol, g.dbias, g.M, pc0, span, jc, nc], 0, bUnits + Math.ceil(g.M / tileRows), 1);
        ctx.run('gemmCols', [g.c, packedA, packedB, g.bias, g.M, g.N, g.K, pc0, span, jc, nc, acc], 0, panels, GRAIN_PANELS);
      } else {
        ctx.run('gemmPackB', [packedB, g.b, g.bRow, g.bCol, pc0, span, jc, nc], 0, bUnits, 1);
        ctx.run('gemmRows', [g.c, g.a, g.aRow, g.aCol, packedB, g.bias, g.dbias, g.N, g.K, pc0, span, jc, nc, acc], 0, g.M, GRAIN_ROWS);
      }
    }
  }
}
