// The command block shared by the main thread and the workers: one small
// SharedArrayBuffer. A dispatch writes (kernel, args, range), bumps SEQ and notifies;
// every thread claims chunks of the range from NEXT until none are left, then
// increments DONE. Spin first, then wait: waking a sleeping thread costs tens of
// microseconds, more than a small kernel.

export const CTRL = {
  SEQ: 0, // dispatch sequence number
  DONE: 1, // workers finished with the current dispatch
  ERROR: 2, // 0, or 1 + index of the first worker that failed
  SHUTDOWN: 3,
  KERNEL: 4, // index into kernelNames
  NFIXED: 5,
  START: 6,
  END: 7,
  GRAIN: 8, // chunks are multiples of this (but the last)
  MSG_LEN: 9,
  NEXT: 10, // start of the unclaimed part of the range
  CHUNK: 11, // the smallest chunk
} as const;

export const CTRL_INTS = 16;
export const MAX_ARGS = 24;
export const MSG_BYTES = 2048;

const ARGS_OFFSET = CTRL_INTS * 4; // 8-aligned
const MSG_OFFSET = ARGS_OFFSET + MAX_ARGS * 8;
export const BLOCK_BYTES = MSG_OFFSET + MSG_BYTES;

// Spins before sleeping, for a worker waiting for work and for the main thread waiting
// for workers. With more threads than cores a spinning thread only steals the core the
// awaited thread needs, so the pool then sleeps almost at once.
export const SPIN_ITERATIONS = 20_000;
export const SPIN_ITERATIONS_OVERSUBSCRIBED = 100;

// How a dispatch's range is cut: guided self-scheduling. Each claim takes 1/(2 x
// threads) of what is left (in multiples of the grain, at least MIN_CHUNK of the
// range): large chunks first, small ones last, so a thread that runs ahead (the
// machine is shared; one core is often slower for a while) takes more, and the
// others wait at most a small chunk at the end of a kernel. Kernels give the same
// bits however their range is cut, so which thread runs what does not matter.
const MAX_CHUNKS_PER_THREAD = 16;

// The smallest chunk of [start, end) for this many threads, a multiple of grain.
export function minChunk(start: number, end: number, grain: number, threads: number): number {
  const units = Math.ceil((end - start) / grain);
  return grain * Math.max(1, Math.ceil(units / (threads * MAX_CHUNKS_PER_THREAD)));
}

// Claims chunks of the current dispatch and runs each; returns when none are left.
export function runChunks(ctrl: Int32Array, threads: number, run: (start: number, end: number) => void): void {
  const start = ctrl[CTRL.START];
  const end = ctrl[CTRL.END];
  const grain = ctrl[CTRL.GRAIN];
  const least = ctrl[CTRL.CHUNK];
  const divisor = 2 * threads;
  for (;;) {
    let s = Atomics.load(ctrl, CTRL.NEXT);
    let e: number;
    for (;;) {
      if (s >= end) return;
      const share = Math.ceil((end - s) / divisor / grain) * grain;
      e = Math.min(end, s + Math.max(least, share));
      const seen = Atomics.compareExchange(ctrl, CTRL.NEXT, s, e);
      if (seen === s) break;
      s = seen;
    }
    run(s, e);
  }
}

export interface CommandBlock {
  ctrl: Int32Array;
  args: Float64Array;
  msg: Uint8Array;
}

export function commandBlock(buffer: SharedArrayBuffer): CommandBlock {
  return {
    ctrl: new Int32Array(buffer, 0, CTRL_INTS),
    args: new Float64Array(buffer, ARGS_OFFSET, MAX_ARGS),
    msg: new Uint8Array(buffer, MSG_OFFSET, MSG_BYTES),
  };
}

// First failure wins; the message names the worker.
export function reportFailure(block: CommandBlock, worker: number, message: string): void {
  if (Atomics.compareExchange(block.ctrl, CTRL.ERROR, 0, worker + 1) !== 0) return;
  const bytes = new TextEncoder().encode(message).subarray(0, MSG_BYTES);
  block.msg.set(bytes);
  Atomics.store(block.ctrl, CTRL.MSG_LEN, bytes.length);
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
