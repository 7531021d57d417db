// The one-call matmul, kept as the test oracle of the staged gemm the model runs
// (../matmul.ts) and as a benchmark baseline: gemm packs B into the caller's own
// scratch and computes rows [rowStart, rowEnd) of C with the shipped blockRows, so a
// staged product must equal it bitwise. Also the three forms of a Linear as single
// calls, two with a GELU epilogue, and a separate bias-gradient kernel.
import { KC, MC, NC, PACK_B_BYTES, gemmThreadScratchBytes, packPanelsB, blockRows } from '../matmul';
import { geluForward, geluBackward } from '../gelu';

// Scratch bytes one caller (one thread) must pass to gemm: its own packed B block, then
// what the shipped stages need.
export function gemmScratchBytes(): usize {
  return PACK_B_BYTES + gemmThreadScratchBytes();
}

export function gemm(
  c: usize, a: usize, aRow: i32, aCol: i32, b: usize, bRow: i32, bCol: i32, bias: usize,
  M: i32, N: i32, K: i32, accumulate: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  gemmImpl(c, a, aRow, aCol, b, bRow, bCol, bias, 0, 0, M, N, K, accumulate, rowStart, rowEnd, scratch);
}

// Epilogues applied to finished rows of C (after the last K block).
const EPI_NONE: i32 = 0;
const EPI_GELU: i32 = 1; // aux = gelu(C): aux has C's layout; C keeps the pre-activation
const EPI_GELU_GRAD: i32 = 2; // C *= gelu'(aux): aux holds the pre-activation

// As gemm, plus: dbias nonzero: dbias[i] += sum_k A[i, k] for the rows in range (summed
// while A is packed); epilogue/aux: see EPI_*.
function gemmImpl(
  c: usize, a: usize, aRow: i32, aCol: i32, b: usize, bRow: i32, bCol: i32, bias: usize, dbias: usize,
  epilogue: i32, M: i32, N: i32, K: i32, accumulate: i32, rowStart: i32, rowEnd: i32, scratch: usize, aux: usize = 0,
): void {
  if (rowStart < 0) rowStart = 0;
  if (rowEnd > M) rowEnd = M;
  if (rowStart >= rowEnd || N <= 0) return;
  const ldc = <usize>N << 2;
  if (K <= 0) {
    if (!accumulate) initRows(c, bias, N, rowStart, rowEnd);
    if (epilogue != EPI_NONE) {
      const o = <usize>rowStart * ldc;
      applyEpilogue(epilogue, c + o, aux + o, rowEnd - rowStart, N, ldc);
    }
    return;
  }
  const packB = scratch;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      packPanelsB(packB, b, bRow, bCol, pc, kc, jc, nc);
      if (pc + kc < K || epilogue == EPI_NONE) {
        blockRows(c, a, aRow, aCol, packB, bias, dbias, N, pc, kc, jc, nc, accumulate, rowStart, rowEnd, scratch + PACK_B_BYTES);
        continue;
      }
      // last K block: each MC block of finished rows through the epilogue while in cache
      for (let ic = rowStart; ic < rowEnd; ic += MC) {
        const ie = min(rowEnd, ic + MC);
        blockRows(c, a, aRow, aCol, packB, bias, dbias, N, pc, kc, jc, nc, accumulate, ic, ie, scratch + PACK_B_BYTES);
        const o = <usize>ic * ldc + (<usize>jc << 2);
        applyEpilogue(epilogue, c + o, aux + o, ie - ic, nc, ldc);
      }
    }
  }
}

// C rows = bias (or 0); only for K = 0
function initRows(c: usize, bias: usize, N: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>N << 2;
  for (let i = rowStart; i < rowEnd; i++) {
    const row = c + <usize>i * rowBytes;
    if (bias) memory.copy(row, bias, rowBytes);
    else memory.fill(row, 0, rowBytes);
  }
}

// Finished rows of C (mr rows x nr columns at c, row stride ldc) through the epilogue.
// gelu.ts's SIMD and scalar forms give the same bits, so how rows are split does not matter.
function applyEpilogue(epilogue: i32, c: usize, aux: usize, mr: i32, nr: i32, ldc: usize): void {
  for (let r = 0; r < mr; r++) {
    const o = <usize>r * ldc;
    if (epilogue == EPI_GELU) geluForward(aux + o, c + o, 0, nr);
    else geluBackward(c + o, aux + o, c + o, 0, nr);
  }
}

// The three forms of a Linear layer. inp [rows, inDim], weight [outDim, inDim]
// (PyTorch's layout), bias [outDim] or 0 for none, out [rows, outDim].

// out = inp weight^T + bias, for rows [rowStart, rowEnd)
export function matmulForward(
  out: usize, inp: usize, weight: usize, bias: usize,
  rows: i32, inDim: i32, outDim: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  gemmImpl(out, inp, inDim, 1, weight, 1, inDim, bias, 0, EPI_NONE, rows, outDim, inDim, 0, rowStart, rowEnd, scratch);
}

// dinp (+)= dout weight, for rows [rowStart, rowEnd)
export function matmulBackwardInput(
  dinp: usize, dout: usize, weight: usize,
  rows: i32, inDim: i32, outDim: i32, accumulate: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  gemmImpl(dinp, dout, outDim, 1, weight, inDim, 1, 0, 0, EPI_NONE, rows, inDim, outDim, accumulate, rowStart, rowEnd, scratch);
}

// pre = inp weight^T + bias and out = gelu(pre), for rows [rowStart, rowEnd): the MLP's
// c_fc and its GELU in one pass (each finished tile goes through GELU while in cache).
// Bitwise equal to matmulForward into pre, then geluForward(out, pre).
export function matmulForwardGelu(
  out: usize, pre: usize, inp: usize, weight: usize, bias: usize,
  rows: i32, inDim: i32, outDim: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  gemmImpl(pre, inp, inDim, 1, weight, 1, inDim, bias, 0, EPI_GELU, rows, outDim, inDim, 0, rowStart, rowEnd, scratch, out);
}

// dinp = (dout weight) * gelu'(pre), for rows [rowStart, rowEnd): the input gradient of
// the MLP's c_proj taken straight through the GELU before it (dinp [rows, inDim] is
// the gradient of pre). dinp must not alias pre. Bitwise equal to
// matmulBackwardInput(dinp, ..., accumulate 0) then geluBackward(dinp, pre, dinp).
export function matmulBackwardInputGelu(
  dinp: usize, dout: usize, weight: usize, pre: usize,
  rows: i32, inDim: i32, outDim: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  gemmImpl(dinp, dout, outDim, 1, weight, inDim, 1, 0, 0, EPI_GELU_GRAD, rows, inDim, outDim, 0, rowStart, rowEnd, scratch, pre);
}

// dweight += dout^T inp, for weight rows (output features) [outStart, outEnd)
export function matmulBackwardWeights(
  dweight: usize, dout: usize, inp: usize,
  rows: i32, inDim: i32, outDim: i32, outStart: i32, outEnd: i32, scratch: usize,
): void {
  gemmImpl(dweight, dout, 1, outDim, inp, inDim, 1, 0, 0, EPI_NONE, outDim, inDim, rows, 1, outStart, outEnd, scratch);
}

// dweight += dout^T inp and dbias += sum over rows of dout, for output features
// [outStart, outEnd), in one pass over dout (the bias sums ride on the packing of
// dout^T). Replaces matmulBackwardWeights + biasBackward.
export function matmulBackwardWeightsBias(
  dweight: usize, dbias: usize, dout: usize, inp: usize,
  rows: i32, inDim: i32, outDim: i32, outStart: i32, outEnd: i32, scratch: usize,
): void {
  if (inDim <= 0) {
    biasBackward(dbias, dout, rows, outDim, outStart, outEnd);
    return;
  }
  gemmImpl(dweight, dout, 1, outDim, inp, inDim, 1, 0, dbias, EPI_NONE, outDim, inDim, rows, 1, outStart, outEnd, scratch);
}

// dbias[j] += sum_i dout[i, j], for output features [outStart, outEnd); rows summed in
// order. 16 features per pass down the rows (four vector sums), then 4, then 1: each
// feature's sum is the same sequence of adds on any path.
export function biasBackward(dbias: usize, dout: usize, rows: i32, outDim: i32, outStart: i32, outEnd: i32): void {
  const rowBytes = <usize>outDim << 2;
  let j = outStart;
  for (; j + 16 <= outEnd; j += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let p = dout + (<usize>j << 2);
    for (let i = 0; i < rows; i++) {
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16));
      a2 = f32x4.add(a2, v128.load(p, 32));
      a3 = f32x4.add(a3, v128.load(p, 48));
      p += rowBytes;
    }
    const d = dbias + (<usize>j << 2);
    v128.store(d, f32x4.add(v128.load(d), a0));
    v128.store(d, f32x4.add(v128.load(d, 16), a1), 16);
    v128.store(d, f32x4.add(v128.load(d, 32), a2), 32);
    v128.store(d, f32x4.add(v128.load(d, 48), a3), 48);
  }
  for (; j + 4 <= outEnd; j += 4) {
    let acc = f32x4.splat(0);
    let p = dout + (<usize>j << 2);
    for (let i = 0; i < rows; i++) {
      acc = f32x4.add(acc, v128.load(p));
      p += rowBytes;
    }
    const d = dbias + (<usize>j << 2);
    v128.store(d, f32x4.add(v128.load(d), acc));
  }
  for (; j < outEnd; j++) {
    let s: f32 = 0;
    let p = dout + (<usize>j << 2);
    for (let i = 0; i < rows; i++) {
      s += load<f32>(p);
      p += rowBytes;
    }
    const d = dbias + (<usize>j << 2);
    store<f32>(d, load<f32>(d) + s);
  }
}
