// LayerNorm over the channels: out = (x - mean) / std * weight + bias. Saves its
// output (the next layer's input), mean and rstd for backward.
import { rows } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { layernormForward, layernormBackward, residualLayernormForward } from '../ops/layernorm.ts';
import type { DropoutMask } from '../ops/random.ts';
import { bias, gain, type Bound, type F32, type LayerSpec, type ParamDecl, type Shape } from './layer.ts';

export interface LayerNormSpec extends LayerSpec {
  params: { weight: ParamDecl; bias: ParamDecl | null };
  saved: { out: Shape; mean: Shape; rstd: Shape };
  scratch: Record<string, never>;
  dropout: Record<string, never>;
}

// R rows of C channels at capacity
export function layernormSpec(name: string, C: number, R: number, withBias: boolean): LayerNormSpec {
  return {
    name,
    params: { weight: gain(`${name}.weight`, [C]), bias: bias(`${name}.bias`, [C], withBias) },
    saved: { out: [R, C], mean: [R], rstd: [R] },
    scratch: {},
    dropout: {},
  };
}

type LN = Bound<LayerNormSpec>;

function saved(n: LN, R: number) {
  return { out: rows(n.saved.out, R), mean: rows(n.saved.mean, R), rstd: rows(n.saved.rstd, R) };
}

// x [R, C] -> the layer's saved out [R, C], returned
export function layernormLayerForward(ops: OpContext, n: LN, x: F32): F32 {
  const s = saved(n, x.shape[0]);
  layernormForward(ops, { ...s, inp: x, weight: n.params.weight.value, bias: n.params.bias?.value ?? null });
  return s.out;
}

// res = a + dropout(b), then out = layernorm(res) (one pass): a residual add and the
// norm that reads it
export function layernormLayerForwardResidual(ops: OpContext, n: LN, res: F32, a: F32, b: F32, mask: DropoutMask): F32 {
  const s = saved(n, res.shape[0]);
  residualLayernormForward(ops, { ...s, res, a, b, weight: n.params.weight.value, bias: n.params.bias?.value ?? null }, mask);
  return s.out;
}

// dx += the gradient through the norm of dout [R, C]; x is the forward's input
export function layernormLayerBackward(ops: OpContext, n: LN, dx: F32, dout: F32, x: F32): void {
  const { mean, rstd } = saved(n, x.shape[0]);
  layernormBackward(ops, {
    dinp: dx, dweight: n.params.weight.grad, dbias: n.params.bias?.grad ?? null, dout, inp: x,
    weight: n.params.weight.value, mean, rstd,
  });
}
