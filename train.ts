#!/usr/bin/env node
// Command-line entry: `npx tsx train.ts [options]` trains a GPT (defaults: the
// bundled State of the Union corpus, GPT-2 tokens, a 4-layer model, about a minute on
// two cores). The options come from the table in src/train/config.ts. Training runs in
// a thread of its own, so this thread answers signals at once.
import { hideBin } from 'yargs/helpers';
import { runInTerminal } from './src/train/console.ts';
import { parseTrainArgs, parseExportArgs } from './src/train/cli-args.ts';
import { exportHfGpt2 } from './src/interop/hf-gpt2.ts';
import { runSample, runEval, runPlot } from './src/train/commands.ts';
import { formatBytes } from './src/engine/arena.ts';
import { isUserError } from './src/train/errors.ts';
import { watchLauncher } from './src/train/launcher.ts';

// SIGINT (Ctrl-C), SIGTERM, SIGHUP: finish the current step, save a checkpoint, exit with
// 128 + the signal's number. A second signal exits at once (the last checkpoint stays).
const EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
// A launcher may pass on a signal we already got (tsx does when our answer takes over
// 30 ms): a repeat within half a second is that, not the user's second press.
const REPEAT_MS = 500;
const abort = new AbortController();
let exitCode = 0;
let firstAt = 0;
const stop = (why: string, code: number) => {
  if (abort.signal.aborted) {
    if (performance.now() - firstAt < REPEAT_MS) return;
    process.exit(code);
  }
  firstAt = performance.now();
  exitCode = code;
  console.error(`\n${why}: saving a checkpoint after this step (again to quit now)`);
  abort.abort();
};

// `train.ts find-lr [options]`: the learning-rate range test with the same options;
// `train.ts export --from DIR --to DIR`: a checkpoint as Hugging Face GPT-2 files;
// `train.ts sample --from DIR ...` and `train.ts eval --from DIR ...`: a trained model at work;
// `train.ts plot LOG... --out F.svg`: runs' loss curves from their logs
// (`train` may also be named: `wasmgpt train --max-iters 100`)
const given = hideBin(process.argv);
const args = given[0] === 'train' ? given.slice(1) : given;
const command = ['find-lr', 'export', 'sample', 'eval', 'plot'].includes(args[0]) ? args[0] : 'train';
const findLr = command === 'find-lr';
// training saves a checkpoint on a signal; the other commands just stop
if (command === 'train' || findLr) {
  for (const signal of Object.keys(EXIT)) process.on(signal, () => stop(signal === 'SIGINT' ? 'interrupt' : signal, EXIT[signal]));
  watchLauncher(() => stop('the launcher is gone', EXIT.SIGTERM));
}

// Writes the export and says what it wrote.
function runExport(input: string[]): void {
  const o = parseExportArgs(input);
  const t0 = performance.now();
  const r = exportHfGpt2(o.from, o.to, o.overwrite);
  console.log(`exported ${o.from} as Hugging Face GPT-2 (vocab_size ${r.vocabSize}) in ${((performance.now() - t0) / 1000).toFixed(2)} s: ` +
    `${r.files.join(', ')} (model.safetensors ${formatBytes(r.bytes)})`);
  if (r.note) console.log(`note: ${r.note}`);
}

try {
  if (command === 'export') {
    runExport(args.slice(1));
  } else if (command === 'sample') {
    await runSample(args.slice(1));
  } else if (command === 'eval') {
    await runEval(args.slice(1));
  } else if (command === 'plot') {
    runPlot(args.slice(1));
  } else if (findLr) {
    await runInTerminal(parseTrainArgs(args.slice(1)), 'find-lr', abort.signal);
  } else {
    const result = await runInTerminal(parseTrainArgs(args), 'train', abort.signal);
    process.exitCode = result.interrupted ? exitCode : 0;
  }
} catch (e) {
  // a user's mistake (or a failure they can act on) gets one line; anything else is a
  // bug of ours and keeps its stack trace
  if (isUserError(e)) {
    console.error(`error: ${e.message}`);
    process.exitCode = 1;
  } else {
    throw e;
  }
}
