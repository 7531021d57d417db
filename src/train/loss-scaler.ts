// Dynamic loss scaling for fp16 training, with the semantics of PyTorch's GradScaler:
// the loss gradient is multiplied by the scale so small gradients survive fp16; a step
// whose gradients overflowed (any inf or NaN) is skipped and the scale backs off; after
// growthInterval clean steps in a row it grows.
import { TrainingError } from './errors.ts';

export interface LossScalerConfig {
  initScale: number; // a power of two
  growthInterval: number; // clean steps before the scale grows
  growthFactor: number; // > 1
  backoffFactor: number; // in (0, 1)
}

// What a checkpoint carries to resume with the same scale.
export interface LossScalerState {
  scale: number;
  cleanSteps: number; // clean steps since the scale last changed (PyTorch's growth tracker)
  skipped: number; // steps skipped so far in the run
}

export class LossScaler {
  scale: number;
  cleanSteps = 0;
  skipped = 0;

  constructor(readonly config: LossScalerConfig) {
    this.scale = config.initScale;
  }

  // After a step's gradients were checked: overflow = some were not finite (the step was
  // skipped). Throws when the scale would fall below 1: every step overflowing at any
  // scale means the gradients are not finite at all.
  update(overflow: boolean, step: number): void {
    if (overflow) {
      this.skipped += 1;
      this.cleanSteps = 0;
      const next = this.scale * this.config.backoffFactor;
      if (next < 1) {
        throw new TrainingError(`fp16 gradients overflowed at step ${step} with the loss scale at ${this.scale}; it would fall below 1 ` +
          `(${this.skipped} steps skipped): the gradients are not finite at any scale (lower --lr, or use --precision bf16: fp16 holds no value above 65504)`);
      }
      this.scale = next;
    } else if (++this.cleanSteps >= this.config.growthInterval) {
      this.scale *= this.config.growthFactor;
      this.cleanSteps = 0;
    }
  }

  get state(): LossScalerState {
    return { scale: this.scale, cleanSteps: this.cleanSteps, skipped: this.skipped };
  }

  set state(s: LossScalerState) {
    this.scale = s.scale;
    this.cleanSteps = s.cleanSteps;
    this.skipped = s.skipped;
  }
}
