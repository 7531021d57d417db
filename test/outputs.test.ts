// Paths a run writes are checked before any data is read: one line for a bad one, and
// a user's file is never destroyed.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/trainer.ts';
import { ConfigError, type TrainConfig } from '../src/train/config.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-out-'));
const text = 'Some text to train on, and to keep.\n'.repeat(50);

function run(overrides: Partial<TrainConfig>): Promise<unknown> {
  return train({
    tokenizer: 'char', cacheDir: null, nLayer: 1, nHead: 1, nEmbd: 8, blockSize: 8, batchSize: 2, maxIters: 1, evalIters: 1,
    sampleTokens: 0, threads: 1, ...overrides,
  }, {});
}

describe('--log-file', () => {
  it('refuses a path that is one of the data files, leaving it as it was', async () => {
    const dir = tmp();
    const corpus = join(dir, 'd.txt');
    writeFileSync(corpus, text);
    await expect(run({ data: [corpus], logFile: corpus, outDir: join(dir, 'out') })).rejects.toThrow(/--log-file .*d\.txt is one of the --data files/);
    expect(readFileSync(corpus, 'utf8')).toBe(text);
    // also when the data is the directory holding it
    await expect(run({ data: [dir], logFile: join(dir, 'd.txt'), outDir: join(tmp(), 'out') })).rejects.toThrow(/is one of the --data files/);
    expect(readFileSync(corpus, 'utf8')).toBe(text);
  });

  it('refuses an existing file that is not a log of this tool, unless --overwrite', async () => {
    const dir = tmp();
    const corpus = join(dir, 'd.txt');
    writeFileSync(corpus, text);
    const notes = join(dir, 'notes.md');
    writeFileSync(notes, '# my notes\n');
    await expect(run({ data: [corpus], logFile: notes, outDir: join(dir, 'out') })).rejects.toThrow(/exists and is not a log of this tool: choose another path, or pass --overwrite/);
    expect(readFileSync(notes, 'utf8')).toBe('# my notes\n');
    await run({ data: [corpus], logFile: notes, overwrite: true, outDir: join(dir, 'out') });
    expect(readFileSync(notes, 'utf8')).toMatch(/^\{"type":"data"/);
    // a log of ours may be replaced by the next run
    await run({ data: [corpus], logFile: notes, outDir: join(dir, 'out') });
  });

  it('a directory, a kernel file or an unwritable place is a ConfigError before training', async () => {
    const dir = tmp();
    const corpus = join(dir, 'd.txt');
    writeFileSync(corpus, text);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    for (const [logFile, message] of [
      [dir, /is a directory/],
      ['/proc/self/wasmgpt.jsonl', /kernel filesystem/],
      [join(file, 'log.jsonl'), /cannot write --log-file .*a-file\/log\.jsonl \((EEXIST|ENOTDIR)/],
      ['', /--log-file is empty/],
    ] as const) {
      await expect(run({ data: [corpus], logFile, outDir: join(dir, 'out') }), logFile).rejects.toThrow(message);
    }
    await expect(run({ data: [corpus], logFile: dir, outDir: join(dir, 'out') })).rejects.toBeInstanceOf(ConfigError);
  });

  it('creates its directory', async () => {
    const dir = tmp();
    const corpus = join(dir, 'd.txt');
    writeFileSync(corpus, text);
    await run({ data: [corpus], logFile: join(dir, 'logs', 'deep', 'run.jsonl'), outDir: join(dir, 'out') });
    expect(existsSync(join(dir, 'logs', 'deep', 'run.jsonl'))).toBe(true);
  });
});

describe('--out-dir', () => {
  it('is created and probed before any data is read: a file, a path under a file, /proc or an empty path is refused at once', async () => {
    const dir = tmp();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    // the data path does not exist: had the data been read first, that would be the error
    for (const [outDir, message] of [
      [file, /--out-dir .* exists and is not a directory/],
      [join(file, 'sub'), /cannot write to --out-dir .*ENOTDIR/],
      ['/proc/wasmgpt-out', /kernel filesystem/],
      ['', /--out-dir is empty/],
    ] as const) {
      await expect(run({ data: ['/no/such/corpus.txt'], outDir }), outDir).rejects.toThrow(message);
    }
    mkdirSync(join(dir, 'ok'));
    await expect(run({ data: ['/no/such/corpus.txt'], outDir: join(dir, 'ok', 'new') })).rejects.toThrow(/data path not found/);
    expect(existsSync(join(dir, 'ok', 'new'))).toBe(true);
  });
});
