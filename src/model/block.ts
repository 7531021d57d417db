// A transformer block, pre-LayerNorm:
//   resid2 = x + dropout(attn(ln_1(x)))
//   out    = resid2 + dropout(mlp(ln_2(resid2)))
// Saves its input x (written there by the layer before) and resid2.
import { rows } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { residualForward, dropout } from '../ops/elementwise.ts';
import type { DropoutMask } from '../ops/random.ts';
import type { Bound, F32, LayerSpec, Shape } from './layer.ts';
import { layernormSpec, layernormLayerForward, layernormLayerForwardResidual, layernormLayerBackward, type LayerNormSpec } from './layernorm.ts';
import { attentionSpec, attentionLayerForward, attentionLayerBackward, type AttentionSpec } from './attention.ts';
import { mlpSpec, mlpLayerForward, mlpLayerBackward, type MLP, type MLPSpec } from './mlp.ts';
import { activationOf, mlpHiddenOf, type GPTConfig } from './config.ts';
import { maskOf, type PassMasks } from './dropout.ts';

export interface BlockSpec extends LayerSpec {
  params: Record<string, never>;
  saved: { x: Shape; resid2: Shape };
  scratch: Record<string, never>;
  dropout: Record<string, never>;
  // its layers, in forward order
  ln1: LayerNormSpec;
  attn: AttentionSpec;
  ln2: LayerNormSpec;
  mlp: MLPSpec;
}

export type BlockConfig = Pick<GPTConfig, 'nEmbd' | 'nHead' | 'bias' | 'activation' | 'mlpHidden'>;

// block l for B sequences of up to T tokens at capacity
export function blockSpec(l: number, c: BlockConfig, B: number, T: number): BlockSpec {
  const name = `h.${l}`;
  const R = B * T;
  const C = c.nEmbd;
  return {
    name, params: {}, saved: { x: [R, C], resid2: [R, C] }, scratch: {}, dropout: {},
    ln1: layernormSpec(`${name}.ln_1`, C, R, c.bias),
    attn: attentionSpec(`${name}.attn`, C, c.nHead, B, T, c.bias),
    ln2: layernormSpec(`${name}.ln_2`, C, R, c.bias),
    mlp: mlpSpec(`${name}.mlp`, C, mlpHiddenOf(c), R, c.bias, activationOf(c)),
  };
}

export interface BlockLayers {
  self: Bound<BlockSpec>;
  ln1: Bound<LayerNormSpec>;
  attn: Bound<AttentionSpec>;
  ln2: Bound<LayerNormSpec>;
  mlp: MLP;
}

// Model-wide buffers the block passes between its layers: a branch's output before it
// is added, and two activation gradients.
export interface BlockWork {
  branch: F32; // [R, C]
  dBranch: F32; // [R, C]
  dNorm: F32; // [R, C]
}

// The block's input is self.saved.x; writes its output to out [R, C]. out null: a replay
// for backward (recompute), which needs the saved activations but not the output.
export function blockForward(ops: OpContext, b: BlockLayers, out: F32 | null, B: number, T: number, masks: PassMasks, w: BlockWork): void {
  const R = B * T;
  const x = rows(b.self.saved.x, R);
  const resid2 = rows(b.self.saved.resid2, R);
  const branch = rows(w.branch, R);
  const h1 = layernormLayerForward(ops, b.ln1, x);
  attentionLayerForward(ops, b.attn, branch, h1, B, T, maskOf(masks, b.attn.spec.dropout.probs));
  const h2 = layernormLayerForwardResidual(ops, b.ln2, resid2, x, branch, maskOf(masks, b.attn.spec.dropout.residual));
  mlpLayerForward(ops, b.mlp, branch, h2);
  if (out) residualForward(ops, { out, a: resid2, b: branch }, maskOf(masks, b.mlp.spec.dropout.residual));
}

// dres [R, C] holds d(out) on entry and d(x) on return (the residual path carries it through).
export function blockBackward(ops: OpContext, b: BlockLayers, dres: F32, B: number, T: number, masks: PassMasks, w: BlockWork): void {
  const R = B * T;
  const x = rows(b.self.saved.x, R);
  const dNorm = rows(w.dNorm, R);
  // MLP branch
  const dMlp = branchGradient(ops, dres, rows(w.dBranch, R), maskOf(masks, b.mlp.spec.dropout.residual));
  mlpLayerBackward(ops, b.mlp, dNorm, dMlp, rows(b.ln2.saved.out, R));
  layernormLayerBackward(ops, b.ln2, dres, dNorm, rows(b.self.saved.resid2, R));
  // attention branch
  const dAttn = branchGradient(ops, dres, rows(w.dBranch, R), maskOf(masks, b.attn.spec.dropout.residual));
  attentionLayerBackward(ops, b.attn, dNorm, dAttn, rows(b.ln1.saved.out, R), B, T, maskOf(masks, b.attn.spec.dropout.probs));
  layernormLayerBackward(ops, b.ln1, dres, dNorm, x);
}

// the gradient reaching a residual branch's output: dres through the branch's dropout mask
function branchGradient(ops: OpContext, dres: F32, dBranch: F32, mask: DropoutMask): F32 {
  if (!mask.threshold) return dres;
  dropout(ops, { out: dBranch, inp: dres }, mask);
  return dBranch;
}
