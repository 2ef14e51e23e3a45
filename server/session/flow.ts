// The session's shared block: what every vCPU worker and the main thread share.
//  - the global trap seq (one counter for all vCPUs, so records stay in guest order);
//  - flow control of what the workers post to the main thread (trap records and
//    guest output): a worker that is more than a window ahead of what the front-end
//    has consumed waits inside the guest's trap or UART write, so a slow reader
//    (a stalled pipe, a slow terminal) holds the guest back instead of growing
//    memory. A pause request (Ctrl-C, --timeout, close) always ends the wait;
//  - how many runs a worker started on its own (for a gdb client it serves,
//    gdbstub/hosted.ts): the main thread learns of each one after it, so while
//    its count of them is behind this one its view of the guest is out of date;
//    and whether a worker is running the guest now (for whoever asked).

/** Int32 slots of the shared block (the seq takes a 64-bit slot at byte 0). */
const I32 = { SEQ_LO: 0, SEQ_HI: 1, REC_POSTED: 2, REC_ACKED: 3, OUT_POSTED: 4, OUT_ACKED: 5, WORKER_RUNS: 6, WORKER_BUSY: 7 } as const;
export const SHARED_BYTES = 64;

/** Records and output bytes a worker may be ahead of the front-end. */
export const FLOW_LIMITS = { records: 8192, outputBytes: 1 << 20 };

export type FlowKind = 'records' | 'output';

export function newSharedBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(SHARED_BYTES);
}

/** Worker side: the seq counter and the wait for room. */
export class FlowWorker {
  private readonly i32: Int32Array;

  constructor(shared: SharedArrayBuffer, private readonly pause: Int32Array, private readonly limits = FLOW_LIMITS) {
    this.i32 = new Int32Array(shared);
  }

  /** The next global trap seq (1, 2, ...): a 64-bit count in two 32-bit halves (no BigInt on the trap path). */
  nextSeq(): number {
    const lo = (Atomics.add(this.i32, I32.SEQ_LO, 1) + 1) >>> 0;
    const hi = lo === 0 ? Atomics.add(this.i32, I32.SEQ_HI, 1) + 1 : Atomics.load(this.i32, I32.SEQ_HI);
    return (hi >>> 0) * 0x1_0000_0000 + lo;
  }

  /**
   * Waits until posting n more units keeps this worker within its window, or a
   * pause is requested. Then counts them as posted.
   */
  post(kind: FlowKind, n: number) {
    const posted = kind === 'records' ? I32.REC_POSTED : I32.OUT_POSTED;
    const acked = kind === 'records' ? I32.REC_ACKED : I32.OUT_ACKED;
    const limit = kind === 'records' ? this.limits.records : this.limits.outputBytes;
    for (;;) {
      const a = Atomics.load(this.i32, acked);
      const ahead = (Atomics.load(this.i32, posted) - a) | 0;
      if (ahead + n <= limit || ahead <= 0 || Atomics.load(this.pause, 0) !== 0) break;
      Atomics.wait(this.i32, acked, a, 50);
    }
    Atomics.add(this.i32, posted, n);
  }

  /** A run this worker starts on its own: its number (the 'ran' event names it). */
  ownRun(): number { return Atomics.add(this.i32, I32.WORKER_RUNS, 1) + 1; }

  /** A run starts (true) or has stopped (false) on this worker. */
  running(on: boolean) { Atomics.store(this.i32, I32.WORKER_BUSY, on ? 1 : 0); }
}

/** Main-thread side: acknowledges what the front-end has consumed. */
export class FlowMain {
  private readonly i32: Int32Array;
  constructor(shared: SharedArrayBuffer) { this.i32 = new Int32Array(shared); }

  ack(kind: FlowKind, n: number) {
    const slot = kind === 'records' ? I32.REC_ACKED : I32.OUT_ACKED;
    Atomics.add(this.i32, slot, n);
    Atomics.notify(this.i32, slot);
  }

  /** Runs the workers started on their own so far (FlowWorker.ownRun). */
  workerRuns(): number { return Atomics.load(this.i32, I32.WORKER_RUNS); }

  /** A worker is running the guest now (FlowWorker.running). */
  workerRunning(): boolean { return Atomics.load(this.i32, I32.WORKER_BUSY) !== 0; }

  /** Lets every waiting worker go (closing). */
  releaseAll() {
    Atomics.store(this.i32, I32.REC_ACKED, Atomics.load(this.i32, I32.REC_POSTED));
    Atomics.store(this.i32, I32.OUT_ACKED, Atomics.load(this.i32, I32.OUT_POSTED));
    Atomics.notify(this.i32, I32.REC_ACKED);
    Atomics.notify(this.i32, I32.OUT_ACKED);
  }

}
