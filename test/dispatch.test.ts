// Kernel dispatch is typed from the declarations asc generates beside the wasm
// (build/simd.d.ts): a call with a missing, extra or mistyped argument must not compile.
// vitest does not type-check; `tsc --noEmit` (in .ci/run) does, and fails if a line
// under @ts-expect-error compiles after all.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.ts';
import { wasmPath } from '../src/engine/wasm.ts';
import { kernelNames, kernelTable, type FixedArgs } from '../src/engine/kernel-table.ts';
import { BUILDS } from './harness.ts';

// Parameter counts of every function asc declared for a build.
function declaredArity(build: (typeof BUILDS)[number]): Map<string, number> {
  const dts = readFileSync(wasmPath(build).replace(/\.wasm$/, '.d.ts'), 'utf8');
  const arity = new Map<string, number>();
  for (const m of dts.matchAll(/export function (\w+)\(([^)]*)\)/g)) {
    arity.set(m[1], m[2].trim() === '' ? 0 : m[2].split(',').length);
  }
  return arity;
}

describe('kernel dispatch', () => {
  it('wrong argument lists are compile errors', () => {
    const engine = new Engine({ kernels: 'simd' });
    // never called: these only have to (not) compile
    const wrong = [
      // @ts-expect-error layernormForward without its bias argument (7 fixed arguments, 6 given)
      () => engine.run('layernormForward', [0, 0, 0, 0, 0, 64], 0, 1),
      // @ts-expect-error zeroFill with an extra argument
      () => engine.run('zeroFill', [0, 1], 0, 1),
      // @ts-expect-error a tensor where a byte offset goes
      () => engine.run('zeroFill', [{ offset: 0 }], 0, 1),
      // @ts-expect-error a kernel the shipped module does not have (the one-call gemm is in the testing build)
      () => engine.run('gemm', [0], 0, 1),
      // @ts-expect-error the range is not part of the fixed arguments
      () => engine.run('geluForward', [0, 0, 0, 8], 0, 8),
    ];
    const right: FixedArgs<'layernormForward'> = [0, 0, 0, 0, 0, 0, 64];
    expect(wrong).toHaveLength(5);
    expect(right).toHaveLength(7);
  });

  it.each(BUILDS)('the %s declarations describe the wasm that runs (parameter counts of every export)', (build) => {
    const engine = new Engine({ kernels: build });
    const declared = declaredArity(build);
    const exported = Object.entries(engine.kernels).filter(([, v]) => typeof v === 'function');
    expect(exported.length).toBeGreaterThan(20);
    for (const [name, fn] of exported) {
      expect(declared.get(name), `${name}: parameters declared vs exported`).toBe((fn as (...a: unknown[]) => unknown).length);
    }
    // every kernel the dispatcher knows is exported, with its tail (range, scratch) at the end
    for (const name of kernelNames) {
      const tail = kernelTable[name] === 'range' ? 2 : 3;
      expect(declared.get(name), name).toBeGreaterThanOrEqual(tail);
    }
  });

  it('refuses to run a kernel that needs per-thread scratch without it', () => {
    const engine = new Engine({ kernels: 'simd' });
    expect(() => engine.run('gemmCols', [0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0], 0, 1)).toThrow(/gemmCols needs per-thread scratch/);
  });
});
