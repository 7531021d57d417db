// Command-line entry: `npx tsx train.ts [options]` trains a GPT (defaults: the
// bundled State of the Union corpus, GPT-2 tokens, a 4-layer model, about a minute on
// two cores). The options come from the table in src/train/config.ts.
import yargs, { type Options } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { train } from './src/train/trainer.ts';
import { OPTIONS, OPTION_KEYS, type OptionSpec, type TrainConfig } from './src/train/config.ts';
import { isUserError } from './src/train/errors.ts';

// yargs options from the option table (src/train/config.ts): flag, type, default, help.
function cliOptions(): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const key of OPTION_KEYS) {
    const o = OPTIONS[key] as OptionSpec<unknown>;
    const shown = o.derived ? undefined : o.default ?? undefined;
    out[o.flag] = {
      type: o.type === 'strings' ? 'string' : o.type, array: o.type === 'strings' || undefined, default: shown,
      describe: o.derived ? `${o.describe} [default: ${o.derived.text}]` : o.describe, group: `${o.group}:`,
      choices: o.choices ? [...o.choices] : undefined,
    };
    if (o.nullable) out[o.nullable.flag] = { type: 'boolean', default: true, describe: o.nullable.describe, group: `${o.group}:` };
  }
  return out;
}

const argv = yargs(hideBin(process.argv))
  .scriptName('train.ts')
  .usage('Train a GPT on CPU with WebAssembly SIMD kernels.\n\nUsage: npx tsx train.ts [options]')
  .options(cliOptions())
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
  .parseSync() as Record<string, unknown>;

// What the command line gave, by config key; the rest (and derived defaults) comes from
// resolveTrainConfig, as for a library caller.
const given: Partial<Record<keyof TrainConfig, unknown>> = {};
for (const key of OPTION_KEYS) {
  const o = OPTIONS[key] as OptionSpec<unknown>;
  if (o.nullable && argv[o.nullable.flag] === false) given[key] = null;
  else if (argv[o.flag] !== undefined) given[key] = o.type === 'strings' ? (argv[o.flag] as unknown[]).map(String) : argv[o.flag];
}

// Ctrl-C: finish the current step, save a checkpoint, exit 130. A second Ctrl-C exits at once.
const abort = new AbortController();
process.on('SIGINT', () => {
  if (abort.signal.aborted) process.exit(130);
  console.error('\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)');
  abort.abort();
});

try {
  const result = await train(given as Partial<TrainConfig>, { signal: abort.signal });
  process.exitCode = result.interrupted ? 130 : 0;
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
