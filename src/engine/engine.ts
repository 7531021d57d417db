// The engine: one shared memory, its arena, the kernel instance over it, and the
// dispatcher that splits kernels across threads.
import { availableParallelism } from 'node:os';
import { compileKernels, createSharedMemory, instantiateKernels, type Kernels, type KernelBuild } from './wasm.ts';
import { Arena } from './arena.ts';
import { Dispatcher } from './pool.ts';
import { MAX_THREADS } from './protocol.ts';
import type { KernelName, ThreadScratch } from './kernel-table.ts';

export type DType = 'f32' | 'i32';

// A tensor is a place in the arena: byte offset, shape, element type.
export interface Tensor {
  readonly offset: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number; // elements
}

export interface EngineOptions {
  kernels?: KernelBuild | 'auto';
  threads?: number; // default: os.availableParallelism()
}

export function defaultThreads(): number {
  return availableParallelism();
}

export class Engine {
  readonly memory: WebAssembly.Memory;
  readonly kernels: Kernels;
  readonly build: KernelBuild;
  readonly module: WebAssembly.Module;
  readonly arena: Arena;
  readonly scratch: ThreadScratch[];
  // gemm's packed B block, shared by all threads: one thread packs each panel once
  readonly gemmPackedB: number;
  readonly gemmPackedA: number; // and A's, for a short, wide C
  private dispatcher: Dispatcher;

  // One thread, synchronously. Engine.create() starts a worker pool.
  constructor(options: EngineOptions = {}) {
    const { build, module } = compileKernels(options.kernels ?? 'auto');
    this.build = build;
    this.module = module;
    this.memory = createSharedMemory(1);
    this.kernels = instantiateKernels(module, this.memory);
    this.arena = new Arena(this.memory, Math.max(this.kernels.heapBase(), 1024));
    this.gemmPackedB = this.arena.alloc(this.kernels.gemmPackedBBytes());
    this.gemmPackedA = this.arena.alloc(this.kernels.gemmPackedBBytes());
    this.scratch = [];
    this.dispatcher = Dispatcher.single(this.kernels, this.allocScratch());
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const threads = options.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new RangeError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
    }
    const engine = new Engine(options);
    if (threads > 1) {
      for (let i = 1; i < threads; i++) engine.allocScratch();
      engine.dispatcher = await Dispatcher.create(engine.module, engine.memory, engine.kernels, threads, engine.scratch);
    }
    return engine;
  }

  get threads(): number {
    return this.dispatcher.threads;
  }

  // Bytes of scratch each thread owns.
  static scratchBytesPerThread(kernels: Kernels): number {
    return kernels.gemmScratchBytes();
  }

  // All scratch an engine with this many threads allocates (per thread, plus gemm's
  // shared packed B and A).
  static scratchBytes(kernels: Kernels, threads: number): number {
    return 2 * kernels.gemmPackedBBytes() + threads * Engine.scratchBytesPerThread(kernels);
  }

  private allocScratch(): ThreadScratch {
    const s = { gemm: this.arena.alloc(this.kernels.gemmScratchBytes()) };
    this.scratch.push(s);
    return s;
  }

  // Runs a kernel over [start, end), split across the engine's threads.
  run(name: KernelName, fixed: readonly number[], start: number, end: number, grain = 1): void {
    this.dispatcher.run(name, fixed, start, end, grain);
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

  tensor(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    return { offset: this.arena.alloc(size * 4), shape, dtype, size };
  }

  // Views are cheap; for shared memory an old view stays valid after growth.
  f32(t: Tensor | number, length?: number): Float32Array {
    if (typeof t === 'number') return new Float32Array(this.memory.buffer, t, length ?? 0);
    return new Float32Array(this.memory.buffer, t.offset, t.size);
  }

  i32(t: Tensor | number, length?: number): Int32Array {
    if (typeof t === 'number') return new Int32Array(this.memory.buffer, t, length ?? 0);
    return new Int32Array(this.memory.buffer, t.offset, t.size);
  }

  f64(offset: number, length: number): Float64Array {
    return new Float64Array(this.memory.buffer, offset, length);
  }
}
