// The data pipeline of a training run: sources -> (token cache | read, clean, tokenize) ->
// train/val split -> tokenizer for the model (gpt2, gpt2 compacted, or char from the train text).
import { resolve } from 'node:path';
import { CHAR_SEPARATOR_CODE_POINT, CharTokenizer, Gpt2Tokenizer, type Tokenizer, type TokenizerKind } from './tokenizer.ts';
import { GPT2_EOT, GPT2_VOCAB_SIZE, MAX_PIECE_CHARS } from './gpt2.ts';
import { DataError, emptyCorpusError, hasText, readSourceText, scanSources, stderrWarn, textSources, type SourceFile } from './corpus.ts';
import type { CleanMode } from './clean.ts';
import { cacheFilePath, cacheKey, readTokenCache, writeTokenCache, type CacheTokenizer, type TokenizedCorpus } from './cache.ts';
import { applyCut, computeCut, type TokenSplit } from './dataset.ts';
import { IdBuffer, type TokenArray } from './ids.ts';
import { Progress, progressMode, type ProgressStream } from './progress.ts';

export interface DataOptions {
  /** Files, directories and glob patterns; empty = the bundled State of the Union corpus. */
  data: string[];
  /** In-memory documents instead of files (the library's `text` option); `data` must then be empty. */
  texts?: string[] | null;
  tokenizer: TokenizerKind;
  /** gpt2 only: renumber the ids the corpus uses (plus EOT and the byte tokens) densely. */
  compactVocab: boolean;
  clean: CleanMode;
  /** Token cache directory; null = no cache. */
  cacheDir: string | null;
  valFraction: number;
  blockSize: number;
  /** Progress bar on stderr; 'auto' (default): on a terminal for corpora over 1 MiB, anywhere over 64 MiB. */
  progress?: boolean | 'auto';
  /** Whether stderr is a terminal (default: process.stderr.isTTY; a training thread is told by its caller). */
  stderrIsTTY?: boolean;
  /** Where the progress goes (default: process.stderr; a training thread sends it to its caller). */
  progressStream?: ProgressStream;
  /** Where the GPT-2 ranks come from (tests point it elsewhere to exercise the char fallback). */
  ranksModule?: string;
  /** Receives `warning: ...` lines (default: stderr). */
  warn?: (line: string) => void;
}

export interface Dataset {
  tokenizer: Tokenizer;
  split: TokenSplit;
  /** Text files read (binary files not counted). */
  files: number;
  /** Documents with text after cleaning. */
  documents: number;
  /** Size of the files read, in bytes. */
  bytes: number;
  /** Tokens in the whole stream (documents and separators). */
  tokens: number;
  /** gpt2: distinct GPT-2 ids in the documents' text (EOT separators not counted); char: null. */
  gpt2IdsUsed: number | null;
  cacheHit: boolean;
  cacheFile: string | null;
  /** Seconds to get the tokens: read + clean + tokenize, or read the cache file. */
  tokenizeS: number;
  /** Lines describing the data, printed at the start of a run. */
  summary: string[];
  /** The run log's `data` record. */
  record: Record<string, unknown>;
}

/** Everything `train()` needs from the data options; see DataOptions. */
export function buildDataset(options: DataOptions): Dataset {
  const warn = options.warn ?? stderrWarn;
  let kind: TokenizerKind = options.tokenizer;
  let gpt2: Gpt2Tokenizer | null = null;
  if (kind === 'gpt2') {
    try {
      gpt2 = Gpt2Tokenizer.load({ ranksModule: options.ranksModule });
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      warn(`warning: ${err.message}; falling back to the char tokenizer`);
      kind = 'char';
    }
  }

  const exclude = options.cacheDir === null ? [] : [resolve(options.cacheDir)];
  const inMemory = options.texts !== undefined && options.texts !== null;
  if (inMemory && options.data.length > 0) throw new DataError('give either data (files) or text (in memory), not both');
  const scan = inMemory ? textSources(options.texts!) : scanSources(options.data, { exclude, warn });
  if (scan.files.length === 0) throw emptyCorpusError(options.data, scan.skipped, options.clean, inMemory);

  const cacheKind: CacheTokenizer = kind;
  const key = cacheKey({
    tokenizer: cacheKind,
    clean: options.clean,
    fileHashes: scan.files.map((f) => f.sha256),
    extra: kind === 'gpt2' ? { maxPieceChars: MAX_PIECE_CHARS } : {},
  });
  const cacheFile = options.cacheDir === null ? null : cacheFilePath(options.cacheDir, cacheKind, key);

  const started = performance.now();
  let corpus: TokenizedCorpus | null = null;
  if (cacheFile !== null) {
    const read = readTokenCache(cacheFile, { tokenizer: cacheKind, key });
    if (read.status === 'hit') corpus = read.corpus;
    else if (read.status === 'invalid') warn(`warning: token cache file ${cacheFile} is ${read.reason}; rebuilding it`);
  }
  const cacheHit = corpus !== null;
  let cacheNote = '';
  if (corpus === null) {
    const mode = progressMode(options.progress ?? 'auto', scan.totalBytes, options.stderrIsTTY ?? process.stderr.isTTY === true);
    const progress = new Progress(`tokenizing (${kind})`, scan.totalBytes, mode, options.progressStream);
    corpus = tokenizeFiles(scan.files, cacheKind, gpt2, options.clean, progress);
    progress.finish();
    if (corpus === null) throw emptyCorpusError(options.data, scan.skipped, options.clean, inMemory);
    if (cacheFile !== null) {
      try {
        writeTokenCache(cacheFile, key, corpus);
        cacheNote = `, cached in ${cacheFile}`;
      } catch (err) {
        warn(`warning: cannot write the token cache ${cacheFile}: ${(err as Error).message} (tokens are not cached; check --cache-dir)`);
        cacheNote = ', not cached';
      }
    }
  }
  const tokenizeS = (performance.now() - started) / 1000;

  const { tokens: stream, docLengths } = corpus;
  const cut = computeCut(docLengths, { valFraction: options.valFraction, blockSize: options.blockSize });

  let tokenizer: Tokenizer;
  let ids: TokenArray;
  let gpt2IdsUsed: number | null = null;
  let vocabNote: string;
  if (gpt2 !== null) {
    gpt2IdsUsed = countDistinct(stream, GPT2_VOCAB_SIZE, GPT2_EOT);
    const tok = options.compactVocab ? gpt2.compact(stream) : gpt2;
    tokenizer = tok;
    ids = tok.fromGpt2Ids(stream);
    vocabNote = options.compactVocab
      ? `vocab ${tok.vocabSize} (compacted from ${GPT2_VOCAB_SIZE}: ${gpt2IdsUsed} ids in the text, EOT, ` +
        `${tok.vocabSize - gpt2IdsUsed - 1} more byte tokens)`
      : `vocab ${tok.vocabSize} (${gpt2IdsUsed} ids in the text)`;
  } else {
    const { tokenizer: tok, ids: charIds } = charTokenizerFromTrain(stream, cut.trainEnd, cut.valStart, warn);
    tokenizer = tok;
    ids = charIds;
    vocabNote = `vocab ${tok.vocabSize} (from the training text, id 0 = unknown)`;
  }
  const split = applyCut(ids, cut);

  const mb = scan.totalBytes / 1e6;
  const tokensNote = cacheHit
    ? `token cache hit (${cacheFile}, read in ${tokenizeS.toFixed(2)} s)`
    : `tokenized in ${tokenizeS.toFixed(2)} s (${(mb / Math.max(tokenizeS, 1e-9)).toFixed(1)} MB/s)${cacheNote}`;
  const summary = [
    `data: ${scan.files.length} ${inMemory ? `in-memory text${scan.files.length === 1 ? '' : 's'}` : 'files'} (${mb.toFixed(1)} MB), ${docLengths.length} documents, clean ${options.clean}; ` +
      `${kind} tokenizer, ${vocabNote}; ${stream.length} tokens; ${tokensNote}`,
    `split: train ${split.train.length} tokens, val ${split.val.length} tokens ` +
      `(${split.byPosition ? 'split by position' : `split by document: ${split.trainDocs} train / ${split.valDocs} val`})`,
  ];
  const record = {
    type: 'data',
    files: scan.files.length,
    documents: docLengths.length,
    bytes: scan.totalBytes,
    tokens: stream.length,
    tokenizer: kind,
    compacted: gpt2 !== null && options.compactVocab,
    vocab_size: tokenizer.vocabSize,
    ...(gpt2IdsUsed !== null ? { gpt2_ids_used: gpt2IdsUsed } : {}),
    clean: options.clean,
    train_tokens: split.train.length,
    val_tokens: split.val.length,
    split: split.byPosition ? 'position' : 'document',
    train_docs: split.trainDocs,
    val_docs: split.valDocs,
    cache_hit: cacheHit,
    tokenize_s: tokenizeS,
  };
  return {
    tokenizer, split, files: scan.files.length, documents: docLengths.length, bytes: scan.totalBytes, tokens: stream.length,
    gpt2IdsUsed, cacheHit, cacheFile, tokenizeS, summary, record,
  };
}

/**
 * Reads, cleans and tokenizes the files (GPT-2 ids, or code points for char), joining documents
 * with one separator token; documents without text after cleaning are left out. Null when none is left.
 */
function tokenizeFiles(files: SourceFile[], kind: CacheTokenizer, gpt2: Gpt2Tokenizer | null, clean: CleanMode, progress: Progress): TokenizedCorpus | null {
  const totalBytes = files.reduce((sum, f) => sum + f.bytes, 0);
  const out = new IdBuffer(kind === 'char', kind === 'char' ? totalBytes + 16 : (totalBytes >> 2) + 16);
  const separator = kind === 'gpt2' ? GPT2_EOT : CHAR_SEPARATOR_CODE_POINT;
  const docLengths: number[] = [];
  let doneBytes = 0;
  for (const file of files) {
    const text = readSourceText(file, clean);
    if (hasText(text)) {
      if (docLengths.length > 0) out.push(separator);
      const before = out.length;
      if (gpt2 !== null) {
        const base = doneBytes;
        gpt2.bpe.encodeInto(text, out, (units) => progress.update(base + (file.bytes * units) / text.length));
      } else {
        for (const c of text) out.push(c.codePointAt(0)!);
      }
      docLengths.push(out.length - before);
    }
    doneBytes += file.bytes;
    progress.update(doneBytes);
  }
  if (docLengths.length === 0) return null;
  return { tokenizer: kind, tokens: out.toArray(), docLengths: Uint32Array.from(docLengths) };
}

/**
 * The char tokenizer of the training part of a code-point stream (its characters plus the newline
 * separator) and the whole stream in its ids. Validation characters outside that vocabulary map to
 * the unknown id 0, with a warning that counts them.
 */
function charTokenizerFromTrain(codePoints: TokenArray, trainEnd: number, valStart: number, warn: (line: string) => void): { tokenizer: CharTokenizer; ids: TokenArray } {
  const seen = new Uint8Array(0x110000);
  seen[CHAR_SEPARATOR_CODE_POINT] = 1;
  for (let i = 0; i < trainEnd; i++) seen[codePoints[i]!] = 1;
  const vocab: number[] = [];
  seen.forEach((flag, cp) => {
    if (flag) vocab.push(cp);
  });
  const tokenizer = CharTokenizer.fromCodePoints(vocab);
  const { ids, unknown } = tokenizer.encodeCodePoints(codePoints);
  if (unknown > 0) {
    const distinct = new Set<number>();
    for (let i = valStart; i < codePoints.length; i++) if (!seen[codePoints[i]!]) distinct.add(codePoints[i]!);
    warn(
      `warning: ${unknown} character${unknown === 1 ? '' : 's'} of the validation text (${distinct.size} distinct) ` +
        `do not occur in the training text; they map to the unknown id 0`,
    );
  }
  return { tokenizer, ids };
}

/** Distinct values in `ids` (all below `limit`), not counting `ignore`. */
function countDistinct(ids: TokenArray, limit: number, ignore: number): number {
  const seen = new Uint8Array(limit);
  seen[ignore] = 1;
  let count = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!seen[id]) {
      seen[id] = 1;
      count++;
    }
  }
  return count;
}
