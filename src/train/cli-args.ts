// The command line -> the options train() takes, from the option table (config.ts).
// Every mistake is one ConfigError line that names the option and what it takes: a
// flag without a value, a value that is not a number, a flag given twice, an unknown
// flag (with the nearest valid name).
import yargs, { type Options } from 'yargs';
import { OPTIONS, OPTION_KEYS, ConfigError, defaultTrainConfig, type OptionSpec, type TrainConfig } from './config.ts';

// How the user started us, for help and messages: the sources under tsx, or the installed
// package's bin.
export const COMMAND = /\.ts$/.test(process.argv[1] ?? '') ? 'npx tsx train.ts' : 'wasmgpt';

const spec = (key: keyof TrainConfig) => OPTIONS[key] as OptionSpec<unknown>;

// yargs options from the table: flag, type, default, help.
function cliOptions(): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const key of OPTION_KEYS) {
    const o = spec(key);
    out[o.flag] = {
      type: o.type === 'strings' ? 'string' : o.type, array: o.type === 'strings' || undefined,
      default: o.derived ? undefined : o.default ?? undefined,
      describe: o.derived ? `${o.describe} [default: ${o.derived.text}]` : o.describe, group: `${o.group}:`,
      choices: o.choices ? [...o.choices] : undefined,
    };
    if (o.nullable) out[o.nullable.flag] = { type: 'boolean', default: true, describe: o.nullable.describe, group: `${o.group}:` };
  }
  return out;
}

// The flags as written: name -> the values given after it ('' for none), in order.
function rawFlags(args: readonly string[]): Map<string, string[]> {
  const raw = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--') || a === '--') continue;
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const value = eq >= 0 ? a.slice(eq + 1) : i + 1 < args.length && !args[i + 1].startsWith('--') ? args[i + 1] : '';
    raw.set(name, [...(raw.get(name) ?? []), value]);
  }
  return raw;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

// The valid flag nearest to `name`.
export function nearestFlag(name: string): string {
  const flags = [...OPTION_KEYS.flatMap((k) => [spec(k).flag, spec(k).nullable?.flag ?? []].flat()), 'help'];
  return flags.reduce((best, f) => (editDistance(name, f) < editDistance(name, best) ? f : best));
}

// What the command line gives, by config key (defaults and derived defaults are left to
// resolveTrainConfig, as for a library caller). --help prints the table and exits.
export function parseTrainArgs(input: readonly string[]): Partial<TrainConfig> {
  const numeric = new Set(OPTION_KEYS.filter((k) => spec(k).type === 'number').map((k) => spec(k).flag));
  // "--lr -1", "--grad-clip -Infinity": a value that starts with '-' would read as flags
  const args: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const a = input[i];
    if (a.startsWith('--') && numeric.has(a.slice(2)) && i + 1 < input.length && /^-[^-]/.test(input[i + 1])) args.push(`${a}=${input[++i]}`);
    else args.push(a);
  }
  const raw = rawFlags(args);
  for (const key of OPTION_KEYS) {
    const o = spec(key);
    const values = raw.get(o.flag) ?? [];
    // a flag given twice: yargs would make an array of it, or keep the last silently
    if (o.type !== 'strings') {
      const names = [`no-${o.flag}`, ...(o.nullable ? [o.nullable.flag, `no-${o.nullable.flag}`] : [])];
      const all = [...values, ...names.flatMap((n) => (raw.get(n) ?? []).map((v) => (n.startsWith('no-') ? `--${n}` : v)))];
      if (all.length > 1) throw new ConfigError(`--${o.flag} is given ${all.length} times (${all.map((v) => v || '(no value)').join(', ')}): give it once`);
    }
    if (values.length === 0) continue;
    const text = values[0];
    const must = () => o.check?.(NaN, defaultTrainConfig) ?? 'a number';
    if (o.type === 'number' && text === '') throw new ConfigError(`--${o.flag} needs a value: ${must()}`);
    if (o.type === 'number' && (text.trim() === '' || Number.isNaN(Number(text)))) throw new ConfigError(`invalid --${o.flag} ${JSON.stringify(text)}: must be ${must()}`);
    if (o.type === 'string' && text === '' && o.choices) throw new ConfigError(`--${o.flag} needs a value: one of ${o.choices.join(', ')}`);
    if (o.choices && !o.choices.includes(text)) throw new ConfigError(`invalid --${o.flag} ${JSON.stringify(text)}: must be one of ${o.choices.join(', ')}`);
  }
  const argv = yargs(args)
    .scriptName(COMMAND)
    .usage(`Train a GPT on CPU with WebAssembly SIMD kernels.\n\nUsage: ${COMMAND} [train] [options]\n` +
      `       ${COMMAND} find-lr [options]   (learning-rate range test: same model, data and optimizer options)\n` +
      `       ${COMMAND} export --from out/ --to DIR   (a checkpoint as Hugging Face GPT-2 files)\n` +
      `       ${COMMAND} sample --from out/ --prompt TEXT   (generate text)\n` +
      `       ${COMMAND} eval --from out/ [--data FILE]   (score held-out text)\n` +
      `       ${COMMAND} plot LOG.jsonl ... --out loss.svg   (loss curves of runs from their --log-file)\n` +
      'Each subcommand takes --help.')
    .options(cliOptions())
    .strict()
    .fail((message, error) => {
      if (error) throw error;
      const unknown = /^Unknown arguments?: (.*)$/.exec(message);
      if (unknown) {
        const name = unknown[1].split(', ')[0];
        throw new ConfigError(`unknown option --${name} (did you mean --${nearestFlag(name)}?); ${COMMAND} --help lists every option`);
      }
      throw new ConfigError(message.replace(/\s*\n\s*/g, ' '));
    })
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .parseSync() as Record<string, unknown>;

  const given: Partial<Record<keyof TrainConfig, unknown>> = {};
  for (const key of OPTION_KEYS) {
    const o = spec(key);
    const value = argv[o.flag];
    if (o.nullable && argv[o.nullable.flag] === false) given[key] = null;
    else if (value !== undefined) given[key] = o.type === 'strings' ? (value as unknown[]).map(String) : value;
  }
  return given as Partial<TrainConfig>;
}

export interface ExportArgs {
  from: string; // a checkpoint directory (--out-dir of a run)
  to: string; // the export directory
  format: 'hf-gpt2';
  overwrite: boolean;
}

// `train.ts export --from DIR --to DIR [--format hf-gpt2] [--overwrite]`
export function parseExportArgs(input: readonly string[]): ExportArgs {
  const argv = yargs(input)
    .scriptName(`${COMMAND} export`)
    .usage(`Export a checkpoint for other tools.\n\nUsage: ${COMMAND} export --from out/ --to DIR [--format hf-gpt2]`)
    .options({
      from: { type: 'string', describe: 'the checkpoint directory (a run\'s --out-dir)', demandOption: true },
      to: { type: 'string', describe: 'directory to write model.safetensors and config.json to', demandOption: true },
      format: { type: 'string', choices: ['hf-gpt2'], default: 'hf-gpt2', describe: 'hf-gpt2: Hugging Face GPT2LMHeadModel (transformers\' save_pretrained layout)' },
      overwrite: { type: 'boolean', default: false, describe: 'replace an earlier export in --to' },
    })
    .strict()
    .fail((message, error) => {
      if (error) throw error;
      throw new ConfigError(`export: ${message.replace(/\s*\n\s*/g, ' ')}`);
    })
    .help()
    .parseSync();
  for (const key of ['from', 'to'] as const) {
    if (typeof argv[key] !== 'string' || argv[key] === '') throw new ConfigError(`export: --${key} needs a directory`);
  }
  return { from: argv.from, to: argv.to, format: argv.format as 'hf-gpt2', overwrite: argv.overwrite };
}

export interface PlotArgs {
  logs: string[]; // JSONL logs of runs (--log-file)
  out: string; // the SVG to write
  labels: string[]; // one per log, or none (the file names)
  title: string | undefined;
}

// `train.ts plot LOG... --out F.svg [--label A --label B] [--title T]`
export function parsePlotArgs(input: readonly string[]): PlotArgs {
  const argv = yargs(input)
    .scriptName(`${COMMAND} plot`)
    .usage(`Loss curves of runs as one SVG: train and val loss against steps and against tokens.\n\nUsage: ${COMMAND} plot LOG.jsonl [LOG.jsonl ...] --out loss.svg [--label NAME ...]`)
    .options({
      out: { type: 'string', describe: 'the SVG file to write (an existing file is replaced only if it is a plot written by this command)' },
      label: { type: 'string', array: true, describe: 'a name for each log, in order (default: the file names)' },
      title: { type: 'string', describe: 'the picture\'s title' },
    })
    .strictOptions() // the logs are positional
    .fail((message, error) => {
      if (error) throw error;
      throw new ConfigError(`plot: ${message.replace(/\s*\n\s*/g, ' ')}`);
    })
    .help()
    .parseSync();
  const logs = argv._.map(String);
  if (logs.length === 0) throw new ConfigError(`plot: no log files given: ${COMMAND} plot LOG.jsonl ... --out loss.svg (a log is what a run writes with --log-file)`);
  if (typeof argv.out !== 'string' || argv.out === '') throw new ConfigError('plot: --out is missing: give the SVG file to write, e.g. --out loss.svg');
  const labels = (argv.label ?? []).map(String);
  if (labels.length > 0 && labels.length !== logs.length) {
    throw new ConfigError(`plot: ${labels.length} --label for ${logs.length} log${logs.length === 1 ? '' : 's'}: give one --label per log, in the same order, or none`);
  }
  return { logs, out: argv.out, labels, title: argv.title };
}
