// Nothing a user does loses a run: training runs in its own thread, so signals are
// answered at once, through `npx tsx train.ts` (the README's command) as well.
// Steps here take ~300 ms (one thread, batch 32), longer than tsx's launcher waits for
// an answer (30 ms) before it kills the process.
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/trainer.ts';
import { loadCheckpointState, hasCheckpoint } from '../src/train/checkpoint.ts';

const root = join(import.meta.dirname, '..');
const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-signals-'));

function corpus(): string {
  const file = join(tmp(), 'corpus.txt');
  const words = 'the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches'.split(' ');
  const lines = Array.from({ length: 3000 }, (_, i) => Array.from({ length: 12 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' '));
  writeFileSync(file, lines.join('\n'));
  return file;
}

const slowSteps = (outDir: string, batch = 32) => ['--data', corpus(), '--tokenizer', 'char', '--no-cache', '--threads', '1', '--batch-size', String(batch),
  '--max-iters', '100000', '--eval-interval', '100000', '--eval-iters', '1', '--sample-tokens', '0', '--out-dir', outDir];

interface Run {
  pid: number;
  out: () => string;
  err: () => string;
  exit: Promise<[number | null, string | null]>;
  closed: Promise<void>; // every process holding its stdout and stderr has exited: all output is in
}

// A run in a process group of its own, as a shell starts a foreground job.
function start(command: string, args: string[]): Run {
  const child = spawn(command, args, { cwd: root, detached: true });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return {
    pid: child.pid!, out: () => out, err: () => err, exit: new Promise((r) => child.on('exit', (c, s) => r([c, s]))),
    closed: new Promise((r) => child.on('close', () => r())),
  };
}

async function until(test: () => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!test()) {
    if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return performance.now() - t0;
}

// Whether a process of group `pgid` is still running (an exited one waiting to be reaped
// by init, a zombie, does not count: reaping is init's business, not ours). Linux /proc.
function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(group) === pgid && state !== 'Z') return true;
  }
  return false;
}

describe('signals', () => {
  it('Ctrl-C on `npx tsx train.ts` (SIGINT to the process group): the step finishes, a checkpoint is saved, every process exits', async () => {
    const outDir = join(tmp(), 'out');
    const run = start('npx', ['tsx', 'train.ts', ...slowSteps(outDir)]);
    await until(() => /step 0 \|/.test(run.out()), 60_000);
    await new Promise((r) => setTimeout(r, 800)); // a few more steps
    process.kill(-run.pid, 'SIGINT');
    const gone = await until(() => !groupAlive(run.pid), 10_000);
    await run.closed;
    expect(run.err()).toMatch(/interrupt: saving a checkpoint after this step/);
    const saved = /interrupted at step (\d+): checkpoint saved/.exec(run.out());
    expect(saved, run.out()).not.toBeNull();
    expect(loadCheckpointState(outDir).step).toBe(Number(saved![1]));
    expect(Number(saved![1])).toBeGreaterThanOrEqual(1);
    console.log(`Ctrl-C via npx: all processes gone ${Math.round(gone)} ms after the signal`);
  });

  it('SIGTERM to the npx process alone (what a supervisor sends): the trainer notices, saves and exits within two seconds', async () => {
    const outDir = join(tmp(), 'out');
    const run = start('npx', ['tsx', 'train.ts', ...slowSteps(outDir)]);
    await until(() => /step 0 \|/.test(run.out()), 60_000);
    await new Promise((r) => setTimeout(r, 800));
    process.kill(run.pid, 'SIGTERM');
    const gone = await until(() => !groupAlive(run.pid), 5_000);
    expect(gone).toBeLessThan(2_000); // a poll (250 ms), the step in progress (~300 ms), the save
    await run.closed;
    expect(run.err()).toMatch(/the launcher is gone: saving a checkpoint/);
    const saved = /interrupted at step (\d+): checkpoint saved/.exec(run.out());
    expect(saved, run.out()).not.toBeNull();
    expect(loadCheckpointState(outDir).step).toBe(Number(saved![1]));
    console.log(`SIGTERM to npx: all processes gone ${Math.round(gone)} ms after the signal`);
  });

  it('a repeat of the signal within half a second (a launcher passing on what we already got) still saves', async () => {
    const outDir = join(tmp(), 'out');
    const run = start(process.execPath, ['--import', 'tsx', 'train.ts', ...slowSteps(outDir)]);
    await until(() => /step 0 \|/.test(run.out()), 60_000);
    process.kill(run.pid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 30));
    process.kill(run.pid, 'SIGINT');
    expect(await run.exit).toEqual([130, null]);
    await run.closed;
    const saved = /interrupted at step (\d+): checkpoint saved/.exec(run.out());
    expect(saved, run.out()).not.toBeNull();
    expect(loadCheckpointState(outDir).step).toBe(Number(saved![1]));
  });

  it.each([['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const)('%s: checkpoint, exit %i; a second signal exits at once and the last checkpoint still loads', async (signal, code) => {
    const outDir = join(tmp(), 'out');
    // steps of ~2.5 s (batch 256), so a second press 0.6 s after the first falls inside the step
    // even on a loaded machine
    const data = slowSteps(outDir, 256);
    const run = start(process.execPath, ['--import', 'tsx', 'train.ts', ...data, '--save-interval', '1']);
    await until(() => /step 0 \|/.test(run.out()), 60_000);
    await until(() => hasCheckpoint(outDir), 10_000);
    process.kill(run.pid, signal);
    expect(await run.exit).toEqual([code, null]);
    const first = loadCheckpointState(outDir).step;
    expect(first).toBeGreaterThanOrEqual(1);

    const again = start(process.execPath, ['--import', 'tsx', 'train.ts', ...data, '--save-interval', '1', '--resume']);
    await until(() => /resumed from/.test(again.out()) && loadCheckpointState(outDir).step > first, 60_000);
    // a checkpoint appears a moment before the loop checks for a signal (it still syncs the
    // directory): wait until the next step is under way, so both presses land inside it
    await new Promise((r) => setTimeout(r, 300));
    process.kill(again.pid, signal);
    await new Promise((r) => setTimeout(r, 600)); // a second press, not a launcher's relay of the first
    const t0 = performance.now();
    process.kill(again.pid, signal);
    expect((await again.exit)[0]).toBe(code);
    expect(performance.now() - t0).toBeLessThan(500); // at once, not after the step
    expect(loadCheckpointState(outDir).step).toBeGreaterThan(first);
  });
});

describe('the library', () => {
  it('train() leaves the caller\'s event loop free, and its AbortSignal saves a checkpoint and resolves interrupted', async () => {
    const outDir = join(tmp(), 'out');
    const controller = new AbortController();
    let last = performance.now();
    let worstGap = 0;
    let steps = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
    }, 10);
    const result = await train({
      data: [corpus()], tokenizer: 'char', cacheDir: null, threads: 1, batchSize: 32, maxIters: 100000, evalInterval: 100000, evalIters: 1,
      sampleTokens: 0, outDir,
    }, {
      signal: controller.signal,
      onLog: (line) => {
        if (/^step \d+ \|/.test(line)) steps++;
        if (steps === 1) {
          last = performance.now();
          worstGap = 0;
          setTimeout(() => controller.abort(), 1000);
          steps++;
        }
      },
    });
    clearInterval(ticker);
    expect(result.interrupted).toBe(true);
    expect(loadCheckpointState(outDir).step).toBe(result.steps);
    expect(result.steps).toBeGreaterThanOrEqual(3);
    // steps take ~300 ms each; the caller's timers kept running every 10 ms
    expect(worstGap).toBeLessThan(150);
  });
});
