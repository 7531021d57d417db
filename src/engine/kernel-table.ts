// The registry binding kernel exports to the dispatcher: for each kernel the model
// dispatches, what follows its fixed arguments. 'start'/'end' are the range
// each thread gets; 'gemm' is that thread's own scratch (matmul panels, attention blocks).
export type TailArg = 'start' | 'end' | 'gemm';

const RANGE: TailArg[] = ['start', 'end'];
const RANGE_GEMM: TailArg[] = ['start', 'end', 'gemm'];

export const kernelTable = {
  gemmPackB: RANGE, // panels of the shared packed B
  gemmRows: RANGE_GEMM, // rows of C (dW: output features, so no two threads add into one element)
  gemmPackSpan: RANGE, // B's panels, then A's row panels (column path)
  gemmCols: RANGE_GEMM, // column panels of C's step, all rows
  residualLayernormForward: RANGE, // rows
  attentionForwardLse: ['gemm', 'start', 'end'] as TailArg[], // (batch, head) pairs; scratch >= attentionScratchBytes(T, hs)
  attentionBackwardLse: ['gemm', 'start', 'end'] as TailArg[],
  layernormForward: RANGE, // rows
  layernormBackwardChunks: RANGE, // fixed-size row chunks, each with its own partial dweight/dbias
  sumChunks: RANGE, // columns
  geluForward: RANGE,
  geluBackward: RANGE,
  crossEntropyForward: RANGE, // rows
  crossEntropyBackward: RANGE,
  embeddingForward: RANGE, // rows
  tokenEmbeddingBackward: RANGE, // vocabulary rows: scatter-adds never race
  positionEmbeddingBackward: RANGE, // positions
  residualForward: RANGE,
  zeroFill: RANGE,
  residualDropoutForward: RANGE,
  dropout: RANGE,
  adamw: RANGE,
  sumSquaresChunks: RANGE, // fixed-size chunks, partials summed in order by the caller
} satisfies Record<string, TailArg[]>;

export type KernelName = keyof typeof kernelTable;
export const kernelNames = Object.keys(kernelTable) as KernelName[];

// Per-thread scratch: byte offsets in the shared memory.
export interface ThreadScratch {
  gemm: number;
}

// Argument arrays by length, reused: a thread runs one kernel call at a time, and a
// dispatch calls a kernel once per chunk.
const argArrays: number[][] = [];

// Calls one kernel export on [start, end) with this thread's scratch.
export function callKernel(
  fn: (...args: number[]) => unknown, tail: readonly TailArg[], fixed: ArrayLike<number>, nFixed: number,
  start: number, end: number, scratch: ThreadScratch,
): void {
  const n = nFixed + tail.length;
  const args = (argArrays[n] ??= new Array<number>(n));
  for (let i = 0; i < nFixed; i++) args[i] = fixed[i];
  for (let i = 0; i < tail.length; i++) {
    const t = tail[i];
    args[nFixed + i] = t === 'start' ? start : t === 'end' ? end : scratch.gemm;
  }
  fn(...args);
}
