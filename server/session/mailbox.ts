// The fast lane of the worker channel: a shared-memory mailbox for the calls a
// front-end makes while the guest is stopped (a step, a register read, a
// breakpoint). A postMessage round trip costs two event-loop wake-ups (~25 us
// each on this 2-core VM, more under load); through the mailbox the worker is
// woken from Atomics.wait and the main thread waits for the answer with
// Atomics.wait, so a call costs two futex wake-ups and the work itself.
//
// The worker listens for a short window after each call (LISTEN_MS), blocked in
// Atomics.wait, then goes back to its event loop: an idle session costs nothing.
// Everything else, and any call made while another is outstanding (order is kept:
// the mailbox is used only when no call is in flight), goes by postMessage; a
// message posted while the worker listens kicks it out of the window, and the
// worker reads it at once (receiveMessageOnPort). A call whose answer does not
// fit, or during which the worker posted records or output (they must reach the
// main thread before the answer), is answered by postMessage.
import type { WorkerOpName, WorkerReply, WorkerRequest } from './contract.js';

/**
 * The calls that take the mailbox: small, plain values (bigints and bytes are
 * encoded below). Policy and trap-log queries, init and close go by postMessage.
 */
export const MAILBOX_OPS: ReadonlySet<WorkerOpName> = new Set<WorkerOpName>(
  ['run', 'regs', 'writeReg', 'readMem', 'writeMem', 'breakpoint', 'watchpoint', 'pending', 'decide']);

// JSON with bigints and bytes, tagged by a walk before and after (v8.serialize
// costs ~30 us a message here; JSON.stringify with a replacer leaves its fast path).
function encode(v: unknown): unknown {
  if (typeof v === 'bigint') return { $b: v.toString() };
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return { $u8: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (Array.isArray(v)) return v.map(encode);
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = encode(x);
  return o;
}
function decode(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = decode(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  if (typeof o.$b === 'string') return BigInt(o.$b);
  if (typeof o.$u8 === 'string') return new Uint8Array(Buffer.from(o.$u8, 'base64'));
  for (const k of Object.keys(o)) o[k] = decode(o[k]);
  return o;
}
/** Writes m into area; its length, or -1 when it does not fit. */
function put(area: Buffer, m: unknown): number {
  const text = JSON.stringify(encode(m));
  if (text.length * 3 > area.length && Buffer.byteLength(text) > area.length) return -1;
  return area.write(text, 0, 'utf8');
}
function get(area: Buffer, n: number): unknown {
  return decode(JSON.parse(area.toString('utf8', 0, n)));
}

/** Atomics.waitAsync (Node 16+; in TypeScript's ES2024 library, this project targets ES2022). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

/** Mailbox states (word STATE). */
const IDLE = 0, LISTENING = 1, POSTED = 2;
/** Int32 words: state, answer count, request length, answer length (-1: answered by postMessage). */
const STATE = 0, ANSWERS = 1, REQ_LEN = 2, ANS_LEN = 3;
const HEADER = 32;
/** Request and answer areas, each. */
const AREA = 256 << 10;
/** How long the worker listens after a call before it goes back to its event loop. */
export const LISTEN_MS = 5;
/** How long the main thread watches for an answer before it sleeps in Atomics.wait. */
const SPIN_MS = 0.1;
/** How long the main thread blocks for an answer before it waits asynchronously. */
const SYNC_MS = 2;
/** The same for a continue (it may stop at once, at a breakpoint, or run for hours). */
const SYNC_LONG_MS = 0.25;

export function newMailbox(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + 2 * AREA);
}

/** The main thread's side. */
export class MailboxMain {
  private readonly i32: Int32Array;
  private readonly req: Buffer;
  private readonly ans: Buffer;

  constructor(sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab, 0, HEADER / 4);
    this.req = Buffer.from(sab, HEADER, AREA);
    this.ans = Buffer.from(sab, HEADER + AREA, AREA);
  }

  /**
   * Posts a request if the worker listens. Returns undefined when it does not (the
   * caller posts a message), else the answer (or a promise of it for a call that
   * takes long); `null` when the answer comes by postMessage.
   */
  call(r: WorkerRequest, long = false): WorkerReply | null | Promise<WorkerReply | null> | undefined {
    const i32 = this.i32;
    if (Atomics.load(i32, STATE) !== LISTENING) return undefined;
    const n = put(this.req, r);
    if (n < 0) return undefined;
    i32[REQ_LEN] = n;
    const answers = Atomics.load(i32, ANSWERS);
    if (Atomics.compareExchange(i32, STATE, LISTENING, POSTED) !== LISTENING) return undefined;
    Atomics.notify(i32, STATE);
    // Most answers take a few microseconds of work: watch for them before sleeping
    // (a futex wake-up of this thread costs more than that).
    const spinUntil = performance.now() + SPIN_MS;
    while (Atomics.load(i32, ANSWERS) === answers && performance.now() < spinUntil);
    if (Atomics.load(i32, ANSWERS) === answers) Atomics.wait(i32, ANSWERS, answers, long ? SYNC_LONG_MS : SYNC_MS);
    if (Atomics.load(i32, ANSWERS) !== answers) return this.answer();
    // A call that takes long (a step into a forwarded call): do not hold this thread.
    const w = waitAsync(i32, ANSWERS, answers);
    return w.async ? w.value.then(() => this.answer()) : this.answer();
  }

  private answer(): WorkerReply | null {
    const n = this.i32[ANS_LEN];
    return n < 0 ? null : (get(this.ans, n) as WorkerReply);
  }

  /** A message was just posted: a listening worker leaves its window to read it. */
  kick() {
    if (Atomics.compareExchange(this.i32, STATE, LISTENING, IDLE) === LISTENING) Atomics.notify(this.i32, STATE);
  }
}

/** The worker's side. */
export class MailboxWorker {
  private readonly i32: Int32Array;
  private readonly req: Buffer;
  private readonly ans: Buffer;
  private listening = false;

  /**
   * handle: answers one request (the same handler as for posted ones); posted: how
   * many events the worker has posted so far; receive: the next posted request
   * waiting on the port, if any (receiveMessageOnPort).
   */
  constructor(sab: SharedArrayBuffer,
    private readonly handle: (r: WorkerRequest) => Promise<WorkerReply>,
    private readonly reply: (r: WorkerReply) => void,
    private readonly posted: () => number,
    private readonly receive: () => WorkerRequest | undefined) {
    this.i32 = new Int32Array(sab, 0, HEADER / 4);
    this.req = Buffer.from(sab, HEADER, AREA);
    this.ans = Buffer.from(sab, HEADER + AREA, AREA);
  }

  /** Listens for LISTEN_MS after the last call (called after each request the worker answers). */
  async listen(): Promise<void> {
    if (this.listening) return;
    this.listening = true;
    const i32 = this.i32;
    try {
      for (;;) {
        // Posted requests first, in order (the mailbox is not used while one is in flight).
        Atomics.store(i32, STATE, IDLE);
        for (let m = this.receive(); m; m = this.receive()) this.reply(await this.handle(m));
        Atomics.store(i32, STATE, LISTENING);
        const late = this.receive(); // posted before LISTENING was visible: no kick came
        if (late) {
          // (the main thread uses the mailbox only with no call in flight, so nothing
          // was posted there; if it were, it would be served, not lost)
          if (Atomics.compareExchange(i32, STATE, LISTENING, IDLE) === POSTED) await this.serve();
          this.reply(await this.handle(late));
          continue;
        }
        for (;;) {
          const waited = Atomics.wait(i32, STATE, LISTENING, LISTEN_MS);
          const s = Atomics.load(i32, STATE);
          if (s === POSTED) { await this.serve(); continue; }
          if (s === IDLE) {
            // kicked: a message is on the port
            break;
          }
          if (waited === 'timed-out' && Atomics.compareExchange(i32, STATE, LISTENING, IDLE) === LISTENING) return;
        }
      }
    } finally {
      this.listening = false;
    }
  }

  private async serve() {
    const i32 = this.i32;
    const r = get(this.req, i32[REQ_LEN]) as WorkerRequest;
    const before = this.posted();
    const a = await this.handle(r);
    // records or output went by postMessage during the call: the answer follows them
    const n = this.posted() === before ? put(this.ans, a) : -1;
    if (n < 0) this.reply(a);
    i32[ANS_LEN] = n;
    Atomics.store(i32, STATE, LISTENING);
    Atomics.add(i32, ANSWERS, 1);
    Atomics.notify(i32, ANSWERS);
  }
}
