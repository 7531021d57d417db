// Model configuration, GPT-2 layout: token + learned position embedding,
// pre-LayerNorm blocks, causal multi-head attention, an MLP (GELU, 4x, as GPT-2; or
// SwiGLU), final LayerNorm, LM head tied to the token embedding. Defaults are the
// trainer's (src/train/config.ts).
import { ConfigError } from '../errors.ts';

export const ACTIVATIONS = ['gelu', 'swiglu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface GPTConfig {
  /** set from the tokenizer */
  vocabSize: number;
  /** longest context (rows of the position embedding) */
  blockSize: number;
  nLayer: number;
  nHead: number;
  /** must divide by nHead */
  nEmbd: number;
  /** on embeddings, attention probabilities and both residual branches */
  dropout: number;
  /** biases in Linear and LayerNorm layers */
  bias: boolean;
  /** the MLP's (default gelu) */
  activation?: Activation;
  /** the MLP's hidden width (default: defaultMlpHidden) */
  mlpHidden?: number;
}

// GELU: 4 n_embd (GPT-2). SwiGLU has three matrices, not two: 8/3 n_embd, rounded up to
// a multiple of 64, keeps its parameter count close to the GELU MLP's.
export function defaultMlpHidden(activation: Activation, nEmbd: number): number {
  return activation === 'swiglu' ? Math.ceil((8 / 3) * nEmbd / 64) * 64 : 4 * nEmbd;
}

export function activationOf(c: Pick<GPTConfig, 'activation'>): Activation {
  return c.activation ?? 'gelu';
}

export function mlpHiddenOf(c: Pick<GPTConfig, 'activation' | 'mlpHidden' | 'nEmbd'>): number {
  return c.mlpHidden ?? defaultMlpHidden(activationOf(c), c.nEmbd);
}

// The MLP's parameters per block (weights and biases).
export function mlpParameterCount(activation: Activation, nEmbd: number, hidden: number, bias: boolean): number {
  const matrices = activation === 'swiglu' ? 3 : 2;
  const biases = bias ? (matrices - 1) * hidden + nEmbd : 0;
  return matrices * nEmbd * hidden + biases;
}

export function validateGPTConfig(c: GPTConfig): void {
  const positive: (keyof GPTConfig)[] = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'];
  for (const key of positive) {
    const v = c[key] as number;
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${key} must be a positive integer, got ${v}`);
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new ConfigError(`n_embd (${c.nEmbd}) must be a multiple of n_head (${c.nHead})`);
  }
  if (!ACTIVATIONS.includes(activationOf(c))) throw new ConfigError(`activation must be one of ${ACTIVATIONS.join(', ')}, got ${c.activation}`);
  const hidden = mlpHiddenOf(c);
  if (!Number.isInteger(hidden) || hidden < 1) throw new ConfigError(`mlpHidden must be a positive integer, got ${hidden}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ConfigError(`dropout must be in [0, 1), got ${c.dropout}`);
}
