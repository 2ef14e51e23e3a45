// A client of the service (`trapdoor triage`, tests): connects over a unix
// socket, TCP or TLS, authenticates, and hands back the JSON-RPC connection.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, ResponseError, type MessageConnection } from 'vscode-jsonrpc/node';
import { parseListen } from './listen.js';
import type { AuthResult } from './protocol.js';
import type { Role } from './tokens.js';

export interface ConnectOptions {
  /** HOST:PORT or unix:PATH. */
  connect: string;
  token?: string;
  role?: Role;
  /** TLS: trust this CA (PEM file); present this client certificate and key. */
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
}

export interface RpcClient {
  conn: MessageConnection;
  auth: AuthResult;
  socket: net.Socket;
  close(): void;
}

export async function connectService(o: ConnectOptions): Promise<RpcClient> {
  const at = parseListen(o.connect);
  if (typeof at === 'string') throw new Error(`--connect: ${at}`);
  if (at.kind === 'stdio') throw new Error('--connect: stdio is not an address to connect to');
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    let s: net.Socket;
    const fail = (e: Error) => reject(new Error(`cannot connect to ${o.connect}: ${e.message}`));
    if (o.tls) {
      const read = (f?: string) => (f ? readFileSync(f) : undefined);
      const host = at.kind === 'tcp' ? at.host : 'localhost';
      s = tls.connect({
        ...(at.kind === 'tcp' ? { host: at.host, port: at.port } : { path: at.path }),
        ca: read(o.tls.ca), cert: read(o.tls.cert), key: read(o.tls.key),
        servername: o.tls.servername ?? (net.isIP(host) ? undefined : host),
      }, () => resolve(s));
    } else {
      s = at.kind === 'tcp' ? net.connect(at.port, at.host, () => resolve(s)) : net.connect(at.path, () => resolve(s));
    }
    s.once('error', fail);
  });
  socket.on('error', () => undefined);
  const conn = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
  conn.onError(() => undefined);
  conn.listen();
  const close = () => { conn.dispose(); socket.destroy(); };
  try {
    // (the answer read just before the close is handled first: vscode-jsonrpc handles messages in setImmediate)
    const closed = new Promise<never>((_, reject) => socket.once('close', () => setTimeout(() => reject(new Error('the service closed the connection')), 200)));
    closed.catch(() => undefined);
    const auth = await Promise.race([conn.sendRequest<AuthResult>('auth', { token: o.token, role: o.role }), closed]);
    return { conn, auth, socket, close };
  } catch (e) {
    close();
    throw new Error(e instanceof ResponseError ? e.message : `the service closed the connection (${(e as Error).message})`);
  }
}
