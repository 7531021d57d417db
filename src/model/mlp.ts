// The MLP, in one of two forms (config.activation):
//   gelu:   branch = c_proj(gelu(c_fc(x)))                   (GPT-2; hidden 4C)
//   swiglu: branch = c_proj(silu(c_gate(x)) * c_up(x))      (hidden ~8/3 C)
// GELU saves the hidden layer before and after the activation; SwiGLU saves the gate,
// the up projection and their product.
import { rows } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { swigluForward, swigluBackward } from '../ops/swiglu.ts';
import type { Activation } from './config.ts';
import { bias, weight, type Bound, type F32, type LayerSpec, type ParamDecl, type Shape } from './layer.ts';
import { linearForward, linearBackward } from './linear.ts';

export interface GeluMLPSpec extends LayerSpec {
  activation: 'gelu';
  params: { fcWeight: ParamDecl; fcBias: ParamDecl | null; projWeight: ParamDecl; projBias: ParamDecl | null };
  saved: { pre: Shape; act: Shape };
  scratch: { dHidden: Shape };
  dropout: { residual: string }; // on the branch before the block adds it
}

export interface SwiGLUMLPSpec extends LayerSpec {
  activation: 'swiglu';
  params: {
    gateWeight: ParamDecl; gateBias: ParamDecl | null; upWeight: ParamDecl; upBias: ParamDecl | null;
    projWeight: ParamDecl; projBias: ParamDecl | null;
  };
  saved: { gate: Shape; up: Shape; act: Shape };
  scratch: { dAct: Shape; dGate: Shape }; // dAct is then overwritten by d(up)
  dropout: { residual: string };
}

export type MLPSpec = GeluMLPSpec | SwiGLUMLPSpec;
export type MLP = Bound<GeluMLPSpec> | Bound<SwiGLUMLPSpec>;

// R rows at capacity, hidden width H; name: 'h.<layer>.mlp'
export function mlpSpec(name: string, C: number, H: number, R: number, withBias: boolean, activation: Activation): MLPSpec {
  const proj = { projWeight: weight(`${name}.c_proj.weight`, [C, H], 'residual'), projBias: bias(`${name}.c_proj.bias`, [C], withBias) };
  const dropout = { residual: `${name}.dropout` };
  if (activation === 'swiglu') {
    return {
      name, activation, dropout,
      params: {
        gateWeight: weight(`${name}.c_gate.weight`, [H, C]), gateBias: bias(`${name}.c_gate.bias`, [H], withBias),
        upWeight: weight(`${name}.c_up.weight`, [H, C]), upBias: bias(`${name}.c_up.bias`, [H], withBias),
        ...proj,
      },
      saved: { gate: [R, H], up: [R, H], act: [R, H] },
      scratch: { dAct: [R, H], dGate: [R, H] },
    };
  }
  return {
    name, activation, dropout,
    params: { fcWeight: weight(`${name}.c_fc.weight`, [H, C]), fcBias: bias(`${name}.c_fc.bias`, [H], withBias), ...proj },
    saved: { pre: [R, H], act: [R, H] },
    scratch: { dHidden: [R, H] },
  };
}

function isSwiGLU(m: MLP): m is Bound<SwiGLUMLPSpec> {
  return m.spec.activation === 'swiglu';
}

// x [R, C] (the normed residual) -> branch [R, C]
export function mlpLayerForward(ops: OpContext, m: MLP, branch: F32, x: F32): void {
  const R = x.shape[0];
  const act = rows(m.saved.act, R);
  if (isSwiGLU(m)) {
    const gate = rows(m.saved.gate, R);
    const up = rows(m.saved.up, R);
    linearForward(ops, m.params.gateWeight, m.params.gateBias, gate, x);
    linearForward(ops, m.params.upWeight, m.params.upBias, up, x);
    swigluForward(ops, { out: act, gate, up });
  } else {
    const pre = rows(m.saved.pre, R);
    linearForward(ops, m.params.fcWeight, m.params.fcBias, pre, x, act); // act = gelu(pre), in the epilogue
  }
  linearForward(ops, m.params.projWeight, m.params.projBias, branch, act);
}

// dx [R, C] = the gradient reaching x from dbranch (overwritten); parameter gradients accumulate
export function mlpLayerBackward(ops: OpContext, m: MLP, dx: F32, dbranch: F32, x: F32): void {
  const R = x.shape[0];
  const act = rows(m.saved.act, R);
  if (isSwiGLU(m)) {
    const dAct = rows(m.scratch.dAct, R);
    const dGate = rows(m.scratch.dGate, R);
    linearBackward(ops, m.params.projWeight, m.params.projBias, dAct, dbranch, act);
    swigluBackward(ops, { dgate: dGate, dup: dAct, gate: rows(m.saved.gate, R), up: rows(m.saved.up, R), dout: dAct });
    linearBackward(ops, m.params.gateWeight, m.params.gateBias, dx, dGate, x);
    linearBackward(ops, m.params.upWeight, m.params.upBias, dx, dAct, x, true);
  } else {
    const dHidden = rows(m.scratch.dHidden, R);
    // dHidden = gelu'(pre) (dbranch W_proj), GELU's backward in the epilogue
    linearBackward(ops, m.params.projWeight, m.params.projBias, dHidden, dbranch, act, false, rows(m.saved.pre, R));
    linearBackward(ops, m.params.fcWeight, m.params.fcBias, dx, dHidden, x);
  }
}
