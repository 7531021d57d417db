// AdamW over the model's flat buffers: two kernel calls per step (decayed and
// non-decayed groups), plus a global gradient norm from fixed-size chunks.
import type { GPT } from '../model/gpt.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number; // decoupled, on 2-D weights only
}

// Chunk of the gradient norm: partial sums per chunk are added in index order,
// so the norm does not depend on how chunks are split across threads.
const NORM_CHUNK = 16384;
const ADAMW_GRAIN = 1024;

export class AdamW {
  readonly m: number; // first moments, the parameters' layout
  readonly v: number; // second moments
  private readonly partials: number; // f64 per norm chunk
  private readonly chunks: number;
  t = 0; // steps taken

  constructor(private readonly model: GPT, readonly config: AdamWConfig) {
    const arena = model.engine.arena;
    const n = model.layout.total;
    this.m = arena.alloc(n * 4);
    this.v = arena.alloc(n * 4);
    this.chunks = Math.ceil(n / NORM_CHUNK);
    this.partials = arena.alloc(this.chunks * 8, 8);
    this.moments().m.fill(0);
    this.moments().v.fill(0);
  }

  moments(): { m: Float32Array; v: Float32Array } {
    const n = this.model.layout.total;
    return { m: this.model.engine.f32(this.m, n), v: this.model.engine.f32(this.v, n) };
  }

  // L2 norm of all gradients (NaN/Infinity when any gradient is non-finite)
  gradNorm(): number {
    const n = this.model.layout.total;
    this.model.engine.run('sumSquaresChunks', [this.partials, this.model.buffers.grads, n, NORM_CHUNK], 0, this.chunks);
    const parts = this.model.engine.f64(this.partials, this.chunks);
    let sum = 0;
    for (let i = 0; i < this.chunks; i++) sum += parts[i];
    return Math.sqrt(sum);
  }

  // One update with every gradient multiplied by gradScale first (clipping).
  step(lr: number, gradScale = 1): void {
    this.t += 1;
    const { beta1, beta2, eps, weightDecay } = this.config;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    const { engine } = this.model;
    const { params, grads } = this.model.buffers;
    const { total, decayed } = this.model.layout;
    const common = [params, grads, this.m, this.v, lr, beta1, beta2, eps];
    engine.run('adamw', [...common, weightDecay, gradScale, bc1, bc2], 0, decayed, ADAMW_GRAIN);
    engine.run('adamw', [...common, 0, gradScale, bc1, bc2], decayed, total, ADAMW_GRAIN);
  }
}
