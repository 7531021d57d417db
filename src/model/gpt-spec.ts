// The GPT-2 architecture as a list of layer declarations, in forward order:
// embedding, nLayer blocks (ln_1, attn, ln_2, mlp), ln_f, the LM head tied to wte.
// The parameter layout, the memory plan, the dropout sites and the float64 test
// reference all read this.
import { activationOf, mlpHiddenOf, type GPTConfig } from './config.ts';
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

// For B sequences of up to blockSize tokens (dropout's rate plays no part in the shapes);
// lmHeadChunk: rows per LM-head chunk, 0 = the whole head (lm-head.ts).
export function gptSpec(c: Omit<GPTConfig, 'dropout'>, B: number, lmHeadChunk = 0): GPTSpec {
  const T = c.blockSize;
  return {
    embedding: embeddingSpec(c.vocabSize, T, c.nEmbd),
    blocks: Array.from({ length: c.nLayer }, (_, l) => blockSpec(l, c, B, T)),
    lnf: layernormSpec('ln_f', c.nEmbd, B * T, c.bias),
    lmHead: lmHeadSpec(c.vocabSize, B * T, lmHeadChunk),
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
// moments of the weight matrices, and the activations the blocks save: every block's,
// or with recompute 'blocks' each block's input and one block's), by arithmetic alone:
// a size that cannot fit in wasm32's 4 GiB is refused before any layer is built.
// half: bf16/fp16 training (buffers.ts).
export function minimumTrainingBytes(c: Omit<GPTConfig, 'dropout'>, B: number, recompute: 'none' | 'blocks' = 'none', half = false): number {
  const C = c.nEmbd;
  const H = mlpHiddenOf(c);
  const mlpMatrices = activationOf(c) === 'swiglu' ? 3 : 2;
  const weights = c.vocabSize * C + c.blockSize * C + c.nLayer * (4 * C * C + mlpMatrices * C * H);
  // x, ln_1, qkv, attention out, resid2, ln_2 (8C), and the MLP's hidden layers (2 or 3 of H)
  const perBlock = B * c.blockSize * (8 * C + (mlpMatrices === 3 ? 3 : 2) * H);
  const saved = recompute === 'blocks' ? c.nLayer * B * c.blockSize * C + perBlock : c.nLayer * perBlock;
  if (!half) return 4 * (4 * weights + saved);
  // bf16/fp16: a 16-bit copy of the weights; what the blocks save in 16 bits, plus one
  // block's fp32 working set
  return 4 * 4 * weights + 2 * weights + 2 * saved + 4 * perBlock;
}
