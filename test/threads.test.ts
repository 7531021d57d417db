// The worker pool: bitwise determinism at any thread count, failures that surface
// as errors (never hangs), and workers that never keep a process alive.
import { describe, it, expect, afterEach } from 'vitest';
import { loadCheckpointState } from '../src/train/checkpoint.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, existsSync, cpSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/trainer.ts';
import type { TrainConfig } from '../src/train/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import { WorkerError } from '../src/engine/pool.ts';
import { Backoff, CTRL_INTS, initChunks, runChunks } from '../src/engine/protocol.ts';

const root = join(import.meta.dirname, '..');
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-threads-'));
const quiet = {};
const text = 'It was the best of times, it was the worst of times, it was the age of wisdom.\n'.repeat(60);

function corpus(): string {
  const file = join(tmp(), 'corpus.txt');
  writeFileSync(file, text);
  return file;
}

describe('chunk claiming', () => {
  // Threads claim in an arbitrary interleaving; simulated here by letting a random
  // thread claim one chunk at a time (a thread that found nothing left is done).
  it.each([
    [0, 2048, 16, 2], [5, 1000, 64, 2], [0, 37, 4, 3], [0, 1, 1, 2], [0, 256, 16, 16], [3, 100_003, 64, 5],
  ])('[%i, %i) grain %i, %i threads: every element once, chunks in grain multiples, own segment first', (start, end, grain, threads) => {
    const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_INTS * 4));
    initChunks(ctrl, start, end, grain, threads);
    const pieces: { thread: number; s: number; e: number }[] = [];
    const stop = new Error('stop');
    const done = new Set<number>();
    let seed = 12345;
    while (done.size < threads) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const thread = seed % threads;
      if (done.has(thread)) continue;
      let claimed = false;
      try {
        runChunks(ctrl, thread, threads, (s, e) => { pieces.push({ thread, s, e }); claimed = true; throw stop; });
      } catch (e) {
        if (e !== stop) throw e;
      }
      if (!claimed) done.add(thread);
    }
    const seen = new Uint8Array(end - start);
    for (const { s, e } of pieces) for (let i = s; i < e; i++) seen[i - start]++;
    expect(seen.every((n) => n === 1)).toBe(true);
    for (const { s, e } of pieces) if (e !== end) expect((e - s) % grain).toBe(0);
    // a thread's first chunk is in its own segment, unless others had claimed all of it
    const per = Math.ceil(Math.ceil((end - start) / grain) / threads) * grain;
    for (let t = 0; t < threads; t++) {
      const at = pieces.findIndex((p) => p.thread === t);
      if (at < 0) continue;
      const segStart = Math.min(end, start + t * per), segEnd = Math.min(end, start + (t + 1) * per);
      const takenBefore = pieces.slice(0, at).filter((p) => p.s >= segStart && p.e <= segEnd).reduce((n, p) => n + p.e - p.s, 0);
      if (takenBefore < segEnd - segStart) {
        expect(pieces[at].s).toBeGreaterThanOrEqual(segStart);
        expect(pieces[at].e).toBeLessThanOrEqual(segEnd);
      }
    }
    expect(pieces.length).toBeLessThanOrEqual(threads * threads * 64 + threads);
  });
});

describe('spin, then sleep', () => {
  it('Backoff says to sleep only once it has spun for its time, and starts over on reset', () => {
    const slow = new Backoff(60_000);
    for (let i = 0; i < 10_000; i++) expect(slow.spunOut()).toBe(false);
    const fast = new Backoff(1);
    const t0 = performance.now();
    let turns = 0;
    while (!fast.spunOut()) turns++;
    expect(performance.now() - t0).toBeGreaterThan(1);
    expect(turns).toBeGreaterThan(64);
    fast.reset();
    expect(fast.spunOut()).toBe(false);
  });
});

describe('profiling', () => {
  it('runChunks adds the time of each chunk it runs to its own thread\'s slot only', () => {
    const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_INTS * 4));
    initChunks(ctrl, 0, 64, 1, 2);
    const busy = new Float64Array(2);
    const spin = () => { const t = performance.now(); while (performance.now() - t < 0.05); };
    runChunks(ctrl, 1, 2, spin, busy);
    expect(busy[0]).toBe(0);
    expect(busy[1]).toBeGreaterThan(0.05);
  });

  it('with timing on, every thread adds its time in kernel calls; with it off, nothing', async () => {
    const engine = await Engine.create({ threads: 2, kernels: 'simd' });
    try {
      const n = 16 << 20; // 64 MiB of zeros: each thread's half takes milliseconds
      const buf = engine.arena.alloc(n * 4);
      engine.run('zeroFill', [buf], 0, n, 64);
      expect(engine.threadBusyMs()).toEqual([0, 0]);
      engine.setTiming(true);
      const t0 = performance.now();
      engine.run('zeroFill', [buf], 0, n, 64);
      const wall = performance.now() - t0;
      // (on a loaded machine the main thread may claim every chunk before the worker wakes)
      const busy = engine.threadBusyMs();
      expect(busy.every((ms) => ms >= 0 && ms <= wall)).toBe(true);
      expect(busy[0] + busy[1]).toBeGreaterThan(0);
      engine.setTiming(false);
      engine.run('zeroFill', [buf], 0, n, 64);
      expect(engine.threadBusyMs()).toEqual(busy);
    } finally {
      await engine.dispose();
    }
  });
});

describe('thread count does not change results', () => {
  it('1, 2 and 3 threads give bitwise-identical weights after 20 steps, with dropout on', async () => {
    const data = [corpus()];
    const hashes: string[] = [];
    for (const threads of [1, 2, 3]) {
      const dir = tmp();
      const config: Partial<TrainConfig> = {
        data, threads, tokenizer: 'char', cacheDir: null, dropout: 0.1, nLayer: 2, nHead: 2, nEmbd: 24, blockSize: 16, batchSize: 5, gradAccum: 2,
        maxIters: 20, evalInterval: 10, evalIters: 2, sampleTokens: 0, outDir: join(dir, 'out'), logFile: join(dir, 'log.jsonl'),
      };
      await train(config, quiet);
      const done = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.type === 'done');
      expect(done.threads).toBe(threads);
      expect(done.params_hash).toMatch(/^[0-9a-f]{64}$/);
      hashes.push(done.params_hash);
    }
    expect(hashes[1]).toBe(hashes[0]);
    expect(hashes[2]).toBe(hashes[0]);
  });
});

describe('worker failures surface as errors', () => {
  const saved = process.env.WASMGPT_FAULT;
  afterEach(() => {
    if (saved === undefined) delete process.env.WASMGPT_FAULT;
    else process.env.WASMGPT_FAULT = saved;
  });

  async function failingStep(fault: string): Promise<{ error: unknown; ms: number }> {
    process.env.WASMGPT_FAULT = fault;
    const engine = await Engine.create({ threads: 2, kernels: 'simd' });
    const model = new GPT(engine, { vocabSize: 13, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, 4);
    model.init(1);
    const ids = Int32Array.from({ length: 32 }, (_, i) => i % 13);
    const t0 = performance.now();
    let error: unknown = null;
    try {
      for (let i = 0; i < 5; i++) {
        model.forward(ids, ids, 4, 8);
        model.backward();
      }
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - t0;
    await engine.dispose();
    return { error, ms };
  }

  it('a worker that throws: the main thread gets its message, within a second', async () => {
    const { error, ms } = await failingStep('throw:1:3');
    expect(error).toBeInstanceOf(WorkerError);
    expect((error as Error).message).toMatch(/worker 1: injected failure in worker 1 at dispatch 3/);
    expect(ms).toBeLessThan(1000);
  });

  it('a worker that exits: an error naming the worker and its exit code, within a second', async () => {
    const { error, ms } = await failingStep('exit:1:2');
    expect(error).toBeInstanceOf(WorkerError);
    expect((error as Error).message).toMatch(/worker 1 exited with code 3/);
    expect(ms).toBeLessThan(1000);
  });

  it('the CLI exits non-zero with the worker message and leaves no checkpoint or temporary file', () => {
    const outDir = join(tmp(), 'out');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', '--data', corpus(), '--threads', '2', '--n-layer', '1',
      '--n-embd', '16', '--n-head', '2', '--block-size', '8', '--max-iters', '50', '--out-dir', outDir, '--tokenizer', 'char', '--no-cache'], {
      cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WASMGPT_FAULT: 'throw:1:40' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: worker 1: injected failure/);
    expect(existsSync(outDir) ? readdirSync(outDir) : []).toEqual([]);
  });

  it('a worker that fails during a step, outside the update: the CLI saves the state before that step and prints the error', () => {
    const outDir = join(tmp(), 'out');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', '--data', corpus(), '--threads', '2', '--n-layer', '1',
      '--n-embd', '32', '--n-head', '2', '--block-size', '16', '--max-iters', '50', '--eval-iters', '1', '--sample-tokens', '0',
      '--out-dir', outDir, '--tokenizer', 'char', '--no-cache'], {
      cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WASMGPT_FAULT: 'throw:1:600' },
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/checkpoint of step (\d+) saved to .*state\.json/);
    expect(r.stderr).toMatch(/error: worker 1: injected failure/);
    const step = Number(/checkpoint of step (\d+)/.exec(r.stdout)![1]);
    expect(step).toBeGreaterThan(0);
    expect(loadCheckpointState(outDir).step).toBe(step);
  });
});

describe('workers never keep a process alive', () => {
  it('a script that forgets to dispose its engine still exits', () => {
    const dir = tmp();
    const script = join(dir, 'forget.mts');
    writeFileSync(script, `
      import { Engine } from ${JSON.stringify(join(root, 'src/engine/engine.ts'))};
      const engine = await Engine.create({ threads: 2 });
      console.log('threads', engine.threads);
    `);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('threads 2');
  });

  it('works from compiled JavaScript too (tsc output, no tsx), bitwise equal to 1 thread', () => {
    const out = tmp();
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', out],
      { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    cpSync(join(root, 'build'), join(out, 'build'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(out, 'node_modules')); // the dependencies, as an install has them
    const script = join(out, 'check.mjs');
    writeFileSync(script, `
      import { Engine } from './src/engine/engine.js';
      import { GPT } from './src/model/gpt.js';
      const grads = [];
      for (const threads of [1, 2]) {
        const engine = await Engine.create({ threads });
        const model = new GPT(engine, { vocabSize: 13, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0.1, bias: true }, 4);
        model.init(1);
        const ids = Int32Array.from({ length: 32 }, (_, i) => (i * 5) % 13);
        model.forward(ids, ids, 4, 8, { train: true });
        model.backward();
        grads.push(Buffer.from(model.grads().slice().buffer).toString('hex'));
        console.log('threads', engine.threads);
        await engine.dispose();
      }
      console.log(grads[0] === grads[1] ? 'bitwise equal' : 'different');
    `);
    const r = spawnSync(process.execPath, [script], { cwd: out, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('threads 1\nthreads 2\nbitwise equal\n');
  });

  it('--threads 1 starts no workers', async () => {
    const engine = await Engine.create({ threads: 1 });
    expect(engine.threads).toBe(1);
    await engine.dispose();
  });
});
