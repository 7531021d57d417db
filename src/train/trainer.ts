// The training loop, top to bottom: data -> model -> (forward, backward, clip,
// AdamW) x maxIters with periodic evaluation -> checkpoint -> sample.
import { createHash } from 'node:crypto';
import { Engine } from '../engine/engine.ts';
import { buildSupported } from '../engine/wasm.ts';
import { describeTiling, tileSummary } from '../engine/tune.ts';
import { formatBytes, WASM32_LIMIT, type MemoryPlan } from '../engine/arena.ts';
import { Rng } from '../engine/random.ts';
import { GPT, type GPTOptions } from '../model/gpt.ts';
import { defaultMlpHidden, mlpParameterCount, type GPTConfig } from '../model/config.ts';
import { buildDataset, type Dataset } from '../data/pipeline.ts';
import { BatchSampler, type TokenArray } from '../data/dataset.ts';
import type { Tokenizer } from '../data/tokenizer.ts';
import { resolveTrainConfig, validateTrainConfig, resumeMismatch, cliName, showOptionValue, ConfigError, type TrainConfig } from './config.ts';
import { learningRate } from './schedule.ts';
import { AdamW } from './optimizer.ts';
import { newTrainState, trainStep, optimizerTouched, restore, type StepResult } from './state.ts';
import { LossScaler } from './loss-scaler.ts';
import { RunLog, median } from './log.ts';
import { prepareOutDir, checkLogPath } from './outputs.ts';
import { sourcePaths, stderrWarn } from '../data/corpus.ts';
import { minimumTrainingBytes } from '../model/gpt-spec.ts';
import { availableParallelism } from 'node:os';
import { saveCheckpoint, hasCheckpoint, loadCheckpoint, loadCheckpointState, type CheckpointState } from './checkpoint.ts';
import { WorkerError } from '../engine/pool.ts';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { sweepLearningRate, sweepCsv, sweepSvg, sweepTerminalPlot, type LrSweep } from './lr-finder.ts';
import { Worker } from 'node:worker_threads';
import { tokenizerFromDescription, type TokenizerDescription } from '../data/tokenizer.ts';
import { TrainingError, errorFromThread } from './errors.ts';
import type { ParameterLayout } from '../model/parameters.ts';
import { generate } from './sample.ts';
import { Decoder } from '../model/decoder.ts';
import { readHfGpt2, copyHfWeights, GPT2_VOCAB_SIZE, type HfModel } from '../interop/hf-gpt2.ts';
import { etaSeconds, isLogStep, stepLine, type StepProgress } from './progress.ts';

// Steps left out of the throughput median: wasm tier-up and cache warm-up.
export const THROUGHPUT_WARMUP_STEPS = 3;

export { TrainingError };

/** A line of a run's text output: what the command line prints (`info`), or a `warning: ...`. */
export type LogLevel = 'info' | 'warning';

/** One evaluation: the mean loss of --eval-iters batches of each split, and where the run stands. */
export interface EvalProgress {
  step: number;
  trainLoss: number;
  valLoss: number;
  /** Tokens trained on so far (steps x batch x block x grad-accum). */
  tokens: number;
  /** Seconds since the run started. */
  elapsedS: number;
  /** The training thread's process resident set, and the wasm arena's allocated bytes, now. */
  rssBytes: number;
  arenaBytes: number;
}

/**
 * How `train()` and `findLearningRate()` report. Nothing is printed unless asked: every hook
 * is optional, and the run goes on in a thread of its own whichever are given.
 */
export interface TrainHooks {
  /** Aborting it saves a checkpoint after the current step; the run then resolves with `interrupted: true`. */
  signal?: AbortSignal;
  /** Every optimizer step, as data. Given, steps are not sent to onLog as text. */
  onStep?: (step: StepProgress) => void;
  /** Every evaluation, as data (it also reaches onLog as a line). */
  onEval?: (evaluation: EvalProgress) => void;
  /**
   * The run's text, line by line: what the command line prints (the data and model summary,
   * step lines every `logInterval` steps unless `quiet` or onStep is given, evaluations, the
   * checkpoint, the sample, the summary) and warnings (level `warning`).
   */
  onLog?: (line: string, level: LogLevel) => void;
}

/** What `train()` takes: the command line's options by their camelCase names, plus `text`. */
export type TrainOptions = Partial<TrainConfig> & {
  /**
   * Train on this text instead of files (one string = one document; an array = documents in
   * order, separated by the end-of-text token). Leave `data` empty when it is given.
   */
  text?: string | string[];
};

// What only the command line's terminal view uses (src/train/console.ts).
export interface ViewHooks extends TrainHooks {
  stepsOver?: () => void; // the step loop is over: a live progress line can be left as it is
  stderrIsTTY?: boolean; // the tokenizing progress bar is drawn on a terminal only
  writeStderr?: (text: string) => void; // the tokenizing progress, raw (without it: its lines go to onLog)
}

export type { StepProgress };

// What a run returns (from its own thread: plain data).
export interface RunResult {
  steps: number;
  evals: { step: number; trainLoss: number; valLoss: number }[];
  tokPerS: number;
  wallS: number;
  peakArenaBytes: number;
  peakRssBytes: number;
  interrupted: boolean;
  checkpoint: string | null;
  sample: string;
  /** the final weights, flat in the layout's order */
  params: Float32Array;
  layout: ParameterLayout;
  /** the build it ran on */
  kernels: string;
  tokenizer: TokenizerDescription;
  /** find-lr, or --find-lr-first */
  lrSweep: LrSweep | null;
}

export interface TrainResult extends Omit<RunResult, 'tokenizer'> {
  tokenizer: Tokenizer;
}

// How a run talks to whoever started it.
export interface RunIO {
  print: (line: string) => void;
  warn?: (line: string) => void; // `warning:` lines (default: stderr)
  // every optimizer step; without it the run prints the plain step lines itself (every
  // --log-interval steps, none with --quiet)
  progress?: (p: StepProgress) => void;
  stepsOver?: () => void; // no more progress: the step loop is done (or was interrupted)
  evaluated?: (e: EvalProgress) => void; // after every evaluation
  aborted: () => boolean; // checked after every step: save a checkpoint and stop
  // where the tokenizing progress goes, and whether that is a terminal (default: this thread's stderr)
  stderr?: { isTTY: boolean; write: (text: string) => void };
}

/** Tokenizer, train/val split, counts, the summary lines and the log's `data` record (src/data/pipeline.ts). */
export type PreparedData = Dataset;

export function prepareData(config: TrainConfig, warn?: (line: string) => void, texts: string[] | null = null, stderr?: RunIO['stderr']): PreparedData {
  const { data, tokenizer, compactVocab, clean, cacheDir, valFraction, blockSize } = config;
  return buildDataset({ data, texts, tokenizer, compactVocab, clean, cacheDir, valFraction, blockSize, warn, stderrIsTTY: stderr?.isTTY, progressStream: stderr });
}

// The options without `text`, and `text` as documents (null when not given); a bad `text` or
// one given with `data` is refused.
export function splitTextOption(options: TrainOptions): { config: TrainConfig; texts: string[] | null } {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new ConfigError('train options must be an object, such as { maxIters: 100 }');
  const { text, ...rest } = options;
  const config = resolveTrainConfig(rest);
  validateTrainConfig(config);
  if (text === undefined) return { config, texts: null };
  const texts = typeof text === 'string' ? [text] : text;
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
    throw new ConfigError('invalid text: must be a string or a non-empty array of strings (the documents to train on)');
  }
  if (config.data.length > 0) throw new ConfigError('give either data (files) or text (in memory), not both');
  return { config, texts };
}

export function modelConfigFor(config: TrainConfig, vocabSize: number): GPTConfig {
  const { blockSize, nLayer, nHead, nEmbd, dropout, bias, activation, mlpHidden } = config;
  return { vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, activation, mlpHidden };
}

// How the model lays out its memory for training (the options of the Memory group).
export function modelOptionsFor(config: Pick<TrainConfig, 'recompute' | 'lmHeadChunk' | 'precision'>): GPTOptions {
  return { recompute: config.recompute, lmHeadChunk: config.lmHeadChunk, precision: config.precision };
}

// The memory plan before anything is allocated; a plan over the wasm32 limit is refused,
// naming the memory options that would make it fit when there are some.
export function checkMemoryPlan(engine: Engine, modelConfig: GPTConfig, batchSize: number, options: GPTOptions = {}): MemoryPlan {
  const plan = GPT.plan(engine, modelConfig, batchSize, options);
  if (plan.end <= WASM32_LIMIT) return plan;
  const tries: { flags: string; options: GPTOptions }[] = [];
  const recompute = options.recompute ?? 'none';
  const chunk = options.lmHeadChunk ?? 0;
  const chunkTry = Math.min(256, batchSize * modelConfig.blockSize);
  if (recompute === 'none') tries.push({ flags: '--recompute blocks', options: { ...options, recompute: 'blocks' } });
  if (chunk === 0) tries.push({ flags: `--lm-head-chunk ${chunkTry}`, options: { ...options, lmHeadChunk: chunkTry } });
  if (recompute === 'none' && chunk === 0) tries.push({ flags: `--recompute blocks --lm-head-chunk ${chunkTry}`, options: { ...options, recompute: 'blocks', lmHeadChunk: chunkTry } });
  // options that keep the results as they are come first; 16-bit storage changes them
  if ((options.precision ?? 'fp32') === 'fp32') {
    const exact = [...tries];
    tries.push({ flags: '--precision bf16', options: { ...options, precision: 'bf16' } });
    for (const t of exact) tries.push({ flags: `${t.flags} --precision bf16`, options: { ...t.options, precision: 'bf16' } });
  }
  const fit = tries.map((t) => ({ ...t, plan: GPT.plan(engine, modelConfig, batchSize, t.options) })).find((t) => t.plan.end <= WASM32_LIMIT);
  const fix = fit ? `${fit.flags} makes it fit (${formatBytes(fit.plan.total)}), or use` : 'use';
  throw new ConfigError(
    `memory plan needs ${formatBytes(plan.total)}, over the 4 GiB wasm32 limit ` +
    `(parameters ${formatBytes(plan.bytes.parameters)}, activations ${formatBytes(plan.bytes.activations)}): ` +
    `${fix} a smaller --batch-size, --block-size, --n-embd or --n-layer`,
  );
}

// --init-from: the file's model shape becomes the run's (the file is read once, here); a
// GPT-2 vocabulary needs the GPT-2 tokenizer, whole.
function pretrainedModel(config: TrainConfig, print: (line: string) => void): HfModel {
  const hf = readHfGpt2(config.initFrom!, config.nHead);
  const c = hf.config;
  if (c.vocabSize !== GPT2_VOCAB_SIZE) {
    throw new ConfigError(`--init-from ${config.initFrom}: vocab_size ${c.vocabSize}; only GPT-2's vocabulary (${GPT2_VOCAB_SIZE}) can be fine-tuned from (our char models continue with --resume)`);
  }
  if (config.tokenizer !== 'gpt2') throw new ConfigError(`--init-from ${config.initFrom}: a GPT-2 model needs --tokenizer gpt2`);
  if (config.blockSize > c.blockSize) throw new ConfigError(`--block-size ${config.blockSize} is longer than the model's n_positions ${c.blockSize} (--init-from ${config.initFrom})`);
  if (config.compactVocab) {
    config.compactVocab = false;
    print(`note: --init-from: the GPT-2 tokenizer keeps all ${GPT2_VOCAB_SIZE} ids (--compact-vocab is off for a pretrained model)`);
  }
  if (config.activation !== 'gelu') throw new ConfigError(`--init-from ${config.initFrom}: a GPT-2 model has a gelu MLP, not --activation ${config.activation}`);
  Object.assign(config, { nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, mlpHidden: c.mlpHidden, bias: true });
  print(`init from ${hf.file} (shape from ${hf.source}): ${c.nLayer} layers, ${c.nHead} heads, n_embd ${c.nEmbd}, n_positions ${c.blockSize}, vocab ${c.vocabSize}`);
  return hf;
}

// SHA-256 of the parameters' fp32 bytes: equal hashes = bitwise-equal weights.
export function paramsHash(params: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest('hex');
}

// The checkpoint a --resume continues: it must exist and share the options that define
// the model, the data and the optimizer.
function resumableState(config: TrainConfig): CheckpointState {
  const saved = loadCheckpointState(config.outDir);
  // a run that picked its --lr with the finder goes on with that rate
  if (config.findLrFirst && saved.trainConfig.findLrFirst) {
    config.lr = saved.trainConfig.lr as number;
    config.minLr = saved.trainConfig.minLr as number;
  }
  const diff = resumeMismatch(saved.trainConfig, config);
  if (diff) {
    throw new ConfigError(`--resume: ${cliName(diff.key)} is ${showOptionValue(diff.saved)} in the checkpoint in ${config.outDir}, ${showOptionValue(diff.now)} now ` +
      '(options that define the model, the data or the optimizer must match it)');
  }
  if (saved.step > config.maxIters) throw new ConfigError(`--resume: the checkpoint is at step ${saved.step}, past --max-iters ${config.maxIters}`);
  return saved;
}

// SHA-256 of the run's tokens: a resumed run must train on the same corpus.
export function tokensHash(split: { train: TokenArray; val: TokenArray }): string {
  const h = createHash('sha256');
  for (const t of [split.train, split.val]) h.update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength)).update('|');
  return h.digest('hex');
}

/**
 * Trains a GPT with the command line's options (`npx tsx train.ts --help` lists them; here
 * by their camelCase names, with the same defaults) and resolves with the result. The whole
 * run (data loading, tokenizing, training, evaluations, checkpoints, the sample) happens in
 * a thread of its own, so the caller's event loop keeps running. Nothing is printed: see
 * TrainHooks. Aborting `hooks.signal` saves a checkpoint after the current step and resolves
 * with `interrupted: true`. User mistakes reject with a WasmgptError (src/errors.ts).
 */
export async function train(options: TrainOptions = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  return runInThread(options, hooks, 'train');
}

/**
 * The learning-rate range test (the command line's find-lr): a sweep of real steps from
 * `startLr` to `endLr`, the curve written to `outDir` (lr-finder.csv, lr-finder.svg), and
 * the suggestions. The model is left exactly as it was; nothing else is written.
 */
export async function findLearningRate(options: TrainOptions = {}, hooks: TrainHooks = {}): Promise<LrSweep> {
  return (await runInThread(options, hooks, 'find-lr')).lrSweep!;
}

// A run in a training thread. The hooks are called on this thread, from the thread's
// messages; a hook that throws stops the run (after a checkpoint) and the run rejects with
// that error.
export async function runInThread(options: TrainOptions, hooks: ViewHooks, mode: RunMode): Promise<TrainResult> {
  splitTextOption(options); // a bad option fails here, before a thread starts
  const abort = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = () => Atomics.store(abort, 0, 1);
  if (hooks.signal?.aborted) onAbort();
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  let hookError: { error: unknown } | null = null;
  const call = (hook: () => void) => {
    if (hookError) return;
    try {
      hook();
    } catch (error) {
      hookError = { error };
      onAbort();
    }
  };
  const worker = new Worker(new URL('../engine/worker-boot.mjs', import.meta.url), {
    workerData: {
      entry: new URL('./train-thread', import.meta.url).href, options, mode, abort: abort.buffer,
      stepsAsData: hooks.onStep !== undefined, stderrIsTTY: hooks.stderrIsTTY ?? false,
    },
  });
  try {
    const result = await new Promise<RunResult>((resolve, reject) => {
      worker.on('message', (m: ThreadMessage) => {
        if (m.type === 'print') call(() => hooks.onLog?.(m.line, 'info'));
        else if (m.type === 'warn') call(() => hooks.onLog?.(m.line, 'warning'));
        else if (m.type === 'progress') call(() => hooks.onStep?.(m.progress));
        else if (m.type === 'eval') call(() => hooks.onEval?.(m.evaluation));
        else if (m.type === 'steps-over') call(() => hooks.stepsOver?.());
        else if (m.type === 'stderr') {
          if (hooks.writeStderr) call(() => hooks.writeStderr!(m.text));
          else for (const line of m.text.split('\n').map((l) => l.trim())) if (line) call(() => hooks.onLog?.(line, 'info'));
        }
        else if (m.type === 'done') resolve(m.result);
        else reject(errorFromThread(m));
      });
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`the training thread exited with code ${code} before it finished`)));
    });
    if (hookError) throw (hookError as { error: unknown }).error;
    return { ...result, tokenizer: tokenizerFromDescription(result.tokenizer) };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
  }
}

export type RunMode = 'train' | 'find-lr';

export type ThreadMessage =
  | { type: 'print'; line: string }
  | { type: 'warn'; line: string }
  | { type: 'progress'; progress: StepProgress }
  | { type: 'eval'; evaluation: EvalProgress }
  | { type: 'steps-over' }
  | { type: 'stderr'; text: string }
  | { type: 'done'; result: RunResult }
  | { type: 'error'; name: string; message: string; stack?: string; code?: string };

// The run itself, on the calling thread (train() calls it from a thread of its own).
// mode find-lr: the learning-rate sweep alone (the model is left as it was).
export async function runTraining(options: TrainOptions, io: RunIO, mode: RunMode = 'train'): Promise<RunResult> {
  const { config, texts } = splitTextOption(options);
  const print = io.print;
  const warn = io.warn ?? stderrWarn;
  // without a progress channel, the run prints its own step lines
  const progress = io.progress ?? ((p: StepProgress) => {
    if (!config.quiet && isLogStep(p, config.logInterval)) print(stepLine(p));
  });
  const started = performance.now();
  const pretrained = config.initFrom === null ? null : pretrainedModel(config, print);
  // sizes that cannot fit, and where the run writes, are checked before any data is read
  const half = config.precision !== 'fp32';
  const least = minimumTrainingBytes(modelConfigFor(config, 1), config.batchSize, config.recompute, half);
  if (least > WASM32_LIMIT) {
    const fits = (recompute: 'none' | 'blocks', h: boolean) => minimumTrainingBytes(modelConfigFor(config, 1), config.batchSize, recompute, h) <= WASM32_LIMIT;
    const tries = [
      config.recompute === 'none' && fits('blocks', half) ? '--recompute blocks' : null,
      !half && fits(config.recompute, true) ? '--precision bf16' : null,
      config.recompute === 'none' && !half && !fits('blocks', false) && !fits('none', true) && fits('blocks', true) ? '--recompute blocks --precision bf16' : null,
    ].filter((t) => t !== null);
    throw new ConfigError(`this model needs at least ${formatBytes(least)}, over the 4 GiB wasm32 limit: ` +
      `${tries.length ? `try ${tries.join(', or ')}, or ` : ''}use a smaller --n-layer, --n-embd, --block-size or --batch-size`);
  }
  if (config.threads > availableParallelism()) {
    warn(`warning: --threads ${config.threads} is more than this machine's ${availableParallelism()} cores: expect it to be slower, not faster`);
  }
  prepareOutDir(config.outDir);
  const resumed = config.resume ? resumableState(config) : null;
  if (config.logFile !== null) checkLogPath(config.logFile, texts ? [] : sourcePaths(config.data), config.overwrite);
  const log = new RunLog(config.logFile, resumed !== null); // a resumed run appends
  let disposeEngine = async () => {};
  try {
    // data
    const data = prepareData(config, warn, texts, io.stderr);
    const { tokenizer, split } = data;
    for (const line of data.summary) print(line);
    log.write(data.record);
    const dataHash = tokensHash(split);
    if (resumed && resumed.dataHash !== dataHash) {
      throw new ConfigError(`--resume: the corpus is not the one the checkpoint in ${config.outDir} was trained on (its tokens differ): use the same --data, or another --out-dir`);
    }

    // model and optimizer
    if (config.kernels === 'relaxed' && !buildSupported('relaxed')) {
      throw new ConfigError(`--kernels relaxed: this runtime (Node ${process.version}) has no relaxed SIMD; use --kernels auto or simd`);
    }
    const engine = await Engine.create({ kernels: config.kernels, threads: config.threads, tile: config.kernelsTune === 'on' ? 'auto' : 'off' });
    disposeEngine = () => engine.dispose();
    const modelConfig = modelConfigFor(config, tokenizer.vocabSize);
    const plan = checkMemoryPlan(engine, modelConfig, config.batchSize, modelOptionsFor(config));
    const model = new GPT(engine, modelConfig, config.batchSize, modelOptionsFor(config));
    model.init(config.seed, { scheme: config.init, std: config.initStd });
    if (pretrained && !resumed) copyHfWeights(pretrained, model.layout, model.params(), config.blockSize, config.nEmbd);
    const optimizer = new AdamW(model, { beta1: config.beta1, beta2: config.beta2, eps: 1e-8, weightDecay: config.weightDecay });
    print(`model: ${config.nLayer} layers, ${config.nHead} heads, n_embd ${config.nEmbd}, block ${config.blockSize}, ` +
      `${(model.numParams / 1e6).toFixed(2)}M parameters; kernels: ${engine.build} (${describeTiling(engine.tiling)}); threads: ${engine.threads}`);
    if (config.activation === 'swiglu') {
      const gelu = defaultMlpHidden('gelu', config.nEmbd);
      print(`mlp: swiglu, hidden ${config.mlpHidden}: ${mlpParameterCount('swiglu', config.nEmbd, config.mlpHidden, config.bias).toLocaleString('en-US')} parameters per block ` +
        `(a gelu MLP of hidden ${gelu}: ${mlpParameterCount('gelu', config.nEmbd, gelu, config.bias).toLocaleString('en-US')})`);
    }
    print(plan.describe());

    const B = config.batchSize;
    const T = config.blockSize;
    const scaler = config.precision === 'fp16' ? new LossScaler({
      initScale: config.lossScale, growthInterval: config.scaleGrowthInterval, growthFactor: config.scaleGrowth, backoffFactor: config.scaleBackoff,
    }) : null;
    const state = newTrainState(model, optimizer, {
      tokens: split.train, batchSize: B, blockSize: T, gradAccum: config.gradAccum, gradClip: config.gradClip, seed: config.seed, scaler,
    });
    if (resumed) {
      const saved = loadCheckpoint(config.outDir, model.layout);
      restore(state, { ...saved.state, params: saved.params, m: saved.m, v: saved.v, scaler: saved.state.lossScaler });
      print(`resumed from ${config.outDir} at step ${state.step}${scaler ? `, loss scale ${scaler.scale}` : ''}`);
    }
    if (scaler) print(`fp16 loss scaling: scale ${scaler.scale}, x${config.scaleGrowth} after ${config.scaleGrowthInterval} clean steps, x${config.scaleBackoff} on overflow (the step is skipped)`);

    // the learning-rate sweep: alone (find-lr), or to pick --lr before training
    let lrSweep: LrSweep | null = null;
    if (mode === 'find-lr' || (config.findLrFirst && !resumed)) {
      const t0 = performance.now();
      lrSweep = sweepLearningRate(state, { startLr: config.startLr, endLr: config.endLr, steps: config.sweepSteps });
      const seconds = (performance.now() - t0) / 1000;
      writeFileSync(join(config.outDir, 'lr-finder.csv'), sweepCsv(lrSweep));
      writeFileSync(join(config.outDir, 'lr-finder.svg'), sweepSvg(lrSweep));
      print(`lr finder: ${lrSweep.points.length} steps in ${seconds.toFixed(1)} s, ${lrSweep.stopped}; curve in ${join(config.outDir, 'lr-finder.csv')} and lr-finder.svg`);
      print(sweepTerminalPlot(lrSweep));
      log.write({ type: 'lr_finder', steepest: lrSweep.steepest, min_over_10: lrSweep.minOver10, stopped: lrSweep.stopped, points: lrSweep.points.length, seconds });
      if (lrSweep.steepest === null) {
        print(`no suggested lr: ${lrSweep.explanation}`);
        if (mode === 'train') throw new TrainingError(`--find-lr-first: ${lrSweep.explanation}`);
      } else {
        print(`suggested lr: ${lrSweep.steepest.toExponential(2)} (${lrSweep.explanation}: ${lrSweep.minOver10!.toExponential(2)})`);
      }
      if (mode === 'find-lr') {
        return {
          steps: 0, evals: [], tokPerS: 0, wallS: (performance.now() - started) / 1000, peakArenaBytes: engine.arena.peakBytes,
          peakRssBytes: process.resourceUsage().maxRSS * 1024, interrupted: false, checkpoint: null, sample: '',
          params: model.params().slice(), layout: model.layout, kernels: engine.build, tokenizer: tokenizer.describe(), lrSweep,
        };
      }
      config.lr = lrSweep.steepest!;
      config.minLr = Math.min(config.minLr, config.lr / 10);
      print(`training with --lr ${config.lr.toExponential(2)} (--min-lr ${config.minLr.toExponential(2)})`);
    }
    const evaluate = (tokens: TokenArray, seed: number): number => {
      // the same batches at every evaluation, so evaluations compare like with like
      const batches = new BatchSampler(tokens, B, T, seed);
      let sum = 0;
      for (let i = 0; i < config.evalIters; i++) {
        batches.next(state.x, state.y);
        sum += model.forward(state.x, state.y, B, T, { train: false });
      }
      return sum / config.evalIters;
    };

    // checkpoints: every --save-interval steps, at the end, on an interrupt, on a divergence
    // or worker error (the state before the failed step), and the best validation in best/
    let lastVal: number | null = resumed?.valLoss ?? null;
    let bestVal = resumed && hasCheckpoint(join(config.outDir, 'best')) ? loadCheckpointState(join(config.outDir, 'best')).valLoss ?? Infinity : Infinity;
    const save = (dir: string, at: Pick<CheckpointState, 'step' | 'batches' | 'dropout'> = {
      step: state.step, batches: state.batches.getState(), dropout: model.dropout,
    }): string => saveCheckpoint(dir, model.layout, {
      state: {
        ...at, adamSteps: optimizer.t, modelConfig, trainConfig: { ...config }, tokenizer: tokenizer.describe(), kernels: engine.build, valLoss: lastVal, dataHash,
        lossScaler: scaler?.state ?? null,
      },
      params: model.params(), ...optimizer.moments(),
    });
    if (!resumed && mode === 'train' && hasCheckpoint(config.outDir)) {
      print(`note: ${config.outDir} holds a checkpoint (step ${loadCheckpointState(config.outDir).step}); this run replaces it at its first save`);
    }

    const evals: TrainResult['evals'] = [];
    const stepMs: number[] = [];
    const tokensPerStep = B * T * config.gradAccum;
    // for the ETA: wall time of this run's steps (checkpoints included) and of its evaluations
    let stepWallS = 0;
    let evalS = 0;
    let evalsTimed = 0;
    let interrupted = false;
    let checkpoint = '';
    for (;;) {
      const step = state.step;
      if (step % config.evalInterval === 0 || step === config.maxIters) {
        const e0 = performance.now();
        const trainLoss = evaluate(split.train, config.seed + 1);
        const valLoss = evaluate(split.val, config.seed + 2);
        evalS += (performance.now() - e0) / 1000;
        evalsTimed++;
        evals.push({ step, trainLoss, valLoss });
        // memory and progress with each evaluation: the process's resident set now, and the
        // arena's allocated bytes now (usedBytes: the committed memory plan plus any scratch
        // taken at this moment; peakBytes, the most ever, is in the done record)
        const at = { rssBytes: process.memoryUsage().rss, arenaBytes: engine.arena.usedBytes, elapsedS: (performance.now() - started) / 1000, tokens: step * tokensPerStep };
        log.write({
          type: 'eval', step, train_loss: trainLoss, val_loss: valLoss, rss_bytes: at.rssBytes, arena_bytes: at.arenaBytes,
          elapsed_s: at.elapsedS, tokens: at.tokens,
        });
        io.evaluated?.({ step, trainLoss, valLoss, ...at });
        print(`step ${step}: train loss ${trainLoss.toFixed(4)}, val loss ${valLoss.toFixed(4)}`);
        if (!Number.isFinite(valLoss)) throw new TrainingError(`validation loss is ${valLoss} at step ${step}: the weights are no longer finite (lower --lr)`);
        lastVal = valLoss;
        if (valLoss < bestVal && step > 0) {
          bestVal = valLoss;
          save(join(config.outDir, 'best'));
        }
      }
      if (step === config.maxIters) break;

      const lr = learningRate(step, config);
      const before = { step, batches: state.batches.getState(), dropout: model.dropout };
      const t0 = performance.now();
      let result: StepResult;
      try {
        result = trainStep(state, lr);
      } catch (e) {
        // failed before the update (forward, backward, norm), or fp16's scale gave out on a
        // skipped step: the weights are as they were
        if ((e instanceof WorkerError && !optimizerTouched(state, before.step)) || e instanceof TrainingError) {
          checkpoint = save(config.outDir, before);
          print(`checkpoint of step ${before.step} saved to ${checkpoint}`);
        }
        throw e;
      }
      const { loss, gradNorm, skipped, overflow, lossScale } = result;
      const ms = performance.now() - t0;
      if (skipped && !overflow) {
        checkpoint = save(config.outDir, before); // the step left the weights as they were
        print(`checkpoint of step ${step} (before the failed step) saved to ${checkpoint}`);
        if (!Number.isFinite(loss)) throw new TrainingError(`loss is ${loss} at step ${step}: training diverged (lower --lr, or raise --warmup-iters)`);
        throw new TrainingError(`gradient norm is ${gradNorm} at step ${step}: training diverged (lower --lr, or set --grad-clip)`);
      }
      stepMs.push(ms);

      const tokPerS = (tokensPerStep * 1000) / ms;
      const tokens = state.step * tokensPerStep;
      // grad_norm of a skipped (overflowed) step is not finite: JSON has no Infinity, so null
      log.write({ type: 'step', step, loss, lr, tok_per_s: tokPerS, ms, grad_norm: Number.isFinite(gradNorm) ? gradNorm : null, loss_scale: lossScale, skipped, tokens });
      if (state.step % config.saveInterval === 0 && state.step < config.maxIters) checkpoint = save(config.outDir);
      stepWallS += (performance.now() - t0) / 1000;
      progress({
        step, maxIters: config.maxIters, loss, lr, gradNorm, ms, tokPerS, tokens, elapsedS: (performance.now() - started) / 1000,
        etaS: etaSeconds({ done: state.step, maxIters: config.maxIters, evalInterval: config.evalInterval, stepS: stepWallS, stepsTimed: stepMs.length, evalS, evalsTimed }),
        fp16: scaler ? { lossScale: scaler.scale, skipped: scaler.skipped, overflow } : null,
      });
      if (io.aborted()) {
        interrupted = true;
        break;
      }
    }
    io.stepsOver?.();
    const step = state.step;
    checkpoint = save(config.outDir);
    print(`${interrupted ? 'interrupted at step ' + step + ': ' : ''}checkpoint saved to ${checkpoint}`);

    let sample = '';
    if (!interrupted && config.sampleTokens > 0) {
      const prompt = tokenizer.encode(config.prompt);
      const decoder = new Decoder(engine, modelConfig, { params: model.buffers.params, ops: model.buffers.ops });
      const ids = generate(decoder, prompt.length ? prompt : [0], {
        maxNewTokens: config.sampleTokens, temperature: config.temperature, topK: config.topK,
      }, new Rng(config.seed));
      sample = tokenizer.decode(ids);
      print('sample:\n' + sample);
    }

    const measured = stepMs.slice(THROUGHPUT_WARMUP_STEPS);
    const tokPerS = (B * T * config.gradAccum * 1000) / median(measured.length ? measured : stepMs);
    const wallS = (performance.now() - started) / 1000;
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    log.write({
      type: 'done', steps: stepMs.length, wall_s: wallS, tok_per_s: tokPerS, peak_arena_bytes: engine.arena.peakBytes,
      peak_rss_bytes: peakRssBytes, threads: engine.threads, warmup_steps: THROUGHPUT_WARMUP_STEPS, kernels: engine.build,
      matmul_tile: tileSummary(engine.tiling), matmul_tiles: engine.tiling.tiles, matmul_tile_how: engine.tiling.how,
      matmul_tile_gflops: engine.tiling.gflops,
      params_hash: paramsHash(model.params()),
      interrupted, precision: config.precision, ...(scaler ? { loss_scale: scaler.scale, skipped_steps: scaler.skipped } : {}), sample,
    });
    print(`done: ${stepMs.length} steps in ${wallS.toFixed(1)} s, ${stepMs.length ? `${Math.round(tokPerS)} tok/s (median step)` : 'no steps timed'}, ` +
      `peak arena ${formatBytes(engine.arena.peakBytes)}, peak RSS ${formatBytes(peakRssBytes)}` +
      (scaler ? `; fp16 loss scale ${scaler.scale}, ${scaler.skipped} steps skipped` : ''));
    return {
      steps: stepMs.length, evals, tokPerS, wallS, peakArenaBytes: engine.arena.peakBytes, peakRssBytes,
      interrupted, checkpoint, sample, params: model.params().slice(), layout: model.layout, kernels: engine.build, tokenizer: tokenizer.describe(), lrSweep,
    };
  } finally {
    log.close();
    await disposeEngine();
  }
}
