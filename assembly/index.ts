// The kernels the model calls, one family per file (src/ops/<family>.ts is each one's
// only caller). All pointers are byte offsets into the imported shared memory; no
// kernel allocates. Test oracles and the peak loop are in testing/, a separate build.
export { gemmPackB, gemmRows, gemmPackSpan, gemmCols, gemmThreadScratchBytes,
  gemmBlockK, gemmBlockN, gemmPanelWidth, gemmTileRows, gemmPackedBBytes } from './matmul';
export { matvecForward } from './matvec';
export { layernormForward, residualLayernormForward, layernormBackwardChunks } from './layernorm';
export { sumChunks } from './reduce';
export { geluForward, geluBackward } from './gelu';
export { swigluForward, swigluBackward } from './swiglu';
export { attentionForwardLse, attentionBackwardLse, attentionCached, attentionScratchBytes } from './attention';
export { crossEntropyForward, crossEntropyBackward } from './crossentropy';
export { embeddingForward, tokenEmbeddingBackward, positionEmbeddingBackward } from './embedding';
export { residualForward, residualDropoutForward, dropout, zeroFill } from './elementwise';
export { adamw, sumSquaresChunks } from './optimizer';
export { f32ToBf16, bf16ToF32, f32ToF16, f16ToF32, roundToBf16, roundToF16 } from './convert';

// First byte past the module's static data: the TypeScript arena starts at or above it.
export function heapBase(): usize {
  return __heap_base;
}
