// Splitting a token stream into train and val, and drawing random training batches from it.
import { ConfigError } from '../errors.ts';
import { DataError, type Document } from './corpus.ts';
import { Rng, type RngState } from '../engine/random.ts';
import { CharTokenizer, type Tokenizer } from './tokenizer.ts';
import type { TokenArray } from './ids.ts';

export type { TokenArray } from './ids.ts';

/** Token ids for training and validation; `byPosition` is false when split at document boundaries. */
export interface TokenSplit {
  /** Views into one token stream (never copies of it). */
  train: TokenArray;
  val: TokenArray;
  /** Documents with tokens on each side; with a position split the document cut in two counts on both. */
  trainDocs: number;
  valDocs: number;
  byPosition: boolean;
}

export interface SplitOptions {
  /** Share of all tokens to hold out for validation, in (0, 1). */
  valFraction: number;
  /** Context length T; each side needs T + 1 tokens to form one (input, target) pair. */
  blockSize: number;
}

/** Where a stream is cut: train = [0, trainEnd), val = [valStart, total). */
export interface Cut {
  trainEnd: number;
  valStart: number;
  trainDocs: number;
  valDocs: number;
  byPosition: boolean;
}

/** Char tokenizer whose vocabulary is the documents' characters plus the newline that joins them. */
export function buildCharTokenizer(docs: Document[]): CharTokenizer {
  return CharTokenizer.fromText(docs.map((d) => d.text).join('\n') + '\n');
}

/**
 * Where to cut a stream of documents joined by one separator token each (docLengths exclude the
 * separators). Several documents: whole documents from the end go to val until it holds at least
 * valFraction of the tokens and blockSize + 1 tokens (the separator at the cut belongs to neither).
 * One document, or when that leaves train shorter than a block or val with more than half of the
 * tokens: the first (1 - valFraction) of the tokens are train and the rest val. Throws a DataError when either side is shorter than a block.
 */
export function computeCut(docLengths: ArrayLike<number>, opts: SplitOptions): Cut {
  const { valFraction, blockSize } = opts;
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new DataError(`validation fraction must be between 0 and 1, got ${valFraction} (use a value such as 0.1 with --val-fraction)`);
  }
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new DataError(`block size must be a positive integer, got ${blockSize} (check --block-size)`);
  }
  const docCount = docLengths.length;
  if (docCount === 0) throw new DataError('corpus has no documents (pass text files with --data)', 'E_DATA_EMPTY');
  // starts[i] = offset of document i in the joined stream; starts[n] = total length.
  const starts = new Array<number>(docCount + 1);
  starts[0] = 0;
  for (let i = 0; i < docCount; i++) starts[i + 1] = starts[i]! + docLengths[i]! + (i + 1 < docCount ? 1 : 0);
  const total = starts[docCount]!;
  const needed = blockSize + 1;
  const cut = cutByDocuments(starts, total, valFraction, needed) ?? cutByPosition(starts, total, valFraction);
  const trainLength = cut.trainEnd;
  const valLength = total - cut.valStart;
  if (trainLength < needed || valLength < needed) {
    throw new DataError(
      `corpus has ${total} tokens, but a block needs blockSize + 1 = ${needed} tokens in both train (has ${trainLength}) ` +
        `and val (has ${valLength}) (use a smaller --block-size or more text)`,
    );
  }
  return cut;
}

/** Train and val views of `stream` for a cut. */
export function applyCut(stream: TokenArray, cut: Cut): TokenSplit {
  return {
    train: stream.subarray(0, cut.trainEnd),
    val: stream.subarray(cut.valStart),
    trainDocs: cut.trainDocs,
    valDocs: cut.valDocs,
    byPosition: cut.byPosition,
  };
}

/**
 * Encodes the documents, joins them with the tokenizer's separator (tokenizer.eotToken) and splits
 * the ids into train and val as computeCut describes. For tests and scripts; training runs go
 * through buildDataset (src/data/pipeline.ts), which also caches the tokens.
 */
export function splitTokens(docs: Document[], tok: Tokenizer, opts: SplitOptions): TokenSplit {
  const encoded = docs.map((d) => tok.encode(d.text));
  const cut = computeCut(encoded.map((ids) => ids.length), opts);
  const total = encoded.reduce((sum, ids) => sum + ids.length, 0) + docs.length - 1;
  const stream = new Uint32Array(total);
  let offset = 0;
  encoded.forEach((ids, i) => {
    stream.set(ids, offset);
    offset += ids.length;
    if (i + 1 < docs.length) stream[offset++] = tok.eotToken;
  });
  return applyCut(stream, cut);
}

/** Document-boundary cut, or null when it is impossible (one document, too few tokens left for train). */
function cutByDocuments(starts: number[], total: number, valFraction: number, needed: number): Cut | null {
  const docCount = starts.length - 1;
  if (docCount < 2) return null;
  let first = docCount; // index of the first val document
  while (first > 0 && (total - starts[first]! < valFraction * total || total - starts[first]! < needed)) first--;
  if (first === 0) return null;
  const trainEnd = starts[first]! - 1; // the separator before the first val document is dropped
  if (trainEnd < needed) return null;
  // a last document holding most of the corpus would leave train smaller than val
  if (total - starts[first]! > total / 2) return null;
  return { trainEnd, valStart: starts[first]!, trainDocs: first, valDocs: docCount - first, byPosition: false };
}

function cutByPosition(starts: number[], total: number, valFraction: number): Cut {
  const cut = Math.floor(total * (1 - valFraction));
  const docCount = starts.length - 1;
  let trainDocs = 0; // documents starting before the cut
  let docsEndingByCut = 0; // documents wholly in train
  for (let i = 0; i < docCount; i++) {
    if (starts[i]! < cut) trainDocs++;
    if (starts[i + 1]! <= cut) docsEndingByCut++;
  }
  return { trainEnd: cut, valStart: cut, trainDocs, valDocs: docCount - docsEndingByCut, byPosition: true };
}

/**
 * Draws batches of B windows of T + 1 consecutive tokens at uniform random offsets.
 * Reads from the shared token array (uint16 or uint32); nothing is copied except into x and y.
 */
export class BatchSampler {
  readonly batchSize: number;
  readonly blockSize: number;
  private readonly tokens: TokenArray;
  private readonly rng: Rng;
  /** Number of valid start offsets: 0 .. tokens.length - blockSize - 1. */
  private readonly startCount: number;

  constructor(tokens: TokenArray, batchSize: number, blockSize: number, seed: number) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new ConfigError(`block size must be a positive integer, got ${blockSize}`);
    if (tokens.length < blockSize + 1) {
      throw new DataError(
        `token stream has ${tokens.length} tokens, but a block needs blockSize + 1 = ${blockSize + 1} (use a smaller --block-size or more text)`,
      );
    }
    this.tokens = tokens;
    this.batchSize = batchSize;
    this.blockSize = blockSize;
    this.rng = new Rng(seed);
    this.startCount = tokens.length - blockSize;
  }

  /** Where the sampler is in its sequence of batches (its RNG), to continue it exactly. */
  getState(): RngState {
    return this.rng.getState();
  }

  setState(s: RngState): void {
    this.rng.setState(s);
  }

  /** Fills x and y, both [B, T] row-major: x[b*T + t] = tokens[s_b + t], y[b*T + t] = tokens[s_b + t + 1]. */
  next(x: Int32Array, y: Int32Array): void {
    const { batchSize: B, blockSize: T, tokens } = this;
    if (x.length !== B * T || y.length !== B * T) {
      throw new ConfigError(`x and y must hold batchSize * blockSize = ${B * T} ids, got ${x.length} and ${y.length}`);
    }
    for (let b = 0; b < B; b++) {
      const start = this.rng.int(this.startCount);
      const row = b * T;
      // x is the window [start, start + T); y the same window one token later
      x.set(tokens.subarray(start, start + T), row);
      y.set(tokens.subarray(start + 1, start + T + 1), row);
    }
  }
}
