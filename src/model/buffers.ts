// Every tensor a GPT needs, for a capacity of B sequences of up to blockSize tokens
// (R = B * blockSize rows), laid out by one plan from the layers' declarations:
// parameters, gradients, AdamW state, each layer's saved activations, the backward
// scratch the layers share, the model's own buffers, and the ops' scratch. The printed
// plan and the allocation come from the same call, so they cannot disagree.
//
// In bf16/fp16 training the blocks compute in one fp32 working set (the layers are bound
// to it), and what each block saves for backward is kept in 16 bits: copied out after
// the block's forward, loaded back into the working set before its backward. LayerNorm
// statistics and the attention's log-sum-exp stay fp32, per block.
import type { Engine } from '../engine/engine.ts';
import type { MemoryPlan } from '../engine/arena.ts';
import { rows, slice, type DType, type Tensor } from '../engine/tensor.ts';
import { planOps, type OpContext } from '../ops/context.ts';
import { planGradNorm } from '../ops/optimizer.ts';
import type { GPTConfig } from './config.ts';
import type { ParameterLayout } from './parameters.ts';
import type { Bound, F32, LayerSpec, Param, ParamDecl } from './layer.ts';
import { layersOf, type GPTSpec } from './gpt-spec.ts';
import type { BlockLayers, BlockSpec, BlockWork } from './block.ts';
import type { MLP } from './mlp.ts';
import type { EmbeddingSpec } from './embedding.ts';
import type { LayerNormSpec } from './layernorm.ts';
import type { LMHeadSpec } from './lm-head.ts';

// AdamW's state: moments in the parameters' layout, and the gradient norm's partial sums.
export interface OptimizerBuffers {
  m: F32; // [P]
  v: F32; // [P]
  normPartials: Tensor<'f64'>;
}

// The layers with their tensors.
export interface ModelLayers {
  embedding: Bound<EmbeddingSpec>;
  blocks: BlockLayers[];
  lnf: Bound<LayerNormSpec>;
  lmHead: Bound<LMHeadSpec>;
}

export interface ModelBuffers {
  params: F32; // [P] every parameter, in the layout's order
  grads: F32; // [P] same layout
  optimizer: OptimizerBuffers | null;
  layers: ModelLayers;
  ids: Tensor<'i32'>; // [R]
  targets: Tensor<'i32'>; // [R]
  out: F32; // [R, C] the last block's output (ln_f's input)
  work: BlockWork; // [R, C] each: passed between layers
  dres: F32; // [R, C] the gradient of the residual stream
  ops: OpContext; // the ops' scratch
  half: HalfBuffers | null; // bf16/fp16 training
}

// A saved activation kept in 16 bits, and the fp32 working tensor it is computed in and
// loaded back into ([R, ...] both).
export interface StoredActivation {
  work: F32;
  stored: Tensor;
}

export interface HalfBuffers {
  format: HalfFormat;
  weights: Tensor; // [P] the 16-bit copy of params the matmuls read, written every forward
  // per block but the last (whose backward comes first, while the working set still
  // holds its forward): its input x (kept before the block runs: the block's output
  // overwrites it in the working set), then the rest it saves (none with recompute blocks)
  blocks: { input: StoredActivation; rest: StoredActivation[] }[];
}

export type Precision = 'fp32' | 'bf16' | 'fp16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'fp16'];
export type HalfFormat = 'bf16' | 'f16';

// The dtype activations and the weights' matmul copy are stored in; null for fp32.
export function halfFormat(p: Precision): HalfFormat | null {
  return p === 'bf16' ? 'bf16' : p === 'fp16' ? 'f16' : null;
}

// Saved activations that stay fp32 in every precision: LayerNorm's statistics and the
// attention's log-sum-exp (small: one value per row, or per row and head).
const FP32_SAVED = new Set(['mean', 'rstd', 'lse']);

export type Recompute = 'none' | 'blocks';
export const RECOMPUTE_MODES: readonly Recompute[] = ['none', 'blocks'];

export interface PlanOptions {
  optimizer: boolean; // lay out AdamW's state too
  // none: every block keeps its activations for backward; blocks: each block keeps
  // only its input, and backward replays the block's forward into one shared set
  recompute: Recompute;
  // fp32, or bf16/fp16: saved activations and the matmuls' weight copy in 16 bits
  precision: Precision;
}

export function planModel(
  plan: MemoryPlan, engine: Engine, c: GPTConfig, spec: GPTSpec, layout: ParameterLayout, batchSize: number, options: PlanOptions,
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

  const layers = layersOf(spec);
  const format = halfFormat(options.precision);
  const halfWeights = format ? plan.tensor('parameters', [P], format) : null;
  const { saved, stored } = format ? planSavedHalf(plan, spec, options.recompute, format) : { saved: planSaved(plan, spec, options.recompute), stored: null };
  const shared = plan.overlay('activations', layers.map((l) => l.scratch), 'f32', 'backward scratch');
  const scratch = new Map(layers.map((l, i) => [l, shared[i]]));
  const param = (d: ParamDecl): Param => {
    const s = layout.byName.get(d.name);
    if (!s) throw new Error(`no parameter named ${d.name} in the layout`);
    const p: Param = { value: slice(params, s.offset, s.shape), grad: slice(grads, s.offset, s.shape) };
    if (halfWeights) p.matmulWeight = slice(halfWeights, s.offset, s.shape);
    return p;
  };
  const bind = <L extends LayerSpec>(l: L): Bound<L> => ({
    spec: l,
    params: Object.fromEntries(Object.entries(l.params).map(([k, d]) => [k, d ? param(d) : null])),
    saved: saved.get(l)!,
    scratch: scratch.get(l)!,
  }) as Bound<L>;

  return {
    params, grads, optimizer,
    layers: {
      embedding: bind(spec.embedding),
      blocks: spec.blocks.map((b) => ({ self: bind(b), ln1: bind(b.ln1), attn: bind(b.attn), ln2: bind(b.ln2), mlp: bind(b.mlp) as MLP })),
      lnf: bind(spec.lnf),
      lmHead: bind(spec.lmHead),
    },
    ids: plan.tensor('activations', [R], 'i32'),
    targets: plan.tensor('activations', [R], 'i32'),
    out: act([R, C]),
    work: { branch: act([R, C]), dBranch: act([R, C]), dNorm: act([R, C]) },
    dres: act([R, C]),
    ops: planOps(plan, engine, { rows: R, channels: C, seqLen: c.blockSize, headSize: C / c.nHead }),
    half: format ? { format, weights: halfWeights!, blocks: stored! } : null,
  };
}

// Each layer's saved activations. With recompute 'blocks', every block keeps its own
// input x, and all blocks share block 0's other tensors (backward replays each block's
// forward into them before its backward). workingSet: all blocks share all of block 0's
// tensors, x included (bf16/fp16: planSavedHalf).
function planSaved(plan: MemoryPlan, spec: GPTSpec, recompute: Recompute, workingSet = false): Map<LayerSpec, Record<string, F32>> {
  const saved = new Map<LayerSpec, Record<string, F32>>();
  const lay = (l: LayerSpec, label: string, skip: string[] = []) =>
    Object.fromEntries(Object.entries(l.saved).filter(([k]) => !skip.includes(k)).map(([k, shape]) => [k, plan.tensor('activations', shape, 'f32', label)]));
  const inner = (b: BlockSpec) => [b.ln1, b.attn, b.ln2, b.mlp];
  const blockLabel = workingSet ? 'one block in fp32 (working set)'
    : recompute === 'blocks' ? 'one block (replayed in backward)' : `saved by ${spec.blocks.length} blocks`;
  saved.set(spec.embedding, lay(spec.embedding, 'embedding'));
  spec.blocks.forEach((b, l) => {
    if ((recompute === 'blocks' || workingSet) && l > 0) {
      const first = spec.blocks[0];
      const x = workingSet ? saved.get(first)!.x : plan.tensor('activations', b.saved.x, 'f32', 'block inputs');
      saved.set(b, { ...saved.get(first)!, x });
      inner(b).forEach((layer, i) => saved.set(layer, saved.get(inner(first)[i])!));
    } else {
      const x = plan.tensor('activations', b.saved.x, 'f32', workingSet ? blockLabel : 'block inputs');
      saved.set(b, { x, ...lay(b, blockLabel, ['x']) });
      for (const layer of inner(b)) saved.set(layer, lay(layer, blockLabel));
    }
  });
  saved.set(spec.lnf, lay(spec.lnf, 'ln_f'));
  const head = spec.lmHead;
  saved.set(head, lay(head, head.chunkRows > 0 ? `LM head (chunks of ${head.saved.logits[0]} rows)` : 'LM head logits'));
  return saved;
}

// bf16/fp16: the blocks' layers are all bound to one fp32 working set (block 0's
// shapes), except the fp32 statistics, which each block keeps. Each block keeps in 16
// bits its input and (recompute none) the rest of what it saves.
function planSavedHalf(plan: MemoryPlan, spec: GPTSpec, recompute: Recompute, format: HalfFormat) {
  const saved = planSaved(plan, spec, recompute, true);
  const inner = (b: BlockSpec): LayerSpec[] => [b.ln1, b.attn, b.ln2, b.mlp];
  const working = saved.get(spec.blocks[0])!;
  const workingInner = inner(spec.blocks[0]).map((layer) => saved.get(layer)!);
  const label = recompute === 'none' ? `saved by ${spec.blocks.length} blocks` : 'block inputs';
  const keep = (work: F32): StoredActivation => ({ work, stored: plan.tensor('activations', work.shape, format as DType, label) });
  const stored = spec.blocks.slice(0, -1).map((b) => {
    const input = keep(working.x);
    const rest: StoredActivation[] = [];
    if (recompute === 'none') {
      for (const [k, work] of Object.entries(working)) if (k !== 'x') rest.push(keep(work));
      inner(b).forEach((layer, i) => {
        const own: Record<string, F32> = {};
        for (const [k, work] of Object.entries(workingInner[i])) {
          if (FP32_SAVED.has(k)) {
            own[k] = plan.tensor('activations', work.shape, 'f32', label);
          } else {
            own[k] = work;
            rest.push(keep(work));
          }
        }
        saved.set(layer, own);
      });
    }
    return { input, rest };
  });
  // the last block's layers stay bound to the working set, statistics included
  return { saved, stored };
}

// rows [0, R) of each: a batch smaller than the capacity keeps only what it wrote
export function storedRows(a: StoredActivation, R: number): { work: F32; stored: Tensor } {
  return { work: rows(a.work, R), stored: rows(a.stored, R) };
}
