// End-to-end training-step benchmark: forward + backward + clip + AdamW on random
// token ids, per config. Train tok/s = B*T / median step time after warm-up.
// Each config runs at every thread count in --threads, in one process, steps taking
// turns, so the speed-ups are measured side by side; also the cost of an empty
// parallel dispatch. --modes compares memory modes the same way
// (recompute:lm-head-chunk[:precision], e.g. none:0,blocks:0,none:256:bf16), each at
// every thread count; fp16 steps run at a loss scale of 65536, as training starts.
//   npx tsx bench/step.ts [--config S,M,L] [--threads 1,2] [--modes none:0,...] [--activation gelu|swiglu]
//     [--block-size N] [--batch-size N] [--steps N] [--warmup N] [--kernels auto|simd|relaxed] [--profile] [--quick] [--json F]
import { writeFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Engine, type EngineOptions } from '../src/engine/engine.ts';
import { Rng } from '../src/engine/random.ts';
import { GPT, type GPTOptions } from '../src/model/gpt.ts';
import { PRECISIONS, type Precision } from '../src/model/buffers.ts';
import type { Activation } from '../src/model/config.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { median } from '../src/train/log.ts';
import { formatBytes } from '../src/engine/arena.ts';
import type { KernelBuild } from '../src/engine/wasm.ts';
import { tileSummary } from '../src/engine/tune.ts';
import { SPIN_MS } from '../src/engine/protocol.ts';
import { benchConfigs } from './configs.ts';

const args = yargs(hideBin(process.argv))
  .options({
    config: { type: 'string', default: 'S,M,L', describe: 'comma-separated configs' },
    threads: { type: 'string', default: '1,2', describe: 'comma-separated thread counts' },
    modes: { type: 'string', default: 'none:0', describe: 'comma-separated memory modes, recompute:lm-head-chunk[:precision] (none|blocks : rows, 0 = whole head : fp32|bf16|fp16)' },
    activation: { type: 'string', choices: ['gelu', 'swiglu'], default: 'gelu', describe: 'the MLP of every config' },
    'block-size': { type: 'number', describe: 'override the configs\' block size' },
    'batch-size': { type: 'number', describe: 'override the configs\' batch size' },
    steps: { type: 'number', default: 10, describe: 'timed steps per config' },
    warmup: { type: 'number', default: 3, describe: 'untimed steps first (wasm tier-up)' },
    kernels: { type: 'string', choices: ['auto', 'simd', 'relaxed'], default: 'auto' },
    tiles: { type: 'string', default: 'auto', describe: 'comma-separated matmul tiles, side by side: auto (the calibrated choice), off (the default tile), 2x16, 4x8' },
    profile: { type: 'boolean', default: false, describe: 'time every kernel call (adds a little overhead)' },
    quick: { type: 'boolean', default: false, describe: 'CI smoke run: config S, 5 steps' },
    json: { type: 'string', describe: 'write results as JSON here' },
  })
  .strict()
  .parseSync();

const threadCounts = args.threads.split(',').map(Number);
const names = (args.quick ? 'S' : args.config).split(',').map((s) => s.trim().toUpperCase()) as (keyof typeof benchConfigs)[];
const steps = args.quick ? 5 : args.steps;
const modes = args.modes.split(',').map((m) => {
  const [recompute, chunk, precision = 'fp32'] = m.trim().split(':');
  if ((recompute !== 'none' && recompute !== 'blocks') || !(Number(chunk) >= 0) || !PRECISIONS.includes(precision as Precision)) {
    throw new Error(`--modes: ${m} is not recompute:chunk[:precision] (e.g. blocks:256:bf16)`);
  }
  return { label: `recompute ${recompute}, lm-head-chunk ${chunk}, ${precision}`, options: { recompute, lmHeadChunk: Number(chunk), precision } as GPTOptions };
});
const FP16_LOSS_SCALE = 65536;
const tiles = args.tiles.split(',').map((t) => t.trim() as EngineOptions['tile']);

// Groups kernel names into where a step spends its time.
const family = (name: string): string =>
  name.startsWith('gemm') ? 'matmul'
    : name.startsWith('attention') ? 'attention'
      : name === 'adamw' || name === 'sumSquaresChunks' ? 'optimizer'
        : name.startsWith('layernorm') || name === 'sumChunks' ? 'layernorm'
          : /Bf16|F16/.test(name) ? 'conversions'
            : 'elementwise';

// Times every dispatch (all threads, until the last one finishes). Each thread's time
// in kernel calls is charged to the kernel (the mean over threads); the rest of the
// dispatch (waking the workers, claiming chunks, waiting for the slowest) to "dispatch".
function profile(engine: Engine, times: Map<string, number>, perKernel: Map<string, number>): void {
  const run = engine.run.bind(engine);
  const meanBusy = () => engine.threadBusyMs().reduce((a, b) => a + b, 0) / engine.threads;
  engine.setTiming(true);
  engine.run = (name, fixed, start, end, grain, scratch, variant) => {
    const b0 = meanBusy();
    const t = performance.now();
    run(name, fixed, start, end, grain, scratch, variant);
    const dt = performance.now() - t;
    const work = Math.min(dt, meanBusy() - b0);
    const fam = family(name);
    times.set(fam, (times.get(fam) ?? 0) + work);
    times.set('dispatch', (times.get('dispatch') ?? 0) + dt - work);
    perKernel.set(name, (perKernel.get(name) ?? 0) + work);
  };
}

// Median time of a dispatch whose every slice is empty work (a 0-length kernel per thread).
async function emptyDispatchMicros(threads: number): Promise<number> {
  const engine = await Engine.create({ kernels: args.kernels as KernelBuild | 'auto', threads });
  const buf = engine.arena.alloc(4096);
  const times: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const t0 = performance.now();
    engine.run('residualForward', [buf, buf, buf], 0, threads * 4, 4);
    if (i >= 1000) times.push(performance.now() - t0);
  }
  await engine.dispose();
  return median(times) * 1000;
}

const results: Record<string, unknown>[] = [];
const pause = new Int32Array(new SharedArrayBuffer(4));
for (const threads of threadCounts.filter((t) => t > 1)) {
  const us = await emptyDispatchMicros(threads);
  console.log(`empty dispatch, ${threads} threads: ${us.toFixed(2)} µs (median)`);
  results.push({ dispatch_threads: threads, empty_dispatch_us: us });
}
// One engine and model per thread count, all alive at once; the timed steps take
// turns (1 thread, 2 threads, 1 thread, ...), so a slow spell of this shared machine
// hits every thread count alike and the speed-up is the median of per-round ratios.
interface Runner {
  threads: number;
  mode: (typeof modes)[number];
  tile: EngineOptions['tile'];
  engine: Engine;
  model: GPT;
  opt: AdamW;
  times: Map<string, number>;
  perKernel: Map<string, number>;
  stepMs: number[];
}

for (const name of names) {
  const preset = benchConfigs[name];
  if (!preset) throw new Error(`unknown config ${name} (use S, M or L)`);
  const cfg = {
    model: { ...preset.model, blockSize: args['block-size'] ?? preset.model.blockSize, activation: args.activation as Activation },
    batchSize: args['batch-size'] ?? preset.batchSize,
  };
  const B = cfg.batchSize;
  const T = cfg.model.blockSize;
  const runners: Runner[] = [];
  for (const threads of threadCounts) {
    for (const mode of modes) for (const tile of tiles) {
      const engine = await Engine.create({ kernels: args.kernels as KernelBuild | 'auto', threads, tile });
      const times = new Map<string, number>();
      const perKernel = new Map<string, number>();
      if (args.profile) profile(engine, times, perKernel);
      const model = new GPT(engine, cfg.model, B, mode.options);
      model.init(1);
      const opt = new AdamW(model, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
      runners.push({ threads, mode, tile, engine, model, opt, times, perKernel, stepMs: [] });
    }
  }
  const rng = new Rng(2);
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let s = 0; s < args.warmup + steps; s++) {
    for (let i = 0; i < B * T; i++) { x[i] = rng.int(cfg.model.vocabSize); y[i] = rng.int(cfg.model.vocabSize); }
    for (const r of runners) {
      if (s === args.warmup) { r.times.clear(); r.perKernel.clear(); }
      const t0 = performance.now();
      const scale = r.mode.options.precision === 'fp16' ? FP16_LOSS_SCALE : 1;
      r.model.zeroGrad();
      r.model.forward(x, y, B, T, { train: true, lossScale: scale });
      r.model.backward(scale);
      const norm = r.opt.gradNorm() / scale;
      r.opt.step(1e-4, (norm > 1 ? 1 / norm : 1) / scale);
      const ms = performance.now() - t0;
      if (s >= args.warmup) r.stepMs.push(ms);
      // let this pool's workers stop spinning and sleep before another runner's step:
      // their spinning must not share the machine with it (each pool step then starts
      // by waking its workers, ~0.1-0.2 ms: a little against the threaded figures)
      if (r.threads > 1) Atomics.wait(pause, 0, 0, SPIN_MS + 5);
    }
  }
  const base = runners[0];
  for (const r of runners) {
    const { engine, model, threads, stepMs } = r;
    const plan = GPT.plan(engine, cfg.model, B, r.mode.options);
    const ms = median(stepMs);
    const tokPerS = (B * T * 1000) / ms;
    const row: Record<string, unknown> = {
      config: name, kernels: engine.build, matmul_tile: tileSummary(engine.tiling), matmul_tiles: engine.tiling.tiles, threads, block_size: T, batch_size: B, activation: args.activation, ...r.mode.options,
      params: model.numParams, ms_per_step: ms, tok_per_s: tokPerS,
      arena_bytes: engine.arena.peakBytes, rss_bytes: process.resourceUsage().maxRSS * 1024,
      arena_by_category: plan.bytes, arena_16bit_by_category: plan.halfBytes, activations_by_part: Object.fromEntries(plan.activationParts),
    };
    const label = (x: Runner) => `${modes.length > 1 ? `, ${x.mode.label}` : ''}${tiles.length > 1 ? `, tile ${x.tile} (${tileSummary(x.engine.tiling)})` : ''}`;
    const modeText = label(r);
    let line = `${name}: ${Math.round(tokPerS)} tok/s, ${ms.toFixed(1)} ms/step (median of ${steps}), ` +
      `${(model.numParams / 1e6).toFixed(1)}M params, arena ${formatBytes(engine.arena.peakBytes)}, kernels ${engine.build}, ${threads} thread${threads > 1 ? 's' : ''}${modeText}`;
    if (r !== base) {
      row.speedup = median(stepMs.map((t, i) => base.stepMs[i] / t));
      const baseText = `${base.threads} thread${base.threads > 1 ? 's' : ''}${label(base)}`;
      line += `, ${(row.speedup as number).toFixed(2)}x vs ${baseText} (median of per-round ratios)`;
    }
    if (args.profile) {
      const total = stepMs.reduce((a, b) => a + b, 0);
      const inKernels = [...r.times.values()].reduce((a, b) => a + b, 0);
      const shares: Record<string, number> = {};
      for (const [fam, t] of r.times) shares[fam] = t / total;
      shares.js = (total - inKernels) / total;
      row.time_shares = shares;
      line += '\n   time: ' + Object.entries(shares).sort((a, b) => b[1] - a[1]).map(([f, s]) => `${f} ${(100 * s).toFixed(1)}%`).join(', ');
      const kernelMs = [...r.perKernel].sort((a, b) => b[1] - a[1]).map(([k, t]) => [k, t / steps] as const);
      row.kernel_ms_per_step = Object.fromEntries(kernelMs);
      line += '\n   ms/step in kernel calls (mean over threads): ' + kernelMs.slice(0, 8).map(([k, t]) => `${k} ${t.toFixed(2)}`).join(', ');
    }
    if (threads === threadCounts[0]) line += '\n   ' + plan.describe().replace('\n', '\n   ');
    console.log(line);
    results.push(row);
  }
  for (const r of runners) await r.engine.dispose();
}
if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
