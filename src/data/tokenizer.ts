// Tokenizers map text to integer ids and back; their description is stored with every checkpoint.
//
//   gpt2  GPT-2 byte-level BPE (js-tiktoken, ranks from the package): 50,257 ids, EOT = 50256.
//         Compacted: only the ids a corpus uses, plus EOT and the 256 single-byte tokens, renumbered
//         densely (so the embedding and LM head shrink); text with tokens outside that set is still
//         encoded losslessly, as the bytes of those tokens.
//   char  one id per Unicode code point seen in the training text, plus the unknown id 0 for the rest.
import { ConfigError } from '../errors.ts';
import { DataError } from './corpus.ts';
import { GPT2_EOT, GPT2_VOCAB_SIZE, Gpt2Bpe, GPT2_RANKS_MODULE } from './gpt2.ts';
import type { TokenArray } from './ids.ts';

export const TOKENIZER_KINDS = ['gpt2', 'char'] as const;
export type TokenizerKind = (typeof TOKENIZER_KINDS)[number];

/** JSON-serializable form of a char tokenizer: `chars[i]` is the code point with id i + 1. */
export interface CharTokenizerDescription {
  kind: 'char';
  chars: string[];
}

/** GPT-2 BPE; `vocab` (compacted only): vocab[i] is the GPT-2 id that dense id i stands for. */
export interface Gpt2TokenizerDescription {
  kind: 'gpt2';
  encoding: 'gpt2';
  vocab?: number[];
}

export type TokenizerDescription = CharTokenizerDescription | Gpt2TokenizerDescription;

export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** Number of distinct ids; valid ids are 0 .. vocabSize - 1. */
  readonly vocabSize: number;
  /** The id placed between documents: <|endoftext|> for gpt2, the newline for char. */
  readonly eotToken: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  describe(): TokenizerDescription;
}

export function isTokenizerKind(value: unknown): value is TokenizerKind {
  return typeof value === 'string' && (TOKENIZER_KINDS as readonly string[]).includes(value);
}

/** Rebuilds a tokenizer from `describe()` output (e.g. read back from a checkpoint's JSON). */
export function tokenizerFromDescription(d: unknown, options: { ranksModule?: string } = {}): Tokenizer {
  const kind = typeof d === 'object' && d !== null ? (d as { kind?: unknown }).kind : undefined;
  if (kind === 'char') return CharTokenizer.fromDescription(d as CharTokenizerDescription);
  if (kind === 'gpt2') return Gpt2Tokenizer.fromDescription(d as Gpt2TokenizerDescription, options);
  throw new DataError(`unknown tokenizer kind ${JSON.stringify(kind)} (the checkpoint is damaged or from a newer version)`);
}

/** Id reserved for characters outside a char vocabulary. */
export const UNKNOWN_ID = 0;
const REPLACEMENT_CHAR = '\uFFFD';
const NEWLINE = 10;

/** One token per Unicode code point (not per UTF-16 unit), plus the unknown id 0. */
export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  readonly vocabSize: number;
  readonly eotToken: number;
  /** Characters that encode hit outside the vocabulary, summed over calls since the last reset. */
  unknownCount = 0;
  /** idToChar[0] is the replacement character shown for the unknown id. */
  private readonly idToChar: string[];
  private readonly charToId = new Map<string, number>();

  private constructor(chars: string[]) {
    this.idToChar = [REPLACEMENT_CHAR, ...chars];
    chars.forEach((c, i) => this.charToId.set(c, i + 1));
    this.vocabSize = this.idToChar.length;
    this.eotToken = this.charToId.get('\n') ?? UNKNOWN_ID;
  }

  /** Vocabulary = the text's distinct code points, sorted by code point value. */
  static fromText(text: string): CharTokenizer {
    const codePoints = new Set<number>();
    for (const c of text) codePoints.add(c.codePointAt(0)!);
    return CharTokenizer.fromCodePoints(codePoints);
  }

  /** Vocabulary = these code points (any order, duplicates ignored), sorted by value. */
  static fromCodePoints(codePoints: Iterable<number>): CharTokenizer {
    const sorted = [...new Set(codePoints)].sort((a, b) => a - b);
    return new CharTokenizer(sorted.map((cp) => String.fromCodePoint(cp)));
  }

  static fromDescription(d: CharTokenizerDescription): CharTokenizer {
    const chars: unknown = d.chars;
    const valid =
      Array.isArray(chars) &&
      chars.every((c) => typeof c === 'string' && [...c].length === 1) &&
      new Set(chars).size === chars.length;
    if (!valid) {
      throw new DataError('char tokenizer description needs distinct single-character strings in "chars" (the checkpoint is damaged)');
    }
    return new CharTokenizer([...(chars as string[])]);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const c of text) {
      const id = this.charToId.get(c);
      if (id === undefined) {
        this.unknownCount++;
        ids.push(UNKNOWN_ID);
      } else {
        ids.push(id);
      }
    }
    return ids;
  }

  /**
   * Ids for a stream of code points (what the token cache holds for char). Code points outside the
   * vocabulary become UNKNOWN_ID and are counted in `unknown` (not in unknownCount).
   */
  encodeCodePoints(codePoints: TokenArray): { ids: TokenArray; unknown: number } {
    let maxCodePoint = 0;
    for (const c of this.idToChar.slice(1)) maxCodePoint = Math.max(maxCodePoint, c.codePointAt(0)!);
    const lookup = new Int32Array(maxCodePoint + 1).fill(UNKNOWN_ID);
    this.idToChar.forEach((c, id) => {
      if (id !== UNKNOWN_ID) lookup[c.codePointAt(0)!] = id;
    });
    const ids = this.vocabSize <= 0x10000 ? new Uint16Array(codePoints.length) : new Uint32Array(codePoints.length);
    let unknown = 0;
    for (let i = 0; i < codePoints.length; i++) {
      const cp = codePoints[i]!;
      const id = cp <= maxCodePoint ? lookup[cp]! : UNKNOWN_ID;
      if (id === UNKNOWN_ID) unknown++;
      ids[i] = id;
    }
    return { ids, unknown };
  }

  decode(ids: ArrayLike<number>): string {
    const parts = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const c = this.idToChar[ids[i]!];
      if (c === undefined) throw new ConfigError(`token id ${ids[i]} is outside the vocabulary of ${this.vocabSize} ids`);
      parts[i] = c;
    }
    return parts.join('');
  }

  resetUnknownCount(): void {
    this.unknownCount = 0;
  }

  describe(): CharTokenizerDescription {
    return { kind: 'char', chars: this.idToChar.slice(1) };
  }
}

/** Code point of the newline, the char tokenizer's document separator. */
export const CHAR_SEPARATOR_CODE_POINT = NEWLINE;

/** GPT-2 BPE, over all 50,257 ids or compacted to the ids a corpus uses. */
export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2';
  readonly vocabSize: number;
  readonly eotToken: number;
  /** Dense id -> GPT-2 id; null when not compacted. */
  private readonly denseToGpt2: Uint16Array | null;
  /** GPT-2 id -> dense id, -1 for ids outside the compacted vocabulary; null when not compacted. */
  private readonly gpt2ToDense: Int32Array | null;

  private constructor(
    readonly bpe: Gpt2Bpe,
    vocab: ArrayLike<number> | null,
  ) {
    if (vocab === null) {
      this.denseToGpt2 = null;
      this.gpt2ToDense = null;
      this.vocabSize = GPT2_VOCAB_SIZE;
      this.eotToken = GPT2_EOT;
    } else {
      this.denseToGpt2 = Uint16Array.from(vocab);
      this.gpt2ToDense = new Int32Array(GPT2_VOCAB_SIZE).fill(-1);
      this.denseToGpt2.forEach((id, dense) => (this.gpt2ToDense![id] = dense));
      this.vocabSize = this.denseToGpt2.length;
      this.eotToken = this.gpt2ToDense[GPT2_EOT]!;
    }
  }

  /** Loads the GPT-2 ranks; throws a DataError naming the cause when they cannot be loaded. */
  static load(options: { ranksModule?: string } = {}): Gpt2Tokenizer {
    const module = options.ranksModule ?? GPT2_RANKS_MODULE;
    try {
      return new Gpt2Tokenizer(Gpt2Bpe.load(module), null);
    } catch (err) {
      const reason = String((err as Error).message).split('\n')[0];
      throw new DataError(`cannot load the GPT-2 BPE ranks (${module}): ${reason} (run npm install, or use --tokenizer char)`);
    }
  }

  static fromDescription(d: Gpt2TokenizerDescription, options: { ranksModule?: string } = {}): Gpt2Tokenizer {
    if (d.encoding !== 'gpt2') {
      throw new DataError(`gpt2 tokenizer description has encoding ${JSON.stringify(d.encoding)}, expected "gpt2" (the checkpoint is damaged)`);
    }
    const full = Gpt2Tokenizer.load(options);
    if (d.vocab === undefined) return full;
    const vocab: unknown = d.vocab;
    const ids = new Set(Array.isArray(vocab) ? vocab : []);
    const valid =
      Array.isArray(vocab) &&
      vocab.every((id) => Number.isInteger(id) && id >= 0 && id < GPT2_VOCAB_SIZE) &&
      ids.size === vocab.length &&
      ids.has(GPT2_EOT) &&
      full.bpe.byteTokenIds().every((id) => ids.has(id));
    if (!valid) {
      throw new DataError(
        'compacted gpt2 tokenizer description needs distinct GPT-2 ids in "vocab", including <|endoftext|> and the 256 byte tokens ' +
          '(the checkpoint is damaged)',
      );
    }
    return new Gpt2Tokenizer(full.bpe, vocab as number[]);
  }

  get compacted(): boolean {
    return this.denseToGpt2 !== null;
  }

  /**
   * A compacted tokenizer over the GPT-2 ids in `gpt2Ids` (a corpus's token stream), plus EOT and
   * the 256 single-byte tokens, numbered densely in GPT-2 id order.
   */
  compact(gpt2Ids: ArrayLike<number>): Gpt2Tokenizer {
    if (this.compacted) throw new Error('this tokenizer is already compacted');
    const used = new Uint8Array(GPT2_VOCAB_SIZE);
    for (let i = 0; i < gpt2Ids.length; i++) used[gpt2Ids[i]!] = 1;
    used[GPT2_EOT] = 1;
    for (const id of this.bpe.byteTokenIds()) used[id] = 1;
    const vocab: number[] = [];
    used.forEach((flag, id) => {
      if (flag) vocab.push(id);
    });
    return new Gpt2Tokenizer(this.bpe, vocab);
  }

  /** This tokenizer's ids for a stream of GPT-2 ids (the identity when not compacted). */
  fromGpt2Ids(gpt2Ids: TokenArray): TokenArray {
    const map = this.gpt2ToDense;
    if (map === null) return gpt2Ids;
    const out = new Uint16Array(gpt2Ids.length);
    for (let i = 0; i < gpt2Ids.length; i++) {
      const dense = map[gpt2Ids[i]!]!;
      if (dense < 0) throw new ConfigError(`GPT-2 id ${gpt2Ids[i]} is not in the compacted vocabulary`);
      out[i] = dense;
    }
    return out;
  }

  encode(text: string): number[] {
    const ids = this.bpe.encode(text);
    const map = this.gpt2ToDense;
    if (map === null) return ids;
    const out: number[] = [];
    const byteTokens = this.bpe.byteTokenIds();
    for (const id of ids) {
      const dense = map[id]!;
      if (dense >= 0) {
        out.push(dense);
      } else {
        // a token the corpus never used: spell it with single-byte tokens (same bytes, same text)
        for (const byte of this.bpe.tokenBytes(id)) out.push(map[byteTokens[byte]!]!);
      }
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const dense = this.denseToGpt2;
    if (dense === null) return this.bpe.decode(ids);
    const gpt2 = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = dense[ids[i]!];
      if (id === undefined || !Number.isInteger(ids[i])) {
        throw new ConfigError(`token id ${ids[i]} is outside the compacted vocabulary of ${this.vocabSize} ids`);
      }
      gpt2[i] = id;
    }
    return this.bpe.decode(gpt2);
  }

  describe(): Gpt2TokenizerDescription {
    return this.denseToGpt2 === null
      ? { kind: 'gpt2', encoding: 'gpt2' }
      : { kind: 'gpt2', encoding: 'gpt2', vocab: Array.from(this.denseToGpt2) };
  }
}
