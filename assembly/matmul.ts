// Matrix multiplication for Linear layers, on packed panels with a
// register-blocked micro-kernel, in two stages that a thread pool runs in turn.
//
// C[M,N] (+)= A[M,K] B[K,N] (+ bias[N]), where A and B are read through (row, column)
// element strides so the three forms of a Linear (y = x W^T + b, dx = dy W,
// dW += dy^T x) need no transposed copies. Every element of C sums K in the same order
// whatever rows or columns a call computes (and whether it falls in a full tile or an
// edge tile), so results do not depend on how the work is split.
//
// Blocking (Goto/BLIS order): for each column block jc (NC) and K block pc (KC), B is
// packed into k-major panels of NR columns (4x4 transposes for W^T, vector copies
// otherwise), once, into a buffer all threads share; for each row block ic (MC), A is
// packed into k-major MR-row panels (one contiguous stream for the hardware
// prefetcher; reading A in place measured no better) and the macro-kernel runs the
// micro-kernel over every (NR-column panel, MR-row panel) pair. The weight gradient's
// bias gradient rides on its A packing. src/ops/matmul.ts drives the stages.
import { fromF16, fromF16x4 } from './convert';
import { madd } from './simd';
import { geluForward, geluBackward } from './gelu';

// Micro-tile: MR rows x NR columns, MR*NR/4 v128 accumulators. V8 issues every load of
// a loop iteration first, so the MR broadcasts + NR/4 B vectors + accumulators (+1
// product register for mul + add) must fit the 15 allocatable xmm registers or it
// spills. The plain SIMD build keeps 2x16 (chosen on AMD Zen 3, Node 20: the peak loop's
// rate from L1; 4x8 close). The relaxed build uses 4x8 (8 accumulators + 2 B + 1 A): on
// a 2-core Intel Xeon (Sapphire Rapids), Node 20, one core, 768^3 ran at 81% of the madd
// peak against 70% for 2x16, the LM head's forward 60% against 52%; there the simd build
// gains nothing from 4x8 (59% vs 60%). 6x8 and 5x8 spill (46-50%). The tile never
// changes the order of the K sums: the bits are the same with either.
// @ts-ignore: set per build by asc --use MATMUL_TILE_4X8=0|1 (asconfig.json)
export const MR: i32 = MATMUL_TILE_4X8 ? 4 : 2;
// @ts-ignore: as above
export const NR: i32 = MATMUL_TILE_4X8 ? 8 : 16;
// Cache blocks: a KC x NR panel of B (16 KiB) stays in L1 while the MR x KC panels of
// A (2 KiB, one contiguous stream) pass it; the MC x KC block of A stays in L2 and
// the KC x NC block of B in L3.
export const KC: i32 = 256;
export const MC: i32 = 128;
export const NC: i32 = 2048;
// The column path's column group (a multiple of NR): its C block, M x 128 floats, stays
// in L2 while the K blocks of a step pass (LM head forward, one core: 40 -> 50 GFLOP/s).
const COLS_GROUP: i32 = 128;

export const PACK_B_BYTES: usize = <usize>(KC * NC) << 2;
// The shared packed B of the staged gemm holds this many full K blocks (8 MiB: in L3).
const PACKED_SPAN_BLOCKS: usize = 4;
const PACK_A_BYTES: usize = <usize>(((MC + MR - 1) / MR) * MR * KC) << 2;
const TILE_BYTES: usize = <usize>(MR * NR) << 2;
const NZ_BYTES: usize = <usize>NR << 2;

// Scratch bytes each thread passes to gemmRows and gemmCols: its packed A block, an
// edge tile and a row of -0.0.
export function gemmThreadScratchBytes(): usize {
  return PACK_A_BYTES + TILE_BYTES + NZ_BYTES;
}

// The two stages, run in turn over one shared packed B. A step covers columns [jc, jc+nc) and a span of K, [pc0, pc0+kSpan), cut into
// K blocks of KC: gemmPackB packs units [unitStart, unitEnd) of that span of B, a unit
// being one NR-column panel of one K block (unit = block * panels + panel); gemmRows
// then computes rows [rowStart, rowEnd) of C over the whole span, K blocks in order.
// Running both over all their units and rows, step after step (jc, then pc0
// ascending), is the whole product (same bits however the ranges are split). Packed
// layout: K block q at q * KC * ncPad floats (ncPad = nc rounded up to NR), its
// panels as packPanelsB lays them. Spanning several K blocks per step means fewer
// steps, so fewer times all threads wait for each other.
export function gemmPackB(
  packB: usize, b: usize, bRow: i32, bCol: i32, bType: i32, pc0: i32, kSpan: i32, jc: i32, nc: i32, unitStart: i32, unitEnd: i32,
): void {
  const panels = (nc + NR - 1) / NR;
  const blockBytes = <usize>(KC * panels * NR) << 2;
  let u = max(unitStart, 0);
  while (u < unitEnd) {
    // the run of units in one K block
    const q = u / panels;
    const p0 = u - q * panels;
    const p1 = min(panels, p0 + unitEnd - u);
    const pc = pc0 + q * KC;
    const kc = min(KC, pc0 + kSpan - pc);
    if (kc <= 0) return;
    const j0 = p0 * NR;
    const dst = packB + <usize>q * blockBytes + (<usize>(j0 * kc) << 2);
    if (bType == B_F32) packPanelsB(dst, b, bRow, bCol, pc, kc, jc + j0, min(p1 * NR, nc) - j0);
    else packPanelsB16(dst, b, bRow, bCol, bType, pc, kc, jc + j0, min(p1 * NR, nc) - j0);
    u += p1 - p0;
  }
}

// Epilogues, applied to each block of C right after its last K block (while it is in
// L2) on the step that holds the product's last K block; aux is laid out as C. The same
// bits as the elementwise kernel run after the product.
export const EPILOGUE_NONE = 0;
export const EPILOGUE_GELU = 1; // aux = gelu(C): the MLP's c_fc (bias and GELU in one pass)
export const EPILOGUE_GELU_BACKWARD = 2; // C = gelu'(aux) C, aux the pre-activation: c_proj's input gradient

export function gemmRows(
  c: usize, a: usize, aRow: i32, aCol: i32, packB: usize, bias: usize, dbias: usize, epilogue: i32, aux: usize,
  N: i32, pc0: i32, kSpan: i32, jc: i32, nc: i32, accumulate: i32, rowStart: i32, rowEnd: i32, rowScratch: usize,
): void {
  if (rowStart < 0) rowStart = 0;
  if (rowStart >= rowEnd) return;
  const blockBytes = <usize>(KC * ((nc + NR - 1) / NR) * NR) << 2;
  // K block outer: one packed block (<= 2 MiB) serves all the chunk's rows
  // while it is in cache (rows outer, cycling through the whole span, measured slower)
  let packed = packB;
  for (let pc = pc0; pc < pc0 + kSpan; pc += KC) {
    const kc = min(KC, pc0 + kSpan - pc);
    blockRows(c, a, aRow, aCol, packed, bias, dbias, N, pc, kc, jc, nc, accumulate, rowStart, rowEnd, rowScratch, pc + kc == pc0 + kSpan ? epilogue : EPILOGUE_NONE, aux);
    packed += blockBytes;
  }
}

// The column path, for a short, wide C (a small batch): row chunks would each stream
// all of the packed B, so threads take column chunks instead, and A is packed once per
// step too, into a second shared buffer. gemmPackSpan packs units [unitStart, unitEnd):
// first the B units of gemmPackB, then A's MR-row panels over the whole span (K block q
// at q * KC * mPad floats, mPad = M rounded up to MR; the bias gradient rides on it, each
// row's K blocks in order). gemmCols then computes all rows of C for panels
// [panelStart, panelEnd) of the step from both packed buffers. Same bits as the row path.
export function gemmPackSpan(
  packB: usize, b: usize, bRow: i32, bCol: i32, bType: i32, packA: usize, a: usize, aRow: i32, aCol: i32, dbias: usize,
  M: i32, pc0: i32, kSpan: i32, jc: i32, nc: i32, unitStart: i32, unitEnd: i32,
): void {
  const bUnits = ((kSpan + KC - 1) / KC) * ((nc + NR - 1) / NR);
  if (unitStart < bUnits) gemmPackB(packB, b, bRow, bCol, bType, pc0, kSpan, jc, nc, unitStart, min(unitEnd, bUnits));
  if (unitEnd <= bUnits) return;
  const rowPanels = (M + MR - 1) / MR;
  const blockBytes = <usize>(KC * rowPanels * MR) << 2;
  const i0 = max(unitStart - bUnits, 0) * MR;
  const i1 = min((unitEnd - bUnits) * MR, M);
  if (i0 >= i1) return;
  let packed = packA;
  for (let pc = pc0; pc < pc0 + kSpan; pc += KC) {
    const kc = min(KC, pc0 + kSpan - pc);
    packPanelsA(packed + (<usize>(i0 * kc) << 2), a, aRow, aCol, i0, i1 - i0, pc, kc, jc == 0 ? dbias : 0);
    packed += blockBytes;
  }
}

export function gemmCols(
  c: usize, packA: usize, packB: usize, bias: usize, epilogue: i32, aux: usize,
  M: i32, N: i32, pc0: i32, kSpan: i32, jc: i32, nc: i32, accumulate: i32,
  panelStart: i32, panelEnd: i32, rowScratch: usize,
): void {
  const j0 = max(panelStart, 0) * NR;
  const j1 = min(panelEnd * NR, nc);
  if (j0 >= j1) return;
  const ldc = <usize>N << 2;
  const bBlockBytes = <usize>(KC * ((nc + NR - 1) / NR) * NR) << 2;
  const aBlockBytes = <usize>(KC * ((M + MR - 1) / MR) * MR) << 2;
  const tile = rowScratch + PACK_A_BYTES;
  const nz = tile + TILE_BYTES;
  for (let j = 0; j < NR; j++) store<f32>(nz + (<usize>j << 2), -0.0);
  // Column groups outer, K blocks inner: a group's C block stays in L2 across the K
  // blocks instead of all of C (the LM head's logits: 50 MB) streaming from memory once
  // per K block. Each element still sums its K blocks in order.
  for (let g0 = j0; g0 < j1; g0 += COLS_GROUP) {
    const g1 = min(g0 + COLS_GROUP, j1);
    const col = <usize>(jc + g0) << 2;
    let q: usize = 0;
    for (let pc = pc0; pc < pc0 + kSpan; pc += KC) {
      const kc = min(KC, pc0 + kSpan - pc);
      const first = pc == 0 && !accumulate;
      const ep = pc + kc == pc0 + kSpan ? epilogue : EPILOGUE_NONE;
      for (let ic = 0; ic < M; ic += MC) {
        const cOff = <usize>ic * ldc + col;
        macroKernel(
          c + cOff, ldc, packA + q * aBlockBytes + (<usize>(ic * kc) << 2), packB + q * bBlockBytes + (<usize>(g0 * kc) << 2),
          min(MC, M - ic), g1 - g0, kc, first, first && bias ? bias + col : 0, nz, tile, ep, aux + cOff,
        );
      }
      q++;
    }
  }
}

// Blocking, for the caller that drives the stages.
export function gemmBlockK(): i32 { return KC; }
export function gemmBlockN(): i32 { return NC; }
export function gemmPanelWidth(): i32 { return NR; }
export function gemmTileRows(): i32 { return MR; }
// Room for the packed span: K blocks of KC x ncPad floats, at least one of KC x NC
// (and, in the column path, as much for A: M < nc there).
export function gemmPackedBBytes(): usize { return PACKED_SPAN_BLOCKS * PACK_B_BYTES; }

// Rows [rowStart, rowEnd) of C's block (columns jc..jc+nc, K block pc..pc+kc) from
// packed B; A is packed per MC rows into rowScratch.
export function blockRows(
  c: usize, a: usize, aRow: i32, aCol: i32, packB: usize, bias: usize, dbias: usize,
  N: i32, pc: i32, kc: i32, jc: i32, nc: i32, accumulate: i32, rowStart: i32, rowEnd: i32, rowScratch: usize,
  epilogue: i32 = EPILOGUE_NONE, aux: usize = 0,
): void {
  const ldc = <usize>N << 2;
  const packA = rowScratch;
  const tile = packA + PACK_A_BYTES;
  const nz = tile + TILE_BYTES; // NR floats of -0.0: x + (-0) == x bitwise for every x
  for (let j = 0; j < NR; j++) store<f32>(nz + (<usize>j << 2), -0.0);
  const first = pc == 0 && !accumulate;
  for (let ic = rowStart; ic < rowEnd; ic += MC) {
    const mc = min(MC, rowEnd - ic);
    packPanelsA(packA, a, aRow, aCol, ic, mc, pc, kc, jc == 0 ? dbias : 0);
    const cOff = <usize>ic * ldc + (<usize>jc << 2);
    macroKernel(c + cOff, ldc, packA, packB, mc, nc, kc, first, first && bias ? bias + (<usize>jc << 2) : 0, nz, tile, epilogue, aux + cOff);
  }
}

// C block [mc, nc] (row stride ldc) over every (column panel, row panel) pair.
// Full tiles: C = base + acc, where base is the bias row (stride 0), -0.0 (no bias)
// on the first K block of a non-accumulating call, else C itself. Edge tiles: the
// kernel writes acc to a scratch tile and the valid part is added to the same base
// elementwise, which gives the same bits. Every element takes the same path whatever
// the row range, but for the tile kind, and both kinds give the same bits.
function macroKernel(
  c: usize, ldc: usize, packA: usize, packB: usize, mc: i32, nc: i32, kc: i32,
  first: bool, bias: usize, nz: usize, tile: usize, epilogue: i32, aux: usize,
): void {
  macroKernelTiles(c, ldc, packA, packB, mc, nc, kc, first, bias, nz, tile);
  // the block is in L2 now: one pass per row (per tile measured slower: GELU's constants
  // are set up again for every 8 or 16 elements)
  if (epilogue == EPILOGUE_NONE) return;
  for (let r = 0; r < mc; r++) {
    const row = <usize>r * ldc;
    if (epilogue == EPILOGUE_GELU) geluForward(aux + row, c + row, 0, nc);
    else geluBackward(c + row, aux + row, c + row, 0, nc);
  }
}

function macroKernelTiles(
  c: usize, ldc: usize, packA: usize, packB: usize, mc: i32, nc: i32, kc: i32,
  first: bool, bias: usize, nz: usize, tile: usize,
): void {
  // each B panel (KC x NR) stays in L1 while the A panels stream past it from L2
  // (A panels outer, for B blocks that fit L1, measured no better)
  const panelStep = <usize>(MR * kc) << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    let ap = packA;
    for (let ir = 0; ir < mc; ir += MR) {
      tileKernel(c, ldc, ap, packB, ir, jr, min(MR, mc - ir), nr, kc, first, bias, nz, tile);
      ap += panelStep;
    }
  }
}

// @ts-ignore: decorator
@inline function tileKernel(
  c: usize, ldc: usize, ap: usize, packB: usize, ir: i32, jr: i32, mr: i32, nr: i32, kc: i32,
  first: bool, bias: usize, nz: usize, tile: usize,
): void {
  const bp = packB + (<usize>(jr * kc) << 2);
  const cp = c + <usize>ir * ldc + (<usize>jr << 2);
  const sk = <usize>MR << 2;
  if (mr == MR && nr == NR) {
    if (first) microKernel(ap, 4, sk, bp, kc, cp, ldc, bias ? bias + (<usize>jr << 2) : nz, 0);
    else microKernel(ap, 4, sk, bp, kc, cp, ldc, cp, ldc);
  } else {
    microKernel(ap, 4, sk, bp, kc, tile, <usize>(NR << 2), nz, 0);
    edgeUpdate(cp, ldc, tile, mr, nr, first, bias ? bias + (<usize>jr << 2) : 0);
  }
}

export function edgeUpdate(c: usize, ldc: usize, tile: usize, mr: i32, nr: i32, first: bool, bias: usize): void {
  for (let r = 0; r < mr; r++) {
    const row = c + <usize>r * ldc;
    const src = tile + (<usize>(r * NR) << 2);
    for (let j = 0; j < nr; j++) {
      const p = row + (<usize>j << 2);
      const o = <usize>j << 2;
      const base: f32 = first ? (bias ? load<f32>(bias + o) : -0.0) : load<f32>(p);
      store<f32>(p, base + load<f32>(src + o));
    }
  }
}

// Rows x0..x3 (4 floats each) stored as 4 columns: column j at d + j*stride.
// @ts-ignore: decorator
@inline function transpose4x4(d: usize, stride: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  v128.store(d, i64x2.shuffle(t0, t2, 0, 2));
  v128.store(d + stride, i64x2.shuffle(t0, t2, 1, 3));
  v128.store(d + 2 * stride, i64x2.shuffle(t1, t3, 0, 2));
  v128.store(d + 3 * stride, i64x2.shuffle(t1, t3, 1, 3));
}

// A rows [i0, i0+mc) x cols [k0, k0+kc) -> panels of MR (2) rows, k-major:
// panel[k*MR + r]; a row past mc is zero. With dbias, dbias[i] += sum over the block's
// k of A[i, k]: sequential f32 sums from 0 (SIMD lanes and scalars give the same bits).
function packPanelsA(dst: usize, a: usize, aRow: i32, aCol: i32, i0: i32, mc: i32, k0: i32, kc: i32, dbias: usize): void {
  const colStep = <usize>aCol << 2;
  const rowStep = <usize>aRow << 2;
  const full = mc - mc % MR;
  const panelBytes = <usize>(MR * kc) << 2;
  let ir = 0;
  if (MR == 2 && aCol == 1) {
    // rows contiguous in k: interleave pairs of rows, 4 k at a time
    for (; ir < full; ir += MR) {
      const r0 = a + ((<usize>(i0 + ir) * <usize>aRow + <usize>k0) << 2);
      const r1 = r0 + rowStep;
      const d = dst + <usize>(ir / MR) * panelBytes;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        const x0 = v128.load(r0 + o), x1 = v128.load(r1 + o);
        v128.store(d + (o << 1), i32x4.shuffle(x0, x1, 0, 4, 1, 5));
        v128.store(d + (o << 1), i32x4.shuffle(x0, x1, 2, 6, 3, 7), 16);
      }
      for (; k < kc; k++) {
        const o = <usize>k << 2;
        store<f32>(d + (o << 1), load<f32>(r0 + o));
        store<f32>(d + (o << 1), load<f32>(r1 + o), 4);
      }
    }
  } else if (MR == 4 && aCol == 1) {
    // rows contiguous in k: 4x4 transposes of 4 rows, 4 k at a time
    for (; ir < full; ir += MR) {
      const r0 = a + ((<usize>(i0 + ir) * <usize>aRow + <usize>k0) << 2);
      const r1 = r0 + rowStep, r2 = r1 + rowStep, r3 = r2 + rowStep;
      const d = dst + <usize>(ir / MR) * panelBytes;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        transpose4x4(d + (o << 2), 16, v128.load(r0 + o), v128.load(r1 + o), v128.load(r2 + o), v128.load(r3 + o));
      }
      for (; k < kc; k++) {
        const o = <usize>k << 2;
        const dk = d + (o << 2);
        store<f32>(dk, load<f32>(r0 + o));
        store<f32>(dk, load<f32>(r1 + o), 4);
        store<f32>(dk, load<f32>(r2 + o), 8);
        store<f32>(dk, load<f32>(r3 + o), 12);
      }
    }
  } else if (MR == 4 && aRow == 1) {
    // rows contiguous across i (A = dout^T): one v128 per k is a panel's k-row
    for (; ir < full; ir += MR) {
      let src = a + ((<usize>(i0 + ir) + <usize>k0 * <usize>aCol) << 2);
      let d = dst + <usize>(ir / MR) * panelBytes;
      const end = d + panelBytes;
      let s = f32x4.splat(0);
      while (d < end) {
        const v = v128.load(src);
        v128.store(d, v);
        s = f32x4.add(s, v);
        src += colStep;
        d += 16;
      }
      if (dbias) {
        const db = dbias + (<usize>(i0 + ir) << 2);
        v128.store(db, f32x4.add(v128.load(db), s));
      }
    }
  } else if (MR == 2 && aRow == 1) {
    // rows contiguous across i (A = dout^T): one v128 per k fills two panels
    for (; ir + 2 * MR <= full; ir += 2 * MR) {
      let src = a + ((<usize>(i0 + ir) + <usize>k0 * <usize>aCol) << 2);
      let d0 = dst + <usize>(ir / MR) * panelBytes;
      let d1 = d0 + panelBytes;
      const end = d0 + panelBytes;
      if (dbias) {
        let s = f32x4.splat(0);
        while (d0 < end) {
          const v = v128.load(src);
          v128.store64_lane(d0, v, 0);
          v128.store64_lane(d1, v, 1);
          s = f32x4.add(s, v);
          src += colStep;
          d0 += 8;
          d1 += 8;
        }
        const db = dbias + (<usize>(i0 + ir) << 2);
        v128.store(db, f32x4.add(v128.load(db), s));
      } else {
        while (d0 < end) {
          const v = v128.load(src);
          v128.store64_lane(d0, v, 0);
          v128.store64_lane(d1, v, 1);
          src += colStep;
          d0 += 8;
          d1 += 8;
        }
      }
    }
  }
  // remaining full panels (other layouts) and the partial panel: scalar
  for (; ir < mc; ir += MR) {
    const panel = dst + <usize>(ir / MR) * panelBytes;
    const mr = min(MR, mc - ir);
    const src0 = a + ((<usize>(i0 + ir) * <usize>aRow + <usize>k0 * <usize>aCol) << 2);
    for (let r = 0; r < MR; r++) {
      let d = panel + (<usize>r << 2);
      if (r < mr) {
        let src = src0 + <usize>r * rowStep;
        let s: f32 = 0;
        for (let k = 0; k < kc; k++) {
          const v = load<f32>(src);
          store<f32>(d, v);
          s += v;
          d += <usize>MR << 2;
          src += colStep;
        }
        if (dbias) {
          const db = dbias + (<usize>(i0 + ir + r) << 2);
          store<f32>(db, load<f32>(db) + s);
        }
      } else {
        for (let k = 0; k < kc; k++) {
          store<f32>(d, 0);
          d += <usize>MR << 2;
        }
      }
    }
  }
}

// B rows [k0, k0+kc) x cols [j0, j0+nc) -> panels of NR columns, k-major:
// panel[k*NR + j]; columns past nc are zero. Vector copies when B's rows are
// contiguous (dx = dy W, dW = dy^T x), 4x4 transposes when its columns are (W^T).
// B's element type: f32, or a 16-bit storage type converted to f32 while packing (so
// the micro-kernel and the K sums are the same whatever B is stored in)
export const B_F32: i32 = 0;
export const B_BF16: i32 = 1;
export const B_F16: i32 = 2;

// @ts-ignore: decorator
@inline function widen4(h: v128, bType: i32): v128 {
  return bType == B_BF16 ? i32x4.shl(h, 16) : fromF16x4(h);
}

// packPanelsB for a B of 16-bit elements (bType B_BF16 or B_F16): the same panels, f32.
function packPanelsB16(dst: usize, b: usize, bRow: i32, bCol: i32, bType: i32, k0: i32, kc: i32, j0: i32, nc: i32): void {
  const rowStep = <usize>bRow << 1;
  const colStep = <usize>bCol << 1;
  const dRow = <usize>NR << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const panel = dst + (<usize>(jr * kc) << 2);
    const nr = min(NR, nc - jr);
    const src0 = b + ((<usize>k0 * <usize>bRow + <usize>(j0 + jr) * <usize>bCol) << 1);
    if (nr == NR && bCol == 1) {
      // a panel row is NR contiguous halves: widen 8 at a time
      let src = src0;
      let d = panel;
      const end = panel + <usize>kc * dRow;
      while (d < end) {
        for (let v = 0; v < NR; v += 8) {
          const h = v128.load(src + (<usize>v << 1));
          v128.store(d + (<usize>v << 2), widen4(i32x4.extend_low_i16x8_u(h), bType));
          v128.store(d + (<usize>v << 2), widen4(i32x4.extend_high_i16x8_u(h), bType), 16);
        }
        src += rowStep;
        d += dRow;
      }
      continue;
    }
    for (let j = 0; j < NR; j++) {
      let d = panel + (<usize>j << 2);
      if (j < nr) {
        let src = src0 + <usize>j * colStep;
        for (let k = 0; k < kc; k++) {
          const h = <u32>load<u16>(src);
          store<u32>(d, bType == B_BF16 ? h << 16 : fromF16(h));
          d += dRow;
          src += rowStep;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          store<f32>(d, 0);
          d += dRow;
        }
      }
    }
  }
}

export function packPanelsB(dst: usize, b: usize, bRow: i32, bCol: i32, k0: i32, kc: i32, j0: i32, nc: i32): void {
  const rowStep = <usize>bRow << 2;
  const colStep = <usize>bCol << 2;
  const dRow = <usize>NR << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const panel = dst + (<usize>(jr * kc) << 2);
    const nr = min(NR, nc - jr);
    const src0 = b + ((<usize>k0 * <usize>bRow + <usize>(j0 + jr) * <usize>bCol) << 2);
    if (nr == NR && bCol == 1) {
      let src = src0;
      let d = panel;
      const end = panel + <usize>kc * dRow;
      while (d < end) {
        for (let v = 0; v < NR; v += 4) v128.store(d + (<usize>v << 2), v128.load(src + (<usize>v << 2)));
        src += rowStep;
        d += dRow;
      }
      continue;
    }
    if (nr == NR && bRow == 1) {
      for (let jg = 0; jg < NR; jg += 4) {
        const s0 = src0 + <usize>jg * colStep;
        const s1 = s0 + colStep, s2 = s1 + colStep, s3 = s2 + colStep;
        const dg = panel + (<usize>jg << 2);
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const o = <usize>k << 2;
          transpose4x4(dg + <usize>k * dRow, dRow, v128.load(s0 + o), v128.load(s1 + o), v128.load(s2 + o), v128.load(s3 + o));
        }
        for (; k < kc; k++) {
          const o = <usize>k << 2;
          const d = dg + <usize>k * dRow;
          store<f32>(d, load<f32>(s0 + o));
          store<f32>(d, load<f32>(s1 + o), 4);
          store<f32>(d, load<f32>(s2 + o), 8);
          store<f32>(d, load<f32>(s3 + o), 12);
        }
      }
      continue;
    }
    for (let j = 0; j < NR; j++) {
      let d = panel + (<usize>j << 2);
      if (j < nr) {
        let src = src0 + <usize>j * colStep;
        for (let k = 0; k < kc; k++) {
          store<f32>(d, load<f32>(src));
          d += dRow;
          src += rowStep;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          store<f32>(d, 0);
          d += dRow;
        }
      }
    }
  }
}

// C[MR, NR] = base + A panel * B panel, base rows baseStride bytes apart.
// A element (r, k) at a + r*sr + k*sk; B panel k-major, NR floats per k.
// One plain K loop per tile shape: V8 spills accumulators when the body is unrolled or
// followed by a second loop.
// @ts-ignore: decorator
@inline export function microKernel(a: usize, sr: usize, sk: usize, bp: usize, kc: i32, c: usize, ldc: usize, base: usize, baseStride: usize): void {
  if (MR == 4) microKernel4x8(a, sr, sk, bp, kc, c, ldc, base, baseStride);
  else microKernel2x16(a, sr, sk, bp, kc, c, ldc, base, baseStride);
}

function microKernel2x16(a: usize, sr: usize, sk: usize, bp: usize, kc: i32, c: usize, ldc: usize, base: usize, baseStride: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  const end = bp + (<usize>kc << 6);
  while (bp < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const b2 = v128.load(bp, 32);
    const b3 = v128.load(bp, 48);
    let x = v128.load32_splat(a);
    c00 = madd(x, b0, c00); c01 = madd(x, b1, c01); c02 = madd(x, b2, c02); c03 = madd(x, b3, c03);
    x = v128.load32_splat(a + sr);
    c10 = madd(x, b0, c10); c11 = madd(x, b1, c11); c12 = madd(x, b2, c12); c13 = madd(x, b3, c13);
    a += sk;
    bp += 64;
  }
  v128.store(c, f32x4.add(v128.load(base), c00)); v128.store(c, f32x4.add(v128.load(base, 16), c01), 16);
  v128.store(c, f32x4.add(v128.load(base, 32), c02), 32); v128.store(c, f32x4.add(v128.load(base, 48), c03), 48);
  c += ldc; base += baseStride;
  v128.store(c, f32x4.add(v128.load(base), c10)); v128.store(c, f32x4.add(v128.load(base, 16), c11), 16);
  v128.store(c, f32x4.add(v128.load(base, 32), c12), 32); v128.store(c, f32x4.add(v128.load(base, 48), c13), 48);
}

function microKernel4x8(a: usize, sr: usize, sk: usize, bp: usize, kc: i32, c: usize, ldc: usize, base: usize, baseStride: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const end = bp + (<usize>kc << 5);
  while (bp < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let x = v128.load32_splat(a);
    c00 = madd(x, b0, c00); c01 = madd(x, b1, c01);
    x = v128.load32_splat(a + sr);
    c10 = madd(x, b0, c10); c11 = madd(x, b1, c11);
    x = v128.load32_splat(a + 2 * sr);
    c20 = madd(x, b0, c20); c21 = madd(x, b1, c21);
    x = v128.load32_splat(a + 3 * sr);
    c30 = madd(x, b0, c30); c31 = madd(x, b1, c31);
    a += sk;
    bp += 32;
  }
  v128.store(c, f32x4.add(v128.load(base), c00)); v128.store(c, f32x4.add(v128.load(base, 16), c01), 16);
  c += ldc; base += baseStride;
  v128.store(c, f32x4.add(v128.load(base), c10)); v128.store(c, f32x4.add(v128.load(base, 16), c11), 16);
  c += ldc; base += baseStride;
  v128.store(c, f32x4.add(v128.load(base), c20)); v128.store(c, f32x4.add(v128.load(base, 16), c21), 16);
  c += ldc; base += baseStride;
  v128.store(c, f32x4.add(v128.load(base), c30)); v128.store(c, f32x4.add(v128.load(base, 16), c31), 16);
}
