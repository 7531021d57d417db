// `npm run build:js`: the package as it is installed: dist/ holds the compiled JavaScript
// with its type declarations (tsconfig.build.json), the two kernel builds the engine loads
// (dist/build/*.wasm, found beside dist/src as build/ is beside src/; with the type
// declarations of their exports), and the bin entry
// made executable. Run after `npm run build` (the wasm).
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
mkdirSync('dist/build', { recursive: true });
for (const build of ['simd', 'relaxed', 'relaxed-4x8']) {
  const wasm = `build/${build}.wasm`;
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing: run npm run build first`);
  copyFileSync(wasm, `dist/${wasm}`);
}
// the kernels' exports, typed by asc: the engine's declarations refer to them
copyFileSync('build/simd.d.ts', 'dist/build/simd.d.ts');
chmodSync('dist/train.js', 0o755);
