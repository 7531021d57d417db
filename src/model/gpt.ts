// GPT-2 model over one flat parameter buffer and one flat gradient buffer.
// forward(ids, targets) -> mean loss; backward() accumulates into the gradients.
import type { Engine } from '../engine/engine.ts';
import { Rng } from '../engine/random.ts';
import { validateGPTConfig, type GPTConfig } from './config.ts';
import { parameterLayout, type ParameterLayout } from './parameters.ts';
import { allocateModelBuffers, type ModelBuffers, type LayerBuffers } from './buffers.ts';
import { dropoutMask, gemmBlocking, NO_DROPOUT, GRAIN_ELEMENTS, type KernelContext, type DropoutMask } from './context.ts';
import { linearForward, linearBackward, type LinearParams } from './linear.ts';
import { layernormForward, layernormBackward, type LayerNormParams } from './layernorm.ts';
import { attentionForward, attentionBackward, type AttentionShape } from './attention.ts';

interface BlockParams {
  ln1: LayerNormParams;
  cAttn: LinearParams;
  attnProj: LinearParams;
  ln2: LayerNormParams;
  fc: LinearParams;
  mlpProj: LinearParams;
}

// Dropout masks of one forward pass, kept for its backward.
interface PassMasks {
  embedding: DropoutMask;
  attention: DropoutMask[];
  attnResidual: DropoutMask[];
  mlpResidual: DropoutMask[];
}

export interface ForwardOptions {
  train?: boolean; // dropout on (when config.dropout > 0)
}

export class GPT {
  readonly config: GPTConfig;
  readonly layout: ParameterLayout;
  readonly batchSize: number; // capacity in sequences
  readonly buffers: ModelBuffers;
  private readonly ctx: KernelContext;
  private readonly blocks: BlockParams[];
  private readonly lnf: LayerNormParams;
  private readonly lmHead: LinearParams;
  private dropoutSeed = 0;
  private dropoutStep = 0; // counts training forward passes: one mask set each
  private last: { B: number; T: number; masks: PassMasks; hasTargets: boolean } | null = null;

  constructor(readonly engine: Engine, config: GPTConfig, batchSize: number) {
    validateGPTConfig(config);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    this.config = { ...config };
    this.batchSize = batchSize;
    this.layout = parameterLayout(this.config);
    const attScratch = engine.kernels.attentionScratchBytes(this.config.blockSize, this.config.nEmbd / this.config.nHead);
    if (attScratch > engine.kernels.gemmScratchBytes()) throw new RangeError(`attention needs ${attScratch} bytes of per-thread scratch, over the gemm scratch it shares`);
    this.buffers = allocateModelBuffers(this.config, this.layout, batchSize, (_category, elements) => engine.arena.alloc(elements * 4));
    this.ctx = {
      run: (name, fixed, start, end, grain) => engine.run(name, fixed, start, end, grain),
      gemm: gemmBlocking(engine.kernels, engine.gemmPackedB, engine.gemmPackedA),
      normPartials: this.buffers.normPartials,
    };
    this.engine.f32(this.buffers.params, this.layout.total).fill(0);
    this.engine.f32(this.buffers.grads, this.layout.total).fill(0);

    const C = this.config.nEmbd;
    const linear = (name: string, inDim: number, outDim: number): LinearParams => ({
      weight: this.paramAddress(`${name}.weight`), dweight: this.gradAddress(`${name}.weight`),
      bias: this.config.bias ? this.paramAddress(`${name}.bias`) : 0,
      dbias: this.config.bias ? this.gradAddress(`${name}.bias`) : 0,
      inDim, outDim,
    });
    const norm = (name: string): LayerNormParams => ({
      weight: this.paramAddress(`${name}.weight`), dweight: this.gradAddress(`${name}.weight`),
      bias: this.config.bias ? this.paramAddress(`${name}.bias`) : 0,
      dbias: this.config.bias ? this.gradAddress(`${name}.bias`) : 0,
      C,
    });
    this.blocks = [];
    for (let l = 0; l < this.config.nLayer; l++) {
      this.blocks.push({
        ln1: norm(`h.${l}.ln_1`),
        cAttn: linear(`h.${l}.attn.c_attn`, C, 3 * C),
        attnProj: linear(`h.${l}.attn.c_proj`, C, C),
        ln2: norm(`h.${l}.ln_2`),
        fc: linear(`h.${l}.mlp.c_fc`, C, 4 * C),
        mlpProj: linear(`h.${l}.mlp.c_proj`, 4 * C, C),
      });
    }
    this.lnf = norm('ln_f');
    // LM head tied to wte [V, C], no bias
    this.lmHead = { weight: this.paramAddress('wte'), dweight: this.gradAddress('wte'), bias: 0, dbias: 0, inDim: C, outDim: this.config.vocabSize };
  }

  get numParams(): number {
    return this.layout.specs.reduce((n, s) => n + s.size, 0);
  }

  paramAddress(name: string): number {
    return this.buffers.params + 4 * this.spec(name).offset;
  }

  gradAddress(name: string): number {
    return this.buffers.grads + 4 * this.spec(name).offset;
  }

  private spec(name: string) {
    const s = this.layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return s;
  }

  params(): Float32Array {
    return this.engine.f32(this.buffers.params, this.layout.total);
  }

  grads(): Float32Array {
    return this.engine.f32(this.buffers.grads, this.layout.total);
  }

  param(name: string): Float32Array {
    const s = this.spec(name);
    return this.engine.f32(this.buffers.params + 4 * s.offset, s.size);
  }

  grad(name: string): Float32Array {
    const s = this.spec(name);
    return this.engine.f32(this.buffers.grads + 4 * s.offset, s.size);
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
    this.engine.run('zeroFill', [this.buffers.grads], 0, this.layout.total, GRAIN_ELEMENTS);
  }

  // ids, targets: [B, T] row-major. Returns the mean cross-entropy, or NaN without targets.
  forward(ids: ArrayLike<number>, targets: ArrayLike<number> | null, B: number, T: number, options: ForwardOptions = {}): number {
    const c = this.config;
    if (!Number.isInteger(B) || B < 1 || B > this.batchSize) throw new RangeError(`batch of ${B} rows does not fit this model's capacity (${this.batchSize})`);
    if (!Number.isInteger(T) || T < 1 || T > c.blockSize) throw new RangeError(`sequence length ${T} must be in [1, block_size=${c.blockSize}]`);
    const rows = B * T;
    if (ids.length < rows) throw new RangeError(`ids has ${ids.length} entries, need ${rows}`);
    const buf = this.buffers;
    const idsView = this.engine.i32(buf.ids, rows);
    for (let i = 0; i < rows; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < c.vocabSize)) throw new RangeError(`token id ${id} at ${i} is outside the vocabulary [0, ${c.vocabSize})`);
      idsView[i] = id;
    }
    if (targets) {
      const tv = this.engine.i32(buf.targets, rows);
      for (let i = 0; i < rows; i++) {
        const id = targets[i];
        if (!(id >= 0 && id < c.vocabSize)) throw new RangeError(`target id ${id} at ${i} is outside the vocabulary [0, ${c.vocabSize})`);
        tv[i] = id;
      }
    }
    const masks = this.masksForPass(options.train === true);
    const { run } = this.ctx;
    const C = c.nEmbd;
    const shape: AttentionShape = { B, T, C, H: c.nHead };

    run('embeddingForward', [buf.residual[0], buf.ids, this.paramAddress('wte'), this.paramAddress('wpe'), T, C], 0, rows);
    this.dropout(buf.residual[0], buf.residual[0], rows * C, masks.embedding);
    for (let l = 0; l < c.nLayer; l++) {
      this.blockForward(l, buf.residual[l + 1], buf.residual[l], shape, masks);
    }
    const x = buf.residual[c.nLayer];
    layernormForward(this.ctx, this.lnf, buf.lnfOut, { mean: buf.lnfMean, rstd: buf.lnfRstd }, x, rows);
    linearForward(this.ctx, this.lmHead, buf.logits, buf.lnfOut, rows);
    this.last = { B, T, masks, hasTargets: targets !== null };
    if (!targets) return NaN;
    run('crossEntropyForward', [buf.losses, buf.logits, buf.targets, c.vocabSize], 0, rows);
    const losses = this.engine.f32(buf.losses, rows);
    let sum = 0;
    for (let i = 0; i < rows; i++) sum += losses[i];
    return sum / rows;
  }

  // Gradients of (lossScale * mean loss) of the last forward are added to grads().
  backward(lossScale = 1): void {
    const last = this.last;
    if (!last || !last.hasTargets) throw new Error('backward() needs a forward() with targets first (one backward per forward: it consumes the logits)');
    this.last = null;
    const c = this.config;
    const { B, T, masks } = last;
    const rows = B * T;
    const C = c.nEmbd;
    const buf = this.buffers;
    const { run } = this.ctx;
    const shape: AttentionShape = { B, T, C, H: c.nHead };

    // dlogits overwrite the logits
    run('crossEntropyBackward', [buf.logits, buf.logits, buf.targets, lossScale / rows, c.vocabSize], 0, rows);
    linearBackward(this.ctx, this.lmHead, buf.dNorm, buf.logits, buf.lnfOut, rows, false);
    this.engine.f32(buf.dResidual, rows * C).fill(0);
    layernormBackward(this.ctx, this.lnf, buf.dResidual, buf.dNorm, { mean: buf.lnfMean, rstd: buf.lnfRstd }, buf.residual[c.nLayer], rows);
    for (let l = c.nLayer - 1; l >= 0; l--) {
      this.blockBackward(l, buf.dResidual, buf.residual[l], shape, masks);
    }
    this.dropout(buf.dResidual, buf.dResidual, rows * C, masks.embedding);
    run('tokenEmbeddingBackward', [this.gradAddress('wte'), buf.dResidual, buf.ids, rows, C], 0, c.vocabSize);
    run('positionEmbeddingBackward', [this.gradAddress('wpe'), buf.dResidual, B, T, C], 0, T);
  }

  // logits of row i of the last forward ([V] floats)
  logitsRow(i: number): Float32Array {
    return this.engine.f32(this.buffers.logits + 4 * i * this.config.vocabSize, this.config.vocabSize);
  }

  // x [rows, C] -> out [rows, C]:
  //   resid2 = x + dropout(c_proj(attention(c_attn(ln_1(x)))))
  //   out    = resid2 + dropout(mlp_c_proj(gelu(c_fc(ln_2(resid2)))))
  private blockForward(l: number, out: number, x: number, shape: AttentionShape, masks: PassMasks): void {
    const p = this.blocks[l];
    const a = this.buffers.layers[l];
    const rows = shape.B * shape.T;
    const C = shape.C;
    const { run } = this.ctx;
    const branch = this.buffers.branch;
    layernormForward(this.ctx, p.ln1, a.ln1Out, { mean: a.ln1Mean, rstd: a.ln1Rstd }, x, rows);
    linearForward(this.ctx, p.cAttn, a.qkv, a.ln1Out, rows);
    attentionForward(this.ctx, a.attOut, a.lse, a.qkv, shape, masks.attention[l]);
    linearForward(this.ctx, p.attnProj, branch, a.attOut, rows);
    // resid2 = x + dropout(branch), ln2Out = ln_2(resid2): one pass
    const m = masks.attnResidual[l];
    run('residualLayernormForward', [a.resid2, a.ln2Out, a.ln2Mean, a.ln2Rstd, x, branch, p.ln2.weight, p.ln2.bias, m.key, m.threshold, m.scale, C], 0, rows);
    linearForward(this.ctx, p.fc, a.fcPre, a.ln2Out, rows);
    run('geluForward', [a.fcAct, a.fcPre], 0, rows * 4 * C, GRAIN_ELEMENTS);
    linearForward(this.ctx, p.mlpProj, branch, a.fcAct, rows);
    this.residualAdd(out, a.resid2, branch, rows * C, masks.mlpResidual[l]);
  }

  // dres holds d(out) on entry and d(x) on return (the residual path carries it through).
  private blockBackward(l: number, dres: number, x: number, shape: AttentionShape, masks: PassMasks): void {
    const p = this.blocks[l];
    const a: LayerBuffers = this.buffers.layers[l];
    const buf = this.buffers;
    const rows = shape.B * shape.T;
    const C = shape.C;
    const { run } = this.ctx;
    // MLP branch
    const dMlp = this.branchGradient(dres, rows * C, masks.mlpResidual[l]);
    linearBackward(this.ctx, p.mlpProj, buf.dWide, dMlp, a.fcAct, rows, false);
    run('geluBackward', [buf.dWide, a.fcPre, buf.dWide], 0, rows * 4 * C, GRAIN_ELEMENTS);
    linearBackward(this.ctx, p.fc, buf.dNorm, buf.dWide, a.ln2Out, rows, false);
    layernormBackward(this.ctx, p.ln2, dres, buf.dNorm, { mean: a.ln2Mean, rstd: a.ln2Rstd }, a.resid2, rows);
    // attention branch
    const dAttn = this.branchGradient(dres, rows * C, masks.attnResidual[l]);
    linearBackward(this.ctx, p.attnProj, buf.dAttOut, dAttn, a.attOut, rows, false);
    attentionBackward(this.ctx, buf.dWide, buf.dAttOut, a.qkv, a.lse, shape, masks.attention[l]);
    linearBackward(this.ctx, p.cAttn, buf.dNorm, buf.dWide, a.ln1Out, rows, false);
    layernormBackward(this.ctx, p.ln1, dres, buf.dNorm, { mean: a.ln1Mean, rstd: a.ln1Rstd }, x, rows);
  }

  private residualAdd(out: number, x: number, branch: number, n: number, mask: DropoutMask): void {
    if (mask.threshold) this.ctx.run('residualDropoutForward', [out, x, branch, mask.key, mask.threshold, mask.scale], 0, n, GRAIN_ELEMENTS);
    else this.ctx.run('residualForward', [out, x, branch], 0, n, GRAIN_ELEMENTS);
  }

  // out = dropout(inp) (no-op when the mask is off and out is inp)
  private dropout(out: number, inp: number, n: number, mask: DropoutMask): void {
    if (mask.threshold) this.ctx.run('dropout', [out, inp, mask.key, mask.threshold, mask.scale], 0, n, GRAIN_ELEMENTS);
  }

  // gradient reaching a residual branch's output: dres through its dropout mask
  private branchGradient(dres: number, n: number, mask: DropoutMask): number {
    if (!mask.threshold) return dres;
    this.dropout(this.buffers.dBranch, dres, n, mask);
    return this.buffers.dBranch;
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
