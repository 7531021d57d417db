// GELU, tanh approximation (as GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Elementwise over [start, end); SIMD body and scalar tail compute identical bits.
import { exp4, exp1 } from './math';

const S: f32 = 0.7978845608028654; // sqrt(2/pi)
const A: f32 = 0.044715;

// tanh(u) = 1 - 2 / (exp(2u) + 1); exp clamps, so the limits +-1 come out exactly
// @ts-ignore: decorator
@inline function tanh4(u: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.sub(one, f32x4.div(f32x4.splat(2), f32x4.add(exp4(f32x4.add(u, u)), one)));
}

// @ts-ignore: decorator
@inline function tanh1(u: f32): f32 {
  return <f32>1 - <f32>2 / (exp1(u + u) + <f32>1);
}

export function geluForward(out: usize, inp: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o);
    const u = f32x4.mul(f32x4.splat(S), f32x4.add(x, f32x4.mul(f32x4.splat(A), f32x4.mul(x, f32x4.mul(x, x)))));
    const half = f32x4.mul(f32x4.splat(0.5), x);
    v128.store(out + o, f32x4.mul(half, f32x4.add(f32x4.splat(1), tanh4(u))));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const u = S * (x + A * (x * (x * x)));
    store<f32>(out + o, (<f32>0.5 * x) * (<f32>1 + tanh1(u)));
  }
}

// dinp = gelu'(inp) * dout (overwrites; dinp may alias dout)
export function geluBackward(dinp: usize, inp: usize, dout: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o);
    const x2 = f32x4.mul(x, x);
    const u = f32x4.mul(f32x4.splat(S), f32x4.add(x, f32x4.mul(f32x4.splat(A), f32x4.mul(x, x2))));
    const th = tanh4(u);
    const sech2 = f32x4.sub(f32x4.splat(1), f32x4.mul(th, th));
    const du = f32x4.mul(f32x4.splat(S), f32x4.add(f32x4.splat(1), f32x4.mul(f32x4.splat(3 * A), x2)));
    const left = f32x4.mul(f32x4.splat(0.5), f32x4.add(f32x4.splat(1), th));
    const right = f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.mul(sech2, du));
    v128.store(dinp + o, f32x4.mul(f32x4.add(left, right), v128.load(dout + o)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const x2 = x * x;
    const u = S * (x + A * (x * x2));
    const th = tanh1(u);
    const sech2 = <f32>1 - th * th;
    const du = S * (<f32>1 + (<f32>3 * A) * x2);
    const left = <f32>0.5 * (<f32>1 + th);
    const right = (<f32>0.5 * x) * (sech2 * du);
    store<f32>(dinp + o, (left + right) * load<f32>(dout + o));
  }
}
