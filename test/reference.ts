// Plain float64 reference implementations of every kernel and of the whole GPT-2
// forward pass, written for clarity, not speed. Tests feed the kernels (f32) and
// these functions (f64) the same f32-representable inputs and compare.
//
// Layouts follow the kernels (assembly/*.ts): row-major; a Linear weight is
// [out, in] (PyTorch); qkv rows are q | k | v, head h using channels [h*hs, (h+1)*hs).
import { Rng } from '../src/engine/random.ts';
import { gptSpec } from '../src/model/gpt-spec.ts';
import type { ParamDecl } from '../src/model/layer.ts';

export type Vec = Float64Array;
export type NumArray = ArrayLike<number>;

// ---------------------------------------------------------------- random inputs

export { Rng };

/** n normal draws times `scale`, each rounded to f32 so the kernels see the same values. */
export function randomArray(rng: Rng, n: number, scale = 1, offset = 0): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround(offset + scale * rng.normal());
  return a;
}

/** n uniform integers in [0, max). */
export function randomInts(rng: Rng, n: number, max: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(max);
  return a;
}

// ---------------------------------------------------------------- finite differences

/** Central difference (f(x + eps e_i) - f(x - eps e_i)) / 2 eps; x[i] is restored. */
export function finiteDifference(f: () => number, x: Float64Array, i: number, eps = 1e-5): number {
  const saved = x[i];
  x[i] = saved + eps;
  const plus = f();
  x[i] = saved - eps;
  const minus = f();
  x[i] = saved;
  return (plus - minus) / (2 * eps);
}

/** Central differences for every element of x. */
export function finiteDifferences(f: () => number, x: Float64Array, eps = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) g[i] = finiteDifference(f, x, i, eps);
  return g;
}

/** sum_i a[i] * b[i] */
export function dot(a: NumArray, b: NumArray): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

// ---------------------------------------------------------------- Linear

/** y [M, N] = x [M, K] W^T + b, W [N, K], b [N] or null. */
export function matmulForward(x: NumArray, W: NumArray, b: NumArray | null, M: number, K: number, N: number): Vec {
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = b ? b[j] : 0;
      for (let k = 0; k < K; k++) s += x[i * K + k] * W[j * K + k];
      y[i * N + j] = s;
    }
  }
  return y;
}

/** dx [M, K] = dy [M, N] W [N, K] */
export function matmulBackwardInput(dy: NumArray, W: NumArray, M: number, K: number, N: number): Vec {
  const dx = new Float64Array(M * K);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += dy[i * N + j] * W[j * K + k];
      dx[i * K + k] = s;
    }
  }
  return dx;
}

/** dW [N, K] = dy^T [N, M] x [M, K] */
export function matmulBackwardWeights(dy: NumArray, x: NumArray, M: number, K: number, N: number): Vec {
  const dW = new Float64Array(N * K);
  for (let j = 0; j < N; j++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let i = 0; i < M; i++) s += dy[i * N + j] * x[i * K + k];
      dW[j * K + k] = s;
    }
  }
  return dW;
}

/** db [N] = sum over rows of dy [M, N] */
export function matmulBackwardBias(dy: NumArray, M: number, N: number): Vec {
  const db = new Float64Array(N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) db[j] += dy[i * N + j];
  return db;
}

// ---------------------------------------------------------------- LayerNorm

export const LAYERNORM_EPS = 1e-5;

/** Per row of x [rows, C]: (x - mean) / sqrt(var + eps) * w + b, biased variance. */
export function layernormForward(x: NumArray, w: NumArray, b: NumArray | null, rows: number, C: number): { out: Vec; mean: Vec; rstd: Vec } {
  const out = new Float64Array(rows * C);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let m = 0;
    for (let j = 0; j < C; j++) m += x[i * C + j];
    m /= C;
    let v = 0;
    for (let j = 0; j < C; j++) v += (x[i * C + j] - m) ** 2;
    v /= C;
    const r = 1 / Math.sqrt(v + LAYERNORM_EPS);
    for (let j = 0; j < C; j++) out[i * C + j] = (x[i * C + j] - m) * r * w[j] + (b ? b[j] : 0);
    mean[i] = m;
    rstd[i] = r;
  }
  return { out, mean, rstd };
}

// ---------------------------------------------------------------- GELU (tanh approximation)

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function geluScalar(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

export function geluForward(x: NumArray): Vec {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = geluScalar(x[i]);
  return y;
}

// ---------------------------------------------------------------- SwiGLU gate

export function siluScalar(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** silu'(x) = s (1 + x (1 - s)), s = 1 / (1 + e^-x), in f64 (1 - s as e^-x s: no cancellation). */
export function siluDerivative(x: number): number {
  const s = 1 / (1 + Math.exp(-x));
  const oneMinusS = x >= 0 ? Math.exp(-x) * s : 1 / (1 + Math.exp(x));
  return s * (1 + x * oneMinusS);
}

/** silu(gate) * up, elementwise */
export function swigluForward(gate: NumArray, up: NumArray): Vec {
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = siluScalar(gate[i]) * up[i];
  return y;
}

// ---------------------------------------------------------------- dropout

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The kernels' keep rule (assembly/random.ts): element i survives when the hash is >= threshold. */
export function keepElement(key: number, i: number, threshold: number): boolean {
  return mix32((mix32((i ^ key) >>> 0) + (key >>> 0)) >>> 0) >= threshold >>> 0;
}

/** A dropout site's mask: threshold 0 means none (the shape of src/ops/random.ts DropoutMask). */
export interface RefMask {
  key: number;
  threshold: number;
  scale: number;
}

/** Multiplier of element i under a mask: 0, the f32 scale, or 1 without dropout. */
export function dropoutFactor(mask: RefMask | null | undefined, i: number): number {
  if (!mask || !mask.threshold) return 1;
  return keepElement(mask.key, i, mask.threshold) ? Math.fround(mask.scale) : 0;
}

export function dropoutForward(x: NumArray, mask: RefMask | null | undefined): Vec {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * dropoutFactor(mask, i);
  return y;
}

// ---------------------------------------------------------------- attention

/**
 * Causal multi-head self-attention. qkv [B, T, 3C] -> out [B, T, C]; att [B, H, T, T]
 * holds the softmax probabilities (before dropout), zero above the diagonal.
 * Dropout (optional) masks probability (b, h, t, t2) by its index in att.
 */
export function attentionForward(qkv: NumArray, B: number, T: number, C: number, H: number, mask?: RefMask | null): { out: Vec; att: Vec } {
  const hs = C / H;
  const scale = 1 / Math.sqrt(hs);
  const out = new Float64Array(B * T * C);
  const att = new Float64Array(B * H * T * T);
  const scores = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * 3 * C + h * hs;
        let maxv = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = (b * T + t2) * 3 * C + C + h * hs;
          let s = 0;
          for (let d = 0; d < hs; d++) s += qkv[q + d] * qkv[k + d];
          scores[t2] = s * scale;
          maxv = Math.max(maxv, scores[t2]);
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) sum += Math.exp(scores[t2] - maxv);
        const row = ((b * H + h) * T + t) * T;
        for (let t2 = 0; t2 <= t; t2++) att[row + t2] = Math.exp(scores[t2] - maxv) / sum;
        const o = (b * T + t) * C + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const p = att[row + t2] * dropoutFactor(mask, row + t2);
          const v = (b * T + t2) * 3 * C + 2 * C + h * hs;
          for (let d = 0; d < hs; d++) out[o + d] += p * qkv[v + d];
        }
      }
    }
  }
  return { out, att };
}

/** The gradient of sum(attentionForward(qkv).out * dout) with respect to qkv ([B, T, 3C]), analytically, no dropout. */
export function attentionBackward(qkv: NumArray, dout: NumArray, B: number, T: number, C: number, H: number): Vec {
  const hs = C / H;
  const scale = 1 / Math.sqrt(hs);
  const { att } = attentionForward(qkv, B, T, C, H);
  const dqkv = new Float64Array(B * T * 3 * C);
  const dS = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * H + h) * T + t) * T;
        const o = (b * T + t) * C + h * hs;
        const q = (b * T + t) * 3 * C + h * hs;
        // dP = dout v^T, then dS = P (dP - sum P dP)
        let D = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const v = (b * T + t2) * 3 * C + 2 * C + h * hs;
          let dp = 0;
          for (let d = 0; d < hs; d++) dp += dout[o + d] * qkv[v + d];
          dS[t2] = dp;
          D += att[row + t2] * dp;
          for (let d = 0; d < hs; d++) dqkv[v + d] += att[row + t2] * dout[o + d]; // dv
        }
        for (let t2 = 0; t2 <= t; t2++) {
          const g = att[row + t2] * (dS[t2] - D) * scale;
          const k = (b * T + t2) * 3 * C + C + h * hs;
          for (let d = 0; d < hs; d++) {
            dqkv[q + d] += g * qkv[k + d];
            dqkv[k + d] += g * qkv[q + d];
          }
        }
      }
    }
  }
  return dqkv;
}

/** Per (b, h, t): log-sum-exp over t2 <= t of the scaled scores q_t . k_t2 / sqrt(hs) ([B, H, T]). */
export function attentionLse(qkv: NumArray, B: number, T: number, C: number, H: number): Vec {
  const hs = C / H;
  const scale = 1 / Math.sqrt(hs);
  const lse = new Float64Array(B * H * T);
  const scores = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * 3 * C + h * hs;
        let maxv = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const k = (b * T + t2) * 3 * C + C + h * hs;
          let s = 0;
          for (let d = 0; d < hs; d++) s += qkv[q + d] * qkv[k + d];
          scores[t2] = s * scale;
          maxv = Math.max(maxv, scores[t2]);
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) sum += Math.exp(scores[t2] - maxv);
        lse[(b * H + h) * T + t] = maxv + Math.log(sum);
      }
    }
  }
  return lse;
}

// ---------------------------------------------------------------- cross-entropy

/** Per row of logits [rows, V]: logsumexp(row) - row[target]. */
export function crossEntropyLosses(logits: NumArray, targets: NumArray, rows: number, V: number): Vec {
  const losses = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let maxv = -Infinity;
    for (let j = 0; j < V; j++) maxv = Math.max(maxv, logits[i * V + j]);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[i * V + j] - maxv);
    losses[i] = Math.log(sum) + maxv - logits[i * V + targets[i]];
  }
  return losses;
}

/** Mean cross-entropy over rows. */
export function crossEntropyMean(logits: NumArray, targets: NumArray, rows: number, V: number): number {
  const losses = crossEntropyLosses(logits, targets, rows, V);
  let s = 0;
  for (let i = 0; i < rows; i++) s += losses[i];
  return s / rows;
}

// ---------------------------------------------------------------- embedding, residual

/** out [B*T, C]: row i = wte[ids[i]] + wpe[i % T]. */
export function embeddingForward(ids: NumArray, wte: NumArray, wpe: NumArray, rows: number, T: number, C: number): Vec {
  const out = new Float64Array(rows * C);
  for (let i = 0; i < rows; i++) {
    const tok = ids[i];
    const pos = i % T;
    for (let j = 0; j < C; j++) out[i * C + j] = wte[tok * C + j] + wpe[pos * C + j];
  }
  return out;
}

export function add(a: NumArray, b: NumArray): Vec {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}

// ---------------------------------------------------------------- AdamW, sum of squares

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradScale: number;
  bc1: number; // 1 - beta1^t
  bc2: number; // 1 - beta2^t
}

/** One AdamW step (assembly/optimizer.ts), in place on p, m, v. */
export function adamwStep(p: Float64Array, g: NumArray, m: Float64Array, v: Float64Array, h: AdamWHyper): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * h.gradScale;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * gi * gi;
    const mHat = m[i] / h.bc1;
    const vHat = v[i] / h.bc2;
    p[i] -= h.lr * (mHat / (Math.sqrt(vHat) + h.eps) + h.weightDecay * p[i]);
  }
}

/** partials[c] = sum of squares of x[c*chunk, min((c+1)*chunk, n)). */
export function sumSquaresChunks(x: NumArray, chunk: number): Vec {
  const chunks = Math.ceil(x.length / chunk);
  const partials = new Float64Array(chunks);
  for (let c = 0; c < chunks; c++) {
    for (let i = c * chunk; i < Math.min((c + 1) * chunk, x.length); i++) partials[c] += x[i] * x[i];
  }
  return partials;
}

// ---------------------------------------------------------------- the whole GPT-2

export interface RefGPTConfig {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  bias: boolean;
  activation?: 'gelu' | 'swiglu';
  mlpHidden?: number;
}

/** Parameters by Hugging Face GPT-2 name, flat row-major. */
export type RefParams = Map<string, Float64Array> | Record<string, Float64Array>;

/** One forward pass's dropout masks, by site name (src/model/dropout.ts dropoutMasks). */
export type RefMasks = ReadonlyMap<string, RefMask>;

function getParam(params: RefParams, name: string): Float64Array {
  const v = params instanceof Map ? params.get(name) : params[name];
  if (!v) throw new Error(`reference GPT: no parameter ${name}`);
  return v;
}

/**
 * GPT-2 forward over the model's own layer declarations (src/model/gpt-spec.ts): their
 * parameter names and dropout sites. Embedding, nLayer pre-LN blocks
 *   x = x + dropout(attn.c_proj(attention(attn.c_attn(ln_1(x)))))
 *   x = x + dropout(mlp.c_proj(gelu(mlp.c_fc(ln_2(x)))))
 * (or with SwiGLU: mlp.c_proj(silu(mlp.c_gate(h)) * mlp.c_up(h)), h = ln_2(x))
 * then ln_f and the LM head tied to wte. Returns the logits and the mean cross-entropy
 * (NaN without targets). ids, targets: [B, T] row-major.
 */
export function gptForward(
  params: RefParams, config: RefGPTConfig, ids: NumArray, targets: NumArray | null, B: number, T: number, masks?: RefMasks,
): { logits: Vec; loss: number } {
  const spec = gptSpec(config, B);
  const C = config.nEmbd;
  const V = config.vocabSize;
  const rows = B * T;
  const P = (d: ParamDecl) => getParam(params, d.name);
  const Pb = (d: ParamDecl | null) => (d ? P(d) : null);
  const M = (site: string) => masks?.get(site);
  const e = spec.embedding;
  let x = dropoutForward(embeddingForward(ids, P(e.params.wte), P(e.params.wpe), rows, T, C), M(e.dropout.out));
  for (const b of spec.blocks) {
    const { ln1, attn, ln2, mlp } = b;
    const h1 = layernormForward(x, P(ln1.params.weight), Pb(ln1.params.bias), rows, C).out;
    const qkv = matmulForward(h1, P(attn.params.qkvWeight), Pb(attn.params.qkvBias), rows, C, 3 * C);
    const a = attentionForward(qkv, B, T, C, config.nHead, M(attn.dropout.probs)).out;
    const proj = matmulForward(a, P(attn.params.projWeight), Pb(attn.params.projBias), rows, C, C);
    x = add(x, dropoutForward(proj, M(attn.dropout.residual)));
    const h2 = layernormForward(x, P(ln2.params.weight), Pb(ln2.params.bias), rows, C).out;
    const H = mlp.params.projWeight.shape[1];
    let act: Vec;
    if (mlp.activation === 'swiglu') {
      const gate = matmulForward(h2, P(mlp.params.gateWeight), Pb(mlp.params.gateBias), rows, C, H);
      const up = matmulForward(h2, P(mlp.params.upWeight), Pb(mlp.params.upBias), rows, C, H);
      act = swigluForward(gate, up);
    } else {
      act = geluForward(matmulForward(h2, P(mlp.params.fcWeight), Pb(mlp.params.fcBias), rows, C, H));
    }
    const out = matmulForward(act, P(mlp.params.projWeight), Pb(mlp.params.projBias), rows, H, C);
    x = add(x, dropoutForward(out, M(mlp.dropout.residual)));
  }
  const hf = layernormForward(x, P(spec.lnf.params.weight), Pb(spec.lnf.params.bias), rows, C).out;
  const logits = matmulForward(hf, getParam(params, spec.lmHead.tiedTo), null, rows, C, V);
  const loss = targets ? crossEntropyMean(logits, targets, rows, V) : NaN;
  return { logits, loss };
}

/** Mean cross-entropy of the reference GPT. */
export function gptLoss(params: RefParams, config: RefGPTConfig, ids: NumArray, targets: NumArray, B: number, T: number, masks?: RefMasks): number {
  return gptForward(params, config, ids, targets, B, T, masks).loss;
}
