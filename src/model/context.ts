// What every layer needs to run its kernels: a dispatcher that splits a kernel's
// range across the engine's threads (each thread brings its own scratch).
import type { KernelName } from '../engine/kernel-table.ts';
import type { Kernels } from '../engine/wasm.ts';

export interface KernelContext {
  run(name: KernelName, fixed: readonly number[], start: number, end: number, grain?: number): void;
  gemm: GemmBlocking;
  // [chunks, 2C] floats: per-chunk LayerNorm parameter-gradient partials
  normPartials: number;
}

// How gemm is blocked (assembly/matmul.ts) and where its shared packed B lives.
export interface GemmBlocking {
  packedB: number;
  packedA: number; // the column path's packed A, as large as packedB
  packedBBytes: number; // room for several K blocks of packed B
  blockK: number;
  blockN: number;
  panelWidth: number; // columns per packed B panel: the unit gemmPackB splits
  tileRows: number; // rows per packed A panel
}

// The kernels' gemm blocking, over packed buffers of kernels.gemmPackedBBytes() each.
export function gemmBlocking(kernels: Kernels, packedB: number, packedA: number): GemmBlocking {
  return {
    packedB, packedA, packedBBytes: kernels.gemmPackedBBytes(),
    blockK: kernels.gemmBlockK(), blockN: kernels.gemmBlockN(), panelWidth: kernels.gemmPanelWidth(), tileRows: kernels.gemmTileRows(),
  };
}

// Rows per LayerNorm-backward chunk: parameter gradients are summed per chunk, then
// chunks in order, so the sum does not depend on the thread count.
export const NORM_CHUNK_ROWS = 32;

// Split granularity: matmul rows in micro-tile multiples, enough that a chunk reuses
// each packed B panel a few times from L1; elementwise in cache lines.
export const GRAIN_ROWS = 16;
export const GRAIN_ELEMENTS = 64;

// A dropout site's mask for one forward pass: threshold = 0 means no dropout.
export interface DropoutMask {
  key: number;
  threshold: number;
  scale: number;
}

export const NO_DROPOUT: DropoutMask = { key: 0, threshold: 0, scale: 1 };

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// The mask key of one dropout site in one forward pass. Different (seed, step, site)
// give unrelated masks; the kernels hash (key, element index).
export function dropoutMask(p: number, seed: number, step: number, site: number): DropoutMask {
  if (p <= 0) return NO_DROPOUT;
  const key = mix32(mix32(mix32(seed >>> 0) ^ step) + Math.imul(site + 1, 0x9e3779b9));
  const threshold = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  return { key, threshold, scale: 1 / (1 - p) };
}
