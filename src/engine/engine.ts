// The engine: one shared memory, its arena, the kernel instance over it, and the
// dispatcher that splits kernels across threads. What a kernel needs beyond its
// operands (scratch, packing buffers) belongs to its op (src/ops/), not to the engine.
import { availableParallelism } from 'node:os';
import { compileKernels, createSharedMemory, instantiateModule, resolveBuild, type KernelBuild, type Tile } from './wasm.ts';
import { chooseTiles, givenPlan, planTiles, uniformPlan, type MatmulClass, type TilePlan } from './tune.ts';
import { Arena } from './arena.ts';
import { Dispatcher } from './pool.ts';
import { MAX_THREADS } from './protocol.ts';
import { ConfigError } from '../errors.ts';
import { viewOf, type DType, type Tensor, type ViewOf } from './tensor.ts';
import type { Kernels, KernelName, FixedArgs, ThreadScratch } from './kernel-table.ts';

export interface EngineOptions {
  /** The wasm build: relaxed SIMD where the runtime has it, else SIMD128 (default 'auto'). */
  kernels?: KernelBuild | 'auto';
  /** This thread + (threads - 1) workers that split every kernel (default: os.availableParallelism()). */
  threads?: number;
  /**
   * The matmul micro-tile: 'auto' (default) takes, for each matmul form and shape class,
   * the one measured fastest on this machine and V8 (src/engine/tune.ts, cached on disk);
   * 'off' the default tile; a tile by name for every class, or tiles by class (the rest
   * default). Every tile gives the same bits.
   */
  tile?: Tile | 'auto' | 'off' | Partial<Record<MatmulClass, Tile>>;
}

// Static data of kernel modules lives below this (the shipped module's from 1 KiB, the
// testing build's from 32 KiB: asconfig.json); the arena starts above it.
export const STATIC_DATA_BYTES = 65536;

export function defaultThreads(): number {
  return availableParallelism();
}

export class Engine {
  readonly memory: WebAssembly.Memory;
  readonly kernels: Kernels; // the primary tile's module: every kernel but the matmuls of other tiles
  readonly build: KernelBuild;
  readonly arena: Arena;
  readonly tiling: TilePlan; // the matmul tiles this engine runs, and how they were chosen
  // One instance per tile the plan runs, all over the one memory (same static data), the
  // primary first; a dispatch names its instance by index (variant).
  readonly modules: WebAssembly.Module[];
  readonly kernelSets: Kernels[];
  private dispatcher: Dispatcher;

  // One thread, synchronously. Engine.create() starts a worker pool.
  constructor(options: EngineOptions = {}) {
    const wanted = resolveBuild(options.kernels ?? 'auto');
    const t = options.tile ?? 'auto';
    this.tiling = t === 'auto' || t === 'off' ? chooseTiles(wanted, { tune: t === 'auto' })
      : typeof t === 'string' ? uniformPlan(wanted, t, 'given') : givenPlan(wanted, t);
    const compiled = planTiles(this.tiling).map((tile) => compileKernels(wanted, 'kernels', tile));
    this.build = compiled[0].build;
    this.modules = compiled.map((c) => c.module);
    this.memory = createSharedMemory(1);
    this.kernelSets = this.modules.map((m) => instantiateModule(m, this.memory));
    this.kernels = this.kernelSets[0];
    for (const k of this.kernelSets) {
      if (k.heapBase() > STATIC_DATA_BYTES) throw new Error(`the kernels' static data ends at ${k.heapBase()}, past ${STATIC_DATA_BYTES}`);
    }
    this.arena = new Arena(this.memory, STATIC_DATA_BYTES);
    this.dispatcher = Dispatcher.single(this.kernelSets);
  }

  // The instance (dispatch variant) that runs a tile's matmuls.
  variantOf(tile: Tile): number {
    const i = planTiles(this.tiling).indexOf(tile);
    if (i < 0) throw new Error(`this engine has no ${tile} tile loaded`);
    return i;
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const threads = options.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new ConfigError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${threads} (default: os.availableParallelism())`);
    }
    const engine = new Engine(options);
    if (threads > 1) engine.dispatcher = await Dispatcher.create(engine.modules, engine.memory, engine.kernelSets, threads);
    return engine;
  }

  get threads(): number {
    return this.dispatcher.threads;
  }

  // Runs a kernel over [start, end), split across the engine's threads. Only src/ops/
  // calls this.
  run<K extends KernelName>(name: K, fixed: FixedArgs<K>, start: number, end: number, grain = 1, scratch?: ThreadScratch, variant = 0): void {
    this.dispatcher.run(name, fixed, start, end, grain, scratch, variant);
  }

  // Profiling: per-thread time in kernel calls (see Dispatcher.setTiming).
  setTiming(on: boolean): void {
    this.dispatcher.setTiming(on);
  }

  threadBusyMs(): number[] {
    return this.dispatcher.threadBusyMs();
  }

  // Stops the workers; the engine must not be used afterwards.
  async dispose(): Promise<void> {
    await this.dispatcher.dispose();
  }

  // A typed view of a tensor, by its dtype.
  view<D extends DType>(t: Tensor<D>): ViewOf<D> {
    return viewOf(this.memory, t);
  }
}
