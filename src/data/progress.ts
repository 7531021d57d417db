// Progress of long tokenizations on stderr: a redrawn bar on a terminal, a line per 10% otherwise.

/** Corpora at least this large get a bar on a terminal... */
export const PROGRESS_TTY_MIN_BYTES = 1 << 20;
/** ...and progress lines even when stderr is a file or a pipe. */
export const PROGRESS_ANY_MIN_BYTES = 64 << 20;
const REDRAW_MS = 200;
const BAR_WIDTH = 24;

export type ProgressMode = 'bar' | 'lines' | 'off';

/** `setting`: true/false force it on/off; 'auto' decides from the corpus size and the terminal. */
export function progressMode(setting: boolean | 'auto', totalBytes: number, isTTY: boolean): ProgressMode {
  if (setting === false) return 'off';
  if (setting === true) return isTTY ? 'bar' : 'lines';
  if (isTTY && totalBytes >= PROGRESS_TTY_MIN_BYTES) return 'bar';
  if (totalBytes >= PROGRESS_ANY_MIN_BYTES) return 'lines';
  return 'off';
}

export interface ProgressStream {
  write(text: string): unknown;
}

export class Progress {
  private readonly started = performance.now();
  private lastDraw = 0;
  private nextTenth = 1;
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly totalBytes: number,
    private readonly mode: ProgressMode,
    private readonly stream: ProgressStream = process.stderr,
  ) {}

  /** Bytes processed so far (monotone; smaller values are ignored). */
  update(doneBytes: number): void {
    if (this.mode === 'off' || doneBytes <= this.done) return;
    this.done = Math.min(doneBytes, this.totalBytes);
    const now = performance.now();
    if (this.mode === 'bar') {
      if (now - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line()}\x1b[K`);
    } else {
      const fraction = this.totalBytes > 0 ? this.done / this.totalBytes : 1;
      if (fraction * 10 < this.nextTenth || fraction >= 1) return;
      this.nextTenth = Math.floor(fraction * 10) + 1;
      this.stream.write(this.line() + '\n');
    }
  }

  /** Clears the bar (the caller prints its own summary). */
  finish(): void {
    if (this.mode === 'bar' && this.lastDraw > 0) this.stream.write('\r\x1b[K');
  }

  private line(): string {
    const fraction = this.totalBytes > 0 ? this.done / this.totalBytes : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.done / 1e6 / seconds : 0;
    const eta = rate > 0 ? (this.totalBytes - this.done) / 1e6 / rate : 0;
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${(this.done / 1e6).toFixed(1)}/${(this.totalBytes / 1e6).toFixed(1)} MB ${rate.toFixed(1)} MB/s ETA ${eta.toFixed(0)}s`;
  }
}
