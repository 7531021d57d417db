// Where every parameter lives in the one flat buffer (gradients and optimizer moments
// share the layout), derived from the layers' declarations (gpt-spec.ts). Order:
// the weight-decayed tensors first (2-D: embeddings and Linear weights), in forward
// order, so AdamW is one call per decay group; then the rest, group by group (each
// block, then ln_f): gains before biases. Every tensor starts 16-element aligned
// (aligned SIMD loads); the padding stays zero in parameters and gradients alike.
// This order, padding and the init draw order (init walks this layout) are what
// checkpoints and params_hash rely on.
import type { GPTConfig } from './config.ts';
import { paramDecls, type InitKind, type ParamDecl } from './layer.ts';
import { gptSpec, type GPTSpec } from './gpt-spec.ts';

export type { InitKind };

export interface ParamSpec extends ParamDecl {
  offset: number; // in elements from the start of the flat buffer
  size: number;
}

export interface ParameterLayout {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  total: number; // elements
  decayed: number; // elements [0, decayed) are weight-decayed
}

const ALIGN_ELEMENTS = 16;

export function parameterLayout(c: GPTConfig): ParameterLayout {
  return layoutOf(gptSpec(c, 1));
}

export function layoutOf(s: GPTSpec): ParameterLayout {
  // groups in forward order: the embedding, each block's layers, ln_f (the LM head has none)
  const groups: ParamDecl[][] = [
    paramDecls(s.embedding),
    ...s.blocks.map((b) => [b, b.ln1, b.attn, b.ln2, b.mlp].flatMap(paramDecls)),
    paramDecls(s.lnf),
  ];
  const decayed = groups.flat().filter((p) => p.decay);
  const rest = groups.flatMap((g) => {
    const other = g.filter((p) => !p.decay);
    return [...other.filter((p) => p.init !== 'zeros'), ...other.filter((p) => p.init === 'zeros')];
  });
  const specs: ParamSpec[] = [];
  let offset = 0;
  const place = (p: ParamDecl) => {
    const size = p.shape.reduce((a, b) => a * b, 1);
    specs.push({ ...p, offset, size });
    offset += Math.ceil(size / ALIGN_ELEMENTS) * ALIGN_ELEMENTS;
  };
  decayed.forEach(place);
  const decayedEnd = offset;
  rest.forEach(place);
  const byName = new Map(specs.map((p) => [p.name, p]));
  if (byName.size !== specs.length) throw new Error('two parameters share a name');
  return { specs, byName, total: offset, decayed: decayedEnd };
}
