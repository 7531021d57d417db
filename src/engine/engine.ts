// The engine: one shared memory, its arena, the kernel instance over it, and the
// dispatcher that splits kernels across threads. What a kernel needs beyond its
// operands (scratch, packing buffers) belongs to its op (src/ops/), not to the engine.
import { availableParallelism } from 'node:os';
import { compileKernels, createSharedMemory, instantiateModule, resolveBuild, type KernelBuild, type Tile } from './wasm.ts';
import { chooseTile, type TileChoice } from './tune.ts';
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
   * The matmul micro-tile: 'auto' (default) takes the one measured fastest on this machine
   * and V8 (src/engine/tune.ts, cached on disk), 'off' the default tile; or a tile by name.
   * Every tile gives the same bits.
   */
  tile?: Tile | 'auto' | 'off';
}

// Static data of kernel modules lives below this (the shipped module's from 1 KiB, the
// testing build's from 32 KiB: asconfig.json); the arena starts above it.
export const STATIC_DATA_BYTES = 65536;

export function defaultThreads(): number {
  return availableParallelism();
}

export class Engine {
  readonly memory: WebAssembly.Memory;
  readonly kernels: Kernels;
  readonly build: KernelBuild;
  readonly module: WebAssembly.Module;
  readonly arena: Arena;
  readonly tiling: TileChoice; // the matmul tile this engine runs, and how it was chosen
  private dispatcher: Dispatcher;

  // One thread, synchronously. Engine.create() starts a worker pool.
  constructor(options: EngineOptions = {}) {
    const wanted = resolveBuild(options.kernels ?? 'auto');
    const t = options.tile ?? 'auto';
    this.tiling = t === 'auto' || t === 'off' ? chooseTile(wanted, { tune: t === 'auto' }) : { build: wanted, tile: t, how: 'only', gflops: {}, seconds: 0 };
    const { build, module } = compileKernels(wanted, 'kernels', this.tiling.tile);
    this.build = build;
    this.module = module;
    this.memory = createSharedMemory(1);
    this.kernels = instantiateModule(module, this.memory);
    if (this.kernels.heapBase() > STATIC_DATA_BYTES) throw new Error(`the kernels' static data ends at ${this.kernels.heapBase()}, past ${STATIC_DATA_BYTES}`);
    this.arena = new Arena(this.memory, STATIC_DATA_BYTES);
    this.dispatcher = Dispatcher.single(this.kernels);
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const threads = options.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new ConfigError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${threads} (default: os.availableParallelism())`);
    }
    const engine = new Engine(options);
    if (threads > 1) engine.dispatcher = await Dispatcher.create(engine.module, engine.memory, engine.kernels, threads);
    return engine;
  }

  get threads(): number {
    return this.dispatcher.threads;
  }

  // Runs a kernel over [start, end), split across the engine's threads. Only src/ops/
  // calls this.
  run<K extends KernelName>(name: K, fixed: FixedArgs<K>, start: number, end: number, grain = 1, scratch?: ThreadScratch): void {
    this.dispatcher.run(name, fixed, start, end, grain, scratch);
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
