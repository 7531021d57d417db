// Loss curves of one or more runs from their JSONL logs (--log-file), as one SVG written
// by hand: two panels, loss against optimizer steps and against training tokens, each run
// in a colour of its own; train loss from the `step` records (smoothed), val loss from the
// `eval` records. `train.ts plot` reads and checks the files; this module turns records
// into an SVG string, so a benchmark can draw its runs too.
import { ConfigError } from './config.ts';

// The first lines of every SVG this module writes: `train.ts plot` replaces a file only
// when it starts like this (never a file of the user's).
export const PLOT_MARK = '<!-- wasmgpt plot:';
const HEADER = `<?xml version="1.0" encoding="UTF-8"?>\n${PLOT_MARK} written by \`npx tsx train.ts plot\`, which may overwrite this file -->\n`;

export function isOurPlot(head: string): boolean {
  return /^<\?xml[^>]*\?>\s*<!-- wasmgpt plot:/.test(head);
}

// The record types a log of this tool has (src/train/trainer.ts writes them).
const LOG_RECORD_TYPES = new Set(['data', 'step', 'eval', 'done', 'lr_finder']);

export interface StepPoint {
  step: number;
  loss: number;
  tokens: number | null; // logs written before `tokens` existed have none
}

export interface EvalPoint {
  step: number;
  valLoss: number;
  tokens: number | null;
}

export interface RunCurves {
  label: string;
  steps: StepPoint[]; // by step, one per step
  evals: EvalPoint[];
}

// The records of one log's text (`name` names it in errors). A resumed run's log has the
// steps since its checkpoint twice when the run stopped without saving: the later wins.
export function parseRunLog(text: string, name: string, label = name): RunCurves {
  const lines = text.split('\n');
  const steps = new Map<number, StepPoint>();
  const evals = new Map<number, EvalPoint>();
  let records = 0;
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(lines[i]) as Record<string, unknown>;
    } catch {
      r = {};
    }
    if (r === null || typeof r !== 'object' || !LOG_RECORD_TYPES.has(r.type as string)) {
      throw new ConfigError(`${name} is not a log of this tool (line ${i + 1} is not one of its JSON records): give a file written by a run's --log-file`);
    }
    records++;
    const step = num(r.step);
    if (r.type === 'step' && step !== null) {
      const loss = num(r.loss);
      if (loss !== null) steps.set(step, { step, loss, tokens: num(r.tokens) });
    } else if (r.type === 'eval' && step !== null) {
      const valLoss = num(r.val_loss);
      if (valLoss !== null) evals.set(step, { step, valLoss, tokens: num(r.tokens) });
    }
  }
  if (records === 0) throw new ConfigError(`${name} is empty: give a log written by a run's --log-file`);
  if (steps.size === 0 && evals.size === 0) {
    throw new ConfigError(`${name} has no step or eval records (the run stopped before its first step): leave it out, or plot it once the run has logged steps`);
  }
  const byStep = <T extends { step: number }>(m: Map<number, T>) => [...m.values()].sort((a, b) => a.step - b.step);
  return { label, steps: byStep(steps), evals: byStep(evals) };
}

// Bias-corrected exponential moving average (the first values are not pulled toward 0).
export const TRAIN_EMA = 0.9;
export function smooth(values: number[], beta = TRAIN_EMA): number[] {
  let avg = 0;
  return values.map((v, i) => {
    avg = beta * avg + (1 - beta) * v;
    return avg / (1 - beta ** (i + 1));
  });
}

// Heckbert's nice numbers: 1, 2 or 5 times a power of ten near x (rounded, or at least x).
export function niceNumber(x: number, round: boolean): number {
  const exp = Math.floor(Math.log10(x));
  const f = x / 10 ** exp;
  const nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
  return nf * 10 ** exp;
}

export interface Ticks {
  lo: number; // the axis starts here...
  hi: number; // ...and ends here (both multiples of step)
  step: number;
  values: number[];
}

// About `count` round-numbered ticks covering [min, max]: a step of 1, 2 or 5 times a
// power of ten near (max - min) / (count - 1), from the multiple at or below min to the
// one at or above max.
export function niceTicks(min: number, max: number, count = 6): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return niceTicks(0, 1, count);
  if (max - min < Math.abs(max) * 1e-9 || max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count);
  }
  const step = niceNumber((max - min) / (count - 1), true);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const values: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-6; i++) values.push(Number((lo + i * step).toPrecision(12)));
  return { lo: values[0], hi: values[values.length - 1], step, values };
}

// The unit a count axis is labelled in, from its largest tick: 1, k, M or B.
export function countUnit(hi: number): { unit: number; suffix: string } {
  for (const [unit, suffix] of [[1e9, 'B'], [1e6, 'M'], [1e3, 'k']] as const) if (Math.abs(hi) >= unit) return { unit, suffix };
  return { unit: 1, suffix: '' };
}

// A tick's label: as many decimals as the step needs, in the axis's unit.
export function tickLabel(v: number, step: number, unit: { unit: number; suffix: string } = { unit: 1, suffix: '' }): string {
  if (v === 0) return '0';
  const decimals = Math.max(0, -Math.floor(Math.log10(step / unit.unit) + 1e-9));
  return `${(v / unit.unit).toFixed(Math.min(decimals, 6))}${unit.suffix}`;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export function escapeXml(t: string): string {
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Longest runs of points a polyline gets (a longer run is thinned evenly; the last point kept).
const MAX_POINTS = 1500;
function thin<T>(points: T[]): T[] {
  if (points.length <= MAX_POINTS) return points;
  const stride = Math.ceil(points.length / MAX_POINTS);
  const out = points.filter((_, i) => i % stride === 0);
  if ((points.length - 1) % stride !== 0) out.push(points[points.length - 1]);
  return out;
}

// Character widths of 12px sans-serif, roughly: to keep legend text inside the picture.
const textWidth = (t: string, size = 12) => t.length * size * 0.56;

// Rows of at most `width` characters, broken after a space, '/', '-' or '_' where one is
// near the end of a row, else anywhere.
function wrap(text: string, width: number): string[] {
  const rows: string[] = [];
  let rest = text;
  while (rest.length > width) {
    let cut = width;
    for (let i = width; i > width * 0.6; i--) {
      if (' /-_'.includes(rest[i - 1])) {
        cut = i;
        break;
      }
    }
    rows.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  rows.push(rest);
  return rows;
}

export interface PlotOptions {
  title?: string;
}

// The SVG for these runs: train and val loss against steps (left) and tokens (right).
export function lossPlotSvg(runs: RunCurves[], options: PlotOptions = {}): string {
  const W = 1000;
  const panelW = W / 2;
  const top = 64; // plot area's top (title and panel titles above)
  const plotH = 300;
  const margin = { left: 66, right: 22, bottom: 56 };
  const legendTop = top + plotH + margin.bottom + 8;
  const rowH = 20;

  const series = runs.map((run, i) => {
    const smoothed = smooth(run.steps.map((s) => s.loss));
    const train = run.steps.map((s, j) => ({ step: s.step, tokens: s.tokens, loss: smoothed[j] }));
    return { run, colour: COLOURS[i % COLOURS.length], dash: i >= COLOURS.length ? '6,3' : null, train: thin(train), val: run.evals };
  });
  const losses = series.flatMap((s) => [...s.train.map((p) => p.loss), ...s.val.map((p) => p.valLoss)]);
  const yTicks = niceTicks(Math.min(...losses), Math.max(...losses), 6);

  // legend: what the line styles mean, then one row per run (long labels wrap to the width)
  const legendRows: string[][] = series.map((s) => {
    const last = s.val[s.val.length - 1];
    const text = `${s.run.label} (${s.run.steps.length} steps${last ? `, val ${last.valLoss.toFixed(4)} at step ${last.step}` : ''})`;
    return wrap(text, Math.floor((W - 90) / (12 * 0.56)));
  });
  const legendH = 14 + rowH * (1 + legendRows.reduce((n, r) => n + r.length, 0)) + 6;
  const H = legendTop + legendH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  const title = options.title ?? `Training and validation loss (${runs.length} run${runs.length === 1 ? '' : 's'})`;
  out.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);

  const panel = (index: number, name: string, xTitle: string, x: (p: { step: number; tokens: number | null }) => number | null, si: boolean) => {
    const x0 = index * panelW + margin.left;
    const x1 = (index + 1) * panelW - margin.right;
    const y0 = top;
    const y1 = top + plotH;
    const xs = series.flatMap((s) => [...s.train.map(x), ...s.val.map(x)]).filter((v): v is number => v !== null);
    out.push(`<g class="panel">`);
    out.push(`<text x="${(x0 + x1) / 2}" y="${top - 12}" text-anchor="middle" font-size="13">${escapeXml(name)}</text>`);
    out.push(`<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${plotH}" fill="none" stroke="#444"/>`);
    const Y = (v: number) => y1 - ((v - yTicks.lo) / (yTicks.hi - yTicks.lo)) * plotH;
    for (const v of yTicks.values) {
      const y = Y(v).toFixed(1);
      out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e6e6e6"/>`);
      out.push(`<line x1="${x0 - 5}" y1="${y}" x2="${x0}" y2="${y}" stroke="#444"/>`);
      out.push(`<text class="tick" x="${x0 - 8}" y="${Number(y) + 4}" text-anchor="end">${tickLabel(v, yTicks.step)}</text>`);
    }
    const yMid = (y0 + y1) / 2;
    out.push(`<text x="${x0 - 50}" y="${yMid}" text-anchor="middle" transform="rotate(-90 ${x0 - 50} ${yMid})">loss</text>`);
    out.push(`<text x="${(x0 + x1) / 2}" y="${y1 + 44}" text-anchor="middle">${escapeXml(xTitle)}</text>`);
    if (xs.length === 0) {
      out.push(`<text x="${(x0 + x1) / 2}" y="${yMid}" text-anchor="middle" fill="#888">no token counts in these logs (written before logs had them)</text>`);
      out.push('</g>');
      return;
    }
    const xTicks = niceTicks(0, Math.max(...xs), 6);
    const X = (v: number) => x0 + ((v - xTicks.lo) / (xTicks.hi - xTicks.lo)) * (x1 - x0);
    for (const v of xTicks.values) {
      const xv = X(v).toFixed(1);
      out.push(`<line x1="${xv}" y1="${y0}" x2="${xv}" y2="${y1}" stroke="#f0f0f0"/>`);
      out.push(`<line x1="${xv}" y1="${y1}" x2="${xv}" y2="${y1 + 5}" stroke="#444"/>`);
      out.push(`<text class="tick" x="${xv}" y="${y1 + 19}" text-anchor="middle">${tickLabel(v, xTicks.step, si ? countUnit(xTicks.hi) : undefined)}</text>`);
    }
    for (const s of series) {
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
      const train = s.train.filter((p) => x(p) !== null).map((p) => `${X(x(p)!).toFixed(1)},${Y(p.loss).toFixed(1)}`);
      if (train.length > 0) out.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="1.3" stroke-opacity="0.6"${dash} points="${train.join(' ')}"/>`);
      const val = s.val.filter((p) => x(p) !== null);
      if (val.length > 0) {
        out.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="2.4"${dash} points="${val.map((p) => `${X(x(p)!).toFixed(1)},${Y(p.valLoss).toFixed(1)}`).join(' ')}"/>`);
        for (const p of val) out.push(`<circle cx="${X(x(p)!).toFixed(1)}" cy="${Y(p.valLoss).toFixed(1)}" r="3.2" fill="${s.colour}"/>`);
      }
    }
    out.push('</g>');
  };
  panel(0, 'loss by optimizer step', 'step', (p) => p.step, false);
  panel(1, 'loss by training tokens', 'tokens (step x batch x block x grad accum)', (p) => p.tokens, true);

  // legend
  out.push(`<g class="legend">`);
  out.push(`<rect x="10" y="${legendTop}" width="${W - 20}" height="${legendH - 6}" fill="#fafafa" stroke="#ccc"/>`);
  let y = legendTop + 20;
  const key = `train loss: step records, moving average (EMA ${TRAIN_EMA})`;
  out.push(`<line x1="24" y1="${y - 4}" x2="54" y2="${y - 4}" stroke="#555" stroke-width="1.3" stroke-opacity="0.6"/>`);
  out.push(`<text x="62" y="${y}">${escapeXml(key)}</text>`);
  const valX = 62 + textWidth(key) + 40;
  out.push(`<line x1="${valX}" y1="${y - 4}" x2="${valX + 30}" y2="${y - 4}" stroke="#555" stroke-width="2.4"/>`);
  out.push(`<circle cx="${valX + 15}" cy="${y - 4}" r="3.2" fill="#555"/>`);
  out.push(`<text x="${valX + 38}" y="${y}">val loss: eval records</text>`);
  series.forEach((s, i) => {
    y += rowH;
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    out.push(`<g class="legend-run">`);
    out.push(`<line x1="24" y1="${y - 4}" x2="54" y2="${y - 4}" stroke="${s.colour}" stroke-width="3"${dash}/>`);
    legendRows[i].forEach((row, r) => out.push(`<text x="62" y="${y + r * rowH}">${escapeXml(row)}</text>`));
    out.push('</g>');
    y += rowH * (legendRows[i].length - 1);
  });
  out.push('</g>');
  out.push('</svg>');
  return HEADER + out.join('\n') + '\n';
}
