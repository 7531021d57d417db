// Learning-rate range finder: real training steps at exponentially growing learning
// rates, the loss smoothed, and two suggestions read off the curve. The run's whole
// state is snapshotted first and restored after, so the model, the optimizer moments,
// the counters and every RNG are bitwise what they were.
import { snapshot, restore, trainStep, type TrainState } from './state.ts';

export interface LrSweepOptions {
  startLr: number;
  endLr: number;
  steps: number;
  smoothing?: number; // of the exponential moving average (default 0.98)
}

export interface LrPoint {
  lr: number;
  loss: number;
  smoothed: number; // bias-corrected moving average of the loss
}

export interface LrSweep {
  points: LrPoint[];
  stopped: string; // why the sweep ended
  steepest: number | null; // lr where the smoothed loss falls fastest per decade of lr
  minOver10: number | null; // lr at the smoothed loss's minimum, divided by 10
  explanation: string;
}

// The sweep stops once the smoothed loss is this many times its minimum.
const DIVERGED = 4;
// A curve whose smoothed loss never falls below its start by this fraction has nothing to suggest.
const MIN_DROP = 0.02;

export function lrAt(i: number, o: LrSweepOptions): number {
  return o.steps === 1 ? o.startLr : o.startLr * (o.endLr / o.startLr) ** (i / (o.steps - 1));
}

export function sweepLearningRate(state: TrainState, o: LrSweepOptions): LrSweep {
  const beta = o.smoothing ?? 0.98;
  const saved = snapshot(state);
  const points: LrPoint[] = [];
  let stopped = `reached --end-lr ${o.endLr} after ${o.steps} steps`;
  try {
    let average = 0;
    let best = Infinity;
    for (let i = 0; i < o.steps; i++) {
      const lr = lrAt(i, o);
      const { loss } = trainStep(state, lr);
      if (!Number.isFinite(loss)) {
        stopped = `the loss became ${loss} at lr ${lr.toExponential(2)}`;
        break;
      }
      average = beta * average + (1 - beta) * loss;
      const smoothed = average / (1 - beta ** (i + 1));
      points.push({ lr, loss, smoothed });
      best = Math.min(best, smoothed);
      if (smoothed > DIVERGED * best) {
        stopped = `the smoothed loss passed ${DIVERGED}x its minimum at lr ${lr.toExponential(2)}`;
        break;
      }
    }
  } finally {
    restore(state, saved);
  }
  return { points, stopped, ...suggest(points) };
}

// Steepest descent of the smoothed loss against log10(lr), and the minimum's lr / 10.
export function suggest(points: readonly LrPoint[]): Pick<LrSweep, 'steepest' | 'minOver10' | 'explanation'> {
  if (points.length < 3) return { steepest: null, minOver10: null, explanation: 'too few points before the sweep stopped: widen the range or add --sweep-steps' };
  let iMin = 0;
  for (let i = 1; i < points.length; i++) if (points[i].smoothed < points[iMin].smoothed) iMin = i;
  const start = points[0].smoothed;
  if (points[iMin].smoothed > start * (1 - MIN_DROP)) {
    return {
      steepest: null, minOver10: null,
      explanation: `the loss never fell (from ${start.toFixed(4)} to at best ${points[iMin].smoothed.toFixed(4)}): no learning rate in this range trains this model; check the config, or raise --end-lr`,
    };
  }
  // central differences in log10(lr), up to the minimum (past it the loss is rising anyway)
  let iSteep = -1;
  let slope = 0;
  for (let i = 1; i < Math.max(2, iMin); i++) {
    const i0 = i - 1, i1 = Math.min(points.length - 1, i + 1);
    const d = (points[i1].smoothed - points[i0].smoothed) / (Math.log10(points[i1].lr) - Math.log10(points[i0].lr));
    if (d < slope) {
      slope = d;
      iSteep = i;
    }
  }
  const steepest = iSteep >= 0 ? points[iSteep].lr : null;
  const minOver10 = points[iMin].lr / 10;
  return {
    steepest, minOver10,
    explanation: `steepest descent of the smoothed loss (${slope.toFixed(3)} per decade of lr)` +
      `; the minimum ${points[iMin].smoothed.toFixed(4)} is at lr ${points[iMin].lr.toExponential(2)}, a tenth of that is the cautious choice`,
  };
}

export function sweepCsv(s: LrSweep): string {
  return 'step,lr,loss,smoothed_loss\n' + s.points.map((p, i) => `${i},${p.lr},${p.loss},${p.smoothed}`).join('\n') + '\n';
}

// The smoothed curve on a log-lr axis, both suggestions marked.
export function sweepSvg(s: LrSweep): string {
  const W = 720, H = 440, left = 70, right = 20, top = 40, bottom = 60;
  const pts = s.points;
  if (pts.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">no points: ${escape(s.stopped)}</text></svg>\n`;
  const lx = pts.map((p) => Math.log10(p.lr));
  const x0 = Math.floor(Math.min(...lx)), x1 = Math.ceil(Math.max(...lx));
  const ys = pts.map((p) => p.smoothed);
  // down to the lowest raw loss too; up to the highest smoothed one (raw spikes above are left out)
  const y0 = Math.min(...ys, ...pts.map((p) => p.loss)), y1 = Math.max(...ys) === y0 ? y0 + 1 : Math.max(...ys);
  const X = (l: number) => left + ((l - x0) / Math.max(1e-9, x1 - x0)) * (W - left - right);
  const Y = (v: number) => top + (1 - (v - y0) / (y1 - y0)) * (H - top - bottom);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">Learning-rate range test</text>`);
  for (let d = x0; d <= x1; d++) {
    parts.push(`<line x1="${X(d)}" y1="${top}" x2="${X(d)}" y2="${H - bottom}" stroke="#ddd"/>`);
    parts.push(`<text x="${X(d)}" y="${H - bottom + 18}" text-anchor="middle">1e${d}</text>`);
  }
  for (let k = 0; k <= 4; k++) {
    const v = y0 + (k / 4) * (y1 - y0);
    parts.push(`<line x1="${left}" y1="${Y(v)}" x2="${W - right}" y2="${Y(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${Y(v) + 4}" text-anchor="end">${v.toFixed(3)}</text>`);
  }
  parts.push(`<text x="${W / 2}" y="${H - 18}" text-anchor="middle">learning rate (log scale)</text>`);
  parts.push(`<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">training loss (line: smoothed, dots: each step)</text>`);
  const raw = pts.filter((p) => p.loss <= y1 && p.loss >= y0).map((p) => `<circle cx="${X(Math.log10(p.lr)).toFixed(1)}" cy="${Y(p.loss).toFixed(1)}" r="1.5" fill="#9ab"/>`);
  parts.push(...raw);
  parts.push(`<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="${pts.map((p) => `${X(Math.log10(p.lr)).toFixed(1)},${Y(p.smoothed).toFixed(1)}`).join(' ')}"/>`);
  const mark = (lr: number | null, color: string, label: string, dy: number) => {
    if (lr === null) return;
    const x = X(Math.log10(lr));
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${H - bottom}" stroke="${color}" stroke-dasharray="5,4" stroke-width="1.5"/>`);
    parts.push(`<text x="${x + 5}" y="${top + 14 + dy}" fill="${color}">${escape(label)} ${lr.toExponential(1)}</text>`);
  };
  mark(s.steepest, '#c0392b', 'steepest descent', 0);
  mark(s.minOver10, '#27864a', 'minimum / 10', 16);
  if (s.steepest === null) parts.push(`<text x="${left + 10}" y="${top + 14}" fill="#c0392b">no suggestion: the loss never fell</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function escape(t: string): string {
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// A small plot for the terminal: the smoothed loss over log lr, suggestions marked.
export function sweepTerminalPlot(s: LrSweep, width = 64, height = 12): string {
  const pts = s.points;
  if (pts.length < 2) return '';
  const lx = pts.map((p) => Math.log10(p.lr));
  const x0 = lx[0], x1 = lx[lx.length - 1];
  const ys = pts.map((p) => p.smoothed);
  const y0 = Math.min(...ys), y1 = Math.max(...ys) === y0 ? y0 + 1 : Math.max(...ys);
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  const col = (l: number) => Math.min(width - 1, Math.max(0, Math.round(((l - x0) / (x1 - x0 || 1)) * (width - 1))));
  for (const [lr, ch] of [[s.steepest, '|'], [s.minOver10, ':']] as const) {
    if (lr !== null) for (let r = 0; r < height; r++) grid[r][col(Math.log10(lr))] = ch;
  }
  pts.forEach((p, i) => {
    const r = Math.min(height - 1, Math.max(0, Math.round((1 - (p.smoothed - y0) / (y1 - y0)) * (height - 1))));
    grid[r][col(lx[i])] = '*';
  });
  const lines = grid.map((row, r) => `${(r === 0 ? y1 : r === height - 1 ? y0 : NaN).toFixed(3).replace('NaN', '').padStart(8)} ${row.join('')}`);
  lines.push(`${''.padStart(8)} ${pts[0].lr.toExponential(0).padEnd(width - 6)}${pts[pts.length - 1].lr.toExponential(0)}`);
  lines.push(`${''.padStart(8)} * smoothed loss   | steepest descent   : minimum / 10`);
  return lines.join('\n');
}
