// Which errors are the user's to fix (bad options, data, checkpoints, a diverging run, a
// failed worker): the CLI prints those as one line. Anything else is a bug of ours and
// keeps its stack trace.
import { ConfigError } from './config.ts';
import { CheckpointError } from './checkpoint.ts';
import { DataError } from '../data/corpus.ts';
import { WorkerError } from '../engine/pool.ts';
import { InteropError } from '../interop/hf-gpt2.ts';

export class TrainingError extends Error {
  override name = 'TrainingError';
}

const USER_ERRORS: Record<string, new (message: string) => Error> = {
  ConfigError, DataError, TrainingError, CheckpointError, WorkerError, InteropError,
};

export function isUserError(e: unknown): e is Error {
  return Object.values(USER_ERRORS).some((Class) => e instanceof Class);
}

// An error reported by name from another thread, as an error of this thread: the same
// class for the user's errors; anything else keeps the other thread's stack.
export function errorFromThread(m: { name: string; message: string; stack?: string }): Error {
  const Class = USER_ERRORS[m.name];
  if (Class) return new Class(m.message);
  const e = new Error(m.message);
  e.name = m.name;
  e.stack = m.stack;
  return e;
}
