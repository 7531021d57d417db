// The testing build (assembly/testing/: one-call matmul, the T x T attention, the
// unchunked LayerNorm backward, the peak loop) instantiated over an engine's memory,
// beside the shipped kernels: oracles for tests, baselines for benchmarks.
import type { instantiate } from '../build/testing-simd.js';
import { Engine, STATIC_DATA_BYTES } from '../src/engine/engine.ts';
import { compileKernels, instantiateModule } from '../src/engine/wasm.ts';
import type { Kernels } from '../src/engine/kernel-table.ts';

export type TestingKernels = Awaited<ReturnType<typeof instantiate>>;
export type AllKernels = Kernels & TestingKernels;

// The shipped and the testing kernels of the engine's build, as one object.
export function withTestingKernels(engine: Engine): AllKernels {
  const { module } = compileKernels(engine.build, 'testing');
  const testing = instantiateModule<TestingKernels>(module, engine.memory);
  // its static data must sit below the arena (asconfig.json: memoryBase)
  if (testing.testingHeapBase() > STATIC_DATA_BYTES) throw new Error(`testing build's static data ends at ${testing.testingHeapBase()}, past ${STATIC_DATA_BYTES}`);
  return { ...engine.kernels, ...testing };
}
