// What a run shows while it trains (a live line on a terminal, thinned plain lines
// elsewhere), what its log records at each step and evaluation, and `train.ts plot`.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/trainer.ts';
import type { TrainConfig } from '../src/train/config.ts';
import {
  formatDuration, progressBar, liveLine, stepLine, isLogStep, etaSeconds, ProgressView, type StepProgress,
} from '../src/train/progress.ts';
import { lossPlotSvg, parseRunLog, niceTicks, niceNumber, tickLabel, countUnit, smooth, isOurPlot, type RunCurves } from '../src/train/plot.ts';

const root = join(import.meta.dirname, '..');
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-obs-'));
const text = 'Watch the loss fall: every step is counted, every evaluation weighed.\n'.repeat(60);

function corpus(): string {
  const file = join(tmp(), 'corpus.txt');
  writeFileSync(file, text);
  return file;
}

function tiny(overrides: Partial<TrainConfig> = {}): Partial<TrainConfig> {
  return {
    data: [corpus()], tokenizer: 'char', cacheDir: null, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 3, gradAccum: 2,
    maxIters: 10, evalInterval: 4, evalIters: 1, warmupIters: 2, sampleTokens: 0, threads: 1, outDir: join(tmp(), 'out'), ...overrides,
  };
}

const records = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const cliArgs = (...args: string[]) => [process.execPath, ['--import', 'tsx', 'train.ts', ...args]] as const;
const cli = (...args: string[]) => spawnSync(...cliArgs(...args), { cwd: root, encoding: 'utf8', timeout: 60_000 });
function cliAsync(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(...cliArgs(...args), { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

function progress(overrides: Partial<StepProgress> = {}): StepProgress {
  return {
    step: 49, maxIters: 120, loss: 2.34567, lr: 3e-4, gradNorm: 0.71234, ms: 12.5, tokPerS: 3840.4, tokens: 50 * 384,
    elapsedS: 30, etaS: 65, fp16: null, ...overrides,
  };
}

describe('progress formatting', () => {
  it('durations: seconds, minutes with seconds, hours with minutes', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(42.4)).toBe('42s');
    expect(formatDuration(59.6)).toBe('1m00s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3599)).toBe('59m59s');
    expect(formatDuration(7380)).toBe('2h03m');
    expect(formatDuration(36 * 3600 + 60)).toBe('36h01m');
    expect(formatDuration(NaN)).toBe('--');
  });

  it('the bar: filled by the fraction, clamped to [0, 1]', () => {
    expect(progressBar(0, 10)).toBe('[..........]');
    expect(progressBar(0.5, 10)).toBe('[#####.....]');
    expect(progressBar(0.99, 10)).toBe('[#########.]');
    expect(progressBar(1, 10)).toBe('[##########]');
    expect(progressBar(1.7, 4)).toBe('[####]');
    expect(progressBar(-1, 4)).toBe('[....]');
  });

  it('the live line: bar, percent, step/max_iters, ETA, tok/s, loss, lr, norm; loss scale and skipped steps only in fp16', () => {
    const fp32 = liveLine(progress());
    expect(fp32).toBe('[########............]  42% 50/120 | ETA 1m05s | 3840 tok/s | loss 2.3457 | lr 3.00e-4 | norm 0.712');
    expect(fp32).not.toMatch(/scale|skipped/);
    const fp16 = liveLine(progress({ fp16: { lossScale: 32768, skipped: 3, overflow: false } }));
    expect(fp16).toMatch(/ \| scale 32768 \| skipped 3$/);
    // the last step shows the time it took; before any timing, no ETA
    expect(liveLine(progress({ step: 119, etaS: 0, elapsedS: 125 }))).toMatch(/\[#{20}\] 100% 120\/120 \| in 2m05s \|/);
    expect(liveLine(progress({ etaS: null }))).toContain('ETA --');
  });

  it('a narrow terminal: the bar goes first, then the least useful fields, whole; the line never wraps', () => {
    const p = progress({ fp16: { lossScale: 65536, skipped: 12, overflow: false } });
    for (const columns of [200, 100, 80, 60, 40, 20, 8]) expect(liveLine(p, columns).length).toBeLessThan(columns);
    expect(liveLine(p, 80)).not.toContain('[');
    expect(liveLine(p, 80)).toMatch(/^ 42% 50\/120 \| ETA 1m05s \| 3840 tok\/s \| loss 2.3457/);
    expect(liveLine(p, 70)).toBe(' 42% 50/120 | ETA 1m05s | 3840 tok/s | loss 2.3457 | skipped 12');
    expect(liveLine(p, 40)).toBe(' 42% 50/120 | ETA 1m05s | loss 2.3457');
  });

  it('the plain step line is the format runs have always printed; fp16 adds scale and skipped', () => {
    expect(stepLine(progress())).toBe('step 49 | loss 2.3457 | lr 3.00e-4 | norm 0.712 | 12.5 ms | 3840 tok/s');
    expect(stepLine(progress({ fp16: { lossScale: 1024, skipped: 2, overflow: true } })))
      .toBe('step 49 | loss 2.3457 | lr 3.00e-4 | norm 0.712 | 12.5 ms | 3840 tok/s | scale 1024 | skipped 2 (this step: overflow)');
  });

  it('which steps a plain run prints: every --log-interval steps, the last one, an fp16 overflow', () => {
    const printed = (n: number, interval: number) => Array.from({ length: n }, (_, step) => step).filter((step) => isLogStep({ step, maxIters: n, fp16: null }, interval));
    expect(printed(25, 10)).toEqual([0, 10, 20, 24]);
    expect(printed(7, 3)).toEqual([0, 3, 6]);
    expect(isLogStep({ step: 5, maxIters: 25, fp16: { lossScale: 1, skipped: 1, overflow: true } }, 10)).toBe(true);
  });

  it('the ETA counts the steps and the evaluations left', () => {
    // 10 of 20 steps in 5 s; evaluations at 10 (not done yet), 15, 20, 1 s each
    expect(etaSeconds({ done: 10, maxIters: 20, evalInterval: 5, stepS: 5, stepsTimed: 10, evalS: 2, evalsTimed: 2 })).toBeCloseTo(10 * 0.5 + 3 * 1);
    expect(etaSeconds({ done: 20, maxIters: 20, evalInterval: 5, stepS: 5, stepsTimed: 20, evalS: 2, evalsTimed: 2 })).toBeCloseTo(1);
    expect(etaSeconds({ done: 0, maxIters: 20, evalInterval: 5, stepS: 0, stepsTimed: 0, evalS: 0, evalsTimed: 1 })).toBeNull();
  });
});

describe('the progress view', () => {
  function view(live: boolean, quiet = false) {
    const screen: string[] = [];
    const v = new ProgressView({
      live, quiet, logInterval: 2, redrawMs: 0, columns: () => 150,
      print: (l) => screen.push(`print:${l}`), warn: (l) => screen.push(`warn:${l}`), write: (t) => screen.push(`write:${t}`),
    });
    return { v, screen };
  }

  it('on a terminal: the line is redrawn in place, cleared for normal lines and warnings and drawn again after them, left standing when the steps are over', () => {
    const { v, screen } = view(true);
    v.line('model: ...');
    v.step(progress({ step: 0, maxIters: 3 }));
    v.step(progress({ step: 1, maxIters: 3 }));
    v.line('step 2: val loss 2.0');
    v.warning('warning: something');
    v.step(progress({ step: 2, maxIters: 3, elapsedS: 3 }));
    v.stepsOver();
    v.line('done: ...');
    v.close();
    const draw = (done: number, time: string) => expect.stringMatching(new RegExp(`^write:\\r\\[#*\\.*\\] +\\d+% ${done}/3 \\| ${time} .*\\x1b\\[K$`));
    expect(screen).toEqual([
      'print:model: ...',
      draw(1, 'ETA 1m05s'), draw(2, 'ETA 1m05s'),
      'write:\r\x1b[K', 'print:step 2: val loss 2.0', draw(2, 'ETA'),
      'write:\r\x1b[K', 'warn:warning: something', draw(2, 'ETA'),
      draw(3, 'in 3s'), draw(3, 'in 3s'), 'write:\n',
      'print:done: ...',
    ]);
  });

  it('elsewhere: plain lines every --log-interval steps and the last; --quiet: none, normal lines stay', () => {
    const plain = view(false);
    for (let step = 0; step < 5; step++) plain.v.step(progress({ step, maxIters: 5 }));
    plain.v.line('done');
    plain.v.stepsOver();
    plain.v.close();
    expect(plain.screen.map((l) => l.replace(/ \|.*/, ''))).toEqual(['print:step 0', 'print:step 2', 'print:step 4', 'print:done']);
    for (const live of [false, true]) {
      const quiet = view(live, true);
      for (let step = 0; step < 5; step++) quiet.v.step(progress({ step, maxIters: 5 }));
      quiet.v.line('done');
      quiet.v.stepsOver();
      quiet.v.close();
      expect(quiet.screen).toEqual(['print:done']);
    }
  });
});

describe('printed step lines and the log', () => {
  it('train(): a step line every --log-interval steps and the last; none with --quiet; the log has every step either way', async () => {
    for (const quiet of [false, true]) {
      const dir = tmp();
      const lines: string[] = [];
      await train(tiny({ logInterval: 3, quiet, logFile: join(dir, 'log.jsonl') }), { onLog: (l) => lines.push(l) });
      const stepLines = lines.filter((l) => /^step \d+ \|/.test(l)).map((l) => Number(/^step (\d+)/.exec(l)![1]));
      expect(stepLines).toEqual(quiet ? [] : [0, 3, 6, 9]);
      // evaluations and the summary stay
      expect(lines.filter((l) => /^step \d+: train loss/.test(l))).toHaveLength(4);
      expect(lines.some((l) => l.startsWith('done: 10 steps'))).toBe(true);
      expect(records(join(dir, 'log.jsonl')).filter((r) => r.type === 'step').map((r) => r.step)).toEqual([...Array(10).keys()]);
    }
  });

  it('the CLI with stdout a pipe: --log-interval thins the step lines, --quiet drops them', async () => {
    const run = (...extra: string[]) => {
      const o = tiny();
      return cliAsync('--data', o.data![0], '--tokenizer', 'char', '--no-cache', '--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16',
        '--batch-size', '3', '--max-iters', '12', '--eval-interval', '6', '--eval-iters', '1', '--sample-tokens', '0', '--threads', '1', '--out-dir', o.outDir!, ...extra);
    };
    const [thinned, quiet] = await Promise.all([run('--log-interval', '5'), run('--quiet')]);
    expect(thinned.status).toBe(0);
    expect(thinned.stdout).not.toMatch(/\r|\x1b/);
    expect([...thinned.stdout.matchAll(/^step (\d+) \|/gm)].map((m) => Number(m[1]))).toEqual([0, 5, 10, 11]);
    expect(quiet.status).toBe(0);
    expect(quiet.stdout).not.toMatch(/^step \d+ \|/m);
    expect(quiet.stdout).toMatch(/^step 12: train loss/m);
    expect(quiet.stdout).toMatch(/^done: 12 steps/m);
  });

  it('a progress hook gets every step as data, and no step lines are printed', async () => {
    const seen: StepProgress[] = [];
    const lines: string[] = [];
    await train(tiny({ maxIters: 6, precision: 'fp16' }), { onLog: (l) => lines.push(l), onStep: (p) => seen.push(p) });
    expect(seen.map((p) => p.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(seen.every((p) => p.maxIters === 6 && p.fp16 !== null && p.tokens === (p.step + 1) * 3 * 16 * 2)).toBe(true);
    expect(seen[5].etaS).toBeGreaterThanOrEqual(0);
    expect(lines.some((l) => /^step \d+ \|/.test(l))).toBe(false);
  });

  it('on a terminal the CLI draws the tokenizing bar sent by the training thread, and clears it before the data line', () => {
    if (!existsSync('/usr/bin/script')) {
      console.log('skipped: no script(1) here to give the CLI a terminal');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'wasmgpt-tty-'));
    const text = join(dir, 'big.txt');
    // 3 MB of varied text: over the 1 MiB a terminal bar needs, and a second or so of BPE
    const words = Array.from({ length: 600_000 }, (_, i) => `w${(i * 7919) % 10007}`);
    writeFileSync(text, words.join(' '));
    const command = [process.execPath, '--import', 'tsx', 'train.ts', '--data', text, '--no-cache', '--max-iters', '0', '--eval-iters', '1',
      '--n-layer', '1', '--n-embd', '16', '--n-head', '2', '--block-size', '8', '--batch-size', '2', '--sample-tokens', '0', '--out-dir', join(dir, 'out')];
    const r = spawnSync('script', ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    const screen = r.stdout;
    const bar = screen.indexOf('\rtokenizing (gpt2) [');
    const cleared = screen.indexOf('\r\x1b[Kdata: 1 files');
    expect(bar).toBeGreaterThanOrEqual(0);
    expect(cleared).toBeGreaterThan(bar);
    expect(screen.slice(cleared).includes('tokenizing (')).toBe(false); // nothing of it arrives late
  });

  it('eval records carry rss_bytes, arena_bytes, elapsed_s and tokens; step records carry tokens (after the step)', async () => {
    const dir = tmp();
    const B = 3, T = 16, accum = 2;
    await train(tiny({ batchSize: B, blockSize: T, gradAccum: accum, maxIters: 10, evalInterval: 4, logFile: join(dir, 'log.jsonl') }), {});
    const log = records(join(dir, 'log.jsonl'));
    const evals = log.filter((r) => r.type === 'eval');
    expect(evals.map((r) => r.step)).toEqual([0, 4, 8, 10]);
    for (const e of evals) {
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['step', 'train_loss', 'val_loss', 'rss_bytes', 'arena_bytes', 'elapsed_s', 'tokens']));
      expect(e.arena_bytes as number).toBeGreaterThan(0);
      expect(e.rss_bytes as number).toBeGreaterThan(e.arena_bytes as number);
      expect(e.tokens).toBe((e.step as number) * B * T * accum);
    }
    const elapsed = evals.map((e) => e.elapsed_s as number);
    expect(elapsed[0]).toBeGreaterThan(0);
    for (let i = 1; i < elapsed.length; i++) expect(elapsed[i]).toBeGreaterThan(elapsed[i - 1]);
    const steps = log.filter((r) => r.type === 'step');
    expect(steps.map((s) => s.tokens)).toEqual(steps.map((s) => ((s.step as number) + 1) * B * T * accum));
  });
});

// A well-formed XML-ish document: every tag closed in order, one root, quoted attributes.
function checkWellFormed(svg: string): void {
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '').replace(/<!--[\s\S]*?-->\s*/g, '');
  const stack: string[] = [];
  let roots = 0;
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|>/g)) {
    if (m[0] === '<' || m[0] === '>') throw new Error(`a stray ${m[0]} at ${m.index}: ${body.slice(m.index! - 40, m.index! + 40)}`);
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      expect(stack.pop()).toBe(name);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClosing) stack.push(name);
    }
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

const count = (s: string, what: string) => s.split(what).length - 1;

describe('plot: the SVG', () => {
  it('nice ticks: round numbers covering the range', () => {
    expect(niceNumber(1.37, false)).toBe(2);
    expect(niceNumber(0.4, true)).toBe(0.5);
    expect(niceTicks(2.03, 3.4).values).toEqual([2, 2.2, 2.4, 2.6, 2.8, 3, 3.2, 3.4]);
    expect(niceTicks(0, 61440).values).toEqual([0, 10000, 20000, 30000, 40000, 50000, 60000, 70000]);
    expect(niceTicks(0, 120).values).toEqual([0, 20, 40, 60, 80, 100, 120]);
    expect(niceTicks(0.0012, 0.0049).values).toEqual([0.001, 0.002, 0.003, 0.004, 0.005]);
    expect(niceTicks(5, 5).values.length).toBeGreaterThan(1);
    const t = niceTicks(0, 2.4e6);
    expect(t.values.map((v) => tickLabel(v, t.step, countUnit(t.hi)))).toEqual(['0', '0.5M', '1.0M', '1.5M', '2.0M', '2.5M']);
    expect(tickLabel(2.5, 0.5)).toBe('2.5');
    expect(tickLabel(40, 20)).toBe('40');
  });

  it('train loss is smoothed by a bias-corrected moving average', () => {
    expect(smooth([4, 4, 4])).toEqual([4, 4, 4].map((v) => expect.closeTo(v, 12)));
    const s = smooth([4, 2]);
    expect(s[0]).toBeCloseTo(4);
    expect(s[1]).toBeCloseTo((0.9 * 0.1 * 4 + 0.1 * 2) / (1 - 0.81));
  });

  function syntheticRun(label: string, steps: number, tokensPerStep: number | null, offset = 0): RunCurves {
    return {
      label,
      steps: Array.from({ length: steps }, (_, step) => ({ step, loss: 4 - 2 * (step / steps) + offset, tokens: tokensPerStep === null ? null : (step + 1) * tokensPerStep })),
      evals: [0, steps / 2, steps].map((step) => ({ step, valLoss: 4.1 - 2 * (step / steps) + offset, tokens: tokensPerStep === null ? null : step * tokensPerStep })),
    };
  }

  it('two panels, a legend entry per run, tick labels, well-formed, marked as ours', () => {
    const runs = [syntheticRun('small & <fast>', 200, 384), syntheticRun('wide "run"', 120, 1024, 0.3), syntheticRun('third', 50, 96, -0.2)];
    const svg = lossPlotSvg(runs);
    checkWellFormed(svg);
    expect(isOurPlot(svg)).toBe(true);
    expect(count(svg, '<g class="panel">')).toBe(2);
    expect(count(svg, '<g class="legend-run">')).toBe(3);
    expect(svg).toContain('small &amp; &lt;fast&gt;');
    expect(svg).toContain('wide &quot;run&quot;');
    const ticks = [...svg.matchAll(/<text class="tick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(ticks).toEqual(expect.arrayContaining(['0', '50', '100', '150', '200', '40k', '120k', '2.0', '3.0', '4.0']));
    expect(svg).toMatch(/>step<\/text>/);
    expect(svg).toMatch(/>tokens \(/);
    expect(svg).toMatch(/>loss<\/text>/);
    expect(svg).toContain('EMA 0.9');
    // each run has its own colour
    const colours = new Set([...svg.matchAll(/<g class="legend-run">\n<line [^>]*stroke="(#[0-9a-f]{6})"/g)].map((m) => m[1]));
    expect(colours.size).toBe(3);
  });

  it('logs without token counts: the token panel says so; a long label wraps inside the picture', () => {
    const svg = lossPlotSvg([syntheticRun('x'.repeat(400), 30, null)]);
    checkWellFormed(svg);
    expect(svg).toContain('no token counts in these logs');
    const width = Number(/width="(\d+)"/.exec(svg)![1]);
    for (const m of svg.matchAll(/<text x="62" y="[\d.]+">([^<]*)<\/text>/g)) expect(62 + m[1].length * 12 * 0.56).toBeLessThanOrEqual(width);
  });

  it('parseRunLog: the last record of a step wins (a resumed log), bad lines are named', () => {
    const log = [
      { type: 'data', tokens: 100 }, { type: 'eval', step: 0, train_loss: 4, val_loss: 4.1, tokens: 0 },
      { type: 'step', step: 0, loss: 4, tokens: 10 }, { type: 'step', step: 1, loss: 3.9, tokens: 20 },
      { type: 'data', tokens: 100 }, { type: 'step', step: 1, loss: 3.8, tokens: 20 }, { type: 'done', steps: 2 },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n';
    const run = parseRunLog(log, 'a.jsonl');
    expect(run.steps).toEqual([{ step: 0, loss: 4, tokens: 10 }, { step: 1, loss: 3.8, tokens: 20 }]);
    expect(run.evals).toEqual([{ step: 0, valLoss: 4.1, tokens: 0 }]);
    expect(() => parseRunLog('{"type":"step","step":0,"loss":1}\nnot json\n', 'b.jsonl')).toThrow(/^b\.jsonl is not a log of this tool \(line 2 is not one of its JSON records\)/);
    expect(() => parseRunLog('{"type":"data"}\n{"type":"done"}\n', 'c.jsonl')).toThrow(/^c\.jsonl has no step or eval records/);
  });
});

describe('plot: the command', () => {
  let dir: string;
  let logA: string;
  let logB: string;
  beforeAll(async () => {
    dir = tmp();
    logA = join(dir, 'small.jsonl');
    logB = join(dir, 'wide.jsonl');
    await Promise.all([
      train(tiny({ logFile: logA, maxIters: 12 }), {}),
      train(tiny({ logFile: logB, maxIters: 8, nEmbd: 32, batchSize: 4 }), {}),
    ]);
  }, 60_000);

  it('two runs: one SVG with a labelled entry each; it may replace a plot of its own', () => {
    const out = join(dir, 'plots', 'loss.svg');
    const r = cli('plot', logA, logB, '--out', out, '--label', 'small', '--label', 'wide');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`wrote ${out}: small (12 steps, 4 evals), wide (8 steps, 3 evals)\n`);
    const svg = readFileSync(out, 'utf8');
    checkWellFormed(svg);
    expect(count(svg, '<g class="legend-run">')).toBe(2);
    expect(svg).toMatch(/>small \(12 steps, val [\d.]+ at step 12\)</);
    expect(svg).toMatch(/>wide \(8 steps, val [\d.]+ at step 8\)</);
    // again, without labels: the file names; our own SVG is replaced
    const again = cli('plot', logA, logB, '--out', out);
    expect(again.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/>small\.jsonl \(12 steps/);
  });

  it('bad input: one line naming the problem and the fix, exit code 1, and a file of the user\'s left as it was', async () => {
    const notes = join(dir, 'notes.svg');
    const mine = '<svg xmlns="http://www.w3.org/2000/svg"><!-- my drawing --></svg>\n';
    writeFileSync(notes, mine);
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'just some text\n');
    const dataOnly = join(dir, 'data-only.jsonl');
    writeFileSync(dataOnly, JSON.stringify({ type: 'data', tokens: 10 }) + '\n');
    const out = join(dir, 'bad.svg');
    const cases: [string[], RegExp][] = [
      [['plot', join(dir, 'missing.jsonl'), '--out', out], /^error: plot: .*missing\.jsonl: no such file: give a log written by a run's --log-file$/],
      [['plot', text, '--out', out], /^error: plot: .*text\.txt is not a log of this tool \(line 1 is not one of its JSON records\): give a file written by a run's --log-file$/],
      [['plot', dataOnly, '--out', out], /^error: plot: .*data-only\.jsonl has no step or eval records .*: leave it out/],
      [['plot', logA], /^error: plot: --out is missing: give the SVG file to write, e.g. --out loss.svg$/],
      [['plot', '--out', out], /^error: plot: no log files given: npx tsx train\.ts plot LOG\.jsonl/],
      [['plot', logA, logB, '--out', out, '--label', 'one'], /^error: plot: 1 --label for 2 logs: give one --label per log, in the same order, or none$/],
      [['plot', logA, '--out', notes], /^error: plot: --out .*notes\.svg exists and is not a plot written by this command: choose another path \(a file of yours is never overwritten\)$/],
      [['plot', logA, '--out', logB], /^error: plot: --out .*wide\.jsonl exists and is not a plot written by this command/],
      [['plot', logA, '--out', dir], /^error: plot: --out .* is a directory: give a file path/],
      [['plot', logA, '--out', out, '--bogus'], /^error: plot: Unknown argument: bogus$/],
    ];
    const results = await Promise.all(cases.map(([args]) => cliAsync(...args)));
    results.forEach((r, i) => {
      expect(r.stderr.trimEnd().split('\n'), cases[i][0].join(' ')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(cases[i][1]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
    });
    expect(readFileSync(notes, 'utf8')).toBe(mine);
    expect(readFileSync(logB, 'utf8')).toMatch(/^\{"type":"data"/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
