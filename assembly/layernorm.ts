// LayerNorm over the last dimension C, for rows [rowStart, rowEnd).
// Forward saves mean and rstd (one float each per row) for the backward pass; the
// backward runs over fixed chunks of rows, so its parameter gradients are summed the
// same way whatever the thread count (reduce.ts adds the chunks' partials in order).
import { horizontalSum } from './simd';
import { residualForward, residualDropoutForwardAt as residualDropoutForward } from './elementwise';

const EPS: f32 = 1e-5;

// out = (inp - mean) * rstd * weight + bias; bias may be 0 (no bias)
export function layernormForward(
  out: usize, mean: usize, rstd: usize, inp: usize, weight: usize, bias: usize,
  C: i32, rowStart: i32, rowEnd: i32,
): void {
  const rowBytes = <usize>C << 2;
  for (let i = rowStart; i < rowEnd; i++) {
    normRow(out + <usize>i * rowBytes, mean + (<usize>i << 2), rstd + (<usize>i << 2), inp + <usize>i * rowBytes, weight, bias, C);
  }
}

// res = a + dropout(b) (the mask of residualDropoutForward over the whole [rows, C]
// buffer; threshold 0: no dropout), then out, mean, rstd = layernorm(res), per row in
// [rowStart, rowEnd) while the row is in cache. Replaces residualForward (or
// residualDropoutForward) followed by layernormForward on its output, with the same bits.
export function residualLayernormForward(
  res: usize, out: usize, mean: usize, rstd: usize, a: usize, b: usize, weight: usize, bias: usize,
  key: u32, threshold: u32, scale: f32, C: i32, rowStart: i32, rowEnd: i32,
): void {
  const rowBytes = <usize>C << 2;
  for (let i = rowStart; i < rowEnd; i++) {
    const o = <usize>i * rowBytes;
    if (threshold) residualDropoutForward(res + o, a + o, b + o, key, threshold, scale, 0, C, i * C);
    else residualForward(res + o, a + o, b + o, 0, C);
    normRow(out + o, mean + (<usize>i << 2), rstd + (<usize>i << 2), res + o, weight, bias, C);
  }
}

// One row: y = (x - mean) * rstd * weight + bias; stores mean and rstd.
// @ts-ignore: decorator
@inline function normRow(y: usize, meanAt: usize, rstdAt: usize, x: usize, weight: usize, bias: usize, C: i32): void {
  const c4 = C & ~3;
  const c16 = C & ~15;
  // sums in four vector accumulators (one is a chain of dependent adds), combined in a
  // fixed order: a row's statistics depend only on the row
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let j = 0;
  for (; j < c16; j += 16) {
    const p = x + (<usize>j << 2);
    a0 = f32x4.add(a0, v128.load(p));
    a1 = f32x4.add(a1, v128.load(p, 16));
    a2 = f32x4.add(a2, v128.load(p, 32));
    a3 = f32x4.add(a3, v128.load(p, 48));
  }
  for (; j < c4; j += 4) a0 = f32x4.add(a0, v128.load(x + (<usize>j << 2)));
  let s = horizontalSum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (j = c4; j < C; j++) s += load<f32>(x + (<usize>j << 2));
  const m = s / <f32>C;
  const mv = f32x4.splat(m);
  a0 = f32x4.splat(0); a1 = f32x4.splat(0); a2 = f32x4.splat(0); a3 = f32x4.splat(0);
  for (j = 0; j < c16; j += 16) {
    const p = x + (<usize>j << 2);
    const d0 = f32x4.sub(v128.load(p), mv), d1 = f32x4.sub(v128.load(p, 16), mv);
    const d2 = f32x4.sub(v128.load(p, 32), mv), d3 = f32x4.sub(v128.load(p, 48), mv);
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
    a2 = f32x4.add(a2, f32x4.mul(d2, d2));
    a3 = f32x4.add(a3, f32x4.mul(d3, d3));
  }
  for (; j < c4; j += 4) {
    const d = f32x4.sub(v128.load(x + (<usize>j << 2)), mv);
    a0 = f32x4.add(a0, f32x4.mul(d, d));
  }
  let v = horizontalSum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (j = c4; j < C; j++) {
    const d = load<f32>(x + (<usize>j << 2)) - m;
    v += d * d;
  }
  const r: f32 = 1.0 / Mathf.sqrt(v / <f32>C + EPS);
  const rv = f32x4.splat(r);
  if (bias) {
    for (j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      const n = f32x4.mul(f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv), v128.load(weight + o));
      v128.store(y + o, f32x4.add(n, v128.load(bias + o)));
    }
  } else {
    for (j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      v128.store(y + o, f32x4.mul(f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv), v128.load(weight + o)));
    }
  }
  for (j = c4; j < C; j++) {
    const o = <usize>j << 2;
    let n = (load<f32>(x + o) - m) * r * load<f32>(weight + o);
    if (bias) n += load<f32>(bias + o);
    store<f32>(y + o, n);
  }
  store<f32>(meanAt, m);
  store<f32>(rstdAt, r);
}

// dinp += d/dinp, dweight += sum_rows norm * dout, dbias += sum_rows dout (dbias may be 0),
// for rows [rowStart, rowEnd). The parameter gradients are summed over rows in order:
// layernormBackwardChunks runs it per fixed chunk of rows, each into its own partials.
export function layernormBackward(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize,
  mean: usize, rstd: usize, C: i32, rowStart: i32, rowEnd: i32,
): void {
  const rowBytes = <usize>C << 2;
  const c4 = C & ~3;
  for (let i = rowStart; i < rowEnd; i++) {
    const x = inp + <usize>i * rowBytes;
    const dy = dout + <usize>i * rowBytes;
    const dx = dinp + <usize>i * rowBytes;
    const m = load<f32>(mean + (<usize>i << 2));
    const r = load<f32>(rstd + (<usize>i << 2));
    const mv = f32x4.splat(m);
    const rv = f32x4.splat(r);
    // two row means the input gradient needs: mean(dnorm), mean(dnorm * norm)
    // two accumulators per sum (each is a chain of dependent adds), combined in a fixed order
    let accD = f32x4.splat(0), accD1 = f32x4.splat(0);
    let accDN = f32x4.splat(0), accDN1 = f32x4.splat(0);
    const c8 = C & ~7;
    let j = 0;
    for (; j < c8; j += 8) {
      const o = <usize>j << 2;
      const n0 = f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv);
      const n1 = f32x4.mul(f32x4.sub(v128.load(x + o, 16), mv), rv);
      const dn0 = f32x4.mul(v128.load(weight + o), v128.load(dy + o));
      const dn1 = f32x4.mul(v128.load(weight + o, 16), v128.load(dy + o, 16));
      accD = f32x4.add(accD, dn0);
      accD1 = f32x4.add(accD1, dn1);
      accDN = f32x4.add(accDN, f32x4.mul(dn0, n0));
      accDN1 = f32x4.add(accDN1, f32x4.mul(dn1, n1));
    }
    for (; j < c4; j += 4) {
      const o = <usize>j << 2;
      const n = f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv);
      const dn = f32x4.mul(v128.load(weight + o), v128.load(dy + o));
      accD = f32x4.add(accD, dn);
      accDN = f32x4.add(accDN, f32x4.mul(dn, n));
    }
    let sD = horizontalSum(f32x4.add(accD, accD1));
    let sDN = horizontalSum(f32x4.add(accDN, accDN1));
    for (let j = c4; j < C; j++) {
      const o = <usize>j << 2;
      const n = (load<f32>(x + o) - m) * r;
      const dn = load<f32>(weight + o) * load<f32>(dy + o);
      sD += dn;
      sDN += dn * n;
    }
    const meanD = sD / <f32>C;
    const meanDN = sDN / <f32>C;
    const meanDv = f32x4.splat(meanD);
    const meanDNv = f32x4.splat(meanDN);
    for (let j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      const n = f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv);
      const g = v128.load(dy + o);
      const dn = f32x4.mul(v128.load(weight + o), g);
      v128.store(dweight + o, f32x4.add(v128.load(dweight + o), f32x4.mul(n, g)));
      if (dbias) v128.store(dbias + o, f32x4.add(v128.load(dbias + o), g));
      const t = f32x4.sub(f32x4.sub(dn, meanDv), f32x4.mul(n, meanDNv));
      v128.store(dx + o, f32x4.add(v128.load(dx + o), f32x4.mul(t, rv)));
    }
    for (let j = c4; j < C; j++) {
      const o = <usize>j << 2;
      const n = (load<f32>(x + o) - m) * r;
      const g = load<f32>(dy + o);
      const dn = load<f32>(weight + o) * g;
      store<f32>(dweight + o, load<f32>(dweight + o) + n * g);
      if (dbias) store<f32>(dbias + o, load<f32>(dbias + o) + g);
      store<f32>(dx + o, load<f32>(dx + o) + (dn - meanD - n * meanDN) * r);
    }
  }
}

// LayerNorm backward over row chunks [chunkStart, chunkEnd) of chunkRows rows each.
// dinp += as layernormBackward; partials [chunks, 2C]: per chunk dweight | dbias,
// overwritten. hasBias = 0 leaves the dbias half untouched.
export function layernormBackwardChunks(
  dinp: usize, partials: usize, dout: usize, inp: usize, weight: usize, mean: usize, rstd: usize,
  C: i32, rows: i32, chunkRows: i32, hasBias: i32, chunkStart: i32, chunkEnd: i32,
): void {
  const partBytes = <usize>(2 * C) << 2;
  for (let c = chunkStart; c < chunkEnd; c++) {
    const part = partials + <usize>c * partBytes;
    memory.fill(part, 0, partBytes);
    const r0 = c * chunkRows;
    const r1 = min(rows, r0 + chunkRows);
    layernormBackward(dinp, part, hasBias ? part + (<usize>C << 2) : 0, dout, inp, weight, mean, rstd, C, r0, r1);
  }
}
