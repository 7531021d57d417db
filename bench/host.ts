// Does training block its host? While config M (bench/configs.ts) trains through the
// library's train(), a 10 ms interval timer in the calling thread measures how late it
// fires, over the whole call (thread start, data, steps, evaluations, the checkpoint);
// the same run through the command line (`npx tsx train.ts`, the README's command) gives
// the tok/s to compare with. Library and CLI runs take turns, so drift hits both alike.
//   npx tsx bench/host.ts [--steps 12] [--rounds 3] [--threads N] [--json F]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { train, type TrainOptions } from '../src/index.ts';
import { benchConfigs } from './configs.ts';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const args = yargs(hideBin(process.argv))
  .options({
    steps: { type: 'number', default: 12, describe: 'optimizer steps per run (the first 3 are left out of tok/s)' },
    rounds: { type: 'number', default: 3, describe: 'library run + CLI run, this many times' },
    threads: { type: 'number', default: availableParallelism() },
    json: { type: 'string', describe: 'write the figures as JSON here' },
    corpus: { type: 'string', default: join(root, '..', 'shared', 'corpora', 'tinyshakespeare.txt'), describe: 'the text to train on (char tokenizer)' },
  })
  .strict()
  .parseSync();

const tmp = mkdtempSync(join(tmpdir(), 'wasmgpt-host-'));
const m = benchConfigs.M;
// config M as train() options; evaluations at step 0 and at the end, one batch each
const options: TrainOptions = {
  data: [args.corpus], tokenizer: 'char', cacheDir: join(tmp, 'cache'),
  nLayer: m.model.nLayer, nHead: m.model.nHead, nEmbd: m.model.nEmbd, blockSize: m.model.blockSize, bias: m.model.bias,
  batchSize: m.batchSize, maxIters: args.steps, evalInterval: args.steps, evalIters: 1, sampleTokens: 0, threads: args.threads, lmHeadChunk: 0,
};
const flags = Object.entries(options).flatMap(([k, v]) => {
  const flag = `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (typeof v === 'boolean') return [v ? flag : `--no-${flag.slice(2)}`];
  return Array.isArray(v) ? v.flatMap((x) => [flag, String(x)]) : [flag, String(v)];
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

console.log(`machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} cores; Node ${process.version}`);
console.log(`config M: ${m.model.nLayer} layers, n_embd ${m.model.nEmbd}, block ${m.model.blockSize}, batch ${m.batchSize}, char vocab; ${args.steps} steps per run, ${args.threads} threads`);

interface LibraryRun { tokPerS: number; wallS: number; ticks: number; worstLateMs: number; p99LateMs: number; medianLateMs: number }

async function libraryRun(round: number): Promise<LibraryRun> {
  const late: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    late.push(now - last - 10);
    last = now;
  }, 10);
  const t0 = performance.now();
  const result = await train({ ...options, outDir: join(tmp, `lib-${round}`) });
  const wallS = (performance.now() - t0) / 1000;
  clearInterval(timer);
  return {
    tokPerS: result.tokPerS, wallS, ticks: late.length, worstLateMs: Math.max(...late), p99LateMs: quantile(late, 0.99),
    medianLateMs: median(late),
  };
}

function cliRun(round: number): number {
  const log = join(tmp, `cli-${round}.jsonl`);
  const r = spawnSync('npx', ['tsx', 'train.ts', ...flags, '--out-dir', join(tmp, `cli-${round}`), '--log-file', log, '--quiet'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the CLI run failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const done = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((rec) => rec.type === 'done');
  return done.tok_per_s;
}

const lib: LibraryRun[] = [];
const cli: number[] = [];
for (let round = 0; round < args.rounds; round++) {
  const l = await libraryRun(round);
  lib.push(l);
  console.log(`round ${round + 1}: train(): ${l.tokPerS.toFixed(0)} tok/s, ${l.wallS.toFixed(1)} s; 10 ms timer: ${l.ticks} ticks, ` +
    `late by median ${l.medianLateMs.toFixed(2)} ms, p99 ${l.p99LateMs.toFixed(2)} ms, worst ${l.worstLateMs.toFixed(1)} ms`);
  const c = cliRun(round);
  cli.push(c);
  console.log(`round ${round + 1}: npx tsx train.ts: ${c.toFixed(0)} tok/s`);
}
const libTokPerS = median(lib.map((l) => l.tokPerS));
const cliTokPerS = median(cli);
const worst = Math.max(...lib.map((l) => l.worstLateMs));
const summary = {
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version },
  config: 'M', steps: args.steps, threads: args.threads, rounds: args.rounds,
  library_tok_per_s: libTokPerS, cli_tok_per_s: cliTokPerS, library_vs_cli: libTokPerS / cliTokPerS,
  timer_worst_late_ms: worst, timer_p99_late_ms: Math.max(...lib.map((l) => l.p99LateMs)), runs: lib, cli_runs: cli,
};
console.log(`\ntrain() vs the CLI: ${libTokPerS.toFixed(0)} vs ${cliTokPerS.toFixed(0)} tok/s (medians): ratio ${summary.library_vs_cli.toFixed(3)} (target within 3%)`);
console.log(`the host's 10 ms timer while M trained: worst ${worst.toFixed(1)} ms late (target under 50 ms), p99 ${summary.timer_p99_late_ms.toFixed(2)} ms`);
if (args.json) writeFileSync(args.json, JSON.stringify(summary, null, 2) + '\n');
rmSync(tmp, { recursive: true, force: true });
