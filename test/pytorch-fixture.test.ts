// The whole model against PyTorch, in the manner of llm.c's test_gpt2.c: the fixture
// (written once by test/fixtures/make_gpt2_fixture.py with torch, float32) holds a tiny
// GPT-2's weights, one batch, and torch's logits, loss, every parameter's gradient and
// five AdamW steps with clipping. Our model loads the same weights by name and must
// reproduce all of it. Unlike test/gradients.test.ts (our own f64 reference), this
// checks our reading of GPT-2 itself against an implementation we did not write. A
// second fixture does the same with a SwiGLU MLP.
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import type { GPTConfig } from '../src/model/config.ts';
import { AdamW, type AdamWConfig } from '../src/train/optimizer.ts';
import { BUILDS, relativeError } from './harness.ts';
import { readFileSync } from 'node:fs';
import { decodeSafetensors, f32Values } from '../src/io/safetensors.ts';

// GPT-2 as it is, and with a SwiGLU MLP (hidden 45)
const FIXTURES = ['gpt2-tiny.safetensors', 'gpt2-tiny-swiglu.safetensors'];

function loadFixture(file: string) {
  const fixture = decodeSafetensors(readFileSync(new URL(`./fixtures/${file}`, import.meta.url)), `test/fixtures/${file}`);
  return {
    fixture,
    config: JSON.parse(fixture.metadata.config) as GPTConfig,
    ...(JSON.parse(fixture.metadata.batch) as { B: number; T: number }),
    adamw: JSON.parse(fixture.metadata.adamw) as AdamWConfig & { gradClip: number; lrs: number[]; steps: number },
  };
}

// Loss and logits: absolute, as the issue set them. Observed: loss ~3.4e-7 (torch's
// own f32 loss is 3.5e-7 from float64: most of the difference is theirs), logits
// <= 1.5e-7.
const LOSS_ATOL = 1e-5;
const LOGITS_ATOL = 1e-5;
// Each gradient tensor, relative to its largest |element| (f32 roundoff scales with the
// largest terms a gradient is summed from, not with each element). Observed <= 1.2e-6.
const GRAD_RTOL = 1e-4;
// AdamW losses: the two sides start from gradients a few 1e-7 apart (relative), and
// Adam's step m / sqrt(v) passes a relative gradient difference on to the update at
// about the same relative size (gradients within roundoff of zero may get a different
// update altogether, but such a parameter barely moves the loss), so five steps of
// lr <= 1e-2 keep the losses about as close as the first one. Observed <= 3.5e-7, the
// size of the step-1 difference (GELU); with SwiGLU, 1.7e-6 after the fifth step from
// 1.4e-7 at the first. 1e-5 still catches a wrong optimizer: tried (then
// reverted) decay on every tensor (losses off by up to 2.4e-3), no decay at all
// (2.0e-3), lr 1% high (3.3e-3), no clipping (9.0e-3).
const ADAMW_LOSS_ATOL = 1e-5;
// Gradient norms (and clip scales = clip / norm): a sum of squares of ~30k gradients
// that each match torch's to ~1e-6 relative. Observed <= 6.5e-7.
const GRAD_NORM_RTOL = 1e-5;

function tensorsOf(fixture: ReturnType<typeof decodeSafetensors>) {
  return {
    f32(name: string): Float32Array {
      const t = fixture.tensors.get(name);
      if (!t || t.dtype !== 'F32') throw new Error(`fixture has no F32 tensor ${name}`);
      return f32Values(t);
    },
    i32(name: string): Int32Array {
      const t = fixture.tensors.get(name);
      if (!t || t.dtype !== 'I32') throw new Error(`fixture has no I32 tensor ${name}`);
      return new Int32Array(new Uint8Array(t.data).buffer);
    },
  };
}

/** max |got_i - want_i|; NaN anywhere gives Infinity (so it sorts worst and fails). */
function absError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} != ${want.length}`);
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= err)) err = Number.isNaN(e) ? Infinity : e;
  }
  return err;
}

interface Row {
  name: string;
  err: number;
  tol: number;
  kind: 'abs' | 'rel';
}

// Rows sorted worst first (by error / tolerance), as a table for failure messages.
function table(rows: Row[]): { sorted: Row[]; text: string } {
  const ratio = (r: Row) => (Number.isNaN(r.err) ? Infinity : r.err / r.tol);
  const sorted = [...rows].sort((a, b) => ratio(b) - ratio(a));
  const width = Math.max(...rows.map((r) => r.name.length));
  const lines = sorted.map((r) => `  ${r.name.padEnd(width)}  ${r.kind} ${r.err.toExponential(2).padStart(9)}  tol ${r.tol.toExponential(0)}${r.err <= r.tol ? '' : '  FAIL'}`);
  return { sorted, text: lines.join('\n') };
}

function expectAllWithin(title: string, rows: Row[]): void {
  const { sorted, text } = table(rows);
  const worst = sorted[0];
  const ok = sorted.every((r) => r.err <= r.tol);
  expect(ok, `${title}: worst is ${worst.name}, ${worst.kind} error ${worst.err.toExponential(2)} > ${worst.tol}\n${text}`).toBe(true);
}

describe.each(FIXTURES.flatMap((file) => BUILDS.map((build) => [build, file] as const)))('%s build vs PyTorch (test/fixtures/%s)', (build, file) => {
  const { fixture, config, B, T, adamw } = loadFixture(file);
  const { f32, i32 } = tensorsOf(fixture);
  const loadWeights = (model: GPT) => {
    for (const s of model.layout.specs) model.param(s.name).set(f32(`param.${s.name}`));
  };
  let model: GPT;
  beforeAll(() => {
    model = new GPT(new Engine({ kernels: build }), config, B);
  });

  it('has the same parameter names and shapes as the fixture', () => {
    const ours = model.layout.specs.map((s) => s.name).sort();
    for (const prefix of ['param.', 'grad.']) {
      const theirs = [...fixture.tensors.keys()].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)).sort();
      expect(theirs, `${prefix}* names in the fixture vs model.layout`).toEqual(ours);
    }
    for (const s of model.layout.specs) {
      expect(fixture.tensors.get(`param.${s.name}`)!.shape, `shape of ${s.name}`).toEqual(s.shape);
    }
  });

  it('matches logits, loss and every gradient', () => {
    loadWeights(model);
    model.zeroGrad();
    const loss = model.forward(i32('input.ids'), i32('input.targets'), B, T);
    // backward overwrites the logits with dlogits: copy them first
    const V = config.vocabSize;
    const logits = new Float32Array(B * T * V);
    for (let i = 0; i < B * T; i++) logits.set(model.logitsRow(i), i * V);
    model.backward();

    const C = config.nEmbd;
    const rows: Row[] = [
      { name: 'loss', err: absError([loss], f32('loss')), tol: LOSS_ATOL, kind: 'abs' },
      { name: 'logits', err: absError(logits, f32('logits')), tol: LOGITS_ATOL, kind: 'abs' },
    ];
    for (const s of model.layout.specs) {
      const got = model.grad(s.name), want = f32(`grad.${s.name}`);
      rows.push({ name: `grad.${s.name}`, err: relativeError(got, want).err, tol: GRAD_RTOL, kind: 'rel' });
      // The query and key gradients of c_attn are 10-50x smaller than the value ones, so
      // they are also held to the tolerance relative to their own largest element. (Not
      // the key bias: its gradient is zero in exact arithmetic, as adding one vector to
      // every key shifts a query's scores by a constant, which softmax ignores.)
      if (s.name.endsWith('attn.c_attn.weight') || s.name.endsWith('attn.c_attn.bias')) {
        const per = s.name.endsWith('weight') ? C * C : C;
        for (const [j, part] of (['q', 'k', 'v'] as const).entries()) {
          if (part === 'k' && s.name.endsWith('bias')) continue;
          const slice = (a: Float32Array) => a.subarray(j * per, (j + 1) * per);
          rows.push({ name: `grad.${s.name}[${part}]`, err: relativeError(slice(got), slice(want)).err, tol: GRAD_RTOL, kind: 'rel' });
        }
      }
    }
    const worst = (rs: Row[]) => rs.reduce((a, b) => (b.err > a.err || Number.isNaN(b.err) ? b : a));
    const tensors = worst(rows.filter((r) => r.name.startsWith('grad.') && !r.name.endsWith(']')));
    const parts = worst(rows.filter((r) => r.name.endsWith(']')));
    console.log(`[${build}] vs PyTorch: loss ${rows[0].err.toExponential(2)}, logits ${rows[1].err.toExponential(2)} (abs); ` +
      `worst gradient (relative to the tensor's largest element) ${tensors.name} ${tensors.err.toExponential(2)}, ` +
      `of a q/k/v part ${parts.name} ${parts.err.toExponential(2)}`);
    expectAllWithin(`${build}: forward/backward vs PyTorch`, rows);
  });

  it('matches five AdamW steps with gradient clipping', () => {
    const lrs = f32('adamw.lr'), scales = f32('adamw.clip_scale');
    // the fixture must exercise both sides of the clip (the generator checks this too)
    expect(scales.some((s) => s < 1) && scales.some((s) => s === 1), 'fixture clips on some steps only').toBe(true);
    loadWeights(model);
    const optimizer = new AdamW(model, { beta1: adamw.beta1, beta2: adamw.beta2, eps: adamw.eps, weightDecay: adamw.weightDecay });
    const ids = i32('input.ids'), targets = i32('input.targets');
    const losses: number[] = [], norms: number[] = [], clipScales: number[] = [];
    for (let step = 0; step < adamw.steps; step++) {
      // as src/train/trainer.ts: forward, backward, global norm, clip scale, update
      model.zeroGrad();
      losses.push(model.forward(ids, targets, B, T));
      model.backward();
      const norm = optimizer.gradNorm();
      const clipScale = norm > adamw.gradClip ? adamw.gradClip / norm : 1;
      norms.push(norm);
      clipScales.push(clipScale);
      optimizer.step(lrs[step], clipScale);
    }
    const final = model.forward(ids, targets, B, T);

    const rows: Row[] = [];
    for (let s = 0; s < adamw.steps; s++) {
      rows.push({ name: `step ${s + 1} loss`, err: absError([losses[s]], [f32('adamw.loss')[s]]), tol: ADAMW_LOSS_ATOL, kind: 'abs' });
      rows.push({ name: `step ${s + 1} grad norm`, err: relativeError([norms[s]], [f32('adamw.grad_norm')[s]]).err, tol: GRAD_NORM_RTOL, kind: 'rel' });
      // clip scale = clip / norm: as close as the norms when clipping, exactly 1 when not
      rows.push({ name: `step ${s + 1} clip scale`, err: relativeError([clipScales[s]], [scales[s]]).err, tol: GRAD_NORM_RTOL, kind: 'rel' });
    }
    rows.push({ name: `loss after step ${adamw.steps}`, err: absError([final], f32('adamw.final_loss')), tol: ADAMW_LOSS_ATOL, kind: 'abs' });
    const worstLoss = rows.filter((r) => r.name.includes('loss')).reduce((a, b) => (b.err > a.err ? b : a));
    console.log(`[${build}] AdamW vs PyTorch: losses ${losses.map((l) => l.toFixed(6)).join(', ')} -> ${final.toFixed(6)}; ` +
      `worst ${worstLoss.name} ${worstLoss.err.toExponential(2)}; clipped steps ${clipScales.flatMap((c, i) => (c < 1 ? [i + 1] : [])).join(', ')}`);
    expectAllWithin(`${build}: AdamW vs PyTorch`, rows);
  });
});
