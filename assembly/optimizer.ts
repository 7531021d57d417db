// Optimizer kernels over flat parameter / gradient buffers.

// AdamW with decoupled weight decay, over elements [start, end).
// gradScale multiplies every gradient first (clipping, loss-scale undo);
// bc1 = 1 - beta1^t and bc2 = 1 - beta2^t are the bias corrections.
export function adamw(
  params: usize, grads: usize, m: usize, v: usize,
  lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, gradScale: f32, bc1: f32, bc2: f32,
  start: i32, end: i32,
): void {
  const b1 = f32x4.splat(beta1), ob1 = f32x4.splat(1 - beta1);
  const b2 = f32x4.splat(beta2), ob2 = f32x4.splat(1 - beta2);
  const gs = f32x4.splat(gradScale);
  const ibc1 = f32x4.splat(1 / bc1), ibc2 = f32x4.splat(1 / bc2);
  const epsv = f32x4.splat(eps), lrv = f32x4.splat(lr), wdv = f32x4.splat(weightDecay);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const g = f32x4.mul(v128.load(grads + o), gs);
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(ob1, g));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(ob2, f32x4.mul(g, g)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const p = v128.load(params + o);
    const step = f32x4.add(
      f32x4.div(f32x4.mul(mi, ibc1), f32x4.add(f32x4.sqrt(f32x4.mul(vi, ibc2)), epsv)),
      f32x4.mul(wdv, p));
    v128.store(params + o, f32x4.sub(p, f32x4.mul(lrv, step)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grads + o) * gradScale;
    const mi = beta1 * load<f32>(m + o) + (1 - beta1) * g;
    const vi = beta2 * load<f32>(v + o) + (1 - beta2) * (g * g);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const p = load<f32>(params + o);
    const step = (mi * (1 / bc1)) / (Mathf.sqrt(vi * (1 / bc2)) + eps) + weightDecay * p;
    store<f32>(params + o, p - lr * step);
  }
}

// partials[c] = sum of squares of x[c*chunk, min((c+1)*chunk, n)) as f64, for chunks
// [chunkStart, chunkEnd). Fixed-size chunks summed in index order by the caller make
// the global norm independent of how chunks are split across threads.
export function sumSquaresChunks(partials: usize, x: usize, n: i32, chunk: i32, chunkStart: i32, chunkEnd: i32): void {
  for (let c = chunkStart; c < chunkEnd; c++) {
    const begin = c * chunk;
    const end = min(begin + chunk, n);
    // four vector sums (one is a chain of dependent adds: latency-bound), combined in a
    // fixed order, so a chunk's partial depends only on the chunk
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let i = begin;
    for (; i + 16 <= end; i += 16) {
      const p = x + (<usize>i << 2);
      const g0 = v128.load(p), g1 = v128.load(p, 16), g2 = v128.load(p, 32), g3 = v128.load(p, 48);
      a0 = f32x4.add(a0, f32x4.mul(g0, g0));
      a1 = f32x4.add(a1, f32x4.mul(g1, g1));
      a2 = f32x4.add(a2, f32x4.mul(g2, g2));
      a3 = f32x4.add(a3, f32x4.mul(g3, g3));
    }
    for (; i + 4 <= end; i += 4) {
      const g = v128.load(x + (<usize>i << 2));
      a0 = f32x4.add(a0, f32x4.mul(g, g));
    }
    const acc = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
    let s: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) +
      <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
    for (; i < end; i++) {
      const g = <f64>load<f32>(x + (<usize>i << 2));
      s += g * g;
    }
    store<f64>(partials + (<usize>c << 3), s);
  }
}
