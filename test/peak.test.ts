// The ceiling's loops (bench/peak.ts): hand-written wasm that validates, computes what it
// says, and that V8 compiles as written: one multiply-add per chain per iteration, on
// registers, with no spills (read from V8's own machine code of the optimized loop).
import { describe, expect, it } from 'vitest';
import { arch } from 'node:os';
import { peakFunction, peakModuleBytes, loopMachineCode } from '../bench/peak.ts';
import { enableRelaxedSimd } from '../src/engine/wasm.ts';

// V8 prints x64 machine code; elsewhere the check cannot read it, and says so.
const x64 = arch() === 'x64';
if (!x64) console.log(`skipping the machine-code checks of the peak loops: they read x64 instructions, this machine is ${arch()}`);

describe.each(['relaxed', 'simd'] as const)('%s peak loop', (kind) => {
  it('validates and computes acc = acc * b + m for every chain', () => {
    enableRelaxedSimd(); // Node 20: behind a V8 flag
    for (const chains of [8, 10, 12]) expect(WebAssembly.validate(peakModuleBytes(kind, chains))).toBe(true);
    const f = peakFunction(kind, 10);
    // lane 0 of the sum of the chains after n steps of a = a * 0.999 + x, from a = k
    const want = (n: number, x: number) => {
      let sum = 0;
      for (let k = 0; k < 10; k++) {
        let a = Math.fround(k);
        for (let i = 0; i < n; i++) a = Math.fround(Math.fround(a * Math.fround(0.999)) + Math.fround(x));
        sum += a;
      }
      return sum;
    };
    expect(f(0, 0.5)).toBe(45);
    expect(f(3, 0.5)).toBeCloseTo(want(3, 0.5), 4);
    expect(f(1000, 0.25)).toBeCloseTo(want(1000, 0.25), 2);
  });

  it.skipIf(!x64)('V8 compiles it as written: one multiply-add per chain per iteration, no spills', () => {
    for (const chains of [8, 10, 12]) {
      const code = loopMachineCode(kind, chains);
      expect(code.multiplyAdds, code.instructions.join('\n')).toBe(chains);
      expect(code.spills, code.instructions.join('\n')).toBe(0);
    }
  });
});
