// A register-only multiply-add loop: 12 independent chains of f32x4 madd (fused in the
// relaxed build), the ceiling the matmul benchmark reports its rates against.
import { madd } from '../simd';

export function peakLoop(n: i32, x: f32): f32 {
  const m = f32x4.splat(x);
  const b = f32x4.splat(0.999);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(1), a2 = f32x4.splat(2), a3 = f32x4.splat(3);
  let a4 = f32x4.splat(4), a5 = f32x4.splat(5), a6 = f32x4.splat(6), a7 = f32x4.splat(7);
  let a8 = f32x4.splat(8), a9 = f32x4.splat(9), a10 = f32x4.splat(10), a11 = f32x4.splat(11);
  for (let i = 0; i < n; i++) {
    a0 = madd(a0, b, m); a1 = madd(a1, b, m); a2 = madd(a2, b, m); a3 = madd(a3, b, m);
    a4 = madd(a4, b, m); a5 = madd(a5, b, m); a6 = madd(a6, b, m); a7 = madd(a7, b, m);
    a8 = madd(a8, b, m); a9 = madd(a9, b, m); a10 = madd(a10, b, m); a11 = madd(a11, b, m);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}
