// JSON-lines run log: one object per line, written as it happens.
import { openSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export class RunLog {
  private fd: number | null;

  constructor(path: string | null, append = false) {
    if (path) mkdirSync(dirname(path), { recursive: true });
    this.fd = path ? openSync(path, append ? 'a' : 'w') : null;
  }

  write(record: Record<string, unknown>): void {
    if (this.fd !== null) writeSync(this.fd, JSON.stringify(record) + '\n');
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
