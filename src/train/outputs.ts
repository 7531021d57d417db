// The files and directories a run writes, checked before any data is read, so a bad
// path is a one-line error up front, never a stack trace after training, a hang, or a
// user's file destroyed.
import { closeSync, existsSync, mkdirSync, openSync, readSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve, join } from 'node:path';
import { ConfigError } from './config.ts';

// Kernel filesystems: writing there is never what a user meant (and can hang).
const SPECIAL = ['/proc', '/sys', '/dev'];

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function onSpecialFilesystem(path: string): boolean {
  const real = realOrResolved(path);
  return SPECIAL.some((root) => real === root || real.startsWith(root + '/'));
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message.replace(/^[A-Z]+: /, '')}` : String(e);
}

// Creates `dir` (and its parents) and writes a probe file there, so an out-dir that is
// a file, unwritable or not a directory is refused before training, not after it.
export function prepareOutDir(dir: string, option = '--out-dir'): void {
  if (dir === '') throw new ConfigError(`${option} is empty: give a directory path`);
  if (onSpecialFilesystem(dir)) throw new ConfigError(`${option} ${dir} is on a kernel filesystem (/proc, /sys, /dev): give a directory of your own`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ConfigError(`${option} ${dir} exists and is not a directory: give a directory path`);
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.wasmgpt-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    throw new ConfigError(`cannot write to ${option} ${dir} (${reason(e)}): choose a directory you can write to`);
  }
}

// A run log this tool wrote: its first line is one of our JSON records.
function isRunLog(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n === 0) return true; // an empty file loses nothing
    const line = head.subarray(0, n).toString('utf8').split('\n')[0];
    const record = JSON.parse(line) as { type?: unknown };
    return ['data', 'step', 'eval', 'done'].includes(record.type as string);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

// Checks that the run may write its log at `path`: not one of its data files, not a
// directory or a kernel file, not an existing file of the user's (a previous log of
// ours is fine; anything else only with overwrite); creates its directory.
export function checkLogPath(path: string, dataFiles: readonly string[], overwrite: boolean): void {
  if (path === '') throw new ConfigError('--log-file is empty: give a file path');
  if (onSpecialFilesystem(path) || onSpecialFilesystem(dirname(resolve(path)))) {
    throw new ConfigError(`--log-file ${path} is on a kernel filesystem (/proc, /sys, /dev): give a file of your own`);
  }
  const real = realOrResolved(path);
  if (dataFiles.some((f) => realOrResolved(f) === real)) {
    throw new ConfigError(`--log-file ${path} is one of the --data files: writing the log would destroy it; choose another path`);
  }
  if (existsSync(path)) {
    const stats = statSync(path);
    if (stats.isDirectory()) throw new ConfigError(`--log-file ${path} is a directory: give a file path`);
    if (!stats.isFile()) throw new ConfigError(`--log-file ${path} is not a regular file: give a file path`);
    if (!overwrite && !isRunLog(path)) {
      throw new ConfigError(`--log-file ${path} exists and is not a log of this tool: choose another path, or pass --overwrite to replace it`);
    }
  }
  try {
    mkdirSync(dirname(resolve(path)), { recursive: true });
    closeSync(openSync(path, 'a'));
  } catch (e) {
    throw new ConfigError(`cannot write --log-file ${path} (${reason(e)}): choose a path you can write to`);
  }
}
