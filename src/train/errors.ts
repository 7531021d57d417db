// Which errors are the user's to fix: every WasmgptError (src/errors.ts: a bad option, data,
// a checkpoint, a diverging run, a failed worker), with a stable code; the CLI prints those
// as one line. Anything else is a bug of ours and keeps its stack trace.
import { WasmgptError, ERROR_CODES, type ErrorCode } from '../errors.ts';
import { ConfigError } from './config.ts';
import { CheckpointError } from './checkpoint.ts';
import { DataError } from '../data/corpus.ts';
import { WorkerError } from '../engine/pool.ts';
import { InteropError } from '../interop/hf-gpt2.ts';
import { SafetensorsError } from '../io/safetensors.ts';

export class TrainingError extends WasmgptError {
  override name = 'TrainingError';

  constructor(message: string, code: ErrorCode = 'E_TRAINING') {
    super(message, code);
  }
}

const USER_ERRORS: Record<string, new (message: string, code?: ErrorCode) => WasmgptError> = {
  ConfigError, DataError, TrainingError, CheckpointError, WorkerError, InteropError, SafetensorsError,
};

export function isUserError(e: unknown): e is WasmgptError {
  return e instanceof WasmgptError;
}

// An error reported by name from another thread, as an error of this thread: the same
// class for the user's errors; anything else keeps the other thread's stack.
export function errorFromThread(m: { name: string; message: string; stack?: string; code?: string }): Error {
  const code = m.code !== undefined && m.code in ERROR_CODES ? m.code as ErrorCode : undefined;
  const Class = USER_ERRORS[m.name];
  if (Class) return new Class(m.message, code);
  if (m.name === 'WasmgptError' && code) return new WasmgptError(m.message, code);
  const e = new Error(m.message);
  e.name = m.name;
  e.stack = m.stack;
  return e;
}
