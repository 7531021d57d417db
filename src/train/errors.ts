// Which errors are the user's to fix (bad options, data, checkpoints, a diverging run, a
// failed worker): the CLI prints those as one line. Anything else is a bug of ours and
// keeps its stack trace.
import { ConfigError } from './config.ts';
import { TrainingError } from './trainer.ts';
import { CheckpointError } from './checkpoint.ts';
import { DataError } from '../data/corpus.ts';
import { WorkerError } from '../engine/pool.ts';

export function isUserError(e: unknown): e is Error {
  return e instanceof ConfigError || e instanceof DataError || e instanceof TrainingError || e instanceof CheckpointError || e instanceof WorkerError;
}
