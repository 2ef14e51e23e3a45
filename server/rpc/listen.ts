// Where the service listens: stdio, a unix socket, TCP (loopback unless a token
// file is given), optionally TLS (with --tls-ca, client certificates are required).
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import type { RpcService } from './service.js';

export type ListenAddress =
  | { kind: 'stdio' }
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

/** `stdio`, `unix:PATH` (or a path with a slash), `HOST:PORT`, `[V6]:PORT` or `PORT` (loopback). */
export function parseListen(text: string): ListenAddress | string {
  const t = text.trim();
  if (t === 'stdio' || t === '-') return { kind: 'stdio' };
  if (t.startsWith('unix:')) return t.length > 5 ? { kind: 'unix', path: t.slice(5) } : 'unix: needs a path, e.g. unix:/run/trapdoor.sock';
  if (t.includes('/')) return { kind: 'unix', path: t };
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(t);
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535) return `expected stdio, unix:PATH or HOST:PORT (e.g. 127.0.0.1:7000; port 0 picks one), not "${text}"`;
  return { kind: 'tcp', host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}

export interface TlsFiles { cert: string; key: string; ca?: string }

export interface Listening {
  /** `127.0.0.1:7000`, `unix:/path`, `stdio`. */
  address: string;
  port?: number;
  /** stdio: resolves when the client has gone (end of input). */
  done?: Promise<void>;
  close(): Promise<void>;
}

export interface ListenOptions {
  tls?: TlsFiles;
  /** TCP keep-alive probes after this many idle seconds (0: off). */
  keepAlive: number;
}

export async function listen(svc: RpcService, at: ListenAddress, opts: ListenOptions): Promise<Listening> {
  if (at.kind === 'stdio') {
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => { resolveDone = r; });
    svc.serve({ input: process.stdin, output: process.stdout, peer: 'stdio', close: () => resolveDone() });
    process.stdin.once('end', () => resolveDone());
    return { address: 'stdio', done, close: async () => resolveDone() };
  }
  if (at.kind === 'tcp' && !isLoopback(at.host) && !svc.needsToken) {
    throw new Error(`--listen ${at.host}:${at.port} is not a loopback address: give --token-file F so that clients must authenticate (or listen on 127.0.0.1 and reach it through an SSH tunnel)`);
  }
  const tlsOpts = opts.tls ? tlsOptions(opts.tls) : undefined;
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    if (at.kind === 'tcp' && opts.keepAlive > 0) socket.setKeepAlive(true, opts.keepAlive * 1000);
    const peer = at.kind === 'unix' ? `unix#${++unixCount}` : `${socket.remoteAddress}:${socket.remotePort}`;
    svc.serve({
      input: socket, output: socket, peer,
      close: () => { socket.end(); setTimeout(() => socket.destroy(), 500).unref(); },
    });
  };
  let unixCount = 0;
  const server = tlsOpts ? tls.createServer(tlsOpts, onSocket) : net.createServer(onSocket);
  if (tlsOpts) server.on('tlsClientError', (e) => svc.log(`TLS: a client failed the handshake: ${e.message}`));
  if (at.kind === 'unix' && existsSync(at.path) && statSync(at.path).isSocket()) {
    // a socket left by an earlier server: take it only when nobody answers there
    const alive = await new Promise<boolean>((r) => {
      const c = net.connect(at.path, () => { c.destroy(); r(true); });
      c.on('error', () => r(false));
    });
    if (alive) throw new Error(`${at.path}: another server is listening there`);
    rmSync(at.path, { force: true });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const where = at.kind === 'unix' ? at.path : `${at.host}:${at.port}`;
      reject(new Error(e.code === 'EADDRINUSE' ? `${where} is already in use (pick another, or port 0 for any)` : `cannot listen on ${where}: ${e.message}`));
    });
    if (at.kind === 'unix') server.listen(at.path, () => resolve());
    else server.listen(at.port, at.host, () => resolve());
  });
  server.on('error', (e) => svc.log(`server error: ${e.message}`));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : undefined;
  const address = at.kind === 'unix' ? `unix:${at.path}` : `${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}`;
  return {
    address, port,
    close: async () => {
      const closing = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closing;
      if (at.kind === 'unix') rmSync(at.path, { force: true });
    },
  };
}

/** The TLS options of --tls-cert/--tls-key (and --tls-ca: client certificates required), read from their files. */
export function tlsOptions(files: TlsFiles): tls.TlsOptions {
  const read = (f: string, what: string) => {
    try { return readFileSync(f); } catch (e) { throw new Error(`${what} ${f}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`); }
  };
  return {
    cert: read(files.cert, '--tls-cert'), key: read(files.key, '--tls-key'),
    ...(files.ca ? { ca: read(files.ca, '--tls-ca'), requestCert: true, rejectUnauthorized: true } : {}),
    minVersion: 'TLSv1.2',
  };
}
