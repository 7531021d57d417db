// Convergence and text quality: whole training runs through the library's train(), each
// with a JSON-lines log, then what they reached.
//   recipe   nanoGPT's CPU recipe on Tiny Shakespeare (char tokens, 4x4x128, block 64,
//            2000 steps), read from ../shared/corpora/tinyshakespeare.txt beside the repo
//            (--shakespeare elsewhere); skipped, saying why, when the file is not there
//   default  train() with no options but where it writes (the bundled corpus, GPT-2 tokens)
// Per run: the evaluations (DIR/<run>.csv: step, tokens, train_loss, val_loss,
// train_seconds = the summed time of the training steps before that evaluation), the
// training time to the first evaluation with val loss <= 2.0, the final val loss and its
// perplexity, bits per byte of the final checkpoint over the whole val split (as the
// `eval` subcommand scores it), wall time, tok/s, and numbers on the final sample's words
// (bench/text-quality.ts). The loss curves go to DIR/convergence.svg through
// `train.ts plot` when that command exists.
//   npx tsx bench/convergence.ts [--runs recipe,default] [--precision fp32|bf16|fp16]
//     [--out-dir bench-results/convergence] [--json FILE] [--shakespeare FILE] [--quick]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { train, prepareData, tokensHash } from '../src/train/trainer.ts';
import { resolveTrainConfig, type TrainConfig } from '../src/train/config.ts';
import { loadModel, scoreTokens } from '../src/train/inference.ts';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import { PRECISIONS, type Precision } from '../src/model/buffers.ts';
import type { Tokenizer } from '../src/data/tokenizer.ts';
import type { TokenArray } from '../src/data/dataset.ts';
import { textQuality, wordSet, type TextQuality } from './text-quality.ts';

const root = resolve(import.meta.dirname, '..');
const RUNS = ['recipe', 'default'] as const;
type RunName = (typeof RUNS)[number];
const VAL_TARGET = 2.0;
// --quick scores only this many val tokens for bits per byte
const QUICK_BPB_TOKENS = 2048;

const args = yargs(hideBin(process.argv))
  .options({
    runs: { type: 'string', default: RUNS.join(','), describe: 'comma-separated runs: recipe, default' },
    precision: { type: 'string', choices: PRECISIONS as unknown as string[], default: 'fp32', describe: 'passed to train()' },
    'out-dir': { type: 'string', default: 'bench-results/convergence', describe: 'logs, CSVs, checkpoints (<run>/) and the plot' },
    json: { type: 'string', describe: 'write the results as JSON here' },
    shakespeare: { type: 'string', default: resolve(root, '../shared/corpora/tinyshakespeare.txt'), describe: 'Tiny Shakespeare for the recipe' },
    quick: { type: 'boolean', default: false, describe: 'smoke test: tiny models, a few steps (the figures mean nothing)' },
  })
  .strict()
  .parseSync();

const runs = args.runs.split(',').map((s) => s.trim()).filter((s) => s !== '');
for (const r of runs) if (!(RUNS as readonly string[]).includes(r)) throw new Error(`--runs: unknown run ${r} (use ${RUNS.join(', ')})`);
const outDir = resolve(args['out-dir']);
mkdirSync(outDir, { recursive: true });
const precision = args.precision as Precision;
const quick = args.quick;

// The recipe, exactly (the README's command line, in train()'s camelCase)
const RECIPE: Partial<TrainConfig> = {
  tokenizer: 'char', nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, batchSize: 12, dropout: 0, lr: 1e-3, minLr: 1e-4,
  maxIters: 2000, lrDecayIters: 2000, warmupIters: 100, beta2: 0.99, weightDecay: 0.1, gradClip: 1.0, evalInterval: 250, evalIters: 20,
};
// --quick: every run shrunk to seconds
const QUICK: Partial<TrainConfig> = {
  nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 16, batchSize: 4, maxIters: 8, lrDecayIters: 8, warmupIters: 2,
  evalInterval: 4, evalIters: 2, sampleTokens: 60, threads: 1,
};

function runOptions(name: RunName): Partial<TrainConfig> | { skip: string } {
  const where = { outDir: join(outDir, name), logFile: join(outDir, `${name}.jsonl`) };
  const extra: Partial<TrainConfig> = { ...(precision !== 'fp32' ? { precision } : {}), ...(quick ? QUICK : {}) };
  if (name === 'default') return { ...extra, ...where };
  const file = resolve(args.shakespeare);
  if (!existsSync(file)) return { skip: `${file} is not there (put Tiny Shakespeare there, or give --shakespeare FILE)` };
  return { ...RECIPE, data: [file], ...extra, ...where };
}

interface EvalRow { step: number; tokens: number; train_loss: number; val_loss: number; train_seconds: number }

// The run's evaluations from its log, each with the tokens trained on and the summed time of
// the training steps before it.
function evalsFromLog(logFile: string, tokensPerStep: number): EvalRow[] {
  const records = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, number | string>);
  const rows: EvalRow[] = [];
  let ms = 0;
  for (const r of records) {
    if (r.type === 'step') ms += r.ms as number;
    else if (r.type === 'eval') {
      rows.push({ step: r.step as number, tokens: (r.step as number) * tokensPerStep, train_loss: r.train_loss as number, val_loss: r.val_loss as number, train_seconds: ms / 1000 });
    }
  }
  return rows;
}

function csv(rows: EvalRow[]): string {
  const cols = ['step', 'tokens', 'train_loss', 'val_loss', 'train_seconds'] as const;
  return [cols.join(','), ...rows.map((r) => cols.map((c) => String(r[c])).join(','))].join('\n') + '\n';
}

interface BitsPerByte { bits_per_byte: number; loss: number; tokens: number; bytes: number; stride: number; seconds: number }

// Bits per byte of the checkpoint in `dir` on the val tokens, the way `train.ts eval` scores
// them: windows of the block size, half a block apart, every token after the first scored
// once; the summed loss in bits over the UTF-8 bytes of the scored tokens' text.
async function bitsPerByte(dir: string, val: TokenArray, dataHash: string, threads: number): Promise<BitsPerByte> {
  const t0 = performance.now();
  const loaded = loadModel(dir);
  if (loaded.state?.dataHash !== dataHash) throw new Error(`${dir}: the checkpoint was not trained on this data`);
  const T = loaded.config.blockSize;
  const stride = Math.max(1, Math.floor(T / 2));
  const tokens = Uint32Array.from(quick ? val.subarray(0, QUICK_BPB_TOKENS) : val);
  const engine = await Engine.create({ threads });
  try {
    const model = new GPT(engine, loaded.config, 8, { optimizer: false, lmHeadChunk: 256 });
    model.params().set(loaded.params);
    const score = scoreTokens(model, tokens, stride);
    const bytes = Buffer.byteLength(loaded.tokenizer.decode(tokens.subarray(1)), 'utf8');
    return {
      bits_per_byte: (score.loss * score.tokens) / Math.LN2 / bytes, loss: score.loss, tokens: score.tokens, bytes, stride,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await engine.dispose();
  }
}

// The words of the training split: decoded a document at a time (a GPT-2 end-of-text
// token would decode as the text <|endoftext|>).
function trainingWords(tokenizer: Tokenizer, train: TokenArray): Set<string> {
  const set = new Set<string>();
  let start = 0;
  const eot = tokenizer.kind === 'gpt2' ? tokenizer.eotToken : -1;
  for (let i = 0; i <= train.length; i++) {
    if (i === train.length || train[i] === eot) {
      if (i > start) for (const w of wordSet(tokenizer.decode(train.subarray(start, i)))) set.add(w);
      start = i + 1;
    }
  }
  return set;
}

const fmt = (x: number | null, digits = 4) => (x === null ? 'n/a' : x.toFixed(digits));
const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version };
console.log(`convergence: runs ${runs.join(', ')}, precision ${precision}, out ${outDir}; ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
if (quick) console.log('--quick: tiny models and a few steps, to test this script: the figures below mean nothing');

const results: Partial<Record<RunName, Record<string, unknown>>> = {};
const skipped: Partial<Record<RunName, string>> = {};
const logs: string[] = [];
for (const name of runs as RunName[]) {
  const options = runOptions(name);
  if ('skip' in options) {
    skipped[name] = options.skip;
    console.log(`${name}: skipped: ${options.skip}`);
    continue;
  }
  const config = resolveTrainConfig(options);
  console.log(`${name}: training (log ${config.logFile}, checkpoint ${config.outDir})`);
  const t0 = performance.now();
  const result = await train(options, { onLog: (line) => console.log(`  [${name}] ${line.replace(/\n/g, `\n  [${name}] `)}`) });
  const wallS = (performance.now() - t0) / 1000;
  if (result.interrupted) throw new Error(`${name}: the run was interrupted`);
  logs.push(config.logFile!);

  const evals = evalsFromLog(config.logFile!, config.batchSize * config.blockSize * config.gradAccum);
  writeFileSync(join(outDir, `${name}.csv`), csv(evals));
  const final = evals.at(-1)!;
  const reached = evals.find((e) => e.val_loss <= VAL_TARGET);

  // the data again (from the token cache when there is one) for the val and train text
  const data = prepareData(config);
  const bpb = await bitsPerByte(config.outDir, data.split.val, tokensHash(data.split), config.threads);
  const sample = result.sample.replaceAll('<|endoftext|>', '\n');
  const quality: TextQuality = textQuality(sample, trainingWords(data.tokenizer, data.split.train));

  results[name] = {
    evals,
    final_val_loss: final.val_loss,
    perplexity: Math.exp(final.val_loss),
    bits_per_byte: bpb.bits_per_byte,
    seconds_to_val_2: reached ? reached.train_seconds : null,
    wall_s: wallS,
    tok_per_s: result.tokPerS,
    sample: result.sample,
    quality,
    steps: result.steps,
    precision,
    bits_per_byte_detail: { ...bpb, partial: quick },
    log: config.logFile,
    csv: join(outDir, `${name}.csv`),
    checkpoint: config.outDir,
  };
  console.log(`${name}: final val loss ${final.val_loss.toFixed(4)} (perplexity ${Math.exp(final.val_loss).toFixed(2)}) at step ${final.step}; ` +
    `val <= ${VAL_TARGET}: ${reached ? `${reached.train_seconds.toFixed(1)} s of training (step ${reached.step})` : 'not reached'}; ` +
    `${result.tokPerS.toFixed(0)} tok/s (median step); wall ${wallS.toFixed(1)} s`);
  console.log(`${name}: bits per byte ${bpb.bits_per_byte.toFixed(4)} of the final checkpoint on ${quick ? `the first ${QUICK_BPB_TOKENS} tokens of ` : ''}the val split ` +
    `(loss ${bpb.loss.toFixed(4)} over ${bpb.tokens} tokens, ${bpb.bytes} bytes; stride ${bpb.stride}; ${bpb.seconds.toFixed(1)} s)`);
  console.log(`${name}: sample quality: ${quality.words} words, ${pct(quality.real_word_share)} in the training text, ` +
    `top word ${quality.top_word === null ? 'n/a' : JSON.stringify(quality.top_word)} ${pct(quality.top_word_share)}, ${quality.immediate_repeats} immediate repeats`);
  for (const e of evals) console.log(`  ${name} step ${e.step}: val ${fmt(e.val_loss)}, train ${fmt(e.train_loss)}, ${e.train_seconds.toFixed(1)} s`);
}

// The plot, by the CLI's plot subcommand (another piece of work): skipped when it is missing.
let plot: string | null = null;
let plotSkipped: string | null = null;
if (logs.length === 0) {
  plotSkipped = 'no run';
} else {
  const svg = join(outDir, 'convergence.svg');
  const p = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', 'plot', ...logs, '--out', svg], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (p.status === 0 && existsSync(svg)) plot = svg;
  else {
    const why = (p.error?.message ?? (p.stderr || p.stdout || '').trim().split('\n').at(-1)) || `exit code ${p.status}`;
    plotSkipped = `train.ts plot failed (${why})`;
  }
}
console.log(plot ? `plot: ${plot}` : `plot skipped: ${plotSkipped}`);

if (args.json) {
  const json = { machine, precision, quick, runs: results, skipped, plot, plot_skipped: plotSkipped };
  mkdirSync(dirname(resolve(args.json)), { recursive: true });
  writeFileSync(args.json, JSON.stringify(json, null, 2) + '\n');
  console.log(`results: ${args.json}`);
}
