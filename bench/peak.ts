// The WASM SIMD ceiling, measured robustly: multiply-add loops written here as raw wasm
// bytes (not compiled from AssemblyScript), so no compiler between us and V8 decides
// their shape. Each is one loop of `chains` independent f32x4 accumulators, updated
// acc = acc * b + m, by relaxed_madd (fused where the CPU has FMA: 8 flops a lane group)
// or by f32x4.mul + f32x4.add (the plain SIMD build's ceiling). The ceiling is the best
// of a few chain counts and of the AssemblyScript loop, so a V8 that compiles one loop
// badly (as V8 13 does the AssemblyScript one) does not lower it.
// `loopMachineCode` reads V8's own machine code of a loop (--print-wasm-code) to check
// that its body is `chains` multiply-adds on registers, with no spills.
import { spawnSync } from 'node:child_process';
import { enableRelaxedSimd } from '../src/engine/wasm.ts';

export type PeakKind = 'relaxed' | 'simd';

const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
};
const f32Bytes = (x: number) => [...new Uint8Array(new Float32Array([x]).buffer)];
const vec = (bytes: number[]) => [...leb(bytes.length), ...bytes];
const section = (id: number, bytes: number[]) => [id, ...vec(bytes)];
const SIMD = 0xfd;
const op = { localGet: 0x20, localSet: 0x21, localTee: 0x22, f32Const: 0x43, i32Const: 0x41, i32Sub: 0x6b, i32Eqz: 0x45, block: 0x02, loop: 0x03, brIf: 0x0d, end: 0x0b };
const simd = { splat: [SIMD, ...leb(0x13)], extract0: [SIMD, ...leb(0x1f), 0], add: [SIMD, ...leb(0xe4)], mul: [SIMD, ...leb(0xe6)], madd: [SIMD, ...leb(0x105)] };
const V128 = 0x7b, I32 = 0x7f, F32 = 0x7d;

// (module (func (export "peak") (param $n i32) (param $x f32) (result f32) ...)): n
// iterations of `chains` multiply-adds; returns a lane of the sum so nothing is dead.
export function peakModuleBytes(kind: PeakKind, chains: number): Uint8Array<ArrayBuffer> {
  const M = 2, B = 3, acc = (k: number) => 4 + k; // locals: n, x, m, b, accumulators
  const body: number[] = [
    op.localGet, 1, ...simd.splat, op.localSet, M,
    op.f32Const, ...f32Bytes(0.999), ...simd.splat, op.localSet, B,
  ];
  for (let k = 0; k < chains; k++) body.push(op.f32Const, ...f32Bytes(k), ...simd.splat, op.localSet, acc(k));
  body.push(op.block, 0x40, op.localGet, 0, op.i32Eqz, op.brIf, 0, op.loop, 0x40);
  for (let k = 0; k < chains; k++) {
    if (kind === 'relaxed') body.push(op.localGet, acc(k), op.localGet, B, op.localGet, M, ...simd.madd, op.localSet, acc(k));
    else body.push(op.localGet, acc(k), op.localGet, B, ...simd.mul, op.localGet, M, ...simd.add, op.localSet, acc(k));
  }
  body.push(op.localGet, 0, op.i32Const, 1, op.i32Sub, op.localTee, 0, op.brIf, 0, op.end, op.end);
  body.push(op.localGet, acc(0));
  for (let k = 1; k < chains; k++) body.push(op.localGet, acc(k), ...simd.add);
  body.push(...simd.extract0, op.end);
  const code = [1, ...leb(2 + chains), V128, ...body]; // one local entry: 2 + chains v128
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 2, I32, F32, 1, F32]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...vec([...Buffer.from('peak')]), 0x00, 0]),
    ...section(10, [1, ...vec(code)]),
  ]);
}

export type PeakFn = (n: number, x: number) => number;

export function peakFunction(kind: PeakKind, chains: number): PeakFn {
  if (kind === 'relaxed') enableRelaxedSimd();
  const module = new WebAssembly.Module(peakModuleBytes(kind, chains));
  return (new WebAssembly.Instance(module).exports as { peak: PeakFn }).peak;
}

// GFLOP/s of one call of n iterations (2 flops x 4 lanes x chains per iteration).
function rate(fn: PeakFn, chains: number, n: number): number {
  const t = performance.now();
  fn(n, 0.5);
  const s = (performance.now() - t) / 1000;
  return (8 * chains * n) / s / 1e9;
}

// The relaxed build runs 10-12 chains best on the CPUs seen so far (V8 x64 has 15 SIMD
// registers: chains + b + m, and one more for mul + add's product).
export const PEAK_CHAINS: Record<PeakKind, number[]> = { relaxed: [8, 10, 12], simd: [8, 10, 12] };

export interface PeakMeasure {
  kind: PeakKind;
  gflops: number; // the best variant's median
  variants: { chains: number; gflops: number }[]; // medians
}

// One core. Each variant is warmed up (tier-up to the optimizing compiler), then timed
// `samples` times at about `ms` each; a variant's figure is its median, the peak the best.
export function measurePeak(kind: PeakKind, samples = 7, ms = 40): PeakMeasure {
  const variants = PEAK_CHAINS[kind].map((chains) => {
    const fn = peakFunction(kind, chains);
    for (let i = 0; i < 3; i++) fn(200_000, 0.5);
    const n = Math.max(1000, Math.round((rate(fn, chains, 1_000_000) * 1e9 * ms / 1000) / (8 * chains)));
    const rates = Array.from({ length: samples }, () => rate(fn, chains, n)).sort((a, b) => a - b);
    return { chains, gflops: rates[Math.floor(samples / 2)] };
  });
  return { kind, gflops: Math.max(...variants.map((v) => v.gflops)), variants };
}

export interface LoopCode {
  compiler: string; // the tier whose code was read (TurboFan: what the timed runs use)
  iterations: number; // source iterations per pass of the machine loop (V8 may unroll)
  multiplyAdds: number; // FMA (relaxed) or mul + add pairs per iteration
  spills: number; // loop instructions that touch the stack frame
  instructions: string[]; // the loop's instructions
}

// V8's optimized machine code of the loop of peakModuleBytes(kind, chains), printed by a
// child process with --print-wasm-code (x64 only): the loop is the code from its backward
// branch's target to the branch.
export function loopMachineCode(kind: PeakKind, chains: number, node = process.execPath): LoopCode {
  const bytes = JSON.stringify([...peakModuleBytes(kind, chains)]);
  const script = `
    const v8 = require('node:v8');
    const major = Number(process.versions.node.split('.')[0]);
    if (${kind === 'relaxed'} && major < 22) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    const m = new WebAssembly.Module(new Uint8Array(${bytes}));
    const f = new WebAssembly.Instance(m).exports.peak;
    for (let i = 0; i < 50; i++) f(100000, 0.5);`;
  const r = spawnSync(node, ['--print-wasm-code', '--no-liftoff', '-e', script], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`--print-wasm-code failed: ${r.stderr.slice(0, 400)}`);
  const blocks = r.stdout.split('--- WebAssembly code ---').filter((b) => /compiler: TurboFan/.test(b));
  if (blocks.length === 0) throw new Error('no TurboFan code printed (this V8 may lack --print-wasm-code)');
  const lines = blocks[blocks.length - 1].split('\n')
    .map((l) => /^0x([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+(.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ address: parseInt(m[1], 16), text: m[2].trim() }));
  // the loop's back edge: the last conditional jump to an earlier address
  let end = -1, start = -1;
  for (let i = lines.length - 1; i >= 0 && end < 0; i--) {
    const target = /^j(?!mp)\w+\s+0x([0-9a-f]+)/.exec(lines[i].text);
    if (target && parseInt(target[1], 16) < lines[i].address) {
      end = i;
      start = lines.findIndex((l) => l.address === parseInt(target[1], 16));
    }
  }
  if (start < 0) throw new Error('no loop found in the optimized code');
  const loop = lines.slice(start, end + 1).map((l) => l.text);
  const fma = loop.filter((t) => /^vfmadd\d+ps/.test(t)).length;
  const mul = loop.filter((t) => /^v?mulps/.test(t)).length;
  const add = loop.filter((t) => /^v?addps/.test(t)).length;
  // V8 may unroll the loop: one loop-counter update per iteration in the body
  const iterations = Math.max(1, loop.filter((t) => /^(addl|subl|decl)\s/.test(t)).length);
  return {
    compiler: 'TurboFan',
    iterations,
    multiplyAdds: (kind === 'relaxed' ? fma : Math.min(mul, add)) / iterations,
    spills: loop.filter((t) => /\[(rbp|rsp)[^\]]*\]/.test(t) && /xmm/.test(t)).length,
    instructions: loop,
  };
}
