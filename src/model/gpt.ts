// GPT-2 model over one flat parameter buffer and one flat gradient buffer.
// forward(ids, targets) -> mean loss; backward() accumulates into the gradients.
// The layers (gpt-spec.ts) declare their parameters, saved activations, scratch and
// dropout sites; this file runs them in order.
import { ConfigError } from '../errors.ts';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine/engine.ts';
import type { Tokenizer } from '../data/tokenizer.ts';
import { CheckpointError, hasCheckpoint } from '../train/checkpoint.ts';
import { loadCheckpointModel, loadHfModel, type LoadedModel } from '../train/inference.ts';
import type { MemoryPlan } from '../engine/arena.ts';
import { prefix, rows, row, slice, type Tensor } from '../engine/tensor.ts';
import { zeroFill } from '../ops/elementwise.ts';
import { convert, roundTo } from '../ops/convert.ts';
import { initialize, DEFAULT_INIT, type InitOptions } from './init.ts';
import { validateGPTConfig, type GPTConfig } from './config.ts';
import { layoutOf, type ParameterLayout, type ParamSpec } from './parameters.ts';
import { planModel, storedRows, type ModelBuffers, type PlanOptions, PRECISIONS, type Precision, type Recompute, type StoredActivation } from './buffers.ts';
import { gptSpec, dropoutSites, type GPTSpec } from './gpt-spec.ts';
import { dropoutMasks, noDropout, maskOf, type PassMasks } from './dropout.ts';
import { embeddingLayerForward, embeddingLayerBackward } from './embedding.ts';
import { blockForward, blockBackward } from './block.ts';
import { layernormLayerForward, layernormLayerBackward } from './layernorm.ts';
import { lmHeadForward, lmHeadLoss, lmHeadBackward, lmHeadChunkedLoss, lmHeadRowLogits } from './lm-head.ts';

type F32 = Tensor<'f32'>;

// The batch of the last forward pass: B sequences of T tokens.
interface Pass {
  B: number;
  T: number;
  masks: PassMasks;
  hasTargets: boolean;
  // chunked LM head: the scale its gradients were computed at during forward, or null
  headGradScale: number | null;
}

export interface ForwardOptions {
  train?: boolean; // dropout on (when config.dropout > 0)
  // The scale the backward() that follows will be given. A chunked LM head never keeps
  // its logits: it computes its own gradients during forward, at this scale (backward
  // must then get the same). Without it, a chunked forward only scores.
  lossScale?: number;
}

export interface GPTOptions {
  /** lay out AdamW's moments beside the model (default true; false for inference only) */
  optimizer?: boolean;
  /** activation recompute (gradient checkpointing): none (default) or blocks (buffers.ts) */
  recompute?: Recompute;
  /**
   * rows per LM-head chunk in a pass with targets; 0 (default) = the whole [B*T, V]
   * logits at once (lm-head.ts)
   */
  lmHeadChunk?: number;
  /**
   * fp32 (default), or bf16/fp16: the weights stay fp32 (the masters AdamW updates, and
   * their gradients), every forward writes a 16-bit copy for the matmuls, the blocks'
   * saved activations and the activation gradients handed between layers are 16-bit;
   * every kernel computes in fp32 (buffers.ts)
   */
  precision?: Precision;
}

/** A model for a script: GPTOptions, and sequences per forward pass (default 1). */
export interface LoadOptions extends GPTOptions {
  batchSize?: number;
}

// The dropout state: masks are keyed by (seed, pass), pass counting training forwards.
export interface DropoutState {
  seed: number;
  pass: number;
}

export class GPT {
  readonly config: GPTConfig;
  readonly spec: GPTSpec;
  readonly layout: ParameterLayout;
  readonly batchSize: number; // capacity in sequences
  readonly buffers: ModelBuffers;
  readonly dropoutSites: readonly string[];
  readonly recompute: Recompute;
  readonly lmHeadChunk: number;
  readonly precision: Precision;
  // The tokenizer the model was trained with: set by fromCheckpoint/fromHuggingFace (the
  // text generate() and stream() need it); null for a model built from a config.
  tokenizer: Tokenizer | null = null;
  private dropoutSeed = 0;
  private dropoutPass = 0;
  private last: Pass | null = null;

  /**
   * A new model of this shape with initialized weights (GPT-2's scheme unless `init` says
   * otherwise). Without `optimizer: false` it has room for AdamW's moments, to train.
   */
  static fromConfig(engine: Engine, config: GPTConfig, options: LoadOptions & { seed?: number; init?: InitOptions } = {}): GPT {
    const { batchSize = 1, seed = 1337, init = DEFAULT_INIT, ...o } = options;
    const model = new GPT(engine, config, batchSize, o);
    model.init(seed, init);
    return model;
  }

  /**
   * The model of a training run's checkpoint directory (its outDir, or outDir/best), with
   * its tokenizer. For inference unless `optimizer: true` (the moments are not loaded: to go
   * on training, use train({ resume: true })).
   */
  static fromCheckpoint(engine: Engine, dir: string, options: LoadOptions = {}): GPT {
    if (!existsSync(dir) || !statSync(dir).isDirectory() || !hasCheckpoint(dir)) {
      throw new CheckpointError(`${dir} is not a checkpoint directory (no state.json there): give a run's outDir; for Hugging Face files use GPT.fromHuggingFace`);
    }
    return GPT.fromLoaded(engine, loadCheckpointModel(dir), options);
  }

  /**
   * A Hugging Face GPT-2 model: its model.safetensors, or the directory holding it with
   * config.json (nHead: for a file without config.json, default 12). GPT-2's tokenizer, or
   * for our char models' exports the char-vocab.json beside it.
   */
  static fromHuggingFace(engine: Engine, path: string, options: LoadOptions & { nHead?: number } = {}): GPT {
    const { nHead = 12, ...o } = options;
    if (existsSync(path) && statSync(path).isDirectory() && hasCheckpoint(path) && !existsSync(join(path, 'model.safetensors'))) {
      throw new CheckpointError(`${path} is one of our checkpoints, not a Hugging Face export: use GPT.fromCheckpoint (or export it first)`);
    }
    return GPT.fromLoaded(engine, loadHfModel(path, nHead), o);
  }

  private static fromLoaded(engine: Engine, loaded: LoadedModel, options: LoadOptions): GPT {
    const { batchSize = 1, ...o } = options;
    const model = new GPT(engine, loaded.config, batchSize, { optimizer: false, ...o });
    model.params().set(loaded.params);
    model.tokenizer = loaded.tokenizer;
    return model;
  }

  // The memory a model of this shape needs, laid out but not allocated (to print or
  // refuse before allocating): the constructor commits exactly this plan.
  static plan(engine: Engine, config: GPTConfig, batchSize: number, options: GPTOptions = {}): MemoryPlan {
    checkShape(config, batchSize, options);
    const plan = engine.arena.plan();
    const o = planOptions(options);
    const spec = gptSpec(config, batchSize, o.lmHeadChunk);
    planModel(plan, engine, config, spec, layoutOf(spec), batchSize, o);
    return plan;
  }

  constructor(readonly engine: Engine, config: GPTConfig, batchSize: number, options: GPTOptions = {}) {
    checkShape(config, batchSize, options);
    this.config = { ...config };
    this.batchSize = batchSize;
    const o = planOptions(options);
    this.recompute = o.recompute;
    this.lmHeadChunk = o.lmHeadChunk;
    this.precision = o.precision;
    this.spec = gptSpec(this.config, batchSize, o.lmHeadChunk);
    this.layout = layoutOf(this.spec);
    this.dropoutSites = dropoutSites(this.spec);
    const plan = engine.arena.plan();
    this.buffers = planModel(plan, engine, this.config, this.spec, this.layout, batchSize, o);
    engine.arena.commit(plan);
    this.params().fill(0);
    this.grads().fill(0);
  }

  get numParams(): number {
    return this.layout.specs.reduce((n, s) => n + s.size, 0);
  }

  private paramSpec(name: string): ParamSpec {
    const s = this.layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return s;
  }

  // A parameter (or its gradient) as a tensor inside the flat buffer.
  paramTensor(name: string): F32 {
    const s = this.paramSpec(name);
    return slice(this.buffers.params, s.offset, s.shape);
  }

  gradTensor(name: string): F32 {
    const s = this.paramSpec(name);
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

  // Initial weights by a scheme (init.ts; default gpt2: N(0, 0.02), residual projections
  // scaled by 1/sqrt(2 nLayer), zero biases, unit LayerNorm gains). Also seeds dropout.
  init(seed: number, options: InitOptions = DEFAULT_INIT): void {
    initialize(this.layout.specs, (s) => this.param(s.name), this.config.nLayer, seed, options);
    this.dropoutSeed = seed;
    this.dropoutPass = 0;
  }

  // Dropout's state, for snapshots of a training run.
  get dropout(): DropoutState {
    return { seed: this.dropoutSeed, pass: this.dropoutPass };
  }

  set dropout(s: DropoutState) {
    this.dropoutSeed = s.seed;
    this.dropoutPass = s.pass;
  }

  zeroGrad(): void {
    zeroFill(this.buffers.ops, this.buffers.grads);
  }

  // ids, targets: [B, T] row-major. Returns the mean cross-entropy, or NaN without targets.
  forward(ids: ArrayLike<number>, targets: ArrayLike<number> | null, B: number, T: number, options: ForwardOptions = {}): number {
    const c = this.config;
    if (!Number.isInteger(B) || B < 1 || B > this.batchSize) throw new ConfigError(`batch of ${B} rows does not fit this model's capacity (${this.batchSize})`);
    if (!Number.isInteger(T) || T < 1 || T > c.blockSize) throw new ConfigError(`sequence length ${T} must be in [1, block_size=${c.blockSize}]`);
    const R = B * T;
    if (ids.length < R) throw new ConfigError(`ids has ${ids.length} entries, need ${R}`);
    const { ops, layers } = this.buffers;
    const idsT = prefix(this.buffers.ids, [B, T]);
    copyIds(this.engine.view(idsT), ids, c.vocabSize, 'token');
    const targetsT = prefix(this.buffers.targets, [R]);
    if (targets) copyIds(this.engine.view(targetsT), targets, c.vocabSize, 'target');
    const masks = this.masksForPass(options.train === true);
    this.last = null;

    const half = this.buffers.half;
    if (half) convert(ops, { out: half.weights, inp: this.buffers.params });
    const inputs = this.blockInputs(R);
    embeddingLayerForward(ops, layers.embedding, prefix(inputs[0], [B, T, c.nEmbd]), idsT, maskOf(masks, layers.embedding.spec.dropout.out));
    layers.blocks.forEach((b, l) => {
      // 16 bits: the block's input is kept before the block overwrites it with its output
      // (the last block's stay in the working set for backward)
      const stored = half?.blocks[l];
      if (stored) this.keepSaved([stored.input], R);
      blockForward(ops, b, inputs[l + 1], B, T, masks, this.buffers.work);
      if (stored) this.keepSaved(stored.rest, R);
    });
    const h = layernormLayerForward(ops, layers.lnf, inputs[c.nLayer]);
    let loss = NaN;
    let headGradScale: number | null = null;
    if (this.lmHeadChunk === 0) {
      lmHeadForward(ops, layers.lmHead, layers.embedding.params.wte, h);
      if (targets) loss = lmHeadLoss(ops, layers.lmHead, targetsT);
    } else if (targets) {
      // the head's backward runs now, chunk by chunk; dNorm holds its dx until backward()
      headGradScale = options.lossScale ?? null;
      const grad = headGradScale === null ? null : { dx: rows(this.buffers.work.dNorm, R), dloss: headGradScale / R };
      loss = lmHeadChunkedLoss(ops, layers.lmHead, layers.embedding.params.wte, h, targetsT, grad);
    }
    this.last = { B, T, masks, hasTargets: targets !== null, headGradScale };
    return loss;
  }

  // Gradients of (lossScale * mean loss) of the last forward are added to grads().
  backward(lossScale = 1): void {
    const last = this.last;
    if (!last || !last.hasTargets) throw new Error('backward() needs a forward() with targets first (one backward per forward: it consumes the logits)');
    if (this.lmHeadChunk > 0 && last.headGradScale !== lossScale) {
      throw new Error(`backward(${lossScale}) after a chunked-LM-head forward ${last.headGradScale === null ? 'without lossScale' : `with lossScale ${last.headGradScale}`}: ` +
        'the head computes its gradients during forward, so pass forward(..., { lossScale }) with the same scale');
    }
    this.last = null;
    const c = this.config;
    const { B, T, masks } = last;
    const R = B * T;
    const { ops, layers, work } = this.buffers;
    const dNorm = rows(work.dNorm, R);
    const dres = rows(this.buffers.dres, R);

    if (this.lmHeadChunk === 0) {
      lmHeadBackward(ops, layers.lmHead, layers.embedding.params.wte, dNorm, rows(layers.lnf.saved.out, R), prefix(this.buffers.targets, [R]), lossScale / R);
    }
    const half = this.buffers.half;
    zeroFill(ops, dres);
    layernormLayerBackward(ops, layers.lnf, dres, dNorm, rows(this.buffers.out, R));
    if (half) roundTo(ops, dres, half.format); // gradients handed between layers are 16-bit
    for (let l = c.nLayer - 1; l >= 0; l--) {
      // the shared block buffers hold the last block's forward; for the others, load what
      // they kept in 16 bits, and with recompute replay their forward from it
      if (l < c.nLayer - 1) {
        if (half) this.loadSaved(half.blocks[l], R);
        if (this.recompute === 'blocks') blockForward(ops, layers.blocks[l], null, B, T, masks, work);
      }
      blockBackward(ops, layers.blocks[l], dres, B, T, masks, work);
      if (half) roundTo(ops, dres, half.format);
    }
    embeddingLayerBackward(ops, layers.embedding, prefix(dres, [B, T, c.nEmbd]), prefix(this.buffers.ids, [B, T]), maskOf(masks, layers.embedding.spec.dropout.out));
  }

  // Each row's cross-entropy in the last forward with targets ([B*T] floats).
  rowLosses(): Float32Array {
    const last = this.last;
    if (!last || !last.hasTargets) throw new Error('rowLosses() needs a forward() with targets first');
    return this.engine.view(rows(this.buffers.layers.lmHead.saved.losses, last.B * last.T));
  }

  // logits of row i of the last forward ([V] floats). With a chunked head they are
  // computed here, for this row alone (valid until the next call).
  logitsRow(i: number): Float32Array {
    const head = this.buffers.layers.lmHead;
    if (this.lmHeadChunk === 0) return this.engine.view(row(head.saved.logits, i));
    const R = this.buffers.layers.lnf.saved.out.shape[0];
    if (!(Number.isInteger(i) && i >= 0 && i < R)) throw new ConfigError(`row ${i} is outside [0, ${R})`);
    const x = this.buffers.layers.lnf.saved.out;
    return this.engine.view(lmHeadRowLogits(this.buffers.ops, head, this.buffers.layers.embedding.params.wte, x, i));
  }

  // bf16/fp16: rows [0, R) of working tensors -> their 16-bit copies
  private keepSaved(list: readonly StoredActivation[], R: number): void {
    for (const a of list) {
      const { work, stored } = storedRows(a, R);
      convert(this.buffers.ops, { out: stored, inp: work });
    }
  }

  // ... and back into the working set, exactly
  private loadSaved(block: { input: StoredActivation; rest: readonly StoredActivation[] }, R: number): void {
    for (const a of [block.input, ...block.rest]) {
      const { work, stored } = storedRows(a, R);
      convert(this.buffers.ops, { out: work, inp: stored });
    }
  }

  // Each block's input buffer (written by the layer before it), then the last block's output.
  private blockInputs(R: number): F32[] {
    return [...this.buffers.layers.blocks.map((b) => rows(b.self.saved.x, R)), rows(this.buffers.out, R)];
  }

  private masksForPass(train: boolean): PassMasks {
    const p = train ? this.config.dropout : 0;
    if (p <= 0) return noDropout(this.dropoutSites);
    return dropoutMasks(this.dropoutSites, p, this.dropoutSeed, this.dropoutPass++);
  }
}

function checkShape(config: GPTConfig, batchSize: number, options: GPTOptions): void {
  validateGPTConfig(config);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`batch size must be a positive integer, got ${batchSize}`);
  const { recompute, lmHeadChunk, precision } = planOptions(options);
  if (recompute !== 'none' && recompute !== 'blocks') throw new ConfigError(`recompute must be none or blocks, got ${recompute}`);
  if (!PRECISIONS.includes(precision)) throw new ConfigError(`precision must be one of ${PRECISIONS.join(', ')}, got ${precision}`);
  if (!Number.isInteger(lmHeadChunk) || lmHeadChunk < 0) throw new ConfigError(`lmHeadChunk must be a non-negative integer, got ${lmHeadChunk}`);
}

function planOptions(options: GPTOptions): PlanOptions & { lmHeadChunk: number } {
  return { optimizer: options.optimizer ?? true, recompute: options.recompute ?? 'none', lmHeadChunk: options.lmHeadChunk ?? 0, precision: options.precision ?? 'fp32' };
}

// Copies token ids into the model's i32 buffer, refusing ids outside the vocabulary.
function copyIds(dst: Int32Array, src: ArrayLike<number>, vocabSize: number, what: string): void {
  for (let i = 0; i < dst.length; i++) {
    const id = src[i];
    if (!(id >= 0 && id < vocabSize)) throw new ConfigError(`${what} id ${id} at ${i} is outside the vocabulary [0, ${vocabSize})`);
    dst[i] = id;
  }
}
