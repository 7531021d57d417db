// The LM head, tied to the token embedding: logits = x wte^T, then the mean
// cross-entropy against the targets. Declares no parameters of its own.
//
// Whole (chunkRows 0): saves the [R, V] logits, overwritten by their gradient in
// backward, and each row's loss. Chunked: the logits are never all there at once: rows
// go through the head in chunks of chunkRows (fixed, so results do not depend on the
// thread count), each chunk's logits turned into its losses and, in training, at once
// into dlogits and the head's two gradient matmuls, before the next chunk reuses the
// buffer. Each row's logits, loss and dx are the same bits either way (a row's sums do
// not depend on the other rows); only wte's gradient is summed in another order (chunk
// by chunk over the rows).
import { rows, rowRange, viewOf, type Tensor } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { crossEntropyForward, crossEntropyBackward } from '../ops/crossentropy.ts';
import type { Bound, F32, LayerSpec, Param, Shape } from './layer.ts';
import { linearForward, linearBackward } from './linear.ts';

export interface LMHeadSpec extends LayerSpec {
  params: Record<string, never>;
  tiedTo: string; // the parameter it reads: wte
  chunkRows: number; // 0: whole
  saved: { logits: Shape; losses: Shape }; // logits: [R, V], or one chunk's [chunkRows, V]
  scratch: Record<string, never>;
  dropout: Record<string, never>;
}

export function lmHeadSpec(vocabSize: number, R: number, chunkRows = 0): LMHeadSpec {
  const logitRows = chunkRows > 0 ? Math.min(chunkRows, R) : R;
  return { name: 'lm_head', params: {}, tiedTo: 'wte', chunkRows, saved: { logits: [logitRows, vocabSize], losses: [R] }, scratch: {}, dropout: {} };
}

type Head = Bound<LMHeadSpec>;

// x [R, C] (the final norm's output) -> logits [R, V], returned (whole head only)
export function lmHeadForward(ops: OpContext, h: Head, wte: Param, x: F32): F32 {
  const logits = rows(h.saved.logits, x.shape[0]);
  linearForward(ops, wte, null, logits, x);
  return logits;
}

// The mean cross-entropy of the last forward's logits against targets [R] (whole head).
export function lmHeadLoss(ops: OpContext, h: Head, targets: Tensor<'i32'>): number {
  const R = targets.size;
  crossEntropyForward(ops, { losses: rows(h.saved.losses, R), logits: rows(h.saved.logits, R), targets });
  return meanLoss(ops, h, R);
}

// dx [R, C] = the gradient of (dloss x the sum of the row losses) reaching x
// (overwritten); wte's gradient accumulates. Consumes the logits (whole head).
export function lmHeadBackward(ops: OpContext, h: Head, wte: Param, dx: F32, x: F32, targets: Tensor<'i32'>, dloss: number): void {
  const logits = rows(h.saved.logits, x.shape[0]);
  crossEntropyBackward(ops, { dlogits: logits, logits, targets }, dloss);
  linearBackward(ops, wte, null, dx, logits, x);
}

// Chunked head: the mean cross-entropy of x [R, C] against targets [R]; with `grad`,
// also what lmHeadBackward computes (dx overwritten, wte's gradient accumulated).
export function lmHeadChunkedLoss(
  ops: OpContext, h: Head, wte: Param, x: F32, targets: Tensor<'i32'>, grad: { dx: F32; dloss: number } | null,
): number {
  const R = x.shape[0];
  const n = h.spec.chunkRows;
  for (let r0 = 0; r0 < R; r0 += n) {
    const m = Math.min(n, R - r0);
    const xs = rowRange(x, r0, m);
    const t = rowRange(targets, r0, m);
    const logits = rows(h.saved.logits, m);
    linearForward(ops, wte, null, logits, xs);
    crossEntropyForward(ops, { losses: rowRange(h.saved.losses, r0, m), logits, targets: t });
    if (!grad) continue;
    crossEntropyBackward(ops, { dlogits: logits, logits, targets: t }, grad.dloss);
    linearBackward(ops, wte, null, rowRange(grad.dx, r0, m), logits, xs);
  }
  return meanLoss(ops, h, R);
}

// Chunked head: the logits of row i of x [R, C] alone, into the chunk buffer ([V]).
export function lmHeadRowLogits(ops: OpContext, h: Head, wte: Param, x: F32, i: number): F32 {
  const logits = rows(h.saved.logits, 1);
  linearForward(ops, wte, null, logits, rowRange(x, i, 1));
  return logits;
}

function meanLoss(ops: OpContext, h: Head, R: number): number {
  const view = viewOf(ops.memory, rows(h.saved.losses, R));
  let sum = 0;
  for (let i = 0; i < R; i++) sum += view[i];
  return sum / R;
}
