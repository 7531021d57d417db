// Text in, text out: a loaded model (GPT.fromCheckpoint / fromHuggingFace, which carry
// their tokenizer) continuing a prompt, on the key/value-cache decoder. stream() hands the
// text over token by token and gives the event loop a turn between tokens, so a server
// embedding it keeps answering; generate() is the whole continuation at once.
import { Decoder } from '../model/decoder.ts';
import type { GPT } from '../model/gpt.ts';
import type { Tokenizer } from '../data/tokenizer.ts';
import { Rng } from '../engine/random.ts';
import { ConfigError } from '../errors.ts';
import { generateTokens, SAMPLE_DEFAULTS } from './sample.ts';

/** How to sample: the `sample` command's options by their camelCase names, with its defaults. */
export interface GenerateOptions {
  /** Tokens to generate (default 200). */
  maxNewTokens?: number;
  /** Sampling temperature, > 0; lower is greedier (default 0.8). */
  temperature?: number;
  /** Sample from the k most likely tokens; 0 = all, 1 = greedy (default 200). */
  topK?: number;
  /** Nucleus sampling: the fewest tokens whose probability reaches p; 1 = off (default 1). */
  topP?: number;
  /** The same seed, prompt and model give the same text (default 1337). */
  seed?: number;
  /** The tokenizer, for a model that has none (one built with GPT.fromConfig). */
  tokenizer?: Tokenizer;
  /** Stop early: the text so far is what generate() returns. */
  signal?: AbortSignal;
}

// One decoder per model, sharing its weights and its op scratch (idle while sampling).
const decoders = new WeakMap<GPT, Decoder>();
const busy = new WeakSet<GPT>();

/**
 * The continuation of `prompt`, piece by piece: each piece is the text one new token adds
 * (a token that ends inside a multi-byte character adds its text with the next one).
 */
export async function* stream(model: GPT, prompt: string, options: GenerateOptions = {}): AsyncGenerator<string, void, undefined> {
  const tokenizer = options.tokenizer ?? model.tokenizer;
  if (!tokenizer) throw new ConfigError('this model has no tokenizer: load it with GPT.fromCheckpoint or GPT.fromHuggingFace, or pass options.tokenizer');
  if (typeof prompt !== 'string' || prompt === '') throw new ConfigError('the prompt must be a non-empty string');
  const o = { ...SAMPLE_DEFAULTS, ...definedOnly(options) };
  if (!(Number.isInteger(o.maxNewTokens) && o.maxNewTokens >= 0)) throw new ConfigError(`maxNewTokens must be a non-negative integer, got ${o.maxNewTokens}`);
  if (!(Number.isInteger(o.topK) && o.topK >= 0)) throw new ConfigError(`topK must be a non-negative integer, got ${o.topK} (0 = the whole vocabulary)`);
  if (!Number.isInteger(o.seed)) throw new ConfigError(`seed must be an integer, got ${o.seed}`);
  if (busy.has(model)) throw new ConfigError('this model is already generating: finish (or break out of) the other generate/stream first');
  const ids = tokenizer.encode(prompt);
  if (ids.length === 0) throw new ConfigError('the prompt encodes to no tokens');
  let decoder = decoders.get(model);
  if (!decoder) {
    decoder = new Decoder(model.engine, model.config, { params: model.buffers.params, ops: model.buffers.ops });
    decoders.set(model, decoder);
  }
  busy.add(model);
  try {
    const out: number[] = [];
    let shown = 0;
    for (const id of generateTokens(decoder, ids, o, new Rng(o.seed))) {
      if (options.signal?.aborted) return;
      out.push(id);
      // GPT-2's byte-level tokens may end inside a character: hold back a trailing U+FFFD
      const text = tokenizer.decode(out);
      const partial = tokenizer.kind !== 'char' && text.endsWith('\uFFFD') && out.length < o.maxNewTokens;
      const end = partial ? text.length - 1 : text.length;
      if (end > shown) {
        yield text.slice(shown, end);
        shown = end;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    busy.delete(model);
  }
}

/** The continuation of `prompt` (without the prompt). */
export async function generate(model: GPT, prompt: string, options: GenerateOptions = {}): Promise<string> {
  let text = '';
  for await (const piece of stream(model, prompt, options)) text += piece;
  return text;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
