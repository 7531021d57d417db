// The public API: what `import ... from 'wasmgpt'` gives a Node script. Everything else
// (kernels, ops, byte addresses, the test helpers) is internal.

// Errors: every user mistake is a WasmgptError with a stable code.
export { WasmgptError, ConfigError, ERROR_CODES } from './errors.ts';
export type { ErrorCode } from './errors.ts';
export { DataError } from './data/corpus.ts';
export { CheckpointError } from './train/checkpoint.ts';
export { TrainingError } from './train/errors.ts';
export { WorkerError } from './engine/pool.ts';
export { InteropError } from './interop/hf-gpt2.ts';
export { SafetensorsError } from './io/safetensors.ts';

// Training runs, in a thread of their own (the CLI's options, by camelCase name).
export { train, findLearningRate, THROUGHPUT_WARMUP_STEPS } from './train/trainer.ts';
export type { TrainOptions, TrainHooks, TrainResult, EvalProgress, LogLevel, StepProgress } from './train/trainer.ts';
export type { LrSweep, LrPoint } from './train/lr-finder.ts';
export { defaultTrainConfig, resolveTrainConfig, validateTrainConfig, OPTIONS } from './train/config.ts';
export type { TrainConfig, OptionSpec, OptionGroup } from './train/config.ts';

// Models and text generation.
export { Engine } from './engine/engine.ts';
export type { EngineOptions } from './engine/engine.ts';
export { GPT } from './model/gpt.ts';
export type { GPTOptions, LoadOptions, ForwardOptions } from './model/gpt.ts';
export type { GPTConfig } from './model/config.ts';
export { PRECISIONS, RECOMPUTE_MODES } from './model/buffers.ts';
export type { Precision, Recompute } from './model/buffers.ts';
export { generate, stream } from './train/generate.ts';
export type { GenerateOptions } from './train/generate.ts';
export { scoreTokens } from './train/inference.ts';
export type { Score } from './train/inference.ts';

// A training loop of your own: the steps train() runs, one by one.
export { newTrainState, trainStep, snapshot, restore } from './train/state.ts';
export type { TrainState, StepResult, TrainSnapshot } from './train/state.ts';
export { learningRate } from './train/schedule.ts';
export { AdamW } from './train/optimizer.ts';
export { LossScaler } from './train/loss-scaler.ts';
export type { LossScalerConfig, LossScalerState } from './train/loss-scaler.ts';
export { Decoder } from './model/decoder.ts';
export { generateTokens, sampleLogits } from './train/sample.ts';
export type { SampleOptions } from './train/sample.ts';
export { Rng } from './engine/random.ts';

// Data: corpora, cleaning, tokenizers, the train/val split and batches.
export { loadCorpus, loadDefaultCorpus } from './data/corpus.ts';
export type { Document } from './data/corpus.ts';
export { cleanText } from './data/clean.ts';
export type { CleanMode } from './data/clean.ts';
export { CharTokenizer, Gpt2Tokenizer, tokenizerFromDescription } from './data/tokenizer.ts';
export type { Tokenizer, TokenizerDescription, TokenizerKind } from './data/tokenizer.ts';
export { buildDataset } from './data/pipeline.ts';
export type { DataOptions, Dataset } from './data/pipeline.ts';
export { BatchSampler } from './data/dataset.ts';
export type { TokenArray, TokenSplit } from './data/dataset.ts';

// Checkpoints, Hugging Face GPT-2 files, loss curves.
export { saveCheckpoint, loadCheckpoint, loadCheckpointState } from './train/checkpoint.ts';
export { exportHfGpt2, readHfGpt2 } from './interop/hf-gpt2.ts';
export { lossPlotSvg, parseRunLog } from './train/plot.ts';
export type { RunCurves, StepPoint, EvalPoint } from './train/plot.ts';
