// fp32 <-> bf16 and fp32 <-> fp16 over [start, end) elements, in SIMD with a scalar
// tail of the same bit arithmetic. fp32 -> 16 bits rounds to nearest even, keeps
// subnormals, overflows to infinity and keeps NaN a (quiet) NaN with its sign and top
// payload bits; 16 bits -> fp32 is exact. Integer arithmetic only, plus one float add
// (fp16 subnormals) whose rounding is the rounding wanted.

const SIGN: u32 = 0x80000000;
const ABS: u32 = 0x7fffffff;
const INF32: u32 = 0x7f800000;

// ---------------------------------------------------------------- bf16: the top half of an fp32

// @ts-ignore: decorator
@inline function toBf16x4(u: v128): v128 {
  // u + 0x7fff + (bit 16) rounds the low half away, ties to even; a carry can reach the
  // exponent (rounding up to the next binade, or to infinity), as it should
  const lsb = v128.and(i32x4.shr_u(u, 16), i32x4.splat(1));
  const rounded = i32x4.shr_u(i32x4.add(u, i32x4.add(i32x4.splat(0x7fff), lsb)), 16);
  // NaN: truncate and set the quiet bit (rounding could carry a NaN into infinity)
  const nan = v128.or(i32x4.shr_u(u, 16), i32x4.splat(0x40));
  const isNaN = i32x4.gt_u(v128.and(u, i32x4.splat(ABS)), i32x4.splat(INF32));
  return v128.bitselect(nan, rounded, isNaN);
}

// @ts-ignore: decorator
@inline function toBf16(u: u32): u32 {
  if ((u & ABS) > INF32) return (u >> 16) | 0x40;
  return (u + 0x7fff + ((u >> 16) & 1)) >> 16;
}

// dst [n] u16 = bf16(src [n] f32)
export function f32ToBf16(dst: usize, src: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = toBf16x4(v128.load(src + (<usize>i << 2)));
    const hi = toBf16x4(v128.load(src + (<usize>i << 2), 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(lo, hi)); // values < 2^16: no saturation
  }
  for (; i < end; i++) store<u16>(dst + (<usize>i << 1), <u16>toBf16(load<u32>(src + (<usize>i << 2))));
}

// dst [n] f32 = src [n] bf16, exactly
export function bf16ToF32(dst: usize, src: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < end; i++) store<u32>(dst + (<usize>i << 2), (<u32>load<u16>(src + (<usize>i << 1))) << 16);
}

// ---------------------------------------------------------------- fp16: 1 sign, 5 exponent, 10 mantissa bits

const F16_NORMAL_MIN: u32 = 0x38800000; // 2^-14 as fp32
const F16_OVERFLOW: u32 = 0x477ff000; // 65520: halfway between 65504 (the largest fp16) and 2^16, rounds to infinity
const REBIAS: u32 = 0x38000000; // (127 - 15) << 23
// Adding 0.5 puts |x| < 2^-14 in the low mantissa bits, rounded to nearest even by the
// float add itself: bits(0.5 + |x|) - bits(0.5) is the fp16 subnormal (or zero, or the
// smallest normal when it rounds up into it).
const HALF_BITS: u32 = 0x3f000000;

// @ts-ignore: decorator
@inline function toF16x4(u: v128): v128 {
  const a = v128.and(u, i32x4.splat(ABS));
  const sign = i32x4.shr_u(v128.and(u, i32x4.splat(SIGN)), 16);
  // normal fp16 range: rebias the exponent, round the 13 dropped bits to nearest even
  const lsb = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.sub(i32x4.add(a, i32x4.add(i32x4.splat(0xfff), lsb)), i32x4.splat(REBIAS)), 13);
  const subnormal = i32x4.sub(f32x4.add(a, f32x4.splat(0.5)), i32x4.splat(HALF_BITS));
  let h = v128.bitselect(normal, subnormal, i32x4.ge_u(a, i32x4.splat(F16_NORMAL_MIN)));
  h = v128.bitselect(i32x4.splat(0x7c00), h, i32x4.ge_u(a, i32x4.splat(F16_OVERFLOW)));
  // NaN: quiet, with the top 9 payload bits
  const nan = v128.or(i32x4.splat(0x7e00), v128.and(i32x4.shr_u(a, 13), i32x4.splat(0x1ff)));
  h = v128.bitselect(nan, h, i32x4.gt_u(a, i32x4.splat(INF32)));
  return v128.or(h, sign);
}

// @ts-ignore: decorator
@inline function toF16(u: u32): u32 {
  const a = u & ABS;
  const sign = (u & SIGN) >> 16;
  let h: u32;
  if (a > INF32) h = 0x7e00 | ((a >> 13) & 0x1ff);
  else if (a >= F16_OVERFLOW) h = 0x7c00;
  else if (a >= F16_NORMAL_MIN) h = (a + 0xfff + ((a >> 13) & 1) - REBIAS) >> 13;
  else h = reinterpret<u32>(reinterpret<f32>(a) + <f32>0.5) - HALF_BITS;
  return h | sign;
}

// dst [n] u16 = fp16(src [n] f32)
export function f32ToF16(dst: usize, src: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = toF16x4(v128.load(src + (<usize>i << 2)));
    const hi = toF16x4(v128.load(src + (<usize>i << 2), 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(lo, hi));
  }
  for (; i < end; i++) store<u16>(dst + (<usize>i << 1), <u16>toF16(load<u32>(src + (<usize>i << 2))));
}

const F16_EXP: u32 = 0x0f800000; // the fp16 exponent field after << 13
const TWO_POW_M14: f32 = 6.103515625e-05; // 2^-14: a subnormal's mantissa times it is its value

// @ts-ignore: decorator
@inline export function fromF16x4(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const shifted = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  const exp = v128.and(shifted, i32x4.splat(F16_EXP));
  // normal: rebias; infinity and NaN: all-ones exponent; subnormal and zero: mantissa x 2^-24
  const normal = i32x4.add(shifted, i32x4.splat(REBIAS));
  const special = i32x4.add(shifted, i32x4.splat(0x70000000)); // (255 - 31) << 23
  const sub = f32x4.mul(f32x4.convert_i32x4_u(v128.and(h, i32x4.splat(0x3ff))), f32x4.splat(TWO_POW_M14 / 1024));
  let o = v128.bitselect(special, normal, i32x4.eq(exp, i32x4.splat(F16_EXP)));
  o = v128.bitselect(sub, o, i32x4.eq(exp, i32x4.splat(0)));
  return v128.or(o, sign);
}

// @ts-ignore: decorator
@inline export function fromF16(h: u32): u32 {
  const sign = (h & 0x8000) << 16;
  const shifted = (h & 0x7fff) << 13;
  const exp = shifted & F16_EXP;
  let o: u32;
  if (exp == F16_EXP) o = shifted + 0x70000000;
  else if (exp == 0) o = reinterpret<u32>(<f32>(h & 0x3ff) * (TWO_POW_M14 / 1024));
  else o = shifted + REBIAS;
  return o | sign;
}

// dst [n] f32 = src [n] fp16, exactly
export function f16ToF32(dst: usize, src: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), fromF16x4(i32x4.extend_low_i16x8_u(h)));
    v128.store(dst + (<usize>i << 2), fromF16x4(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < end; i++) store<u32>(dst + (<usize>i << 2), fromF16(<u32>load<u16>(src + (<usize>i << 1))));
}

// ---------------------------------------------------------------- rounding in place

// x [n] f32 = the nearest bf16 value of x (as f32), in place: what storing x in bf16 and
// loading it back gives, in one pass (activation gradients handed between blocks)
export function roundToBf16(x: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const p = x + (<usize>i << 2);
    v128.store(p, i32x4.shl(toBf16x4(v128.load(p)), 16));
  }
  for (; i < end; i++) {
    const p = x + (<usize>i << 2);
    store<u32>(p, toBf16(load<u32>(p)) << 16);
  }
}

// x [n] f32 = the nearest fp16 value of x (as f32; beyond 65504 it is infinity), in place
export function roundToF16(x: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const p = x + (<usize>i << 2);
    v128.store(p, fromF16x4(toF16x4(v128.load(p))));
  }
  for (; i < end; i++) {
    const p = x + (<usize>i << 2);
    store<u32>(p, fromF16(toF16(load<u32>(p))));
  }
}
