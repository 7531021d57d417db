// The training state and its step: a snapshot restored continues a run bit for bit;
// the option table drives the defaults, validation, the CLI and library callers alike.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { newTrainState, trainStep, snapshot, restore, type TrainState } from '../src/train/state.ts';
import { learningRate } from '../src/train/schedule.ts';
import { OPTIONS, OPTION_KEYS, ConfigError, resolveTrainConfig, validateTrainConfig, defaultTrainConfig } from '../src/train/config.ts';
import { isUserError } from '../src/train/errors.ts';
import { TrainingError, paramsHash } from '../src/train/trainer.ts';
import { Rng } from '../src/engine/random.ts';
import { expectBitwiseEqual } from './harness.ts';

const root = join(import.meta.dirname, '..');

// A tiny model with dropout over random tokens; gradient accumulation on.
function tinyRun(engine: Engine): TrainState {
  const model = new GPT(engine, { vocabSize: 23, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0.1, bias: true }, 3);
  model.init(5);
  const optimizer = new AdamW(model, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
  const rng = new Rng(9);
  const tokens = Uint16Array.from({ length: 500 }, () => rng.int(23));
  return newTrainState(model, optimizer, { tokens, batchSize: 3, blockSize: 8, gradAccum: 2, gradClip: 0.5, seed: 11 });
}

const lrAt = (step: number) => learningRate(step, { lr: 1e-2, minLr: 1e-3, warmupIters: 2, lrDecayIters: 12 });

function run(state: TrainState, steps: number): number[] {
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const r = trainStep(state, lrAt(state.step));
    expect(r.skipped).toBe(false);
    losses.push(r.loss);
  }
  return losses;
}

describe('TrainState', () => {
  it('snapshot at step k, train to k+n, restore, train to k+n again: bitwise-equal weights and moments (dropout, grad-accum)', () => {
    const engine = new Engine({ kernels: 'simd' });
    const state = tinyRun(engine);
    run(state, 3);
    const snap = snapshot(state);
    const first = run(state, 4);
    const weights = state.model.params().slice();
    const moments = state.optimizer.moments().v.slice();
    expect(state.step).toBe(7);

    restore(state, snap);
    expect(state.step).toBe(3);
    const second = run(state, 4);
    expect(second).toEqual(first);
    expectBitwiseEqual(state.model.params(), weights, 'weights after restoring and training again');
    expectBitwiseEqual(state.optimizer.moments().v, moments, 'second moments');

    // the restore is what made them equal: without it the run goes on differently
    const third = run(state, 4);
    expect(third).not.toEqual(first);
  });

  it('a snapshot carries every piece of state: leaving out the sampler or the dropout pass changes the run', () => {
    const engine = new Engine({ kernels: 'simd' });
    const state = tinyRun(engine);
    run(state, 2);
    const snap = snapshot(state);
    run(state, 2);
    const want = paramsHash(state.model.params());
    for (const drop of ['batches', 'dropout'] as const) {
      restore(state, snap);
      run(state, 1); // the sampler, the dropout pass (and all else) move on...
      const moved = snapshot(state);
      restore(state, { ...snap, [drop]: moved[drop] }); // ...then all but this piece is put back
      run(state, 2);
      expect(paramsHash(state.model.params()), `without restoring ${drop}`).not.toBe(want);
    }
    restore(state, snap);
    run(state, 2);
    expect(paramsHash(state.model.params())).toBe(want);
  });

  it('a step with a non-finite loss is skipped: the weights stay as they were', () => {
    const engine = new Engine({ kernels: 'simd' });
    const state = tinyRun(engine);
    run(state, 1);
    const before = state.model.params().slice();
    state.model.param('ln_f.weight')[0] = NaN; // the forward now produces NaN everywhere
    const r = trainStep(state, 1e-2);
    expect(r.skipped).toBe(true);
    expect(Number.isNaN(r.loss)).toBe(true);
    state.model.param('ln_f.weight')[0] = before[state.model.layout.byName.get('ln_f.weight')!.offset];
    expectBitwiseEqual(state.model.params(), before, 'weights after a skipped step');
  });
});

describe('option table', () => {
  it('derived defaults: a library caller who sets only maxIters gets the cosine over maxIters (lrDecayIters follows)', () => {
    expect(resolveTrainConfig({ maxIters: 400 }).lrDecayIters).toBe(400);
    expect(resolveTrainConfig({ maxIters: 400, lrDecayIters: 100 }).lrDecayIters).toBe(100);
    expect(defaultTrainConfig.lrDecayIters).toBe(defaultTrainConfig.maxIters);
  });

  it('a script that calls train({ maxIters }) decays the learning rate over all its steps', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmgpt-script-'));
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'a small corpus of words, said again and again.\n'.repeat(60));
    const log = join(dir, 'log.jsonl');
    const script = join(dir, 'script.mts'); // an ES module: top-level await
    writeFileSync(script, `import { train } from ${JSON.stringify(join(root, 'src/index.ts'))};
await train({ data: [${JSON.stringify(corpus)}], tokenizer: 'char', cacheDir: null, maxIters: 30, warmupIters: 2, nLayer: 1, nEmbd: 16, nHead: 2,
  blockSize: 8, batchSize: 2, evalInterval: 100, evalIters: 1, sampleTokens: 0, threads: 1, outDir: ${JSON.stringify(join(dir, 'out'))}, logFile: ${JSON.stringify(log)} },
  {});
`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const steps = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.type === 'step');
    expect(steps).toHaveLength(30);
    const c = resolveTrainConfig({ maxIters: 30, warmupIters: 2 });
    steps.forEach((s) => expect(s.lr).toBeCloseTo(learningRate(s.step, c), 12));
    // halfway the rate is still well above its floor (with lrDecayIters stuck at 120 it was near the peak; at 10, at the floor)
    const mid = steps[16].lr;
    expect(mid).toBeGreaterThan(c.minLr * 2);
    expect(mid).toBeLessThan(c.lr * 0.9);
    expect(steps[29].lr).toBeLessThan(steps[16].lr);
  });

  it('refuses an unknown option key and validates every option from the table', () => {
    expect(() => resolveTrainConfig({ maxIter: 3 } as never)).toThrow(ConfigError);
    expect(() => validateTrainConfig(resolveTrainConfig({ threads: 1000 }))).toThrow(/--threads 1000: must be at most 256/);
    for (const key of OPTION_KEYS) expect(OPTIONS[key].flag, key).toMatch(/^[a-z][a-z0-9-]*$/);
  });

  it('--help shows every option of the table, a derived default as such', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    for (const key of OPTION_KEYS) {
      expect(r.stdout, key).toContain(`--${OPTIONS[key].flag}`);
      const nullable = OPTIONS[key].nullable;
      if (nullable) expect(r.stdout).toContain(`--${nullable.flag}`);
    }
    expect(r.stdout).toMatch(/--lr-decay-iters[^\n]*\[default: --max-iters\]/);
  });
});

describe('errors', () => {
  it('user errors get one line from the CLI; other errors are ours and keep their stack', () => {
    expect(isUserError(new ConfigError('x'))).toBe(true);
    expect(isUserError(new TrainingError('x'))).toBe(true);
    expect(isUserError(new RangeError('x'))).toBe(false);
    expect(isUserError(new TypeError('x'))).toBe(false);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', '--threads', '1000'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('error: invalid --threads 1000: must be at most 256');
  });
});
