// exp for f32, 4 lanes or 1, with bitwise-identical results either way (plain mul
// and add, no fused ops), so an element's value never depends on whether it fell in a
// SIMD body or a scalar tail — i.e. on how a range was split across threads.
// Cephes-style: exp(x) = 2^n * p(r), r = x - n ln2 (ln2 split in two), |error| ~ 2 ulp.

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const X_MAX: f32 = 88.3762626647949;
const X_MIN: f32 = -87.3365447505531; // keeps 2^n a normal number
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;

// 2^n for integer-valued n in [-126, 127]: adding 1.5 * 2^23 puts n in the low mantissa
// bits of the sum (exactly), so the exponent field is (bits - bits(1.5 * 2^23) + 127) << 23.
// Cheaper in V8 than i32x4.trunc_sat_f32x4_s (a 7-instruction sequence); same bits as
// exp1's (<i32>n + 127) << 23.
const MAGIC: f32 = 12582912.0;
const MAGIC_BITS: i32 = 0x4B400000;

// pmin/pmax are single instructions (min/max are ~7 in V8 for their NaN and -0 rules);
// with x as the first operand a NaN x still comes through, as with exp1's min/max.
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(X_MIN)), f32x4.splat(X_MAX));
  const n = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(0.5)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  const r2 = f32x4.mul(r, r);
  let p = f32x4.splat(P0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.sub(f32x4.add(n, f32x4.splat(MAGIC)), i32x4.splat(MAGIC_BITS - 127)), 23);
  return f32x4.mul(p, scale);
}

// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  x = min(max(x, X_MIN), X_MAX);
  const n = Mathf.floor(x * LOG2E + <f32>0.5);
  let r = x - n * LN2_HI;
  r = r - n * LN2_LO;
  const r2 = r * r;
  let p = P0;
  p = p * r + P1;
  p = p * r + P2;
  p = p * r + P3;
  p = p * r + P4;
  p = p * r + P5;
  p = p * r2 + r + <f32>1;
  return p * reinterpret<f32>((<i32>n + 127) << 23);
}

// sum_j exp(src[j] - shift), and dst[j] = that exp when dst is nonzero (dst may alias src).
// Four vectors per iteration (V8 shares the constants of exp4 between them), added to
// one accumulator in index order, so the sum is the same as one vector at a time.
export function expShifted(dst: usize, src: usize, n: i32, shift: f32): f32 {
  const sv = f32x4.splat(shift);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const o = <usize>j << 2;
    const e0 = exp4(f32x4.sub(v128.load(src + o), sv));
    const e1 = exp4(f32x4.sub(v128.load(src + o, 16), sv));
    const e2 = exp4(f32x4.sub(v128.load(src + o, 32), sv));
    const e3 = exp4(f32x4.sub(v128.load(src + o, 48), sv));
    if (dst) {
      v128.store(dst + o, e0);
      v128.store(dst + o, e1, 16);
      v128.store(dst + o, e2, 32);
      v128.store(dst + o, e3, 48);
    }
    acc = f32x4.add(f32x4.add(f32x4.add(f32x4.add(acc, e0), e1), e2), e3);
  }
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const e = exp4(f32x4.sub(v128.load(src + o), sv));
    if (dst) v128.store(dst + o, e);
    acc = f32x4.add(acc, e);
  }
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const e = exp1(load<f32>(src + o) - shift);
    if (dst) store<f32>(dst + o, e);
    s += e;
  }
  return s;
}

// x[j] *= alpha over n floats
export function scale(x: usize, n: i32, alpha: f32): void {
  const av = f32x4.splat(alpha);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    v128.store(x + o, f32x4.mul(v128.load(x + o), av));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(x + o, load<f32>(x + o) * alpha);
  }
}

// max_j x[j] over n floats (NaN propagates). max is exact and order-free, so lanes
// give the same result as a scalar scan.
export function rowMax(x: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= n; j += 4) mv = f32x4.max(mv, v128.load(x + (<usize>j << 2)));
  let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (; j < n; j++) m = max(m, load<f32>(x + (<usize>j << 2)));
  return m;
}
