// The service's side of the wire, around vscode-jsonrpc: its reader has no limit
// on a message's size, so the frames are checked here first (FrameGate, a
// transform in front of the reader), and its writer would queue without bound
// for a slow client, so ours (BoundedWriter) writes each message in one piece
// and says when the client is behind (the service then drops live records and
// tells the client how many with a `lagged` notification).
import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { AbstractMessageWriter, type Message, type MessageWriter } from 'vscode-jsonrpc/node';

export interface FrameLimits {
  /** Largest message body in bytes (default 1 MiB). */
  maxMessage: number;
  /** Largest header block in bytes (default 8 KiB). */
  maxHeader: number;
  /** Requests in flight per connection: past it, reading pauses until one is answered (default 16). */
  maxInFlight: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = { maxMessage: 1 << 20, maxHeader: 8 << 10, maxInFlight: 16 };

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Passes whole `Content-Length` frames to the reader behind it, one at a time.
 * A body over `maxMessage` is skipped (never buffered) and `onOversize` says so:
 * the connection goes on with the next frame. A header block over `maxHeader`,
 * or one without a valid Content-Length, cannot be resynchronised: `onBroken`
 * (the service closes the connection). Requests are counted as they pass; while
 * `maxInFlight` of them are unanswered (`done()` not called) no more frames pass
 * and, as the transform holds its callback, the socket stops being read.
 */
export class FrameGate extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0;
  private inFlight = 0;
  private unblock: (() => void) | undefined;
  private broken = false;

  constructor(
    private readonly limits: FrameLimits,
    private readonly onOversize: (bytes: number) => void,
    private readonly onBroken: (why: string) => void,
  ) {
    super();
  }

  /** A request that passed has been answered. */
  done() {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (this.inFlight < this.limits.maxInFlight && this.unblock) {
      const r = this.unblock;
      this.unblock = undefined;
      r();
    }
  }

  get requestsInFlight() { return this.inFlight; }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
    if (this.broken) { cb(); return; }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.frames().then(() => cb(), (e: Error) => cb(e));
  }

  private async frames(): Promise<void> {
    for (;;) {
      if (this.skip) {
        const n = Math.min(this.skip, this.buf.length);
        this.skip -= n;
        this.buf = this.buf.subarray(n);
        if (this.skip) return;
      }
      const end = this.buf.indexOf(CRLF2);
      if (end < 0) {
        if (this.buf.length > this.limits.maxHeader) return this.fail(`a header block of more than ${this.limits.maxHeader} bytes (the limit: --max-header)`);
        return;
      }
      if (end + 4 > this.limits.maxHeader) return this.fail(`a header block of ${end + 4} bytes, over the limit of ${this.limits.maxHeader} (--max-header)`);
      const header = this.buf.subarray(0, end).toString('ascii');
      let length = -1;
      for (const line of header.split('\r\n')) {
        const m = /^content-length:\s*(\d{1,15})\s*$/i.exec(line);
        if (m) length = Number(m[1]);
      }
      if (length < 0) return this.fail('a message without a valid Content-Length header');
      if (length > this.limits.maxMessage) {
        this.buf = this.buf.subarray(end + 4);
        this.skip = length;
        this.onOversize(length);
        continue;
      }
      if (this.buf.length < end + 4 + length) return;
      const frame = this.buf.subarray(0, end + 4 + length);
      const body = frame.subarray(end + 4);
      this.buf = this.buf.subarray(end + 4 + length);
      // Only requests wait for an answer; anything else (notifications, junk the reader reports) passes uncounted.
      if (isRequest(body)) {
        if (this.inFlight >= this.limits.maxInFlight) await new Promise<void>((r) => { this.unblock = r; });
        this.inFlight++;
      }
      this.push(Buffer.from(frame));
    }
  }

  private fail(why: string) {
    this.broken = true;
    this.buf = Buffer.alloc(0);
    this.onBroken(why);
  }
}

/** Parsed as data only (JSON.parse), never evaluated. */
function isRequest(body: Buffer): boolean {
  try {
    const m = JSON.parse(body.toString('utf8')) as unknown;
    return typeof m === 'object' && m !== null && !Array.isArray(m) && typeof (m as { method?: unknown }).method === 'string' &&
      (typeof (m as { id?: unknown }).id === 'number' || typeof (m as { id?: unknown }).id === 'string');
  } catch {
    return false;
  }
}

/**
 * Writes each message as one buffer (header and body together), straight to the
 * stream. `behind` is true while more than `maxQueue` bytes wait to go out.
 */
export class BoundedWriter extends AbstractMessageWriter implements MessageWriter {
  private ended = false;
  constructor(private readonly out: Writable, private readonly maxQueue: number) {
    super();
    out.on('error', (e) => this.fireError(e));
    out.on('close', () => this.fireClose());
  }

  get behind(): boolean { return this.out.writableLength > this.maxQueue; }

  /** Calls fn once the bytes queued now have gone out. */
  onDrain(fn: () => void) {
    if (this.out.writableLength === 0) { setImmediate(fn); return; }
    this.out.once('drain', fn);
  }

  /** Called after each message has been handed to the stream (the service closes a refused connection there). */
  afterWrite: ((msg: Message) => void) | undefined;

  async write(msg: Message): Promise<void> {
    await this.writeRaw(msg);
    this.afterWrite?.(msg);
  }

  /** Also for what the connection cannot send (a response to a message it never read: id null). */
  writeRaw(msg: object): Promise<void> {
    if (this.ended || this.out.destroyed || !this.out.writable) return Promise.resolve();
    const body = Buffer.from(JSON.stringify(msg), 'utf8');
    const frame = Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
    return new Promise((resolve) => {
      this.out.write(frame, (err) => {
        if (err) this.fireError(err);
        resolve();
      });
    });
  }

  end(): void { this.ended = true; }
}
