// Typed errors: everything thrown for a user's mistake is a WasmgptError with a stable code
// (the same across the training thread's boundary); anything else is a bug of ours.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WasmgptError, ERROR_CODES } from '../src/errors.ts';
import { TrainingError, errorFromThread, isUserError } from '../src/train/errors.ts';
import { ConfigError, resolveTrainConfig } from '../src/train/config.ts';
import { CheckpointError, loadCheckpoint } from '../src/train/checkpoint.ts';
import { DataError } from '../src/data/corpus.ts';
import { WorkerError } from '../src/engine/pool.ts';
import { InteropError } from '../src/interop/hf-gpt2.ts';
import { SafetensorsError } from '../src/io/safetensors.ts';
import { train } from '../src/train/trainer.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-errors-'));
const quiet = {};
const tiny = { tokenizer: 'char' as const, cacheDir: null, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, maxIters: 2, evalInterval: 2, evalIters: 1, sampleTokens: 0, threads: 1 };

describe('WasmgptError', () => {
  it('each user error class is one, with its default code', () => {
    const cases: [WasmgptError, string][] = [
      [new ConfigError('x'), 'E_CONFIG'], [new DataError('x'), 'E_DATA'], [new CheckpointError('x'), 'E_CHECKPOINT'],
      [new TrainingError('x'), 'E_TRAINING'], [new WorkerError('x'), 'E_WORKER'], [new InteropError('x'), 'E_INTEROP'],
      [new SafetensorsError('x'), 'E_FORMAT'],
    ];
    for (const [e, code] of cases) {
      expect(e).toBeInstanceOf(WasmgptError);
      expect(e.code, e.name).toBe(code);
      expect(code in ERROR_CODES).toBe(true);
      expect(isUserError(e)).toBe(true);
    }
    for (const bug of [new RangeError('x'), new TypeError('x'), new Error('x')]) expect(isUserError(bug)).toBe(false);
  });

  it('crosses the thread boundary with its class and code; a bug keeps its name and stack', () => {
    const e = errorFromThread({ name: 'DataError', message: 'corpus is empty', code: 'E_DATA_EMPTY' });
    expect(e).toBeInstanceOf(DataError);
    expect((e as DataError).code).toBe('E_DATA_EMPTY');
    expect((errorFromThread({ name: 'ConfigError', message: 'm' }) as ConfigError).code).toBe('E_CONFIG');
    const bug = errorFromThread({ name: 'RangeError', message: 'offset out of bounds', stack: 'RangeError: offset out of bounds\n    at kernel' });
    expect(isUserError(bug)).toBe(false);
    expect(bug.name).toBe('RangeError');
    expect(bug.stack).toContain('at kernel');
  });

  it('train(): a bad option is E_CONFIG, an empty corpus E_DATA_EMPTY (from the training thread), a damaged checkpoint E_CHECKPOINT_CORRUPT', async () => {
    expect(() => resolveTrainConfig({ bogus: 1 } as never)).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    await expect(train({ ...tiny, lr: -1 }, quiet)).rejects.toMatchObject({ code: 'E_CONFIG', name: 'ConfigError' });
    const dir = tmp();
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '   \n\n');
    await expect(train({ ...tiny, data: [empty], outDir: join(dir, 'a') }, quiet)).rejects.toMatchObject({ code: 'E_DATA_EMPTY', name: 'DataError' });

    const text = join(dir, 'text.txt');
    writeFileSync(text, 'a small corpus, repeated so there is enough of it. '.repeat(40));
    const run = await train({ ...tiny, data: [text], outDir: join(dir, 'out') }, quiet);
    const state = JSON.parse(readFileSync(join(dir, 'out', 'state.json'), 'utf8'));
    const model = join(dir, 'out', state.files.model.name);
    const bytes = readFileSync(model);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(model, bytes);
    expect(() => loadCheckpoint(join(dir, 'out'), run.layout)).toThrow(expect.objectContaining({ code: 'E_CHECKPOINT_CORRUPT', name: 'CheckpointError' }));
    expect(() => loadCheckpoint(join(dir, 'nowhere'), run.layout)).toThrow(expect.objectContaining({ code: 'E_CHECKPOINT' }));
  });
});
