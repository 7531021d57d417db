// The engine: one shared memory, its arena, and the kernel instance over it.
import { compileKernels, createSharedMemory, instantiateKernels, type Kernels, type KernelBuild } from './wasm.ts';
import { Arena } from './arena.ts';

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
}

export class Engine {
  readonly memory: WebAssembly.Memory;
  readonly kernels: Kernels;
  readonly build: KernelBuild;
  readonly module: WebAssembly.Module;
  readonly arena: Arena;

  constructor(options: EngineOptions = {}) {
    const { build, module } = compileKernels(options.kernels ?? 'auto');
    this.build = build;
    this.module = module;
    this.memory = createSharedMemory(1);
    this.kernels = instantiateKernels(module, this.memory);
    this.arena = new Arena(this.memory, Math.max(this.kernels.heapBase(), 1024));
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
