// Kernel exports: one family per file. All pointers are byte offsets into the
// imported shared memory; no kernel allocates.
export { peakLoop, gemm, gemmScratchBytes, gemmPackB, gemmRows, gemmPackSpan, gemmCols, gemmBlockK, gemmBlockN, gemmPanelWidth, gemmTileRows, gemmPackedBBytes,
  matmulForward, matmulBackwardInput, matmulBackwardWeights, matmulBackwardWeightsBias, biasBackward,
  matmulForwardGelu, matmulBackwardInputGelu } from './matmul';
export { layernormForward, layernormBackward, residualLayernormForward } from './layernorm';
export { geluForward, geluBackward } from './gelu';
export { attentionForward, attentionBackward, attentionScratchBytes, attentionForwardLse, attentionBackwardLse } from './attention';
export { crossEntropyForward, crossEntropyBackward } from './crossentropy';
export { embeddingForward, tokenEmbeddingBackward, positionEmbeddingBackward } from './embedding';
export { residualForward, residualDropoutForward, dropout, zeroFill } from './elementwise';
export { adamw, sumSquaresChunks } from './optimizer';

// First byte past the module's static data: the TypeScript arena starts at or above it.
export function heapBase(): usize {
  return __heap_base;
}
export { layernormBackwardChunks, sumChunks } from './reduce';
