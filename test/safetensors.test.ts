// The safetensors reader on hostile input: 1,000 seeded corruptions of a valid file. Each
// must either still be a valid file (it then loads, every tensor a view inside the file
// of the size its shape says) or be refused with a SafetensorsError naming the problem;
// none may throw anything else, hang, or allocate memory sized by the header.
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, f32Tensor, SafetensorsError, type SafeTensor } from '../src/io/safetensors.ts';
import { Rng } from './reference.ts';

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function validFile(): Buffer {
  const t = (n: number, shape: number[]) => f32Tensor(shape, Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3));
  const tensors = new Map<string, SafeTensor>([
    ['transformer.wte.weight', t(12, [4, 3])],
    ['transformer.h.0.attn.c_attn.weight', t(18, [3, 6])],
    ['transformer.ln_f.bias', t(3, [3])],
    ['scalar', t(1, [])],
    ['empty', t(0, [0, 5])],
  ]);
  return encodeSafetensors(tensors, { format: 'pt' });
}

// The header as text and the data, to edit the header and re-wrap it.
function split(file: Buffer): { header: Record<string, unknown>; data: Buffer } {
  const n = Number(file.readBigUInt64LE(0));
  return { header: JSON.parse(file.subarray(8, 8 + n).toString('utf8')), data: file.subarray(8 + n) };
}

function wrap(headerText: string, data: Buffer, length = BigInt(Buffer.byteLength(headerText))): Buffer {
  const h = Buffer.from(headerText, 'utf8');
  const out = Buffer.alloc(8 + h.length + data.length);
  out.writeBigUInt64LE(length, 0);
  h.copy(out, 8);
  data.copy(out, 8 + h.length);
  return out;
}

type Corruption = (file: Buffer, rng: Rng) => Buffer;

const names = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k !== '__metadata__');
const pick = <T>(rng: Rng, xs: T[]): T => xs[rng.int(xs.length)];
const entry = (h: Record<string, unknown>, name: string) => h[name] as { dtype: string; shape: number[]; data_offsets: number[] };

const CORRUPTIONS: Record<string, Corruption> = {
  truncate: (f, rng) => f.subarray(0, rng.int(f.length)),
  'flip a header byte': (f, rng) => {
    const g = Buffer.from(f);
    const n = Number(f.readBigUInt64LE(0));
    g[8 + rng.int(n)] ^= 1 << rng.int(8);
    return g;
  },
  'flip a length byte': (f, rng) => {
    const g = Buffer.from(f);
    g[rng.int(8)] ^= 1 << rng.int(8);
    return g;
  },
  'huge length': (f, rng) => {
    const g = Buffer.from(f);
    g.writeBigUInt64LE(pick(rng, [2n ** 64n - 1n, 2n ** 53n + 1n, 100_000_001n, BigInt(f.length)]), 0);
    return g;
  },
  'overlapping offsets': (f, rng) => {
    const { header, data } = split(f);
    const e = entry(header, pick(rng, names(header).filter((n) => entry(header, n).data_offsets[1] > 0)));
    const shift = 1 + rng.int(8);
    e.data_offsets = [Math.max(0, e.data_offsets[0] - shift), e.data_offsets[1] - shift];
    return wrap(JSON.stringify(header), data);
  },
  'offsets out of range': (f, rng) => {
    const { header, data } = split(f);
    const e = entry(header, pick(rng, names(header)));
    e.data_offsets = pick(rng, [[0, 2 ** 40], [data.length, data.length + 4], [-4, 0], [5, 1], [0.5, 4], [0], 'x' as unknown as number[], [1e308, 1e308]]);
    return wrap(JSON.stringify(header), data);
  },
  'huge shape': (f, rng) => {
    const { header, data } = split(f);
    entry(header, pick(rng, names(header))).shape = pick(rng, [[2 ** 31, 2 ** 31], [1e6, 1e6, 1e6], [2 ** 53], [-1, 3], [1.5], [1e308], [Infinity as number]]);
    return wrap(JSON.stringify(header), data);
  },
  'unknown dtype': (f, rng) => {
    const { header, data } = split(f);
    entry(header, pick(rng, names(header))).dtype = pick(rng, ['F128', 'f32', '', 'toString', '__proto__', 'constructor']);
    return wrap(JSON.stringify(header), data);
  },
  'missing tensor': (f, rng) => {
    const { header, data } = split(f);
    delete header[pick(rng, names(header))];
    return wrap(JSON.stringify(header), data);
  },
  'repeated name': (f, rng) => {
    const { header, data } = split(f);
    const name = pick(rng, names(header));
    const text = JSON.stringify(header);
    return wrap(`${text.slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(header[name])}}`, data);
  },
  'not an object': (f, rng) => wrap(pick(rng, ['[]', 'null', '42', '"x"', '{"a": 1}', '{"a": {"dtype": "F32"}}', '{"__metadata__": 5}', '{"__metadata__": {"a": 1}}']), split(f).data),
};

describe('safetensors reader', () => {
  it('1,000 seeded corruptions: each loads as a valid file or is refused naming the problem', () => {
    const file = validFile();
    expect(decodeSafetensors(file).tensors.size).toBe(5);
    const rng = new Rng(2026);
    const kinds = Object.keys(CORRUPTIONS);
    const outcomes = new Map<string, { valid: number; refused: number }>(kinds.map((k) => [k, { valid: 0, refused: 0 }]));
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const kind = kinds[i % kinds.length];
      const bad = CORRUPTIONS[kind](file, rng);
      let result: ReturnType<typeof decodeSafetensors> | null = null;
      try {
        result = decodeSafetensors(bad, 'fuzzed.safetensors');
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`${kind} #${i}: ${(e as Error).name}: ${(e as Error).message}`);
        expect(e.message).toMatch(/^fuzzed\.safetensors: \S/);
        outcomes.get(kind)!.refused++;
        continue;
      }
      // a valid file: every tensor inside it, sized by its shape
      for (const [name, t] of result.tensors) {
        const n = t.shape.reduce((a, d) => a * d, 1) * BYTES[t.dtype];
        expect(t.data.byteLength, name).toBe(n);
        expect(t.data.buffer === bad.buffer && t.data.byteOffset >= bad.byteOffset && t.data.byteOffset + n <= bad.byteOffset + bad.length, name).toBe(true);
      }
      outcomes.get(kind)!.valid++;
    }
    const ms = performance.now() - t0;
    const grew = process.memoryUsage().arrayBuffers - before;
    console.log(`safetensors fuzz: ${[...outcomes].map(([k, o]) => `${k} ${o.valid} valid / ${o.refused} refused`).join('; ')} (${ms.toFixed(0)} ms)`);
    expect(ms, 'no hang').toBeLessThan(10_000);
    expect(grew, 'no allocation sized by a header').toBeLessThan(64 << 20);
    // every kind of damage was seen and refused at least once
    for (const [k, o] of outcomes) expect(o.refused, k).toBeGreaterThan(0);
  });

  it('names the problem: repeated names, a header that is not an object, shapes that do not match the bytes', () => {
    const file = validFile();
    const { header, data } = split(file);
    const text = JSON.stringify(header);
    expect(() => decodeSafetensors(wrap(`${text.slice(0, -1)},"scalar":${JSON.stringify(header.scalar)}}`, data))).toThrow(/tensor name "scalar" appears twice/);
    expect(() => decodeSafetensors(wrap('[1, 2]', data))).toThrow(/header is not a JSON object/);
    entry(header, 'scalar').shape = [2];
    expect(() => decodeSafetensors(wrap(JSON.stringify(header), data))).toThrow(/scalar has data_offsets \[\d+, \d+\] \(4 bytes\) for F32\[2\] \(8 bytes\)/);
    expect(() => decodeSafetensors(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), data]))).toThrow(/header length 18446744073709551615 is over the format's limit/);
  });
});
