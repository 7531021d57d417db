// Before any test file: the wasm kernels, built once here when missing (a fresh `npm
// install` does not build them; test files running side by side must not race to).
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const BUILDS = ['build/simd.wasm', 'build/relaxed.wasm', 'build/relaxed-4x8.wasm', 'build/testing-simd.wasm', 'build/testing-relaxed.wasm'];

export default function setup(): void {
  if (BUILDS.every((f) => existsSync(f))) return;
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
}
