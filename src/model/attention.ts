// Causal multi-head self-attention: branch = c_proj(attention(c_attn(x))). Saves qkv,
// each attention row's log-sum-exp (the backward recomputes the probabilities from q,
// k and it) and the attention output.
import { prefix, rows } from '../engine/tensor.ts';
import type { OpContext } from '../ops/context.ts';
import { attentionForward, attentionBackward } from '../ops/attention.ts';
import type { DropoutMask } from '../ops/random.ts';
import { bias, weight, type Bound, type F32, type LayerSpec, type ParamDecl, type Shape } from './layer.ts';
import { linearForward, linearBackward } from './linear.ts';

export interface AttentionSpec extends LayerSpec {
  nHead: number;
  params: { qkvWeight: ParamDecl; qkvBias: ParamDecl | null; projWeight: ParamDecl; projBias: ParamDecl | null };
  saved: { qkv: Shape; lse: Shape; out: Shape };
  scratch: { dOut: Shape; dqkv: Shape };
  // probs: on the attention probabilities; residual: on the branch before the block adds it
  dropout: { probs: string; residual: string };
}

// B sequences of up to T tokens at capacity; name: 'h.<layer>.attn'
export function attentionSpec(name: string, C: number, nHead: number, B: number, T: number, withBias: boolean): AttentionSpec {
  const R = B * T;
  return {
    name,
    nHead,
    params: {
      qkvWeight: weight(`${name}.c_attn.weight`, [3 * C, C]),
      qkvBias: bias(`${name}.c_attn.bias`, [3 * C], withBias),
      projWeight: weight(`${name}.c_proj.weight`, [C, C], 'residual'),
      projBias: bias(`${name}.c_proj.bias`, [C], withBias),
    },
    saved: { qkv: [R, 3 * C], lse: [B, nHead, T], out: [R, C] },
    scratch: { dOut: [R, C], dqkv: [R, 3 * C] },
    dropout: { probs: `${name}.attn_dropout`, residual: `${name}.resid_dropout` },
  };
}

type Attn = Bound<AttentionSpec>;

function saved(a: Attn, B: number, T: number) {
  const C = a.spec.saved.out[1];
  const H = a.spec.nHead;
  const R = B * T;
  return { qkv: rows(a.saved.qkv, R), lse: prefix(a.saved.lse, [B, H, T]), out: rows(a.saved.out, R), C, H };
}

// x [R = B*T, C] (the normed residual) -> branch [R, C]; mask: on the probabilities
export function attentionLayerForward(ops: OpContext, a: Attn, branch: F32, x: F32, B: number, T: number, mask: DropoutMask): void {
  const { qkv, lse, out, C, H } = saved(a, B, T);
  const p = a.params;
  linearForward(ops, p.qkvWeight, p.qkvBias, qkv, x);
  attentionForward(ops, { out: prefix(out, [B, T, C]), lse, qkv: prefix(qkv, [B, T, 3 * C]) }, H, mask);
  linearForward(ops, p.projWeight, p.projBias, branch, out);
}

// dx [R, C] = the gradient reaching x from dbranch (overwritten); parameter gradients accumulate
export function attentionLayerBackward(ops: OpContext, a: Attn, dx: F32, dbranch: F32, x: F32, B: number, T: number, mask: DropoutMask): void {
  const { qkv, lse, out, C, H } = saved(a, B, T);
  const p = a.params;
  const R = B * T;
  const dOut = rows(a.scratch.dOut, R);
  const dqkv = rows(a.scratch.dqkv, R);
  linearBackward(ops, p.projWeight, p.projBias, dOut, dbranch, out);
  attentionBackward(ops, {
    dqkv: prefix(dqkv, [B, T, 3 * C]), dout: prefix(dOut, [B, T, C]), qkv: prefix(qkv, [B, T, 3 * C]), lse,
  }, H, mask);
  linearBackward(ops, p.qkvWeight, p.qkvBias, dx, dqkv, x);
}
