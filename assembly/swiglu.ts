// SwiGLU's gate, elementwise: out = silu(gate) * up, silu(a) = a s(a), s the logistic
// function. Over [start, end); SIMD body and scalar tail compute identical bits (plain
// mul, add and div; exp4 and exp1 agree), so results do not depend on the split.
//
// s is computed from e = exp(-|a|), which never overflows: s = 1 / (1 + e) for a >= 0
// and e / (1 + e) below, and 1 - s likewise without cancellation, so the derivative
// silu'(a) = s (1 + a (1 - s)) stays exact in both tails (no inf * 0, no 1 - s = 0 for
// a large a where the true value is e).
import { exp4, exp1 } from './math';

// @ts-ignore: decorator
@inline function silu4(a: v128): v128 {
  const e = exp4(f32x4.neg(f32x4.abs(a)));
  const r = f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), e));
  return f32x4.mul(a, v128.bitselect(r, f32x4.mul(e, r), f32x4.ge(a, f32x4.splat(0))));
}

// @ts-ignore: decorator
@inline function silu1(a: f32): f32 {
  const e = exp1(-Mathf.abs(a));
  const r = <f32>1 / (<f32>1 + e);
  return a * (a >= 0 ? r : e * r);
}

// out = silu(gate) * up; out may alias either input.
export function swigluForward(out: usize, gate: usize, up: usize, start: i32, end: i32): void {
  let i = start;
  // four vectors per iteration, as in gelu.ts: V8 shares the constants between them
  for (; i + 16 <= end; i += 16) {
    const o = <usize>i << 2;
    const a0 = v128.load(gate + o), a1 = v128.load(gate + o, 16), a2 = v128.load(gate + o, 32), a3 = v128.load(gate + o, 48);
    const b0 = v128.load(up + o), b1 = v128.load(up + o, 16), b2 = v128.load(up + o, 32), b3 = v128.load(up + o, 48);
    v128.store(out + o, f32x4.mul(silu4(a0), b0));
    v128.store(out + o, f32x4.mul(silu4(a1), b1), 16);
    v128.store(out + o, f32x4.mul(silu4(a2), b2), 32);
    v128.store(out + o, f32x4.mul(silu4(a3), b3), 48);
  }
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(silu4(v128.load(gate + o)), v128.load(up + o)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, silu1(load<f32>(gate + o)) * load<f32>(up + o));
  }
}

// dgate = dout * up * silu'(gate), dup = dout * silu(gate)
// @ts-ignore: decorator
@inline function swigluGrad4(dgate: usize, dup: usize, o: usize, a: v128, b: v128, g: v128): void {
  const e = exp4(f32x4.neg(f32x4.abs(a)));
  const r = f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), e));
  const er = f32x4.mul(e, r);
  const nonNegative = f32x4.ge(a, f32x4.splat(0));
  const s = v128.bitselect(r, er, nonNegative); // s(a)
  const oneMinusS = v128.bitselect(er, r, nonNegative); // 1 - s(a), without cancellation
  const dsilu = f32x4.mul(s, f32x4.add(f32x4.splat(1), f32x4.mul(a, oneMinusS)));
  v128.store(dgate + o, f32x4.mul(f32x4.mul(g, b), dsilu));
  v128.store(dup + o, f32x4.mul(g, f32x4.mul(a, s)));
}

// Both input gradients of out = silu(gate) * up (overwritten). Every input of an
// element is read before its outputs are written, so dgate may alias gate and dup may
// alias dout (or up).
export function swigluBackward(dgate: usize, dup: usize, gate: usize, up: usize, dout: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const o = <usize>i << 2;
    const a0 = v128.load(gate + o), a1 = v128.load(gate + o, 16);
    const b0 = v128.load(up + o), b1 = v128.load(up + o, 16);
    const g0 = v128.load(dout + o), g1 = v128.load(dout + o, 16);
    swigluGrad4(dgate, dup, o, a0, b0, g0);
    swigluGrad4(dgate, dup, o + 16, a1, b1, g1);
  }
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    swigluGrad4(dgate, dup, o, v128.load(gate + o), v128.load(up + o), v128.load(dout + o));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const a = load<f32>(gate + o);
    const b = load<f32>(up + o);
    const g = load<f32>(dout + o);
    const e = exp1(-Mathf.abs(a));
    const r = <f32>1 / (<f32>1 + e);
    const er = e * r;
    const s = a >= 0 ? r : er;
    const oneMinusS = a >= 0 ? er : r;
    const dsilu = s * (<f32>1 + a * oneMinusS);
    store<f32>(dgate + o, (g * b) * dsilu);
    store<f32>(dup + o, g * (a * s));
  }
}
