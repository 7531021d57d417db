// The library's surface as a script uses it (src/index.ts): train() prints nothing and
// reports through its hooks, trains on in-memory text, stops on a throwing hook; models
// come from a config, a checkpoint or a Hugging Face export and generate text; engines and
// models side by side do not disturb each other; mistakes are WasmgptErrors.
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  train, Engine, GPT, generate, stream, exportHfGpt2, loadCheckpointState, newTrainState, trainStep, AdamW, WasmgptError, ConfigError,
  type StepProgress, type EvalProgress, type LogLevel,
} from '../src/index.ts';
import { OPTIONS, OPTION_KEYS, showOptionValue } from '../src/train/config.ts';
import { expectBitwiseEqual } from './harness.ts';

const verse = 'Twinkle, twinkle, little star,\nHow I wonder what you are!\n';
const tiny = (outDir: string, more: Record<string, unknown> = {}) => ({
  text: verse.repeat(40), tokenizer: 'char' as const, nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 16, batchSize: 4,
  maxIters: 6, evalInterval: 3, evalIters: 2, threads: 1, outDir, cacheDir: null, sampleTokens: 8, ...more,
});
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-api-'));

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(WasmgptError);
    return (e as WasmgptError).code;
  }
  throw new Error('expected a WasmgptError');
}

describe('train()', () => {
  it('prints nothing (warnings included); onStep, onEval and onLog get the run as data and lines', async () => {
    const spies = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write'), vi.spyOn(console, 'log'), vi.spyOn(console, 'error')];
    try {
      // more threads than cores: a warning
      await train(tiny(tmp(), { threads: availableParallelism() + 1 }));
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const steps: StepProgress[] = [];
    const evals: EvalProgress[] = [];
    const lines: [string, LogLevel][] = [];
    const result = await train(tiny(tmp(), { threads: availableParallelism() + 1 }), {
      onStep: (s) => steps.push(s), onEval: (e) => evals.push(e), onLog: (line, level) => lines.push([line, level]),
    });
    expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(evals.map(({ step, trainLoss, valLoss }) => ({ step, trainLoss, valLoss }))).toEqual(result.evals);
    expect(evals[2].tokens).toBe(6 * 4 * 16);
    expect(evals.every((e) => e.rssBytes > 0 && e.arenaBytes > 0 && e.elapsedS > 0)).toBe(true);
    expect(lines.filter(([, level]) => level === 'warning').map(([l]) => l)).toEqual([expect.stringMatching(/^warning: --threads \d+ is more than this machine's/)]);
    expect(lines.some(([l]) => l.startsWith('data: 1 in-memory text ('))).toBe(true);
    expect(lines.some(([l]) => /^step \d+ \|/.test(l))).toBe(false); // steps came as data
    expect(lines.at(-1)![0]).toMatch(/^done: 6 steps/);
  });

  it('without onStep, onLog gets the step lines every logInterval steps', async () => {
    const lines: string[] = [];
    await train(tiny(tmp(), { logInterval: 2 }), { onLog: (l) => lines.push(l) });
    expect(lines.filter((l) => /^step \d+ \|/.test(l)).map((l) => l.split(' ')[1])).toEqual(['0', '2', '4', '5']);
  });

  it('text: one string or several documents; the same text and seed give the same weights', async () => {
    const one = await train(tiny(tmp()));
    const again = await train(tiny(tmp()));
    expectBitwiseEqual(one.params, again.params, 'same text, same seed');
    const docs = await train(tiny(tmp(), { text: [verse.repeat(20), verse.repeat(20)] }));
    expect(docs.steps).toBe(6);
    expect(docs.tokenizer.vocabSize).toBe(one.tokenizer.vocabSize);
  });

  it('refuses bad text: not strings, an empty list, with data, or nothing but whitespace', async () => {
    expect(await codeOf(train({ ...tiny(tmp()), text: [] }))).toBe('E_CONFIG');
    expect(await codeOf(train({ ...tiny(tmp()), text: [1] as unknown as string[] }))).toBe('E_CONFIG');
    expect(await codeOf(train({ ...tiny(tmp()), data: ['README.md'] }))).toBe('E_CONFIG');
    expect(await codeOf(train({ ...tiny(tmp()), text: '  \n\t ' }))).toBe('E_DATA_EMPTY');
    expect(await codeOf(train({ ...tiny(tmp()), maxIter: 5 } as never))).toBe('E_CONFIG');
  });

  it('a hook that throws stops the run after a checkpoint, and the run rejects with that error', async () => {
    const out = tmp();
    const oops = new Error('my hook failed');
    await expect(train(tiny(out, { maxIters: 50 }), { onStep: (s) => { if (s.step === 2) throw oops; } })).rejects.toBe(oops);
    // the thread stops at the first step end after it hears of it (step 2 at the earliest)
    const stoppedAt = loadCheckpointState(out).step;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    expect(stoppedAt).toBeLessThan(50);
    const resumed = await train(tiny(out, { maxIters: 50, resume: true, sampleTokens: 0 }), {});
    expect(resumed.steps).toBe(50 - stoppedAt);
  });
});

describe('models and text generation', () => {
  it('GPT.fromCheckpoint carries its tokenizer; generate() is the continuation, stream() the same in pieces, per seed', async () => {
    const out = tmp();
    await train(tiny(out, { maxIters: 30, evalInterval: 30 }));
    const engine = await Engine.create({ threads: 1 });
    try {
      const model = GPT.fromCheckpoint(engine, out);
      expect(model.tokenizer?.kind).toBe('char');
      const text = await generate(model, 'Twinkle', { maxNewTokens: 40, seed: 3 });
      expect(text).toHaveLength(40);
      expect(await generate(model, 'Twinkle', { maxNewTokens: 40, seed: 3 })).toBe(text);
      expect(await generate(model, 'Twinkle', { maxNewTokens: 40, seed: 4 })).not.toBe(text);
      const pieces: string[] = [];
      for await (const piece of stream(model, 'Twinkle', { maxNewTokens: 40, seed: 3 })) pieces.push(piece);
      expect(pieces.join('')).toBe(text);
      expect(pieces).toHaveLength(40);
      // one generation at a time per model; breaking out of a stream frees it
      const first = stream(model, 'Twinkle', { maxNewTokens: 40 });
      await first.next();
      expect(await codeOf(generate(model, 'x'))).toBe('E_CONFIG');
      await first.return();
      expect(await generate(model, 'T', { maxNewTokens: 3 })).toHaveLength(3);
      // stopped early by a signal: the text so far
      const stop = new AbortController();
      let n = 0;
      for await (const piece of stream(model, 'T', { maxNewTokens: 40, signal: stop.signal })) if (piece && ++n === 5) stop.abort();
      expect(n).toBe(5);
      expect(await codeOf(generate(model, ''))).toBe('E_CONFIG');
      expect(await codeOf(generate(model, 'T', { temperature: 0 }))).toBe('E_CONFIG');
      expect(await codeOf(generate(model, 'T', { topK: -1 }))).toBe('E_CONFIG');
    } finally {
      await engine.dispose();
    }
  });

  it('GPT.fromHuggingFace loads our export (same weights, same text); wrong kinds of directory are named', async () => {
    const out = tmp();
    await train(tiny(out, { maxIters: 3 }));
    const hf = join(tmp(), 'hf');
    exportHfGpt2(out, hf);
    const engine = await Engine.create({ threads: 1 });
    try {
      const ours = GPT.fromCheckpoint(engine, out);
      const theirs = GPT.fromHuggingFace(engine, hf);
      expectBitwiseEqual(theirs.params(), ours.params(), 'export round trip');
      expect(await generate(theirs, 'Tw', { maxNewTokens: 10 })).toBe(await generate(ours, 'Tw', { maxNewTokens: 10 }));
      expect(await codeOf(() => GPT.fromCheckpoint(engine, hf))).toBe('E_CHECKPOINT');
      expect(await codeOf(() => GPT.fromHuggingFace(engine, out))).toBe('E_CHECKPOINT');
      expect(await codeOf(() => GPT.fromCheckpoint(engine, join(out, 'nothing-here')))).toBe('E_CHECKPOINT');
    } finally {
      await engine.dispose();
    }
  });

  it('GPT.fromConfig: initialized weights, no tokenizer (generate asks for one); bad shapes are E_CONFIG', async () => {
    const engine = await Engine.create({ threads: 1 });
    try {
      const config = { vocabSize: 50, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32, dropout: 0, bias: true };
      const model = GPT.fromConfig(engine, config, { seed: 7 });
      expect(model.params().some((v) => v !== 0)).toBe(true);
      expect(model.tokenizer).toBeNull();
      expect(await codeOf(generate(model, 'hi'))).toBe('E_CONFIG');
      expect(await codeOf(() => GPT.fromConfig(engine, { ...config, nEmbd: 33 }))).toBe('E_CONFIG');
      expect(await codeOf(() => GPT.fromConfig(engine, config, { batchSize: 0 }))).toBe('E_CONFIG');
      expect(await codeOf(() => model.forward([0, 1, 99], null, 1, 3))).toBe('E_CONFIG');
    } finally {
      await engine.dispose();
    }
    expect(await codeOf(Engine.create({ threads: 0 }))).toBe('E_CONFIG');
    expect(ConfigError).toBeDefined();
  });

  it('two engines with two threads each, stepped in turn, train exactly as each does alone', async () => {
    const config = { vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: true };
    const tokens = Uint16Array.from({ length: 2000 }, (_, i) => (i * 7 + (i >> 3)) % 40);
    const setUp = async (seed: number) => {
      const engine = await Engine.create({ threads: 2 });
      const model = GPT.fromConfig(engine, config, { batchSize: 4, seed });
      const state = newTrainState(model, new AdamW(model, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 }), {
        tokens, batchSize: 4, blockSize: 16, gradAccum: 1, gradClip: 1, seed,
      });
      return { engine, model, state };
    };
    const alone = [];
    for (const seed of [1, 2]) {
      const r = await setUp(seed);
      for (let i = 0; i < 4; i++) trainStep(r.state, 1e-3);
      alone.push(r.model.params().slice());
      await r.engine.dispose();
    }
    const a = await setUp(1);
    const b = await setUp(2);
    for (let i = 0; i < 4; i++) {
      trainStep(a.state, 1e-3);
      trainStep(b.state, 1e-3);
    }
    expectBitwiseEqual(a.model.params(), alone[0], 'engine a');
    expectBitwiseEqual(b.model.params(), alone[1], 'engine b');
    await Promise.all([a.engine.dispose(), b.engine.dispose()]);
  });
});

describe('the options, documented', () => {
  it('every TrainConfig field has JSDoc saying what the option table says: its text, flag and default', () => {
    const source = readFileSync(join(import.meta.dirname, '..', 'src', 'train', 'config.ts'), 'utf8');
    const body = source.slice(source.indexOf('export interface TrainConfig {'), source.indexOf('\n}\n', source.indexOf('export interface TrainConfig {')));
    for (const key of OPTION_KEYS) {
      const o = OPTIONS[key];
      const m = new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*${key}:`).exec(body);
      expect(m, `JSDoc of ${key}`).not.toBeNull();
      const doc = m![1].replace(/\n\s*\*/g, ' ').replace(/\s+/g, ' ').trim();
      const shown = key === 'threads' ? 'os.availableParallelism()' : o.derived ? o.derived.text : showOptionValue(o.default);
      expect(doc, key).toContain(o.describe.replace(/\s+/g, ' '));
      expect(doc, key).toContain(`\`--${o.flag}\`; default ${shown}.`);
    }
  });
});
