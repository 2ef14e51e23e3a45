// The gdb remote stub: `trapdoor run guest.elf --gdb 127.0.0.1:1234` serves one
// gdb-multiarch client at a time over TCP; a second one is told why and closed.
import net from 'node:net';
import type { Session } from '../server/session/session.js';
import { GdbConnection } from './connection.js';
import { FrameParser, frame } from './framing.js';

export interface GdbServerOptions {
  /** Default 127.0.0.1: the stub can read and write all guest memory. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  log?: (line: string) => void;
  /** Log every packet (debugging the stub). */
  trace?: boolean;
  /** Forward guest UART output to gdb's console while the guest runs. */
  guestOutput?: boolean;
  /**
   * After each packet, busy-poll this long (ms) for the next one instead of
   * sleeping (default 1; 0 never): see GdbConnection.keepHot.
   */
  hotMs?: number;
}

export interface GdbServer {
  port: number;
  close(): Promise<void>;
  /** gdb clients attached now (0 or 1). */
  clients(): number;
}

/** Large enough that a `dump memory` needs few round trips; gdb sizes its m/X packets from it. */
export const PACKET_SIZE = 0x20000;

/** How long a refused second client may take to send its first packet. */
const REFUSE_WAIT_MS = 2000;

export function startGdbServer(session: Session, opts: GdbServerOptions): Promise<GdbServer> {
  const log = opts.log ?? (() => undefined);
  let active: GdbConnection | undefined;
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (active) { refuse(socket, active.peer, log); return; }
    const conn = new GdbConnection(session, socket, { packetSize: PACKET_SIZE, log, trace: opts.trace, guestOutput: opts.guestOutput, hotMs: opts.hotMs });
    active = conn;
    log(`gdb ${conn.peer}: attached`);
    void conn.closed.then(() => { if (active === conn) active = undefined; });
  });

  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${opts.host ?? '127.0.0.1'}:${opts.port}`;
      reject(new Error(e.code === 'EADDRINUSE' ? `gdb server: ${where} is already in use (pick another port, or 0 for any)` : `gdb server: cannot listen on ${where}: ${e.message}`));
    });
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
      server.on('error', (e) => log(`gdb server error: ${e.message}`));
      const addr = server.address() as net.AddressInfo;
      log(`gdb server listening on ${addr.address}:${addr.port}`);
      resolve({
        port: addr.port,
        clients: () => (active ? 1 : 0),
        async close() {
          const closing = new Promise<void>((r) => server.close(() => r()));
          await active?.close();
          for (const s of sockets) s.destroy();
          await closing;
        },
      });
    });
  });
}

/**
 * A second client: answer its first packet with a textual error (gdb prints
 * "Remote failure reply: E.…"), then close.
 */
function refuse(socket: net.Socket, holder: string, log: (line: string) => void) {
  const who = `${socket.remoteAddress}:${socket.remotePort}`;
  log(`gdb ${who}: refused (gdb ${holder} is attached)`);
  const message = `E.Trapdoor: another gdb (${holder}) is attached to this session; one client at a time`;
  const parser = new FrameParser(0x1000);
  const timer = setTimeout(() => socket.destroy(), REFUSE_WAIT_MS);
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.on('close', () => clearTimeout(timer));
  socket.on('data', (b) => {
    if (parser.push(b).some((e) => e.kind !== 'ack' && e.kind !== 'nack')) {
      socket.end(Buffer.concat([Buffer.from('+'), frame(message)]));
      clearTimeout(timer);
    }
  });
}
