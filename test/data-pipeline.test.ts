// The data pipeline: sources (files, directories, globs), cleaning, bad input, the train/val
// split, the token cache (hits, invalidation, damaged files), progress output and the run-log record.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, loadCorpus, scanSources } from '../src/data/corpus.ts';
import { cleanText } from '../src/data/clean.ts';
import { buildDataset, type DataOptions, type Dataset } from '../src/data/pipeline.ts';
import { decodeTokenCache, encodeTokenCache } from '../src/data/cache.ts';
import { Progress, progressMode } from '../src/data/progress.ts';
import { train } from '../src/train/trainer.ts';
import { defaultTrainConfig, validateTrainConfig, ConfigError } from '../src/train/config.ts';

const root = join(import.meta.dirname, '..');
const tempRoot = mkdtempSync(join(tmpdir(), 'wasmgpt-pipeline-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));

let tempCount = 0;
function freshDir(): string {
  const dir = join(tempRoot, `case${tempCount++}`);
  mkdirSync(dir);
  return dir;
}

const prose = (i: number): string =>
  `Document ${i}. We the People of the United States, in Order to form a more perfect Union, establish Justice, ` +
  `insure domestic Tranquility, provide for the common defence, promote the general Welfare.\n`.repeat(4);

/** A directory of `n` text files doc00.txt, doc01.txt, ... */
function corpusDir(n: number, text: (i: number) => string = prose): string {
  const dir = freshDir();
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `doc${String(i).padStart(2, '0')}.txt`), text(i));
  return dir;
}

/** buildDataset with small defaults, a private cache directory and warnings collected. */
function build(overrides: Partial<DataOptions> & { data: string[] }): Dataset & { warnings: string[] } {
  const warnings: string[] = [];
  const options: DataOptions = {
    tokenizer: 'gpt2', compactVocab: false, clean: 'normalize', cacheDir: join(tempRoot, 'cache-default'), valFraction: 0.1, blockSize: 8,
    progress: false, warn: (line) => warnings.push(line), ...overrides,
  };
  return { ...buildDataset(options), warnings };
}

function dataErrorFrom(fn: () => unknown): DataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return err as DataError;
  }
  throw new Error('expected a DataError, but nothing was thrown');
}

describe('cleaning', () => {
  it('normalize: NFC, line breaks -> LF (never dropped), controls removed, trailing spaces stripped', () => {
    const raw = 'Cafe\u0301 \t\r\nline\u0007 two  \rthree\u000cfour\u2028five\u0000\n\n\n  indented\ttab kept\u00a0 ';
    expect(cleanText(raw, 'normalize')).toBe('Café\nline two\nthree\nfour\nfive\n\n\n  indented\ttab kept');
    const newlines = (s: string) => s.split('\n').length;
    expect(newlines(cleanText('a\r\nb\rc\nd\u0085e', 'normalize'))).toBe(5);
  });

  it('collapse also folds runs of whitespace within a line, keeping the lines', () => {
    expect(cleanText('  a \t b\u3000\u3000c  \r\n\n d   e ', 'collapse')).toBe(' a b c\n\n d e');
  });

  it('stays linear on long runs of spaces inside a line', () => {
    const started = performance.now();
    const text = 'a' + ' '.repeat(200_000) + 'b \n';
    expect(cleanText(text, 'normalize')).toBe(text.slice(0, -2) + '\n');
    expect(cleanText(text, 'collapse')).toBe('a b\n');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('none leaves the text alone', () => {
    const raw = 'a\r\nb\u0007 \u00a0 e\u0301';
    expect(cleanText(raw, 'none')).toBe(raw);
  });
});

describe('sources', () => {
  it('mixes files, directories (recursive, any extension) and globs; de-duplicated and sorted by path', () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, 'b.md'), 'markdown');
    writeFileSync(join(dir, 'a.txt'), 'text');
    writeFileSync(join(dir, 'sub', 'deeper', 'NOEXT'), 'no extension');
    writeFileSync(join(dir, 'sub', 'z.md'), 'more markdown');
    writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main');
    const other = join(freshDir(), 'x.txt');
    writeFileSync(other, 'other');
    const { files } = scanSources([other, join(dir, '**', '*.md'), dir, join(dir, 'a.txt')]);
    expect(files.map((f) => relative(tempRoot, f.path))).toEqual([
      relative(tempRoot, join(dir, 'a.txt')),
      relative(tempRoot, join(dir, 'b.md')),
      relative(tempRoot, join(dir, 'sub', 'deeper', 'NOEXT')),
      relative(tempRoot, join(dir, 'sub', 'z.md')),
      relative(tempRoot, other),
    ]);
  });

  it('globs relative to the working directory and names a pattern with no matches', () => {
    const docs = loadCorpus(['corpora/*.md']);
    expect(docs.map((d) => d.name)).toEqual(['corpora/README.md']);
    const err = dataErrorFrom(() => loadCorpus([join(tempRoot, 'nothing-here', '*.txt')]));
    expect(err.message).toMatch(/no files match the pattern .*nothing-here/);
  });

  it('never reads the token cache directory', () => {
    const dir = corpusDir(3);
    const cacheDir = join(dir, '.wasmgpt-cache');
    build({ data: [dir], cacheDir });
    expect(readdirSync(cacheDir).length).toBe(1);
    const again = build({ data: [dir], cacheDir });
    expect(again.files).toBe(3);
    expect(again.cacheHit).toBe(true);
    expect(again.warnings).toEqual([]);
  });
});

describe('bad input', () => {
  it('invalid UTF-8 becomes U+FFFD with a warning that names the file and counts the sequences', () => {
    const dir = freshDir();
    const file = join(dir, 'latin1.txt');
    // 0xE9 (Latin-1 e-acute) and a truncated 3-byte sequence are invalid; a real U+FFFD (EF BF BD) is not counted
    writeFileSync(file, Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' ok \uFFFD '), Buffer.from([0xe2, 0x82]), Buffer.from(' end')]));
    const warnings: string[] = [];
    const docs = loadCorpus([file], { warn: (w) => warnings.push(w) });
    expect(docs[0]!.text).toBe('caf\uFFFD ok \uFFFD \uFFFD end');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: /);
    expect(warnings[0]).toContain(file);
    expect(warnings[0]).toContain('2 invalid UTF-8 sequences');
  });

  it('a binary file is skipped with a warning naming it; the other files are used', () => {
    const dir = corpusDir(3);
    const blob = join(dir, 'blob.bin');
    writeFileSync(blob, Buffer.from([1, 2, 3, 0, 4, 5]));
    const data = build({ data: [dir], cacheDir: null });
    expect(data.files).toBe(3);
    expect(data.warnings.filter((w) => w.startsWith('warning:') && w.includes(blob) && /binary/.test(w))).toHaveLength(1);
  });

  it('a UTF-16 file (NUL bytes) is binary', () => {
    const file = join(freshDir(), 'utf16.txt');
    writeFileSync(file, Buffer.from('\uFEFFhello world', 'utf16le'));
    const err = dataErrorFrom(() => build({ data: [file], cacheDir: null }));
    expect(err.message).toMatch(/empty.*binary/);
  });

  it('a corpus that is empty after cleaning is an error', () => {
    const file = join(freshDir(), 'controls.txt');
    writeFileSync(file, '\u0001\u0002 \u0003\t\r\n');
    const err = dataErrorFrom(() => build({ data: [file], cacheDir: null }));
    expect(err.message).toMatch(/corpus is empty after cleaning \(--clean normalize\)/);
    expect(err.message).toContain(file);
    // with --clean none the control characters are text
    expect(build({ data: [file], cacheDir: null, clean: 'none', tokenizer: 'char', blockSize: 1, valFraction: 0.5 }).documents).toBe(1);
  });

  it('documents without text after cleaning are left out', () => {
    const dir = corpusDir(4);
    writeFileSync(join(dir, 'blank.txt'), ' \n\t\n');
    const data = build({ data: [dir], cacheDir: null });
    expect(data.files).toBe(5);
    expect(data.documents).toBe(4);
  });

  it('a missing path names it', () => {
    const err = dataErrorFrom(() => build({ data: [join(tempRoot, 'missing.txt')], cacheDir: null }));
    expect(err.message).toMatch(/data path not found: .*missing\.txt/);
  });

  it('unloadable GPT-2 ranks fall back to the char tokenizer with a warning', () => {
    const data = build({ data: [corpusDir(3)], cacheDir: null, ranksModule: '/no/such/ranks.cjs' });
    expect(data.tokenizer.kind).toBe('char');
    expect(data.warnings.some((w) => w.startsWith('warning: cannot load the GPT-2 BPE ranks') && /falling back to the char tokenizer/.test(w))).toBe(true);
  });

  it('config validation names the data options', () => {
    const bad = [
      [{ tokenizer: 'bpe' }, /--tokenizer/],
      [{ clean: 'scrub' }, /--clean/],
      [{ cacheDir: '' }, /--cache-dir/],
      [{ compactVocab: 'yes' }, /--compact-vocab/],
      [{ valFraction: 1 }, /--val-fraction/],
    ] as const;
    for (const [override, message] of bad) {
      expect(() => validateTrainConfig({ ...defaultTrainConfig, ...(override as object) })).toThrow(ConfigError);
      expect(() => validateTrainConfig({ ...defaultTrainConfig, ...(override as object) })).toThrow(message);
    }
  });
});

describe('split', () => {
  it('documents are joined with EOT (gpt2) and whole documents go to val from the end', () => {
    const dir = corpusDir(10);
    const data = build({ data: [dir], cacheDir: null, valFraction: 0.25 });
    expect(data.split.byPosition).toBe(false);
    expect(data.split.trainDocs + data.split.valDocs).toBe(10);
    expect(data.split.val.length).toBeGreaterThanOrEqual(0.25 * data.tokens);
    const tok = data.tokenizer;
    const trainText = tok.decode(data.split.train);
    const valText = tok.decode(data.split.val);
    expect(valText.split('<|endoftext|>')).toHaveLength(data.split.valDocs);
    expect(trainText.split('<|endoftext|>')).toHaveLength(data.split.trainDocs);
    expect(valText.startsWith('Document 9') || valText.startsWith(`Document ${10 - data.split.valDocs}`)).toBe(true);
    expect(data.summary[1]).toMatch(/split by document: \d+ train \/ \d+ val/);
    // train and val are views of one stream, not copies
    expect(data.split.train.buffer).toBe(data.split.val.buffer);
  });

  it('val takes at least block + 1 tokens even for a tiny fraction', () => {
    const data = build({ data: [corpusDir(8)], cacheDir: null, valFraction: 0.001, blockSize: 100 });
    expect(data.split.byPosition).toBe(false);
    expect(data.split.val.length).toBeGreaterThanOrEqual(101);
  });

  it('splits by position when the last document alone holds most of the corpus', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'a-short.txt'), prose(0));
    writeFileSync(join(dir, 'b-long.txt'), prose(1).repeat(8));
    const data = build({ data: [dir], cacheDir: null });
    expect(data.split.byPosition).toBe(true);
    expect(data.split.val.length).toBe(data.tokens - Math.floor(data.tokens * 0.9));
  });

  it('a single document splits by position, and says so', () => {
    const file = join(freshDir(), 'one.txt');
    writeFileSync(file, prose(1));
    const data = build({ data: [file], cacheDir: null });
    expect(data.split.byPosition).toBe(true);
    expect(data.split.train.length).toBe(Math.floor(data.tokens * 0.9));
    expect(data.summary[1]).toContain('split by position');
  });

  it('char: documents joined by newlines; the vocabulary comes from the training text only', () => {
    const dir = corpusDir(6, (i) => (i < 5 ? 'abc abc cab\n'.repeat(10) : 'abc xyz! 🙂 abc\n'.repeat(10)));
    const data = build({ data: [dir], tokenizer: 'char', cacheDir: null, valFraction: 0.1 });
    expect(data.split.valDocs).toBe(1);
    const vocab = (data.tokenizer.describe() as { chars: string[] }).chars;
    expect(vocab).toEqual(['\n', ' ', 'a', 'b', 'c']);
    expect(data.tokenizer.decode(data.split.val)).toBe('abc \uFFFD\uFFFD\uFFFD\uFFFD \uFFFD abc\n'.repeat(10));
    const unknown = data.warnings.filter((w) => w.startsWith('warning:') && /unknown id/.test(w));
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toContain('50 characters of the validation text (5 distinct)');
  });
});

describe('token cache', () => {
  it('writes the tokens once and reads them back on the next run, identical', () => {
    const cacheDir = join(freshDir(), 'cache');
    const dir = corpusDir(5);
    const first = build({ data: [dir], cacheDir });
    expect(first.cacheHit).toBe(false);
    const files = readdirSync(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^gpt2-[0-9a-f]{32}\.tok$/);
    const bytes = readFileSync(join(cacheDir, files[0]!));
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('WGPTTOK\0');
    expect(bytes.readUInt32LE(12)).toBe(1); // gpt2
    expect(bytes.readUInt32LE(16)).toBe(2); // uint16 ids
    expect(Number(bytes.readBigUInt64LE(24))).toBe(first.tokens);

    const second = build({ data: [dir], cacheDir });
    expect(second.cacheHit).toBe(true);
    expect(second.summary[0]).toContain('token cache hit');
    expect([...second.split.train]).toEqual([...first.split.train]);
    expect([...second.split.val]).toEqual([...first.split.val]);
    expect(second.record).toMatchObject({ ...first.record, cache_hit: true, tokenize_s: second.tokenizeS });
  });

  it('is invalidated by a changed file, another cleaning mode or another tokenizer', () => {
    const cacheDir = join(freshDir(), 'cache');
    const dir = corpusDir(4);
    expect(build({ data: [dir], cacheDir }).cacheHit).toBe(false);
    expect(build({ data: [dir], cacheDir }).cacheHit).toBe(true);
    writeFileSync(join(dir, 'doc02.txt'), prose(2) + 'One more sentence.');
    const changed = build({ data: [dir], cacheDir });
    expect(changed.cacheHit).toBe(false);
    expect(changed.tokenizer.decode(changed.split.train)).toContain('One more sentence.');
    expect(build({ data: [dir], cacheDir, clean: 'collapse' }).cacheHit).toBe(false);
    expect(build({ data: [dir], cacheDir, tokenizer: 'char' }).cacheHit).toBe(false);
    expect(build({ data: [dir], cacheDir, tokenizer: 'char' }).cacheHit).toBe(true);
    // compaction and the split are computed from the cached tokens: no new cache entry
    expect(build({ data: [dir], cacheDir, compactVocab: true, valFraction: 0.3 }).cacheHit).toBe(true);
    expect(readdirSync(cacheDir)).toHaveLength(4);
  });

  it('detects truncated, damaged and foreign cache files and rebuilds them', () => {
    const cacheDir = join(freshDir(), 'cache');
    const dir = corpusDir(4);
    const reference = build({ data: [dir], cacheDir });
    const file = join(cacheDir, readdirSync(cacheDir)[0]!);
    const good = readFileSync(file);
    const damage: [string, () => void, RegExp][] = [
      ['truncated', () => truncateSync(file, good.length - 10), /truncated/],
      ['empty', () => writeFileSync(file, ''), /truncated/],
      ['foreign', () => writeFileSync(file, 'just some text that happens to be here, long enough for a header and a digest. '.repeat(3)), /wrong magic/],
      ['flipped byte', () => {
        const bad = Buffer.from(good);
        bad[bad.length - 40]! ^= 0xff;
        writeFileSync(file, bad);
      }, /checksum/],
      ['trailing bytes', () => writeFileSync(file, Buffer.concat([good, Buffer.from([0, 0])])), /trailing/],
    ];
    for (const [, spoil, reason] of damage) {
      spoil();
      const rebuilt = build({ data: [dir], cacheDir });
      expect(rebuilt.cacheHit).toBe(false);
      expect(rebuilt.warnings).toHaveLength(1);
      expect(rebuilt.warnings[0]).toMatch(/^warning: token cache file .* is .*; rebuilding it/);
      expect(rebuilt.warnings[0]).toMatch(reason);
      expect([...rebuilt.split.train]).toEqual([...reference.split.train]);
      expect(readFileSync(file)).toEqual(good);
    }
  });

  it('rejects a cache file written for other inputs or another tokenizer, and stores uint32 ids when needed', () => {
    const key = 'ab'.repeat(32);
    const corpus = { tokenizer: 'char' as const, tokens: Uint32Array.from([0x1f600, 10, 97]), docLengths: Uint32Array.from([1, 1]) };
    const bytes = encodeTokenCache(key, corpus);
    expect(bytes.readUInt32LE(16)).toBe(4);
    const hit = decodeTokenCache(bytes, { tokenizer: 'char', key });
    expect(hit.status).toBe('hit');
    if (hit.status === 'hit') expect([...hit.corpus.tokens]).toEqual([0x1f600, 10, 97]);
    expect(decodeTokenCache(bytes, { tokenizer: 'char', key: 'cd'.repeat(32) })).toMatchObject({ status: 'invalid', reason: /key mismatch/ });
    expect(decodeTokenCache(bytes, { tokenizer: 'gpt2', key })).toMatchObject({ status: 'invalid', reason: /another tokenizer/ });
  });

  it('char corpora with characters beyond U+FFFF round-trip through the cache', () => {
    const cacheDir = join(freshDir(), 'cache');
    const dir = corpusDir(3, (i) => `emoji ${i} 😀 𝄞 and text\n`.repeat(20));
    const first = build({ data: [dir], cacheDir, tokenizer: 'char' });
    const second = build({ data: [dir], cacheDir, tokenizer: 'char' });
    expect(second.cacheHit).toBe(true);
    expect(second.tokenizer.decode(second.split.train)).toBe(first.tokenizer.decode(first.split.train));
    expect(first.tokenizer.decode(first.split.train)).toContain('😀 𝄞');
  });

  it('a cache directory that cannot be written is a warning, not an error', () => {
    const blocker = join(freshDir(), 'file-not-dir');
    writeFileSync(blocker, 'x');
    const data = build({ data: [corpusDir(3)], cacheDir: join(blocker, 'cache') });
    expect(data.cacheHit).toBe(false);
    expect(data.warnings.some((w) => w.startsWith('warning: cannot write the token cache'))).toBe(true);
  });

  it('a corpus line of 50,000 characters without whitespace tokenizes quickly', () => {
    const file = join(freshDir(), 'long.txt');
    writeFileSync(file, 'start ' + 'x'.repeat(25_000) + '-'.repeat(25_000) + ' end\n' + prose(0));
    const started = performance.now();
    const data = build({ data: [file], cacheDir: null });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(data.tokenizer.decode(data.split.train) + data.tokenizer.decode(data.split.val)).toContain('x'.repeat(25_000) + '-'.repeat(25_000));
  });
});

describe('progress', () => {
  it('is shown on a terminal for corpora over 1 MiB, anywhere for very large ones, never when off', () => {
    expect(progressMode('auto', 10_000, true)).toBe('off');
    expect(progressMode('auto', 2 << 20, true)).toBe('bar');
    expect(progressMode('auto', 2 << 20, false)).toBe('off');
    expect(progressMode('auto', 100 << 20, false)).toBe('lines');
    expect(progressMode(false, 100 << 20, true)).toBe('off');
    expect(progressMode(true, 10, false)).toBe('lines');
  });

  it('prints a line per 10% with MB/s when not on a terminal', () => {
    const lines: string[] = [];
    const progress = new Progress('tokenizing', 10_000_000, 'lines', { write: (t: string) => lines.push(t) });
    for (let done = 0; done <= 10_000_000; done += 250_000) progress.update(done);
    progress.finish();
    expect(lines.length).toBeGreaterThanOrEqual(8);
    expect(lines.length).toBeLessThanOrEqual(10);
    expect(lines[0]).toMatch(/^tokenizing \[#*\.*\] +\d+% [\d.]+\/10\.0 MB [\d.]+ MB\/s ETA \d+s\n$/);
  });

  it('stays quiet for small corpora (tests, scripts)', () => {
    const data = build({ data: [corpusDir(2)], cacheDir: null, progress: 'auto' });
    expect(data.warnings).toEqual([]);
  });
});

describe('training run', () => {
  it('writes the data record to the log before step 0 and stores the tokenizer in the checkpoint', async () => {
    const dir = freshDir();
    const logFile = join(dir, 'log.jsonl');
    const lines: string[] = [];
    const result = await train({
      data: [corpusDir(6)], tokenizer: 'gpt2', compactVocab: true, cacheDir: join(dir, 'cache'), nLayer: 1, nHead: 2, nEmbd: 16,
      blockSize: 16, batchSize: 2, maxIters: 4, evalInterval: 2, evalIters: 1, warmupIters: 1, lrDecayIters: 4, sampleTokens: 5,
      outDir: join(dir, 'out'), logFile, threads: 1,
    }, { onLog: (line) => lines.push(line) });
    const records = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records[0].type).toBe('data');
    for (const field of ['files', 'tokens', 'vocab_size', 'train_tokens', 'val_tokens', 'cache_hit', 'tokenize_s']) expect(records[0]).toHaveProperty(field);
    expect(records[0]).toMatchObject({ files: 6, tokenizer: 'gpt2', compacted: true, cache_hit: false, vocab_size: result.tokenizer.vocabSize });
    expect(records[1]).toMatchObject({ type: 'eval', step: 0 });
    expect(lines[0]).toMatch(/^data: 6 files .* gpt2 tokenizer, vocab \d+ \(compacted from 50257/);
    expect(lines[1]).toMatch(/^split: train \d+ tokens, val \d+ tokens/);
    const meta = JSON.parse(readFileSync(join(dir, 'out', 'state.json'), 'utf8'));
    expect(meta.tokenizer.kind).toBe('gpt2');
    expect(meta.tokenizer.vocab).toHaveLength(result.tokenizer.vocabSize);
  });
});

describe('CLI', () => {
  it('--help lists the data options with their defaults', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'train.ts', '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--tokenizer[\s\S]*\[choices: "gpt2", "char"\] \[default: "gpt2"\]/);
    expect(r.stdout).toMatch(/--clean[\s\S]*\[default: "normalize"\]/);
    expect(r.stdout).toMatch(/--cache-dir[\s\S]*\[default: "\.wasmgpt-cache"\]/);
    expect(r.stdout).toContain('--compact-vocab');
    expect(r.stdout).toContain('--no-compact-vocab');
    expect(r.stdout).toContain('--no-cache');
  });
});
