// Sends a trap to an external firmware endpoint and waits for the registers to
// write back. A dead, slow or confused endpoint must never stall or crash the
// emulator: every call settles within timeoutMs with a value, never a rejection.
import { connect, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import {
  createMessageConnection,
  ResponseError,
  SocketMessageWriter,
  StreamMessageReader,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { CallRequest } from './request.js';
import { parseEndpoint, regsOf, type Endpoint, type ForwardCallParams } from './protocol.js';

export interface ForwardClientOptions {
  /** Per call, connecting included. Default 2000. */
  timeoutMs?: number;
  /**
   * Largest answer body (Content-Length) taken from the endpoint. A bigger one
   * fails the call as soon as its header arrives, before any of it is buffered,
   * and the connection is dropped. Default 1 MiB.
   */
  maxAnswerBytes?: number;
}

export const DEFAULT_MAX_ANSWER_BYTES = 1 << 20;
/** Longest header block taken before its blank line (LSP framing sends two short lines). */
export const MAX_HEADER_BYTES = 4096;

function checkOptions(opts: ForwardClientOptions): string | undefined {
  const max = opts.maxAnswerBytes;
  if (max !== undefined && !(Number.isSafeInteger(max) && max > 0)) {
    return `maxAnswerBytes must be a positive whole number of bytes (got ${max})`;
  }
  return undefined;
}

export type ForwardResult = { ok: true; regs: Record<string, bigint> } | { ok: false; error: string };

/** One TCP connection and its JSON-RPC layer; replaced after it dies. */
interface Link {
  socket: Socket;
  /** What the framing check let through, read by the JSON-RPC layer. */
  inbound: PassThrough;
  connection: MessageConnection;
  /** Set once the link is unusable; the first cause wins. */
  dead?: string;
  /** Calls waiting on this link, failed at once when it dies. */
  waiting: Set<(reason: string) => void>;
}

/** Validates the endpoint, then builds a client; for callers that want errors as values. */
export function createForwardClient(
  endpoint: string,
  opts: ForwardClientOptions = {},
): { ok: true; client: ForwardClient } | { ok: false; error: string } {
  const ep = parseEndpoint(endpoint);
  if (!ep.ok) return ep;
  const bad = checkOptions(opts);
  return bad ? { ok: false, error: bad } : { ok: true, client: new ForwardClient(endpoint, opts) };
}

export class ForwardClient {
  readonly endpoint: string;
  readonly timeoutMs: number;
  readonly maxAnswerBytes: number;
  private readonly target: Endpoint;
  private link: Link | undefined;
  private connecting: Promise<Link | string> | undefined;
  private connectingSocket: Socket | undefined;
  private closed = false;

  /** Throws on an endpoint that is not tcp://HOST:PORT or a bad option (see createForwardClient). */
  constructor(endpoint: string, opts: ForwardClientOptions = {}) {
    const ep = parseEndpoint(endpoint);
    if (!ep.ok) throw new Error(ep.error);
    const bad = checkOptions(opts);
    if (bad) throw new Error(bad);
    this.endpoint = endpoint;
    this.target = ep.value;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxAnswerBytes = opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  }

  call(params: ForwardCallParams): Promise<ForwardResult> {
    const fail = (why: string): ForwardResult => ({ ok: false, error: `forward to ${this.endpoint} failed: ${why}` });
    if (this.closed) return Promise.resolve(fail('the forward client is closed'));
    return new Promise<ForwardResult>((resolve) => {
      let settled = false;
      let link: Link | undefined;
      const finish = (r: ForwardResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        link?.waiting.delete(onDeath);
        resolve(r);
      };
      const onDeath = (reason: string): void => finish(fail(reason));
      const timer = setTimeout(() => {
        finish(fail(`timed out after ${this.timeoutMs} ms`));
        // A late answer would belong to a call already given up; start afresh next time.
        this.drop(link ?? this.link, `an earlier call timed out after ${this.timeoutMs} ms`);
        this.abortConnecting();
      }, this.timeoutMs);
      this.getLink().then(
        (got) => {
          if (settled) return;
          if (typeof got === 'string') return finish(fail(got));
          link = got;
          if (got.dead) return finish(fail(got.dead));
          got.waiting.add(onDeath);
          let answer: Promise<unknown>;
          try {
            answer = got.connection.sendRequest(CallRequest, params);
          } catch (err) {
            // sendRequest throws synchronously on a connection closed in between.
            return finish(fail(got.dead ?? describeRpcError(err)));
          }
          answer.then(
            (result) => {
              const regs = regsOf((result as { regs?: unknown } | null)?.regs);
              finish(regs.ok ? { ok: true, regs: regs.value } : fail(`bad answer: ${regs.error}`));
            },
            (err: unknown) => finish(fail(got.dead ?? describeRpcError(err))),
          );
        },
        (err: unknown) => finish(fail(`unexpected error: ${String(err)}`)),
      );
    });
  }

  /** Closes the connection; later calls fail at once. */
  close(): void {
    this.closed = true;
    this.drop(this.link, 'the forward client is closed');
    this.abortConnecting();
  }

  private getLink(): Promise<Link | string> {
    if (this.link && !this.link.dead) return Promise.resolve(this.link);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
      this.connectingSocket = undefined;
    });
    return this.connecting;
  }

  private open(): Promise<Link | string> {
    return new Promise((resolve) => {
      const socket = connect({ host: this.target.host, port: this.target.port });
      this.connectingSocket = socket;
      // Idle connections must not keep the process alive; a pending call's timer does.
      socket.unref();
      socket.setNoDelay(true);
      const onError = (e: Error): void => resolve(describeSocketError(e as NodeJS.ErrnoException));
      const onClose = (): void => resolve('connection closed while connecting');
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.off('close', onClose);
        if (this.closed) {
          socket.destroy();
          return resolve('the forward client is closed');
        }
        resolve(this.attach(socket));
      });
    });
  }

  private attach(socket: Socket): Link {
    // The JSON-RPC reader sees only what the framing check passes: a bad header or
    // an answer over the limit fails the call at once instead of being buffered
    // (or waited on until the timeout).
    const inbound = new PassThrough();
    const link: Link = {
      socket,
      inbound,
      connection: createMessageConnection(new StreamMessageReader(inbound), new SocketMessageWriter(socket)),
      waiting: new Set(),
    };
    // Registered before the writer's own listeners, so the cause is known when
    // vscode-jsonrpc rejects the pending request.
    socket.on('error', (e: NodeJS.ErrnoException) => this.kill(link, describeSocketError(e)));
    socket.on('close', () => this.kill(link, 'the endpoint closed the connection'));
    socket.on('end', () => this.kill(link, 'the endpoint closed the connection'));
    const guard = new FrameGuard(this.maxAnswerBytes);
    socket.on('data', (chunk: Buffer) => {
      if (link.dead) return;
      const r = guard.feed(chunk);
      if (typeof r === 'string') return this.kill(link, r);
      for (const b of r) inbound.write(b);
    });
    // Reader errors come without a message, writer errors with the one being sent.
    link.connection.onError(([error, sending]) =>
      this.kill(
        link,
        sending === undefined
          ? `the endpoint sent an invalid message (${error.message})`
          : `sending to the endpoint failed (${error.message})`,
      ),
    );
    link.connection.onClose(() => this.kill(link, 'the endpoint closed the connection'));
    link.connection.listen();
    this.link = link;
    return link;
  }

  private kill(link: Link, reason: string): void {
    if (link.dead) return;
    link.dead = reason;
    if (this.link === link) this.link = undefined;
    for (const fail of [...link.waiting]) fail(reason);
    link.waiting.clear();
    link.connection.dispose();
    link.socket.destroy();
    link.inbound.destroy();
  }

  private drop(link: Link | undefined, reason: string): void {
    if (link) this.kill(link, reason);
  }

  private abortConnecting(): void {
    this.connectingSocket?.destroy();
  }
}

/** Header names as RFC 9110 spells a token. */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

/**
 * Checks the framing of what the endpoint sends, chunk by chunk, before anything
 * is buffered: a header block of `Name: value` lines (the first a Content-*
 * header) ended by a blank line, with one Content-Length no larger than the
 * limit, then that many bytes of body. feed() returns the bytes to pass on, or
 * why the connection must be dropped.
 */
class FrameGuard {
  /** The header block read so far (latin1: one char per byte), at most MAX_HEADER_BYTES + 4. */
  private head = '';
  /** Body bytes of the current message still to come; 0 while reading a header block. */
  private bodyLeft = 0;

  constructor(private readonly max: number) {}

  feed(chunk: Buffer): Buffer[] | string {
    const pass: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - i);
        pass.push(chunk.subarray(i, i + n));
        this.bodyLeft -= n;
        i += n;
        continue;
      }
      const take = chunk.subarray(i, i + Math.max(0, MAX_HEADER_BYTES + 4 - this.head.length));
      const text = this.head + take.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const block = end < 0 ? text : text.slice(0, end + 2);
      const bad = checkHeaderText(block);
      if (bad) return bad;
      if (end < 0) {
        if (text.length > MAX_HEADER_BYTES) {
          return `the endpoint sent a header block of more than ${MAX_HEADER_BYTES} bytes without the blank line that ends it`;
        }
        this.head = text;
        i += take.length;
        continue;
      }
      const length = contentLength(text.slice(0, end), this.max);
      if (typeof length === 'string') return length;
      pass.push(Buffer.from(text.slice(0, end + 4), 'latin1'));
      i += end + 4 - this.head.length;
      this.head = '';
      this.bodyLeft = length;
    }
    return pass;
  }
}

/** Whether the (possibly partial) header text can still be LSP framing; a reason when not. */
function checkHeaderText(text: string): string | undefined {
  const notRpc = () => `the endpoint does not speak JSON-RPC (it sent ${JSON.stringify(text.slice(0, 24))})`;
  // Every message starts with a Content-Length (or Content-Type) header.
  const start = text.slice(0, 8).toLowerCase();
  if (!'content-'.startsWith(start)) return notRpc();
  // Headers are printable ASCII; anything else is not this protocol.
  if (/[^\t\r\n\x20-\x7e]/.test(text)) return notRpc();
  if (/(^|[^\r])\n|\r[^\n]/.test(text)) return 'the endpoint sent a header line not ended by CR LF (the framing needs "\\r\\n")';
  const lines = text.split('\r\n');
  lines.pop(); // the line still being read (or the empty rest after the last CR LF)
  for (const line of lines) {
    if (!HEADER_LINE.test(line)) return `the endpoint sent a malformed header line ${JSON.stringify(line.slice(0, 60))} (expected Name: value)`;
  }
  return undefined;
}

/** The Content-Length of a complete header block (without its blank line), or why it is unusable. */
function contentLength(block: string, max: number): number | string {
  const values = new Set<string>();
  for (const line of block.split('\r\n')) {
    const m = HEADER_LINE.exec(line)!;
    if (m[1].toLowerCase() === 'content-length') values.add(m[2]);
  }
  if (values.size === 0) return 'the endpoint sent a message without a Content-Length header';
  if (values.size > 1) return `the endpoint sent two different Content-Length headers (${[...values].map((v) => JSON.stringify(v.slice(0, 20))).join(' and ')})`;
  const [v] = values;
  if (!/^\d+$/.test(v)) return `the endpoint's Content-Length ${JSON.stringify(v.slice(0, 40))} is not a byte count`;
  if (BigInt(v) > BigInt(max)) return `the firmware endpoint sent a ${v.replace(/^0+(?=\d)/, '')}-byte answer; the limit is ${max} bytes`;
  return Number(v);
}

function describeSocketError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the endpoint running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${e.message})`;
    case 'ECONNRESET':
      return 'the endpoint reset the connection';
    case 'EPIPE':
      return 'the endpoint closed the connection';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'connecting timed out';
    default:
      return e.message;
  }
}

function describeRpcError(err: unknown): string {
  if (err instanceof ResponseError) return `the endpoint answered error ${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
