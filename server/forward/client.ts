// Sends a trap to an external firmware endpoint and waits for the registers to
// write back. A dead, slow or confused endpoint must never stall or crash the
// emulator: every call settles within timeoutMs with a value, never a rejection.
import { connect, type Socket } from 'node:net';
import {
  createMessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { CallRequest, parseEndpoint, regsOf, type Endpoint, type ForwardCallParams } from './protocol.js';

export interface ForwardClientOptions {
  /** Per call, connecting included. Default 2000. */
  timeoutMs?: number;
}

export type ForwardResult = { ok: true; regs: Record<string, bigint> } | { ok: false; error: string };

/** One TCP connection and its JSON-RPC layer; replaced after it dies. */
interface Link {
  socket: Socket;
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
  return ep.ok ? { ok: true, client: new ForwardClient(endpoint, opts) } : ep;
}

export class ForwardClient {
  readonly endpoint: string;
  readonly timeoutMs: number;
  private readonly target: Endpoint;
  private link: Link | undefined;
  private connecting: Promise<Link | string> | undefined;
  private connectingSocket: Socket | undefined;
  private closed = false;

  /** Throws on an endpoint that is not tcp://HOST:PORT (see createForwardClient). */
  constructor(endpoint: string, opts: ForwardClientOptions = {}) {
    const ep = parseEndpoint(endpoint);
    if (!ep.ok) throw new Error(ep.error);
    this.endpoint = endpoint;
    this.target = ep.value;
    this.timeoutMs = opts.timeoutMs ?? 2000;
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
    const link: Link = {
      socket,
      connection: createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket)),
      waiting: new Set(),
    };
    // Registered before the reader's own listeners, so the cause is known when
    // vscode-jsonrpc rejects the pending request.
    socket.on('error', (e: NodeJS.ErrnoException) => this.kill(link, describeSocketError(e)));
    socket.on('close', () => this.kill(link, 'the endpoint closed the connection'));
    socket.on('end', () => this.kill(link, 'the endpoint closed the connection'));
    let first = true;
    socket.on('data', (chunk: Buffer) => {
      if (!first) return;
      first = false;
      // Every message starts with a Content-Length header; anything else means the
      // peer does not speak this protocol and would otherwise only time out.
      const head = chunk.subarray(0, 8).toString('latin1').toLowerCase();
      if (!'content-'.startsWith(head)) {
        this.kill(link, `the endpoint does not speak JSON-RPC (it sent ${JSON.stringify(chunk.subarray(0, 24).toString('latin1'))})`);
      }
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
  }

  private drop(link: Link | undefined, reason: string): void {
    if (link) this.kill(link, reason);
  }

  private abortConnecting(): void {
    this.connectingSocket?.destroy();
  }
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
