// The kernels the dispatcher can split across threads, and their argument lists.
// Signatures come from the declarations asc writes beside the wasm (build/simd.d.ts,
// generated from the AssemblyScript sources by `npm run build`), so a dispatch with a
// missing, extra or mistyped argument does not compile.
import type { instantiate } from '../../build/simd.js';

// Every export of the shipped module, typed as asc declares it.
export type Kernels = Awaited<ReturnType<typeof instantiate>>;

// What follows a kernel's fixed arguments: each thread's [start, end), and for some
// the byte offset of that thread's own scratch (before or after the range).
export type Tail = 'range' | 'range+scratch' | 'scratch+range';

export const kernelTable = {
  gemmPackB: 'range', // panels of the shared packed B
  gemmRows: 'range+scratch', // rows of C (dW: output features, so no two threads add into one element)
  gemmPackSpan: 'range', // B's panels, then A's row panels (column path)
  gemmCols: 'range+scratch', // column panels of C's step, all rows
  matvecForward: 'range', // output features
  layernormForward: 'range', // rows
  residualLayernormForward: 'range', // rows
  layernormBackwardChunks: 'range', // fixed-size row chunks, each with its own partial dweight/dbias
  sumChunks: 'range', // columns
  attentionForwardLse: 'scratch+range', // (batch, head) pairs
  attentionBackwardLse: 'scratch+range',
  attentionCached: 'scratch+range', // (row, head) pairs of the new positions
  geluForward: 'range',
  geluBackward: 'range',
  swigluForward: 'range',
  swigluBackward: 'range',
  crossEntropyForward: 'range', // rows
  crossEntropyBackward: 'range',
  embeddingForward: 'range', // rows
  tokenEmbeddingBackward: 'range', // vocabulary rows: scatter-adds never race
  positionEmbeddingBackward: 'range', // positions
  residualForward: 'range',
  residualDropoutForward: 'range',
  dropout: 'range',
  zeroFill: 'range',
  adamw: 'range',
  sumSquaresChunks: 'range', // fixed-size chunks, partials summed in order by the caller
  f32ToBf16: 'range', // elements
  bf16ToF32: 'range',
  f32ToF16: 'range',
  f16ToF32: 'range',
  roundToBf16: 'range', // elements, in place
  roundToF16: 'range',
} as const satisfies { [K in keyof Kernels]?: Tail };

export type KernelName = keyof typeof kernelTable;
export const kernelNames = Object.keys(kernelTable) as KernelName[];

type DropTail<P, T extends Tail> = T extends 'range'
  ? P extends [...infer Fixed, number, number] ? Fixed : never
  : P extends [...infer Fixed, number, number, number] ? Fixed : never;

// The arguments a dispatch passes: the kernel's parameters without its tail.
export type FixedArgs<K extends KernelName> = DropTail<Parameters<Kernels[K]>, (typeof kernelTable)[K]>;

// Per-thread scratch of one dispatch: thread i's region starts at base + i * stride (bytes).
export interface ThreadScratch {
  base: number;
  stride: number;
}

// Runs kernel `name` over [start, end), cut in multiples of grain across the threads;
// variant: which loaded instance runs it (the matmul ops pick a tile's; default 0).
export type Dispatch = <K extends KernelName>(
  name: K, fixed: FixedArgs<K>, start: number, end: number, grain?: number, scratch?: ThreadScratch, variant?: number,
) => void;

export function needsScratch(name: KernelName): boolean {
  return kernelTable[name] !== 'range';
}

// Argument arrays by length, reused: a thread runs one kernel call at a time, and a
// dispatch calls a kernel once per chunk.
const argArrays: number[][] = [];

// Calls one kernel export on [start, end); scratch is the calling thread's own region.
export function callKernel(
  fn: (...args: number[]) => unknown, tail: Tail, fixed: ArrayLike<number>, nFixed: number,
  start: number, end: number, scratch: number,
): void {
  const n = nFixed + (tail === 'range' ? 2 : 3);
  const args = (argArrays[n] ??= new Array<number>(n));
  for (let i = 0; i < nFixed; i++) args[i] = fixed[i];
  if (tail === 'scratch+range') {
    args[nFixed] = scratch;
    args[nFixed + 1] = start;
    args[nFixed + 2] = end;
  } else {
    args[nFixed] = start;
    args[nFixed + 1] = end;
    if (tail === 'range+scratch') args[nFixed + 2] = scratch;
  }
  fn(...args);
}
