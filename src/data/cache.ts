// On-disk token cache: a tokenized corpus in one binary file, keyed by a hash of the inputs.
//
// File layout (little-endian):
//   0   8 bytes   magic "WGPTTOK\0"
//   8   u32       format version (CACHE_FORMAT_VERSION)
//   12  u32       tokenizer: 1 = gpt2 (GPT-2 ids), 2 = char (Unicode code points)
//   16  u32       bytes per id: 2 (uint16) when every id fits, else 4 (uint32)
//   20  u32       document count D
//   24  u64       token count N (documents joined by one separator token)
//   32  32 bytes  key: SHA-256 of the inputs, cleaning mode and tokenizer (see cacheKey)
//   64  D x u32   tokens per document, separators not counted
//   ..  N ids
//   ..  32 bytes  SHA-256 of everything before it
// A file that is shorter or longer than its header says, or whose magic, version, key or
// checksum do not match, is reported and rebuilt.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TokenArray } from './ids.ts';

export const CACHE_FORMAT_VERSION = 1;
/** Bump when cleaning or tokenization changes what a given input produces. */
export const PIPELINE_VERSION = 1;
export const DEFAULT_CACHE_DIR = '.wasmgpt-cache';

const MAGIC = Buffer.from('WGPTTOK\0', 'latin1');
const HEADER_BYTES = 64;
const DIGEST_BYTES = 32;
const TOKENIZER_CODES = { gpt2: 1, char: 2 } as const;
/** Largest valid id per tokenizer: GPT-2 ids, Unicode code points. */
const MAX_ID = { gpt2: 50256, char: 0x10ffff } as const;

export type CacheTokenizer = keyof typeof TOKENIZER_CODES;

/** A tokenized corpus: the documents' tokens joined by one separator token each. */
export interface TokenizedCorpus {
  tokenizer: CacheTokenizer;
  tokens: TokenArray;
  docLengths: Uint32Array;
}

export type CacheRead =
  | { status: 'hit'; corpus: TokenizedCorpus }
  | { status: 'missing' }
  | { status: 'invalid'; reason: string };

export interface CacheKeyInputs {
  tokenizer: CacheTokenizer;
  clean: string;
  /** SHA-256 of each input file, in corpus order. */
  fileHashes: string[];
  /** Anything else the tokens depend on (e.g. the long-piece limit). */
  extra?: Record<string, unknown>;
}

/** Hex SHA-256 over the cache format, pipeline version, tokenizer, cleaning mode and file contents. */
export function cacheKey(inputs: CacheKeyInputs): string {
  const canonical = JSON.stringify({
    format: CACHE_FORMAT_VERSION,
    pipeline: PIPELINE_VERSION,
    tokenizer: inputs.tokenizer,
    clean: inputs.clean,
    extra: inputs.extra ?? {},
    files: inputs.fileHashes,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

export function cacheFilePath(dir: string, tokenizer: CacheTokenizer, key: string): string {
  return join(dir, `${tokenizer}-${key.slice(0, 32)}.tok`);
}

/** Encodes a corpus in the cache format (see the top of this file). */
export function encodeTokenCache(key: string, corpus: TokenizedCorpus): Buffer {
  const { tokens, docLengths } = corpus;
  let max = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i]! > max) max = tokens[i]!;
  const width = max <= 0xffff ? 2 : 4;
  const idsOffset = HEADER_BYTES + 4 * docLengths.length;
  const total = idsOffset + width * tokens.length + DIGEST_BYTES;
  const out = Buffer.alloc(total);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(CACHE_FORMAT_VERSION, 8);
  out.writeUInt32LE(TOKENIZER_CODES[corpus.tokenizer], 12);
  out.writeUInt32LE(width, 16);
  out.writeUInt32LE(docLengths.length, 20);
  out.writeBigUInt64LE(BigInt(tokens.length), 24);
  Buffer.from(key, 'hex').copy(out, 32, 0, 32);
  for (let i = 0; i < docLengths.length; i++) out.writeUInt32LE(docLengths[i]!, HEADER_BYTES + 4 * i);
  const ids = width === 2 ? new Uint16Array(out.buffer, out.byteOffset + idsOffset, tokens.length) : new Uint32Array(out.buffer, out.byteOffset + idsOffset, tokens.length);
  if (out.byteOffset % width !== 0) throw new Error('unaligned buffer'); // Buffer.alloc gives its own ArrayBuffer
  ids.set(tokens);
  createHash('sha256').update(out.subarray(0, total - DIGEST_BYTES)).digest().copy(out, total - DIGEST_BYTES);
  return out;
}

/** Decodes a cache file's bytes, checking every field against the expected tokenizer and key. */
export function decodeTokenCache(bytes: Buffer, expected: { tokenizer: CacheTokenizer; key: string }): CacheRead {
  if (bytes.length < HEADER_BYTES + DIGEST_BYTES) return { status: 'invalid', reason: `truncated (${bytes.length} bytes)` };
  if (!bytes.subarray(0, 8).equals(MAGIC)) return { status: 'invalid', reason: 'not a wasmgpt token cache (wrong magic)' };
  const version = bytes.readUInt32LE(8);
  if (version !== CACHE_FORMAT_VERSION) return { status: 'invalid', reason: `format version ${version}, expected ${CACHE_FORMAT_VERSION}` };
  const code = bytes.readUInt32LE(12);
  if (code !== TOKENIZER_CODES[expected.tokenizer]) return { status: 'invalid', reason: `written for another tokenizer (code ${code})` };
  if (!bytes.subarray(32, 64).equals(Buffer.from(expected.key, 'hex').subarray(0, 32))) {
    return { status: 'invalid', reason: 'written for other inputs (key mismatch)' };
  }
  const width = bytes.readUInt32LE(16);
  if (width !== 2 && width !== 4) return { status: 'invalid', reason: `bad id width ${width}` };
  const docCount = bytes.readUInt32LE(20);
  const count = bytes.readBigUInt64LE(24);
  const idsOffset = HEADER_BYTES + 4 * docCount;
  const expectedBytes = BigInt(idsOffset) + BigInt(width) * count + BigInt(DIGEST_BYTES);
  if (BigInt(bytes.length) !== expectedBytes) {
    return { status: 'invalid', reason: `${bytes.length < expectedBytes ? 'truncated' : 'has trailing bytes'}: ${bytes.length} bytes, header says ${expectedBytes}` };
  }
  const end = bytes.length - DIGEST_BYTES;
  if (!createHash('sha256').update(bytes.subarray(0, end)).digest().equals(bytes.subarray(end))) {
    return { status: 'invalid', reason: 'checksum mismatch (damaged file)' };
  }
  const n = Number(count);
  const docLengths = new Uint32Array(docCount);
  let sum = 0;
  for (let i = 0; i < docCount; i++) {
    docLengths[i] = bytes.readUInt32LE(HEADER_BYTES + 4 * i);
    sum += docLengths[i]!;
  }
  if (docCount === 0 || sum + docCount - 1 !== n) return { status: 'invalid', reason: 'document lengths do not add up to the token count' };
  const start = bytes.byteOffset + idsOffset;
  let tokens: TokenArray;
  if (start % width === 0) {
    tokens = width === 2 ? new Uint16Array(bytes.buffer, start, n) : new Uint32Array(bytes.buffer, start, n);
  } else {
    const copy = bytes.subarray(idsOffset, end);
    const aligned = new Uint8Array(copy.length);
    aligned.set(copy);
    tokens = width === 2 ? new Uint16Array(aligned.buffer) : new Uint32Array(aligned.buffer);
  }
  const maxId = MAX_ID[expected.tokenizer];
  for (let i = 0; i < n; i++) {
    if (tokens[i]! > maxId) return { status: 'invalid', reason: `id ${tokens[i]} out of range` };
  }
  return { status: 'hit', corpus: { tokenizer: expected.tokenizer, tokens, docLengths } };
}

export function readTokenCache(path: string, expected: { tokenizer: CacheTokenizer; key: string }): CacheRead {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'invalid', reason: `unreadable: ${(err as Error).message}` };
  }
  return decodeTokenCache(bytes, expected);
}

/** Writes the cache file atomically (temporary name, then rename), so readers never see half a file. */
export function writeTokenCache(path: string, key: string, corpus: TokenizedCorpus): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, encodeTokenCache(key, corpus));
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
