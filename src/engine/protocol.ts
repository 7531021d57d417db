// The command block shared by the main thread and the workers: one small
// SharedArrayBuffer. A dispatch writes (kernel, args, range, per-thread scratch), bumps
// SEQ and notifies; every thread claims chunks of the range (NEXT + i: thread i's
// segment) until none are left, then increments DONE. Spin first, then wait: waking a
// sleeping thread costs tens of microseconds, more than a small kernel.
import { bytesOf } from './tensor.ts';

export const CTRL = {
  SEQ: 0, // dispatch sequence number
  DONE: 1, // workers finished with the current dispatch
  ERROR: 2, // 0, or 1 + index of the first worker that failed, set once its message is in place
  SHUTDOWN: 3,
  KERNEL: 4, // index into kernelNames
  NFIXED: 5,
  START: 6,
  END: 7,
  GRAIN: 8, // chunks are multiples of this (but the last)
  MSG_LEN: 9,
  FAILING: 10, // claimed by the first worker to fail, before it writes its message
  CHUNK: 11, // the smallest chunk
  TIMING: 12, // 1: every thread adds the time it spends in kernel calls to its BUSY slot
  VARIANT: 13, // which kernel instance (one per matmul tile loaded) runs the kernel
  NEXT: 16, // NEXT + i: start of the unclaimed part of thread i's segment
} as const;

export const MAX_THREADS = 256;
export const CTRL_INTS = CTRL.NEXT + MAX_THREADS;
export const MAX_ARGS = 24;
export const MSG_BYTES = 2048;

const ARGS_OFFSET = bytesOf('i32', CTRL_INTS); // 8-aligned
const SCRATCH_OFFSET = ARGS_OFFSET + bytesOf('f64', MAX_ARGS);
const BUSY_OFFSET = SCRATCH_OFFSET + bytesOf('f64', 2);
const MSG_OFFSET = BUSY_OFFSET + bytesOf('f64', MAX_THREADS);
export const BLOCK_BYTES = MSG_OFFSET + MSG_BYTES;

// How long a thread waiting for work (a worker) or for the workers (the main thread)
// spins before it sleeps in Atomics.wait. Waking a sleeping thread took 75-180 us on
// this VM (vs ~10 us for a spinning one), and a thread waits up to a chunk's time for
// the others at every dispatch, so a few ms of spinning keeps the pool awake through a
// training step. With more threads than cores a spinning thread only steals the core
// the awaited thread needs, so the pool then sleeps almost at once.
export const SPIN_MS = 5;
export const SPIN_MS_OVERSUBSCRIBED = 0.01;

// Spin-then-sleep: call spunOut() on every turn of a wait loop; it says when the loop
// has spun for its time and should sleep. Reads the clock every 64 turns only.
export class Backoff {
  private turns = 0;
  private since = -1;
  constructor(private readonly spinMs: number) {}

  reset(): void {
    this.turns = 0;
    this.since = -1;
  }

  spunOut(): boolean {
    if ((++this.turns & 63) !== 0) return false;
    const now = performance.now();
    if (this.since < 0) this.since = now;
    return now - this.since > this.spinMs;
  }
}

// How a dispatch's range is cut: each thread owns an equal segment and claims chunks
// from its front, half of what is left each time (down to a smallest chunk); a thread
// done with its own segment then claims from the others'. So each thread mostly works
// on the same rows kernel after kernel (its cache holds them), while a thread that runs
// ahead (the machine is shared; one core is often slower for a while) takes over part
// of a slow thread's work instead of waiting at the end of every kernel. Kernels give
// the same bits however their range is cut, so which thread runs what does not matter.
// Up to this many chunks per thread's segment: the smallest chunk, claimed last, is what
// the other threads may wait for at the end of a dispatch (16 lost ~2% of an L step).
const MAX_CHUNKS_PER_THREAD = 64;

// The smallest chunk of [start, end) for this many threads, a multiple of grain.
function minChunk(start: number, end: number, grain: number, threads: number): number {
  const units = Math.ceil((end - start) / grain);
  return grain * Math.max(1, Math.ceil(units / (threads * MAX_CHUNKS_PER_THREAD)));
}

// Sets up the claim counters of a dispatch over [start, end): thread i's segment.
export function initChunks(ctrl: Int32Array, start: number, end: number, grain: number, threads: number): void {
  ctrl[CTRL.START] = start;
  ctrl[CTRL.END] = end;
  ctrl[CTRL.GRAIN] = grain;
  ctrl[CTRL.CHUNK] = minChunk(start, end, grain, threads);
  const per = Math.ceil(Math.ceil((end - start) / grain) / threads) * grain;
  for (let i = 0; i < threads; i++) ctrl[CTRL.NEXT + i] = Math.min(end, start + i * per);
}

// Claims chunks of the current dispatch for thread `index` and runs each: its own
// segment first, then the others' in turn; returns when none are left. With busy,
// the time spent in run is added to busy[index] (ms).
export function runChunks(
  ctrl: Int32Array, index: number, threads: number, run: (start: number, end: number) => void, busy: Float64Array | null = null,
): void {
  const start = ctrl[CTRL.START];
  const end = ctrl[CTRL.END];
  const grain = ctrl[CTRL.GRAIN];
  const least = ctrl[CTRL.CHUNK];
  const per = Math.ceil(Math.ceil((end - start) / grain) / threads) * grain;
  for (let k = 0; k < threads; k++) {
    const v = (index + k) % threads;
    const slot = CTRL.NEXT + v;
    const segEnd = Math.min(end, start + (v + 1) * per);
    for (;;) {
      let s = Atomics.load(ctrl, slot);
      let e = 0;
      while (s < segEnd) {
        const share = Math.ceil((segEnd - s) / 2 / grain) * grain;
        e = Math.min(segEnd, s + Math.max(least, share));
        const seen = Atomics.compareExchange(ctrl, slot, s, e);
        if (seen === s) break;
        s = seen;
      }
      if (s >= segEnd) break;
      if (busy) {
        const t0 = performance.now();
        run(s, e);
        busy[index] += performance.now() - t0;
      } else {
        run(s, e);
      }
    }
  }
}

export interface CommandBlock {
  ctrl: Int32Array;
  args: Float64Array;
  scratch: Float64Array; // [base, stride]: thread i's scratch starts at base + i * stride

  busy: Float64Array; // per thread: ms spent in kernel calls while CTRL.TIMING is set
  msg: Uint8Array;
}

export function commandBlock(buffer: SharedArrayBuffer): CommandBlock {
  return {
    ctrl: new Int32Array(buffer, 0, CTRL_INTS),
    args: new Float64Array(buffer, ARGS_OFFSET, MAX_ARGS),
    scratch: new Float64Array(buffer, SCRATCH_OFFSET, 2),
    busy: new Float64Array(buffer, BUSY_OFFSET, MAX_THREADS),
    msg: new Uint8Array(buffer, MSG_OFFSET, MSG_BYTES),
  };
}

// First failure wins; the message names the worker. ERROR is published after the
// message, so a thread that sees it can read the message at once.
export function reportFailure(block: CommandBlock, worker: number, message: string): void {
  if (Atomics.compareExchange(block.ctrl, CTRL.FAILING, 0, worker + 1) !== 0) return;
  const bytes = new TextEncoder().encode(message).subarray(0, MSG_BYTES);
  block.msg.set(bytes);
  Atomics.store(block.ctrl, CTRL.MSG_LEN, bytes.length);
  Atomics.store(block.ctrl, CTRL.ERROR, worker + 1);
  Atomics.add(block.ctrl, CTRL.DONE, 1 << 20); // wakes a waiting main thread
  Atomics.notify(block.ctrl, CTRL.DONE);
}

export function failureMessage(block: CommandBlock): string {
  const len = Atomics.load(block.ctrl, CTRL.MSG_LEN);
  return new TextDecoder().decode(block.msg.slice(0, len));
}

// Test hook: WASMGPT_FAULT="throw:<worker>:<dispatch>" or "exit:<worker>:<dispatch>".
export interface FaultSpec {
  kind: 'throw' | 'exit';
  worker: number;
  dispatch: number;
}

export function parseFault(spec: string | undefined): FaultSpec | null {
  if (!spec) return null;
  const m = /^(throw|exit):(\d+):(\d+)$/.exec(spec);
  if (!m) throw new Error(`WASMGPT_FAULT must look like throw:1:10 or exit:1:10, got ${spec}`);
  return { kind: m[1] as FaultSpec['kind'], worker: Number(m[2]), dispatch: Number(m[3]) };
}
