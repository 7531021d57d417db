// Matmul ops (assembly/matmul.ts): the three forms of a Linear layer on the staged
// gemm. This file owns how a product is scheduled across threads: the shared packing
// buffers, the blocking, how many K blocks one step packs, and row or column staging.
import type { MemoryPlan } from '../engine/arena.ts';
import { elementsFor, expectTensor, type Tensor } from '../engine/tensor.ts';
import type { Kernels } from '../engine/kernel-table.ts';
import { MATMUL_CLASSES, type MatmulClass, type MatmulForm } from '../engine/tune.ts';
import type { OpContext } from './context.ts';

// Row chunks in micro-tile multiples, enough that a chunk reuses each packed B panel a
// few times from L1.
const GRAIN_ROWS = 16;
// Column chunks of a short, wide C: any number of panels. A thread's last chunk of a
// dispatch is then small (1 panel of L's LM head: ~0.15 ms), so little time is lost
// waiting for the slower thread at the end of each of its ~200 column dispatches a step.
const GRAIN_PANELS = 1;

// How gemm is blocked (assembly/matmul.ts).
export interface GemmBlocking {
  blockK: number;
  blockN: number;
  panelWidth: number; // columns per packed B panel: the unit gemmPackB splits
  tileRows: number; // rows per packed A panel
}

// The kernels one class of product runs: the instance of its tile (a dispatch variant)
// and that tile's blocking.
export interface GemmKernels {
  variant: number;
  blocking: GemmBlocking;
}

export interface MatmulScratch {
  packedB: Tensor<'f32'>; // several K blocks of B, packed once per step for all threads
  packedA: Tensor<'f32'>; // the column path's packed A, as large
  classes: Record<MatmulClass, GemmKernels>; // per form and path (src/engine/tune.ts)
}

export function gemmBlocking(kernels: Kernels): GemmBlocking {
  return { blockK: kernels.gemmBlockK(), blockN: kernels.gemmBlockN(), panelWidth: kernels.gemmPanelWidth(), tileRows: kernels.gemmTileRows() };
}

// Every class on one instance, variant 0 (a context over a single module: benchmarks, tests).
export function uniformGemmKernels(kernels: Kernels): Record<MatmulClass, GemmKernels> {
  const k = { variant: 0, blocking: gemmBlocking(kernels) };
  return Object.fromEntries(MATMUL_CLASSES.map((c) => [c, k])) as Record<MatmulClass, GemmKernels>;
}

// kernelSets: the loaded instances (one per tile); variantOf: the instance of each class.
// The tiles share the K and column blocking (so the same K order) and the buffer sizes
// are the largest any needs.
export function planMatmul(plan: MemoryPlan, kernelSets: Kernels[], variantOf: (c: MatmulClass) => number): MatmulScratch {
  const floats = Math.max(...kernelSets.map((k) => elementsFor('f32', k.gemmPackedBBytes())));
  const classes = Object.fromEntries(MATMUL_CLASSES.map((c) => {
    const variant = variantOf(c);
    return [c, { variant, blocking: gemmBlocking(kernelSets[variant]) }];
  })) as Record<MatmulClass, GemmKernels>;
  const { blockK, blockN } = classes[MATMUL_CLASSES[0]].blocking;
  for (const c of MATMUL_CLASSES) {
    if (classes[c].blocking.blockK !== blockK || classes[c].blocking.blockN !== blockN) throw new Error('the matmul tiles differ in their K or column blocking');
  }
  return {
    packedB: plan.tensor('scratch', [floats], 'f32'),
    packedA: plan.tensor('scratch', [floats], 'f32'),
    classes,
  };
}

export function matmulThreadScratchBytes(kernelSets: Kernels[]): number {
  return Math.max(...kernelSets.map((k) => k.gemmThreadScratchBytes()));
}

// What runs on each block of C after its last K block: codes as assembly/matmul.ts's EPILOGUE_*.
const EPILOGUE = { none: 0, gelu: 1, geluBackward: 2 } as const;
const NO_EPILOGUE = { epilogue: EPILOGUE.none, aux: 0 };

// The operand the kernels pack as B may be stored in 16 bits (a bf16 or fp16 copy of the
// weights): it is converted to f32 while packed, so the sums are the f32 path's. Codes as
// assembly/matmul.ts's B_F32, B_BF16, B_F16.
const B_TYPES = { f32: 0, bf16: 1, f16: 2 } as const;

function bType(where: string, t: Tensor): number {
  const code = (B_TYPES as Record<string, number>)[t.dtype];
  if (code === undefined) throw new TypeError(`${where} is ${t.dtype}, expected f32, bf16 or f16`);
  return code;
}

// out [M, N] = inp [M, K] weight^T (+ bias [N]); weight [N, K] (PyTorch's layout), f32 or 16-bit.
// gelu: also gelu(out) [M, N], computed in the epilogue (the same bits as geluForward after).
export function matmulForward(
  ctx: OpContext, o: { out: Tensor; inp: Tensor; weight: Tensor; bias: Tensor | null; gelu?: Tensor | null },
): void {
  const [M, K] = o.inp.shape;
  const N = o.weight.shape[0];
  expectTensor('matmulForward: inp', o.inp, 'f32', [M, K]);
  expectTensor('matmulForward: weight', o.weight, o.weight.dtype, [N, K]);
  expectTensor('matmulForward: out', o.out, 'f32', [M, N]);
  if (o.bias) expectTensor('matmulForward: bias', o.bias, 'f32', [N]);
  if (o.gelu) expectTensor('matmulForward: gelu', o.gelu, 'f32', [M, N]);
  gemm(ctx, {
    c: o.out.offset, a: o.inp.offset, aRow: K, aCol: 1, b: o.weight.offset, bRow: 1, bCol: K, bType: bType('matmulForward: weight', o.weight),
    bias: o.bias?.offset ?? 0, dbias: 0, ...(o.gelu ? { epilogue: EPILOGUE.gelu, aux: o.gelu.offset } : NO_EPILOGUE), M, N, K, accumulate: false,
  }, 'forward');
}

// out [M, N] = inp [M, K] weight^T (+ bias) for a few rows, reading the weight rows as
// stored (no packing): generation. Not the bits of matmulForward (another K order).
export function matvecForward(ctx: OpContext, o: { out: Tensor; inp: Tensor; weight: Tensor; bias: Tensor | null }): void {
  const [M, K] = o.inp.shape;
  const N = o.weight.shape[0];
  expectTensor('matvecForward: inp', o.inp, 'f32', [M, K]);
  expectTensor('matvecForward: weight', o.weight, 'f32', [N, K]);
  expectTensor('matvecForward: out', o.out, 'f32', [M, N]);
  if (o.bias) expectTensor('matvecForward: bias', o.bias, 'f32', [N]);
  ctx.run('matvecForward', [o.out.offset, o.inp.offset, o.weight.offset, o.bias?.offset ?? 0, M, K, N], 0, N, MATVEC_GRAIN);
}

// Output features per chunk of a matvec: enough rows of W to amortize a chunk's claim.
const MATVEC_GRAIN = 64;

// dinp [M, K] (+)= dout [M, N] weight [N, K]; weight f32 or 16-bit. geluInput: then
// dinp = gelu'(geluInput) dinp, in the epilogue (the same bits as geluBackward after;
// not with accumulate).
export function matmulBackwardInput(
  ctx: OpContext, o: { dinp: Tensor; dout: Tensor; weight: Tensor; accumulate: boolean; geluInput?: Tensor | null },
): void {
  const [N, K] = o.weight.shape;
  const M = o.dout.shape[0];
  expectTensor('matmulBackwardInput: weight', o.weight, o.weight.dtype, [N, K]);
  expectTensor('matmulBackwardInput: dout', o.dout, 'f32', [M, N]);
  expectTensor('matmulBackwardInput: dinp', o.dinp, 'f32', [M, K]);
  if (o.geluInput) {
    expectTensor('matmulBackwardInput: geluInput', o.geluInput, 'f32', [M, K]);
    if (o.accumulate) throw new Error('matmulBackwardInput: the GELU epilogue overwrites dinp, so it cannot accumulate');
  }
  gemm(ctx, {
    c: o.dinp.offset, a: o.dout.offset, aRow: N, aCol: 1, b: o.weight.offset, bRow: K, bCol: 1, bType: bType('matmulBackwardInput: weight', o.weight),
    bias: 0, dbias: 0, ...(o.geluInput ? { epilogue: EPILOGUE.geluBackward, aux: o.geluInput.offset } : NO_EPILOGUE), M, N: K, K: N, accumulate: o.accumulate,
  }, 'backwardInput');
}

// dweight [N, K] += dout^T [N, M] inp [M, K]; dbias [N] += sum over rows of dout (the
// sums ride on packing dout^T); inp f32 or 16-bit
export function matmulBackwardWeights(
  ctx: OpContext, o: { dweight: Tensor; dbias: Tensor | null; dout: Tensor; inp: Tensor },
): void {
  const [M, K] = o.inp.shape;
  const N = o.dweight.shape[0];
  expectTensor('matmulBackwardWeights: inp', o.inp, o.inp.dtype, [M, K]);
  expectTensor('matmulBackwardWeights: dout', o.dout, 'f32', [M, N]);
  expectTensor('matmulBackwardWeights: dweight', o.dweight, 'f32', [N, K]);
  if (o.dbias) expectTensor('matmulBackwardWeights: dbias', o.dbias, 'f32', [N]);
  gemm(ctx, {
    c: o.dweight.offset, a: o.dout.offset, aRow: 1, aCol: N, b: o.inp.offset, bRow: K, bCol: 1, bType: bType('matmulBackwardWeights: inp', o.inp),
    bias: 0, dbias: o.dbias?.offset ?? 0, ...NO_EPILOGUE, M: N, N: K, K: M, accumulate: true,
  }, 'backwardWeights');
}

// C [M, N] (+)= A [M, K] B [K, N] (+ bias [N]); A and B are read through (row, column)
// element strides, so W^T and dout^T need no copies. dbias nonzero: dbias[i] += sum_k A[i, k].
// epilogue (assembly/matmul.ts EPILOGUE_*) with aux laid out as C: applied after the last K block.
interface GemmOperands {
  c: number;
  a: number; aRow: number; aCol: number;
  b: number; bRow: number; bCol: number; bType: number;
  bias: number;
  dbias: number;
  epilogue: number;
  aux: number;
  M: number; N: number; K: number;
  accumulate: boolean;
}

// Per step of B (columns blockN at most, K blocks as many as the shared buffer holds):
// all threads pack its panels into the one shared buffer, then all compute row chunks
// of C from it. For a C with fewer rows than the step has columns (a small batch), row
// chunks would each stream all of the packed B: A is packed once per step too, and the
// threads take column chunks. Each thread packing all of B for its own rows (as a
// single gemm call does) cost a thread up to ~15% more work on such matrices. Same bits
// however it is split.
function gemm(ctx: OpContext, g: GemmOperands, form: MatmulForm): void {
  if (g.K <= 0) throw new RangeError(`matmul needs K >= 1, got ${g.K}`);
  const { packedB, packedA, classes } = ctx.matmul;
  const { blockN } = classes[`${form}/rows`].blocking; // the same for every tile
  const acc = g.accumulate ? 1 : 0;
  for (let jc = 0; jc < g.N; jc += blockN) {
    const nc = Math.min(blockN, g.N - jc);
    // the class, so the tile, per step: tiles differ in MR x NR only, never in K order
    const cols = g.M < nc;
    const { variant, blocking } = classes[`${form}/${cols ? 'cols' : 'rows'}`];
    const { blockK, panelWidth, tileRows } = blocking;
    const panels = Math.ceil(nc / panelWidth);
    const kSpan = blockK * Math.max(1, Math.floor(packedB.size / (blockK * panels * panelWidth)));
    for (let pc0 = 0; pc0 < g.K; pc0 += kSpan) {
      const span = Math.min(kSpan, g.K - pc0);
      const bUnits = Math.ceil(span / blockK) * panels;
      const epilogue = pc0 + span === g.K ? g.epilogue : EPILOGUE.none; // on the step with the last K block
      if (cols) {
        ctx.run('gemmPackSpan', [packedB.offset, g.b, g.bRow, g.bCol, g.bType, packedA.offset, g.a, g.aRow, g.aCol, g.dbias, g.M, pc0, span, jc, nc], 0, bUnits + Math.ceil(g.M / tileRows), 1, undefined, variant);
        ctx.run('gemmCols', [g.c, packedA.offset, packedB.offset, g.bias, epilogue, g.aux, g.M, g.N, pc0, span, jc, nc, acc], 0, panels, GRAIN_PANELS, ctx.threadScratch, variant);
      } else {
        ctx.run('gemmPackB', [packedB.offset, g.b, g.bRow, g.bCol, g.bType, pc0, span, jc, nc], 0, bUnits, 1, undefined, variant);
        ctx.run('gemmRows', [g.c, g.a, g.aRow, g.aCol, packedB.offset, g.bias, g.dbias, epilogue, g.aux, g.N, pc0, span, jc, nc, acc], 0, g.M, GRAIN_ROWS, ctx.threadScratch, variant);
      }
    }
  }
}
