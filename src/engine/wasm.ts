// Loads the kernel module (relaxed-SIMD build when the runtime validates it,
// plain SIMD128 otherwise) over one shared WebAssembly.Memory.
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import type { Kernels } from './kernel-table.ts';

export type KernelBuild = 'simd' | 'relaxed';
// The kernels the model calls (assembly/index.ts), or the test oracles and the peak
// loop (assembly/testing/index.ts, used by tests and benchmarks only).
export type KernelModule = 'kernels' | 'testing';

const ENTRY: Record<KernelModule, string> = { kernels: 'assembly/index.ts', testing: 'assembly/testing/index.ts' };

export const WASM_PAGE_BYTES = 65536;
export const MAX_PAGES = 65536; // wasm32: 4 GiB

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function target(build: KernelBuild, which: KernelModule): string {
  return which === 'kernels' ? build : `testing-${build}`;
}

export function wasmPath(build: KernelBuild, which: KernelModule = 'kernels'): string {
  return join(projectRoot, 'build', `${target(build, which)}.wasm`);
}

// In a checkout, builds the wasm on first use (`npm install` does not: an installed
// package ships dist/build/ and has no compiler).
function ensureBuilt(build: KernelBuild, which: KernelModule): void {
  if (existsSync(wasmPath(build, which))) return;
  const asc = join(projectRoot, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  if (!existsSync(asc) || !existsSync(join(projectRoot, ENTRY[which]))) {
    throw new Error(`${wasmPath(build, which)} is missing and there is no AssemblyScript source to build it from: reinstall the package`);
  }
  process.stderr.write(`building the wasm kernels (${target(build, which)}; once, with npm run build)\n`);
  execFileSync(process.execPath, [asc, ENTRY[which], '--target', target(build, which)], { cwd: projectRoot, stdio: 'inherit' });
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

// Compiles a build once per process. 'auto' picks relaxed when this runtime accepts it.
export function compileKernels(
  requested: KernelBuild | 'auto' = 'auto', which: KernelModule = 'kernels',
): { build: KernelBuild; module: WebAssembly.Module } {
  if (requested === 'auto') {
    enableRelaxedSimd();
    ensureBuilt('relaxed', which);
    const bytes = new Uint8Array(readFileSync(wasmPath('relaxed', which))) as Uint8Array<ArrayBuffer>;
    if (WebAssembly.validate(bytes)) return cached('relaxed', which, bytes);
    return compileKernels('simd', which);
  }
  if (requested === 'relaxed') enableRelaxedSimd();
  ensureBuilt(requested, which);
  const bytes = new Uint8Array(readFileSync(wasmPath(requested, which))) as Uint8Array<ArrayBuffer>;
  if (!WebAssembly.validate(bytes)) {
    throw new Error(`the ${requested} kernel build does not validate on this runtime (Node ${process.version}); use --kernels simd`);
  }
  return cached(requested, which, bytes);
}

function cached(build: KernelBuild, which: KernelModule, bytes: Uint8Array<ArrayBuffer>): { build: KernelBuild; module: WebAssembly.Module } {
  const key = target(build, which);
  let module = compiled.get(key);
  if (!module) {
    module = new WebAssembly.Module(bytes);
    compiled.set(key, module);
  }
  return { build, module };
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
