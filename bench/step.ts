// End-to-end training-step benchmark: forward + backward + clip + AdamW on random
// token ids, per config. Train tok/s = B*T / median step time after warm-up.
//   npx tsx bench/step.ts [--config S,M,L] [--steps N] [--warmup N] [--kernels auto|simd|relaxed] [--profile] [--quick] [--json F]
import { writeFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Engine } from '../src/engine/engine.ts';
import { Rng } from '../src/engine/random.ts';
import { GPT } from '../src/model/gpt.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { median } from '../src/train/log.ts';
import { formatBytes } from '../src/engine/arena.ts';
import type { Kernels, KernelBuild } from '../src/engine/wasm.ts';
import { benchConfigs } from './configs.ts';

const args = yargs(hideBin(process.argv))
  .options({
    config: { type: 'string', default: 'S,M,L', describe: 'comma-separated configs' },
    steps: { type: 'number', default: 10, describe: 'timed steps per config' },
    warmup: { type: 'number', default: 3, describe: 'untimed steps first (wasm tier-up)' },
    kernels: { type: 'string', choices: ['auto', 'simd', 'relaxed'], default: 'auto' },
    profile: { type: 'boolean', default: false, describe: 'time every kernel call (adds a little overhead)' },
    quick: { type: 'boolean', default: false, describe: 'CI smoke run: config S, 5 steps' },
    json: { type: 'string', describe: 'write results as JSON here' },
  })
  .strict()
  .parseSync();

const names = (args.quick ? 'S' : args.config).split(',').map((s) => s.trim().toUpperCase()) as (keyof typeof benchConfigs)[];
const steps = args.quick ? 5 : args.steps;

// Groups kernel names into where a step spends its time.
const family = (name: string): string =>
  name.startsWith('matmul') || name === 'biasBackward' || name === 'gemm' ? 'matmul'
    : name.startsWith('attention') ? 'attention'
      : name === 'adamw' || name === 'sumSquaresChunks' ? 'optimizer'
        : 'elementwise';

function profiled(k: Kernels, times: Map<string, number>): Kernels {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(k)) {
    if (typeof fn !== 'function') continue;
    const f = fn as (...a: number[]) => unknown;
    wrapped[name] = (...a: number[]) => {
      const t = performance.now();
      const r = f(...a);
      const fam = family(name);
      times.set(fam, (times.get(fam) ?? 0) + performance.now() - t);
      return r;
    };
  }
  return wrapped as unknown as Kernels;
}

const results: Record<string, unknown>[] = [];
for (const name of names) {
  const cfg = benchConfigs[name];
  if (!cfg) throw new Error(`unknown config ${name} (use S, M or L)`);
  const engine = new Engine({ kernels: args.kernels as KernelBuild | 'auto' });
  const times = new Map<string, number>();
  if (args.profile) (engine as { kernels: Kernels }).kernels = profiled(engine.kernels, times);
  const model = new GPT(engine, cfg.model, cfg.batchSize);
  model.init(1);
  const opt = new AdamW(model, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  const B = cfg.batchSize;
  const T = cfg.model.blockSize;
  const rng = new Rng(2);
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  const stepMs: number[] = [];
  for (let s = 0; s < args.warmup + steps; s++) {
    for (let i = 0; i < B * T; i++) { x[i] = rng.int(cfg.model.vocabSize); y[i] = rng.int(cfg.model.vocabSize); }
    if (s === args.warmup) times.clear();
    const t0 = performance.now();
    model.zeroGrad();
    model.forward(x, y, B, T, { train: true });
    model.backward();
    const norm = opt.gradNorm();
    opt.step(1e-4, norm > 1 ? 1 / norm : 1);
    const ms = performance.now() - t0;
    if (s >= args.warmup) stepMs.push(ms);
  }
  const ms = median(stepMs);
  const tokPerS = (B * T * 1000) / ms;
  const row: Record<string, unknown> = {
    config: name, kernels: engine.build, threads: 1, params: model.numParams, ms_per_step: ms, tok_per_s: tokPerS,
    arena_bytes: engine.arena.peakBytes, rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
  let line = `${name}: ${Math.round(tokPerS)} tok/s, ${ms.toFixed(1)} ms/step (median of ${steps}), ` +
    `${(model.numParams / 1e6).toFixed(1)}M params, arena ${formatBytes(engine.arena.peakBytes)}, kernels ${engine.build}, 1 thread`;
  if (args.profile) {
    const total = stepMs.reduce((a, b) => a + b, 0);
    const inKernels = [...times.values()].reduce((a, b) => a + b, 0);
    const shares: Record<string, number> = {};
    for (const [fam, t] of times) shares[fam] = t / total;
    shares.js = (total - inKernels) / total;
    row.time_shares = shares;
    line += '\n   time: ' + Object.entries(shares).sort((a, b) => b[1] - a[1]).map(([f, s]) => `${f} ${(100 * s).toFixed(1)}%`).join(', ');
  }
  console.log(line);
  results.push(row);
}
if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
