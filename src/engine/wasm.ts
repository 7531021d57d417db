// Loads the kernel module (relaxed-SIMD build when the runtime validates it,
// plain SIMD128 otherwise) over one shared WebAssembly.Memory.
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';

export type KernelBuild = 'simd' | 'relaxed';

// Every pointer argument is a byte offset into the shared memory.
export interface Kernels {
  heapBase(): number;
  gemmScratchBytes(): number;
  gemm(c: number, a: number, aRow: number, aCol: number, b: number, bRow: number, bCol: number, bias: number,
    M: number, N: number, K: number, accumulate: number, rowStart: number, rowEnd: number, scratch: number): void;
  // gemm's two stages over one shared packed B (see assembly/matmul.ts)
  gemmPackB(packB: number, b: number, bRow: number, bCol: number, pc0: number, kSpan: number, jc: number, nc: number,
    unitStart: number, unitEnd: number): void;
  gemmRows(c: number, a: number, aRow: number, aCol: number, packB: number, bias: number, dbias: number,
    N: number, K: number, pc0: number, kSpan: number, jc: number, nc: number, accumulate: number,
    rowStart: number, rowEnd: number, rowScratch: number): void;
  gemmPackSpan(packB: number, b: number, bRow: number, bCol: number, packA: number, a: number, aRow: number, aCol: number,
    dbias: number, M: number, pc0: number, kSpan: number, jc: number, nc: number, unitStart: number, unitEnd: number): void;
  gemmCols(c: number, packA: number, packB: number, bias: number, M: number, N: number, K: number,
    pc0: number, kSpan: number, jc: number, nc: number, accumulate: number,
    panelStart: number, panelEnd: number, rowScratch: number): void;
  gemmTileRows(): number;
  gemmBlockK(): number;
  gemmBlockN(): number;
  gemmPanelWidth(): number;
  gemmPackedBBytes(): number;
  matmulForward(out: number, inp: number, weight: number, bias: number,
    rows: number, inDim: number, outDim: number, rowStart: number, rowEnd: number, scratch: number): void;
  matmulBackwardInput(dinp: number, dout: number, weight: number,
    rows: number, inDim: number, outDim: number, accumulate: number, rowStart: number, rowEnd: number, scratch: number): void;
  matmulBackwardWeights(dweight: number, dout: number, inp: number,
    rows: number, inDim: number, outDim: number, outStart: number, outEnd: number, scratch: number): void;
  biasBackward(dbias: number, dout: number, rows: number, outDim: number, outStart: number, outEnd: number): void;
  layernormForward(out: number, mean: number, rstd: number, inp: number, weight: number, bias: number,
    C: number, rowStart: number, rowEnd: number): void;
  layernormBackward(dinp: number, dweight: number, dbias: number, dout: number, inp: number, weight: number,
    mean: number, rstd: number, C: number, rowStart: number, rowEnd: number): void;
  layernormBackwardChunks(dinp: number, partials: number, dout: number, inp: number, weight: number, mean: number, rstd: number,
    C: number, rows: number, chunkRows: number, hasBias: number, chunkStart: number, chunkEnd: number): void;
  sumChunks(dst: number, partials: number, chunks: number, stride: number, colStart: number, colEnd: number): void;
  geluForward(out: number, inp: number, start: number, end: number): void;
  geluBackward(dinp: number, inp: number, dout: number, start: number, end: number): void;
  attentionForward(out: number, att: number, qkv: number, B: number, T: number, C: number, H: number,
    dropKey: number, dropThreshold: number, dropScale: number, bhStart: number, bhEnd: number): void;
  attentionBackward(dqkv: number, dout: number, qkv: number, att: number, B: number, T: number, C: number, H: number,
    dropKey: number, dropThreshold: number, dropScale: number, scratch: number, bhStart: number, bhEnd: number): void;
  crossEntropyForward(losses: number, logits: number, targets: number, V: number, rowStart: number, rowEnd: number): void;
  crossEntropyBackward(dlogits: number, logits: number, targets: number, dloss: number, V: number, rowStart: number, rowEnd: number): void;
  embeddingForward(out: number, ids: number, wte: number, wpe: number, T: number, C: number, rowStart: number, rowEnd: number): void;
  tokenEmbeddingBackward(dwte: number, dout: number, ids: number, rows: number, C: number, vStart: number, vEnd: number): void;
  positionEmbeddingBackward(dwpe: number, dout: number, B: number, T: number, C: number, tStart: number, tEnd: number): void;
  residualForward(out: number, a: number, b: number, start: number, end: number): void;
  zeroFill(out: number, start: number, end: number): void;
  residualDropoutForward(out: number, a: number, b: number, key: number, threshold: number, scale: number, start: number, end: number): void;
  dropout(out: number, inp: number, key: number, threshold: number, scale: number, start: number, end: number): void;
  adamw(params: number, grads: number, m: number, v: number, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, gradScale: number, bc1: number, bc2: number, start: number, end: number): void;
  sumSquaresChunks(partials: number, x: number, n: number, chunk: number, chunkStart: number, chunkEnd: number): void;
  // Fused and blocked kernels (assembly/matmul.ts, attention.ts): see the comments there.
  matmulBackwardWeightsBias(dweight: number, dbias: number, dout: number, inp: number,
    rows: number, inDim: number, outDim: number, outStart: number, outEnd: number, scratch: number): void;
  matmulForwardGelu(out: number, pre: number, inp: number, weight: number, bias: number,
    rows: number, inDim: number, outDim: number, rowStart: number, rowEnd: number, scratch: number): void;
  matmulBackwardInputGelu(dinp: number, dout: number, weight: number, pre: number,
    rows: number, inDim: number, outDim: number, rowStart: number, rowEnd: number, scratch: number): void;
  residualLayernormForward(res: number, out: number, mean: number, rstd: number, a: number, b: number, weight: number, bias: number,
    key: number, threshold: number, scale: number, C: number, rowStart: number, rowEnd: number): void;
  attentionScratchBytes(T: number, hs: number): number;
  attentionForwardLse(out: number, lse: number, qkv: number, B: number, T: number, C: number, H: number,
    dropKey: number, dropThreshold: number, dropScale: number, scratch: number, bhStart: number, bhEnd: number): void;
  attentionBackwardLse(dqkv: number, dout: number, qkv: number, lse: number, B: number, T: number, C: number, H: number,
    dropKey: number, dropThreshold: number, dropScale: number, scratch: number, bhStart: number, bhEnd: number): void;
}

export const WASM_PAGE_BYTES = 65536;
export const MAX_PAGES = 65536; // wasm32: 4 GiB

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function wasmPath(build: KernelBuild): string {
  return join(projectRoot, 'build', `${build}.wasm`);
}

// Builds the wasm on first use when `npm install` did not (e.g. --ignore-scripts).
function ensureBuilt(build: KernelBuild): void {
  if (existsSync(wasmPath(build))) return;
  const asc = join(projectRoot, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  execFileSync(process.execPath, [asc, 'assembly/index.ts', '--target', build], { cwd: projectRoot, stdio: 'inherit' });
}

let relaxedFlagSet = false;

// Node 20 rejects relaxed SIMD unless the V8 flag is on; flags are process-wide,
// so workers inherit it. Must run before the module is compiled.
function enableRelaxedSimd(): void {
  if (relaxedFlagSet) return;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  relaxedFlagSet = true;
}

const compiled = new Map<KernelBuild, WebAssembly.Module>();

// Compiles a build once per process. 'auto' picks relaxed when this runtime accepts it.
export function compileKernels(requested: KernelBuild | 'auto' = 'auto'): { build: KernelBuild; module: WebAssembly.Module } {
  if (requested === 'auto') {
    enableRelaxedSimd();
    ensureBuilt('relaxed');
    const bytes = new Uint8Array(readFileSync(wasmPath('relaxed'))) as Uint8Array<ArrayBuffer>;
    if (WebAssembly.validate(bytes)) return cached('relaxed', bytes);
    return compileKernels('simd');
  }
  if (requested === 'relaxed') enableRelaxedSimd();
  ensureBuilt(requested);
  const bytes = new Uint8Array(readFileSync(wasmPath(requested))) as Uint8Array<ArrayBuffer>;
  if (!WebAssembly.validate(bytes)) {
    throw new Error(`the ${requested} kernel build does not validate on this runtime (Node ${process.version}); use --kernels simd`);
  }
  return cached(requested, bytes);
}

function cached(build: KernelBuild, bytes: Uint8Array<ArrayBuffer>): { build: KernelBuild; module: WebAssembly.Module } {
  let module = compiled.get(build);
  if (!module) {
    module = new WebAssembly.Module(bytes);
    compiled.set(build, module);
  }
  return { build, module };
}

export function createSharedMemory(initialPages = 1): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Kernels {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as Kernels;
}
