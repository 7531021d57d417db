// The training thread: runs one training run and reports to the thread that started it
// (src/train/trainer.ts runInThread()). Its event loop is busy with steps; the abort flag
// is shared memory, read between steps.
import { parentPort, workerData } from 'node:worker_threads';
import { runTraining, type RunMode, type ThreadMessage, type TrainOptions } from './trainer.ts';

const { options, mode, abort, stepsAsData, stderrIsTTY } = workerData as {
  options: TrainOptions; mode: RunMode; abort: SharedArrayBuffer; stepsAsData: boolean; stderrIsTTY: boolean;
};
const flag = new Int32Array(abort);
const post = (m: ThreadMessage, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(m, transfer);

try {
  const result = await runTraining(options, {
    print: (line) => post({ type: 'print', line }),
    warn: (line) => post({ type: 'warn', line }),
    // without onStep the run sends its step lines (every --log-interval steps) as text
    progress: stepsAsData ? (progress) => post({ type: 'progress', progress }) : undefined,
    stepsOver: () => post({ type: 'steps-over' }),
    evaluated: (evaluation) => post({ type: 'eval', evaluation }),
    aborted: () => Atomics.load(flag, 0) !== 0,
    stderr: { isTTY: stderrIsTTY, write: (text) => post({ type: 'stderr', text }) },
  }, mode);
  post({ type: 'done', result }, [result.params.buffer as ArrayBuffer]);
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  post({ type: 'error', name: err.name, message: err.message, stack: err.stack, code: (err as { code?: string }).code });
}
