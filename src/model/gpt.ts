// GPT-2 model over one flat parameter buffer and one flat gradient buffer.
// forward(ids, targets) -> mean loss; backward() accumulates into the gradients.
// Every kernel runs through an op (src/ops/); this file only says which, on what.
import type { Engine } from '../engine/engine.ts';
import type { MemoryPlan } from '../engine/arena.ts';
import { Rng } from '../engine/random.ts';
import { prefix, rows, row, slice, type Tensor } from '../engine/tensor.ts';
import { validateGPTConfig, type GPTConfig } from './config.ts';
import { parameterLayout, type ParameterLayout, type ParamSpec } from './parameters.ts';
import { planModel, type ModelBuffers, type PlanOptions } from './buffers.ts';
import type { OpContext } from '../ops/context.ts';
import { matmulForward, matmulBackwardInput, matmulBackwardWeights } from '../ops/matmul.ts';
import { layernormForward, layernormBackward, residualLayernormForward } from '../ops/layernorm.ts';
import { attentionForward, attentionBackward } from '../ops/attention.ts';
import { geluForward, geluBackward } from '../ops/gelu.ts';
import { crossEntropyForward, crossEntropyBackward } from '../ops/crossentropy.ts';
import { embeddingForward, tokenEmbeddingBackward, positionEmbeddingBackward } from '../ops/embedding.ts';
import { residualForward, dropout, zeroFill } from '../ops/elementwise.ts';
import { dropoutMask, NO_DROPOUT, type DropoutMask } from '../ops/random.ts';

type F32 = Tensor<'f32'>;

interface Linear {
  weight: F32; // [out, in]
  bias: F32 | null; // [out]
  dweight: F32;
  dbias: F32 | null;
}

interface Norm {
  weight: F32; // [C]
  bias: F32 | null;
  dweight: F32;
  dbias: F32 | null;
}

interface BlockParams {
  ln1: Norm;
  cAttn: Linear;
  attnProj: Linear;
  ln2: Norm;
  fc: Linear;
  mlpProj: Linear;
}

// Dropout masks of one forward pass, kept for its backward.
interface PassMasks {
  embedding: DropoutMask;
  attention: DropoutMask[];
  attnResidual: DropoutMask[];
  mlpResidual: DropoutMask[];
}

// The batch of the last forward pass: B sequences of T tokens, R = B * T rows.
interface Pass {
  B: number;
  T: number;
  masks: PassMasks;
  hasTargets: boolean;
}

export interface ForwardOptions {
  train?: boolean; // dropout on (when config.dropout > 0)
}

export interface GPTOptions {
  // lay out AdamW's moments beside the model (default true; false for inference only)
  optimizer?: boolean;
}

export class GPT {
  readonly config: GPTConfig;
  readonly layout: ParameterLayout;
  readonly batchSize: number; // capacity in sequences
  readonly buffers: ModelBuffers;
  private readonly ops: OpContext;
  private readonly blocks: BlockParams[];
  private readonly lnf: Norm;
  private readonly lmHead: Linear;
  private dropoutSeed = 0;
  private dropoutStep = 0; // counts training forward passes: one mask set each
  private last: Pass | null = null;

  // The memory a model of this shape needs, laid out but not allocated (to print or
  // refuse before allocating): the constructor commits exactly this plan.
  static plan(engine: Engine, config: GPTConfig, batchSize: number, options: GPTOptions = {}): MemoryPlan {
    validateGPTConfig(config);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    const plan = engine.arena.plan();
    planModel(plan, engine, config, parameterLayout(config), batchSize, planOptions(options));
    return plan;
  }

  constructor(readonly engine: Engine, config: GPTConfig, batchSize: number, options: GPTOptions = {}) {
    validateGPTConfig(config);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    this.config = { ...config };
    this.batchSize = batchSize;
    this.layout = parameterLayout(this.config);
    const plan = engine.arena.plan();
    this.buffers = planModel(plan, engine, this.config, this.layout, batchSize, planOptions(options));
    engine.arena.commit(plan);
    this.ops = this.buffers.ops;
    this.params().fill(0);
    this.grads().fill(0);

    const withBias = (name: string) => (this.config.bias ? this.paramTensor(name) : null);
    const gradBias = (name: string) => (this.config.bias ? this.gradTensor(name) : null);
    const linear = (name: string): Linear => ({
      weight: this.paramTensor(`${name}.weight`), dweight: this.gradTensor(`${name}.weight`),
      bias: withBias(`${name}.bias`), dbias: gradBias(`${name}.bias`),
    });
    const norm = (name: string): Norm => ({
      weight: this.paramTensor(`${name}.weight`), dweight: this.gradTensor(`${name}.weight`),
      bias: withBias(`${name}.bias`), dbias: gradBias(`${name}.bias`),
    });
    this.blocks = [];
    for (let l = 0; l < this.config.nLayer; l++) {
      this.blocks.push({
        ln1: norm(`h.${l}.ln_1`),
        cAttn: linear(`h.${l}.attn.c_attn`),
        attnProj: linear(`h.${l}.attn.c_proj`),
        ln2: norm(`h.${l}.ln_2`),
        fc: linear(`h.${l}.mlp.c_fc`),
        mlpProj: linear(`h.${l}.mlp.c_proj`),
      });
    }
    this.lnf = norm('ln_f');
    // LM head tied to wte [V, C], no bias
    this.lmHead = { weight: this.paramTensor('wte'), dweight: this.gradTensor('wte'), bias: null, dbias: null };
  }

  get numParams(): number {
    return this.layout.specs.reduce((n, s) => n + s.size, 0);
  }

  private spec(name: string): ParamSpec {
    const s = this.layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return s;
  }

  // A parameter (or its gradient) as a tensor inside the flat buffer.
  paramTensor(name: string): F32 {
    const s = this.spec(name);
    return slice(this.buffers.params, s.offset, s.shape);
  }

  gradTensor(name: string): F32 {
    const s = this.spec(name);
    return slice(this.buffers.grads, s.offset, s.shape);
  }

  params(): Float32Array {
    return this.engine.view(this.buffers.params);
  }

  grads(): Float32Array {
    return this.engine.view(this.buffers.grads);
  }

  param(name: string): Float32Array {
    return this.engine.view(this.paramTensor(name));
  }

  grad(name: string): Float32Array {
    return this.engine.view(this.gradTensor(name));
  }

  // GPT-2 / nanoGPT init: N(0, 0.02) weights, residual projections scaled by
  // 1/sqrt(2 nLayer), zero biases, unit LayerNorm gains. Also seeds dropout.
  init(seed: number): void {
    const rng = new Rng(seed);
    const residualStd = 0.02 / Math.sqrt(2 * this.config.nLayer);
    for (const s of this.layout.specs) {
      const v = this.param(s.name);
      if (s.init === 'ones') v.fill(1);
      else if (s.init === 'zeros') v.fill(0);
      else {
        const std = s.init === 'residual' ? residualStd : 0.02;
        for (let i = 0; i < v.length; i++) v[i] = rng.normal() * std;
      }
    }
    this.dropoutSeed = seed;
    this.dropoutStep = 0;
  }

  zeroGrad(): void {
    zeroFill(this.ops, this.buffers.grads);
  }

  // ids, targets: [B, T] row-major. Returns the mean cross-entropy, or NaN without targets.
  forward(ids: ArrayLike<number>, targets: ArrayLike<number> | null, B: number, T: number, options: ForwardOptions = {}): number {
    const c = this.config;
    if (!Number.isInteger(B) || B < 1 || B > this.batchSize) throw new RangeError(`batch of ${B} rows does not fit this model's capacity (${this.batchSize})`);
    if (!Number.isInteger(T) || T < 1 || T > c.blockSize) throw new RangeError(`sequence length ${T} must be in [1, block_size=${c.blockSize}]`);
    const R = B * T;
    if (ids.length < R) throw new RangeError(`ids has ${ids.length} entries, need ${R}`);
    const buf = this.buffers;
    const ops = this.ops;
    const idsT = prefix(buf.ids, [B, T]);
    copyIds(this.engine.view(idsT), ids, c.vocabSize, 'token');
    const targetsT = prefix(buf.targets, [R]);
    if (targets) copyIds(this.engine.view(targetsT), targets, c.vocabSize, 'target');
    const masks = this.masksForPass(options.train === true);
    const C = c.nEmbd;

    const x0 = rows(buf.residual[0], R);
    embeddingForward(ops, { out: prefix(x0, [B, T, C]), ids: idsT, wte: this.paramTensor('wte'), wpe: this.paramTensor('wpe') });
    if (masks.embedding.threshold) dropout(ops, { out: x0, inp: x0 }, masks.embedding);
    for (let l = 0; l < c.nLayer; l++) {
      this.blockForward(l, rows(buf.residual[l + 1], R), rows(buf.residual[l], R), B, T, masks);
    }
    const x = rows(buf.residual[c.nLayer], R);
    const lnfOut = rows(buf.lnfOut, R);
    layernormForward(ops, { out: lnfOut, mean: rows(buf.lnfMean, R), rstd: rows(buf.lnfRstd, R), inp: x, weight: this.lnf.weight, bias: this.lnf.bias });
    const logits = rows(buf.logits, R);
    matmulForward(ops, { out: logits, inp: lnfOut, weight: this.lmHead.weight, bias: null });
    this.last = { B, T, masks, hasTargets: targets !== null };
    if (!targets) return NaN;
    const losses = rows(buf.losses, R);
    crossEntropyForward(ops, { losses, logits, targets: targetsT });
    const lossView = this.engine.view(losses);
    let sum = 0;
    for (let i = 0; i < R; i++) sum += lossView[i];
    return sum / R;
  }

  // Gradients of (lossScale * mean loss) of the last forward are added to grads().
  backward(lossScale = 1): void {
    const last = this.last;
    if (!last || !last.hasTargets) throw new Error('backward() needs a forward() with targets first (one backward per forward: it consumes the logits)');
    this.last = null;
    const c = this.config;
    const { B, T, masks } = last;
    const R = B * T;
    const C = c.nEmbd;
    const buf = this.buffers;
    const ops = this.ops;

    // dlogits overwrite the logits
    const logits = rows(buf.logits, R);
    crossEntropyBackward(ops, { dlogits: logits, logits, targets: prefix(buf.targets, [R]) }, lossScale / R);
    const dNorm = rows(buf.dNorm, R);
    const lnfOut = rows(buf.lnfOut, R);
    this.linearBackward(this.lmHead, dNorm, logits, lnfOut);
    const dres = rows(buf.dResidual, R);
    zeroFill(ops, dres);
    layernormBackward(ops, {
      dinp: dres, dweight: this.lnf.dweight, dbias: this.lnf.dbias, dout: dNorm, inp: rows(buf.residual[c.nLayer], R),
      weight: this.lnf.weight, mean: rows(buf.lnfMean, R), rstd: rows(buf.lnfRstd, R),
    });
    for (let l = c.nLayer - 1; l >= 0; l--) {
      this.blockBackward(l, dres, rows(buf.residual[l], R), B, T, masks);
    }
    if (masks.embedding.threshold) dropout(ops, { out: dres, inp: dres }, masks.embedding);
    const dEmbedded = prefix(dres, [B, T, C]);
    tokenEmbeddingBackward(ops, { dwte: this.gradTensor('wte'), dout: dEmbedded, ids: prefix(buf.ids, [B, T]) });
    positionEmbeddingBackward(ops, { dwpe: this.gradTensor('wpe'), dout: dEmbedded });
  }

  // logits of row i of the last forward ([V] floats)
  logitsRow(i: number): Float32Array {
    return this.engine.view(row(this.buffers.logits, i));
  }

  // x [R, C] -> out [R, C]:
  //   resid2 = x + dropout(c_proj(attention(c_attn(ln_1(x)))))
  //   out    = resid2 + dropout(mlp_c_proj(gelu(c_fc(ln_2(resid2)))))
  private blockForward(l: number, out: F32, x: F32, B: number, T: number, masks: PassMasks): void {
    const p = this.blocks[l];
    const a = this.buffers.layers[l];
    const ops = this.ops;
    const R = B * T;
    const C = this.config.nEmbd;
    const H = this.config.nHead;
    const branch = rows(this.buffers.branch, R);
    const ln1Out = rows(a.ln1Out, R);
    layernormForward(ops, { out: ln1Out, mean: rows(a.ln1Mean, R), rstd: rows(a.ln1Rstd, R), inp: x, weight: p.ln1.weight, bias: p.ln1.bias });
    const qkv = rows(a.qkv, R);
    matmulForward(ops, { out: qkv, inp: ln1Out, weight: p.cAttn.weight, bias: p.cAttn.bias });
    const attOut = rows(a.attOut, R);
    attentionForward(ops, { out: prefix(attOut, [B, T, C]), lse: prefix(a.lse, [B, H, T]), qkv: prefix(qkv, [B, T, 3 * C]) }, H, masks.attention[l]);
    matmulForward(ops, { out: branch, inp: attOut, weight: p.attnProj.weight, bias: p.attnProj.bias });
    // resid2 = x + dropout(branch), ln2Out = ln_2(resid2): one pass
    const resid2 = rows(a.resid2, R);
    const ln2Out = rows(a.ln2Out, R);
    residualLayernormForward(ops, {
      res: resid2, out: ln2Out, mean: rows(a.ln2Mean, R), rstd: rows(a.ln2Rstd, R), a: x, b: branch, weight: p.ln2.weight, bias: p.ln2.bias,
    }, masks.attnResidual[l]);
    const fcPre = rows(a.fcPre, R);
    const fcAct = rows(a.fcAct, R);
    matmulForward(ops, { out: fcPre, inp: ln2Out, weight: p.fc.weight, bias: p.fc.bias });
    geluForward(ops, { out: fcAct, inp: fcPre });
    matmulForward(ops, { out: branch, inp: fcAct, weight: p.mlpProj.weight, bias: p.mlpProj.bias });
    residualForward(ops, { out, a: resid2, b: branch }, masks.mlpResidual[l]);
  }

  // dres holds d(out) on entry and d(x) on return (the residual path carries it through).
  private blockBackward(l: number, dres: F32, x: F32, B: number, T: number, masks: PassMasks): void {
    const p = this.blocks[l];
    const a = this.buffers.layers[l];
    const buf = this.buffers;
    const ops = this.ops;
    const R = B * T;
    const C = this.config.nEmbd;
    const H = this.config.nHead;
    const dNorm = rows(buf.dNorm, R);
    // MLP branch
    const dMlp = this.branchGradient(dres, masks.mlpResidual[l]);
    const dWide = rows(buf.dWide, R);
    const fcPre = rows(a.fcPre, R);
    this.linearBackward(p.mlpProj, dWide, dMlp, rows(a.fcAct, R));
    geluBackward(ops, { dinp: dWide, inp: fcPre, dout: dWide });
    const ln2Out = rows(a.ln2Out, R);
    this.linearBackward(p.fc, dNorm, dWide, ln2Out);
    layernormBackward(ops, {
      dinp: dres, dweight: p.ln2.dweight, dbias: p.ln2.dbias, dout: dNorm, inp: rows(a.resid2, R),
      weight: p.ln2.weight, mean: rows(a.ln2Mean, R), rstd: rows(a.ln2Rstd, R),
    });
    // attention branch
    const dAttn = this.branchGradient(dres, masks.attnResidual[l]);
    const dAttOut = rows(buf.dAttOut, R);
    this.linearBackward(p.attnProj, dAttOut, dAttn, rows(a.attOut, R));
    const qkv = rows(a.qkv, R);
    const dqkv = prefix(buf.dWide, [R, 3 * C]);
    attentionBackward(ops, {
      dqkv: prefix(dqkv, [B, T, 3 * C]), dout: prefix(dAttOut, [B, T, C]), qkv: prefix(qkv, [B, T, 3 * C]), lse: prefix(a.lse, [B, H, T]),
    }, H, masks.attention[l]);
    this.linearBackward(p.cAttn, dNorm, dqkv, rows(a.ln1Out, R));
    layernormBackward(ops, {
      dinp: dres, dweight: p.ln1.dweight, dbias: p.ln1.dbias, dout: dNorm, inp: x,
      weight: p.ln1.weight, mean: rows(a.ln1Mean, R), rstd: rows(a.ln1Rstd, R),
    });
  }

  // dW += dout^T inp, db += sum of dout rows, then dinp = dout W (overwritten)
  private linearBackward(p: Linear, dinp: F32, dout: F32, inp: F32): void {
    matmulBackwardWeights(this.ops, { dweight: p.dweight, dbias: p.dbias, dout, inp });
    matmulBackwardInput(this.ops, { dinp, dout, weight: p.weight, accumulate: false });
  }

  // gradient reaching a residual branch's output: dres through its dropout mask
  private branchGradient(dres: F32, mask: DropoutMask): F32 {
    if (!mask.threshold) return dres;
    const dBranch = rows(this.buffers.dBranch, dres.shape[0]);
    dropout(this.ops, { out: dBranch, inp: dres }, mask);
    return dBranch;
  }

  private masksForPass(train: boolean): PassMasks {
    const L = this.config.nLayer;
    const p = train ? this.config.dropout : 0;
    if (p <= 0) {
      const none = new Array<DropoutMask>(L).fill(NO_DROPOUT);
      return { embedding: NO_DROPOUT, attention: none, attnResidual: none, mlpResidual: none };
    }
    const step = this.dropoutStep++;
    const site = (i: number) => dropoutMask(p, this.dropoutSeed, step, i);
    const layers = Array.from({ length: L }, (_, l) => l);
    return {
      embedding: site(0),
      attention: layers.map((l) => site(1 + 3 * l)),
      attnResidual: layers.map((l) => site(2 + 3 * l)),
      mlpResidual: layers.map((l) => site(3 + 3 * l)),
    };
  }
}

function planOptions(options: GPTOptions): PlanOptions {
  return { optimizer: options.optimizer ?? true };
}

// Copies token ids into the model's i32 buffer, refusing ids outside the vocabulary.
function copyIds(dst: Int32Array, src: ArrayLike<number>, vocabSize: number, what: string): void {
  for (let i = 0; i < dst.length; i++) {
    const id = src[i];
    if (!(id >= 0 && id < vocabSize)) throw new RangeError(`${what} id ${id} at ${i} is outside the vocabulary [0, ${vocabSize})`);
    dst[i] = id;
  }
}
