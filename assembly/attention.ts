// Causal multi-head self-attention, as GPT-2.
// qkv [B, T, 3C] holds q | k | v for each position; head h uses channels [h*hs, (h+1)*hs).
// att [B, H, T, T] keeps the softmax probabilities (before dropout) for backward;
// entries above the diagonal are zero. out [B, T, C].
// Ranges are over (batch, head) pairs [bhStart, bhEnd): each pair owns its rows of
// att and its slices of dqkv, so pairs never write the same memory.
// Attention dropout masks probability (b, h, t, t2) by its index in att.
import { dot, axpy, zero } from './simd';
import { keepElement } from './random';
import { expShifted, scale as scaleRow } from './math';

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
  for (let bh = bhStart; bh < bhEnd; bh++) {
    const b = bh / H;
    const h = bh % H;
    const qkvB = qkv + <usize>(b * T) * qkvRow + <usize>h * headOff;
    for (let t = 0; t < T; t++) {
      const q = qkvB + <usize>t * qkvRow;
      const rowIndex = <u32>(bh * T + t) * <u32>T;
      const attRow = att + (<usize>rowIndex << 2);
      // scaled scores and their max, keys t2 <= t only
      let maxv: f32 = -Infinity;
      for (let t2 = 0; t2 <= t; t2++) {
        const s = dot(q, qkvB + <usize>t2 * qkvRow + kOff, hs) * scale;
        store<f32>(attRow + (<usize>t2 << 2), s);
        if (s > maxv) maxv = s;
      }
      const sum = expShifted(attRow, attRow, t + 1, maxv);
      scaleRow(attRow, t + 1, <f32>1.0 / sum);
      for (let t2 = t + 1; t2 < T; t2++) store<f32>(attRow + (<usize>t2 << 2), 0);
      // out_t = sum_t2 dropout(att[t, t2]) v_t2
      const o = out + <usize>(b * T + t) * outRow + <usize>h * headOff;
      zero(o, hs);
      for (let t2 = 0; t2 <= t; t2++) {
        let p = load<f32>(attRow + (<usize>t2 << 2));
        if (dropThreshold) {
          p = keepElement(dropKey, rowIndex + <u32>t2, dropThreshold) ? p * dropScale : 0;
        }
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
      // through out_t = sum_t2 p'_t2 v_t2, where p' is the dropped-out probability
      let s: f32 = 0;
      for (let t2 = 0; t2 <= t; t2++) {
        const vOff = <usize>t2 * qkvRow + 2 * kOff;
        let p = load<f32>(attRow + (<usize>t2 << 2));
        let dp = dot(dO, qkvB + vOff, hs);
        if (dropThreshold) {
          if (keepElement(dropKey, rowIndex + <u32>t2, dropThreshold)) {
            p *= dropScale;
            dp *= dropScale;
          } else {
            p = 0;
            dp = 0;
          }
        }
        axpy(dqkvB + vOff, p, dO, hs);
        store<f32>(scratch + (<usize>t2 << 2), dp);
        s += load<f32>(attRow + (<usize>t2 << 2)) * dp;
      }
      // through softmax, then through the scaled dot products
      const q = qkvB + <usize>t * qkvRow;
      const dq = dqkvB + <usize>t * qkvRow;
      for (let t2 = 0; t2 <= t; t2++) {
        const p = load<f32>(attRow + (<usize>t2 << 2));
        const dScore = p * (load<f32>(scratch + (<usize>t2 << 2)) - s) * scale;
        const kOffT2 = <usize>t2 * qkvRow + kOff;
        axpy(dq, dScore, qkvB + kOffT2, hs);
        axpy(dqkvB + kOffT2, dScore, q, hs);
      }
    }
  }
}
