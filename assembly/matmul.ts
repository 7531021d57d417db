// Matrix multiplication for Linear layers, on packed panels with a
// register-blocked micro-kernel.
//
// One general routine, gemm: C[M,N] (+)= A[M,K] B[K,N] (+ bias[N]), where A and B
// are read through (row, column) element strides so the three forms of a Linear
// (y = x W^T + b, dx = dy W, dW += dy^T x) need no transposed copies.
// Rows [rowStart, rowEnd) of C are computed: the unit a thread pool splits.
// Every element of C sums K in the same order whatever the row range, so results
// do not depend on how rows are split.
import { madd } from './simd';

// Micro-tile: MR rows x NR (two v128) columns of accumulators. Measured with
// Node 20 (V8 11.3) on this AMD EPYC (Zen 3): 4x8 runs at ~40 GFLOP/s from L1 with
// relaxed madd (peak loop ~45); 5x8 and 6x8 fall to ~20 (V8 spills accumulators).
const MR: i32 = 4;
const NR: i32 = 8;
// Cache blocks: an A block (MC x KC) stays in L2, one B panel (KC x NR) in L1.
const KC: i32 = 256;
const MC: i32 = 64;
const NC: i32 = 4096;

const PACK_B_BYTES: usize = <usize>(KC * NC) << 2;
const PACK_A_BYTES: usize = <usize>(MC * KC) << 2;
const TILE_BYTES: usize = <usize>(MR * NR) << 2;

// Scratch bytes one caller (one thread) must pass to gemm.
export function gemmScratchBytes(): usize {
  return PACK_B_BYTES + PACK_A_BYTES + TILE_BYTES;
}

export function gemm(
  c: usize, a: usize, aRow: i32, aCol: i32, b: usize, bRow: i32, bCol: i32, bias: usize,
  M: i32, N: i32, K: i32, accumulate: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  if (rowEnd > M) rowEnd = M;
  if (rowStart >= rowEnd) return;
  const ldc = <usize>N << 2;
  if (!accumulate) initRows(c, bias, N, rowStart, rowEnd);
  const packB = scratch;
  const packA = scratch + PACK_B_BYTES;
  const tile = packA + PACK_A_BYTES;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      packPanelsB(packB, b, bRow, bCol, pc, kc, jc, nc);
      for (let ic = rowStart; ic < rowEnd; ic += MC) {
        const mc = min(MC, rowEnd - ic);
        packPanelsA(packA, a, aRow, aCol, ic, mc, pc, kc);
        macroKernel(c + <usize>ic * ldc + (<usize>jc << 2), ldc, packA, packB, mc, nc, kc, tile);
      }
    }
  }
}

// C rows = bias (or 0) before the K loop accumulates into them
function initRows(c: usize, bias: usize, N: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>N << 2;
  for (let i = rowStart; i < rowEnd; i++) {
    const row = c + <usize>i * rowBytes;
    if (bias) memory.copy(row, bias, rowBytes);
    else memory.fill(row, 0, rowBytes);
  }
}

// A block rows [i0, i0+mc) x cols [k0, k0+kc) -> panels of MR rows, k-major:
// panel[k*MR + r]; rows past mc are zero.
function packPanelsA(dst: usize, a: usize, aRow: i32, aCol: i32, i0: i32, mc: i32, k0: i32, kc: i32): void {
  const colStep = <usize>aCol << 2;
  const panelStep = <usize>(MR << 2);
  for (let ir = 0; ir < mc; ir += MR) {
    const panel = dst + (<usize>(ir * kc) << 2);
    for (let r = 0; r < MR; r++) {
      let d = panel + (<usize>r << 2);
      if (ir + r < mc) {
        let src = a + ((<usize>(i0 + ir + r) * <usize>aRow + <usize>k0 * <usize>aCol) << 2);
        for (let k = 0; k < kc; k++) {
          store<f32>(d, load<f32>(src));
          d += panelStep;
          src += colStep;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          store<f32>(d, 0);
          d += panelStep;
        }
      }
    }
  }
}

// B block rows [k0, k0+kc) x cols [j0, j0+nc) -> panels of NR columns, k-major:
// panel[k*NR + j]; columns past nc are zero.
function packPanelsB(dst: usize, b: usize, bRow: i32, bCol: i32, k0: i32, kc: i32, j0: i32, nc: i32): void {
  const rowStep = <usize>bRow << 2;
  const panelStep = <usize>(NR << 2);
  for (let jr = 0; jr < nc; jr += NR) {
    const panel = dst + (<usize>(jr * kc) << 2);
    for (let j = 0; j < NR; j++) {
      let d = panel + (<usize>j << 2);
      if (jr + j < nc) {
        let src = b + ((<usize>k0 * <usize>bRow + <usize>(j0 + jr + j) * <usize>bCol) << 2);
        for (let k = 0; k < kc; k++) {
          store<f32>(d, load<f32>(src));
          d += panelStep;
          src += rowStep;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          store<f32>(d, 0);
          d += panelStep;
        }
      }
    }
  }
}

function macroKernel(c: usize, ldc: usize, packA: usize, packB: usize, mc: i32, nc: i32, kc: i32, tile: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    const bp = packB + (<usize>(jr * kc) << 2);
    for (let ir = 0; ir < mc; ir += MR) {
      const mr = min(MR, mc - ir);
      const ap = packA + (<usize>(ir * kc) << 2);
      const cp = c + <usize>ir * ldc + (<usize>jr << 2);
      if (mr == MR && nr == NR) {
        microKernel(ap, bp, kc, cp, ldc);
      } else {
        // edge tile: run the same kernel on a zeroed scratch tile, add the valid part
        memory.fill(tile, 0, TILE_BYTES);
        microKernel(ap, bp, kc, tile, <usize>(NR << 2));
        addTile(cp, ldc, tile, mr, nr);
      }
    }
  }
}

function addTile(c: usize, ldc: usize, tile: usize, mr: i32, nr: i32): void {
  for (let r = 0; r < mr; r++) {
    const row = c + <usize>r * ldc;
    const src = tile + (<usize>(r * NR) << 2);
    for (let j = 0; j < nr; j++) {
      const p = row + (<usize>j << 2);
      store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>j << 2)));
    }
  }
}

// @ts-ignore: decorator
@inline function microKernel(ap: usize, bp: usize, kc: i32, c: usize, ldc: usize): void {
  kernel4x8(ap, bp, kc, c, ldc);
}

// C[4,8] += A panel (kc x 4) * B panel (kc x 8). One plain loop: V8 spills
// accumulators when the body is unrolled or followed by a second loop.
function kernel4x8(ap: usize, bp: usize, kc: i32, c: usize, ldc: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const end = bp + (<usize>kc << 5);
  while (bp < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  v128.store(c, f32x4.add(v128.load(c), c00)); v128.store(c, f32x4.add(v128.load(c, 16), c01), 16); c += ldc;
  v128.store(c, f32x4.add(v128.load(c), c10)); v128.store(c, f32x4.add(v128.load(c, 16), c11), 16); c += ldc;
  v128.store(c, f32x4.add(v128.load(c), c20)); v128.store(c, f32x4.add(v128.load(c, 16), c21), 16); c += ldc;
  v128.store(c, f32x4.add(v128.load(c), c30)); v128.store(c, f32x4.add(v128.load(c, 16), c31), 16);
}

// The three forms of a Linear layer. inp [rows, inDim], weight [outDim, inDim]
// (PyTorch's layout), bias [outDim] or 0 for none, out [rows, outDim].

// out = inp weight^T + bias, for rows [rowStart, rowEnd)
export function matmulForward(
  out: usize, inp: usize, weight: usize, bias: usize,
  rows: i32, inDim: i32, outDim: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  gemm(out, inp, inDim, 1, weight, 1, inDim, bias, rows, outDim, inDim, 0, rowStart, rowEnd, scratch);
}

// dinp (+)= dout weight, for rows [rowStart, rowEnd)
export function matmulBackwardInput(
  dinp: usize, dout: usize, weight: usize,
  rows: i32, inDim: i32, outDim: i32, accumulate: i32, rowStart: i32, rowEnd: i32, scratch: usize,
): void {
  gemm(dinp, dout, outDim, 1, weight, inDim, 1, 0, rows, inDim, outDim, accumulate, rowStart, rowEnd, scratch);
}

// dweight += dout^T inp, for weight rows (output features) [outStart, outEnd)
export function matmulBackwardWeights(
  dweight: usize, dout: usize, inp: usize,
  rows: i32, inDim: i32, outDim: i32, outStart: i32, outEnd: i32, scratch: usize,
): void {
  gemm(dweight, dout, 1, outDim, inp, inDim, 1, 0, outDim, inDim, rows, 1, outStart, outEnd, scratch);
}

// dbias[j] += sum_i dout[i, j], for output features [outStart, outEnd); rows summed in order
export function biasBackward(dbias: usize, dout: usize, rows: i32, outDim: i32, outStart: i32, outEnd: i32): void {
  const rowBytes = <usize>outDim << 2;
  let j = outStart;
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

export function peakLoop(n: i32, x: f32): f32 {
  const m = f32x4.splat(x);
  const b = f32x4.splat(0.999);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(1), a2 = f32x4.splat(2), a3 = f32x4.splat(3);
  let a4 = f32x4.splat(4), a5 = f32x4.splat(5), a6 = f32x4.splat(6), a7 = f32x4.splat(7);
  let a8 = f32x4.splat(8), a9 = f32x4.splat(9), a10 = f32x4.splat(10), a11 = f32x4.splat(11);
  for (let i = 0; i < n; i++) {
    a0 = madd(a0, b, m); a1 = madd(a1, b, m); a2 = madd(a2, b, m); a3 = madd(a3, b, m);
    a4 = madd(a4, b, m); a5 = madd(a5, b, m); a6 = madd(a6, b, m); a7 = madd(a7, b, m);
    a8 = madd(a8, b, m); a9 = madd(a9, b, m); a10 = madd(a10, b, m); a11 = madd(a11, b, m);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}
