// Every forward kernel of both builds against the float64 reference, on odd shapes
// (not multiples of the SIMD width nor of the matmul tiles), plus the property the
// thread pool relies on: splitting a kernel's range gives bitwise the same result
// as one call, and a call writes nothing outside its range.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.ts';
import { TILES } from '../src/engine/wasm.ts';
import { dropoutMask } from '../src/ops/random.ts';
import { uniformGemmKernels, matmulForward, matmulBackwardInput, matmulBackwardWeights } from '../src/ops/matmul.ts';
import type { OpContext } from '../src/ops/context.ts';
import { kernelTable, callKernel, type Dispatch } from '../src/engine/kernel-table.ts';
import { elementsFor, tensorAt } from '../src/engine/tensor.ts';
import { withTestingKernels, type AllKernels } from './testing-kernels.ts';
import * as ref from './reference.ts';
import { BUILDS, Scope, expectBitwiseEqual, expectClose, toF32 } from './harness.ts';

// f32 kernels vs f64 reference on f32-representable inputs. Unit roundoff of f32 is
// 2^-24 ≈ 6e-8; 1e-5 allows ~170 ulps of accumulated rounding (sums over up to a few
// hundred terms, exp/log/sqrt), yet is far below the error of any indexing slip.
const RTOL = 1e-5;

// (M, K, N): rows, inner dimension, outputs. 130 > MC (128) and 257 > KC (256) cross
// cache blocks; 4103 > 2 NC (2048) crosses column blocks (the LM head of a large vocabulary);
// odd M and N leave partial 2-row and 16-column tiles.
// Every build with every matmul tile it ships: the testing build's one-call oracles use
// the default tile, so the staged products of another tile must equal them bitwise too.
const TILED_BUILDS = BUILDS.flatMap((build) => TILES[build].map((tile) => [build, tile] as const));

const MATMUL_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [37, 33, 19],
  [130, 257, 67],
  [3, 5, 4103],
  [6, 530, 300], // the column path: several K blocks, several column groups, edge panels
];

function splitPoint(n: number): number {
  return Math.min(n, Math.floor(n / 3) + 1);
}

describe.each(TILED_BUILDS)('%s kernels, matmul tile %s', (build, tile) => {
  let engine: Engine;
  let k: AllKernels; // shipped kernels and the testing build's oracles
  let scratch: number;
  let scope: Scope;
  beforeAll(() => {
    engine = new Engine({ kernels: build, tile });
    k = withTestingKernels(engine);
    scratch = engine.arena.alloc(k.gemmScratchBytes());
  });
  const begin = () => (scope = new Scope(engine));
  afterEach(() => scope?.release());

  describe.each(MATMUL_SHAPES)('matmul M=%i K=%i N=%i', (M, K, N) => {
    const rng = new ref.Rng(M * 1000003 + K * 1009 + N);
    const x = ref.randomArray(rng, M * K);
    const W = ref.randomArray(rng, N * K);
    const b = ref.randomArray(rng, N);
    const dy = ref.randomArray(rng, M * N);
    const r = splitPoint(M);
    const rN = splitPoint(N);

    it.each([true, false])('matmulForward (bias: %s) matches the reference; row ranges split exactly', (withBias) => {
      const s = begin();
      const xp = s.f32(x), wp = s.f32(W), bp = withBias ? s.f32(b) : 0;
      const out = s.nan(M * N);
      k.matmulForward(out, xp, wp, bp, M, K, N, 0, M, scratch);
      const full = s.readF32(out, M * N);
      expectClose(full, ref.matmulForward(x, W, withBias ? b : null, M, K, N), { rtol: RTOL }, 'y');

      const split = s.nan(M * N);
      const before = s.readF32(split, M * N);
      k.matmulForward(split, xp, wp, bp, M, K, N, 0, r, scratch);
      expectBitwiseEqual(s.readF32(split + 4 * r * N, (M - r) * N), before.subarray(r * N), 'rows past the range untouched');
      k.matmulForward(split, xp, wp, bp, M, K, N, r, M, scratch);
      expectBitwiseEqual(s.readF32(split, M * N), full, 'split rows');
    });

    it.each([0, 1])('matmulBackwardInput (accumulate: %i) matches the reference; row ranges split exactly', (accumulate) => {
      const s = begin();
      const dyp = s.f32(dy), wp = s.f32(W);
      const initial = ref.randomArray(rng, M * K);
      const dx = accumulate ? s.f32(initial) : s.nan(M * K);
      const dx2 = s.clone(dx, M * K);
      k.matmulBackwardInput(dx, dyp, wp, M, K, N, accumulate, 0, M, scratch);
      const full = s.readF32(dx, M * K);
      const want = ref.matmulBackwardInput(dy, W, M, K, N);
      expectClose(full, accumulate ? ref.add(initial, want) : want, { rtol: RTOL }, 'dx');

      const before = s.readF32(dx2, M * K);
      k.matmulBackwardInput(dx2, dyp, wp, M, K, N, accumulate, 0, r, scratch);
      expectBitwiseEqual(s.readF32(dx2 + 4 * r * K, (M - r) * K), before.subarray(r * K), 'rows past the range untouched');
      k.matmulBackwardInput(dx2, dyp, wp, M, K, N, accumulate, r, M, scratch);
      expectBitwiseEqual(s.readF32(dx2, M * K), full, 'split rows');
    });

    it('matmulBackwardWeights accumulates onto dW; output-feature ranges split exactly', () => {
      const s = begin();
      const dyp = s.f32(dy), xp = s.f32(x);
      const initial = ref.randomArray(rng, N * K);
      const dW = s.f32(initial);
      const dW2 = s.f32(initial);
      k.matmulBackwardWeights(dW, dyp, xp, M, K, N, 0, N, scratch);
      const full = s.readF32(dW, N * K);
      expectClose(full, ref.add(initial, ref.matmulBackwardWeights(dy, x, M, K, N)), { rtol: RTOL }, 'dW');

      k.matmulBackwardWeights(dW2, dyp, xp, M, K, N, 0, rN, scratch);
      expectBitwiseEqual(s.readF32(dW2 + 4 * rN * K, (N - rN) * K), toF32(initial.subarray(rN * K)), 'rows past the range untouched');
      k.matmulBackwardWeights(dW2, dyp, xp, M, K, N, rN, N, scratch);
      expectBitwiseEqual(s.readF32(dW2, N * K), full, 'split output features');
    });

    it('biasBackward accumulates onto db; output-feature ranges split exactly', () => {
      const s = begin();
      const dyp = s.f32(dy);
      const initial = ref.randomArray(rng, N);
      const db = s.f32(initial);
      const db2 = s.f32(initial);
      k.biasBackward(db, dyp, M, N, 0, N);
      const full = s.readF32(db, N);
      expectClose(full, ref.add(initial, ref.matmulBackwardBias(dy, M, N)), { rtol: RTOL }, 'db');

      k.biasBackward(db2, dyp, M, N, 0, rN);
      expectBitwiseEqual(s.readF32(db2 + 4 * rN, N - rN), toF32(initial.subarray(rN)), 'features past the range untouched');
      k.biasBackward(db2, dyp, M, N, rN, N);
      expectBitwiseEqual(s.readF32(db2, N), full, 'split output features');
    });
  });

  describe.each([
    [13, true],
    [13, false],
    [64, true],
    [64, false],
  ])('layernorm C=%i bias=%s', (C, withBias) => {
    it('layernormForward matches the reference; row ranges split exactly', () => {
      const s = begin();
      const rows = 7;
      const rng = new ref.Rng(C * 31 + (withBias ? 1 : 0));
      const x = ref.randomArray(rng, rows * C, 2, 0.5);
      const w = ref.randomArray(rng, C, 0.5, 1);
      const b = ref.randomArray(rng, C, 0.5);
      const want = ref.layernormForward(x, w, withBias ? b : null, rows, C);
      const xp = s.f32(x), wp = s.f32(w), bp = withBias ? s.f32(b) : 0;
      const run = (out: number, mean: number, rstd: number, r0: number, r1: number) =>
        k.layernormForward(out, mean, rstd, xp, wp, bp, C, r0, r1);
      const out = s.nan(rows * C), mean = s.nan(rows), rstd = s.nan(rows);
      run(out, mean, rstd, 0, rows);
      expectClose(s.read(out, rows * C), want.out, { rtol: RTOL }, 'out');
      expectClose(s.read(mean, rows), want.mean, { rtol: RTOL }, 'mean');
      expectClose(s.read(rstd, rows), want.rstd, { rtol: RTOL }, 'rstd');

      const out2 = s.nan(rows * C), mean2 = s.nan(rows), rstd2 = s.nan(rows);
      run(out2, mean2, rstd2, 0, 3);
      expect(Array.from(s.read(out2 + 4 * 3 * C, (rows - 3) * C)).every(Number.isNaN), 'rows past the range untouched').toBe(true);
      run(out2, mean2, rstd2, 3, rows);
      expectBitwiseEqual(s.readF32(out2, rows * C), s.readF32(out, rows * C), 'split out');
      expectBitwiseEqual(s.readF32(mean2, rows), s.readF32(mean, rows), 'split mean');
      expectBitwiseEqual(s.readF32(rstd2, rows), s.readF32(rstd, rows), 'split rstd');
    });
  });

  it('geluForward matches the reference, including the saturated tails', () => {
    const s = begin();
    const rng = new ref.Rng(7);
    const x = ref.randomArray(rng, 37, 2.5);
    x.set([0, -0, 1e-6, -1e-6, 15, -15, 20, -20, 40, -40].map(Math.fround), 27);
    const xp = s.f32(x);
    const out = s.nan(37);
    k.geluForward(out, xp, 0, 37);
    // per element, relative to max(|gelu(x)|, 1): the tanh form cancels near gelu = 0
    expectClose(s.read(out, 37), ref.geluForward(x), { rtol: RTOL, floor: 1 }, 'gelu');
    const out2 = s.nan(37);
    k.geluForward(out2, xp, 0, 11);
    k.geluForward(out2, xp, 11, 37);
    expectBitwiseEqual(s.readF32(out2, 37), s.readF32(out, 37), 'split');
  });

  it('swigluForward matches the reference, including the saturated tails; ranges split exactly', () => {
    const s = begin();
    const n = 45;
    const rng = new ref.Rng(11);
    const gate = ref.randomArray(rng, n, 3);
    gate.set([0, -0, 1e-6, -1e-6, 15, -15, 40, -40, 87, -87, 89, -89, 100, -100].map(Math.fround), 31);
    const up = ref.randomArray(rng, n);
    const gp = s.f32(gate), upp = s.f32(up);
    const out = s.nan(n);
    k.swigluForward(out, gp, upp, 0, n);
    expectClose(s.read(out, n), ref.swigluForward(gate, up), { rtol: RTOL, floor: 1 }, 'swiglu');
    const out2 = s.nan(n);
    k.swigluForward(out2, gp, upp, 0, 13);
    k.swigluForward(out2, gp, upp, 13, n);
    expectBitwiseEqual(s.readF32(out2, n), s.readF32(out, n), 'split');
  });

  describe.each([
    [2, 7, 12, 3],
    [1, 9, 20, 4],
  ])('attention B=%i T=%i C=%i H=%i', (B, T, C, H) => {
    const rng = new ref.Rng(B * 100 + T * 10 + C + H);
    const qkv = ref.randomArray(rng, B * T * 3 * C);

    it('attentionForward matches the reference (out and att); (batch, head) ranges split exactly', () => {
      const s = begin();
      const want = ref.attentionForward(qkv, B, T, C, H);
      const qp = s.f32(qkv);
      const out = s.nan(B * T * C), att = s.nan(B * H * T * T);
      k.attentionForward(out, att, qp, B, T, C, H, 0, 0, 1, 0, B * H);
      expectClose(s.read(out, B * T * C), want.out, { rtol: RTOL }, 'out');
      expectClose(s.read(att, B * H * T * T), want.att, { rtol: RTOL }, 'att');

      const out2 = s.nan(B * T * C), att2 = s.nan(B * H * T * T);
      for (let bh = 0; bh < B * H; bh++) k.attentionForward(out2, att2, qp, B, T, C, H, 0, 0, 1, bh, bh + 1);
      expectBitwiseEqual(s.readF32(out2, B * T * C), s.readF32(out, B * T * C), 'split out');
      expectBitwiseEqual(s.readF32(att2, B * H * T * T), s.readF32(att, B * H * T * T), 'split att');
    });

    it('attentionForward with dropout on the probabilities matches the reference mask', () => {
      const s = begin();
      const mask = dropoutMask(0.3, 99, 4, 2);
      const want = ref.attentionForward(qkv, B, T, C, H, mask);
      const out = s.nan(B * T * C), att = s.nan(B * H * T * T);
      k.attentionForward(out, att, s.f32(qkv), B, T, C, H, mask.key, mask.threshold, mask.scale, 0, B * H);
      expectClose(s.read(out, B * T * C), want.out, { rtol: RTOL }, 'out');
      expectClose(s.read(att, B * H * T * T), want.att, { rtol: RTOL }, 'att (saved before dropout)');
    });
  });

  it.each([65, 3])('crossEntropyForward V=%i matches the reference', (V) => {
    const s = begin();
    const rows = 7;
    const rng = new ref.Rng(V);
    const logits = ref.randomArray(rng, rows * V, 3);
    const targets = ref.randomInts(rng, rows, V);
    targets[0] = 0;
    targets[rows - 1] = V - 1;
    const lp = s.f32(logits), tp = s.i32(targets);
    const losses = s.nan(rows);
    k.crossEntropyForward(losses, lp, tp, V, 0, rows);
    expectClose(s.read(losses, rows), ref.crossEntropyLosses(logits, targets, rows, V), { rtol: RTOL }, 'losses');
    const losses2 = s.nan(rows);
    k.crossEntropyForward(losses2, lp, tp, V, 0, 2);
    expect(Array.from(s.read(losses2 + 8, rows - 2)).every(Number.isNaN), 'rows past the range untouched').toBe(true);
    k.crossEntropyForward(losses2, lp, tp, V, 2, rows);
    expectBitwiseEqual(s.readF32(losses2, rows), s.readF32(losses, rows), 'split');
  });

  it('crossEntropyForward is stable for large logits', () => {
    const s = begin();
    const logits = [1000, 990, -1000, 80, 88, 89].map(Math.fround);
    const targets = [1, 0];
    const losses = s.nan(2);
    k.crossEntropyForward(losses, s.f32(logits), s.i32(targets), 3, 0, 2);
    expectClose(s.read(losses, 2), ref.crossEntropyLosses(logits, targets, 2, 3), { rtol: RTOL }, 'losses');
  });

  it('embeddingForward equals wte[id] + wpe[t] (exactly rounded); row ranges split exactly', () => {
    const s = begin();
    const B = 3, T = 5, C = 13, V = 7, maxT = 6;
    const rows = B * T;
    const rng = new ref.Rng(5);
    const wte = ref.randomArray(rng, V * C);
    const wpe = ref.randomArray(rng, maxT * C);
    const ids = ref.randomInts(rng, rows, V);
    ids[3] = ids[7] = ids[11] = 6; // repeated ids, the last vocabulary row
    const idp = s.i32(ids), ep = s.f32(wte), pp = s.f32(wpe);
    const out = s.nan(rows * C);
    k.embeddingForward(out, idp, ep, pp, T, C, 0, rows);
    // one f32 addition per element: exactly the f64 sum rounded to f32
    expectBitwiseEqual(s.readF32(out, rows * C), toF32(ref.embeddingForward(ids, wte, wpe, rows, T, C)), 'embedding');
    const out2 = s.nan(rows * C);
    k.embeddingForward(out2, idp, ep, pp, T, C, 0, 4);
    k.embeddingForward(out2, idp, ep, pp, T, C, 4, rows);
    expectBitwiseEqual(s.readF32(out2, rows * C), s.readF32(out, rows * C), 'split');
  });

  it('zeroFill writes +0 in its range and nothing outside it', () => {
    const s = begin();
    const n = 37;
    const out = s.nan(n);
    k.zeroFill(out, 3, 22);
    const got = s.readF32(out, n);
    for (let i = 0; i < n; i++) {
      if (i >= 3 && i < 22) expect(Object.is(got[i], 0), `element ${i}`).toBe(true);
      else expect(Number.isNaN(got[i]), `element ${i} outside the range`).toBe(true);
    }
  });

  it('residualForward equals a + b (exactly rounded), over sub-ranges too', () => {
    const s = begin();
    const n = 37;
    const rng = new ref.Rng(11);
    const a = ref.randomArray(rng, n), b = ref.randomArray(rng, n);
    const ap = s.f32(a), bp = s.f32(b);
    const out = s.nan(n);
    k.residualForward(out, ap, bp, 0, n);
    expectBitwiseEqual(s.readF32(out, n), toF32(ref.add(a, b)), 'a + b');
    const out2 = s.nan(n);
    k.residualForward(out2, ap, bp, 3, 22);
    expect(Number.isNaN(s.read(out2, n)[2]) && Number.isNaN(s.read(out2, n)[22]), 'outside the range untouched').toBe(true);
    k.residualForward(out2, ap, bp, 0, 3);
    k.residualForward(out2, ap, bp, 22, n);
    expectBitwiseEqual(s.readF32(out2, n), s.readF32(out, n), 'split');
  });

  describe('AdamW', () => {
    const n = 37;
    const rng = new ref.Rng(21);
    const p0 = ref.randomArray(rng, n);
    const g = ref.randomArray(rng, n, 0.3);
    const m0 = ref.randomArray(rng, n, 0.05);
    const v0 = Float64Array.from(ref.randomArray(rng, n, 0.1), (x) => Math.fround(x * x));
    const f = Math.fround;
    const t = 3;
    // the kernel takes f32 hyperparameters: the reference uses the same rounded values
    const h: ref.AdamWHyper = {
      lr: f(0.1), beta1: f(0.9), beta2: f(0.95), eps: f(1e-8), weightDecay: f(0.1), gradScale: f(0.5),
      bc1: f(1 - 0.9 ** t), bc2: f(1 - 0.95 ** t),
    };
    const call = (k: AllKernels, p: number, gp: number, m: number, v: number, start: number, end: number) =>
      k.adamw(p, gp, m, v, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.gradScale, h.bc1, h.bc2, start, end);

    it('adamw matches the reference AdamW step (params, m, v)', () => {
      const s = begin();
      const p = s.f32(p0), gp = s.f32(g), m = s.f32(m0), v = s.f32(v0);
      call(k, p, gp, m, v, 0, n);
      const pr = Float64Array.from(p0), mr = Float64Array.from(m0), vr = Float64Array.from(v0);
      ref.adamwStep(pr, g, mr, vr, h);
      expectClose(s.read(m, n), mr, { rtol: RTOL }, 'm');
      expectClose(s.read(v, n), vr, { rtol: RTOL }, 'v');
      // the update itself, not just the parameter it is added to
      const got = s.read(p, n).map((x, i) => x - p0[i]);
      const want = pr.map((x, i) => x - p0[i]);
      expectClose(got, want, { rtol: 1e-4 }, 'update (f32 rounding of p ~1 vs update ~0.1: 1e-4)');
    });

    it('adamw over [0, r) + [r, n) equals one call bitwise (SIMD body vs scalar tail agree)', () => {
      const s = begin();
      const p = s.f32(p0), gp = s.f32(g), m = s.f32(m0), v = s.f32(v0);
      const p2 = s.f32(p0), m2 = s.f32(m0), v2 = s.f32(v0);
      call(k, p, gp, m, v, 0, n);
      call(k, p2, gp, m2, v2, 0, 13);
      call(k, p2, gp, m2, v2, 13, n);
      expectBitwiseEqual(s.readF32(p2, n), s.readF32(p, n), 'params');
      expectBitwiseEqual(s.readF32(m2, n), s.readF32(m, n), 'm');
      expectBitwiseEqual(s.readF32(v2, n), s.readF32(v, n), 'v');
    });
  });

  it.each([5, 16])('sumSquaresChunks chunk=%i matches the reference; chunk ranges split exactly', (chunk) => {
    const s = begin();
    const n = 37;
    const x = ref.randomArray(new ref.Rng(chunk), n, 3);
    const chunks = Math.ceil(n / chunk);
    const xp = s.f32(x);
    const partials = s.f64(chunks);
    k.sumSquaresChunks(partials, xp, n, chunk, 0, chunks);
    const got = s.viewF64(partials, chunks).slice();
    expectClose(got, ref.sumSquaresChunks(x, chunk), { rtol: RTOL, floor: 0 }, 'partials');
    const partials2 = s.f64(chunks);
    k.sumSquaresChunks(partials2, xp, n, chunk, 0, 1);
    k.sumSquaresChunks(partials2, xp, n, chunk, 1, chunks);
    expectBitwiseEqual(s.viewF64(partials2, chunks).slice(), got, 'split');
  });

  describe('dropout', () => {
    const n = 10007;
    const rng = new ref.Rng(77);
    const x = ref.randomArray(rng, n, 1, 3); // nonzero, so a zero output means dropped
    const mask = dropoutMask(0.5, 1234, 0, 0);
    const other = dropoutMask(0.5, 1234, 1, 0);

    const keptOf = (y: Float32Array) => Array.from(y, (v) => v !== 0);

    it('p=0.5 keeps about half, scales kept elements by exactly 2, and follows the keep rule', () => {
      const s = begin();
      expect(mask.threshold).toBe(2 ** 31);
      expect(mask.scale).toBe(2);
      const out = s.nan(n);
      k.dropout(out, s.f32(x), mask.key, mask.threshold, mask.scale, 0, n);
      const y = s.readF32(out, n);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const keep = ref.keepElement(mask.key, i, mask.threshold);
        if (keep) kept++;
        if (y[i] !== (keep ? Math.fround(2 * x[i]) : 0)) expect.fail(`element ${i}: got ${y[i]}, x = ${x[i]}, keep = ${keep}`);
      }
      // binomial(n, 1/2): standard deviation sqrt(n)/2 ≈ 50
      expect(Math.abs(kept - n / 2)).toBeLessThan(5 * Math.sqrt(n) / 2);
    });

    it('p=0.1 keeps about 90% and scales by 1/0.9', () => {
      const s = begin();
      const m = dropoutMask(0.1, 5, 0, 3);
      const out = s.nan(n);
      k.dropout(out, s.f32(x), m.key, m.threshold, m.scale, 0, n);
      const y = s.readF32(out, n);
      const kept = keptOf(y).filter(Boolean).length;
      expect(Math.abs(kept - 0.9 * n)).toBeLessThan(5 * Math.sqrt(n * 0.09));
      const i = y.findIndex((v) => v !== 0);
      expect(y[i]).toBe(Math.fround(x[i] * Math.fround(m.scale)));
    });

    it('[0, r) + [r, n) gives the same mask as [0, n); in place works; other keys give other masks', () => {
      const s = begin();
      const xp = s.f32(x);
      const full = s.nan(n), split = s.nan(n);
      k.dropout(full, xp, mask.key, mask.threshold, mask.scale, 0, n);
      k.dropout(split, xp, mask.key, mask.threshold, mask.scale, 0, 4099);
      k.dropout(split, xp, mask.key, mask.threshold, mask.scale, 4099, n);
      expectBitwiseEqual(s.readF32(split, n), s.readF32(full, n), 'split');
      const inPlace = s.f32(x);
      k.dropout(inPlace, inPlace, mask.key, mask.threshold, mask.scale, 0, n);
      expectBitwiseEqual(s.readF32(inPlace, n), s.readF32(full, n), 'in place');

      const out2 = s.nan(n);
      k.dropout(out2, xp, other.key, other.threshold, other.scale, 0, n);
      const a = keptOf(s.readF32(full, n)), b = keptOf(s.readF32(out2, n));
      const differ = a.filter((v, i) => v !== b[i]).length;
      expect(differ / n).toBeGreaterThan(0.4); // independent masks differ in ~half the places
      expect(differ / n).toBeLessThan(0.6);
    });

    it('residualDropoutForward equals a + dropout(b) with the same mask', () => {
      const s = begin();
      const a = ref.randomArray(rng, n);
      const out = s.nan(n), dropped = s.nan(n);
      const ap = s.f32(a), bp = s.f32(x);
      k.residualDropoutForward(out, ap, bp, mask.key, mask.threshold, mask.scale, 0, 5000);
      k.residualDropoutForward(out, ap, bp, mask.key, mask.threshold, mask.scale, 5000, n);
      k.dropout(dropped, bp, mask.key, mask.threshold, mask.scale, 0, n);
      expectBitwiseEqual(s.readF32(out, n), toF32(ref.add(a, s.read(dropped, n))), 'a + dropout(b)');
    });
  });
});

// ---------------------------------------------------------------- fused and blocked kernels

// Each replaces a sequence of existing calls; where the fused kernel promises the same
// bits as that sequence, the test holds it to exactly that.
describe.each(TILED_BUILDS)('%s fused and blocked kernels, matmul tile %s', (build, tile) => {
  let engine: Engine;
  let k: AllKernels; // shipped kernels and the testing build's oracles
  let scratch: number;
  let scope: Scope;
  beforeAll(() => {
    engine = new Engine({ kernels: build, tile });
    k = withTestingKernels(engine);
    scratch = engine.arena.alloc(k.gemmScratchBytes());
  });
  const begin = () => (scope = new Scope(engine));
  afterEach(() => scope?.release());

  describe.each(MATMUL_SHAPES)('M=%i K=%i N=%i', (M, K, N) => {
    const rng = new ref.Rng(M * 7919 + K * 31 + N + 5);
    const x = ref.randomArray(rng, M * K, 1.5);
    const W = ref.randomArray(rng, N * K);
    const b = ref.randomArray(rng, N);
    const dy = ref.randomArray(rng, M * N);
    const r = splitPoint(M);
    const rN = splitPoint(N);

    it.each([true, false])('matvecForward (bias: %s) matches the reference; feature ranges split exactly', (withBias) => {
      const s = begin();
      const xp = s.f32(x), wp = s.f32(W), bp = withBias ? s.f32(b) : 0;
      const out = s.nan(M * N);
      k.matvecForward(out, xp, wp, bp, M, K, N, 0, N);
      const full = s.readF32(out, M * N);
      expectClose(full, ref.matmulForward(x, W, withBias ? b : null, M, K, N), { rtol: RTOL }, 'y');
      const split = s.nan(M * N);
      k.matvecForward(split, xp, wp, bp, M, K, N, rN, N);
      k.matvecForward(split, xp, wp, bp, M, K, N, 0, rN);
      expectBitwiseEqual(s.readF32(split, M * N), full, 'split features');
    });

    it('matmulBackwardWeightsBias: dW bitwise as matmulBackwardWeights, db matches the reference; feature ranges split exactly', () => {
      const s = begin();
      const dyp = s.f32(dy), xp = s.f32(x);
      const dW0 = ref.randomArray(rng, N * K), db0 = ref.randomArray(rng, N);
      const dWa = s.f32(dW0), dWb = s.f32(dW0), dWc = s.f32(dW0), db = s.f32(db0), dbc = s.f32(db0);
      k.matmulBackwardWeightsBias(dWa, db, dyp, xp, M, K, N, 0, N, scratch);
      k.matmulBackwardWeights(dWb, dyp, xp, M, K, N, 0, N, scratch);
      expectBitwiseEqual(s.readF32(dWa, N * K), s.readF32(dWb, N * K), 'dW as matmulBackwardWeights');
      expectClose(s.read(db, N), ref.add(db0, ref.matmulBackwardBias(dy, M, N)), { rtol: RTOL }, 'db');

      k.matmulBackwardWeightsBias(dWc, dbc, dyp, xp, M, K, N, 0, rN, scratch);
      expectBitwiseEqual(s.readF32(dbc + 4 * rN, N - rN), toF32(db0.subarray(rN)), 'db past the range untouched');
      k.matmulBackwardWeightsBias(dWc, dbc, dyp, xp, M, K, N, rN, N, scratch);
      expectBitwiseEqual(s.readF32(dWc, N * K), s.readF32(dWa, N * K), 'split dW');
      expectBitwiseEqual(s.readF32(dbc, N), s.readF32(db, N), 'split db');
    });

    // What the thread pool does with a Linear: the matmul ops (src/ops/matmul.ts) with
    // every range cut into random pieces run in random order. Must equal the one-call
    // kernels of the testing build bitwise.
    // packed span: as planned for the model (several K blocks per step), or one K block per step
    it.each([[true, 'model'], [false, 'model'], [true, 'one K block']])('a Linear through the matmul ops (bias: %s, packed span: %s) equals the one-call kernels bitwise, however cut', (withBias, span) => {
      const s = begin();
      const cut = new ref.Rng(M + K + N + (withBias ? 1 : 0));
      const run: Dispatch = (name, fixed, start, end, _grain, threadScratch) => {
        const pieces: [number, number][] = [];
        for (let a = start; a < end;) {
          const b = Math.min(end, a + 1 + cut.int(Math.max(1, Math.ceil((end - start) / 2))));
          pieces.push([a, b]);
          a = b;
        }
        for (let i = pieces.length - 1; i > 0; i--) {
          const j = cut.int(i + 1);
          [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
        }
        const fn = k[name] as unknown as (...a: number[]) => unknown;
        const fixedArgs = fixed as readonly number[];
        for (const [a, b] of pieces) callKernel(fn, kernelTable[name], fixedArgs, fixedArgs.length, a, b, threadScratch?.base ?? 0);
      };
      const packedFloats = span === 'model' ? elementsFor('f32', k.gemmPackedBBytes()) : k.gemmBlockK() * k.gemmBlockN();
      const ctx: OpContext = {
        run,
        memory: engine.memory,
        threadScratch: { base: scratch, stride: 0 },
        matmul: { packedB: tensorAt(s.nan(packedFloats), [packedFloats], 'f32'), packedA: tensorAt(s.nan(packedFloats), [packedFloats], 'f32'), classes: uniformGemmKernels(k) },
        layernorm: { partials: tensorAt(0, [0, 0], 'f32') },
      };
      const t = (off: number, shape: number[]) => tensorAt(off, shape, 'f32');
      const dW0 = ref.randomArray(rng, N * K), db0 = ref.randomArray(rng, N), dx0 = ref.randomArray(rng, M * K);
      const xp = s.f32(x), dyp = s.f32(dy), wp = s.f32(W), bp = withBias ? s.f32(b) : 0;
      const inp = t(xp, [M, K]), dout = t(dyp, [M, N]), weight = t(wp, [N, K]), bias = withBias ? t(bp, [N]) : null;
      const y = s.nan(M * N), y1 = s.nan(M * N);
      matmulForward(ctx, { out: t(y, [M, N]), inp, weight, bias });
      k.matmulForward(y1, xp, wp, bp, M, K, N, 0, M, scratch);
      expectBitwiseEqual(s.readF32(y, M * N), s.readF32(y1, M * N), 'y');
      // GELU in the epilogue: the same y, and gelu(y) as geluForward gives it
      const yg = s.nan(M * N), g = s.nan(M * N), g1 = s.nan(M * N);
      matmulForward(ctx, { out: t(yg, [M, N]), inp, weight, bias, gelu: t(g, [M, N]) });
      k.geluForward(g1, y1, 0, M * N);
      expectBitwiseEqual(s.readF32(yg, M * N), s.readF32(y1, M * N), 'y beside the GELU epilogue');
      expectBitwiseEqual(s.readF32(g, M * N), s.readF32(g1, M * N), 'gelu(y) in the epilogue');

      const dW = s.f32(dW0), db = withBias ? s.f32(db0) : 0, dW1 = s.f32(dW0), db1 = s.f32(db0);
      matmulBackwardWeights(ctx, { dweight: t(dW, [N, K]), dbias: withBias ? t(db, [N]) : null, dout, inp });
      if (withBias) k.matmulBackwardWeightsBias(dW1, db1, dyp, xp, M, K, N, 0, N, scratch);
      else k.matmulBackwardWeights(dW1, dyp, xp, M, K, N, 0, N, scratch);
      expectBitwiseEqual(s.readF32(dW, N * K), s.readF32(dW1, N * K), 'dW');
      if (withBias) expectBitwiseEqual(s.readF32(db, N), s.readF32(db1, N), 'db');

      for (const accumulate of [true, false]) {
        const dx = accumulate ? s.f32(dx0) : s.nan(M * K), dx1 = accumulate ? s.f32(dx0) : s.nan(M * K);
        matmulBackwardInput(ctx, { dinp: t(dx, [M, K]), dout, weight, accumulate });
        k.matmulBackwardInput(dx1, dyp, wp, M, K, N, accumulate ? 1 : 0, 0, M, scratch);
        expectBitwiseEqual(s.readF32(dx, M * K), s.readF32(dx1, M * K), accumulate ? 'dx accumulated' : 'dx');
        if (accumulate) continue;
        // GELU's backward in the epilogue: gelu'(pre) dx, as geluBackward gives it
        const pre = s.f32(ref.randomArray(rng, M * K, 2)), dxg = s.nan(M * K), dxg1 = s.nan(M * K);
        matmulBackwardInput(ctx, { dinp: t(dxg, [M, K]), dout, weight, accumulate: false, geluInput: t(pre, [M, K]) });
        k.geluBackward(dxg1, pre, dx1, 0, M * K);
        expectBitwiseEqual(s.readF32(dxg, M * K), s.readF32(dxg1, M * K), 'gelu\'(pre) dx in the epilogue');
      }
    });

    // A bf16 or fp16 B (the weights' 16-bit copy, or a 16-bit activation in dW = dout^T x)
    // is converted while packed: the same bits as the f32 path given B rounded first.
    it.each(['bf16', 'f16'] as const)('a %s B through the matmul ops: the f32 path\'s bits with B rounded to 16 bits', (format) => {
      const s = begin();
      const run: Dispatch = (name, fixed, start, end, _grain, threadScratch) => {
        const fixedArgs = fixed as readonly number[];
        callKernel(k[name] as unknown as (...a: number[]) => unknown, kernelTable[name], fixedArgs, fixedArgs.length, start, end, threadScratch?.base ?? 0);
      };
      const packedFloats = elementsFor('f32', k.gemmPackedBBytes());
      const ctx: OpContext = {
        run, memory: engine.memory, threadScratch: { base: scratch, stride: 0 },
        matmul: { packedB: tensorAt(s.nan(packedFloats), [packedFloats], 'f32'), packedA: tensorAt(s.nan(packedFloats), [packedFloats], 'f32'), classes: uniformGemmKernels(k) },
        layernorm: { partials: tensorAt(0, [0, 0], 'f32') },
      };
      const t = (off: number, shape: number[]) => tensorAt(off, shape, 'f32');
      // v as 16 bits (h) and as the f32 values of those bits (r)
      const as16 = (v: Float64Array) => {
        const f = s.f32(v), h = engine.arena.alloc(Math.max(2 * v.length, 16)), r = s.nan(v.length);
        if (format === 'bf16') { k.f32ToBf16(h, f, 0, v.length); k.bf16ToF32(r, h, 0, v.length); } else { k.f32ToF16(h, f, 0, v.length); k.f16ToF32(r, h, 0, v.length); }
        return { h, r };
      };
      const W16 = as16(W), x16 = as16(x);
      const xp = s.f32(x), dyp = s.f32(dy);
      const inp = t(xp, [M, K]), dout = t(dyp, [M, N]);
      const y = s.nan(M * N), y1 = s.nan(M * N);
      matmulForward(ctx, { out: t(y, [M, N]), inp, weight: tensorAt(W16.h, [N, K], format), bias: null });
      matmulForward(ctx, { out: t(y1, [M, N]), inp, weight: t(W16.r, [N, K]), bias: null });
      expectBitwiseEqual(s.readF32(y, M * N), s.readF32(y1, M * N), 'y');
      const dx = s.nan(M * K), dx1 = s.nan(M * K);
      matmulBackwardInput(ctx, { dinp: t(dx, [M, K]), dout, weight: tensorAt(W16.h, [N, K], format), accumulate: false });
      matmulBackwardInput(ctx, { dinp: t(dx1, [M, K]), dout, weight: t(W16.r, [N, K]), accumulate: false });
      expectBitwiseEqual(s.readF32(dx, M * K), s.readF32(dx1, M * K), 'dx');
      const dW = s.zeros(N * K), dW1 = s.zeros(N * K);
      matmulBackwardWeights(ctx, { dweight: t(dW, [N, K]), dbias: null, dout, inp: tensorAt(x16.h, [M, K], format) });
      matmulBackwardWeights(ctx, { dweight: t(dW1, [N, K]), dbias: null, dout, inp: t(x16.r, [M, K]) });
      expectBitwiseEqual(s.readF32(dW, N * K), s.readF32(dW1, N * K), 'dW');
      // and the rounding really happened (the 16-bit values differ from the f32 ones)
      expect(Array.from(s.read(W16.r, N * K)).some((v, i) => v !== Math.fround(W[i]))).toBe(true);
    });

    it('the matmul ops check their operands\' shapes', () => {
      const s = begin();
      const ctx = { run: () => { throw new Error('no kernel may run'); } } as unknown as OpContext;
      const t = (shape: number[]) => tensorAt(s.nan(shape.reduce((a, b) => a * b, 1)), shape, 'f32');
      const inp = t([M, K]), weight = t([N, K]);
      expect(() => matmulForward(ctx, { out: t([M, N + 1]), inp, weight, bias: null })).toThrow(/matmulForward: out is f32\[.*\], expected f32\[/);
      expect(() => matmulForward(ctx, { out: t([M, N]), inp, weight: t([N, K + 1]), bias: null })).toThrow(/matmulForward: weight/);
      expect(() => matmulForward(ctx, { out: t([M, N]), inp, weight, bias: t([N + 1]) })).toThrow(/matmulForward: bias/);
      expect(() => matmulBackwardWeights(ctx, { dweight: t([N + 1, K]), dbias: null, dout: t([M, N]), inp })).toThrow(/matmulBackwardWeights/);
      expect(() => matmulForward(ctx, { out: t([M, N]), inp: tensorAt(0, [M, K], 'i32'), weight, bias: null })).toThrow(/inp is i32/);
    });

    it.each([true, false])('matmulForwardGelu (bias: %s) equals matmulForward then geluForward bitwise; rows split exactly', (withBias) => {
      const s = begin();
      const xp = s.f32(x), wp = s.f32(W), bp = withBias ? s.f32(b) : 0;
      const pre = s.nan(M * N), out = s.nan(M * N), pre2 = s.nan(M * N), out2 = s.nan(M * N);
      k.matmulForwardGelu(out, pre, xp, wp, bp, M, K, N, 0, M, scratch);
      k.matmulForward(pre2, xp, wp, bp, M, K, N, 0, M, scratch);
      k.geluForward(out2, pre2, 0, M * N);
      expectBitwiseEqual(s.readF32(pre, M * N), s.readF32(pre2, M * N), 'pre');
      expectBitwiseEqual(s.readF32(out, M * N), s.readF32(out2, M * N), 'out');
      const want = ref.geluForward(ref.matmulForward(x, W, withBias ? b : null, M, K, N));
      expectClose(s.read(out, M * N), want, { rtol: RTOL }, 'gelu(x W^T + b) vs reference');

      const pre3 = s.nan(M * N), out3 = s.nan(M * N);
      k.matmulForwardGelu(out3, pre3, xp, wp, bp, M, K, N, 0, r, scratch);
      expect(Array.from(s.read(out3 + 4 * r * N, (M - r) * N)).every(Number.isNaN), 'rows past the range untouched').toBe(true);
      k.matmulForwardGelu(out3, pre3, xp, wp, bp, M, K, N, r, M, scratch);
      expectBitwiseEqual(s.readF32(out3, M * N), s.readF32(out, M * N), 'split out');
      expectBitwiseEqual(s.readF32(pre3, M * N), s.readF32(pre, M * N), 'split pre');
    });

    it('matmulBackwardInputGelu equals matmulBackwardInput then geluBackward bitwise; rows split exactly', () => {
      // c_proj [N -> K] after a GELU over pre [M, N]: dpre = (dout [M, K] W [K, N]) * gelu'(pre)
      const s = begin();
      const dout = ref.randomArray(rng, M * K);
      const pre = ref.randomArray(rng, M * N, 2);
      const Wp = ref.randomArray(rng, K * N);
      const dp = s.f32(dout), pp = s.f32(pre), wp = s.f32(Wp);
      const d1 = s.nan(M * N), d2 = s.nan(M * N), d3 = s.nan(M * N);
      k.matmulBackwardInputGelu(d1, dp, wp, pp, M, N, K, 0, M, scratch);
      k.matmulBackwardInput(d2, dp, wp, M, N, K, 0, 0, M, scratch);
      k.geluBackward(d2, pp, d2, 0, M * N);
      expectBitwiseEqual(s.readF32(d1, M * N), s.readF32(d2, M * N), 'dpre');
      k.matmulBackwardInputGelu(d3, dp, wp, pp, M, N, K, 0, r, scratch);
      expect(Array.from(s.read(d3 + 4 * r * N, (M - r) * N)).every(Number.isNaN), 'rows past the range untouched').toBe(true);
      k.matmulBackwardInputGelu(d3, dp, wp, pp, M, N, K, r, M, scratch);
      expectBitwiseEqual(s.readF32(d3, M * N), s.readF32(d1, M * N), 'split');
    });
  });

  describe.each([
    [13, true],
    [64, false],
  ])('residualLayernormForward C=%i bias=%s', (C, withBias) => {
    const rows = 7;
    const rng = new ref.Rng(C * 17 + (withBias ? 1 : 0));
    const a = ref.randomArray(rng, rows * C, 2, 0.5);
    const b = ref.randomArray(rng, rows * C);
    const w = ref.randomArray(rng, C, 0.5, 1);
    const bias = ref.randomArray(rng, C, 0.5);

    it.each([0, 0.25])('equals residual(Dropout)Forward then layernormForward bitwise (dropout %s); rows split exactly', (p) => {
      const s = begin();
      const mask = p > 0 ? dropoutMask(p, 5, 6, 7) : { key: 0, threshold: 0, scale: 1 };
      const ap = s.f32(a), bp = s.f32(b), wp = s.f32(w), biasp = withBias ? s.f32(bias) : 0;
      const n = rows * C;
      const res = s.nan(n), out = s.nan(n), mean = s.nan(rows), rstd = s.nan(rows);
      k.residualLayernormForward(res, out, mean, rstd, ap, bp, wp, biasp, mask.key, mask.threshold, mask.scale, C, 0, rows);
      const res2 = s.nan(n), out2 = s.nan(n), mean2 = s.nan(rows), rstd2 = s.nan(rows);
      if (mask.threshold) k.residualDropoutForward(res2, ap, bp, mask.key, mask.threshold, mask.scale, 0, n);
      else k.residualForward(res2, ap, bp, 0, n);
      k.layernormForward(out2, mean2, rstd2, res2, wp, biasp, C, 0, rows);
      for (const [x, y, m, label] of [[res, res2, n, 'res'], [out, out2, n, 'out'], [mean, mean2, rows, 'mean'], [rstd, rstd2, rows, 'rstd']] as const) {
        expectBitwiseEqual(s.readF32(x, m), s.readF32(y, m), label);
      }
      const want = ref.layernormForward(ref.add(a, ref.dropoutForward(b, mask)), w, withBias ? bias : null, rows, C);
      expectClose(s.read(out, n), want.out, { rtol: RTOL }, 'out vs reference');

      const res3 = s.nan(n), out3 = s.nan(n), mean3 = s.nan(rows), rstd3 = s.nan(rows);
      k.residualLayernormForward(res3, out3, mean3, rstd3, ap, bp, wp, biasp, mask.key, mask.threshold, mask.scale, C, 0, 3);
      expect(Array.from(s.read(out3 + 4 * 3 * C, (rows - 3) * C)).every(Number.isNaN), 'rows past the range untouched').toBe(true);
      k.residualLayernormForward(res3, out3, mean3, rstd3, ap, bp, wp, biasp, mask.key, mask.threshold, mask.scale, C, 3, rows);
      expectBitwiseEqual(s.readF32(out3, n), s.readF32(out, n), 'split out');
      expectBitwiseEqual(s.readF32(res3, n), s.readF32(res, n), 'split res');
    });
  });

  // T = 70 and 67 cross the 64-row query block; hs = 12, 34 are not multiples of the
  // 16-column tile; T = 9, 67 are odd (a partial 2-row panel).
  describe.each([
    [2, 7, 12, 3],
    [1, 9, 20, 4],
    [1, 70, 24, 2],
    [2, 67, 34, 1],
  ])('attention (lse) B=%i T=%i C=%i H=%i', (B, T, C, H) => {
    const rng = new ref.Rng(B * 100 + T * 10 + C + H + 3);
    const qkv = ref.randomArray(rng, B * T * 3 * C);

    it.each([0, 0.3])('attentionForwardLse (dropout %s) matches the reference (out, lse); (batch, head) ranges split exactly', (p) => {
      const s = begin();
      const mask = p > 0 ? dropoutMask(p, 99, 4, 2) : null;
      const want = ref.attentionForward(qkv, B, T, C, H, mask);
      const qp = s.f32(qkv);
      const ws = s.zeros(k.attentionScratchBytes(T, C / H) / 4);
      const out = s.nan(B * T * C), lse = s.nan(B * H * T);
      const [key, threshold, scale] = mask ? [mask.key, mask.threshold, mask.scale] : [0, 0, 1];
      k.attentionForwardLse(out, lse, qp, B, T, C, H, key, threshold, scale, ws, 0, B * H);
      expectClose(s.read(out, B * T * C), want.out, { rtol: RTOL }, 'out');
      expectClose(s.read(lse, B * H * T), ref.attentionLse(qkv, B, T, C, H), { rtol: RTOL }, 'lse');

      const out2 = s.nan(B * T * C), lse2 = s.nan(B * H * T);
      for (let bh = B * H - 1; bh >= 0; bh--) k.attentionForwardLse(out2, lse2, qp, B, T, C, H, key, threshold, scale, ws, bh, bh + 1);
      expectBitwiseEqual(s.readF32(out2, B * T * C), s.readF32(out, B * T * C), 'split out');
      expectBitwiseEqual(s.readF32(lse2, B * H * T), s.readF32(lse, B * H * T), 'split lse');
    });
  });
});
