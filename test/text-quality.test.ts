// bench/text-quality.ts on hand-made text, and bench/convergence.ts end to end (--quick).
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { words, wordSet, textQuality } from '../bench/text-quality.ts';

const root = join(import.meta.dirname, '..');

describe('words', () => {
  it('lowercases and splits on anything but letters, digits and inner apostrophes', () => {
    expect(words('Hello, World!\nhello\tWORLD...')).toEqual(['hello', 'world', 'hello', 'world']);
    expect(words("Don't 'tis o'er, the dogs' well-met")).toEqual(["don't", 'tis', "o'er", 'the', 'dogs', 'well', 'met']);
    expect(words('in 1984 we ate 3pies; x2')).toEqual(['in', '1984', 'we', 'ate', '3pies', 'x2']);
  });
  it('reads the typographic apostrophe as an apostrophe, and handles non-ASCII letters', () => {
    expect(words('Don’t')).toEqual(["don't"]);
    expect(words('Café NAÏVE Straße')).toEqual(['café', 'naïve', 'straße']);
  });
  it('finds no words in empty or punctuation-only text', () => {
    expect(words('')).toEqual([]);
    expect(words(" ... !! -- ' \n")).toEqual([]);
  });
});

describe('textQuality', () => {
  it('counts words, known words, the top word and immediate repeats exactly', () => {
    // the the cat the cat sat: 6 words, 5 known (not sat), the x3, one the-the
    const q = textQuality('The the cat, the CAT sat.', 'The cat!');
    expect(q).toEqual({ words: 6, real_word_share: 5 / 6, top_word: 'the', top_word_share: 0.5, immediate_repeats: 1 });
  });
  it('counts every repeat of a run, across punctuation and case', () => {
    expect(textQuality('the the the', 'x').immediate_repeats).toBe(2);
    expect(textQuality('The, THE; the.\nthe', 'x').immediate_repeats).toBe(3);
    expect(textQuality('a b a b', 'x').immediate_repeats).toBe(0);
    expect(textQuality('the the', 'the')).toEqual({ words: 2, real_word_share: 1, top_word: 'the', top_word_share: 1, immediate_repeats: 1 });
  });
  it('breaks a tie for the top word by first appearance in the sample', () => {
    expect(textQuality('b a a b', '').top_word).toBe('b');
    expect(textQuality('b a a b', '').top_word_share).toBe(0.5);
    expect(textQuality('c a b', '').top_word).toBe('c');
  });
  it('matches known words after the same normalization (case, apostrophes)', () => {
    const q = textQuality("DON’T Stop, don't", "don't stop");
    expect(q.words).toBe(3);
    expect(q.real_word_share).toBe(1);
    expect(q.top_word).toBe("don't");
    expect(q.top_word_share).toBeCloseTo(2 / 3, 12);
  });
  it('gives nulls for the shares of a sample without words', () => {
    const none = { words: 0, real_word_share: null, top_word: null, top_word_share: null, immediate_repeats: 0 };
    expect(textQuality('', 'some training text')).toEqual(none);
    expect(textQuality(' .,;\n', 'some training text')).toEqual(none);
  });
  it('takes the training words as a set or as the text', () => {
    const training = 'It was the best of times, it was the worst of times.';
    const sample = 'It was the best of crimes';
    expect(textQuality(sample, wordSet(training))).toEqual(textQuality(sample, training));
    expect(textQuality(sample, training).real_word_share).toBe(5 / 6);
  });
});

describe('bench/convergence.ts --quick', () => {
  const bench = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'bench/convergence.ts', '--quick', ...args], { cwd: root, encoding: 'utf8', timeout: 110_000 });

  it('trains the recipe (on a small stand-in) and the default run, and writes CSVs, JSON, logs and maybe the plot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmgpt-conv-'));
    const words = 'to be or not that is the question whether tis nobler in the mind'.split(' ');
    const lines = Array.from({ length: 300 }, (_, i) => Array.from({ length: 8 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' '));
    writeFileSync(join(dir, 'shakespeare.txt'), lines.join('\n') + '\n');
    const out = join(dir, 'out');
    const json = join(dir, 'results.json');
    const p = bench(['--runs', 'recipe,default', '--shakespeare', join(dir, 'shakespeare.txt'), '--out-dir', out, '--json', json]);
    expect(p.status, p.stderr + p.stdout).toBe(0);
    expect(p.stdout).toMatch(/figures below mean nothing/);

    const r = JSON.parse(readFileSync(json, 'utf8'));
    expect(r.machine).toEqual({ cpu: expect.any(String), cores: expect.any(Number), node: process.version });
    expect(Object.keys(r.runs).sort()).toEqual(['default', 'recipe']);
    for (const name of ['recipe', 'default']) {
      const run = r.runs[name];
      const csv = readFileSync(join(out, `${name}.csv`), 'utf8').trim().split('\n');
      expect(csv[0]).toBe('step,tokens,train_loss,val_loss,train_seconds');
      // quick: evaluations at steps 0, 4, 8 of 8
      expect(csv.slice(1).map((l) => Number(l.split(',')[0]))).toEqual([0, 4, 8]);
      expect(run.evals.map((e: { step: number }) => e.step)).toEqual([0, 4, 8]);
      for (const e of run.evals) {
        expect(Object.keys(e).sort()).toEqual(['step', 'tokens', 'train_loss', 'train_seconds', 'val_loss']);
        expect(e.tokens).toBe(e.step * 4 * 16);
      }
      expect(run.evals[0].train_seconds).toBe(0);
      expect(run.evals[2].train_seconds).toBeGreaterThan(run.evals[1].train_seconds);
      expect(run.final_val_loss).toBe(run.evals[2].val_loss);
      expect(run.perplexity).toBeCloseTo(Math.exp(run.final_val_loss), 9);
      expect(run.bits_per_byte).toBeGreaterThan(0);
      expect(Number.isFinite(run.bits_per_byte)).toBe(true);
      expect(run.seconds_to_val_2 === null || typeof run.seconds_to_val_2 === 'number').toBe(true);
      expect(run.wall_s).toBeGreaterThan(0);
      expect(run.tok_per_s).toBeGreaterThan(0);
      expect(typeof run.sample).toBe('string');
      expect(run.sample.length).toBeGreaterThan(0);
      expect(Object.keys(run.quality).sort()).toEqual(['immediate_repeats', 'real_word_share', 'top_word', 'top_word_share', 'words']);
      const q = run.quality;
      expect(Number.isInteger(q.words) && Number.isInteger(q.immediate_repeats)).toBe(true);
      if (q.words > 0) {
        expect(q.real_word_share).toBeGreaterThanOrEqual(0);
        expect(q.real_word_share).toBeLessThanOrEqual(1);
        expect(typeof q.top_word).toBe('string');
        expect(q.top_word_share).toBeGreaterThan(0);
        expect(q.top_word_share).toBeLessThanOrEqual(1);
        expect(q.immediate_repeats).toBeLessThan(q.words);
      } else {
        expect(q).toEqual({ words: 0, real_word_share: null, top_word: null, top_word_share: null, immediate_repeats: 0 });
      }
      expect(existsSync(join(out, `${name}.jsonl`))).toBe(true);
      expect(existsSync(join(out, name, 'state.json'))).toBe(true);
    }
    // the recipe's char model: every byte of this ASCII text is one token
    expect(r.runs.recipe.bits_per_byte_detail.bytes).toBe(r.runs.recipe.bits_per_byte_detail.tokens);
    expect(r.runs.recipe.bits_per_byte).toBeCloseTo(r.runs.recipe.bits_per_byte_detail.loss / Math.LN2, 9);

    // the plot: made by `train.ts plot` when that command exists, else skipped with one line
    const svg = join(out, 'convergence.svg');
    if (r.plot) {
      expect(existsSync(svg)).toBe(true);
      expect(statSync(svg).size).toBeGreaterThan(0);
      expect(p.stdout).toMatch(/^plot: /m);
    } else {
      expect(r.plot_skipped).toEqual(expect.any(String));
      expect(p.stdout).toMatch(/^plot skipped: /m);
    }
  });

  it('skips the recipe, in one line saying why, when Tiny Shakespeare is not there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmgpt-conv-'));
    const json = join(dir, 'results.json');
    const p = bench(['--runs', 'recipe', '--shakespeare', join(dir, 'missing.txt'), '--out-dir', join(dir, 'out'), '--json', json]);
    expect(p.status, p.stderr + p.stdout).toBe(0);
    expect(p.stdout).toMatch(/^recipe: skipped: .*missing\.txt is not there/m);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    expect(r.runs).toEqual({});
    expect(r.skipped.recipe).toMatch(/missing\.txt/);
    expect(r.plot).toBe(null);
  });
});
