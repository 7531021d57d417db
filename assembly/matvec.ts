// y = x W^T (+ b) for a few rows of x: generation's one new position (or a handful). W
// [N, K] is read row by row as it is stored, once for all the rows, with no packing:
// for one row the matmul's packing would move every weight twice. Ranges over output
// features [jStart, jEnd). Each output sums K in one fixed order (four 4-lane partial
// sums, then the tail), so results do not depend on the split; they are not the gemm
// path's bits (its K order differs), which is why only inference uses this.

// @ts-ignore: decorator
@inline function dot(x: usize, w: usize, K: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const o = <usize>k << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(x + o), v128.load(w + o)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(x + o, 16), v128.load(w + o, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(x + o, 32), v128.load(w + o, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(x + o, 48), v128.load(w + o, 48)));
  }
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(x + o), v128.load(w + o)));
  }
  const a = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  let s = (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
  for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(w + (<usize>k << 2));
  return s;
}

// out [M, N] = x [M, K] W^T + bias (bias 0: none), for output features [jStart, jEnd)
export function matvecForward(out: usize, x: usize, W: usize, bias: usize, M: i32, K: i32, N: i32, jStart: i32, jEnd: i32): void {
  const rowBytes = <usize>K << 2;
  for (let j = jStart; j < jEnd; j++) {
    const w = W + <usize>j * rowBytes;
    const b: f32 = bias ? load<f32>(bias + (<usize>j << 2)) : 0;
    for (let m = 0; m < M; m++) {
      store<f32>(out + ((<usize>m * <usize>N + <usize>j) << 2), dot(x + <usize>m * rowBytes, w, K) + b);
    }
  }
}
