// The first-generation attention, kept as a test oracle: it stores the probabilities
// att [B, H, T, T] (softmax before dropout; zero above the diagonal) for backward.
// qkv [B, T, 3C], out [B, T, C]; ranges over (batch, head) pairs, as in ../attention.ts.
// Attention dropout masks probability (b, h, t, t2) by its index in att, as the
// blocked kernels do.
import { dot, dot4, axpy, axpy4, zero } from '../simd';
import { keepElement, keepMask4 } from '../random';
import { expShifted, rowMax, scale as scaleRow } from '../math';

// Four keys at a time: dot4 (four independent accumulators) for the scores, axpy4 (one
// load and store of the output per four keys) for p v.
export function attentionForward(
  out: usize, att: usize, qkv: usize, B: i32, T: i32, C: i32, H: i32,
  dropKey: u32, dropThreshold: u32, dropScale: f32, bhStart: i32, bhEnd: i32,
): void {
  const hs = C / H;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const qkvRow = <usize>(3 * C) << 2;
  const outRow = <usize>C << 2;
  const headOff = <usize>hs << 2;
  const kOff = <usize>C << 2;
  const sv = f32x4.splat(scale), dsv = f32x4.splat(dropScale);
  for (let bh = bhStart; bh < bhEnd; bh++) {
    const b = bh / H;
    const h = bh % H;
    const qkvB = qkv + <usize>(b * T) * qkvRow + <usize>h * headOff;
    for (let t = 0; t < T; t++) {
      const q = qkvB + <usize>t * qkvRow;
      const rowIndex = <u32>(bh * T + t) * <u32>T;
      const attRow = att + (<usize>rowIndex << 2);
      const n = t + 1;
      // scaled scores, keys t2 <= t only
      let t2 = 0;
      for (; t2 + 4 <= n; t2 += 4) {
        v128.store(attRow + (<usize>t2 << 2), f32x4.mul(dot4(q, qkvB + <usize>t2 * qkvRow + kOff, qkvRow, hs), sv));
      }
      for (; t2 < n; t2++) store<f32>(attRow + (<usize>t2 << 2), dot(q, qkvB + <usize>t2 * qkvRow + kOff, hs) * scale);
      const maxv = rowMax(attRow, n);
      const sum = expShifted(attRow, attRow, n, maxv);
      scaleRow(attRow, n, <f32>1.0 / sum);
      for (t2 = n; t2 < T; t2++) store<f32>(attRow + (<usize>t2 << 2), 0);
      // out_t = sum_t2 dropout(att[t, t2]) v_t2
      const o = out + <usize>(b * T + t) * outRow + <usize>h * headOff;
      zero(o, hs);
      t2 = 0;
      for (; t2 + 4 <= n; t2 += 4) {
        let p = v128.load(attRow + (<usize>t2 << 2));
        if (dropThreshold) p = v128.and(f32x4.mul(p, dsv), keepMask4(dropKey, rowIndex + <u32>t2, dropThreshold));
        axpy4(o, p, qkvB + <usize>t2 * qkvRow + 2 * kOff, qkvRow, hs);
      }
      for (; t2 < n; t2++) {
        let p = load<f32>(attRow + (<usize>t2 << 2));
        if (dropThreshold) p = select<f32>(p * dropScale, 0, keepElement(dropKey, rowIndex + <u32>t2, dropThreshold));
        axpy(o, p, qkvB + <usize>t2 * qkvRow + 2 * kOff, hs);
      }
    }
  }
}

// dqkv = gradient of qkv (overwritten for the pairs in range), from dout [B, T, C].
// scratch: T floats per caller (the gradient of one row of probabilities).
export function attentionBackward(
  dqkv: usize, dout: usize, qkv: usize, att: usize, B: i32, T: i32, C: i32, H: i32,
  dropKey: u32, dropThreshold: u32, dropScale: f32, scratch: usize, bhStart: i32, bhEnd: i32,
): void {
  const hs = C / H;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const qkvRow = <usize>(3 * C) << 2;
  const outRow = <usize>C << 2;
  const headOff = <usize>hs << 2;
  const kOff = <usize>C << 2;
  const dsv = f32x4.splat(dropScale);
  for (let bh = bhStart; bh < bhEnd; bh++) {
    const b = bh / H;
    const h = bh % H;
    const qkvB = qkv + <usize>(b * T) * qkvRow + <usize>h * headOff;
    const dqkvB = dqkv + <usize>(b * T) * qkvRow + <usize>h * headOff;
    for (let t = 0; t < T; t++) {
      const d = dqkvB + <usize>t * qkvRow;
      zero(d, hs);
      zero(d + kOff, hs);
      zero(d + 2 * kOff, hs);
    }
    for (let t = 0; t < T; t++) {
      const dO = dout + <usize>(b * T + t) * outRow + <usize>h * headOff;
      const rowIndex = <u32>(bh * T + t) * <u32>T;
      const attRow = att + (<usize>rowIndex << 2);
      const n = t + 1;
      // through out_t = sum_t2 p'_t2 v_t2, where p' is the dropped-out probability:
      // dp_t2 = dout_t . v_t2 (through the mask) into scratch, dv_t2 += p'_t2 dout_t
      let t2 = 0;
      for (; t2 + 4 <= n; t2 += 4) {
        let dp = dot4(dO, qkvB + <usize>t2 * qkvRow + 2 * kOff, qkvRow, hs);
        if (dropThreshold) dp = v128.and(f32x4.mul(dp, dsv), keepMask4(dropKey, rowIndex + <u32>t2, dropThreshold));
        v128.store(scratch + (<usize>t2 << 2), dp);
      }
      for (; t2 < n; t2++) {
        let dp = dot(dO, qkvB + <usize>t2 * qkvRow + 2 * kOff, hs);
        if (dropThreshold) dp = select<f32>(dp * dropScale, 0, keepElement(dropKey, rowIndex + <u32>t2, dropThreshold));
        store<f32>(scratch + (<usize>t2 << 2), dp);
      }
      let s: f32 = 0;
      for (t2 = 0; t2 < n; t2++) {
        let p = load<f32>(attRow + (<usize>t2 << 2));
        s += p * load<f32>(scratch + (<usize>t2 << 2));
        if (dropThreshold) p = select<f32>(p * dropScale, 0, keepElement(dropKey, rowIndex + <u32>t2, dropThreshold));
        axpy(dqkvB + <usize>t2 * qkvRow + 2 * kOff, p, dO, hs);
      }
      // through softmax, then through the scaled dot products: dS into scratch,
      // dq_t += sum_t2 dS_t2 k_t2 (four keys at a time), dk_t2 += dS_t2 q_t
      const q = qkvB + <usize>t * qkvRow;
      const dq = dqkvB + <usize>t * qkvRow;
      for (t2 = 0; t2 < n; t2++) {
        const o = scratch + (<usize>t2 << 2);
        store<f32>(o, load<f32>(attRow + (<usize>t2 << 2)) * (load<f32>(o) - s) * scale);
      }
      t2 = 0;
      for (; t2 + 4 <= n; t2 += 4) axpy4(dq, v128.load(scratch + (<usize>t2 << 2)), qkvB + <usize>t2 * qkvRow + kOff, qkvRow, hs);
      for (; t2 < n; t2++) axpy(dq, load<f32>(scratch + (<usize>t2 << 2)), qkvB + <usize>t2 * qkvRow + kOff, hs);
      for (t2 = 0; t2 < n; t2++) axpy(dqkvB + <usize>t2 * qkvRow + kOff, load<f32>(scratch + (<usize>t2 << 2)), q, hs);
    }
  }
}
