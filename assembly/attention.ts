// Blocked causal attention on the matmul micro-kernel, as GPT-2.
// qkv [B, T, 3C] holds q | k | v for each position; head h uses channels [h*hs, (h+1)*hs);
// out [B, T, C]. The forward saves only the row log-sum-exp (lse [B, H, T]) instead of
// the probabilities [B, H, T, T]; the backward pass recomputes them from q, k and lse.
// Ranges are over (batch, head) pairs [bhStart, bhEnd): each pair owns its rows of
// out and lse and its slices of dqkv, so pairs never write the same memory.
import { keepElement } from './random';
import { exp4, exp1, rowMax, expShifted, scale as scaleRow } from './math';
import { MR, NR, microKernel, edgeUpdate, packPanelsB } from './matmul';

// Per (batch, head) pair and block of BQ query rows: scores S = q k^T for the key panels at or left of the diagonal only,
// a fused scale + max + exp + normalize pass per row, then out = P v; backward: S again,
// dP = dout v^T, dS = P (dP - rowsum(P dP)) scale, dq = dS k, dk += dS^T q, dv += P^T dout.
// Dropout masks probability (b, h, t, t2) by its index ((b*H + h)*T + t)*T + t2.
// scratch: attentionScratchBytes(T, hs) bytes per caller. Ranges over (batch, head) pairs.

const BQ: i32 = 64; // query rows per block (a multiple of MR)

// @ts-ignore: decorator
@inline function roundUp(x: i32, m: i32): i32 {
  return (x + m - 1) / m * m;
}

export function attentionScratchBytes(T: i32, hs: i32): usize {
  return area(0, T, hs, WS) + (<usize>(MR * NR + NR + MR * max(hs, T)) << 2) + 64;
}

// Scratch areas, in order, each 64-byte aligned:
const KT: i32 = 0; // k^T panels [keys / NR][hs][NR] (B of S = q k^T)
const VT: i32 = 1; // v^T panels (B of dP = dout v^T)
const VP: i32 = 2; // v panels [hs / NR][T][NR] (B of out = P v)
const KP: i32 = 3; // k panels (B of dq = dS k)
const QI: i32 = 4; // q rows of the block, panels (B of dk += dS^T q)
const DI: i32 = 5; // dout rows of the block, panels (B of dv += P^T dout)
const PB: i32 = 6; // probabilities of the block [BQ + MR][pRow(T)]
const DP: i32 = 7; // their gradient, then dS
const WS: i32 = 8; // tile [MR * NR], NR floats of -0.0, one zero-padded MR-row A panel

// @ts-ignore: decorator
@inline function align64(x: usize): usize {
  return (x + 63) & ~(<usize>63);
}

// Row length (floats) of the probability blocks: whole NR-column panels plus one cache
// line, so that rows are not a multiple of 4 KiB apart (the transposed reads of
// dv += P^T dout walk down a column: at a 4 KiB stride every row would fall in one L1 set).
// @ts-ignore: decorator
@inline function pRow(T: i32): i32 {
  return roundUp(T, NR) + 16;
}

function area(scratch: usize, T: i32, hs: i32, which: i32): usize {
  const rT = roundUp(T, NR);
  const rH = roundUp(hs, NR);
  let p = align64(scratch);
  for (let i = 0; i < which; i++) {
    const floats = i <= VT ? rT * hs : i <= KP ? rH * T : i <= DI ? rH * BQ : (BQ + MR) * pRow(T);
    p = align64(p + (<usize>floats << 2));
  }
  return p;
}

// @ts-ignore: decorator
@inline function wsTile(ws: usize): usize {
  return ws;
}

// @ts-ignore: decorator
@inline function wsZero(ws: usize): usize {
  return ws + (<usize>(MR * NR) << 2);
}

// @ts-ignore: decorator
@inline function wsEdgeA(ws: usize): usize {
  return ws + (<usize>(MR * NR + NR) << 2);
}

function initWs(ws: usize): void {
  for (let j = 0; j < NR; j++) store<f32>(wsZero(ws) + (<usize>j << 2), -0.0);
}

// C[mr, nr] (=, or += when accumulate) A B over kc, A element (r, k) at a + r*sr + k*sk,
// B a k-major NR-column panel. Partial tiles go through scratch (same bits as full ones).
function tileMM(
  a: usize, sr: usize, sk: usize, bp: usize, kc: i32, c: usize, ldc: usize, accumulate: bool,
  mr: i32, nr: i32, ws: usize,
): void {
  if (mr < MR) {
    // copy the valid rows into a zero-padded panel (rows past mr may not be readable)
    const d0 = wsEdgeA(ws);
    for (let r = 0; r < MR; r++) {
      let d = d0 + (<usize>r << 2);
      let s = a + <usize>r * sr;
      for (let k = 0; k < kc; k++) {
        store<f32>(d, r < mr ? load<f32>(s) : 0);
        d += <usize>MR << 2;
        s += sk;
      }
    }
    a = d0;
    sr = 4;
    sk = <usize>MR << 2;
  }
  if (mr == MR && nr == NR) {
    if (accumulate) microKernel(a, sr, sk, bp, kc, c, ldc, c, ldc);
    else microKernel(a, sr, sk, bp, kc, c, ldc, wsZero(ws), 0);
  } else {
    microKernel(a, sr, sk, bp, kc, wsTile(ws), <usize>(NR << 2), wsZero(ws), 0);
    edgeUpdate(c, ldc, wsTile(ws), mr, nr, !accumulate, 0);
  }
}

// dst[t - i0][key] = x_t . y_key for t in [i0, i0+rows) and every key panel that holds
// a key <= t (x rows at x0 + t*xRow, y^T packed in yt); other entries are not written.
function scoresBlock(dst: usize, ldp: usize, x0: usize, xRow: usize, yt: usize, hs: i32, i0: i32, rows: i32, ws: usize): void {
  for (let ir = 0; ir < rows; ir += MR) {
    const mr = min(MR, rows - ir);
    const tLast = i0 + ir + mr - 1;
    const a = x0 + <usize>(i0 + ir) * xRow;
    const c = dst + <usize>ir * ldp;
    for (let jr = 0; jr <= tLast; jr += NR) {
      tileMM(a, xRow, 4, yt + (<usize>(jr * hs) << 2), hs, c + (<usize>jr << 2), ldp, false, mr, NR, ws);
    }
  }
}

// x[j] = exp(x[j] * scale - shift) over n floats; returns their sum (added in index
// order). Four vectors per iteration: V8 shares exp4's constants between them.
function expScaled(x: usize, n: i32, scale: f32, shift: f32): f32 {
  const sv = f32x4.splat(scale), shv = f32x4.splat(shift);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const o = <usize>j << 2;
    const e0 = exp4(f32x4.sub(f32x4.mul(v128.load(x + o), sv), shv));
    const e1 = exp4(f32x4.sub(f32x4.mul(v128.load(x + o, 16), sv), shv));
    const e2 = exp4(f32x4.sub(f32x4.mul(v128.load(x + o, 32), sv), shv));
    const e3 = exp4(f32x4.sub(f32x4.mul(v128.load(x + o, 48), sv), shv));
    v128.store(x + o, e0);
    v128.store(x + o, e1, 16);
    v128.store(x + o, e2, 32);
    v128.store(x + o, e3, 48);
    acc = f32x4.add(f32x4.add(f32x4.add(f32x4.add(acc, e0), e1), e2), e3);
  }
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const e = exp4(f32x4.sub(f32x4.mul(v128.load(x + o), sv), shv));
    v128.store(x + o, e);
    acc = f32x4.add(acc, e);
  }
  let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const e = exp1(load<f32>(x + o) * scale - shift);
    store<f32>(x + o, e);
    sum += e;
  }
  return sum;
}

// sum_j a[j] b[j] over n floats
function dotRow(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>j << 2)), v128.load(b + (<usize>j << 2))));
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

function sumRow(a: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, v128.load(a + (<usize>j << 2)));
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2));
  return s;
}

// x[j] = 0 for j in [from, to)
// @ts-ignore: decorator
@inline function zeroRange(x: usize, from: i32, to: i32): void {
  if (to > from) memory.fill(x + (<usize>from << 2), 0, <usize>(to - from) << 2);
}

export function attentionForwardLse(
  out: usize, lse: usize, qkv: usize, B: i32, T: i32, C: i32, H: i32,
  dropKey: u32, dropThreshold: u32, dropScale: f32, scratch: usize, bhStart: i32, bhEnd: i32,
): void {
  const hs = C / H;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const qkvRow = <usize>(3 * C) << 2;
  const outRow = <usize>C << 2;
  const rT = roundUp(T, NR);
  const ldp = <usize>pRow(T) << 2;
  const kt = area(scratch, T, hs, KT), vp = area(scratch, T, hs, VP), pb = area(scratch, T, hs, PB);
  const inv = area(scratch, T, hs, DP); // 1 / row sums of the block
  const ws = area(scratch, T, hs, WS);
  initWs(ws);
  for (let bh = bhStart; bh < bhEnd; bh++) {
    const b = bh / H;
    const h = bh % H;
    const qB = qkv + <usize>(b * T) * qkvRow + (<usize>(h * hs) << 2);
    const kB = qB + (<usize>C << 2);
    const vB = kB + (<usize>C << 2);
    packPanelsB(kt, kB, 1, 3 * C, 0, hs, 0, T);
    packPanelsB(vp, vB, 3 * C, 1, 0, T, 0, hs);
    for (let i0 = 0; i0 < T; i0 += BQ) {
      const rows = min(BQ, T - i0);
      const i1 = i0 + rows;
      scoresBlock(pb, ldp, qB, qkvRow, kt, hs, i0, rows, ws);
      for (let t = i0; t < i1; t++) {
        const row = pb + <usize>(t - i0) * ldp;
        const rowIndex = <u32>(bh * T + t) * <u32>T;
        // unnormalized exp(S scale - max scale); out is divided by the row sum below
        const shift = rowMax(row, t + 1) * scale;
        const sum = expScaled(row, t + 1, scale, shift);
        store<f32>(lse + (<usize>(bh * T + t) << 2), shift + Mathf.log(sum));
        store<f32>(inv + (<usize>(t - i0) << 2), <f32>1 / sum);
        zeroRange(row, t + 1, min(rT, i1 + 1));
        if (dropThreshold) {
          for (let k = 0; k <= t; k++) {
            const o = row + (<usize>k << 2);
            store<f32>(o, select<f32>(load<f32>(o) * dropScale, 0, keepElement(dropKey, rowIndex + <u32>k, dropThreshold)));
          }
        }
      }
      // out rows = P v
      const oB = out + <usize>(b * T + i0) * outRow + (<usize>(h * hs) << 2);
      for (let jr = 0; jr < hs; jr += NR) {
        const nr = min(NR, hs - jr);
        const vpj = vp + (<usize>(jr * T) << 2);
        for (let ir = 0; ir < rows; ir += MR) {
          const mr = min(MR, rows - ir);
          const kc = min(T, i0 + ir + MR);
          tileMM(pb + <usize>ir * ldp, ldp, 4, vpj, kc, oB + <usize>ir * outRow + (<usize>jr << 2), outRow, false, mr, nr, ws);
        }
      }
      for (let t = 0; t < rows; t++) scaleRow(oB + <usize>t * outRow, hs, load<f32>(inv + (<usize>t << 2)));
    }
  }
}

export function attentionBackwardLse(
  dqkv: usize, dout: usize, qkv: usize, lse: usize, B: i32, T: i32, C: i32, H: i32,
  dropKey: u32, dropThreshold: u32, dropScale: f32, scratch: usize, bhStart: i32, bhEnd: i32,
): void {
  const hs = C / H;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const qkvRow = <usize>(3 * C) << 2;
  const outRow = <usize>C << 2;
  const rT = roundUp(T, NR);
  const ldp = <usize>pRow(T) << 2;
  const kt = area(scratch, T, hs, KT), vt = area(scratch, T, hs, VT), kp = area(scratch, T, hs, KP);
  const qI = area(scratch, T, hs, QI), dI = area(scratch, T, hs, DI), pb = area(scratch, T, hs, PB), dpb = area(scratch, T, hs, DP);
  const ws = area(scratch, T, hs, WS);
  initWs(ws);
  const scv = f32x4.splat(scale);
  for (let bh = bhStart; bh < bhEnd; bh++) {
    const b = bh / H;
    const h = bh % H;
    const headOff = <usize>(h * hs) << 2;
    const qB = qkv + <usize>(b * T) * qkvRow + headOff;
    const kB = qB + (<usize>C << 2);
    const vB = kB + (<usize>C << 2);
    const dqB = dqkv + <usize>(b * T) * qkvRow + headOff;
    const dkB = dqB + (<usize>C << 2);
    const dvB = dkB + (<usize>C << 2);
    const doB = dout + <usize>(b * T) * outRow + headOff;
    for (let t = 0; t < T; t++) {
      const d = dkB + <usize>t * qkvRow;
      memory.fill(d, 0, <usize>hs << 2);
      memory.fill(d + (<usize>C << 2), 0, <usize>hs << 2);
    }
    packPanelsB(kt, kB, 1, 3 * C, 0, hs, 0, T);
    packPanelsB(vt, vB, 1, 3 * C, 0, hs, 0, T);
    packPanelsB(kp, kB, 3 * C, 1, 0, T, 0, hs);
    for (let i0 = 0; i0 < T; i0 += BQ) {
      const rows = min(BQ, T - i0);
      const i1 = i0 + rows;
      scoresBlock(pb, ldp, qB, qkvRow, kt, hs, i0, rows, ws);
      scoresBlock(dpb, ldp, doB, outRow, vt, hs, i0, rows, ws);
      for (let t = i0; t < i1; t++) {
        const pr = pb + <usize>(t - i0) * ldp;
        const dr = dpb + <usize>(t - i0) * ldp;
        const n = t + 1;
        const shift = load<f32>(lse + (<usize>(bh * T + t) << 2));
        // P = exp(S scale - lse), divided by its own sum: the stored lse is rounded to fp32,
        // and at large scores (lse ~ 1000, ulp ~ 1e-4) that alone would make the row sum to
        // 1 + 1e-4. Then D = sum_k P dP / sum_k P (dP through the dropout mask), so that
        // sum_k dS = D sum P - sum P dP is zero up to the last roundings: a nonzero sum
        // would leak a component all keys share into dq.
        const rowIndex = <u32>(bh * T + t) * <u32>T;
        scaleRow(pr, n, <f32>1 / expScaled(pr, n, scale, shift));
        let D: f32 = 0;
        if (!dropThreshold) {
          D = dotRow(pr, dr, n);
        } else {
          for (let k = 0; k < n; k++) {
            const o = <usize>k << 2;
            const dp = select<f32>(load<f32>(dr + o) * dropScale, 0, keepElement(dropKey, rowIndex + <u32>k, dropThreshold));
            store<f32>(dr + o, dp);
            D += load<f32>(pr + o) * dp;
          }
        }
        D /= sumRow(pr, n);
        // dS = P (dP - D) scale in dr; P' = dropout(P) in pr
        const Dv = f32x4.splat(D);
        let k = 0;
        for (; k + 4 <= n; k += 4) {
          const o = <usize>k << 2;
          const p = v128.load(pr + o);
          v128.store(dr + o, f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(dr + o), Dv)), scv));
        }
        for (; k < n; k++) {
          const o = <usize>k << 2;
          store<f32>(dr + o, load<f32>(pr + o) * (load<f32>(dr + o) - D) * scale);
        }
        if (dropThreshold) {
          for (k = 0; k < n; k++) {
            const o = pr + (<usize>k << 2);
            store<f32>(o, select<f32>(load<f32>(o) * dropScale, 0, keepElement(dropKey, rowIndex + <u32>k, dropThreshold)));
          }
        }
        zeroRange(pr, n, min(rT, i1 + 1));
        zeroRange(dr, n, min(rT, i1 + 1));
      }
      packPanelsB(qI, qB, 3 * C, 1, i0, rows, 0, hs);
      packPanelsB(dI, doB, C, 1, i0, rows, 0, hs);
      for (let jr = 0; jr < hs; jr += NR) {
        const nr = min(NR, hs - jr);
        const panelOff = <usize>(jr * rows) << 2;
        // dv[key] += sum_t P'[t, key] dout[t], dk[key] += sum_t dS[t, key] q[t], keys < i1, t >= key
        for (let k0 = 0; k0 < i1; k0 += MR) {
          const mr = min(MR, i1 - k0);
          const tStart = max(i0, k0);
          const kc = i1 - tStart;
          const aOff = <usize>(tStart - i0) * ldp + (<usize>k0 << 2);
          const bOff = panelOff + (<usize>((tStart - i0) * NR) << 2);
          const cOff = <usize>k0 * qkvRow + (<usize>jr << 2);
          tileMM(pb + aOff, 4, ldp, dI + bOff, kc, dvB + cOff, qkvRow, true, mr, nr, ws);
          tileMM(dpb + aOff, 4, ldp, qI + bOff, kc, dkB + cOff, qkvRow, true, mr, nr, ws);
        }
        // dq rows = dS k
        const kpj = kp + (<usize>(jr * T) << 2);
        for (let ir = 0; ir < rows; ir += MR) {
          const mr = min(MR, rows - ir);
          const kc = min(T, i0 + ir + MR);
          tileMM(dpb + <usize>ir * ldp, ldp, 4, kpj, kc, dqB + <usize>(i0 + ir) * qkvRow + (<usize>jr << 2), qkvRow, false, mr, nr, ws);
        }
      }
    }
  }
}

// Attention of `rows` new positions pos0 .. pos0 + rows - 1 over a key/value cache that
// already holds their keys and values: for generation, one position (or a prompt's
// chunk) at a time. q: rows of qStride floats, head h at [h*hs, (h+1)*hs); kCache,
// vCache [maxT, C]; out [rows, C]. Ranges over (row, head) pairs; scratch: maxT floats
// of scores per caller.
export function attentionCached(
  out: usize, q: usize, qStride: i32, kCache: usize, vCache: usize, pos0: i32, C: i32, H: i32, scratch: usize, start: i32, end: i32,
): void {
  const hs = C / H;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const rowBytes = <usize>C << 2;
  for (let i = start; i < end; i++) {
    const r = i / H;
    const h = i % H;
    const n = pos0 + r + 1; // keys 0 .. pos0 + r
    const qr = q + <usize>r * (<usize>qStride << 2) + (<usize>(h * hs) << 2);
    const kh = kCache + (<usize>(h * hs) << 2);
    for (let j = 0; j < n; j++) store<f32>(scratch + (<usize>j << 2), dotRow(qr, kh + <usize>j * rowBytes, hs) * scale);
    const sum = expShifted(scratch, scratch, n, rowMax(scratch, n));
    const o = out + <usize>r * rowBytes + (<usize>(h * hs) << 2);
    memory.fill(o, 0, <usize>hs << 2);
    const vh = vCache + (<usize>(h * hs) << 2);
    for (let j = 0; j < n; j++) addScaled(o, vh + <usize>j * rowBytes, hs, load<f32>(scratch + (<usize>j << 2)));
    scaleRow(o, hs, <f32>1 / sum);
  }
}

// y[k] += a x[k] over n floats
// @ts-ignore: decorator
@inline function addScaled(y: usize, x: usize, n: i32, a: f32): void {
  const av = f32x4.splat(a);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const o = <usize>k << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v128.load(x + o), av)));
  }
  for (; k < n; k++) {
    const o = <usize>k << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o) * a);
  }
}
