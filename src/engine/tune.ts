// Which matmul micro-tile runs fastest here. The relaxed build comes with two tiles
// (assembly/matmul.ts; src/engine/wasm.ts TILES) that give the same bits; which is faster
// depends on the CPU and on V8 (on one Sapphire Rapids Xeon, 4x8 ran 768^3 at 83% of the
// madd peak under Node 20 and 72% under Node 26, where 2x16 did 69% and 80%). A short
// calibration times both on two Linear-sized products (the forward form and the weight
// gradient's, single-threaded, the tiles taking turns) and keeps the faster; the choice is
// cached on disk per machine, V8 version and wasm bytes, so it is measured once.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { compileKernels, instantiateModule, readWasm, createSharedMemory, DEFAULT_TILE, TILES, WASM_PAGE_BYTES, type KernelBuild, type Tile } from './wasm.ts';
import type { Kernels } from './kernel-table.ts';

const STATIC_DATA_BYTES = 65536; // as src/engine/engine.ts: the arena starts above it
// A challenger must beat the default tile by this much (noise must not flip the choice)
const MARGIN = 1.02;
const WARMUP = 3;
const ROUNDS = 5;
const M = 256, K = 768, N = 768; // a Linear of GPT-2 small at 256 rows

export interface TileChoice {
  build: KernelBuild;
  tile: Tile;
  // how it was chosen: the build has one tile, tuning is off, the disk cache, or measured now
  how: 'only' | 'off' | 'cached' | 'calibrated';
  gflops: Partial<Record<Tile, number>>; // median per tile, one thread (empty unless measured)
  seconds: number; // the calibration's wall time (0 unless measured now)
}

export function defaultTuneCacheFile(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmgpt', 'tiles.json');
}

const chosen = new Map<string, TileChoice>();

// The tile for a build: measured (or read from `cacheFile`) once per process. tune false:
// the default tile.
export function chooseTile(build: KernelBuild, options: { tune?: boolean; cacheFile?: string | null } = {}): TileChoice {
  const tiles = TILES[build];
  if (tiles.length === 1) return { build, tile: tiles[0], how: 'only', gflops: {}, seconds: 0 };
  if (options.tune === false) return { build, tile: DEFAULT_TILE, how: 'off', gflops: {}, seconds: 0 };
  const cacheFile = options.cacheFile === undefined ? defaultTuneCacheFile() : options.cacheFile;
  const key = cacheKey(build);
  const memo = chosen.get(`${cacheFile}|${key}`);
  if (memo) return memo;
  const cached = cacheFile === null ? null : readCache(cacheFile)[key];
  let choice: TileChoice;
  if (cached && tiles.includes(cached.tile)) {
    choice = { build, tile: cached.tile, how: 'cached', gflops: cached.gflops, seconds: 0 };
  } else {
    choice = calibrate(build);
    if (cacheFile !== null) writeCache(cacheFile, key, { tile: choice.tile, gflops: choice.gflops });
  }
  chosen.set(`${cacheFile}|${key}`, choice);
  return choice;
}

// Times every tile of the build, taking turns, and picks the fastest (the default unless
// another beats it by MARGIN).
export function calibrate(build: KernelBuild): TileChoice {
  const t0 = performance.now();
  const runs = TILES[build].map((tile) => ({ tile, run: productRunner(build, tile), ms: [] as number[] }));
  for (const r of runs) for (let i = 0; i < WARMUP; i++) r.run();
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of runs) {
      const s = performance.now();
      r.run();
      r.ms.push(performance.now() - s);
    }
  }
  const flop = 2 * 2 * M * K * N; // both products
  const gflops: Partial<Record<Tile, number>> = {};
  for (const r of runs) gflops[r.tile] = flop / (median(r.ms) * 1e6);
  let tile = DEFAULT_TILE;
  for (const r of runs) if (gflops[r.tile]! > gflops[tile]! * MARGIN) tile = r.tile;
  return { build, tile, how: 'calibrated', gflops, seconds: (performance.now() - t0) / 1000 };
}

// One call runs C = A W^T (the forward form) and dW = dout^T x (the weight gradient's form)
// through the staged gemm's two stages, on a memory of its own.
function productRunner(build: KernelBuild, tile: Tile): () => void {
  const { module } = compileKernels(build, 'kernels', tile);
  const memory = createSharedMemory(1);
  const k = instantiateModule<Kernels>(module, memory);
  let top = STATIC_DATA_BYTES;
  const alloc = (bytes: number) => {
    const at = top;
    top += Math.ceil(bytes / 64) * 64;
    return at;
  };
  const a = alloc(M * K * 4), w = alloc(N * K * 4), c = alloc(Math.max(M * N, N * K) * 4);
  const packB = alloc(k.gemmPackedBBytes()), scratch = alloc(k.gemmThreadScratchBytes());
  memory.grow(Math.ceil(top / WASM_PAGE_BYTES) - memory.buffer.byteLength / WASM_PAGE_BYTES);
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < (M * K + N * K); i++) f[a / 4 + i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  const panels = (n: number) => Math.ceil(n / k.gemmPanelWidth());
  const blocks = (kk: number) => Math.ceil(kk / k.gemmBlockK());
  return () => {
    // forward: C [M, N] = A [M, K] W^T, W [N, K]
    k.gemmPackB(packB, w, 1, K, 0, 0, K, 0, N, 0, blocks(K) * panels(N));
    k.gemmRows(c, a, K, 1, packB, 0, 0, N, 0, K, 0, N, 0, 0, M, scratch);
    // weight gradient: dW [N, K] += dout^T [N, M] x [M, K], dout = A viewed as [M, N]
    k.gemmPackB(packB, a, K, 1, 0, 0, M, 0, K, 0, blocks(M) * panels(K));
    k.gemmRows(c, a, 1, N, packB, 0, 0, K, 0, M, 0, K, 1, 0, N, scratch);
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1];
}

// The machine, the V8 version and every tile's wasm bytes: a new CPU, Node or build measures again.
function cacheKey(build: KernelBuild): string {
  const h = createHash('sha256');
  for (const tile of TILES[build]) h.update(readWasm(build, 'kernels', tile));
  return `${build}|${cpus()[0]?.model ?? 'unknown'}|v8 ${process.versions.v8}|${h.digest('hex').slice(0, 16)}`;
}

type Cache = Record<string, { tile: Tile; gflops: Partial<Record<Tile, number>> }>;

function readCache(file: string): Cache {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8'));
    return c !== null && typeof c === 'object' && !Array.isArray(c) ? c : {};
  } catch {
    return {}; // none yet, or unreadable: measure
  }
}

// Written whole to a temporary file, then renamed: a reader never sees half a file.
function writeCache(file: string, key: string, entry: Cache[string]): void {
  try {
    const cache = readCache(file);
    cache[key] = entry;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`;
    writeFileSync(tmp, JSON.stringify(cache, null, 1) + '\n');
    renameSync(tmp, file);
  } catch {
    // a read-only home: the choice is measured again next time
  }
}

// For the run's model line: "matmul tile 4x8, measured: 4x8 41.3, 2x16 36.6 GFLOP/s on one thread in 0.28 s".
export function describeTiling(c: TileChoice): string {
  const rates = Object.entries(c.gflops).map(([t, g]) => `${t} ${g!.toFixed(1)}`).join(', ');
  if (c.how === 'calibrated') return `matmul tile ${c.tile}, measured now: ${rates} GFLOP/s on one thread in ${c.seconds.toFixed(2)} s`;
  if (c.how === 'cached') return `matmul tile ${c.tile}, measured before on this machine and Node: ${rates} GFLOP/s`;
  return `matmul tile ${c.tile}${c.how === 'off' ? ', --kernels-tune off' : ''}`;
}
