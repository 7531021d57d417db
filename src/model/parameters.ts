// Where every parameter lives in the one flat buffer (gradients and optimizer
// moments share the layout). Weight-decayed tensors (2-D: embeddings and Linear
// weights) come first and contiguously, so AdamW is one call per decay group.
import type { GPTConfig } from './config.ts';

export type InitKind = 'normal' | 'residual' | 'ones' | 'zeros';

export interface ParamSpec {
  name: string; // Hugging Face GPT-2 names
  shape: number[];
  offset: number; // in elements from the start of the flat buffer
  size: number;
  decay: boolean;
  init: InitKind;
}

export interface ParameterLayout {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  total: number; // elements
  decayed: number; // elements [0, decayed) are weight-decayed
}

export function parameterLayout(c: GPTConfig): ParameterLayout {
  const C = c.nEmbd;
  const decayed: Omit<ParamSpec, 'offset' | 'size'>[] = [
    { name: 'wte', shape: [c.vocabSize, C], decay: true, init: 'normal' },
    { name: 'wpe', shape: [c.blockSize, C], decay: true, init: 'normal' },
  ];
  const other: Omit<ParamSpec, 'offset' | 'size'>[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}.`;
    decayed.push(
      { name: p + 'attn.c_attn.weight', shape: [3 * C, C], decay: true, init: 'normal' },
      { name: p + 'attn.c_proj.weight', shape: [C, C], decay: true, init: 'residual' },
      { name: p + 'mlp.c_fc.weight', shape: [4 * C, C], decay: true, init: 'normal' },
      { name: p + 'mlp.c_proj.weight', shape: [C, 4 * C], decay: true, init: 'residual' },
    );
    other.push(
      { name: p + 'ln_1.weight', shape: [C], decay: false, init: 'ones' },
      { name: p + 'ln_2.weight', shape: [C], decay: false, init: 'ones' },
    );
    if (c.bias) {
      other.push(
        { name: p + 'ln_1.bias', shape: [C], decay: false, init: 'zeros' },
        { name: p + 'attn.c_attn.bias', shape: [3 * C], decay: false, init: 'zeros' },
        { name: p + 'attn.c_proj.bias', shape: [C], decay: false, init: 'zeros' },
        { name: p + 'ln_2.bias', shape: [C], decay: false, init: 'zeros' },
        { name: p + 'mlp.c_fc.bias', shape: [4 * C], decay: false, init: 'zeros' },
        { name: p + 'mlp.c_proj.bias', shape: [C], decay: false, init: 'zeros' },
      );
    }
  }
  other.push({ name: 'ln_f.weight', shape: [C], decay: false, init: 'ones' });
  if (c.bias) other.push({ name: 'ln_f.bias', shape: [C], decay: false, init: 'zeros' });

  const specs: ParamSpec[] = [];
  let offset = 0;
  // every tensor starts 16-element aligned (aligned SIMD loads); the padding
  // stays zero in parameters and gradients alike
  const place = (s: Omit<ParamSpec, 'offset' | 'size'>) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    specs.push({ ...s, offset, size });
    offset += Math.ceil(size / 16) * 16;
  };
  decayed.forEach(place);
  const decayedEnd = offset;
  other.forEach(place);
  const byName = new Map(specs.map((s) => [s.name, s]));
  return { specs, byName, total: offset, decayed: decayedEnd };
}
