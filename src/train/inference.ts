// A trained model for sampling and evaluation: from one of our checkpoints or from a
// Hugging Face GPT-2 export/download; and scoring a token stream in block-size windows.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { GPTConfig } from '../model/config.ts';
import { parameterLayout } from '../model/parameters.ts';
import type { GPT } from '../model/gpt.ts';
import { tokenizerFromDescription, type Tokenizer } from '../data/tokenizer.ts';
import type { TokenArray } from '../data/dataset.ts';
import { CheckpointError, hasCheckpoint, loadCheckpointState, loadCheckpointWeights, type CheckpointState } from './checkpoint.ts';
import { copyHfWeights, readHfGpt2, GPT2_VOCAB_SIZE, InteropError } from '../interop/hf-gpt2.ts';
import { DataError } from '../data/corpus.ts';
import { ConfigError } from './config.ts';

export interface LoadedModel {
  config: GPTConfig;
  params: Float32Array; // in the GPT's layout
  tokenizer: Tokenizer;
  state: CheckpointState | null; // a checkpoint's (null for a Hugging Face file)
  describe: string; // one line for stderr
}

// `from`: a checkpoint directory (state.json), or a Hugging Face GPT-2 model.safetensors or
// its directory (config.json beside it; a char export's char-vocab.json gives its
// tokenizer). nHead: for a Hugging Face file without config.json.
export function loadModel(from: string, nHead = 12): LoadedModel {
  if (!existsSync(from)) throw new CheckpointError(`--from ${from}: no such file or directory`);
  if (statSync(from).isDirectory() && hasCheckpoint(from)) return loadCheckpointModel(from);
  return loadHfModel(from, nHead);
}

// A checkpoint directory's model, for inference (dropout off).
export function loadCheckpointModel(from: string): LoadedModel {
  const state = loadCheckpointState(from);
  const params = loadCheckpointWeights(from, parameterLayout(state.modelConfig));
  const c = state.modelConfig;
  return {
    config: { ...c, dropout: 0 }, params, tokenizer: tokenizerFromDescription(state.tokenizer), state,
    describe: `checkpoint ${from} (step ${state.step}): ${c.nLayer} layers, ${c.nHead} heads, n_embd ${c.nEmbd}, block ${c.blockSize}, vocab ${c.vocabSize} (${state.tokenizer.kind})`,
  };
}

// A Hugging Face GPT-2 model.safetensors or its directory, with its tokenizer.
export function loadHfModel(from: string, nHead = 12): LoadedModel {
  if (!existsSync(from)) throw new CheckpointError(`${from}: no such file or directory`);
  const dir = statSync(from).isDirectory() ? from : join(from, '..');
  if (statSync(from).isDirectory() && !existsSync(join(from, 'model.safetensors'))) {
    throw new CheckpointError(`--from ${from}: neither a checkpoint (state.json) nor a Hugging Face GPT-2 directory (model.safetensors)`);
  }
  const hf = readHfGpt2(from, nHead);
  const config: GPTConfig = { ...hf.config, dropout: 0, bias: true, activation: 'gelu' };
  const layout = parameterLayout(config);
  const params = new Float32Array(layout.total);
  copyHfWeights(hf, layout, params, config.blockSize, config.nEmbd);
  let tokenizer: Tokenizer;
  const charVocab = join(dir, 'char-vocab.json');
  if (existsSync(charVocab)) {
    tokenizer = tokenizerFromDescription({ kind: 'char', chars: JSON.parse(readFileSync(charVocab, 'utf8')).chars });
  } else if (config.vocabSize === GPT2_VOCAB_SIZE) {
    tokenizer = tokenizerFromDescription({ kind: 'gpt2', encoding: 'gpt2' });
  } else {
    throw new InteropError(`${hf.file}: vocab_size ${config.vocabSize} is not GPT-2's ${GPT2_VOCAB_SIZE}, and there is no char-vocab.json beside it: no tokenizer for it`);
  }
  if (tokenizer.vocabSize !== config.vocabSize) throw new InteropError(`${charVocab}: ${tokenizer.vocabSize} ids, the model ${config.vocabSize}`);
  return {
    config, params, tokenizer, state: null,
    describe: `Hugging Face GPT-2 ${hf.file}: ${config.nLayer} layers, ${config.nHead} heads, n_embd ${config.nEmbd}, n_positions ${config.blockSize}, vocab ${config.vocabSize} (${tokenizer.kind})`,
  };
}

export interface Score {
  loss: number; // mean cross-entropy in nats per scored token
  tokens: number; // tokens scored (every token after the first)
  windows: number;
}

// Scores every token of `tokens` after the first exactly once, in windows of blockSize
// tokens that start `stride` apart: the first window scores all its targets, each later
// one only those past the previous window's, so every scored token but the first
// window's sees at least blockSize - stride tokens of context. B windows per forward.
export function scoreTokens(model: GPT, tokens: TokenArray, stride: number): Score {
  const T = model.config.blockSize;
  const B = model.batchSize;
  const N = tokens.length;
  if (N < 2) throw new DataError(`${N} tokens: nothing to score (give at least two tokens of text)`, 'E_DATA_EMPTY');
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= T)) throw new ConfigError(`stride ${stride} must be in [1, block_size ${T}] (the default is half a block)`);
  // windows: [start, start + length) of inputs, scoring their last `scored` targets
  const windows: { start: number; length: number; scored: number }[] = [];
  let done = 0; // targets 1 .. done are scored
  for (let start = 0; done < N - 1; start += stride) {
    const length = Math.min(T, N - 1 - start);
    windows.push({ start, length, scored: start + length - done });
    done = start + length;
  }
  let nll = 0;
  for (let w = 0; w < windows.length;) {
    // a batch of windows of one length (all but the last have length T)
    const L = windows[w].length;
    let b = 0;
    while (w + b < windows.length && b < B && windows[w + b].length === L) b++;
    const ids = new Int32Array(b * L), targets = new Int32Array(b * L);
    for (let i = 0; i < b; i++) {
      const { start } = windows[w + i];
      for (let t = 0; t < L; t++) {
        ids[i * L + t] = tokens[start + t];
        targets[i * L + t] = tokens[start + t + 1];
      }
    }
    model.forward(ids, targets, b, L);
    const losses = model.rowLosses();
    for (let i = 0; i < b; i++) {
      for (let t = L - windows[w + i].scored; t < L; t++) nll += losses[i * L + t];
    }
    w += b;
  }
  return { loss: nll / (N - 1), tokens: N - 1, windows: windows.length };
}
