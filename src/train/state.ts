// The whole state of a training run, and one optimizer step over it. trainStep is the
// unit the trainer's loop repeats; a snapshot of the state taken between steps and
// restored later continues the run bit for bit.
import type { GPT, DropoutState } from '../model/gpt.ts';
import type { RngState } from '../engine/random.ts';
import { BatchSampler, type TokenArray } from '../data/dataset.ts';
import type { AdamW } from './optimizer.ts';
import type { LossScaler, LossScalerState } from './loss-scaler.ts';

export interface TrainState {
  readonly model: GPT; // weights, gradients, dropout seed and pass counter
  readonly optimizer: AdamW; // moments and step count
  readonly batches: BatchSampler; // the training batches, in order
  readonly gradAccum: number; // micro-batches per step
  readonly gradClip: number; // global-norm clip (0 = off)
  step: number; // optimizer steps taken: the learning-rate schedule's position
  readonly scaler: LossScaler | null; // fp16: dynamic loss scaling
  readonly x: Int32Array; // [B, T] batch buffers
  readonly y: Int32Array;
}

export interface TrainStateOptions {
  tokens: TokenArray; // the training split
  batchSize: number;
  blockSize: number;
  gradAccum: number;
  gradClip: number;
  seed: number; // of the batch sampler
  scaler?: LossScaler | null;
}

// A run at step 0: batches drawn from tokens with their own seeded sampler.
export function newTrainState(model: GPT, optimizer: AdamW, o: TrainStateOptions): TrainState {
  const n = o.batchSize * o.blockSize;
  return {
    model, optimizer, batches: new BatchSampler(o.tokens, o.batchSize, o.blockSize, o.seed),
    gradAccum: o.gradAccum, gradClip: o.gradClip, step: 0, scaler: o.scaler ?? null, x: new Int32Array(n), y: new Int32Array(n),
  };
}

export interface StepResult {
  loss: number; // mean over the step's micro-batches
  gradNorm: number; // before clipping (unscaled)
  // the weights were left as they were: the loss or the gradient norm was not finite
  skipped: boolean;
  // fp16: the skip was a gradient overflow at this loss scale (the scale backed off and
  // the run goes on); false otherwise
  overflow: boolean;
  lossScale: number; // the step's loss scale (1 without a scaler)
}

// One optimizer step at learning rate lr: gradAccum micro-batches (forward, backward),
// the global gradient norm, clipping, AdamW. With a loss scaler (fp16), the loss gradient
// is scaled, the gradients are unscaled before clipping (folded into AdamW's gradient
// factor: the scale is a power of two, so unscaling is exact), and a step whose
// gradients are not finite is skipped: weights, moments and AdamW's step count stay,
// the batches and the schedule move on, the scale backs off.
export function trainStep(state: TrainState, lr: number): StepResult {
  const { model, optimizer, batches, gradAccum, x, y, scaler } = state;
  const { batchSize: B, blockSize: T } = batches;
  const lossScale = scaler?.scale ?? 1;
  model.zeroGrad();
  let loss = 0;
  for (let micro = 0; micro < gradAccum; micro++) {
    batches.next(x, y);
    loss += model.forward(x, y, B, T, { train: true, lossScale: lossScale / gradAccum }) / gradAccum;
    model.backward(lossScale / gradAccum);
  }
  const gradNorm = optimizer.gradNorm() / lossScale; // one pass: inf or NaN when any gradient is
  const step = state.step;
  state.step += 1;
  if (!Number.isFinite(loss)) return { loss, gradNorm, skipped: true, overflow: false, lossScale };
  if (!Number.isFinite(gradNorm)) {
    if (!scaler) return { loss, gradNorm, skipped: true, overflow: false, lossScale };
    scaler.update(true, step);
    return { loss, gradNorm, skipped: true, overflow: true, lossScale };
  }
  const clip = state.gradClip > 0 && gradNorm > state.gradClip ? state.gradClip / gradNorm : 1;
  optimizer.step(lr, clip / lossScale);
  scaler?.update(false, step);
  return { loss, gradNorm, skipped: false, overflow: false, lossScale };
}

// Whether the step that started at `step` reached the update (a failure after that point
// may have left the weights half updated).
export function optimizerTouched(state: TrainState, step: number): boolean {
  return state.step > step;
}

// A copy of everything a run continues from (gradients are not part of it: every step
// starts by zeroing them).
export interface TrainSnapshot {
  step: number;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  adamSteps: number;
  batches: RngState;
  dropout: DropoutState;
  scaler: LossScalerState | null;
}

export function snapshot(state: TrainState): TrainSnapshot {
  const { m, v } = state.optimizer.moments();
  return {
    step: state.step,
    params: state.model.params().slice(),
    m: m.slice(),
    v: v.slice(),
    adamSteps: state.optimizer.t,
    batches: state.batches.getState(),
    dropout: state.model.dropout,
    scaler: state.scaler?.state ?? null,
  };
}

export function restore(state: TrainState, s: TrainSnapshot): void {
  const params = state.model.params();
  if (s.params.length !== params.length) throw new Error(`snapshot has ${s.params.length} parameters, the model ${params.length}`);
  params.set(s.params);
  const { m, v } = state.optimizer.moments();
  m.set(s.m);
  v.set(s.v);
  state.optimizer.t = s.adamSteps;
  state.batches.setState(s.batches);
  state.model.dropout = s.dropout;
  if (state.scaler && s.scaler) state.scaler.state = s.scaler;
  state.step = s.step;
}
