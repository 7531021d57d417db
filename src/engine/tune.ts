// Which matmul micro-tile runs fastest here, per matmul form and shape class. The relaxed
// build comes with two tiles (assembly/matmul.ts; src/engine/wasm.ts TILES) that give the
// same bits; which is faster depends on the CPU, on V8 (on one Sapphire Rapids Xeon, 4x8
// ran 768^3 at 83% of the madd peak under Node 20 and 72% under Node 26, where 2x16 did
// 69% and 80%) and on the product: the three forms of a Linear read their operands
// through different strides, and a short, wide C takes the column path. A short
// calibration times every tile on each (form, path) class, single-threaded, the tiles
// taking turns, and keeps the fastest per class; the engine loads every tile that won a
// class over the one shared memory. The choice is cached on disk per machine, V8 version
// and wasm bytes, so it is measured once.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { compileKernels, instantiateModule, readWasm, createSharedMemory, DEFAULT_TILE, TILES, WASM_PAGE_BYTES, type KernelBuild, type Tile } from './wasm.ts';
import type { Kernels } from './kernel-table.ts';

// The three forms of a Linear (src/ops/matmul.ts) and the two ways a product is staged:
// row chunks, or column chunks for a C with fewer rows than a step has columns.
export type MatmulForm = 'forward' | 'backwardInput' | 'backwardWeights';
export type MatmulPath = 'rows' | 'cols';
export type MatmulClass = `${MatmulForm}/${MatmulPath}`;
export const MATMUL_CLASSES: readonly MatmulClass[] = [
  'forward/rows', 'forward/cols', 'backwardInput/rows', 'backwardInput/cols', 'backwardWeights/rows', 'backwardWeights/cols',
];

const STATIC_DATA_BYTES = 65536; // as src/engine/engine.ts: the arena starts above it
// A challenger must beat the default tile by this much (noise must not flip the choice)
const MARGIN = 1.02;
const WARMUP = 2;
const ROUNDS = 6;
// The products timed per path, as gemm sees them: C [M, N] (+)= A [M, K] B [K, N]; one
// step each (N <= the column block, K <= a packed span).
const SHAPES: Record<MatmulPath, { M: number; N: number; K: number }> = {
  rows: { M: 512, N: 512, K: 512 },
  cols: { M: 128, N: 1024, K: 512 },
};

export interface TilePlan {
  build: KernelBuild;
  tiles: Record<MatmulClass, Tile>; // the tile each class of matmul runs
  primary: Tile; // the tile of the module every other kernel (attention too) runs from
  // how it was chosen: the build has one tile, tuning is off, given by the caller, the disk cache, or measured now
  how: 'only' | 'off' | 'given' | 'cached' | 'calibrated';
  gflops: Partial<Record<MatmulClass, Partial<Record<Tile, number>>>>; // fastest round per class and tile, one thread (empty unless measured)
  seconds: number; // the calibration's wall time (0 unless measured now)
}

// Every class on one tile.
export function uniformPlan(build: KernelBuild, tile: Tile, how: TilePlan['how']): TilePlan {
  const tiles = Object.fromEntries(MATMUL_CLASSES.map((c) => [c, tile])) as Record<MatmulClass, Tile>;
  return { build, tiles, primary: tile, how, gflops: {}, seconds: 0 };
}

// Tiles given per class (the rest: the default tile).
export function givenPlan(build: KernelBuild, given: Partial<Record<MatmulClass, Tile>>): TilePlan {
  const plan = uniformPlan(build, DEFAULT_TILE, 'given');
  for (const [c, tile] of Object.entries(given)) {
    if (!MATMUL_CLASSES.includes(c as MatmulClass)) throw new Error(`no matmul class ${c} (classes: ${MATMUL_CLASSES.join(', ')})`);
    if (!TILES[build].includes(tile)) throw new Error(`the ${build} build has no ${tile} tile (it has ${TILES[build].join(', ')})`);
    plan.tiles[c as MatmulClass] = tile;
  }
  return plan;
}

// The tiles a plan runs, its primary first.
export function planTiles(plan: TilePlan): Tile[] {
  return [...new Set([plan.primary, ...MATMUL_CLASSES.map((c) => plan.tiles[c])])];
}

export function defaultTuneCacheFile(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmgpt', 'tiles.json');
}

const chosen = new Map<string, TilePlan>();

// The plan for a build: measured (or read from `cacheFile`) once per process. tune false:
// the default tile everywhere.
export function chooseTiles(build: KernelBuild, options: { tune?: boolean; cacheFile?: string | null } = {}): TilePlan {
  const tiles = TILES[build];
  if (tiles.length === 1) return uniformPlan(build, tiles[0], 'only');
  if (options.tune === false) return uniformPlan(build, DEFAULT_TILE, 'off');
  const cacheFile = options.cacheFile === undefined ? defaultTuneCacheFile() : options.cacheFile;
  const key = cacheKey(build);
  const memo = chosen.get(`${cacheFile}|${key}`);
  if (memo) return memo;
  const cached = cacheFile === null ? null : readCache(cacheFile)[key];
  let plan: TilePlan;
  if (cached && validEntry(cached, tiles)) {
    plan = { build, tiles: cached.tiles, primary: cached.primary, how: 'cached', gflops: cached.gflops, seconds: 0 };
  } else {
    plan = calibrate(build);
    if (cacheFile !== null) writeCache(cacheFile, key, { tiles: plan.tiles, primary: plan.primary, gflops: plan.gflops });
  }
  chosen.set(`${cacheFile}|${key}`, plan);
  return plan;
}

// Times every tile of the build on every class, the tiles taking turns, and picks the
// fastest per class (the default unless another beats it by MARGIN). The primary tile is
// the one with the least time over all classes (the same rule).
export function calibrate(build: KernelBuild): TilePlan {
  const t0 = performance.now();
  const tiles = TILES[build];
  const bench = new Map(tiles.map((tile) => [tile, new CalibrationProducts(build, tile)]));
  const plan = uniformPlan(build, DEFAULT_TILE, 'calibrated');
  const total = new Map<Tile, number>(tiles.map((t) => [t, 0]));
  for (const cls of MATMUL_CLASSES) {
    const runs = tiles.map((tile) => ({ tile, run: bench.get(tile)!.runner(cls), ms: [] as number[] }));
    for (const r of runs) for (let i = 0; i < WARMUP; i++) r.run();
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of runs) {
        const s = performance.now();
        r.run();
        r.ms.push(performance.now() - s);
      }
    }
    const { M, N, K } = SHAPES[pathOf(cls)];
    // the fastest round: a spell of another process on this core slows some rounds, never
    // speeds one up (medians of 5 let one noisy spell flip a class here)
    const rates: Partial<Record<Tile, number>> = {};
    for (const r of runs) {
      const ms = Math.min(...r.ms);
      rates[r.tile] = (2 * M * N * K) / (ms * 1e6);
      total.set(r.tile, total.get(r.tile)! + ms);
    }
    plan.gflops[cls] = rates;
    plan.tiles[cls] = fastest(tiles, (t) => rates[t]!);
  }
  plan.primary = fastest(tiles, (t) => 1 / total.get(t)!);
  plan.seconds = (performance.now() - t0) / 1000;
  return plan;
}

function fastest(tiles: readonly Tile[], rate: (t: Tile) => number): Tile {
  let best = DEFAULT_TILE;
  for (const t of tiles) if (rate(t) > rate(best) * MARGIN) best = t;
  return best;
}

function pathOf(cls: MatmulClass): MatmulPath {
  return cls.endsWith('/cols') ? 'cols' : 'rows';
}

// One tile's module on a memory of its own, with operands for the calibration products:
// each class runs through the staged gemm's two stages as src/ops/matmul.ts drives them
// on one thread, with that form's operand strides.
class CalibrationProducts {
  private readonly k: Kernels;
  private readonly at: { a: number; b: number; c: number; packB: number; packA: number; scratch: number };

  constructor(build: KernelBuild, tile: Tile) {
    const { module } = compileKernels(build, 'kernels', tile);
    const memory = createSharedMemory(1);
    this.k = instantiateModule<Kernels>(module, memory);
    let top = STATIC_DATA_BYTES;
    const alloc = (floats: number) => {
      const at = top;
      top += Math.ceil((floats * 4) / 64) * 64;
      return at;
    };
    const most = Math.max(...Object.values(SHAPES).flatMap(({ M, N, K }) => [M * K, K * N, M * N]));
    const packed = this.k.gemmPackedBBytes() / 4;
    this.at = { a: alloc(most), b: alloc(most), c: alloc(most), packB: alloc(packed), packA: alloc(packed), scratch: alloc(this.k.gemmThreadScratchBytes() / 4) };
    memory.grow(Math.ceil(top / WASM_PAGE_BYTES) - memory.buffer.byteLength / WASM_PAGE_BYTES);
    const f = new Float32Array(memory.buffer);
    for (let i = 0; i < 2 * most; i++) f[this.at.a / 4 + i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  }

  runner(cls: MatmulClass): () => void {
    const { k } = this;
    const { a, b, c, packB, packA, scratch } = this.at;
    const { M, N, K } = SHAPES[pathOf(cls)];
    const form = cls.slice(0, cls.indexOf('/')) as MatmulForm;
    // A [M, K] and B [K, N] through (row, column) strides, as src/ops/matmul.ts passes them
    const [aRow, aCol] = form === 'backwardWeights' ? [1, M] : [K, 1]; // dout^T, or rows
    const [bRow, bCol] = form === 'forward' ? [1, K] : [N, 1]; // W^T, or rows
    const accumulate = form === 'backwardWeights' ? 1 : 0;
    const blocks = Math.ceil(K / k.gemmBlockK());
    const bUnits = blocks * Math.ceil(N / k.gemmPanelWidth());
    if (pathOf(cls) === 'rows') {
      return () => {
        k.gemmPackB(packB, b, bRow, bCol, 0, 0, K, 0, N, 0, bUnits);
        k.gemmRows(c, a, aRow, aCol, packB, 0, 0, 0, 0, N, 0, K, 0, N, accumulate, 0, M, scratch);
      };
    }
    const aUnits = Math.ceil(M / k.gemmTileRows());
    return () => {
      k.gemmPackSpan(packB, b, bRow, bCol, 0, packA, a, aRow, aCol, 0, M, 0, K, 0, N, 0, bUnits + aUnits);
      k.gemmCols(c, packA, packB, 0, 0, 0, M, N, 0, K, 0, N, accumulate, 0, Math.ceil(N / k.gemmPanelWidth()), scratch);
    };
  }
}

// The machine, the V8 version and every tile's wasm bytes: a new CPU, Node or build measures again.
function cacheKey(build: KernelBuild): string {
  const h = createHash('sha256');
  for (const tile of TILES[build]) h.update(readWasm(build, 'kernels', tile));
  return `${build}|${cpus()[0]?.model ?? 'unknown'}|v8 ${process.versions.v8}|${h.digest('hex').slice(0, 16)}`;
}

type CacheEntry = Pick<TilePlan, 'tiles' | 'primary' | 'gflops'>;
type Cache = Record<string, CacheEntry>;

function validEntry(e: CacheEntry, tiles: readonly Tile[]): boolean {
  return typeof e === 'object' && e !== null && tiles.includes(e.primary) && typeof e.tiles === 'object' && e.tiles !== null &&
    MATMUL_CLASSES.every((c) => tiles.includes(e.tiles[c]));
}

function readCache(file: string): Cache {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8'));
    return c !== null && typeof c === 'object' && !Array.isArray(c) ? c : {};
  } catch {
    return {}; // none yet, or unreadable: measure
  }
}

// Written whole to a temporary file, then renamed: a reader never sees half a file.
function writeCache(file: string, key: string, entry: CacheEntry): void {
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

// The tiles in a few words: "4x8", or "4x8 (2x16 for backwardWeights/cols)".
export function tileSummary(plan: TilePlan): string {
  const others = MATMUL_CLASSES.filter((c) => plan.tiles[c] !== plan.primary);
  if (others.length === 0) return plan.primary;
  const byTile = new Map<Tile, MatmulClass[]>();
  for (const c of others) byTile.set(plan.tiles[c], [...(byTile.get(plan.tiles[c]) ?? []), c]);
  return `${plan.primary} (${[...byTile].map(([t, cs]) => `${t} for ${cs.join(', ')}`).join('; ')})`;
}

// For the run's model line: "matmul tiles 4x8 (2x16 for forward/cols), measured now on one thread in 0.41 s".
export function describeTiling(plan: TilePlan): string {
  const tiles = `matmul tile${planTiles(plan).length > 1 ? 's' : ''} ${tileSummary(plan)}`;
  if (plan.how === 'calibrated') return `${tiles}, measured now on one thread in ${plan.seconds.toFixed(2)} s`;
  if (plan.how === 'cached') return `${tiles}, measured before on this machine and Node`;
  return `${tiles}${plan.how === 'off' ? ', --kernels-tune off' : ''}`;
}
