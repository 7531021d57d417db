// Tokenizers map text to integer ids and back; their description is stored with a checkpoint.
import { DataError } from './corpus.ts';

/** JSON-serializable form of a char tokenizer: `chars[i]` is the code point with id i + 1. */
export interface CharTokenizerDescription {
  kind: 'char';
  chars: string[];
}

export type TokenizerDescription = CharTokenizerDescription;

export interface Tokenizer {
  readonly kind: string;
  /** Number of distinct ids; valid ids are 0 .. vocabSize - 1. */
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  describe(): TokenizerDescription;
}

/** Rebuilds a tokenizer from `describe()` output (e.g. read back from a checkpoint's JSON). */
export function tokenizerFromDescription(d: unknown): Tokenizer {
  const kind = typeof d === 'object' && d !== null ? (d as { kind?: unknown }).kind : undefined;
  if (kind === 'char') return CharTokenizer.fromDescription(d as CharTokenizerDescription);
  throw new DataError(`unknown tokenizer kind ${JSON.stringify(kind)} (the checkpoint is damaged or from a newer version)`);
}

/** Id reserved for characters outside the vocabulary. */
export const UNKNOWN_ID = 0;
const REPLACEMENT_CHAR = '\uFFFD';

/** One token per Unicode code point (not per UTF-16 unit), plus the unknown id 0. */
export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  readonly vocabSize: number;
  /** Characters that encode hit outside the vocabulary, summed over calls since the last reset. */
  unknownCount = 0;
  /** idToChar[0] is the replacement character shown for the unknown id. */
  private readonly idToChar: string[];
  private readonly charToId = new Map<string, number>();

  private constructor(chars: string[]) {
    this.idToChar = [REPLACEMENT_CHAR, ...chars];
    chars.forEach((c, i) => this.charToId.set(c, i + 1));
    this.vocabSize = this.idToChar.length;
  }

  /** Vocabulary = the text's distinct code points, sorted by code point value. */
  static fromText(text: string): CharTokenizer {
    const codePoints = new Set<number>();
    for (const c of text) codePoints.add(c.codePointAt(0)!);
    const sorted = [...codePoints].sort((a, b) => a - b);
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

  decode(ids: ArrayLike<number>): string {
    const parts = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const c = this.idToChar[ids[i]!];
      if (c === undefined) throw new RangeError(`token id ${ids[i]} is outside the vocabulary of ${this.vocabSize} ids`);
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
