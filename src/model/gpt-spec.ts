// The GPT-2 architecture as a list of layer declarations, in forward order:
// embedding, nLayer blocks (ln_1, attn, ln_2, mlp), ln_f, the LM head tied to wte.
// The parameter layout, the memory plan, the dropout sites and the float64 test
// reference all read this.
import type { GPTConfig } from './config.ts';
import type { LayerSpec } from './layer.ts';
import { embeddingSpec, type EmbeddingSpec } from './embedding.ts';
import { blockSpec, type BlockSpec } from './block.ts';
import { layernormSpec, type LayerNormSpec } from './layernorm.ts';
import { lmHeadSpec, type LMHeadSpec } from './lm-head.ts';

export interface GPTSpec {
  embedding: EmbeddingSpec;
  blocks: BlockSpec[];
  lnf: LayerNormSpec;
  lmHead: LMHeadSpec;
}

// For B sequences of up to blockSize tokens (dropout's rate plays no part in the shapes).
export function gptSpec(c: Omit<GPTConfig, 'dropout'>, B: number): GPTSpec {
  const T = c.blockSize;
  return {
    embedding: embeddingSpec(c.vocabSize, T, c.nEmbd),
    blocks: Array.from({ length: c.nLayer }, (_, l) => blockSpec(l, c, B, T)),
    lnf: layernormSpec('ln_f', c.nEmbd, B * T, c.bias),
    lmHead: lmHeadSpec(c.vocabSize, B * T),
  };
}

// Every layer, in forward order (a block, then its layers).
export function layersOf(s: GPTSpec): LayerSpec[] {
  return [s.embedding, ...s.blocks.flatMap((b) => [b, b.ln1, b.attn, b.ln2, b.mlp]), s.lnf, s.lmHead];
}

// Every dropout site, in forward order: site i's masks are keyed by i.
export function dropoutSites(s: GPTSpec): string[] {
  return layersOf(s).flatMap((l) => Object.values(l.dropout));
}

// Bytes a training run of this shape needs at the least (parameters, gradients and AdamW
// moments of the weight matrices, and the activations each block saves), by arithmetic
// alone: a size that cannot fit in wasm32's 4 GiB is refused before any layer is built.
export function minimumTrainingBytes(c: Omit<GPTConfig, 'dropout'>, B: number): number {
  const C = c.nEmbd;
  const weights = c.vocabSize * C + c.blockSize * C + c.nLayer * 12 * C * C;
  const saved = c.nLayer * B * c.blockSize * 16 * C; // x, ln_1, qkv, attention out, resid2, ln_2, MLP pre and post
  return 4 * (4 * weights + saved);
}
