// The MLP: branch = c_proj(gelu(c_fc(x))), hidden width 4C. Saves the hidden layer
// before and after GELU.
import { rows } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { geluForward, geluBackward } from '../ops/gelu.ts';
import { bias, weight, type Bound, type F32, type LayerSpec, type ParamDecl, type Shape } from './layer.ts';
import { linearForward, linearBackward } from './linear.ts';

export interface MLPSpec extends LayerSpec {
  params: { fcWeight: ParamDecl; fcBias: ParamDecl | null; projWeight: ParamDecl; projBias: ParamDecl | null };
  saved: { pre: Shape; act: Shape };
  scratch: { dHidden: Shape };
  dropout: { residual: string }; // on the branch before the block adds it
}

// R rows at capacity; name: 'h.<layer>.mlp'
export function mlpSpec(name: string, C: number, R: number, withBias: boolean): MLPSpec {
  return {
    name,
    params: {
      fcWeight: weight(`${name}.c_fc.weight`, [4 * C, C]),
      fcBias: bias(`${name}.c_fc.bias`, [4 * C], withBias),
      projWeight: weight(`${name}.c_proj.weight`, [C, 4 * C], 'residual'),
      projBias: bias(`${name}.c_proj.bias`, [C], withBias),
    },
    saved: { pre: [R, 4 * C], act: [R, 4 * C] },
    scratch: { dHidden: [R, 4 * C] },
    dropout: { residual: `${name}.dropout` },
  };
}

type MLP = Bound<MLPSpec>;

// x [R, C] (the normed residual) -> branch [R, C]
export function mlpLayerForward(ops: OpContext, m: MLP, branch: F32, x: F32): void {
  const R = x.shape[0];
  const pre = rows(m.saved.pre, R);
  const act = rows(m.saved.act, R);
  linearForward(ops, m.params.fcWeight, m.params.fcBias, pre, x);
  geluForward(ops, { out: act, inp: pre });
  linearForward(ops, m.params.projWeight, m.params.projBias, branch, act);
}

// dx [R, C] = the gradient reaching x from dbranch (overwritten); parameter gradients accumulate
export function mlpLayerBackward(ops: OpContext, m: MLP, dx: F32, dbranch: F32, x: F32): void {
  const R = x.shape[0];
  const dHidden = rows(m.scratch.dHidden, R);
  const pre = rows(m.saved.pre, R);
  linearBackward(ops, m.params.projWeight, m.params.projBias, dHidden, dbranch, rows(m.saved.act, R));
  geluBackward(ops, { dinp: dHidden, inp: pre, dout: dHidden });
  linearBackward(ops, m.params.fcWeight, m.params.fcBias, dx, dHidden, x);
}
