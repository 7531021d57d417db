// Runs kernels split across threads: the main thread plus threads - 1 workers over
// the same shared memory. One dispatch = one kernel over one range, cut into chunks
// that the threads claim in turn; it returns when every chunk is done. No
// postMessage per call.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { CTRL, BLOCK_BYTES, MAX_ARGS, Backoff, SPIN_MS, SPIN_MS_OVERSUBSCRIBED, commandBlock, failureMessage, initChunks, parseFault, runChunks, type CommandBlock, type FaultSpec } from './protocol.ts';
import { kernelTable, kernelNames, callKernel, needsScratch, type Kernels, type KernelName, type FixedArgs, type ThreadScratch } from './kernel-table.ts';
import { WasmgptError, type ErrorCode } from '../errors.ts';

const WAIT_SLICE_MS = 20; // the main thread re-checks for failures at least this often

export class WorkerError extends WasmgptError {
  override name = 'WorkerError';

  constructor(message: string, code: ErrorCode = 'E_WORKER') {
    super(message, code);
  }
}

export class Dispatcher {
  private readonly kernelIndex = new Map<KernelName, number>(kernelNames.map((n, i) => [n, i]));
  private readonly block: CommandBlock;
  private workers: Worker[] = [];
  private failed: string | null = null;
  private readonly spinMs: number;
  private readonly backoff: Backoff;
  private timing = false;

  private constructor(
    private readonly kernelSets: Kernels[],
    private threadCount: number,
  ) {
    this.block = commandBlock(new SharedArrayBuffer(BLOCK_BYTES));
    this.spinMs = threadCount > availableParallelism() ? SPIN_MS_OVERSUBSCRIBED : SPIN_MS;
    this.backoff = new Backoff(this.spinMs);
  }

  // One thread: kernels run on the calling thread, no workers.
  // kernelSets: the instances a dispatch can name (variant), over the one memory.
  static single(kernelSets: Kernels[]): Dispatcher {
    return new Dispatcher(kernelSets, 1);
  }

  static async create(
    modules: WebAssembly.Module[], memory: WebAssembly.Memory, kernelSets: Kernels[], threads: number,
    fault: FaultSpec | null = parseFault(process.env.WASMGPT_FAULT),
  ): Promise<Dispatcher> {
    const d = new Dispatcher(kernelSets, threads);
    const boot = new URL('./worker-boot.mjs', import.meta.url);
    const ready: Promise<void>[] = [];
    for (let index = 1; index < threads; index++) {
      const worker = new Worker(boot, {
        workerData: { entry: new URL('./worker', import.meta.url).href, modules, memory, control: d.block.ctrl.buffer, index, threads, fault, spinMs: d.spinMs },
      });
      worker.unref(); // a forgotten pool never keeps the process alive
      d.workers.push(worker);
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new WorkerError(`worker ${index} exited with code ${code} while starting`)));
      }));
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await d.dispose();
      throw e;
    }
    for (const w of d.workers) {
      w.removeAllListeners('exit');
      w.removeAllListeners('error');
      w.on('error', () => {}); // reported through the command block
    }
    return d;
  }

  get threads(): number {
    return this.threadCount;
  }

  // Runs kernel `name` with `fixed` arguments on [start, end), cut in multiples of
  // grain; kernels that take scratch get thread i's region of `scratch`; variant: which
  // instance (kernelSets) runs it.
  run<K extends KernelName>(name: K, fixedArgs: FixedArgs<K>, start: number, end: number, grain = 1, scratch?: ThreadScratch, variant = 0): void {
    if (this.failed) throw new WorkerError(`thread pool is unusable after an earlier failure: ${this.failed}`);
    const fixed = fixedArgs as readonly number[];
    const kernels = this.kernelSets[variant];
    if (!kernels) throw new Error(`${name}: no kernel instance ${variant} (${this.kernelSets.length} loaded)`);
    const fn = kernels[name] as unknown as (...a: number[]) => unknown;
    const tail = kernelTable[name];
    if (needsScratch(name) && !scratch) throw new Error(`${name} needs per-thread scratch`);
    const base = scratch?.base ?? 0;
    const busy = this.timing ? this.block.busy : null;
    if (this.threadCount === 1 || end - start <= grain) {
      const t0 = busy ? performance.now() : 0;
      callKernel(fn, tail, fixed, fixed.length, start, end, base);
      if (busy) busy[0] += performance.now() - t0;
      return;
    }
    if (fixed.length > MAX_ARGS) throw new RangeError(`${name}: too many arguments for the command block`);
    const { ctrl, args } = this.block;
    for (let i = 0; i < fixed.length; i++) args[i] = fixed[i];
    this.block.scratch[0] = base;
    this.block.scratch[1] = scratch?.stride ?? 0;
    ctrl[CTRL.KERNEL] = this.kernelIndex.get(name)!;
    ctrl[CTRL.VARIANT] = variant;
    ctrl[CTRL.NFIXED] = fixed.length;
    initChunks(ctrl, start, end, grain, this.threadCount);
    Atomics.store(ctrl, CTRL.DONE, 0);
    Atomics.add(ctrl, CTRL.SEQ, 1);
    Atomics.notify(ctrl, CTRL.SEQ);

    let mainError: unknown = null;
    try {
      runChunks(ctrl, 0, this.threadCount, (s, e) => callKernel(fn, tail, fixed, fixed.length, s, e, base), busy);
    } catch (e) {
      mainError = e;
    }
    this.waitForWorkers();
    if (mainError) throw mainError;
  }

  // Profiling: from now on every thread adds the time it spends in kernel calls to its
  // own total (threadBusyMs). What a dispatch takes beyond that is dispatch cost:
  // waking, claiming, and waiting for the slowest thread.
  setTiming(on: boolean): void {
    this.timing = on;
    Atomics.store(this.block.ctrl, CTRL.TIMING, on ? 1 : 0);
  }

  // ms each thread has spent in kernel calls while timing was on (index 0: main thread).
  threadBusyMs(): number[] {
    return Array.from(this.block.busy.subarray(0, this.threadCount));
  }

  private waitForWorkers(): void {
    const { ctrl } = this.block;
    const need = this.threadCount - 1;
    this.backoff.reset();
    for (;;) {
      const done = Atomics.load(ctrl, CTRL.DONE);
      if (Atomics.load(ctrl, CTRL.ERROR)) {
        this.failed = failureMessage(this.block);
        throw new WorkerError(this.failed);
      }
      if (done >= need) return;
      if (this.backoff.spunOut()) Atomics.wait(ctrl, CTRL.DONE, done, WAIT_SLICE_MS);
    }
  }

  // Stops the workers; later dispatches run on the calling thread alone.
  async dispose(): Promise<void> {
    if (this.threadCount === 1) return;
    this.threadCount = 1;
    const { ctrl } = this.block;
    Atomics.store(ctrl, CTRL.SHUTDOWN, 1);
    Atomics.add(ctrl, CTRL.SEQ, 1);
    Atomics.notify(ctrl, CTRL.SEQ);
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
