// Model configuration, GPT-2 layout: token + learned position embedding,
// pre-LayerNorm blocks, causal multi-head attention, GELU MLP (4x), final
// LayerNorm, LM head tied to the token embedding. Defaults are the trainer's
// (src/train/config.ts).

export interface GPTConfig {
  vocabSize: number; // set from the tokenizer
  blockSize: number; // longest context (rows of the position embedding)
  nLayer: number;
  nHead: number;
  nEmbd: number; // must divide by nHead
  dropout: number; // on embeddings, attention probabilities and both residual branches
  bias: boolean; // biases in Linear and LayerNorm layers
}

export function validateGPTConfig(c: GPTConfig): void {
  const positive: (keyof GPTConfig)[] = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'];
  for (const key of positive) {
    const v = c[key] as number;
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${key} must be a positive integer, got ${v}`);
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new RangeError(`n_embd (${c.nEmbd}) must be a multiple of n_head (${c.nHead})`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new RangeError(`dropout must be in [0, 1), got ${c.dropout}`);
}
