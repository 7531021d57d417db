// Kernels the model does not call, built as a separate module (build/testing-*.wasm)
// for the tests and benchmarks: oracles for the shipped kernels, and the peak loop.
// It is instantiated over the same shared memory as the shipped module; its static
// data sits above that module's (asconfig.json: memoryBase).
export { gemm, gemmScratchBytes, matmulForward, matmulBackwardInput, matmulBackwardWeights, matmulBackwardWeightsBias,
  biasBackward, matmulForwardGelu, matmulBackwardInputGelu } from './matmul';
export { attentionForward, attentionBackward } from './attention';
export { peakLoop } from './peak';
// LayerNorm backward over a row range in one call (the model's kernel runs it per chunk)
export { layernormBackward } from '../layernorm';

// First byte past this module's static data.
export function testingHeapBase(): usize {
  return __heap_base;
}
