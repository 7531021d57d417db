// The `sample` and `eval` subcommands of train.ts: a trained model (one of our checkpoints
// or a Hugging Face GPT-2 file) generating text, and scoring held-out text.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import yargs, { type Options } from 'yargs';
import { Engine } from '../engine/engine.ts';
import { Rng } from '../engine/random.ts';
import { formatBytes } from '../engine/arena.ts';
import type { KernelBuild } from '../engine/wasm.ts';
import { GPT } from '../model/gpt.ts';
import { Decoder } from '../model/decoder.ts';
import { CharTokenizer } from '../data/tokenizer.ts';
import { loadCorpus } from '../data/corpus.ts';
import { ConfigError, resolveTrainConfig, OPTIONS, type TrainConfig } from './config.ts';
import { prepareData, tokensHash } from './trainer.ts';
import { generateTokens, SAMPLE_DEFAULTS } from './sample.ts';
import { loadModel, scoreTokens, type LoadedModel } from './inference.ts';
import { parsePlotArgs, COMMAND } from './cli-args.ts';
import { isOurPlot, lossPlotSvg, parseRunLog, type RunCurves } from './plot.ts';

// Options both commands take.
const COMMON: Record<string, Options> = {
  from: { type: 'string', demandOption: true, describe: 'a checkpoint directory (a run\'s --out-dir), or a Hugging Face GPT-2 model.safetensors or its directory' },
  threads: { type: 'number', default: OPTIONS.threads.default, describe: 'threads (the main thread + workers)' },
  kernels: { type: 'string', choices: ['auto', 'simd', 'relaxed'], default: 'auto', describe: 'wasm build' },
  'n-head': { type: 'number', default: 12, describe: 'attention heads of a Hugging Face file without config.json' },
};

function parse(name: string, usage: string, options: Record<string, Options>, input: readonly string[]): Record<string, unknown> {
  return yargs(input)
    .scriptName(`${COMMAND} ${name}`)
    .usage(usage)
    .options({ ...COMMON, ...options })
    .strict()
    .fail((message, error) => {
      if (error) throw error;
      throw new ConfigError(`${name}: ${message.replace(/\s*\n\s*/g, ' ')}`);
    })
    .help()
    .parseSync() as Record<string, unknown>;
}

function positive(name: string, v: unknown, integer = true): number {
  if (typeof v !== 'number' || !(v > 0) || (integer && !Number.isInteger(v)) || !Number.isFinite(v)) {
    throw new ConfigError(`invalid --${name} ${v}: must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return v;
}

async function engineFor(a: Record<string, unknown>): Promise<Engine> {
  return Engine.create({ threads: positive('threads', a.threads), kernels: a.kernels as KernelBuild | 'auto' });
}

// `train.ts sample`: stdout carries the prompt and the text the model continues it with,
// streamed as it comes; everything else goes to stderr.
export async function runSample(input: readonly string[]): Promise<void> {
  const a = parse('sample', `Generate text from a trained model.\n\nUsage: ${COMMAND} sample --from out/ --prompt "..." [options]`, {
    prompt: { type: 'string', describe: 'the text to continue (encoded as is)' },
    'prompt-file': { type: 'string', describe: 'read the prompt from this file' },
    'max-new-tokens': { type: 'number', default: SAMPLE_DEFAULTS.maxNewTokens, describe: 'tokens to generate per sample' },
    temperature: { type: 'number', default: SAMPLE_DEFAULTS.temperature, describe: 'sampling temperature (> 0)' },
    'top-k': { type: 'number', default: SAMPLE_DEFAULTS.topK, describe: 'sample from the k most likely tokens (0 = all; 1 = greedy)' },
    'top-p': { type: 'number', default: SAMPLE_DEFAULTS.topP, describe: 'nucleus: the fewest tokens whose probability reaches p (1 = off)' },
    seed: { type: 'number', default: SAMPLE_DEFAULTS.seed, describe: 'sample i uses seed + i' },
    'num-samples': { type: 'number', default: 1, describe: 'samples, separated by a line of dashes' },
  }, input);
  if (a.prompt !== undefined && a['prompt-file'] !== undefined) throw new ConfigError('sample: give --prompt or --prompt-file, not both');
  let prompt: string;
  if (a['prompt-file'] !== undefined) {
    try {
      prompt = readFileSync(a['prompt-file'] as string, 'utf8');
    } catch (e) {
      throw new ConfigError(`--prompt-file ${a['prompt-file']}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
  } else {
    prompt = (a.prompt as string | undefined) ?? '';
  }
  if (prompt === '') throw new ConfigError('sample: the prompt is empty: give --prompt TEXT or --prompt-file FILE');
  const maxNewTokens = a['max-new-tokens'] as number;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) throw new ConfigError(`invalid --max-new-tokens ${maxNewTokens}: must be a non-negative integer`);
  const temperature = positive('temperature', a.temperature, false);
  const topK = a['top-k'] as number;
  if (!(Number.isInteger(topK) && topK >= 0)) throw new ConfigError(`invalid --top-k ${topK}: must be a non-negative integer`);
  const topP = a['top-p'] as number;
  if (!(topP > 0 && topP <= 1)) throw new ConfigError(`invalid --top-p ${topP}: must be in (0, 1]`);
  const samples = positive('num-samples', a['num-samples']);
  const seed = a.seed as number;
  if (!Number.isInteger(seed)) throw new ConfigError(`invalid --seed ${seed}: must be an integer`);

  const loaded = loadModel(a.from as string, positive('n-head', a['n-head']));
  const { tokenizer } = loaded;
  process.stderr.write(`${loaded.describe}\n`);
  if (tokenizer instanceof CharTokenizer) tokenizer.unknownCount = 0;
  const ids = tokenizer.encode(prompt);
  if (tokenizer instanceof CharTokenizer && tokenizer.unknownCount > 0) {
    process.stderr.write(`note: ${tokenizer.unknownCount} character${tokenizer.unknownCount > 1 ? 's' : ''} of the prompt ${tokenizer.unknownCount > 1 ? 'are' : 'is'} not in the model's vocabulary: mapped to the unknown id 0\n`);
  }
  if (ids.length > loaded.config.blockSize) process.stderr.write(`note: the prompt has ${ids.length} tokens; the model sees its last ${loaded.config.blockSize} (block_size)\n`);
  const engine = await engineFor(a);
  try {
    const decoder = new Decoder(engine, loaded.config);
    decoder.params().set(loaded.params);
    for (let s = 0; s < samples; s++) {
      if (s > 0) process.stdout.write('\n---------------\n');
      process.stdout.write(prompt);
      const t0 = performance.now();
      const out: number[] = [];
      let shown = 0;
      for (const id of generateTokens(decoder, ids, { maxNewTokens, temperature, topK, topP }, new Rng(seed + s))) {
        out.push(id);
        // a token can end inside a multi-byte character: hold back a trailing U+FFFD until the next
        const text = tokenizer.decode(out);
        const end = text.endsWith('\uFFFD') ? text.length - 1 : text.length;
        if (end > shown) process.stdout.write(text.slice(shown, end));
        shown = Math.max(shown, end);
      }
      const text = tokenizer.decode(out);
      if (text.length > shown) process.stdout.write(text.slice(shown));
      const seconds = (performance.now() - t0) / 1000;
      process.stderr.write(`\n[sample ${s + 1}: ${ids.length} prompt tokens, ${out.length} new in ${seconds.toFixed(2)} s (${(out.length / seconds).toFixed(1)} tok/s with the prompt)]\n`);
    }
    process.stdout.write('\n');
  } finally {
    await engine.dispose();
  }
}

// `train.ts eval`: the loss of every token of the held-out split (or of --data), once.
export async function runEval(input: readonly string[]): Promise<void> {
  const a = parse('eval', `Score held-out text with a trained model.\n\nUsage: ${COMMAND} eval --from out/ [--data FILE ...] [options]`, {
    data: { type: 'string', array: true, describe: 'score these files (default: the held-out split of the checkpoint\'s training data)' },
    stride: { type: 'number', describe: 'tokens between window starts (default: half the block size)' },
    'batch-size': { type: 'number', default: 8, describe: 'windows per forward pass' },
    json: { type: 'boolean', default: false, describe: 'print the result as one JSON record' },
  }, input);
  const t0 = performance.now();
  const loaded = loadModel(a.from as string, positive('n-head', a['n-head']));
  process.stderr.write(`${loaded.describe}\n`);
  const T = loaded.config.blockSize;
  const stride = a.stride === undefined ? Math.max(1, Math.floor(T / 2)) : positive('stride', a.stride);
  if (stride > T) throw new ConfigError(`invalid --stride ${stride}: must be at most the block size ${T}`);
  const { tokens, what } = evalTokens(loaded, a.data as string[] | undefined);
  const engine = await engineFor(a);
  try {
    const B = positive('batch-size', a['batch-size']);
    const model = new GPT(engine, loaded.config, B, { optimizer: false, lmHeadChunk: 256 });
    model.params().set(loaded.params);
    const score = scoreTokens(model, tokens, stride);
    const bytes = Buffer.byteLength(loaded.tokenizer.decode(tokens.subarray(1)), 'utf8');
    const bitsPerByte = (score.loss * score.tokens) / Math.LN2 / bytes;
    const seconds = (performance.now() - t0) / 1000;
    process.stderr.write(`${what}: ${score.tokens} tokens (${formatBytes(bytes)}) in ${score.windows} windows of ${T} tokens, stride ${stride}; ${seconds.toFixed(1)} s\n`);
    const record = { type: 'eval', loss: score.loss, perplexity: Math.exp(score.loss), bits_per_byte: bitsPerByte, tokens: score.tokens, bytes, block_size: T, stride, seconds };
    if (a.json) console.log(JSON.stringify(record));
    else console.log(`loss ${score.loss.toFixed(4)} | perplexity ${record.perplexity.toFixed(2)} | bits per byte ${bitsPerByte.toFixed(4)} | ${score.tokens} tokens`);
  } finally {
    await engine.dispose();
  }
}

// The tokens to score: --data's documents (separated by the end-of-text token), or the
// held-out split of the run the checkpoint came from (its corpus must be unchanged).
function evalTokens(loaded: LoadedModel, data: string[] | undefined): { tokens: Uint32Array; what: string } {
  const { tokenizer, state } = loaded;
  if (data && data.length) {
    const clean = (state?.trainConfig.clean as TrainConfig['clean'] | undefined) ?? 'normalize';
    const docs = loadCorpus(data, { clean });
    const ids: number[] = [];
    if (tokenizer instanceof CharTokenizer) tokenizer.unknownCount = 0;
    docs.forEach((d, i) => {
      if (i > 0) ids.push(tokenizer.eotToken);
      for (const id of tokenizer.encode(d.text)) ids.push(id);
    });
    if (tokenizer instanceof CharTokenizer && tokenizer.unknownCount > 0) {
      process.stderr.write(`note: ${tokenizer.unknownCount} characters of --data are not in the model's vocabulary: mapped to the unknown id 0 (scored as such)\n`);
    }
    return { tokens: Uint32Array.from(ids), what: `${docs.length} document${docs.length > 1 ? 's' : ''} of --data` };
  }
  if (!state) throw new ConfigError('eval: a Hugging Face file has no held-out split of its own: give --data FILE ...');
  const known = Object.fromEntries(Object.entries(state.trainConfig).filter(([k]) => k in OPTIONS)) as Partial<TrainConfig>;
  const config = resolveTrainConfig(known);
  const dataset = prepareData(config);
  if (tokensHash(dataset.split) !== state.dataHash) {
    throw new ConfigError('eval: the training data is not what the checkpoint was trained on (its tokens differ): give --data to score other text');
  }
  return { tokens: Uint32Array.from(dataset.split.val), what: 'the held-out split' };
}

// `train.ts plot`: the logs' loss curves as one SVG. Every log is read and checked, and
// --out too, before anything is written; a file that is not a plot of ours is never replaced.
export function runPlot(input: readonly string[]): void {
  const a = parsePlotArgs(input);
  const names = a.logs.map((f) => basename(f));
  const runs: RunCurves[] = a.logs.map((file, i) => {
    if (!existsSync(file)) throw new ConfigError(`plot: ${file}: no such file: give a log written by a run's --log-file`);
    if (statSync(file).isDirectory()) throw new ConfigError(`plot: ${file} is a directory: give a log file written by a run's --log-file`);
    // the file's name, or its path where two logs share a name
    const label = a.labels[i] ?? (names.filter((n) => n === names[i]).length > 1 ? file : names[i]);
    try {
      return parseRunLog(readFileSync(file, 'utf8'), file, label);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`plot: ${e.message}`);
      throw new ConfigError(`plot: cannot read ${file} (${(e as Error).message}): give a log you can read`);
    }
  });
  if (existsSync(a.out)) {
    const stats = statSync(a.out);
    if (stats.isDirectory()) throw new ConfigError(`plot: --out ${a.out} is a directory: give a file path, such as ${a.out.replace(/\/$/, '')}/loss.svg`);
    if (!stats.isFile() || !isOurPlot(fileHead(a.out))) {
      throw new ConfigError(`plot: --out ${a.out} exists and is not a plot written by this command: choose another path (a file of yours is never overwritten)`);
    }
  }
  mkdirSync(dirname(resolve(a.out)), { recursive: true });
  writeFileSync(a.out, lossPlotSvg(runs, { title: a.title }));
  console.log(`wrote ${a.out}: ${runs.map((r) => `${r.label} (${r.steps.length} steps, ${r.evals.length} evals)`).join(', ')}`);
}

function fileHead(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
