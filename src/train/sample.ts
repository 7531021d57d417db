// Autoregressive generation with temperature, top-k and top-p, on the key/value-cache
// decoder (src/model/decoder.ts): the prompt goes in once, then each new token costs one
// position. Past block_size the context slides: the cache keeps the last half of the
// window (re-run as one prompt), so a token still costs one position on average.
import type { GPT } from '../model/gpt.ts';
import type { Decoder } from '../model/decoder.ts';
import type { Rng } from '../engine/random.ts';
import { ConfigError } from './config.ts';

export interface SampleOptions {
  maxNewTokens: number;
  /** > 0; lower is greedier */
  temperature: number;
  /** 0 = whole vocabulary; 1 = greedy */
  topK: number;
  /** nucleus: the fewest tokens whose probability adds up to topP (1 = off) */
  topP?: number;
}

// The `sample` command's defaults, which the library's generate() and stream() share.
export const SAMPLE_DEFAULTS = { maxNewTokens: 200, temperature: 0.8, topK: 200, topP: 1, seed: 1337 } as const;

function check(prompt: ArrayLike<number>, options: SampleOptions): void {
  if (prompt.length === 0) throw new ConfigError('generation needs a non-empty prompt (give at least one token)');
  if (!(options.temperature > 0)) throw new ConfigError(`temperature must be > 0, got ${options.temperature} (1 samples the model's distribution as is)`);
  const topP = options.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new ConfigError(`top-p must be in (0, 1], got ${topP} (1 turns it off)`);
}

// The new token ids one by one, after the prompt.
export function* generateTokens(decoder: Decoder, prompt: ArrayLike<number>, options: SampleOptions, rng: Rng): Generator<number> {
  check(prompt, options);
  const T = decoder.config.blockSize;
  const context = Array.from(prompt).slice(-T);
  const probs = new Float64Array(decoder.config.vocabSize);
  decoder.reset();
  let logits = decoder.feed(context);
  for (let n = 0; n < options.maxNewTokens; n++) {
    const next = sampleLogits(logits, options, rng, probs);
    yield next;
    context.push(next);
    if (decoder.position === T) {
      decoder.reset();
      logits = decoder.feed(context.slice(-Math.ceil(T / 2)));
      context.splice(0, context.length - Math.ceil(T / 2));
    } else {
      logits = decoder.feed([next]);
    }
  }
}

// Returns the prompt ids followed by maxNewTokens sampled ids.
export function generate(decoder: Decoder, prompt: ArrayLike<number>, options: SampleOptions, rng: Rng): number[] {
  return [...Array.from(prompt), ...generateTokens(decoder, prompt, options, rng)];
}

// The same without a cache: every token runs the whole window (the last block_size
// tokens) through the training model. For tests and the benchmark that compares them.
export function generateWithoutCache(model: GPT, prompt: ArrayLike<number>, options: SampleOptions, rng: Rng): number[] {
  check(prompt, options);
  const out = Array.from(prompt);
  const probs = new Float64Array(model.config.vocabSize);
  for (let n = 0; n < options.maxNewTokens; n++) {
    const context = out.slice(-model.config.blockSize);
    model.forward(context, null, 1, context.length);
    out.push(sampleLogits(model.logitsRow(context.length - 1), options, rng, probs));
  }
  return out;
}

// One token id from logits: top-k, then temperature, then top-p; one uniform draw.
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
  const topP = options.topP ?? 1;
  if (topP < 1) {
    // keep the most probable tokens until their mass reaches topP
    const order = Array.from({ length: V }, (_, i) => i).filter((i) => probs[i] > 0).sort((a, b) => probs[b] - probs[a] || a - b);
    let kept = 0;
    let k = 0;
    while (k < order.length && kept < topP * sum) kept += probs[order[k++]];
    for (let j = k; j < order.length; j++) probs[order[j]] = 0;
    sum = kept;
  }
  let u = rng.nextFloat() * sum;
  for (let i = 0; i < V; i++) {
    u -= probs[i];
    if (u < 0 && probs[i] > 0) return i;
  }
  for (let i = V - 1; i >= 0; i--) if (probs[i] > 0) return i;
  return 0;
}
