// Everything a training run is configured by, with defaults readable at a glance.
// The defaults train a small GPT with the GPT-2 tokenizer (vocabulary compacted to the
// ids the corpus uses) on the bundled State of the Union corpus in 1.5-2.5 minutes on two
// cores: a 25k-entry LM head makes a step ~4x a char-level step, hence 120 steps.
import { availableParallelism } from 'node:os';
import type { KernelBuild } from '../engine/wasm.ts';
import { isTokenizerKind, TOKENIZER_KINDS, type TokenizerKind } from '../data/tokenizer.ts';
import { CLEAN_MODES, isCleanMode, type CleanMode } from '../data/clean.ts';

export interface TrainConfig {
  // data
  data: string[]; // files, directories or glob patterns; empty = the bundled State of the Union corpus
  tokenizer: TokenizerKind; // gpt2 BPE (js-tiktoken) or char (code points of the training text)
  compactVocab: boolean; // gpt2: only the ids the corpus uses (plus EOT and byte tokens), renumbered densely
  clean: CleanMode; // none | normalize | collapse
  cacheDir: string | null; // token cache directory; null = no cache
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
  threads: number; // main thread + threads - 1 workers
}

export const defaultTrainConfig: TrainConfig = {
  data: [],
  tokenizer: 'gpt2',
  compactVocab: true,
  clean: 'normalize',
  cacheDir: '.wasmgpt-cache',
  valFraction: 0.1,

  nLayer: 4,
  nHead: 4,
  nEmbd: 128,
  blockSize: 64,
  dropout: 0.0,
  bias: true,

  batchSize: 12,
  gradAccum: 1,
  maxIters: 120,
  lr: 1e-3,
  minLr: 1e-4,
  warmupIters: 20,
  lrDecayIters: 120,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  gradClip: 1.0,

  evalInterval: 60,
  evalIters: 10,
  seed: 1337,
  outDir: 'out',
  logFile: null,
  sampleTokens: 100,
  temperature: 0.8,
  topK: 200,
  prompt: '\n',
  kernels: 'auto',
  threads: availableParallelism(),
};

// Names as on the command line, so an error points at the option to change.
const optionName: Record<string, string> = {
  nLayer: '--n-layer', nHead: '--n-head', nEmbd: '--n-embd', blockSize: '--block-size', batchSize: '--batch-size',
  gradAccum: '--grad-accum', maxIters: '--max-iters', warmupIters: '--warmup-iters', lrDecayIters: '--lr-decay-iters',
  evalInterval: '--eval-interval', evalIters: '--eval-iters', sampleTokens: '--sample-tokens', topK: '--top-k',
  lr: '--lr', minLr: '--min-lr', weightDecay: '--weight-decay', beta1: '--beta1', beta2: '--beta2', gradClip: '--grad-clip',
  dropout: '--dropout', threads: '--threads', valFraction: '--val-fraction', compactVocab: '--compact-vocab', cacheDir: '--cache-dir', temperature: '--temperature', seed: '--seed',
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
  const positiveInts: (keyof TrainConfig)[] = ['threads', 'nLayer', 'nHead', 'nEmbd', 'blockSize', 'batchSize', 'gradAccum', 'evalInterval', 'evalIters'];
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
  if (!isTokenizerKind(c.tokenizer)) fail('tokenizer', `one of ${TOKENIZER_KINDS.join(', ')}`);
  if (typeof c.compactVocab !== 'boolean') fail('compactVocab', 'true or false');
  if (!isCleanMode(c.clean)) fail('clean', `one of ${CLEAN_MODES.join(', ')}`);
  if (c.cacheDir !== null && (typeof c.cacheDir !== 'string' || c.cacheDir === '')) fail('cacheDir', 'a directory path (or null for no cache)');
  if (!Array.isArray(c.data) || !c.data.every((p) => typeof p === 'string' && p !== '')) fail('data', 'a list of files, directories or glob patterns');
}
