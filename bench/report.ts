// `npm run bench`: one report of speed and memory per config (S, M, L of bench/configs.ts):
// the WASM ceiling (bench/peak.ts, one core), matmul and attention kernels as % of it,
// train tok/s at 1 and N threads, end-to-end model FLOP/s as % of threads x ceiling, the
// memory plan by category, peak RSS, and the longest block that fits 4 GiB at batch 1.
// Each part runs in a child process of its own (a config's RSS is its own).
//   npx tsx bench/report.ts [--quick] [--config S,M,L] [--threads N] [--json F] [--compare-pytorch]
// --quick (CI, < 3 minutes on 2 cores): the ceiling, the three matmul forms at 768^3, a
// plain-JS matmul, config S; it exits 1 on a gross regression, judged by ratios measured
// in this run (never by an absolute time).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Engine } from '../src/engine/engine.ts';
import { buildSupported, wasmPath } from '../src/engine/wasm.ts';
import { tileSummary } from '../src/engine/tune.ts';
import { GPT, type GPTOptions } from '../src/model/gpt.ts';
import { WASM32_LIMIT, formatBytes } from '../src/engine/arena.ts';
import { benchConfigs } from './configs.ts';
import { measurePeak, loopMachineCode, PEAK_CHAINS, type PeakKind, type PeakMeasure } from './peak.ts';
import { largestFitting } from './fits.ts';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const args = yargs(hideBin(process.argv))
  .options({
    quick: { type: 'boolean', default: false, describe: 'CI: the ceiling, the matmul forms at 768^3, config S; fails on a gross regression' },
    config: { type: 'string', default: 'S,M,L', describe: 'comma-separated configs (bench/configs.ts)' },
    threads: { type: 'number', default: availableParallelism(), describe: 'N of "1 and N threads"' },
    json: { type: 'string', describe: 'write the report as JSON here' },
    'compare-pytorch': { type: 'boolean', default: false, describe: 'also time bench/pytorch_gpt.py (Debian\'s torch) on the same configs, right after ours' },
  })
  .strict()
  .parseSync();

const N = args.threads;
const names = (args.quick ? 'S' : args.config).split(',').map((s) => s.trim().toUpperCase()) as (keyof typeof benchConfigs)[];
const tmp = mkdtempSync(join(tmpdir(), 'wasmgpt-bench-'));
const tsx = (script: string, a: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, script), ...a], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${script} ${a.join(' ')} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  return r.stdout;
};
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

// ------------------------------------------------------------------ the machine
const engine = await Engine.create({ kernels: 'auto', threads: 1 });
const build = engine.build;
const tile = tileSummary(engine.tiling);
await engine.dispose();
const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version, v8: process.versions.v8,
  kernels: build, matmul_tile: tile, wasm_sha256: createHash('sha256').update(readFileSync(wasmPath(build))).digest('hex'),
  commit: git.status === 0 ? git.stdout.trim() : 'unknown',
};
console.log(`machine: ${machine.cpu}, ${machine.cores} cores; Node ${machine.node} (V8 ${machine.v8}); kernels ${build}, matmul tile ${tile}; commit ${machine.commit.slice(0, 12)}`);

// ------------------------------------------------------------------ the ceiling
const kinds: PeakKind[] = buildSupported('relaxed') ? ['relaxed', 'simd'] : ['simd'];
const peak = {} as Record<PeakKind, PeakMeasure>;
for (const kind of kinds) {
  peak[kind] = measurePeak(kind);
  const chains = peak[kind].variants.find((v) => v.gflops === peak[kind].gflops)!.chains;
  let code = 'machine code not checked';
  try {
    const c = loopMachineCode(kind, chains);
    code = c.multiplyAdds === chains && c.spills === 0 ? `machine code checked: ${chains} ${kind === 'relaxed' ? 'FMA' : 'mul + add'} per iteration on registers, no spills`
      : `MACHINE CODE NOT AS WRITTEN: ${c.multiplyAdds} multiply-adds per iteration, ${c.spills} stack accesses`;
  } catch (e) {
    code = `machine code not checked (${(e as Error).message.split('\n')[0]})`;
  }
  console.log(`peak (${kind === 'relaxed' ? 'relaxed madd' : 'mul + add'}, one core): ${peak[kind].gflops.toFixed(1)} GFLOP/s ` +
    `(chains ${peak[kind].variants.map((v) => `${v.chains}: ${v.gflops.toFixed(1)}`).join(', ')}); ${code}`);
}
const ceiling = peak[build as PeakKind]?.gflops ?? peak.simd.gflops;

// ------------------------------------------------------------------ kernels
interface KernelRow { name: string; shape: string; build: string; gflops: number; pct_of_peak: number }
const kernelRows: KernelRow[] = [];
{
  const out = join(tmp, 'kernels.json');
  const a = ['--builds', build, '--suites', args.quick ? 'matmul' : 'matmul,attention', '--shapes', 'large', '--json', out, '--time', args.quick ? '150' : '300'];
  if (args.quick) a.push('--filter', '^matmul (forward \\(\\+bias\\)|backward input|backward weights) \\(768,768,768\\)$');
  tsx('bench/kernels.ts', a);
  const { summary } = JSON.parse(readFileSync(out, 'utf8')) as { summary: { build: string; suite: string; kernel: string; shape: string; unit: string; rate: number }[] };
  for (const r of summary.filter((x) => x.unit === 'GFLOP/s' && x.suite !== 'peak')) {
    kernelRows.push({ name: `${r.suite} ${r.kernel}`, shape: r.shape, build: r.build, gflops: r.rate, pct_of_peak: r.rate / ceiling });
  }
  console.log(`\nkernels (one thread; % of the ${build} ceiling ${ceiling.toFixed(1)} GFLOP/s):`);
  for (const r of kernelRows) {
    const above = r.pct_of_peak > 1 ? '  ABOVE THE CEILING: the ceiling is wrong here' : '';
    console.log(`  ${r.name.padEnd(36)} ${r.shape.padEnd(20)} ${r.gflops.toFixed(1).padStart(6)} GFLOP/s ${pct(r.pct_of_peak).padStart(7)}${above}`);
  }
}

// ------------------------------------------------------------------ configs
const engineForPlans = new Engine({ kernels: 'simd' }); // plans only: nothing is allocated
const threadCounts = [...new Set([1, N])];
const configs: Record<string, unknown> = {};
const e2e: Record<string, number> = {}; // config -> end-to-end fraction of the ceiling at N threads
for (const name of names) {
  const { model, batchSize } = benchConfigs[name];
  const steps = args.quick ? 6 : name === 'L' ? 6 : 10;
  // speed: 1 and N threads taking turns step by step, in one process
  const speedFile = join(tmp, `step-${name}.json`);
  tsx('bench/step.ts', ['--config', name, '--threads', threadCounts.join(','), '--steps', String(steps), '--warmup', '2', '--json', speedFile]);
  const rows = (JSON.parse(readFileSync(speedFile, 'utf8')) as Record<string, number>[]).filter((r) => r.config !== undefined);
  // memory: N threads alone, so the process holds one model
  const memFile = join(tmp, `mem-${name}.json`);
  tsx('bench/step.ts', ['--config', name, '--threads', String(N), '--steps', '1', '--warmup', '1', '--json', memFile]);
  const mem = (JSON.parse(readFileSync(memFile, 'utf8')) as Record<string, unknown>[]).find((r) => r.config !== undefined)!;
  const params = rows[0].params;
  const flopPerToken = 6 * params + 12 * model.nLayer * model.blockSize * model.nEmbd;
  const threads: Record<string, { tok_per_s: number; ms_per_step: number; pct_of_ceiling: number }> = {};
  for (const r of rows) threads[String(r.threads)] = { tok_per_s: r.tok_per_s, ms_per_step: r.ms_per_step, pct_of_ceiling: (r.tok_per_s * flopPerToken) / (r.threads * ceiling * 1e9) };
  e2e[name] = Math.max(...Object.values(threads).map((t) => t.pct_of_ceiling));
  const fitsAt1 = (o: GPTOptions) => largestFitting((t) => GPT.plan(engineForPlans, { ...model, blockSize: t }, 1, o).end <= WASM32_LIMIT, 1 << 20);
  const maxBlock = {
    fp32: { none: fitsAt1({ lmHeadChunk: 256 }), blocks: fitsAt1({ lmHeadChunk: 256, recompute: 'blocks' }) },
    bf16: { none: fitsAt1({ lmHeadChunk: 256, precision: 'bf16' }), blocks: fitsAt1({ lmHeadChunk: 256, recompute: 'blocks', precision: 'bf16' }) },
  };
  configs[name] = {
    params, flop_per_token: flopPerToken, batch_size: batchSize, block_size: model.blockSize, threads,
    peak_arena_bytes: mem.arena_bytes, arena_by_category: mem.arena_by_category, peak_rss_bytes: mem.rss_bytes,
    max_block_size: maxBlock.fp32.none, max_block_size_by_mode: maxBlock,
  };
  const t = (n: number) => threads[String(n)];
  console.log(`\n${name}: ${(params / 1e6).toFixed(2)}M parameters, ${(flopPerToken / 1e6).toFixed(1)} MFLOP/token, batch ${batchSize} x block ${model.blockSize}`);
  for (const n of threadCounts) {
    console.log(`  ${n} thread${n > 1 ? 's' : ' '}: ${Math.round(t(n).tok_per_s).toString().padStart(6)} tok/s, ${t(n).ms_per_step.toFixed(1).padStart(7)} ms/step, ` +
      `${pct(t(n).pct_of_ceiling)} of the ceiling (${n} x ${ceiling.toFixed(1)} GFLOP/s)`);
  }
  if (N > 1) console.log(`  ${N} vs 1 thread: ${(t(N).tok_per_s / t(1).tok_per_s).toFixed(2)}x`);
  const cat = mem.arena_by_category as Record<string, number>;
  console.log(`  peak arena ${formatBytes(mem.arena_bytes as number)} (${Object.entries(cat).map(([k, v]) => `${k} ${formatBytes(v)}`).join(', ')}), peak RSS ${formatBytes(mem.rss_bytes as number)}`);
  console.log(`  longest block at batch 1 within 4 GiB: fp32 ${maxBlock.fp32.none} (recompute ${maxBlock.fp32.blocks}), bf16/fp16 ${maxBlock.bf16.none} (recompute ${maxBlock.bf16.blocks})`);
}

// ------------------------------------------------------------------ PyTorch, right after ours
let pytorch: Record<string, unknown> | null = null;
if (args['compare-pytorch']) {
  // the first python with torch: PATH's, or Debian's (python3-torch) when PATH has another
  const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) ?? 'python3';
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log('\npytorch: skipped (python3 cannot import torch here: apt-get install python3-torch)');
  } else {
    pytorch = { version: r.stdout.trim() };
    console.log(`\nPyTorch ${r.stdout.trim()} (bench/pytorch_gpt.py, the same configs, ${N} threads), ours / theirs:`);
    for (const name of names) {
      const p = spawnSync(python, [join(root, 'bench/pytorch_gpt.py'), '--config', name, '--threads', String(N), '--steps', name === 'L' ? '6' : '10'], { encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`bench/pytorch_gpt.py --config ${name} failed:\n${p.stderr.slice(-1500)}`);
      const theirs = JSON.parse(p.stdout.trim().split('\n').pop()!) as { tok_per_s: number };
      const ours = (configs[name] as { threads: Record<string, { tok_per_s: number }> }).threads[String(N)].tok_per_s;
      pytorch[name] = { tok_per_s: theirs.tok_per_s, ours_over_theirs: ours / theirs.tok_per_s };
      console.log(`  ${name}: ours ${Math.round(ours)} tok/s, PyTorch ${Math.round(theirs.tok_per_s)} tok/s: ${(ours / theirs.tok_per_s).toFixed(2)}x`);
    }
  }
}

// ------------------------------------------------------------------ regression gates (quick)
// Ratios in this run only. A plain-JS matmul (i-k-j loops over Float32Array) runs at
// ~1-2 GFLOP/s where ours runs at ~40-60 (one core): below 5x the wasm path has lost its
// SIMD or packing. End to end, config S runs at ~40-60% of the ceiling; below 20% at
// every thread count something is grossly wrong (a kernel off its SIMD path, a step
// doing work twice). The better of 1 and N threads is judged: a busy neighbour on a
// 2-core machine can halve the N-thread figure for a while, rarely the 1-thread one.
const JS_RATIO_FLOOR = 5;
const E2E_FLOOR = 0.2;
let failed = false;
let gates: Record<string, unknown> | null = null;
if (args.quick) {
  const jsRate = plainJsMatmulGflops(256);
  const wasmForward = kernelRows.find((r) => r.name === 'matmul forward (+bias)')!.gflops;
  const ratio = wasmForward / jsRate;
  gates = { js_matmul_gflops: jsRate, wasm_over_js: ratio, wasm_over_js_floor: JS_RATIO_FLOOR, e2e_S: e2e.S, e2e_floor: E2E_FLOOR };
  console.log(`\nregression gates: wasm matmul ${wasmForward.toFixed(1)} vs plain JS ${jsRate.toFixed(2)} GFLOP/s = ${ratio.toFixed(1)}x (floor ${JS_RATIO_FLOOR}x); ` +
    `S end to end ${pct(e2e.S)} of the ceiling at best (floor ${pct(E2E_FLOOR)})`);
  if (ratio < JS_RATIO_FLOOR) { console.log('FAIL: the wasm matmul is within 5x of plain JS'); failed = true; }
  if (e2e.S < E2E_FLOOR) { console.log('FAIL: end-to-end S below 20% of the ceiling'); failed = true; }
}

// GFLOP/s of C = A B (n x n), the plain way a JS programmer writes it: the median of 5.
function plainJsMatmulGflops(n: number): number {
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13), b = Float32Array.from(a), c = new Float32Array(n * n);
  const once = () => {
    c.fill(0);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        const aik = a[i * n + k];
        for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
      }
    }
  };
  once();
  const times = Array.from({ length: 5 }, () => { const t = performance.now(); once(); return performance.now() - t; }).sort((x, y) => x - y);
  return (2 * n ** 3) / (times[2] * 1e6);
}

const report = {
  machine, peak_gflops: Object.fromEntries(kinds.map((k) => [k, peak[k].gflops])),
  peak_variants: Object.fromEntries(kinds.map((k) => [k, peak[k].variants])), peak_chains_tried: PEAK_CHAINS,
  configs, kernels: kernelRows, ...(pytorch ? { pytorch } : {}), ...(gates ? { gates } : {}),
};
if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
rmSync(tmp, { recursive: true, force: true });
if (failed) process.exit(1);
