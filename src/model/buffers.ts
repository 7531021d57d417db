// Every tensor a GPT needs, for a capacity of B sequences of up to blockSize tokens
// (R = B * blockSize rows), laid out by one plan: parameters, gradients, AdamW state,
// activations and the ops' scratch. The printed plan and the allocation come from
// the same call, so they cannot disagree.
import type { Engine } from '../engine/engine.ts';
import type { MemoryPlan } from '../engine/arena.ts';
import type { Tensor } from '../engine/tensor.ts';
import { planOps, type OpContext } from '../ops/context.ts';
import { planGradNorm } from '../ops/optimizer.ts';
import type { GPTConfig } from './config.ts';
import type { ParameterLayout } from './parameters.ts';

type F32 = Tensor<'f32'>;

export interface LayerBuffers {
  ln1Out: F32; ln1Mean: F32; ln1Rstd: F32; // [R, C], [R], [R]
  qkv: F32; // [R, 3C]
  lse: F32; // [B, H, T] log-sum-exp of each attention row (backward recomputes the probabilities)
  attOut: F32; // [R, C] attention output before c_proj
  resid2: F32; // [R, C] residual stream after the attention branch
  ln2Out: F32; ln2Mean: F32; ln2Rstd: F32; // [R, C], [R], [R]
  fcPre: F32; // [R, 4C] before GELU
  fcAct: F32; // [R, 4C] after GELU
}

// AdamW's state: moments in the parameters' layout, and the gradient norm's partial sums.
export interface OptimizerBuffers {
  m: F32; // [P]
  v: F32; // [P]
  normPartials: Tensor<'f64'>;
}

export interface ModelBuffers {
  params: F32; // [P] every parameter, in the layout's order
  grads: F32; // [P] same layout
  optimizer: OptimizerBuffers | null;
  residual: F32[]; // nLayer + 1 of [R, C]: the input of each block, then the last output
  layers: LayerBuffers[];
  lnfOut: F32; lnfMean: F32; lnfRstd: F32; // [R, C], [R], [R]
  logits: F32; // [R, V]; overwritten by dlogits in backward
  losses: F32; // [R]
  ids: Tensor<'i32'>; // [R]
  targets: Tensor<'i32'>; // [R]
  branch: F32; // [R, C] a residual branch's output before it is added
  // activation gradients, reused by every layer
  dResidual: F32; // [R, C]
  dBranch: F32; // [R, C]
  dNorm: F32; // [R, C]
  dAttOut: F32; // [R, C]
  dWide: F32; // [R, 4C]; also holds dqkv [R, 3C]
  ops: OpContext; // the ops' scratch
}

export interface PlanOptions {
  optimizer: boolean; // lay out AdamW's state too
}

export function planModel(
  plan: MemoryPlan, engine: Engine, c: GPTConfig, layout: ParameterLayout, batchSize: number, options: PlanOptions,
): ModelBuffers {
  const R = batchSize * c.blockSize;
  const C = c.nEmbd;
  const act = (shape: number[]) => plan.tensor('activations', shape, 'f32');
  const P = layout.total;
  const params = plan.tensor('parameters', [P], 'f32');
  const grads = plan.tensor('gradients', [P], 'f32');
  const optimizer = options.optimizer ? {
    m: plan.tensor('optimizer', [P], 'f32'),
    v: plan.tensor('optimizer', [P], 'f32'),
    normPartials: planGradNorm(plan, P),
  } : null;
  const residual = [act([R, C])];
  const layers: LayerBuffers[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    layers.push({
      ln1Out: act([R, C]), ln1Mean: act([R]), ln1Rstd: act([R]),
      qkv: act([R, 3 * C]),
      lse: act([batchSize, c.nHead, c.blockSize]),
      attOut: act([R, C]),
      resid2: act([R, C]),
      ln2Out: act([R, C]), ln2Mean: act([R]), ln2Rstd: act([R]),
      fcPre: act([R, 4 * C]),
      fcAct: act([R, 4 * C]),
    });
    residual.push(act([R, C]));
  }
  return {
    params, grads, optimizer, residual, layers,
    lnfOut: act([R, C]), lnfMean: act([R]), lnfRstd: act([R]),
    logits: act([R, c.vocabSize]),
    losses: act([R]),
    ids: plan.tensor('activations', [R], 'i32'),
    targets: plan.tensor('activations', [R], 'i32'),
    branch: act([R, C]),
    dResidual: act([R, C]),
    dBranch: act([R, C]),
    dNorm: act([R, C]),
    dAttOut: act([R, C]),
    dWide: act([R, 4 * C]),
    ops: planOps(plan, engine, { rows: R, channels: C, seqLen: c.blockSize, headSize: C / c.nHead }),
  };
}
