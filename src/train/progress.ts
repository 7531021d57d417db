// Progress of a training run, as data and as text. The training thread reports every
// optimizer step as a StepProgress (plain data, posted to the caller's thread); what is
// printed of it is decided where it is shown: on a terminal, one live line redrawn in
// place; elsewhere (a file, a pipe, a library caller's print hook), a plain line every
// --log-interval steps; with --quiet, neither. The JSONL log is written by the trainer
// and keeps every step whatever is printed.

export interface StepProgress {
  /** the step just taken, from 0 */
  step: number;
  maxIters: number;
  loss: number;
  lr: number;
  /** not finite on a skipped (overflowed) fp16 step */
  gradNorm: number;
  /** this step's time */
  ms: number;
  /** this step's training tokens per second */
  tokPerS: number;
  /** training tokens seen so far, this step's included */
  tokens: number;
  /** seconds since the run started */
  elapsedS: number;
  /** seconds left, evaluations included (null until a step is timed) */
  etaS: number | null;
  /** --precision fp16 only */
  fp16: { lossScale: number; skipped: number; overflow: boolean } | null;
}

// Whether a plain (non-terminal) run prints this step's line: every --log-interval steps,
// the last step, and an fp16 step whose gradients overflowed.
export function isLogStep(p: Pick<StepProgress, 'step' | 'maxIters' | 'fp16'>, logInterval: number): boolean {
  return p.step % logInterval === 0 || p.step === p.maxIters - 1 || p.fp16?.overflow === true;
}

// The plain step line (the format runs have always printed).
export function stepLine(p: StepProgress): string {
  const scaling = p.fp16 ? ` | scale ${p.fp16.lossScale} | skipped ${p.fp16.skipped}${p.fp16.overflow ? ' (this step: overflow)' : ''}` : '';
  return `step ${p.step} | loss ${p.loss.toFixed(4)} | lr ${p.lr.toExponential(2)} | norm ${p.gradNorm.toFixed(3)} | ` +
    `${p.ms.toFixed(1)} ms | ${Math.round(p.tokPerS)} tok/s${scaling}`;
}

// 42s, 3m05s, 2h03m (a duration rounded to what is worth reading).
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(seconds / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

// [#########...........] for a fraction in [0, 1].
export function progressBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.floor(f * width + 1e-9);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export const BAR_WIDTH = 20;

// The live line: bar, percent, step/max_iters, ETA (elapsed once done), tok/s, loss, lr,
// grad norm, and in fp16 the loss scale and skipped steps. It must fit `columns` (a line
// that wraps cannot be redrawn in place): a narrow terminal loses the bar first, then the
// fields that matter least, whole.
export function liveLine(p: StepProgress, columns = 120, tokPerS = p.tokPerS): string {
  const done = p.step + 1;
  const fraction = p.maxIters > 0 ? done / p.maxIters : 1;
  const time = done >= p.maxIters ? `in ${formatDuration(p.elapsedS)}` : `ETA ${p.etaS === null ? '--' : formatDuration(p.etaS)}`;
  // [text, rank]: the higher the rank, the sooner it goes
  const fields: [string, number][] = [
    [`${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${p.maxIters}`, 0],
    [time, 1],
    [`${Math.round(tokPerS)} tok/s`, 4],
    [`loss ${p.loss.toFixed(4)}`, 2],
    [`lr ${p.lr.toExponential(2)}`, 7],
    [`norm ${Number.isFinite(p.gradNorm) ? p.gradNorm.toFixed(3) : String(p.gradNorm)}`, 8],
    ...(p.fp16 ? [[`scale ${p.fp16.lossScale}`, 5], [`skipped ${p.fp16.skipped}`, 3]] as [string, number][] : []),
  ];
  const bar = progressBar(fraction, BAR_WIDTH);
  const fits = (t: string) => t.length < columns;
  const all = fields.map((f) => f[0]).join(' | ');
  if (fits(`${bar} ${all}`)) return `${bar} ${all}`;
  for (let rank = 8; rank > 0; rank--) {
    const kept = fields.filter((f) => f[1] < rank).map((f) => f[0]).join(' | ');
    if (fits(kept)) return kept;
  }
  return fields[0][0].slice(0, Math.max(1, columns - 1));
}

// Seconds left: the steps to go at this run's mean step time, plus the evaluations to go
// at their mean time. `done` steps are finished; an evaluation runs at every multiple of
// evalInterval and at maxIters.
export function etaSeconds(o: { done: number; maxIters: number; evalInterval: number; stepS: number; stepsTimed: number; evalS: number; evalsTimed: number }): number | null {
  if (o.stepsTimed === 0) return null;
  const left = Math.max(0, o.maxIters - o.done);
  const evalsLeft = o.done > o.maxIters ? 0
    : Math.floor(o.maxIters / o.evalInterval) - Math.floor((o.done - 1) / o.evalInterval) + (o.maxIters % o.evalInterval !== 0 ? 1 : 0);
  const perEval = o.evalsTimed > 0 ? o.evalS / o.evalsTimed : 0;
  return left * (o.stepS / o.stepsTimed) + Math.max(0, evalsLeft) * perEval;
}

export interface ProgressViewOptions {
  live: boolean; // a terminal: one line redrawn in place
  logInterval: number;
  quiet: boolean;
  print: (line: string) => void; // normal lines (on a terminal: to the same stream as write)
  warn: (line: string) => void; // warning lines (stderr)
  write: (text: string) => void; // raw terminal output, for the live line
  columns: () => number;
  redrawMs?: number; // at most one redraw per this many ms (the last step is always drawn)
}

// Shows a run's lines and its progress. On a terminal the live line is cleared before
// every normal line or warning and drawn again after it, so they scroll above it.
export class ProgressView {
  private current: StepProgress | null = null; // what the live line shows
  private drawn = false; // the live line is on the screen
  private lastDraw = -Infinity;
  private smoothTokPerS = 0;
  private readonly redrawMs: number;

  constructor(private readonly o: ProgressViewOptions) {
    this.redrawMs = o.redrawMs ?? 100;
  }

  line(text: string): void {
    this.around(() => this.o.print(text));
  }

  warning(text: string): void {
    this.around(() => this.o.warn(text));
  }

  step(p: StepProgress): void {
    if (this.o.quiet) return;
    if (!this.o.live) {
      if (isLogStep(p, this.o.logInterval)) this.o.print(stepLine(p));
      return;
    }
    // tok/s of one step jumps about; the line shows a moving average
    this.smoothTokPerS = this.current === null || !Number.isFinite(this.smoothTokPerS) ? p.tokPerS : 0.8 * this.smoothTokPerS + 0.2 * p.tokPerS;
    this.current = p;
    const now = performance.now();
    if (now - this.lastDraw >= this.redrawMs || p.step === p.maxIters - 1 || p.fp16?.overflow) {
      this.lastDraw = now;
      this.draw();
    }
  }

  // The steps are over (the last one, an interrupt, an error): a live line stays on the
  // screen as an ordinary line, as it last was; later lines print below it.
  stepsOver(): void {
    if (this.current === null) return;
    this.draw();
    this.o.write('\n');
    this.current = null;
    this.drawn = false;
  }

  // The run is over: nothing of the live line is left half-drawn.
  close(): void {
    if (this.drawn) this.o.write('\r\x1b[K');
    this.drawn = false;
    this.current = null;
  }

  private draw(): void {
    if (this.current === null) return;
    this.o.write(`\r${liveLine(this.current, this.o.columns(), this.smoothTokPerS)}\x1b[K`);
    this.drawn = true;
  }

  private around(show: () => void): void {
    if (this.drawn) this.o.write('\r\x1b[K');
    show();
    this.drawn = false;
    if (this.current !== null) this.draw();
  }
}
