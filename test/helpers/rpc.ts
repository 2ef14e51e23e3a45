// The JSON-RPC service in the test process: a served session on an assembled
// guest, TCP on loopback, and clients that record the notifications they get.
import { afterEach } from 'vitest';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Session } from '../../server/session/session.js';
import { RpcService, type ServiceOptions } from '../../server/rpc/service.js';
import { listen, type TlsFiles } from '../../server/rpc/listen.js';
import { parseTokenFile } from '../../server/rpc/tokens.js';
import { connectService, type RpcClient } from '../../server/rpc/connect.js';
import type { PolicySpec } from '../../server/policy/index.js';

/** Guest sources the service's tests share (each file assembles them under its own name). */
export const GUEST = {
  /** PSCI_VERSION, two HVCs (the ones that ask, with --on hvc=ask), SYSTEM_OFF. */
  asks: `.global _start\n_start:
  ldr x0, =0x84000000\n  smc #0
  ldr x0, =0x86000001\n  hvc #0
  ldr x0, =0x86000002\n  hvc #0
  ldr x0, =0x84000008\n  smc #0\n`,
  /** Six PSCI_VERSION calls, one HVC, SYSTEM_OFF. */
  many: `.global _start\n_start:
  ${'ldr x0, =0x84000000\n  smc #0\n  '.repeat(6)}
  ldr x0, =0x86000001\n  hvc #0
  ldr x0, =0x84000008\n  smc #0\n`,
  /** n PSCI_VERSION calls in a loop, then SYSTEM_OFF. */
  storm: (n: number) => `.global _start\n_start:\n  ldr x19, =${n}\n1:\n  ldr x0, =0x84000000\n  smc #0\n  subs x19, x19, #1\n  b.ne 1b\n  ldr x0, =0x84000008\n  smc #0\n`,
};

export const TOKENS = { alice: randomBytes(16).toString('hex'), bob: randomBytes(16).toString('hex'), eve: randomBytes(16).toString('hex') };
export const TOKEN_FILE_TEXT = `# test tokens\nalice:${TOKENS.alice}\nbob:${TOKENS.bob}\neve:${TOKENS.eve}:observer\n`;

export interface Served { svc: RpcService; port: number; close(): Promise<void> }

export function serviceFixture() {
  const open: (() => Promise<void>)[] = [];
  afterEach(async () => { while (open.length) await open.pop()!(); });
  return async (image: string | undefined, policy: PolicySpec | undefined, opts: Omit<ServiceOptions, 'tokens'> & { tokens?: ServiceOptions['tokens'] | false; tls?: TlsFiles } = {}): Promise<Served> => {
    const tokens = opts.tokens === false ? undefined : opts.tokens ?? (parseTokenFile(TOKEN_FILE_TEXT, 'tokens') as { value: NonNullable<ServiceOptions['tokens']> }).value;
    const svc = new RpcService({ ...opts, tokens });
    if (image) {
      const s = await Session.open({ image: { path: image }, policy, interactive: true, subscribe: true });
      if (!s.ok) throw new Error(s.error);
      svc.addSession(s.value, image);
    }
    const l = await listen(svc, { kind: 'tcp', host: '127.0.0.1', port: 0 }, { keepAlive: 0, tls: opts.tls });
    const close = async () => { await l.close(); await svc.close(); };
    open.push(close);
    return { svc, port: l.port!, close };
  };
}

/** A client and every notification it got, by method. */
export interface TestClient extends RpcClient {
  got: Record<string, unknown[]>;
  /** Resolves with the first notification of `method` (already received or to come) that `pred` accepts. */
  wait<T = any>(method: string, pred?: (p: T) => boolean, ms?: number): Promise<T>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function clientsFixture() {
  const open: RpcClient[] = [];
  afterEach(() => { while (open.length) open.pop()!.close(); });
  return async (port: number, token?: string, extra: Partial<Parameters<typeof connectService>[0]> = {}): Promise<TestClient> => {
    const got: Record<string, unknown[]> = {};
    const waiters: { method: string; pred: (p: unknown) => boolean; resolve: (p: unknown) => void }[] = [];
    const c = await connectService({ connect: `127.0.0.1:${port}`, token, ...extra });
    open.push(c);
    for (const m of ['trap', 'stop', 'decided', 'output', 'lagged', 'session/closed']) {
      c.conn.onNotification(m, (p: unknown) => {
        (got[m] ??= []).push(p);
        for (const w of [...waiters]) if (w.method === m && w.pred(p)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(p); }
      });
    }
    return Object.assign(c, {
      got,
      wait(method: string, pred: (p: any) => boolean = () => true, ms = 20_000) { // eslint-disable-line @typescript-eslint/no-explicit-any
        const had = (got[method] ?? []).find(pred);
        if (had) return Promise.resolve(had);
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no '${method}' notification in ${ms} ms`)), ms);
          waiters.push({ method, pred, resolve: (p) => { clearTimeout(t); resolve(p); } });
        });
      },
    }) as TestClient;
  };
}

/** A raw socket that speaks Content-Length frames, for what a proper client would not send. */
export async function rawClient(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => { socket.once('connect', () => r()); socket.once('error', j); });
  let buf = Buffer.alloc(0);
  const messages: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  let wake: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) break;
      const len = Number(/Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString())![1]);
      if (buf.length < end + 4 + len) break;
      messages.push(JSON.parse(buf.subarray(end + 4, end + 4 + len).toString()));
      buf = buf.subarray(end + 4 + len);
    }
    wake?.();
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => undefined);
  return {
    socket, messages, closed,
    send(msg: object | string) {
      const body = Buffer.from(typeof msg === 'string' ? msg : JSON.stringify(msg));
      socket.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
    },
    /** The first message (received or to come) that pred accepts. */
    async next(pred: (m: any) => boolean, ms = 20_000): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
      const until = Date.now() + ms;
      for (;;) {
        const m = messages.find(pred);
        if (m) return m;
        if (Date.now() > until) throw new Error(`no such message in ${ms} ms (got ${JSON.stringify(messages).slice(0, 400)})`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
      }
    },
  };
}
