// GPT-2 byte-level BPE from js-tiktoken, with the ranks shipped in the package (no network).
//
// js-tiktoken does the merges; this wrapper adds what a training corpus needs:
//   - pre-tokenization with GPT-2's own pattern, then a cache from piece to ids, so each distinct
//     word is merged once (the same ids as encoding the whole text at once);
//   - pieces longer than MAX_PIECE_CHARS (a 20,000-letter line, a long run of '=' or of spaces,
//     CJK text without spaces) are cut into chunks first: js-tiktoken's merge is quadratic in the
//     piece length and one such line would otherwise stall tokenization for minutes;
//   - '<|endoftext|>' inside user text is ordinary text, never the special token (and never an error).
import { ConfigError } from '../errors.ts';
import { createRequire } from 'node:module';
import type { Tiktoken, TiktokenBPE } from 'js-tiktoken/lite';
import type { IdSink } from './ids.ts';

export const GPT2_VOCAB_SIZE = 50257;
export const GPT2_EOT = 50256;
export const GPT2_EOT_TEXT = '<|endoftext|>';
export const GPT2_RANKS_MODULE = 'js-tiktoken/ranks/gpt2';
/** Pieces longer than this (UTF-16 units) are encoded in chunks of at most this length. */
export const MAX_PIECE_CHARS = 64;
/** The piece cache is emptied when it holds this many entries (bounds memory on huge corpora). */
const PIECE_CACHE_LIMIT = 500_000;

const require = createRequire(import.meta.url);
/** Loaded once per process and ranks module (building the rank tables takes ~0.3 s). */
const loaded = new Map<string, Gpt2Bpe>();

/** Progress callback: called with the number of UTF-16 units of `text` encoded so far. */
export type EncodeProgress = (unitsDone: number) => void;
const PROGRESS_EVERY_UNITS = 1 << 18;

export class Gpt2Bpe {
  private readonly pattern: string;
  private readonly pieceCache = new Map<string, number | number[]>();
  private bytesOfToken: Uint8Array[] | null = null;
  private byteTokens: number[] | null = null;

  private constructor(
    private readonly tiktoken: Tiktoken,
    private readonly ranks: TiktokenBPE,
  ) {
    this.pattern = ranks.pat_str;
  }

  /**
   * js-tiktoken's lite build with the GPT-2 ranks module (from this package's node_modules), loaded
   * once per process. Throws a plain Error saying what failed; the caller decides whether to fall back.
   */
  static load(ranksModule: string = GPT2_RANKS_MODULE): Gpt2Bpe {
    let bpe = loaded.get(ranksModule);
    if (bpe === undefined) {
      bpe = Gpt2Bpe.loadUncached(ranksModule);
      loaded.set(ranksModule, bpe);
    }
    return bpe;
  }

  private static loadUncached(ranksModule: string): Gpt2Bpe {
    const { Tiktoken: TiktokenClass } = require('js-tiktoken/lite') as typeof import('js-tiktoken/lite');
    const module = require(ranksModule) as TiktokenBPE | { default: TiktokenBPE };
    const ranks = 'default' in module ? module.default : module;
    if (typeof ranks?.pat_str !== 'string' || typeof ranks.bpe_ranks !== 'string' || ranks.special_tokens?.[GPT2_EOT_TEXT] !== GPT2_EOT) {
      throw new Error(`${ranksModule} does not look like the GPT-2 ranks (pat_str, bpe_ranks, <|endoftext|> = ${GPT2_EOT})`);
    }
    const bpe = new Gpt2Bpe(new TiktokenClass(ranks), ranks);
    // Spot check against known GPT-2 ids: " the" = 262, "Hello" = 15496.
    const probe = bpe.encode('Hello the');
    if (probe.length !== 2 || probe[0] !== 15496 || probe[1] !== 262 || bpe.decode(probe) !== 'Hello the') {
      throw new Error(`${ranksModule} gives unexpected ids for "Hello the": ${JSON.stringify(probe)}`);
    }
    return bpe;
  }

  /** GPT-2 ids of `text` appended to `out`. */
  encodeInto(text: string, out: IdSink, onProgress?: EncodeProgress): void {
    const pieces = new RegExp(this.pattern, 'gu');
    let nextReport = PROGRESS_EVERY_UNITS;
    for (let m = pieces.exec(text); m !== null; m = pieces.exec(text)) {
      const piece = m[0];
      if (piece.length <= MAX_PIECE_CHARS) {
        this.encodePiece(piece, out);
      } else {
        for (let start = 0; start < piece.length; ) {
          let end = Math.min(start + MAX_PIECE_CHARS, piece.length);
          // never cut a surrogate pair in two (each half would become U+FFFD)
          if (end < piece.length && isHighSurrogate(piece.charCodeAt(end - 1)) && isLowSurrogate(piece.charCodeAt(end))) end--;
          this.encodePiece(piece.slice(start, end), out);
          start = end;
        }
      }
      if (onProgress !== undefined && pieces.lastIndex >= nextReport) {
        onProgress(pieces.lastIndex);
        nextReport = pieces.lastIndex + PROGRESS_EVERY_UNITS;
      }
    }
    onProgress?.(text.length);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    this.encodeInto(text, ids);
    return ids;
  }

  /** Text of GPT-2 ids; the bytes of all tokens are joined, then decoded (invalid UTF-8 -> U+FFFD). */
  decode(ids: ArrayLike<number>): string {
    const list = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE) {
        throw new ConfigError(`token id ${id} is outside the GPT-2 vocabulary of ${GPT2_VOCAB_SIZE} ids`);
      }
      list[i] = id;
    }
    return this.tiktoken.decode(list);
  }

  /** The bytes token `id` stands for ('<|endoftext|>' in UTF-8 for the EOT token). */
  tokenBytes(id: number): Uint8Array {
    const table = this.bytesTable();
    const bytes = table[id];
    if (bytes === undefined) throw new ConfigError(`token id ${id} is outside the GPT-2 vocabulary of ${GPT2_VOCAB_SIZE} ids`);
    return bytes;
  }

  /** byteTokenIds()[b] = the id of the token that is the single byte b (GPT-2 has one for each of the 256). */
  byteTokenIds(): readonly number[] {
    if (this.byteTokens === null) {
      const table = this.bytesTable();
      const found = new Array<number>(256).fill(-1);
      table.forEach((bytes, id) => {
        if (bytes.length === 1 && id !== GPT2_EOT) found[bytes[0]!] = id;
      });
      if (found.includes(-1)) throw new Error('the GPT-2 ranks lack a token for some single byte');
      this.byteTokens = found;
    }
    return this.byteTokens;
  }

  private encodePiece(piece: string, out: IdSink): void {
    let ids = this.pieceCache.get(piece);
    if (ids === undefined) {
      // allowedSpecial = [] and disallowedSpecial = []: special-token text is plain text, never an error
      const encoded = this.tiktoken.encode(piece, [], []);
      ids = encoded.length === 1 ? encoded[0]! : encoded;
      if (this.pieceCache.size >= PIECE_CACHE_LIMIT) this.pieceCache.clear();
      // a fresh copy as the key: a substring may keep the whole document text alive
      this.pieceCache.set(Buffer.from(piece, 'utf16le').toString('utf16le'), ids);
    }
    if (typeof ids === 'number') out.push(ids);
    else for (const id of ids) out.push(id);
  }

  /** Token bytes from the ranks text ("<prefix> <first rank> <base64 token> <base64 token> ..." lines). */
  private bytesTable(): Uint8Array[] {
    if (this.bytesOfToken === null) {
      const table = new Array<Uint8Array>(GPT2_VOCAB_SIZE);
      for (const line of this.ranks.bpe_ranks.split('\n')) {
        if (line === '') continue;
        const fields = line.split(' ');
        const first = Number.parseInt(fields[1]!, 10);
        for (let i = 2; i < fields.length; i++) table[first + i - 2] = new Uint8Array(Buffer.from(fields[i]!, 'base64'));
      }
      table[GPT2_EOT] = new TextEncoder().encode(GPT2_EOT_TEXT);
      for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
        if (table[id] === undefined) throw new Error(`the GPT-2 ranks have no token ${id}`);
      }
      this.bytesOfToken = table;
    }
    return this.bytesOfToken;
  }
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
