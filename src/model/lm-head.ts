// The LM head, tied to the token embedding: logits = x wte^T, then the mean
// cross-entropy against the targets. Declares no parameters of its own. Saves the
// logits (overwritten by their gradient in backward) and each row's loss.
import { rows, type Tensor } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { crossEntropyForward, crossEntropyBackward } from '../ops/crossentropy.ts';
import { viewOf } from '../engine/tensor.ts';
import type { Bound, F32, LayerSpec, Param, Shape } from './layer.ts';
import { linearForward, linearBackward } from './linear.ts';

export interface LMHeadSpec extends LayerSpec {
  params: Record<string, never>;
  tiedTo: string; // the parameter it reads: wte
  saved: { logits: Shape; losses: Shape };
  scratch: Record<string, never>;
  dropout: Record<string, never>;
}

export function lmHeadSpec(vocabSize: number, R: number): LMHeadSpec {
  return { name: 'lm_head', params: {}, tiedTo: 'wte', saved: { logits: [R, vocabSize], losses: [R] }, scratch: {}, dropout: {} };
}

type Head = Bound<LMHeadSpec>;

// x [R, C] (the final norm's output) -> logits [R, V], returned
export function lmHeadForward(ops: OpContext, h: Head, wte: Param, x: F32): F32 {
  const logits = rows(h.saved.logits, x.shape[0]);
  linearForward(ops, wte, null, logits, x);
  return logits;
}

// The mean cross-entropy of the last forward's logits against targets [R].
export function lmHeadLoss(ops: OpContext, h: Head, targets: Tensor<'i32'>): number {
  const R = targets.size;
  const losses = rows(h.saved.losses, R);
  crossEntropyForward(ops, { losses, logits: rows(h.saved.logits, R), targets });
  const view = viewOf(ops.memory, losses);
  let sum = 0;
  for (let i = 0; i < R; i++) sum += view[i];
  return sum / R;
}

// dx [R, C] = the gradient of (dloss x the sum of the row losses) reaching x
// (overwritten); wte's gradient accumulates. Consumes the logits.
export function lmHeadBackward(ops: OpContext, h: Head, wte: Param, dx: F32, x: F32, targets: Tensor<'i32'>, dloss: number): void {
  const logits = rows(h.saved.logits, x.shape[0]);
  crossEntropyBackward(ops, { dlogits: logits, logits, targets }, dloss);
  linearBackward(ops, wte, null, dx, logits, x);
}
