// Every buffer a GPT needs, for a capacity of B sequences of up to blockSize tokens.
// One function lays them all out, so the printed memory plan and the real
// allocation cannot disagree: it runs once with a counting allocator, once with the arena.
import type { GPTConfig } from './config.ts';
import type { ParameterLayout } from './parameters.ts';
import { NORM_CHUNK_ROWS } from './context.ts';

export type MemoryCategory = 'parameters' | 'gradients' | 'optimizer' | 'activations' | 'scratch';

// Returns the byte offset of `elements` 4-byte elements.
export type Allocate = (category: MemoryCategory, elements: number) => number;

export interface LayerBuffers {
  ln1Out: number; ln1Mean: number; ln1Rstd: number; // [R, C], [R], [R]
  qkv: number; // [R, 3C]
  lse: number; // [B, H, T] log-sum-exp of each attention row (backward recomputes the probabilities)
  attOut: number; // [R, C] attention output before c_proj
  resid2: number; // [R, C] residual stream after the attention branch
  ln2Out: number; ln2Mean: number; ln2Rstd: number;
  fcPre: number; // [R, 4C] before GELU
  fcAct: number; // [R, 4C] after GELU
}

export interface ModelBuffers {
  params: number;
  grads: number;
  residual: number[]; // nLayer + 1 buffers [R, C]: the input of each block, then the last output
  layers: LayerBuffers[];
  lnfOut: number; lnfMean: number; lnfRstd: number;
  logits: number; // [R, V]; overwritten by dlogits in backward
  losses: number; // [R]
  ids: number; // [R] i32
  targets: number; // [R] i32
  branch: number; // [R, C] a residual branch's output before it is added
  // activation gradients, reused by every layer
  dResidual: number; // [R, C]
  dBranch: number; // [R, C]
  dNorm: number; // [R, C]
  dAttOut: number; // [R, C]
  dWide: number; // [R, 4C] also holds dqkv [R, 3C]
  normPartials: number; // [ceil(R / NORM_CHUNK_ROWS), 2C] LayerNorm parameter-gradient partials
}

export function allocateModelBuffers(c: GPTConfig, layout: ParameterLayout, batchSize: number, alloc: Allocate): ModelBuffers {
  const R = batchSize * c.blockSize;
  const C = c.nEmbd;
  const act = (n: number) => alloc('activations', n);
  const params = alloc('parameters', layout.total);
  const grads = alloc('gradients', layout.total);
  const residual = [act(R * C)];
  const layers: LayerBuffers[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    layers.push({
      ln1Out: act(R * C), ln1Mean: act(R), ln1Rstd: act(R),
      qkv: act(R * 3 * C),
      lse: act(batchSize * c.nHead * c.blockSize),
      attOut: act(R * C),
      resid2: act(R * C),
      ln2Out: act(R * C), ln2Mean: act(R), ln2Rstd: act(R),
      fcPre: act(R * 4 * C),
      fcAct: act(R * 4 * C),
    });
    residual.push(act(R * C));
  }
  return {
    params, grads, residual, layers,
    lnfOut: act(R * C), lnfMean: act(R), lnfRstd: act(R),
    logits: act(R * c.vocabSize),
    losses: act(R),
    ids: act(R),
    targets: act(R),
    branch: act(R * C),
    dResidual: act(R * C),
    dBranch: act(R * C),
    dNorm: act(R * C),
    dAttOut: act(R * C),
    dWide: act(R * 4 * C),
    normPartials: alloc('scratch', Math.ceil(R / NORM_CHUNK_ROWS) * 2 * C),
  };
}

export type MemoryPlan = Record<MemoryCategory, number> & { total: number };

// Bytes per category, with the arena's 64-byte alignment; engineScratchBytes is the
// engine's own scratch (Engine.scratchBytes: per thread, plus gemm's shared packed B).
export function memoryPlan(c: GPTConfig, layout: ParameterLayout, batchSize: number, engineScratchBytes: number): MemoryPlan {
  const plan: MemoryPlan = { parameters: 0, gradients: 0, optimizer: 0, activations: 0, scratch: 0, total: 0 };
  const count: Allocate = (category, elements) => {
    const bytes = Math.ceil((elements * 4) / 64) * 64;
    plan[category] += bytes;
    plan.total += bytes;
    return 0;
  };
  allocateModelBuffers(c, layout, batchSize, count);
  count('scratch', Math.ceil(engineScratchBytes / 4));
  count('optimizer', layout.total); // AdamW first moment
  count('optimizer', layout.total); // AdamW second moment
  return plan;
}
