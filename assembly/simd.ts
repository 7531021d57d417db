// Small SIMD helpers shared by the kernel families.

// a * b + c: fused in the relaxed build, mul + add in the plain SIMD128 build.
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// @ts-ignore: decorator
@inline export function horizontalSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) +
    f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// sum_i a[i] * b[i] over n floats
// @ts-ignore: decorator
@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    acc = madd(v128.load(a), v128.load(b), acc);
    a += 16;
    b += 16;
  }
  let s = horizontalSum(acc);
  for (; i < n; i++) {
    s += load<f32>(a) * load<f32>(b);
    a += 4;
    b += 4;
  }
  return s;
}

// y[i] += alpha * x[i] over n floats
// @ts-ignore: decorator
@inline export function axpy(y: usize, alpha: f32, x: usize, n: i32): void {
  const av = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(y, madd(av, v128.load(x), v128.load(y)));
    x += 16;
    y += 16;
  }
  for (; i < n; i++) {
    store<f32>(y, load<f32>(y) + alpha * load<f32>(x));
    x += 4;
    y += 4;
  }
}

// x . y_j for the four vectors y_j = y0 + j*stride (bytes), over n floats: four
// independent accumulators (one dot product is a chain of dependent madds).
// @ts-ignore: decorator
@inline export function dot4(x: usize, y0: usize, stride: usize, n: i32): v128 {
  const y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const xv = v128.load(x + o);
    a0 = madd(xv, v128.load(y0 + o), a0);
    a1 = madd(xv, v128.load(y1 + o), a1);
    a2 = madd(xv, v128.load(y2 + o), a2);
    a3 = madd(xv, v128.load(y3 + o), a3);
  }
  // horizontal sums of a0..a3 into the four lanes
  const t0 = f32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const t1 = f32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
  let r = f32x4.add(i64x2.shuffle(t0, t1, 0, 2), i64x2.shuffle(t0, t1, 1, 3));
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const xs = load<f32>(x + o);
    r = f32x4.add(r, f32x4(xs * load<f32>(y0 + o), xs * load<f32>(y1 + o), xs * load<f32>(y2 + o), xs * load<f32>(y3 + o)));
  }
  return r;
}

// y[i] += sum_j alpha_j x_j[i] over n floats, x_j = x0 + j*stride (bytes), j < 4
// @ts-ignore: decorator
@inline export function axpy4(y: usize, alpha: v128, x0: usize, stride: usize, n: i32): void {
  const x1 = x0 + stride, x2 = x1 + stride, x3 = x2 + stride;
  const c0 = f32x4.splat(f32x4.extract_lane(alpha, 0)), c1 = f32x4.splat(f32x4.extract_lane(alpha, 1));
  const c2 = f32x4.splat(f32x4.extract_lane(alpha, 2)), c3 = f32x4.splat(f32x4.extract_lane(alpha, 3));
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let v = v128.load(y + o);
    v = madd(c0, v128.load(x0 + o), v);
    v = madd(c1, v128.load(x1 + o), v);
    v = madd(c2, v128.load(x2 + o), v);
    v = madd(c3, v128.load(x3 + o), v);
    v128.store(y + o, v);
  }
  const s0 = f32x4.extract_lane(alpha, 0), s1 = f32x4.extract_lane(alpha, 1);
  const s2 = f32x4.extract_lane(alpha, 2), s3 = f32x4.extract_lane(alpha, 3);
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + s0 * load<f32>(x0 + o) + s1 * load<f32>(x1 + o) + s2 * load<f32>(x2 + o) + s3 * load<f32>(x3 + o));
  }
}

// x[i] = 0 over n floats
export function zero(x: usize, n: i32): void {
  memory.fill(x, 0, <usize>n << 2);
}
