// bench/text-quality.ts on hand-made text.
import { describe, it, expect } from 'vitest';
import { words, wordSet, textQuality } from '../bench/text-quality.ts';

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
