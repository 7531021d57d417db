// Softmax + cross-entropy ops (assembly/crossentropy.ts), fused over each row of logits.
import { expectTensor, type Tensor } from '../engine/tensor.ts';
import type { OpContext } from './context.ts';

// losses [R] = logsumexp(logits [R, V]) - logits[targets]; targets [R] i32
export function crossEntropyForward(ctx: OpContext, o: { losses: Tensor; logits: Tensor; targets: Tensor }): void {
  const [R, V] = o.logits.shape;
  expectTensor('crossEntropyForward: logits', o.logits, 'f32', [R, V]);
  expectTensor('crossEntropyForward: targets', o.targets, 'i32', [R]);
  expectTensor('crossEntropyForward: losses', o.losses, 'f32', [R]);
  ctx.run('crossEntropyForward', [o.losses.offset, o.logits.offset, o.targets.offset, V], 0, R);
}

// dlogits = (softmax(logits) - onehot(targets)) dloss; dlogits may be logits
export function crossEntropyBackward(ctx: OpContext, o: { dlogits: Tensor; logits: Tensor; targets: Tensor }, dloss: number): void {
  const [R, V] = o.logits.shape;
  expectTensor('crossEntropyBackward: logits', o.logits, 'f32', [R, V]);
  expectTensor('crossEntropyBackward: dlogits', o.dlogits, 'f32', [R, V]);
  expectTensor('crossEntropyBackward: targets', o.targets, 'i32', [R]);
  ctx.run('crossEntropyBackward', [o.dlogits.offset, o.logits.offset, o.targets.offset, dloss, V], 0, R);
}
