// The errors a user can fix (a bad option, unusable data, a missing or damaged checkpoint,
// a diverging run, a failed worker thread), each with a stable code a script can branch
// on. The message names the problem and the fix. Anything thrown that is not a
// WasmgptError is a bug of ours, and keeps its stack trace.
export const ERROR_CODES = {
  E_CONFIG: 'an option or argument is invalid',
  E_DATA: 'the training or evaluation data cannot be used',
  E_DATA_EMPTY: 'the data holds no text (or too little to train or score)',
  E_CHECKPOINT: 'a checkpoint or model file cannot be used (missing, another model, another version)',
  E_CHECKPOINT_CORRUPT: 'a checkpoint or model file is damaged (sizes, hashes or contents do not match)',
  E_INTEROP: 'a Hugging Face file or directory cannot be read or written',
  E_FORMAT: 'a safetensors file is malformed',
  E_TRAINING: 'training cannot go on (it diverged, or fp16 gradients overflow at every scale)',
  E_WORKER: 'a worker thread failed',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WasmgptError extends Error {
  override name = 'WasmgptError';

  constructor(message: string, readonly code: ErrorCode) {
    super(message);
  }
}

/** A bad option or argument (code E_CONFIG). */
export class ConfigError extends WasmgptError {
  override name = 'ConfigError';

  constructor(message: string, code: ErrorCode = 'E_CONFIG') {
    super(message, code);
  }
}
