// The benchmark configs of the reference figures (GPT-2 layout, AdamW):
// S = nanoGPT's CPU recipe, M = "baby GPT" with a small batch, L = GPT-2 small.
// No biases, as in the PyTorch reference benchmark (nanoGPT's bias=False).
import type { GPTConfig } from '../src/model/config.ts';

export interface BenchConfig {
  model: GPTConfig;
  batchSize: number;
}

export const benchConfigs: Record<'S' | 'M' | 'L', BenchConfig> = {
  S: { model: { vocabSize: 65, nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, dropout: 0, bias: false }, batchSize: 12 },
  M: { model: { vocabSize: 65, nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, dropout: 0, bias: false }, batchSize: 8 },
  L: { model: { vocabSize: 50257, nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 64, dropout: 0, bias: false }, batchSize: 4 },
};
