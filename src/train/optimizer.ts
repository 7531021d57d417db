// AdamW over the model's flat buffers: two updates per step (the weight-decayed
// tensors come first in the layout, then the rest), plus a global gradient norm.
import type { GPT } from '../model/gpt.ts';
import type { OptimizerBuffers } from '../model/buffers.ts';
import { slice } from '../engine/tensor.ts';
import { adamw, globalNorm } from '../ops/optimizer.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number; // decoupled, on 2-D weights only
}

export class AdamW {
  private readonly state: OptimizerBuffers;
  t = 0; // steps taken

  constructor(private readonly model: GPT, readonly config: AdamWConfig) {
    const state = model.buffers.optimizer;
    if (!state) throw new Error('this model was built without optimizer state (new GPT(..., { optimizer: false }))');
    this.state = state;
    const { m, v } = this.moments();
    m.fill(0);
    v.fill(0);
  }

  moments(): { m: Float32Array; v: Float32Array } {
    return { m: this.model.engine.view(this.state.m), v: this.model.engine.view(this.state.v) };
  }

  // L2 norm of all gradients (NaN/Infinity when any gradient is non-finite)
  gradNorm(): number {
    return globalNorm(this.model.buffers.ops, this.model.buffers.grads, this.state.normPartials);
  }

  // One update with every gradient multiplied by gradScale first (clipping).
  step(lr: number, gradScale = 1): void {
    this.t += 1;
    const { params, grads, ops } = this.model.buffers;
    const { m, v } = this.state;
    const { total, decayed } = this.model.layout;
    const group = (start: number, end: number) => {
      const part = (t: typeof params) => slice(t, start, [end - start]);
      return { params: part(params), grads: part(grads), m: part(m), v: part(v) };
    };
    const h = { lr, ...this.config, gradScale, t: this.t };
    adamw(ops, group(0, decayed), h);
    adamw(ops, group(decayed, total), { ...h, weightDecay: 0 });
  }
}
