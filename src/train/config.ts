// Everything a training run is configured by, with defaults readable at a glance.
// The defaults train a small character-level GPT on the bundled State of the
// Union corpus in about two minutes on two cores.
import type { KernelBuild } from '../engine/wasm.ts';

export interface TrainConfig {
  // data
  data: string[]; // files or directories; empty = the bundled State of the Union corpus
  tokenizer: 'char';
  valFraction: number;
  // model
  nLayer: number;
  nHead: number;
  nEmbd: number;
  blockSize: number;
  dropout: number;
  bias: boolean;
  // optimization
  batchSize: number;
  gradAccum: number; // micro-batches per optimizer step
  maxIters: number;
  lr: number;
  minLr: number;
  warmupIters: number;
  lrDecayIters: number; // cosine reaches minLr here
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number; // 0 = off
  // evaluation, sampling, output
  evalInterval: number;
  evalIters: number; // batches per split per evaluation
  seed: number;
  outDir: string;
  logFile: string | null;
  sampleTokens: number;
  temperature: number;
  topK: number;
  prompt: string;
  kernels: KernelBuild | 'auto';
}

export const defaultTrainConfig: TrainConfig = {
  data: [],
  tokenizer: 'char',
  valFraction: 0.1,

  nLayer: 4,
  nHead: 4,
  nEmbd: 128,
  blockSize: 64,
  dropout: 0.0,
  bias: true,

  batchSize: 12,
  gradAccum: 1,
  maxIters: 500,
  lr: 1e-3,
  minLr: 1e-4,
  warmupIters: 50,
  lrDecayIters: 500,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  gradClip: 1.0,

  evalInterval: 250,
  evalIters: 20,
  seed: 1337,
  outDir: 'out',
  logFile: null,
  sampleTokens: 300,
  temperature: 0.8,
  topK: 200,
  prompt: '\n',
  kernels: 'auto',
};

// Names as on the command line, so an error points at the option to change.
const optionName: Record<string, string> = {
  nLayer: '--n-layer', nHead: '--n-head', nEmbd: '--n-embd', blockSize: '--block-size', batchSize: '--batch-size',
  gradAccum: '--grad-accum', maxIters: '--max-iters', warmupIters: '--warmup-iters', lrDecayIters: '--lr-decay-iters',
  evalInterval: '--eval-interval', evalIters: '--eval-iters', sampleTokens: '--sample-tokens', topK: '--top-k',
  lr: '--lr', minLr: '--min-lr', weightDecay: '--weight-decay', beta1: '--beta1', beta2: '--beta2', gradClip: '--grad-clip',
  dropout: '--dropout', valFraction: '--val-fraction', temperature: '--temperature', seed: '--seed',
};

export function cliName(key: keyof TrainConfig): string {
  return optionName[key] ?? `--${key}`;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

// Throws a ConfigError naming the first invalid option and what it must be.
export function validateTrainConfig(c: TrainConfig): void {
  const fail = (key: keyof TrainConfig, must: string) => {
    throw new ConfigError(`invalid ${cliName(key)} ${JSON.stringify(c[key])}: must be ${must}`);
  };
  const positiveInts: (keyof TrainConfig)[] = ['nLayer', 'nHead', 'nEmbd', 'blockSize', 'batchSize', 'gradAccum', 'evalInterval', 'evalIters'];
  for (const key of positiveInts) {
    const v = c[key] as number;
    if (!Number.isInteger(v) || v < 1) fail(key, 'a positive integer');
  }
  const nonNegativeInts: (keyof TrainConfig)[] = ['maxIters', 'warmupIters', 'lrDecayIters', 'sampleTokens', 'topK'];
  for (const key of nonNegativeInts) {
    const v = c[key] as number;
    if (!Number.isInteger(v) || v < 0) fail(key, 'a non-negative integer');
  }
  if (!Number.isInteger(c.seed)) fail('seed', 'an integer');
  if (c.nEmbd % c.nHead !== 0) fail('nEmbd', `a multiple of --n-head (${c.nHead})`);
  if (!(c.lr > 0 && Number.isFinite(c.lr))) fail('lr', 'a positive number');
  if (!(c.minLr >= 0 && c.minLr <= c.lr)) fail('minLr', `between 0 and --lr (${c.lr})`);
  if (!(c.weightDecay >= 0 && Number.isFinite(c.weightDecay))) fail('weightDecay', 'a non-negative number');
  if (!(c.beta1 >= 0 && c.beta1 < 1)) fail('beta1', 'in [0, 1)');
  if (!(c.beta2 >= 0 && c.beta2 < 1)) fail('beta2', 'in [0, 1)');
  if (!(c.gradClip >= 0 && Number.isFinite(c.gradClip))) fail('gradClip', 'a non-negative number (0 turns clipping off)');
  if (!(c.dropout >= 0 && c.dropout < 1)) fail('dropout', 'in [0, 1)');
  if (!(c.valFraction > 0 && c.valFraction < 1)) fail('valFraction', 'in (0, 1)');
  if (!(c.temperature > 0 && Number.isFinite(c.temperature))) fail('temperature', 'a positive number');
  if (c.tokenizer !== 'char') fail('tokenizer', '"char"');
}
