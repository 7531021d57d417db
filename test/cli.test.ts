// The command line as a user types it: every mistake is one line naming the option
// and what it takes; sizes that cannot fit are refused by arithmetic, at once.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseTrainArgs, nearestFlag } from '../src/train/cli-args.ts';
import { ConfigError, resolveTrainConfig, validateTrainConfig } from '../src/train/config.ts';

const root = join(import.meta.dirname, '..');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

function parseError(args: string[]): string {
  try {
    validateTrainConfig(resolveTrainConfig(parseTrainArgs(args)));
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`${args.join(' ')} was accepted`);
}

describe('command-line values', () => {
  it.each([
    [['--lr'], /^--lr needs a value: a positive number$/],
    [['--lr='], /^--lr needs a value: a positive number$/],
    [['--lr', '--dropout', '0.1'], /^--lr needs a value: a positive number$/],
    [['--lr', 'fast'], /^invalid --lr "fast": must be a positive number$/],
    [['--n-layer', 'two'], /^invalid --n-layer "two": must be a positive integer$/],
    [['--lr', 'Infinity'], /^invalid --lr Infinity: must be a positive number$/],
    [['--dropout', 'NaN'], /^invalid --dropout "NaN": must be in \[0, 1\)$/],
    [['--grad-clip', '-Infinity'], /^invalid --grad-clip -Infinity: must be a non-negative number/],
    [['--lr', '1e-3', '--lr', '2e-3'], /^--lr is given 2 times \(1e-3, 2e-3\): give it once$/],
    [['--bias', '--no-bias'], /^--bias is given 2 times/],
    [['--cache-dir', 'a', '--no-cache'], /^--cache-dir is given 2 times/],
    [['--n-layr', '3'], /^unknown option --n-layr \(did you mean --n-layer\?\)/],
    [['--tokenizer', 'bpe'], /^invalid --tokenizer "bpe": must be one of gpt2, char$/],
    [['--lr', '-1'], /^invalid --lr -1: must be a positive number$/],
    [['--precision', 'fp8'], /^invalid --precision "fp8": must be one of fp32, bf16, fp16$/],
    [['--loss-scale', '3'], /^invalid --loss-scale 3: must be a power of two from 1 to 2\^64/],
    [['--loss-scale', '0.5'], /^invalid --loss-scale 0.5: must be a power of two from 1 to 2\^64/],
    [['--loss-scale', String(2 ** 65)], /^invalid --loss-scale 36893488147419103000: must be a power of two from 1 to 2\^64/],
    [['--scale-growth', '1'], /^invalid --scale-growth 1: must be a number above 1$/],
    [['--scale-backoff', '1'], /^invalid --scale-backoff 1: must be in \(0, 1\)$/],
    [['--scale-growth-interval', '0'], /^invalid --scale-growth-interval 0: must be a positive integer$/],
    [['--log-interval', '0'], /^invalid --log-interval 0: must be a positive integer$/],
    [['--quiet', '--no-quiet'], /^--quiet is given 2 times/],
  ])('%j: %s', (args, message) => {
    expect(parseError(args)).toMatch(message);
  });

  it('takes what it should: numbers, --no- flags, repeated --data', () => {
    const o = parseTrainArgs(['--lr', '2e-3', '--no-bias', '--no-cache', '--data', 'a.txt', '--data', 'b/', '--max-iters', '7']);
    expect(o).toMatchObject({ lr: 2e-3, bias: false, cacheDir: null, data: ['a.txt', 'b/'], maxIters: 7 });
    expect(parseTrainArgs(['--precision', 'fp16', '--loss-scale', String(2 ** 64)])).toMatchObject({ precision: 'fp16', lossScale: 2 ** 64 });
    expect(resolveTrainConfig(o).lrDecayIters).toBe(7);
    expect(parseTrainArgs(['--quiet', '--log-interval', '25'])).toMatchObject({ quiet: true, logInterval: 25 });
    expect(resolveTrainConfig({})).toMatchObject({ quiet: false, logInterval: 10 });
    expect(parseTrainArgs([])).toEqual({ ...parseTrainArgs([]) });
  });

  it('suggests the nearest flag', () => {
    expect(nearestFlag('batchsize')).toBe('batch-size');
    expect(nearestFlag('no-cach')).toBe('cache');
  });

  it('an unknown option is one line, not the help text', () => {
    const r = cli('--bogus', '1');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: unknown option --bogus \(did you mean --[a-z-]+\?\)/);
    expect(r.stdout).toBe('');
  });

  it('a model that cannot fit is refused by arithmetic, before data or layers (not after a minute)', () => {
    const t0 = performance.now();
    const r = cli('--n-layer', '1000000', '--tokenizer', 'char');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^error: this model needs at least .* GiB, over the 4 GiB wasm32 limit: use a smaller --n-layer/);
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it('a model that fits in 16 bits or with recompute is refused naming both', () => {
    // GPT-2 small's shape at block 1024, batch 5: ~2.9 GiB of fp32 activations
    const r = cli('--n-layer', '12', '--n-embd', '768', '--n-head', '12', '--block-size', '1024', '--batch-size', '5', '--tokenizer', 'char');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^error: this model needs at least [\d.]+ GiB, over the 4 GiB wasm32 limit: try --recompute blocks, or --precision bf16, or use a smaller/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('more threads than cores: a warning', () => {
    const r = cli('--threads', String(availableParallelism() + 1), '--data', '/no/such/file');
    expect(r.stderr).toMatch(new RegExp(`warning: --threads ${availableParallelism() + 1} is more than this machine's ${availableParallelism()} cores`));
  });
});
