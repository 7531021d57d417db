import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DataError, loadCorpus, loadDefaultCorpus, type Document } from '../src/data/corpus.ts';
import { BatchSampler, buildCharTokenizer, splitTokens } from '../src/data/dataset.ts';
import { Rng } from '../src/engine/random.ts';
import { CharTokenizer, tokenizerFromDescription } from '../src/data/tokenizer.ts';

const tempRoot = mkdtempSync(join(tmpdir(), 'wasmgpt-data-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));

let tempCount = 0;
function freshDir(): string {
  const dir = join(tempRoot, `case${tempCount++}`);
  mkdirSync(dir);
  return dir;
}

/** The DataError thrown by fn; fails the test when fn returns or throws something else. */
function dataErrorFrom(fn: () => unknown): DataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return err as DataError;
  }
  throw new Error('expected a DataError, but nothing was thrown');
}

describe('loadDefaultCorpus', () => {
  it('loads every State of the Union address, sorted by file name', () => {
    const docs = loadDefaultCorpus();
    expect(docs.length).toBeGreaterThan(100);
    const names = docs.map((d) => d.name);
    expect(names).toEqual([...names].sort());
    expect(names[0]).toBe('1790_george_washington_n.txt');
    expect(names.every((n) => n.endsWith('.txt'))).toBe(true);
    expect(docs.every((d) => d.text.trim().length > 0 && !d.text.includes('\r'))).toBe(true);
  });
});

describe('loadCorpus', () => {
  it('reads files and directories recursively, all sorted by path, with CRLF turned into LF', () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'b.md'), 'second\r\nline');
    writeFileSync(join(dir, 'a.txt'), 'first');
    writeFileSync(join(dir, 'sub', 'c'), 'third');
    const single = join(freshDir(), 'single.txt'); // a later directory than `dir`
    writeFileSync(single, 'alone');
    const docs = loadCorpus([single, dir]);
    expect(docs.map((d) => d.name)).toEqual([join(dir, 'a.txt'), join(dir, 'b.md'), join(dir, 'sub', 'c'), single]);
    expect(docs.map((d) => d.text)).toEqual(['first', 'second\nline', 'third', 'alone']);
  });

  it('names a missing path and the --data argument', () => {
    const missing = join(tempRoot, 'no-such-file.txt');
    const err = dataErrorFrom(() => loadCorpus([missing]));
    expect(err.message).toContain(`data path not found: ${missing}`);
    expect(err.message).toContain('--data');
  });

  it('skips a binary file given explicitly with a warning; with nothing else the corpus is empty, naming it', () => {
    const file = join(freshDir(), 'image.bin');
    writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02]));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const err = dataErrorFrom(() => loadCorpus([file]));
      expect(err.message).toContain(file);
      expect(err.message).toMatch(/empty.*binary/);
      const warnings = stderr.mock.calls.map((call) => String(call[0]));
      expect(warnings.some((w) => w.startsWith('warning:') && w.includes(file) && /binary/.test(w))).toBe(true);
    } finally {
      stderr.mockRestore();
    }
  });

  it('skips a binary file inside a directory with a warning', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'text.txt'), 'hello');
    writeFileSync(join(dir, 'blob.dat'), Buffer.from('abc\0def'));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const docs = loadCorpus([dir]);
      expect(docs.map((d) => d.name)).toEqual([join(dir, 'text.txt')]);
      const warnings = stderr.mock.calls.map((call) => String(call[0]));
      expect(warnings.some((w) => w.startsWith('warning:') && w.includes(join(dir, 'blob.dat')))).toBe(true);
    } finally {
      stderr.mockRestore();
    }
  });

  it('rejects a corpus with no non-whitespace text, naming the paths', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'blank.txt'), ' \n\t\n');
    const emptyDir = freshDir();
    const err = dataErrorFrom(() => loadCorpus([dir, emptyDir]));
    expect(err.message).toMatch(/empty/);
    expect(err.message).toContain(dir);
    expect(err.message).toContain(emptyDir);
  });
});

describe('CharTokenizer', () => {
  // Emoji with a skin-tone modifier, an astral musical symbol, CJK, and e + combining acute accent.
  const text = 'héllo 👋🏽 世界 e\u0301 𝄞\nok';

  it('uses one id per code point and round-trips', () => {
    const tok = CharTokenizer.fromText(text);
    const codePoints = [...text];
    const ids = tok.encode(text);
    expect(ids.length).toBe(codePoints.length);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.vocabSize).toBe(new Set(codePoints).size + 1);
    expect(tok.eotToken).toBe(tok.encode('\n')[0]);
    expect(tok.encode('𝄞')).toHaveLength(1);
    expect(tok.encode('\u0301')).toHaveLength(1);
    expect(ids.every((id) => id >= 1 && id < tok.vocabSize)).toBe(true);
    expect(tok.unknownCount).toBe(0);
  });

  it('orders the vocabulary by code point', () => {
    const chars = CharTokenizer.fromText('b😀a\uFF21').describe().chars;
    expect(chars).toEqual(['a', 'b', '\uFF21', '😀']);
  });

  it('maps unseen characters to id 0 and counts them', () => {
    const tok = CharTokenizer.fromText('abc');
    const ids = tok.encode('abxc🙂');
    expect(ids).toEqual([1, 2, 0, 3, 0]);
    expect(tok.unknownCount).toBe(2);
    expect(tok.decode(ids)).toBe('ab\uFFFDc\uFFFD');
  });

  it('survives a JSON round trip of its description', () => {
    const tok = CharTokenizer.fromText(text);
    const restored = tokenizerFromDescription(JSON.parse(JSON.stringify(tok.describe())));
    expect(restored.vocabSize).toBe(tok.vocabSize);
    expect(restored.encode(text)).toEqual(tok.encode(text));
    expect(() => tokenizerFromDescription({ kind: 'nope' })).toThrow(DataError);
  });
});

describe('splitTokens', () => {
  it('splits several documents at whole-document boundaries from the end', () => {
    // Ten documents of 100 tokens each: "aaaa...", "bbbb...", ...
    const docs: Document[] = Array.from({ length: 10 }, (_, i) => ({ name: `d${i}`, text: String.fromCharCode(97 + i).repeat(100) }));
    const tok = buildCharTokenizer(docs);
    const split = splitTokens(docs, tok, { valFraction: 0.15, blockSize: 8 });
    const total = 10 * 100 + 9; // nine newline separators
    expect(split.byPosition).toBe(false);
    expect(split.val.length).toBeGreaterThanOrEqual(0.15 * total);
    expect(split.trainDocs + split.valDocs).toBe(10);
    expect(split.valDocs).toBe(2);
    // Val is exactly the last documents joined with newlines; train is the rest.
    const valText = docs.slice(10 - split.valDocs).map((d) => d.text).join('\n');
    const trainText = docs.slice(0, split.trainDocs).map((d) => d.text).join('\n');
    expect(tok.decode(split.val)).toBe(valText);
    expect(tok.decode(split.train)).toBe(trainText);
  });

  it('takes more documents when val would be shorter than a block', () => {
    const docs: Document[] = Array.from({ length: 6 }, (_, i) => ({ name: `d${i}`, text: 'xy'.repeat(10) }));
    const split = splitTokens(docs, buildCharTokenizer(docs), { valFraction: 0.01, blockSize: 30 });
    expect(split.byPosition).toBe(false);
    expect(split.val.length).toBeGreaterThanOrEqual(31);
    expect(split.valDocs).toBe(2);
  });

  it('splits a single document by position, first 90% for training', () => {
    const text = 'the quick brown fox jumps over the lazy dog. '.repeat(20);
    const docs: Document[] = [{ name: 'only', text }];
    const tok = buildCharTokenizer(docs);
    const split = splitTokens(docs, tok, { valFraction: 0.1, blockSize: 16 });
    const cut = Math.floor(text.length * 0.9);
    expect(split.byPosition).toBe(true);
    expect(tok.decode(split.train)).toBe(text.slice(0, cut));
    expect(tok.decode(split.val)).toBe(text.slice(cut));
    expect(split.trainDocs).toBe(1);
    expect(split.valDocs).toBe(1);
  });

  it('falls back to a position split when whole documents would leave train too short', () => {
    const docs: Document[] = [
      { name: 'short', text: 'abc' },
      { name: 'long', text: 'abcdefghij'.repeat(20) },
    ];
    const tok = buildCharTokenizer(docs);
    const split = splitTokens(docs, tok, { valFraction: 0.2, blockSize: 10 });
    expect(split.byPosition).toBe(true);
    const joined = docs.map((d) => d.text).join('\n');
    expect(tok.decode(split.train) + tok.decode(split.val)).toBe(joined);
    expect(split.train.length).toBe(Math.floor(joined.length * 0.8));
  });

  it('rejects a corpus too short for the block size, suggesting --block-size', () => {
    const docs: Document[] = [{ name: 'tiny', text: 'just a few characters' }];
    const err = dataErrorFrom(() => splitTokens(docs, buildCharTokenizer(docs), { valFraction: 0.1, blockSize: 64 }));
    expect(err.message).toContain(`${docs[0]!.text.length} tokens`);
    expect(err.message).toContain('65');
    expect(err.message).toContain('--block-size');
  });
});

describe('BatchSampler', () => {
  const tokens = Uint32Array.from({ length: 500 }, (_, i) => i); // token value = its position
  const B = 4;
  const T = 8;

  function draw(seed: number, steps: number): Int32Array[] {
    const sampler = new BatchSampler(tokens, B, T, seed);
    const batches: Int32Array[] = [];
    for (let s = 0; s < steps; s++) {
      const x = new Int32Array(B * T);
      const y = new Int32Array(B * T);
      sampler.next(x, y);
      batches.push(x, y);
    }
    return batches;
  }

  it('is deterministic for a seed and differs across seeds', () => {
    expect(draw(7, 5)).toEqual(draw(7, 5));
    expect(draw(7, 5)).not.toEqual(draw(8, 5));
  });

  it('reads uint16 arrays and views the same way as uint32 arrays', () => {
    const wide = new BatchSampler(tokens, B, T, 9);
    const narrowBacking = new Uint16Array(600);
    narrowBacking.set(tokens, 50);
    const narrow = new BatchSampler(narrowBacking.subarray(50, 550), B, T, 9);
    for (let step = 0; step < 5; step++) {
      const [x1, y1, x2, y2] = [0, 1, 2, 3].map(() => new Int32Array(B * T));
      wide.next(x1!, y1!);
      narrow.next(x2!, y2!);
      expect(x2).toEqual(x1);
      expect(y2).toEqual(y1);
    }
  });

  it('fills rows of consecutive tokens with y shifted one ahead of x', () => {
    const sampler = new BatchSampler(tokens, B, T, 1);
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    for (let step = 0; step < 50; step++) {
      sampler.next(x, y);
      for (let b = 0; b < B; b++) {
        const start = x[b * T]!;
        expect(start).toBeGreaterThanOrEqual(0);
        expect(start).toBeLessThanOrEqual(tokens.length - T - 1);
        for (let t = 0; t < T; t++) {
          expect(x[b * T + t]).toBe(tokens[start + t]);
          expect(y[b * T + t]).toBe(tokens[start + t + 1]);
        }
      }
    }
  });

  it('reaches both ends of the valid offset range', () => {
    const short = Uint32Array.from({ length: 12 }, (_, i) => i);
    const sampler = new BatchSampler(short, 1, 8, 3); // offsets 0..3
    const x = new Int32Array(8);
    const y = new Int32Array(8);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      sampler.next(x, y);
      seen.add(x[0]!);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('Rng', () => {
  it('draws standard normals: mean ~0, std ~1 over 100k draws', () => {
    const rng = new Rng(42);
    const n = 100_000;
    let sum = 0;
    let sumSquares = 0;
    for (let i = 0; i < n; i++) {
      const v = rng.normal();
      sum += v;
      sumSquares += v * v;
    }
    const mean = sum / n;
    const std = Math.sqrt(sumSquares / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
  });

  it('gives uniform floats in [0, 1) and ints in [0, n)', () => {
    const rng = new Rng(5);
    const counts = new Array<number>(10).fill(0);
    let floatsOutOfRange = 0;
    for (let i = 0; i < 50_000; i++) {
      const f = rng.nextFloat();
      if (!(f >= 0 && f < 1)) floatsOutOfRange++;
      counts[rng.int(10)]!++;
    }
    expect(floatsOutOfRange).toBe(0);
    for (const c of counts) expect(Math.abs(c - 5000)).toBeLessThan(400);
  });

  it('repeats its sequence for the same seed', () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const c = new Rng(124);
    const seqA = Array.from({ length: 10 }, () => a.nextU32());
    expect(Array.from({ length: 10 }, () => b.nextU32())).toEqual(seqA);
    expect(Array.from({ length: 10 }, () => c.nextU32())).not.toEqual(seqA);
  });
});
