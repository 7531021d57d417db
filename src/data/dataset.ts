// Turning documents into train/val token streams, and drawing random training batches from them.
import { DataError, type Document } from './corpus.ts';
import { Rng } from '../engine/random.ts';
import { CharTokenizer, type Tokenizer } from './tokenizer.ts';

/** Token ids for training and validation; `byPosition` is false when split at document boundaries. */
export interface TokenSplit {
  train: Uint32Array;
  val: Uint32Array;
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

/** Char tokenizer whose vocabulary covers every document and the newline that joins them. */
export function buildCharTokenizer(docs: Document[]): CharTokenizer {
  return CharTokenizer.fromText(docs.map((d) => d.text).join('\n'));
}

/**
 * Encodes the documents joined by newlines and splits the ids into train and val.
 * Several documents: whole documents from the end go to val until it holds at least
 * valFraction of the tokens and blockSize + 1 tokens (the separator at the cut is dropped).
 * One document, or when that leaves train too short or empty: the first (1 - valFraction)
 * of the tokens are train and the rest val.
 */
export function splitTokens(docs: Document[], tok: Tokenizer, opts: SplitOptions): TokenSplit {
  const { valFraction, blockSize } = opts;
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new DataError(`validation fraction must be between 0 and 1, got ${valFraction} (use a value such as 0.1)`);
  }
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new DataError(`block size must be a positive integer, got ${blockSize} (check --block-size)`);
  }
  if (docs.length === 0) throw new DataError('corpus has no documents (pass text files with --data)');

  const separator = tok.encode('\n');
  const encoded = docs.map((d) => tok.encode(d.text));
  // starts[i] = offset of document i in the joined stream; starts[n] = total length.
  const starts = new Array<number>(docs.length + 1);
  starts[0] = 0;
  for (let i = 0; i < docs.length; i++) {
    starts[i + 1] = starts[i]! + encoded[i]!.length + (i + 1 < docs.length ? separator.length : 0);
  }
  const total = starts[docs.length]!;
  const stream = new Uint32Array(total);
  encoded.forEach((ids, i) => {
    stream.set(ids, starts[i]!);
    if (i + 1 < docs.length) stream.set(separator, starts[i]! + ids.length);
  });

  const needed = blockSize + 1;
  const split = splitByDocuments(starts, separator.length, total, valFraction, needed) ?? splitByPosition(starts, total, valFraction);
  const result: TokenSplit = {
    train: stream.slice(0, split.trainEnd),
    val: stream.slice(split.valStart),
    trainDocs: split.trainDocs,
    valDocs: split.valDocs,
    byPosition: split.byPosition,
  };
  if (result.train.length < needed || result.val.length < needed) {
    throw new DataError(
      `corpus has ${total} tokens, but a block needs blockSize + 1 = ${needed} tokens in both train (has ${result.train.length}) ` +
        `and val (has ${result.val.length}) (use a smaller --block-size or more text)`,
    );
  }
  return result;
}

/** Where the stream is cut: train = [0, trainEnd), val = [valStart, total). */
interface Cut {
  trainEnd: number;
  valStart: number;
  trainDocs: number;
  valDocs: number;
  byPosition: boolean;
}

/** Document-boundary cut, or null when it is impossible (one document, too few tokens left for train). */
function splitByDocuments(starts: number[], separatorLength: number, total: number, valFraction: number, needed: number): Cut | null {
  const docCount = starts.length - 1;
  if (docCount < 2) return null;
  let first = docCount; // index of the first val document
  while (first > 0 && (total - starts[first]! < valFraction * total || total - starts[first]! < needed)) first--;
  if (first === 0) return null;
  const trainEnd = starts[first]! - separatorLength;
  if (trainEnd < needed) return null;
  return { trainEnd, valStart: starts[first]!, trainDocs: first, valDocs: docCount - first, byPosition: false };
}

function splitByPosition(starts: number[], total: number, valFraction: number): Cut {
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
 * Reads from the shared token array; nothing is copied except into the caller's x and y.
 */
export class BatchSampler {
  readonly batchSize: number;
  readonly blockSize: number;
  private readonly tokens: Uint32Array;
  private readonly rng: Rng;
  /** Number of valid start offsets: 0 .. tokens.length - blockSize - 1. */
  private readonly startCount: number;

  constructor(tokens: Uint32Array, batchSize: number, blockSize: number, seed: number) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
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

  /** Fills x and y, both [B, T] row-major: x[b*T + t] = tokens[s_b + t], y[b*T + t] = tokens[s_b + t + 1]. */
  next(x: Int32Array, y: Int32Array): void {
    const { batchSize: B, blockSize: T, tokens } = this;
    if (x.length !== B * T || y.length !== B * T) {
      throw new RangeError(`x and y must hold batchSize * blockSize = ${B * T} ids, got ${x.length} and ${y.length}`);
    }
    for (let b = 0; b < B; b++) {
      const start = this.rng.int(this.startCount);
      const row = b * T;
      for (let t = 0; t < T; t++) {
        x[row + t] = tokens[start + t]!;
        y[row + t] = tokens[start + t + 1]!;
      }
    }
  }
}
