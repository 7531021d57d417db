// LayerNorm over the last dimension C, for rows [rowStart, rowEnd).
// Forward saves mean and rstd (one float each per row) for the backward pass.
import { horizontalSum } from './simd';

const EPS: f32 = 1e-5;

// out = (inp - mean) * rstd * weight + bias; bias may be 0 (no bias)
export function layernormForward(
  out: usize, mean: usize, rstd: usize, inp: usize, weight: usize, bias: usize,
  C: i32, rowStart: i32, rowEnd: i32,
): void {
  const rowBytes = <usize>C << 2;
  const c4 = C & ~3;
  for (let i = rowStart; i < rowEnd; i++) {
    const x = inp + <usize>i * rowBytes;
    const y = out + <usize>i * rowBytes;
    let acc = f32x4.splat(0);
    for (let j = 0; j < c4; j += 4) acc = f32x4.add(acc, v128.load(x + (<usize>j << 2)));
    let s = horizontalSum(acc);
    for (let j = c4; j < C; j++) s += load<f32>(x + (<usize>j << 2));
    const m = s / <f32>C;
    const mv = f32x4.splat(m);
    acc = f32x4.splat(0);
    for (let j = 0; j < c4; j += 4) {
      const d = f32x4.sub(v128.load(x + (<usize>j << 2)), mv);
      acc = f32x4.add(acc, f32x4.mul(d, d));
    }
    let v = horizontalSum(acc);
    for (let j = c4; j < C; j++) {
      const d = load<f32>(x + (<usize>j << 2)) - m;
      v += d * d;
    }
    const r: f32 = 1.0 / Mathf.sqrt(v / <f32>C + EPS);
    const rv = f32x4.splat(r);
    for (let j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      let n = f32x4.mul(f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv), v128.load(weight + o));
      if (bias) n = f32x4.add(n, v128.load(bias + o));
      v128.store(y + o, n);
    }
    for (let j = c4; j < C; j++) {
      const o = <usize>j << 2;
      let n = (load<f32>(x + o) - m) * r * load<f32>(weight + o);
      if (bias) n += load<f32>(bias + o);
      store<f32>(y + o, n);
    }
    store<f32>(mean + (<usize>i << 2), m);
    store<f32>(rstd + (<usize>i << 2), r);
  }
}

// dinp += d/dinp, dweight += sum_rows norm * dout, dbias += sum_rows dout (dbias may be 0).
// The parameter gradients are summed over rows in order, so a caller splitting rows
// across threads passes each thread its own dweight/dbias partial buffers.
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
    let accD = f32x4.splat(0);
    let accDN = f32x4.splat(0);
    for (let j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      const n = f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv);
      const dn = f32x4.mul(v128.load(weight + o), v128.load(dy + o));
      accD = f32x4.add(accD, dn);
      accDN = f32x4.add(accDN, f32x4.mul(dn, n));
    }
    let sD = horizontalSum(accD);
    let sDN = horizontalSum(accDN);
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
