// What every op needs: the dispatcher, each thread's scratch region, and the scratch
// each kernel family planned for itself. Ops (src/ops/<family>.ts, named like
// assembly/<family>.ts) are the only code that calls kernels.
import type { Engine } from '../engine/engine.ts';
import type { MemoryPlan } from '../engine/arena.ts';
import { bytesOf, elementsFor } from '../engine/tensor.ts';
import type { Dispatch, ThreadScratch } from '../engine/kernel-table.ts';
import { planMatmul, matmulThreadScratchBytes, type MatmulScratch } from './matmul.ts';
import { planLayernorm, type LayernormScratch } from './layernorm.ts';
import { attentionThreadScratchBytes } from './attention.ts';

export interface OpContext {
  readonly run: Dispatch;
  readonly memory: WebAssembly.Memory; // for views of results (a norm's partial sums)
  readonly threadScratch: ThreadScratch; // matmul and attention take turns in it
  readonly matmul: MatmulScratch;
  readonly layernorm: LayernormScratch;
}

// Split granularity of elementwise kernels, in elements.
export const GRAIN_ELEMENTS = 64;

// The largest shapes the ops will see: rows = batch x sequence, C channels.
export interface OpSizes {
  rows: number;
  channels: number;
  seqLen: number;
  headSize: number;
}

export function planOps(plan: MemoryPlan, engine: Engine, sizes: OpSizes): OpContext {
  const k = engine.kernels;
  const perThread = Math.max(matmulThreadScratchBytes(engine.kernelSets), attentionThreadScratchBytes(k, sizes.seqLen, sizes.headSize));
  const floats = Math.ceil(elementsFor('f32', perThread) / 16) * 16; // each thread's region cache-line aligned
  const scratch = plan.tensor('scratch', [engine.threads, floats], 'f32');
  return {
    run: (name, fixed, start, end, grain, s, variant) => engine.run(name, fixed, start, end, grain, s, variant),
    memory: engine.memory,
    threadScratch: { base: scratch.offset, stride: bytesOf('f32', floats) },
    matmul: planMatmul(plan, engine.kernelSets, (c) => engine.variantOf(engine.tiling.tiles[c])),
    layernorm: planLayernorm(plan, sizes.rows, sizes.channels),
  };
}
