// The trainer, the CLI and their error paths.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train, TrainingError } from '../src/train/trainer.ts';
import { learningRate } from '../src/train/schedule.ts';
import { defaultTrainConfig, validateTrainConfig, ConfigError, type TrainConfig } from '../src/train/config.ts';
import { loadCheckpoint, loadCheckpointState } from '../src/train/checkpoint.ts';
import { DataError } from '../src/data/corpus.ts';

const root = join(import.meta.dirname, '..');
const quiet = {};
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-train-'));

// A small fast model; callers override what they test.
function tiny(overrides: Partial<TrainConfig> = {}): Partial<TrainConfig> {
  return {
    nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, batchSize: 4, maxIters: 10, evalInterval: 5, evalIters: 2,
    warmupIters: 2, lrDecayIters: 10, sampleTokens: 0, outDir: join(tmp(), 'out'), tokenizer: 'char', cacheDir: null, threads: 1,
    ...overrides,
  };
}

function textFile(text: string): string {
  const file = join(tmp(), 'corpus.txt');
  writeFileSync(file, text);
  return file;
}

const poem = 'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs!\n'.repeat(40);

describe('learning-rate schedule (nanoGPT)', () => {
  const s = { lr: 1e-3, minLr: 1e-4, warmupIters: 100, lrDecayIters: 2000 };
  it('warms up linearly as lr * (it + 1) / (warmup + 1)', () => {
    expect(learningRate(0, s)).toBeCloseTo(1e-3 / 101, 12);
    expect(learningRate(49, s)).toBeCloseTo((1e-3 * 50) / 101, 12);
  });
  it('decays by cosine to minLr, then stays there', () => {
    expect(learningRate(100, s)).toBeCloseTo(1e-3, 12);
    expect(learningRate(1050, s)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12);
    expect(learningRate(2000, s)).toBeCloseTo(1e-4, 12);
    expect(learningRate(5000, s)).toBe(1e-4);
  });
});

describe('option validation', () => {
  const bad: [Partial<TrainConfig>, RegExp][] = [
    [{ nEmbd: 100, nHead: 3 }, /--n-embd.*multiple of --n-head/],
    [{ lr: -1 }, /--lr/],
    [{ minLr: 1 }, /--min-lr/],
    [{ batchSize: 0 }, /--batch-size/],
    [{ blockSize: 2.5 }, /--block-size/],
    [{ dropout: 1 }, /--dropout/],
    [{ beta2: 1 }, /--beta2/],
    [{ gradAccum: 0 }, /--grad-accum/],
    [{ maxIters: -3 }, /--max-iters/],
  ];
  for (const [override, message] of bad) {
    it(`rejects ${JSON.stringify(override)}`, () => {
      expect(() => validateTrainConfig({ ...defaultTrainConfig, ...override })).toThrow(message);
      expect(() => validateTrainConfig({ ...defaultTrainConfig, ...override })).toThrow(ConfigError);
    });
  }
  it('accepts the defaults', () => {
    expect(() => validateTrainConfig(defaultTrainConfig)).not.toThrow();
  });
});

describe('CLI', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  it('--help lists every option with its default', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    for (const option of ['--data', '--tokenizer', '--n-layer', '--n-head', '--n-embd', '--block-size', '--batch-size', '--dropout',
      '--max-iters', '--lr', '--min-lr', '--warmup-iters', '--lr-decay-iters', '--weight-decay', '--beta1', '--beta2', '--grad-clip',
      '--eval-interval', '--eval-iters', '--seed', '--out-dir', '--log-file', '--sample-tokens', '--grad-accum']) {
      expect(r.stdout).toContain(option);
    }
    expect(r.stdout).toMatch(/--n-layer.*\[default: 4\]/);
  });
  it('rejects an invalid value naming the option, and exits non-zero', () => {
    const r = cli('--n-embd', '100', '--n-head', '3');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--n-embd/);
  });
  it('rejects unknown options and non-numbers', () => {
    expect(cli('--bogus', '1').status).not.toBe(0);
    const r = cli('--lr', 'fast');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/lr/);
  });
  it('names a missing data file', () => {
    const r = cli('--data', '/no/such/file.txt');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not found.*\/no\/such\/file\.txt/);
  });
});

describe('bad input', () => {
  it('a corpus shorter than a block names --block-size', async () => {
    await expect(train(tiny({ data: [textFile('too short')], blockSize: 16 }), quiet)).rejects.toThrow(/--block-size/);
  });
  it('an empty corpus is an error', async () => {
    await expect(train(tiny({ data: [textFile('  \n\n ')] }), quiet)).rejects.toThrow(DataError);
  });
  it('a binary file is an error', async () => {
    await expect(train(tiny({ data: [textFile('abc\0def'.repeat(100))] }), quiet)).rejects.toThrow(/binary/);
  });
  it('a memory plan over 4 GiB is refused before allocating, naming the fix', async () => {
    await expect(train(tiny({ data: [textFile(poem)], nLayer: 8, nEmbd: 512, nHead: 8, blockSize: 64, batchSize: 4096 }), quiet))
      .rejects.toThrow(/4 GiB.*--batch-size/);
  });
  it('a model that fits only with activation recompute or 16-bit storage: the refusal says so', async () => {
    await expect(train(tiny({ data: [textFile(poem)], nLayer: 8, nEmbd: 512, nHead: 8, blockSize: 64, batchSize: 320 }), quiet))
      .rejects.toThrow(/over the 4 GiB wasm32 limit: try --recompute blocks, or --precision bf16, or use a smaller/);
    await expect(train(tiny({ data: [textFile(poem)], nLayer: 8, nEmbd: 512, nHead: 8, blockSize: 64, batchSize: 480, precision: 'bf16' }), quiet))
      .rejects.toThrow(/over the 4 GiB wasm32 limit: try --recompute blocks, or use a smaller/);
  });
  it('a diverging run stops with an error naming the step, never a silent NaN', async () => {
    const run = train(tiny({ data: [textFile(poem)], lr: 1e12, minLr: 0, warmupIters: 0, gradClip: 0, weightDecay: 0, maxIters: 50, evalInterval: 1000 }), quiet);
    await expect(run).rejects.toThrow(TrainingError);
    await expect(run).rejects.toThrow(/at step \d+/);
  });
});

describe('training', () => {
  it('loss falls on real text, weights stay finite, the log has every record', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const result = await train({
      nLayer: 2, nHead: 4, nEmbd: 64, blockSize: 32, batchSize: 8, maxIters: 120, evalInterval: 60, evalIters: 4,
      warmupIters: 10, lrDecayIters: 120, lr: 3e-3, sampleTokens: 20, outDir: join(dir, 'out'), logFile,
      tokenizer: 'char', cacheDir: join(dir, 'cache'), threads: 1,
    }, quiet);
    const first = result.evals[0];
    const last = result.evals[result.evals.length - 1];
    expect(last.step).toBe(120);
    expect(last.valLoss).toBeLessThan(first.valLoss - 1.0);
    expect(result.params.every(Number.isFinite)).toBe(true);
    expect([...result.sample].length).toBeGreaterThanOrEqual(20);

    const records = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = records.filter((r) => r.type === 'step');
    expect(steps).toHaveLength(120);
    expect(Object.keys(steps[0])).toEqual(expect.arrayContaining(['step', 'loss', 'lr', 'tok_per_s', 'ms']));
    expect(records.filter((r) => r.type === 'eval').map((r) => r.step)).toEqual([0, 60, 120]);
    expect(steps.map((s) => s.tokens)).toEqual(steps.map((s) => (s.step + 1) * 8 * 32));
    for (const e of records.filter((r) => r.type === 'eval')) {
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['train_loss', 'val_loss', 'rss_bytes', 'arena_bytes', 'elapsed_s', 'tokens']));
      expect(e.tokens).toBe(e.step * 8 * 32);
    }
    const done = records[records.length - 1];
    expect(done.type).toBe('done');
    expect(done.steps).toBe(120);
    expect(done.threads).toBe(1);
    expect(done.warmup_steps).toBe(3);
    expect(done.tok_per_s).toBeGreaterThan(0);
    expect(done.peak_arena_bytes).toBeGreaterThan(0);
    expect(done.peak_rss_bytes).toBeGreaterThan(done.peak_arena_bytes);
    expect(done.sample).toBe(result.sample);
    expect(Object.keys(steps[0])).toEqual(expect.arrayContaining(['loss_scale', 'skipped']));
    expect(steps.every((s) => s.loss_scale === 1 && s.skipped === false)).toBe(true);

    const ckpt = loadCheckpoint(join(dir, 'out'), result.layout);
    expect(ckpt.state.step).toBe(120);
    expect(Buffer.from(ckpt.params.buffer, ckpt.params.byteOffset, ckpt.params.byteLength))
      .toEqual(Buffer.from(result.params.slice().buffer));
  });

  it('SwiGLU with recompute and a chunked LM head: loss falls; the MLP\'s counts and what the plan keeps are printed', async () => {
    const lines: string[] = [];
    const result = await train(tiny({
      data: [textFile(poem)], activation: 'swiglu', recompute: 'blocks', lmHeadChunk: 7, maxIters: 40, evalInterval: 40, lr: 3e-3, warmupIters: 4, lrDecayIters: 40, sampleTokens: 10,
    }), { onLog: (l) => lines.push(l) });
    expect(result.evals[1].valLoss).toBeLessThan(result.evals[0].valLoss - 0.5);
    expect([...result.sample].length).toBeGreaterThanOrEqual(10);
    const out = lines.join('\n');
    // hidden round_up(8/3 * 32, 64) = 128: 3 * 32 * 128 + 2 * 128 + 32 against GELU's 2 * 32 * 128 + 128 + 32
    expect(out).toContain('mlp: swiglu, hidden 128: 12,576 parameters per block (a gelu MLP of hidden 128: 8,352)');
    expect(out).toMatch(/activations: block inputs [\d.]+ KiB, one block \(replayed in backward\) [\d.]+ KiB, .*LM head \(chunks of 7 rows\)/);
  });

  it('one seed gives one run: bitwise-identical weights, with dropout on', async () => {
    const data = [textFile(poem)];
    const a = await train(tiny({ data, dropout: 0.1, gradAccum: 2 }), quiet);
    const b = await train(tiny({ data, dropout: 0.1, gradAccum: 2 }), quiet);
    const c = await train(tiny({ data, dropout: 0.1, gradAccum: 2, seed: 7 }), quiet);
    expect(Buffer.from(a.params.slice().buffer)).toEqual(Buffer.from(b.params.slice().buffer));
    expect(Buffer.from(a.params.slice().buffer)).not.toEqual(Buffer.from(c.params.slice().buffer));
  });
});

describe('checkpoints', () => {
  it('Ctrl-C saves a checkpoint and exits 130', async () => {
    const outDir = join(tmp(), 'out');
    const child = spawn(process.execPath, ['--import', 'tsx', 'train.ts', '--data', textFile(poem), '--max-iters', '100000',
      '--n-layer', '1', '--n-embd', '32', '--n-head', '2', '--block-size', '16', '--out-dir', outDir, '--tokenizer', 'char', '--no-cache'], { cwd: root });
    let out = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (/step 20 \|/.test(out) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(130);
    expect(out).toMatch(/interrupted at step \d+: checkpoint saved/);
    expect(existsSync(join(outDir, 'state.json'))).toBe(true);
    expect(loadCheckpointState(outDir).step).toBeGreaterThan(20);
  });
});
