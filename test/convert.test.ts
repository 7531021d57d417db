// fp32 <-> bf16 / fp16 conversion kernels (assembly/convert.ts) against references that
// do not share their bit tricks: for fp16 the @petamoriken/float16 package (IEEE
// round-to-nearest-even from the exact value), for bf16 a nearest-neighbour search in
// float64 (the two bf16 values around x, the nearer one, ties to the even pattern). On
// every 16-bit pattern, on the edge cases of the roundings, and on millions of random
// fp32 values; a NaN must stay a NaN (sign and quiet bit) in both directions.
import { beforeAll, describe, expect, it } from 'vitest';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { Engine } from '../src/engine/engine.ts';
import { BUILDS } from './harness.ts';
import { Rng } from './reference.ts';

type Format = 'bf16' | 'f16';

const f32Bits = new Uint32Array(1);
const f32Value = new Float32Array(f32Bits.buffer);
const valueOfBits = (u: number) => ((f32Bits[0] = u), f32Value[0]);
const bitsOfValue = (x: number) => ((f32Value[0] = x), f32Bits[0]);
const dv = new DataView(new ArrayBuffer(4));

/** The exact value of a 16-bit pattern. */
function value16(format: Format, h: number): number {
  if (format === 'f16') return getFloat16((dv.setUint16(0, h), dv), 0);
  return valueOfBits(h << 16);
}

const isNaN16 = (format: Format, h: number) => (format === 'f16' ? (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 : (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0);
const quietBit = (format: Format) => (format === 'f16' ? 0x200 : 0x40);

/** The 16-bit pattern nearest the fp32 value of bits u (ties to even; IEEE overflow to infinity). */
function round16(format: Format, u: number): number {
  const x = valueOfBits(u);
  if (Number.isNaN(x)) return -1; // checked separately
  if (!Number.isFinite(x)) return format === 'bf16' ? u >>> 16 : (u >>> 16 & 0x8000) | 0x7c00;
  if (format === 'f16') return (setFloat16(dv, 0, x), dv.getUint16(0));
  // bf16: the truncation toward zero and the next pattern away from zero
  const down = u >>> 16;
  const up = down + 1;
  const vDown = value16('bf16', down);
  const vUp = (up & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : value16('bf16', up); // infinity counts as 2^128
  const dDown = Math.abs(x - vDown), dUp = Math.abs(vUp - x);
  return dDown < dUp || (dDown === dUp && (down & 1) === 0) ? down : up;
}

describe.each(BUILDS)('%s conversions', (build) => {
  let engine: Engine;
  beforeAll(() => {
    engine = new Engine({ kernels: build });
  });

  /** Runs a kernel over n elements in two ranges (split inside the SIMD body and the tail). */
  function run(kernel: 'f32ToBf16' | 'bf16ToF32' | 'f32ToF16' | 'f16ToF32', dst: number, src: number, n: number, split = Math.floor(n / 3) + 5): void {
    const s = Math.min(split, n);
    engine.kernels[kernel](dst, src, 0, s);
    engine.kernels[kernel](dst, src, s, n);
  }

  function toF32(format: Format, patterns: Uint16Array): Uint32Array {
    const mark = engine.arena.mark();
    const src = engine.arena.alloc(patterns.length * 2), dst = engine.arena.alloc(patterns.length * 4);
    new Uint16Array(engine.memory.buffer, src, patterns.length).set(patterns);
    run(format === 'f16' ? 'f16ToF32' : 'bf16ToF32', dst, src, patterns.length);
    const out = new Uint32Array(engine.memory.buffer, dst, patterns.length).slice();
    engine.arena.release(mark);
    return out;
  }

  function from32(format: Format, bits: Uint32Array): Uint16Array {
    const mark = engine.arena.mark();
    const src = engine.arena.alloc(bits.length * 4), dst = engine.arena.alloc(bits.length * 2);
    new Uint32Array(engine.memory.buffer, src, bits.length).set(bits);
    run(format === 'f16' ? 'f32ToF16' : 'f32ToBf16', dst, src, bits.length);
    // one call over the whole range gives the same bits as the split one
    const whole = engine.arena.alloc(bits.length * 2);
    engine.kernels[format === 'f16' ? 'f32ToF16' : 'f32ToBf16'](whole, src, 0, bits.length);
    const out = new Uint16Array(engine.memory.buffer, dst, bits.length).slice();
    const same = Buffer.compare(Buffer.from(new Uint16Array(engine.memory.buffer, whole, bits.length).slice().buffer), Buffer.from(out.buffer)) === 0;
    expect(same, 'one call and two ranges give the same bits').toBe(true);
    engine.arena.release(mark);
    return out;
  }

  /** Every fp32 in bits converted, checked against round16; NaNs stay quiet NaNs of the same sign. */
  function checkRounding(format: Format, bits: Uint32Array): void {
    const got = from32(format, bits);
    let bad = 0;
    const report: string[] = [];
    for (let i = 0; i < bits.length; i++) {
      const u = bits[i];
      const h = got[i];
      const x = valueOfBits(u);
      const ok = Number.isNaN(x)
        ? isNaN16(format, h) && (h & quietBit(format)) !== 0 && h >>> 15 === u >>> 31
        : h === round16(format, u);
      if (!ok && bad++ < 5) report.push(`${x} (0x${u.toString(16)}) -> 0x${h.toString(16)}, want 0x${(Number.isNaN(x) ? 'NaN' : round16(format, u).toString(16))}`);
    }
    expect(bad, `${format}: ${bad} of ${bits.length} wrong\n${report.join('\n')}`).toBe(0);
  }

  it.each(['bf16', 'f16'] as const)('%s -> f32 is exact on all 65,536 patterns; NaNs keep sign and payload', (format) => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = toF32(format, all);
    for (let h = 0; h < 65536; h++) {
      const x = valueOfBits(got[h]);
      if (isNaN16(format, h)) {
        const payloadBits = format === 'f16' ? (h & 0x3ff) << 13 : (h & 0x7f) << 16;
        expect(got[h], `0x${h.toString(16)}`).toBe(((h & 0x8000) << 16 | 0x7f800000 | payloadBits) >>> 0);
      } else {
        expect(Object.is(x, value16(format, h)), `0x${h.toString(16)}: got ${x}, want ${value16(format, h)}`).toBe(true);
      }
    }
  });

  it.each(['bf16', 'f16'] as const)('%s: every 16-bit value converts back to its own pattern; NaN patterns to quiet NaNs', (format) => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = from32(format, toF32(format, all));
    for (let h = 0; h < 65536; h++) {
      if (isNaN16(format, h)) expect(back[h], `0x${h.toString(16)}`).toBe(h | quietBit(format));
      else expect(back[h], `0x${h.toString(16)}`).toBe(h);
    }
  });

  it.each(['bf16', 'f16'] as const)('%s: ties, the largest finite values, overflow, the subnormal boundary, NaN and infinity', (format) => {
    const values = [
      0, -0, 1, -1, 2 ** -149, -(2 ** -149), 2 ** -126, 2 ** -126 - 2 ** -149, 3.4028234663852886e38, -3.4028234663852886e38, Infinity, -Infinity,
      // bf16 (8-bit significand): ties at 1 + 2^-8 (to 1) and 1 + 3 * 2^-8 (to 1 + 2^-6), just above and below them
      1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -23, 1 + 2 ** -8 - 2 ** -23, 3.3895313892515355e38, 3.3961775292304747e38, 3.396177529230475e38,
      // fp16: its largest (65504), the overflow tie (65520: to infinity) and just below it, 2^16
      65504, 65519.99609375, 65520, 65536, 1e5, -65520,
      // fp16 ties in the normal range, and at the subnormal boundary
      1 + 2 ** -11, 1 + 3 * 2 ** -11, 2048 + 1, 2048 + 3,
      2 ** -14, 2 ** -14 - 2 ** -25, 2 ** -14 - 2 ** -24, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -25 + 2 ** -40, 2 ** -26, 1.5 * 2 ** -24, 2.5 * 2 ** -24,
    ].map(Math.fround);
    const nans = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fffffff, 0x7f802000];
    checkRounding(format, Uint32Array.from([...values.map(bitsOfValue), ...nans]));
  });

  it.each(['bf16', 'f16'] as const)('%s: three million random fp32 values (all bit patterns, and values in the format\'s range)', (format) => {
    const rng = new Rng(format === 'f16' ? 16 : 8);
    const n = 1_500_000;
    const anyBits = Uint32Array.from({ length: n }, () => (rng.int(65536) << 16 | rng.int(65536)) >>> 0);
    checkRounding(format, anyBits);
    // exponents where the format has normal and subnormal numbers, and a little past both ends
    const [lo, hi] = format === 'f16' ? [-27, 17] : [-135, 128];
    const inRange = Float32Array.from({ length: n }, () => (rng.int(2) ? -1 : 1) * (1 + rng.nextFloat()) * 2 ** (lo + rng.int(hi - lo)));
    checkRounding(format, new Uint32Array(inRange.buffer));
  });

  it.each(['bf16', 'f16'] as const)('%s: rounding in place gives the bits of a store in 16 bits and a load back (edges, NaNs, random values, split ranges)', (format) => {
    const rng = new Rng(format === 'f16' ? 161 : 81);
    const edges = [0, -0, 1, 65504, 65520, 1e5, -1e5, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -8, 1 + 2 ** -11, 3.4028234663852886e38, Infinity, -Infinity].map(Math.fround);
    const bits = Uint32Array.from([
      ...edges.map(bitsOfValue), 0x7fc00000, 0xff800001, 0x7f802000,
      ...Array.from({ length: 200_001 }, () => (rng.int(65536) << 16 | rng.int(65536)) >>> 0),
      ...Array.from({ length: 200_001 }, () => bitsOfValue((rng.int(2) ? -1 : 1) * (1 + rng.nextFloat()) * 2 ** (rng.int(40) - 26))),
    ]);
    const want = toF32(format, from32(format, bits));
    const mark = engine.arena.mark();
    const x = engine.arena.alloc(bits.length * 4);
    const view = new Uint32Array(engine.memory.buffer, x, bits.length);
    view.set(bits);
    const kernel = format === 'f16' ? 'roundToF16' : 'roundToBf16';
    const split = 100_003; // inside the SIMD body: the second range starts unaligned
    engine.kernels[kernel](x, 0, split);
    engine.kernels[kernel](x, split, bits.length);
    const got = view.slice();
    engine.arena.release(mark);
    let bad = 0;
    for (let i = 0; i < bits.length; i++) if (got[i] !== want[i]) bad++;
    expect(bad, `${bad} of ${bits.length} differ from a store and load`).toBe(0);
  });
});
