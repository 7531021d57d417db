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

// x[i] = 0 over n floats
export function zero(x: usize, n: i32): void {
  memory.fill(x, 0, <usize>n << 2);
}
