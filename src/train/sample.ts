// Autoregressive generation with temperature and top-k.
import type { GPT } from '../model/gpt.ts';
import type { Rng } from '../engine/random.ts';

export interface SampleOptions {
  maxNewTokens: number;
  temperature: number; // > 0; lower is greedier
  topK: number; // 0 = whole vocabulary
}

// Returns the prompt ids followed by maxNewTokens sampled ids. Each new token
// runs the model on the last blockSize tokens (no KV cache yet).
export function generate(model: GPT, prompt: number[], options: SampleOptions, rng: Rng): number[] {
  if (prompt.length === 0) throw new RangeError('generation needs a non-empty prompt');
  if (!(options.temperature > 0)) throw new RangeError(`temperature must be > 0, got ${options.temperature}`);
  const out = prompt.slice();
  const V = model.config.vocabSize;
  const probs = new Float64Array(V);
  for (let n = 0; n < options.maxNewTokens; n++) {
    const context = out.slice(-model.config.blockSize);
    const T = context.length;
    model.forward(context, null, 1, T);
    const logits = model.logitsRow(T - 1);
    out.push(sampleLogits(logits, options, rng, probs));
  }
  return out;
}

export function sampleLogits(logits: Float32Array, options: Omit<SampleOptions, 'maxNewTokens'>, rng: Rng, probs = new Float64Array(logits.length)): number {
  const V = logits.length;
  let cutoff = -Infinity;
  if (options.topK > 0 && options.topK < V) {
    const sorted = Float32Array.from(logits).sort();
    cutoff = sorted[V - options.topK];
  }
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] >= cutoff && logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < V; i++) {
    probs[i] = logits[i] >= cutoff ? Math.exp((logits[i] - max) / options.temperature) : 0;
    sum += probs[i];
  }
  let u = rng.nextFloat() * sum;
  for (let i = 0; i < V; i++) {
    u -= probs[i];
    if (u < 0 && probs[i] > 0) return i;
  }
  for (let i = V - 1; i >= 0; i--) if (probs[i] > 0) return i;
  return 0;
}
