// Inference with a key/value cache: the GPT forward (the same layers as gpt-spec.ts, the
// same parameter layout) for new positions only, each block's keys and values kept for
// the positions before. A new token costs one position; a prompt goes through in chunks
// of rows. Buffers are sized for inference: the parameters, the cache [L, 2, maxT, C] and
// one chunk's activations, no gradients or optimizer state.
import { ConfigError } from '../errors.ts';
import type { Engine } from '../engine/engine.ts';
import { prefix, rowRange, rows, slice, type Tensor } from '../engine/tensor.ts';
import { planOps, type OpContext } from '../ops/context.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { layernormForward } from '../ops/layernorm.ts';
import { matmulForward, matvecForward } from '../ops/matmul.ts';
import { attentionCachedForward } from '../ops/attention.ts';
import { residualForward } from '../ops/elementwise.ts';
import { geluForward } from '../ops/gelu.ts';
import { swigluForward } from '../ops/swiglu.ts';
import { NO_DROPOUT } from '../ops/random.ts';
import { activationOf, mlpHiddenOf, validateGPTConfig, type GPTConfig } from './config.ts';
import { layoutOf, type ParameterLayout } from './parameters.ts';
import { gptSpec, type GPTSpec } from './gpt-spec.ts';
import type { ParamDecl } from './layer.ts';

type F32 = Tensor<'f32'>;

export const DECODER_CHUNK_ROWS = 64;
// Up to this many rows (a new token) the Linears read their weights as stored
// (matvecForward); a prompt chunk goes through the packed matmul.
const MATVEC_ROWS = 4;

export interface DecoderOptions {
  chunkRows?: number; // prompt rows per pass (default 64)
  params?: Tensor<'f32'>; // use these weights in place (a GPT's buffers.params) instead of a copy
  ops?: OpContext; // and that GPT's op scratch (buffers.ops), as it is idle while we sample
}

export class Decoder {
  readonly config: GPTConfig;
  readonly layout: ParameterLayout;
  private readonly spec: GPTSpec;
  private readonly paramsT: F32; // [P]
  private readonly cache: F32; // [L, 2, maxT, C]
  private readonly ids: Tensor<'i32'>; // [chunk]
  private readonly x: F32; // [chunk, C] the residual stream
  private readonly h: F32; // [chunk, C] a norm's output
  private readonly mean: Tensor<'f32'>;
  private readonly rstd: Tensor<'f32'>;
  private readonly qkv: F32; // [chunk, 3C]
  private readonly att: F32; // [chunk, C]
  private readonly branch: F32; // [chunk, C]
  private readonly hidden: F32[]; // [chunk, H] x 2 (gelu: pre, act) or 3 (swiglu: gate, up, act)
  private readonly logits: F32; // [1, V]
  private readonly ops: OpContext;
  private pos = 0;

  constructor(readonly engine: Engine, config: GPTConfig, options: DecoderOptions = {}) {
    validateGPTConfig(config);
    this.config = { ...config };
    const c = this.config;
    const C = c.nEmbd;
    const H = mlpHiddenOf(c);
    const m = Math.min(options.chunkRows ?? DECODER_CHUNK_ROWS, c.blockSize);
    this.spec = gptSpec(c, 1);
    this.layout = layoutOf(this.spec);
    const plan = engine.arena.plan();
    const act = (shape: number[]) => plan.tensor('activations', shape, 'f32');
    if (options.params && options.params.size !== this.layout.total) throw new RangeError(`params has ${options.params.size} elements, the model ${this.layout.total}`);
    this.paramsT = options.params ?? plan.tensor('parameters', [this.layout.total], 'f32');
    this.cache = plan.tensor('activations', [c.nLayer, 2, c.blockSize, C], 'f32', 'key/value cache');
    this.ids = plan.tensor('activations', [m], 'i32');
    this.x = act([m, C]);
    this.h = act([m, C]);
    this.mean = act([m]);
    this.rstd = act([m]);
    this.qkv = act([m, 3 * C]);
    this.att = act([m, C]);
    this.branch = act([m, C]);
    this.hidden = Array.from({ length: activationOf(c) === 'swiglu' ? 3 : 2 }, () => act([m, H]));
    this.logits = act([1, c.vocabSize]);
    this.ops = options.ops ?? planOps(plan, engine, { rows: m, channels: C, seqLen: c.blockSize, headSize: C / c.nHead });
    engine.arena.commit(plan);
    if (!options.params) this.params().fill(0);
  }

  // The weights, flat in the GPT's layout (GPT.params() and checkpoints use the same).
  params(): Float32Array {
    return this.engine.view(this.paramsT);
  }

  // Positions the cache holds.
  get position(): number {
    return this.pos;
  }

  // Forget the cached positions (the next feed starts at position 0).
  reset(): void {
    this.pos = 0;
  }

  // Runs ids at the next positions; returns the logits after the last one ([V], valid
  // until the next call).
  feed(ids: ArrayLike<number>): Float32Array {
    const c = this.config;
    if (ids.length === 0) throw new ConfigError('feed needs at least one token');
    if (this.pos + ids.length > c.blockSize) throw new ConfigError(`${this.pos} cached positions + ${ids.length} new ones pass block_size ${c.blockSize}`);
    const m = this.x.shape[0];
    for (let start = 0; start < ids.length; start += m) this.chunk(Array.prototype.slice.call(ids, start, Math.min(ids.length, start + m)));
    return this.engine.view(this.logits);
  }

  private p(d: ParamDecl | null): F32 | null {
    if (!d) return null;
    const s = this.layout.byName.get(d.name)!;
    return slice(this.paramsT, s.offset, s.shape);
  }

  private w(d: ParamDecl): F32 {
    return this.p(d)!;
  }

  private chunk(ids: number[]): void {
    const c = this.config;
    const C = c.nEmbd;
    const m = ids.length;
    const p0 = this.pos;
    const ops = this.ops;
    const idsT = prefix(this.ids, [1, m]);
    const view = this.engine.view(idsT);
    for (let i = 0; i < m; i++) {
      if (!(ids[i] >= 0 && ids[i] < c.vocabSize)) throw new ConfigError(`token id ${ids[i]} is outside the vocabulary [0, ${c.vocabSize})`);
      view[i] = ids[i];
    }
    const x = rows(this.x, m), h = rows(this.h, m), mean = rows(this.mean, m), rstd = rows(this.rstd, m);
    const qkv = rows(this.qkv, m), att = rows(this.att, m), branch = rows(this.branch, m);
    const hidden = this.hidden.map((t) => rows(t, m));
    const e = this.spec.embedding.params;
    const wpe = this.w(e.wpe);
    embeddingForward(ops, { out: prefix(x, [1, m, C]), ids: idsT, wte: this.w(e.wte), wpe: slice(wpe, p0 * C, [c.blockSize - p0, C]) });
    const norm = (out: F32, inp: F32, ln: { weight: ParamDecl; bias: ParamDecl | null }) =>
      layernormForward(ops, { out, mean, rstd, inp, weight: this.w(ln.weight), bias: this.p(ln.bias) });
    const product = m <= MATVEC_ROWS ? matvecForward : matmulForward;
    const linear = (out: F32, inp: F32, weight: ParamDecl, bias: ParamDecl | null) => product(ops, { out, inp, weight: this.w(weight), bias: this.p(bias) });
    const mem = this.engine.view(this.cache);
    const qkvView = this.engine.view(qkv);
    this.spec.blocks.forEach((b, l) => {
      norm(h, x, b.ln1.params);
      linear(qkv, h, b.attn.params.qkvWeight, b.attn.params.qkvBias);
      // this chunk's keys and values into the cache
      const kBase = ((l * 2) * c.blockSize + p0) * C, vBase = ((l * 2 + 1) * c.blockSize + p0) * C;
      for (let r = 0; r < m; r++) {
        mem.set(qkvView.subarray(r * 3 * C + C, r * 3 * C + 2 * C), kBase + r * C);
        mem.set(qkvView.subarray(r * 3 * C + 2 * C, r * 3 * C + 3 * C), vBase + r * C);
      }
      const layer = slice(this.cache, l * 2 * c.blockSize * C, [2, c.blockSize, C]);
      attentionCachedForward(ops, {
        out: att, qkv, kCache: slice(layer, 0, [c.blockSize, C]), vCache: slice(layer, c.blockSize * C, [c.blockSize, C]),
      }, p0, c.nHead);
      linear(branch, att, b.attn.params.projWeight, b.attn.params.projBias);
      residualForward(ops, { out: x, a: x, b: branch }, NO_DROPOUT);
      norm(h, x, b.ln2.params);
      const mlp = b.mlp;
      if (mlp.activation === 'swiglu') {
        linear(hidden[0], h, mlp.params.gateWeight, mlp.params.gateBias);
        linear(hidden[1], h, mlp.params.upWeight, mlp.params.upBias);
        swigluForward(ops, { out: hidden[2], gate: hidden[0], up: hidden[1] });
        linear(branch, hidden[2], mlp.params.projWeight, mlp.params.projBias);
      } else {
        linear(hidden[0], h, mlp.params.fcWeight, mlp.params.fcBias);
        geluForward(ops, { out: hidden[1], inp: hidden[0] });
        linear(branch, hidden[1], mlp.params.projWeight, mlp.params.projBias);
      }
      residualForward(ops, { out: x, a: x, b: branch }, NO_DROPOUT);
    });
    // ln_f and the LM head on the last row only
    const last = rowRange(x, m - 1, 1), hLast = rowRange(h, 0, 1);
    layernormForward(ops, { out: hLast, mean: rows(mean, 1), rstd: rows(rstd, 1), inp: last, weight: this.w(this.spec.lnf.params.weight), bias: this.p(this.spec.lnf.params.bias) });
    matvecForward(ops, { out: this.logits, inp: hLast, weight: this.w(e.wte), bias: null });
    this.pos += m;
  }
}
