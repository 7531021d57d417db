// Elementwise kernels over [start, end): residual adds and dropout.
// Dropout: element i is kept (and scaled by 1/(1-p)) when keepElement(key, i, threshold);
// the same call serves forward and backward, since both multiply by the same mask.
import { keepElement } from './random';

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
  for (let i = start; i < end; i++) {
    const o = <usize>i << 2;
    const kept = keepElement(key, <u32>i, threshold) ? load<f32>(b + o) * scale : 0;
    store<f32>(out + o, load<f32>(a + o) + kept);
  }
}

// out = dropout(inp); out may alias inp
export function dropout(out: usize, inp: usize, key: u32, threshold: u32, scale: f32, start: i32, end: i32): void {
  for (let i = start; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, keepElement(key, <u32>i, threshold) ? load<f32>(inp + o) * scale : 0);
  }
}
