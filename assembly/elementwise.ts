// Elementwise kernels over [start, end): residual adds and dropout.
// Dropout: element i is kept (and scaled by 1/(1-p)) when keepElement(key, i, threshold);
// the same call serves forward and backward, since both multiply by the same mask.
import { keepElement, keepMask4 } from './random';

// out = a + b
export function residualForward(out: usize, a: usize, b: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

// out = a + dropout(b)
export function residualDropoutForward(out: usize, a: usize, b: usize, key: u32, threshold: u32, scale: f32, start: i32, end: i32): void {
  residualDropoutForwardAt(out, a, b, key, threshold, scale, start, end, 0);
}

// As residualDropoutForward, with element i masked as element i + maskOffset.
// SIMD body (hash of 4 indices at once, a mask instead of a branch) and scalar tail
// make the same decisions and the same bits.
// @ts-ignore: decorator
@inline export function residualDropoutForwardAt(
  out: usize, a: usize, b: usize, key: u32, threshold: u32, scale: f32, start: i32, end: i32, maskOffset: i32,
): void {
  const sv = f32x4.splat(scale);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const kept = v128.and(f32x4.mul(v128.load(b + o), sv), keepMask4(key, <u32>(i + maskOffset), threshold));
    v128.store(out + o, f32x4.add(v128.load(a + o), kept));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const kept = select<f32>(load<f32>(b + o) * scale, 0, keepElement(key, <u32>(i + maskOffset), threshold));
    store<f32>(out + o, load<f32>(a + o) + kept);
  }
}

// out = dropout(inp); out may alias inp
export function dropout(out: usize, inp: usize, key: u32, threshold: u32, scale: f32, start: i32, end: i32): void {
  const sv = f32x4.splat(scale);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, v128.and(f32x4.mul(v128.load(inp + o), sv), keepMask4(key, <u32>i, threshold)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, select<f32>(load<f32>(inp + o) * scale, 0, keepElement(key, <u32>i, threshold)));
  }
}

// out[i] = 0 for i in [start, end): gradient buffers before a backward pass
export function zeroFill(out: usize, start: i32, end: i32): void {
  if (start >= end) return;
  memory.fill(out + (<usize>start << 2), 0, <usize>(end - start) << 2);
}
