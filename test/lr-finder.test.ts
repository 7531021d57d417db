// The learning-rate range test: its suggestions, its guard, and that it leaves the run
// exactly as it found it.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { newTrainState, trainStep, snapshot, type TrainState } from '../src/train/state.ts';
import { sweepLearningRate, suggest, sweepSvg, lrAt, type LrPoint } from '../src/train/lr-finder.ts';
import { findLearningRate } from '../src/train/trainer.ts';
import { paramsHash } from '../src/train/trainer.ts';
import { expectBitwiseEqual } from './harness.ts';

const root = join(import.meta.dirname, '..');
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-lrf-'));

// A synthetic problem: a tiny model learning a cyclic sequence (each token predicts the next).
function cyclicRun(engine: Engine, dropout = 0): TrainState {
  const V = 11;
  const model = new GPT(engine, { vocabSize: V, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout, bias: true }, 4);
  model.init(3);
  const optimizer = new AdamW(model, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
  const tokens = Uint16Array.from({ length: 2000 }, (_, i) => (i * 3) % V);
  return newTrainState(model, optimizer, { tokens, batchSize: 4, blockSize: 8, gradAccum: 2, gradClip: 1, seed: 5 });
}

describe('lr finder', () => {
  it('leaves weights, moments, counters and every RNG exactly as they were: training after a sweep = training without one', () => {
    const engine = new Engine({ kernels: 'simd' });
    const state = cyclicRun(engine, 0.1);
    for (let i = 0; i < 3; i++) trainStep(state, 1e-3);
    const before = snapshot(state);
    const sweep = sweepLearningRate(state, { startLr: 1e-6, endLr: 1, steps: 40 });
    expect(sweep.points.length).toBeGreaterThan(5);
    const after = snapshot(state);
    expectBitwiseEqual(after.params, before.params, 'weights');
    expectBitwiseEqual(after.m, before.m, 'first moments');
    expectBitwiseEqual(after.v, before.v, 'second moments');
    expect({ step: after.step, adamSteps: after.adamSteps, batches: after.batches, dropout: after.dropout })
      .toEqual({ step: before.step, adamSteps: before.adamSteps, batches: before.batches, dropout: before.dropout });
    // and the run goes on as if no sweep had happened
    for (let i = 0; i < 4; i++) trainStep(state, 1e-3);
    const withSweep = paramsHash(state.model.params());
    const other = cyclicRun(new Engine({ kernels: 'simd' }), 0.1);
    for (let i = 0; i < 7; i++) trainStep(other, 1e-3);
    expect(withSweep).toBe(paramsHash(other.model.params()));
  });

  it('on a synthetic problem, the suggestion falls inside the range of learning rates that train it well', () => {
    const engine = new Engine({ kernels: 'simd' });
    // the known good range: learning rates whose loss after 60 steps is within 25% of the best improvement
    const grid = Array.from({ length: 11 }, (_, i) => 10 ** (-5 + i / 2)); // 1e-5 .. 1
    const start = cyclicRun(engine);
    const initial = trainStep(start, 0).loss;
    const finals = grid.map((lr) => {
      const s = cyclicRun(engine);
      let loss = 0;
      for (let i = 0; i < 60; i++) loss = trainStep(s, lr).loss;
      return Number.isFinite(loss) ? loss : Infinity;
    });
    const best = Math.min(...finals);
    const good = grid.filter((_, i) => initial - finals[i] >= 0.75 * (initial - best));
    const [lo, hi] = [Math.min(...good), Math.max(...good)];
    const sweep = sweepLearningRate(cyclicRun(engine), { startLr: 1e-6, endLr: 10, steps: 60 });
    console.log(`synthetic problem: good range ${lo.toExponential(1)}..${hi.toExponential(1)}; suggested ${sweep.steepest?.toExponential(2)}, minimum/10 ${sweep.minOver10?.toExponential(2)}`);
    expect(sweep.steepest).not.toBeNull();
    expect(sweep.steepest!).toBeGreaterThanOrEqual(lo / Math.SQRT2);
    expect(sweep.steepest!).toBeLessThanOrEqual(hi * Math.SQRT2);
  });

  it('says so when the loss never falls, instead of suggesting a number', () => {
    const engine = new Engine({ kernels: 'simd' });
    const sweep = sweepLearningRate(cyclicRun(engine), { startLr: 1e-9, endLr: 1e-8, steps: 20 });
    expect(sweep.steepest).toBeNull();
    expect(sweep.minOver10).toBeNull();
    expect(sweep.explanation).toMatch(/the loss never fell/);
    expect(sweepSvg(sweep)).toMatch(/no suggestion: the loss never fell/);
  });

  it('suggest(): steepest descent in log lr, minimum / 10; a diverging tail stops the sweep', () => {
    // a made-up curve: flat, a steep fall centred at 1e-3, a minimum at 1e-1, then up
    const points: LrPoint[] = Array.from({ length: 61 }, (_, i) => {
      const lr = lrAt(i, { startLr: 1e-6, endLr: 1, steps: 61 });
      const l = Math.log10(lr);
      const smoothed = 3 - 2 / (1 + Math.exp(-3 * (l + 3))) + (l > -1 ? 20 * (l + 1) ** 2 : 0);
      return { lr, loss: smoothed, smoothed };
    });
    const s = suggest(points);
    expect(Math.log10(s.steepest!)).toBeCloseTo(-3, 0);
    expect(Math.log10(s.minOver10! * 10)).toBeCloseTo(-1, 0);
  });

  it('find-lr from the CLI writes lr-finder.csv and lr-finder.svg and prints the suggestion; --find-lr-first trains with it', () => {
    const dir = tmp();
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'abcdefghij'.repeat(400));
    const common = ['--data', corpus, '--tokenizer', 'char', '--no-cache', '--n-layer', '1', '--n-embd', '16', '--n-head', '2', '--block-size', '8',
      '--batch-size', '4', '--threads', '1', '--sweep-steps', '40', '--end-lr', '10'];
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', 'find-lr', ...common, '--out-dir', join(dir, 'out')], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const suggested = /suggested lr: ([0-9.e+-]+) \(steepest descent/.exec(r.stdout);
    expect(suggested).not.toBeNull();
    const csv = readFileSync(join(dir, 'out', 'lr-finder.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('step,lr,loss,smoothed_loss');
    expect(csv.length).toBeGreaterThan(10);
    const svg = readFileSync(join(dir, 'out', 'lr-finder.svg'), 'utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toMatch(/steepest descent/);
    expect(svg).toMatch(/minimum \/ 10/);

    const log = join(dir, 'log.jsonl');
    const t = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', ...common, '--find-lr-first', '--max-iters', '30', '--warmup-iters', '0',
      '--eval-interval', '100', '--eval-iters', '1', '--sample-tokens', '0', '--out-dir', join(dir, 'out2'), '--log-file', log], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(t.status, t.stderr).toBe(0);
    const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const finder = records.find((x) => x.type === 'lr_finder');
    expect(finder.steepest).toBeCloseTo(Number(suggested![1]), 2);
    const steps = records.filter((x) => x.type === 'step');
    expect(steps[0].lr).toBeCloseTo(finder.steepest, 12); // no warm-up: the peak rate at once
    expect(t.stdout).toMatch(/training with --lr /);
  });

  it('findLearningRate() from a script returns the sweep', async () => {
    const dir = tmp();
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, 'abcdefghij'.repeat(400));
    const sweep = await findLearningRate({
      data: [corpus], tokenizer: 'char', cacheDir: null, nLayer: 1, nEmbd: 16, nHead: 2, blockSize: 8, batchSize: 4, threads: 1,
      sweepSteps: 30, endLr: 10, outDir: join(dir, 'out'),
    }, {});
    expect(sweep.points.length).toBeGreaterThan(5);
    expect(sweep.steepest).toBeGreaterThan(0);
  });
});
