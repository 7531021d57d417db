// Tokenizers: GPT-2 BPE round trips on adversarial text, agreement with js-tiktoken, compaction,
// descriptions (what a checkpoint stores), and the char fallback when the ranks cannot be loaded.
import { describe, expect, it } from 'vitest';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import { ConfigError } from '../src/errors.ts';
import { DataError, loadDefaultCorpus } from '../src/data/corpus.ts';
import { CharTokenizer, Gpt2Tokenizer, tokenizerFromDescription, type Tokenizer } from '../src/data/tokenizer.ts';
import { GPT2_EOT, GPT2_VOCAB_SIZE, MAX_PIECE_CHARS } from '../src/data/gpt2.ts';
import { Rng } from '../src/engine/random.ts';

const gpt2 = Gpt2Tokenizer.load();
const reference = new Tiktoken(gpt2Ranks);

/** String.prototype.toWellFormed (ES2024, in Node 20): lone surrogates -> U+FFFD. */
function wellFormed(s: string): string {
  return (s as unknown as { toWellFormed(): string }).toWellFormed();
}

const adversarial: [string, string][] = [
  ['empty', ''],
  ['ascii', 'Hello, world! The quick brown fox.'],
  ['emoji with skin tone and ZWJ family', 'hi 👋🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷!'],
  ['CJK without spaces', '我们的国家是一个伟大的国家。日本語のテキスト、한국어 텍스트'],
  ['combining marks', 'e\u0301 a\u0300\u0316 Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319'],
  ['CRLF and lone CR', 'line one\r\nline two\rline three\n\r\n'],
  ['tabs, NBSP, ideographic space', '\tindent\u00a0nbsp\u3000wide  two  spaces   '],
  ['controls and NUL', 'a\u0000b\u0001c\u007fd\u009fe'],
  ['lone high surrogate', 'abc\uD800def'],
  ['lone low surrogate', 'abc\uDC00def'],
  ['reversed pair', '\uDC00\uD800'],
  ['surrogate at the end', 'tail\uD83D'],
  ['special-token text', 'before <|endoftext|> after<|endoftext|>'],
  ['U+FFFD itself', 'a\uFFFDb'],
  ['astral letters', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝 𐐀𐐁'],
  ['contractions', "it's we'll they'd I'M don't"],
  ['digits', '1234567890 3.14159 1,000,000'],
];

function expectRoundTrip(tok: Tokenizer, s: string): void {
  const ids = tok.encode(s);
  for (const id of ids) {
    expect(Number.isInteger(id) && id >= 0 && id < tok.vocabSize).toBe(true);
  }
  expect(tok.decode(ids)).toBe(wellFormed(s));
}

describe('gpt2 tokenizer', () => {
  it('has the GPT-2 vocabulary and end-of-text id', () => {
    expect(gpt2.kind).toBe('gpt2');
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.eotToken).toBe(50256);
    expect(gpt2.decode([gpt2.eotToken])).toBe('<|endoftext|>');
  });

  for (const [name, s] of adversarial) {
    it(`round-trips: ${name}`, () => expectRoundTrip(gpt2, s));
  }

  it('round-trips 300 random strings mixing ASCII, CJK, emoji, marks and lone surrogates', () => {
    const rng = new Rng(2024);
    const pool = ['a', 'Z', ' ', '  ', '\n', '\r\n', '\t', '.', "'s", '9', 'é', 'e\u0301', '世', '界', '😀', '👍🏿', '\u200d',
      '\uD800', '\uDFFF', '\uFFFD', '<|endoftext|>', '\u0000', 'ﬁ', '\u00a0'];
    for (let i = 0; i < 300; i++) {
      let s = '';
      const len = rng.int(80);
      for (let j = 0; j < len; j++) s += pool[rng.int(pool.length)];
      expect(gpt2.decode(gpt2.encode(s))).toBe(wellFormed(s));
    }
  });

  it("treats '<|endoftext|>' in text as plain text, never as the EOT id", () => {
    const ids = gpt2.encode('x<|endoftext|>y');
    expect(ids).not.toContain(GPT2_EOT);
    expect(ids).toEqual(reference.encode('x<|endoftext|>y', [], []));
  });

  it('gives the same ids as js-tiktoken on real text (the piece cache changes nothing)', () => {
    const docs = loadDefaultCorpus().slice(-3);
    for (const doc of docs) expect(gpt2.encode(doc.text)).toEqual(reference.encode(doc.text, [], []));
    const mixed = adversarial.map(([, s]) => s).join(' | ');
    expect(gpt2.encode(mixed)).toEqual(reference.encode(mixed, [], []));
  });

  it('cuts very long runs without whitespace so they cannot stall, and still round-trips them', () => {
    const runs = [
      'a'.repeat(30_000),
      '='.repeat(20_000),
      '9'.repeat(10_000),
      '我'.repeat(10_000),
      ' '.repeat(20_000) + 'x',
      ' ' + '😀'.repeat(5_000), // a space first puts a surrogate pair across every 64-unit cut
      'ab'.repeat(10_000) + '\uD800',
    ];
    const started = performance.now();
    for (const s of runs) {
      const ids = gpt2.encode(s);
      expect(gpt2.decode(ids)).toBe(wellFormed(s));
      expect(ids.length).toBeGreaterThan(s.length / (4 * MAX_PIECE_CHARS));
    }
    // js-tiktoken alone needs ~14 s for one 16,000-letter run; cut into 64-unit pieces it is milliseconds
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => gpt2.decode([GPT2_VOCAB_SIZE])).toThrow(ConfigError);
    expect(() => gpt2.decode([-1])).toThrow(ConfigError);
    expect(() => gpt2.decode([1.5])).toThrow(ConfigError);
  });

  it('survives a JSON round trip of its description', () => {
    const d = JSON.parse(JSON.stringify(gpt2.describe()));
    expect(d).toEqual({ kind: 'gpt2', encoding: 'gpt2' });
    const restored = tokenizerFromDescription(d);
    expect(restored.vocabSize).toBe(50257);
    expect(restored.encode('State of the Union')).toEqual(gpt2.encode('State of the Union'));
  });

  it('reports ranks that cannot be loaded as a DataError naming the module', () => {
    expect(() => Gpt2Tokenizer.load({ ranksModule: '/no/such/ranks.cjs' })).toThrow(DataError);
    expect(() => Gpt2Tokenizer.load({ ranksModule: '/no/such/ranks.cjs' })).toThrow(/\/no\/such\/ranks\.cjs.*--tokenizer char/);
  });
});

describe('compacted gpt2 tokenizer', () => {
  const corpus = 'The Congress shall make no law. The people of the United States.\n'.repeat(3);
  const corpusIds = Uint16Array.from(gpt2.encode(corpus));
  const compact = gpt2.compact(corpusIds);

  it('keeps the corpus ids, EOT and the 256 byte tokens, densely numbered in GPT-2 order', () => {
    const used = new Set(corpusIds);
    const vocab = compact.describe().vocab!;
    expect(compact.vocabSize).toBe(vocab.length);
    expect(vocab).toEqual([...vocab].sort((a, b) => a - b));
    for (const id of used) expect(vocab).toContain(id);
    expect(vocab).toContain(GPT2_EOT);
    expect(compact.eotToken).toBe(vocab.indexOf(GPT2_EOT));
    expect(compact.vocabSize).toBeLessThanOrEqual(used.size + 1 + 256);
    expect(compact.vocabSize).toBeGreaterThanOrEqual(257);
  });

  it('maps corpus ids densely and back', () => {
    const dense = compact.fromGpt2Ids(corpusIds);
    expect(dense).toHaveLength(corpusIds.length);
    expect(Math.max(...dense)).toBeLessThan(compact.vocabSize);
    expect(compact.decode(dense)).toBe(corpus);
    expect(compact.encode(corpus)).toEqual([...dense]);
  });

  it('still round-trips text it never saw, spelling unseen tokens with byte tokens', () => {
    for (const [, s] of adversarial) expectRoundTrip(compact, s);
    const ids = compact.encode('zebra quantum 世界');
    expect(ids.length).toBeGreaterThan(gpt2.encode('zebra quantum 世界').length);
  });

  it('survives a JSON round trip of its description (the id map travels with the checkpoint)', () => {
    const restored = tokenizerFromDescription(JSON.parse(JSON.stringify(compact.describe())));
    expect(restored.vocabSize).toBe(compact.vocabSize);
    expect(restored.eotToken).toBe(compact.eotToken);
    const text = 'The people shall make a zebra law 🦓';
    expect(restored.encode(text)).toEqual(compact.encode(text));
    expect(restored.decode(compact.encode(text))).toBe(text);
  });

  it('rejects damaged descriptions', () => {
    const vocab = compact.describe().vocab!;
    expect(() => tokenizerFromDescription({ kind: 'gpt2', encoding: 'gpt2', vocab: vocab.filter((id) => id !== GPT2_EOT) })).toThrow(DataError);
    expect(() => tokenizerFromDescription({ kind: 'gpt2', encoding: 'gpt2', vocab: [...vocab, vocab[0]] })).toThrow(DataError);
    expect(() => tokenizerFromDescription({ kind: 'gpt2', encoding: 'gpt2', vocab: [...vocab, 60000] })).toThrow(DataError);
    expect(() => tokenizerFromDescription({ kind: 'gpt2', encoding: 'cl100k_base' })).toThrow(DataError);
    expect(() => compact.decode([compact.vocabSize])).toThrow(ConfigError);
  });
});

describe('char tokenizer', () => {
  it('round-trips code points (lone surrogates too) and maps unseen characters to 0, counting them', () => {
    const text = 'héllo 👋🏽 世界 e\u0301\n';
    const tok = CharTokenizer.fromText(text);
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.eotToken).toBe(tok.encode('\n')[0]);
    const ids = tok.encode('hé?🙂');
    expect(ids.filter((id) => id === 0)).toHaveLength(2);
    expect(tok.unknownCount).toBe(2);
  });

  it('encodes code-point streams with a count of unknown characters', () => {
    const tok = CharTokenizer.fromCodePoints([10, 97, 98, 0x1f600]);
    const { ids, unknown } = tok.encodeCodePoints(Uint32Array.from([97, 0x1f600, 99, 10, 0x10ffff, 98]));
    expect([...ids]).toEqual([2, 4, 0, 1, 0, 3]);
    expect(unknown).toBe(2);
    expect(ids).toBeInstanceOf(Uint16Array);
  });
});
