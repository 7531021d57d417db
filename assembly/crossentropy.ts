// Softmax + cross-entropy over the vocabulary, fused: probabilities are never stored.
import { expShifted, scale, rowMax } from './math';

// logits [rows, V], targets [rows] (i32), losses [rows]. Ranges are over rows.

// losses[i] = logsumexp(logits[i]) - logits[i, targets[i]]
export function crossEntropyForward(losses: usize, logits: usize, targets: usize, V: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>V << 2;
  for (let i = rowStart; i < rowEnd; i++) {
    const row = logits + <usize>i * rowBytes;
    const maxv = rowMax(row, V);
    const sum = expShifted(0, row, V, maxv);
    const target = load<i32>(targets + (<usize>i << 2));
    store<f32>(losses + (<usize>i << 2), Mathf.log(sum) + maxv - load<f32>(row + (<usize>target << 2)));
  }
}

// dlogits[i] = (softmax(logits[i]) - onehot(targets[i])) * dloss; dlogits may alias logits
export function crossEntropyBackward(dlogits: usize, logits: usize, targets: usize, dloss: f32, V: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>V << 2;
  for (let i = rowStart; i < rowEnd; i++) {
    const row = logits + <usize>i * rowBytes;
    const drow = dlogits + <usize>i * rowBytes;
    const maxv = rowMax(row, V);
    const sum = expShifted(drow, row, V, maxv);
    scale(drow, V, dloss / sum);
    const target = load<i32>(targets + (<usize>i << 2));
    const t = drow + (<usize>target << 2);
    store<f32>(t, load<f32>(t) - dloss);
  }
}

