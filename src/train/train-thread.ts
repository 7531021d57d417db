// The training thread: runs one training run and reports to the thread that started it
// (src/train/trainer.ts train()). Its event loop is busy with steps; the abort flag is
// shared memory, read between steps.
import { parentPort, workerData } from 'node:worker_threads';
import { runTraining, type RunMode, type ThreadMessage } from './trainer.ts';
import type { TrainConfig } from './config.ts';

const { options, mode, abort } = workerData as { options: Partial<TrainConfig>; mode: RunMode; abort: SharedArrayBuffer };
const flag = new Int32Array(abort);
const post = (m: ThreadMessage, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(m, transfer);

try {
  const result = await runTraining(options, {
    print: (line) => post({ type: 'print', line }),
    warn: (line) => post({ type: 'warn', line }),
    progress: (progress) => post({ type: 'progress', progress }),
    stepsOver: () => post({ type: 'steps-over' }),
    aborted: () => Atomics.load(flag, 0) !== 0,
  }, mode);
  post({ type: 'done', result }, [result.params.buffer as ArrayBuffer]);
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  post({ type: 'error', name: err.name, message: err.message, stack: err.stack, code: (err as { code?: string }).code });
}
