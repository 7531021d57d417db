// A pool worker: instantiates the kernel module over the shared memory, then runs
// its slice of every dispatch until shutdown. Failures are reported through the
// command block (a main thread blocked in Atomics.wait hears no 'error' event).
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateModule } from './wasm.ts';
import { Backoff, CTRL, commandBlock, reportFailure, runChunks, type FaultSpec } from './protocol.ts';
import { kernelNames, kernelTable, callKernel } from './kernel-table.ts';

interface WorkerInit {
  modules: WebAssembly.Module[]; // one per matmul tile the engine loaded, the primary first
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  index: number; // 1 .. threads-1 (the main thread is 0)
  threads: number;
  fault: FaultSpec | null;
  spinMs: number;
}

const init = workerData as WorkerInit;
const block = commandBlock(init.control);
const { ctrl } = block;
const kernelSets = init.modules.map((m) => instantiateModule<Record<string, (...a: number[]) => unknown>>(m, init.memory));

process.on('exit', (code) => {
  if (!Atomics.load(ctrl, CTRL.SHUTDOWN)) reportFailure(block, init.index, `worker ${init.index} exited with code ${code}`);
});

// read the sequence number before announcing readiness: the first dispatch may follow at once
let seen = Atomics.load(ctrl, CTRL.SEQ);
parentPort!.postMessage('ready');

let dispatches = 0;
const backoff = new Backoff(init.spinMs);
for (;;) {
  // wait for the next dispatch: spin, then sleep
  backoff.reset();
  while (Atomics.load(ctrl, CTRL.SEQ) === seen) {
    if (backoff.spunOut()) {
      Atomics.wait(ctrl, CTRL.SEQ, seen);
      backoff.reset();
    }
  }
  seen = Atomics.load(ctrl, CTRL.SEQ);
  if (Atomics.load(ctrl, CTRL.SHUTDOWN)) break;
  dispatches++;
  try {
    const fault = init.fault;
    if (fault && fault.worker === init.index && fault.dispatch === dispatches) {
      if (fault.kind === 'exit') process.exit(3);
      throw new Error(`injected failure in worker ${init.index} at dispatch ${dispatches}`);
    }
    const name = kernelNames[Atomics.load(ctrl, CTRL.KERNEL)];
    const kernels = kernelSets[Atomics.load(ctrl, CTRL.VARIANT)];
    const nFixed = Atomics.load(ctrl, CTRL.NFIXED);
    const busy = Atomics.load(ctrl, CTRL.TIMING) ? block.busy : null;
    const scratch = block.scratch[0] + init.index * block.scratch[1];
    runChunks(ctrl, init.index, init.threads, (start, end) => callKernel(kernels[name], kernelTable[name], block.args, nFixed, start, end, scratch), busy);
  } catch (e) {
    reportFailure(block, init.index, `worker ${init.index}: ${(e as Error)?.message ?? String(e)}`);
  }
  Atomics.add(ctrl, CTRL.DONE, 1);
  Atomics.notify(ctrl, CTRL.DONE);
}
