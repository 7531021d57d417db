// Public API for Node scripts: train from a config, or drive the engine and model directly.
export { train, prepareData, modelConfigFor, checkMemoryPlan, describePlan, TrainingError, THROUGHPUT_WARMUP_STEPS } from './train/trainer.ts';
export type { TrainHooks, TrainResult, PreparedData } from './train/trainer.ts';
export { defaultTrainConfig, validateTrainConfig, ConfigError } from './train/config.ts';
export type { TrainConfig } from './train/config.ts';
export { learningRate } from './train/schedule.ts';
export { AdamW } from './train/optimizer.ts';
export { generate, sampleLogits } from './train/sample.ts';
export { saveCheckpoint, loadCheckpoint, CheckpointError } from './train/checkpoint.ts';
export { GPT } from './model/gpt.ts';
export { defaultGPTConfig, validateGPTConfig } from './model/config.ts';
export type { GPTConfig } from './model/config.ts';
export { parameterLayout } from './model/parameters.ts';
export { memoryPlan } from './model/buffers.ts';
export { Engine } from './engine/engine.ts';
export { Rng } from './engine/random.ts';
export { loadCorpus, loadDefaultCorpus, DataError } from './data/corpus.ts';
export { CharTokenizer, tokenizerFromDescription } from './data/tokenizer.ts';
export { splitTokens, buildCharTokenizer, BatchSampler } from './data/dataset.ts';
