// Weight initialization schemes. Every scheme draws the 2-D weights (embeddings and
// Linear weights) from a normal distribution, one parameter after another in layout
// order from one seeded generator; biases start at 0 and LayerNorm gains at 1.
//   gpt2    N(0, 0.02), the residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 nLayer))
//           as in GPT-2 and nanoGPT (the default)
//   xavier  Glorot normal, gain 1: std = sqrt(2 / (fan_in + fan_out))
//   kaiming He normal, fan-in mode, gain sqrt(2): std = sqrt(2 / fan_in)
//   normal  N(0, std) for every weight (--init-std)
// A weight of shape [out, in] (PyTorch's Linear; an embedding [V, C] alike) has fan_in = in
// and fan_out = out.
import { Rng } from '../engine/random.ts';
import type { ParamSpec } from './parameters.ts';

export const INIT_SCHEMES = ['gpt2', 'xavier', 'kaiming', 'normal'] as const;
export type InitScheme = (typeof INIT_SCHEMES)[number];

export interface InitOptions {
  scheme: InitScheme;
  std: number; // for 'normal'
}

export const DEFAULT_INIT: InitOptions = { scheme: 'gpt2', std: 0.02 };

// The standard deviation scheme o gives weight s of a model with nLayer blocks.
export function initStd(s: Pick<ParamSpec, 'shape' | 'init'>, nLayer: number, o: InitOptions): number {
  const [fanOut, fanIn] = s.shape;
  switch (o.scheme) {
    case 'gpt2': return s.init === 'residual' ? 0.02 / Math.sqrt(2 * nLayer) : 0.02;
    case 'xavier': return Math.sqrt(2 / (fanIn + fanOut));
    case 'kaiming': return Math.sqrt(2 / fanIn);
    case 'normal': return o.std;
  }
}

// Fills each parameter's values (value(spec) is its view) in layout order.
export function initialize(specs: readonly ParamSpec[], value: (s: ParamSpec) => Float32Array, nLayer: number, seed: number, o: InitOptions): void {
  const rng = new Rng(seed);
  for (const s of specs) {
    const v = value(s);
    if (s.init === 'ones') v.fill(1);
    else if (s.init === 'zeros') v.fill(0);
    else {
      const std = initStd(s, nLayer, o);
      for (let i = 0; i < v.length; i++) v[i] = rng.normal() * std;
    }
  }
}
