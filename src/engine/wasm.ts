// Loads the kernel module (relaxed-SIMD build when the runtime validates it,
// plain SIMD128 otherwise) over one shared WebAssembly.Memory.
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import type { Kernels } from './kernel-table.ts';

export type KernelBuild = 'simd' | 'relaxed';
// The matmul micro-tile a kernels build was compiled with (assembly/matmul.ts, MR x NR).
// Every tile gives the same bits; which is fastest depends on the CPU and the V8 version
// (src/engine/tune.ts picks). The simd build has one.
export type Tile = '2x16' | '4x8';
export const TILES: Record<KernelBuild, readonly Tile[]> = { simd: ['2x16'], relaxed: ['2x16', '4x8'] };
export const DEFAULT_TILE: Tile = '2x16';
// The kernels the model calls (assembly/index.ts), or the test oracles and the peak
// loop (assembly/testing/index.ts, used by tests and benchmarks only).
export type KernelModule = 'kernels' | 'testing';

const ENTRY: Record<KernelModule, string> = { kernels: 'assembly/index.ts', testing: 'assembly/testing/index.ts' };

export const WASM_PAGE_BYTES = 65536;
export const MAX_PAGES = 65536; // wasm32: 4 GiB

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function target(build: KernelBuild, which: KernelModule, tile: Tile = DEFAULT_TILE): string {
  if (which === 'testing') return `testing-${build}`;
  return tile === DEFAULT_TILE ? build : `${build}-${tile}`;
}

export function wasmPath(build: KernelBuild, which: KernelModule = 'kernels', tile: Tile = DEFAULT_TILE): string {
  return join(projectRoot, 'build', `${target(build, which, tile)}.wasm`);
}

// In a checkout, builds the wasm on first use (`npm install` does not: an installed
// package ships dist/build/ and has no compiler).
function ensureBuilt(build: KernelBuild, which: KernelModule, tile: Tile = DEFAULT_TILE): void {
  if (existsSync(wasmPath(build, which, tile))) return;
  const asc = join(projectRoot, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  if (!existsSync(asc) || !existsSync(join(projectRoot, ENTRY[which]))) {
    throw new Error(`${wasmPath(build, which, tile)} is missing and there is no AssemblyScript source to build it from: reinstall the package`);
  }
  process.stderr.write(`building the wasm kernels (${target(build, which, tile)}; once, with npm run build)\n`);
  execFileSync(process.execPath, [asc, ENTRY[which], '--target', target(build, which, tile)], { cwd: projectRoot, stdio: 'inherit' });
}

let relaxedFlagSet = false;

// Node 20 rejects relaxed SIMD unless the V8 flag is on; flags are process-wide,
// so workers inherit it. Must run before the module is compiled. Node 22 has relaxed
// SIMD on by default, and Node 26's V8 no longer knows the flag (it would print an error).
export function enableRelaxedSimd(): void {
  if (relaxedFlagSet) return;
  if (Number(process.versions.node.split('.')[0]) < 22) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  relaxedFlagSet = true;
}

// Whether this runtime accepts a build (relaxed SIMD: Node 20 with the V8 flag, 22+).
export function buildSupported(build: KernelBuild): boolean {
  if (build === 'relaxed') enableRelaxedSimd();
  ensureBuilt(build, 'kernels');
  return WebAssembly.validate(new Uint8Array(readFileSync(wasmPath(build))) as Uint8Array<ArrayBuffer>);
}

const compiled = new Map<string, WebAssembly.Module>();

// The build this runtime runs for a request: 'auto' picks relaxed when it validates.
export function resolveBuild(requested: KernelBuild | 'auto' = 'auto'): KernelBuild {
  if (requested === 'auto') {
    enableRelaxedSimd();
    ensureBuilt('relaxed', 'kernels');
    return WebAssembly.validate(readWasm('relaxed', 'kernels', DEFAULT_TILE)) ? 'relaxed' : 'simd';
  }
  return requested;
}

// Compiles a build (with one of its tiles) once per process. 'auto' picks relaxed when
// this runtime accepts it.
export function compileKernels(
  requested: KernelBuild | 'auto' = 'auto', which: KernelModule = 'kernels', tile: Tile = DEFAULT_TILE,
): { build: KernelBuild; module: WebAssembly.Module } {
  const build = resolveBuild(requested);
  if (!TILES[build].includes(tile)) throw new Error(`the ${build} build has no ${tile} tile (it has ${TILES[build].join(', ')})`);
  if (build === 'relaxed') enableRelaxedSimd();
  ensureBuilt(build, which, tile);
  const key = target(build, which, tile);
  let module = compiled.get(key);
  if (!module) {
    const bytes = readWasm(build, which, tile);
    if (!WebAssembly.validate(bytes)) {
      throw new Error(`the ${build} kernel build does not validate on this runtime (Node ${process.version}); use --kernels simd`);
    }
    module = new WebAssembly.Module(bytes);
    compiled.set(key, module);
  }
  return { build, module };
}

// The bytes of a build (built first in a checkout that lacks it: the tile calibration's
// cache key reads every tile's bytes before any of them is compiled).
export function readWasm(build: KernelBuild, which: KernelModule, tile: Tile): Uint8Array<ArrayBuffer> {
  ensureBuilt(build, which, tile);
  return new Uint8Array(readFileSync(wasmPath(build, which, tile))) as Uint8Array<ArrayBuffer>;
}

export function createSharedMemory(initialPages = 1): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
}

// The exports of a module over the shared memory (typed by the caller: Kernels for
// the shipped module).
export function instantiateModule<T = Kernels>(module: WebAssembly.Module, memory: WebAssembly.Memory): T {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as T;
}
