// The gdb remote stub: `trapdoor run guest.elf --gdb 127.0.0.1:1234` serves one
// gdb-multiarch client at a time over TCP; a second one is told why and closed.
// The slot is free as soon as the client's socket has closed (as QEMU takes the
// next connection once the previous one is gone); the next client is accepted
// at once and served once the previous one's cleanup is done.
import net from 'node:net';
import type { HostedGdbHandle, Session } from '../server/session/session.js';
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
  /**
   * A gdb client (its Client's name) is served / has gone (detached or
   * disconnected). A served session (`trapdoor serve --gdb`) leaves the guest at
   * a trap gdb decided (gdb continues it, as with `trapdoor run --gdb`).
   */
  onAttach?: (client: string) => void;
  onLeave?: (client: string) => void;
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

/** The client that holds the slot: from its connection until its socket has closed. */
interface Holder { peer: string; open: boolean; socket: net.Socket; served?: HostedGdbHandle }

export function startGdbServer(session: Session, opts: GdbServerOptions): Promise<GdbServer> {
  // gdb stops the guest (Ctrl-C, attaching to a running guest) and goes on from there.
  if (!session.capabilities.resumablePause) {
    return Promise.reject(new Error(`gdb server: gdb needs a pause the guest can resume from: ${session.capabilities.why.resumablePause}`));
  }
  const log = opts.log ?? (() => undefined);
  let holder: Holder | undefined;
  /** Resolves when the last client served (and every one before it) has been cleaned up. */
  let cleanedUp: Promise<void> = Promise.resolve();
  let cleanedUpNow = true;
  const sockets = new Set<net.Socket>();
  const served = new Set<HostedGdbHandle>();
  const peerOf = (socket: net.Socket) => `${socket.remoteAddress}:${socket.remotePort}`;
  /** The client holding the slot is still there (its socket, served on the emulation thread, is asked directly). */
  const holderOpen = () => {
    // (one not served yet is not read here either: it waits for the previous one's cleanup)
    if (holder?.open && (holder.served ? !holder.served.open() : session.socketClosed(holder.socket))) { holder.open = false; holder = undefined; }
    return !!holder?.open;
  };

  /**
   * Gives the slot to this client. Its packets are handled only once the previous
   * client's cleanup (removing its breakpoints and watchpoints, pausing a guest it
   * left running) is done, so that cleanup cannot undo what the new client sets;
   * until then the socket holds what arrives.
   */
  const attach = (socket: net.Socket) => {
    const me: Holder = { peer: peerOf(socket), open: true, socket };
    holder = me;
    // gdb expects a stopped target (and a guest the previous client left running holds the emulation thread, where it is served)
    if (session.state === 'running') {
      log(`gdb ${me.peer}: the guest is running: pausing it for gdb`);
      session.pause();
    }
    const release = () => { me.open = false; if (holder === me) holder = undefined; };
    // until it is served, this thread holds the socket; then the emulation thread does (Session.hostGdb)
    socket.once('end', release);
    socket.once('close', release);
    socket.once('error', release);
    const serve = () => {
      if (socket.destroyed || socket.readableEnded) { socket.destroy(); return Promise.resolve(); } // gone before it was served
      socket.off('end', release);
      socket.off('close', release);
      socket.off('error', release);
      const r = session.hostGdb(socket, { packetSize: PACKET_SIZE, log, trace: opts.trace, guestOutput: opts.guestOutput, hotMs: opts.hotMs });
      if (!r.ok) { log(`gdb ${me.peer}: ${r.error}`); socket.destroy(); release(); return Promise.resolve(); }
      const conn = r.value;
      served.add(conn);
      me.served = conn;
      void conn.gone.then(release);
      log(`gdb ${conn.peer}: attached`);
      opts.onAttach?.(conn.name);
      return conn.closed.then(() => { served.delete(conn); opts.onLeave?.(conn.name); });
    };
    let done: Promise<void>;
    if (cleanedUpNow) done = serve();
    else done = cleanedUp.then(serve);
    cleanedUpNow = false;
    cleanedUp = done;
    void done.then(() => { if (cleanedUp === done) cleanedUpNow = true; });
  };

  // Paused: a served client's bytes are read by the emulation thread, not here.
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (holderOpen()) waitOrRefuse(socket, () => holderOpen() ? holder!.peer : undefined, attach, log);
    else attach(socket);
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
        clients: () => (holderOpen() ? 1 : 0),
        async close() {
          const closing = new Promise<void>((r) => server.close(() => r()));
          for (const s of sockets) s.destroy();
          await Promise.all([...served].map((c) => c.close()));
          await cleanedUp;
          await closing;
        },
      });
    });
  });
}

/**
 * A client that came while another one's socket is open. Nothing is decided
 * until its first packet: if the holder has gone by then (its close may be
 * seen after this connection, e.g. gdb restarted at once), this client is
 * served with what it sent; otherwise its first packet is answered with a
 * textual error (gdb prints "Remote failure reply: E.…"), and it is closed.
 */
function waitOrRefuse(socket: net.Socket, holderPeer: () => string | undefined, attach: (socket: net.Socket) => void, log: (line: string) => void) {
  const who = `${socket.remoteAddress}:${socket.remotePort}`;
  const parser = new FrameParser(0x1000);
  const received: Buffer[] = [];
  let decided = false;
  const timer = setTimeout(() => socket.destroy(), REFUSE_WAIT_MS);
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.on('close', () => clearTimeout(timer));
  const decide = () => {
    const holder = holderPeer();
    if (holder === undefined) {
      // The slot is free: this client is served, from its first byte (unless it went meanwhile).
      socket.off('data', onData);
      if (socket.destroyed || socket.readableEnded) { socket.destroy(); return; }
      socket.pause();
      socket.unshift(Buffer.concat(received));
      attach(socket);
      return;
    }
    log(`gdb ${who}: refused (gdb ${holder} is attached)`);
    const message = `E.Trapdoor: another gdb (${holder}) is attached to this session; one client at a time`;
    socket.off('data', onData);
    socket.end(Buffer.concat([Buffer.from('+'), frame(message)]));
  };
  const onData = (b: Buffer) => {
    received.push(b);
    if (decided || !parser.push(b).some((e) => e.kind !== 'ack' && e.kind !== 'nack')) return;
    decided = true;
    clearTimeout(timer);
    // The holder's end of stream may be read in the same turn of the event loop
    // as this packet: look once that turn is over.
    if (holderPeer() === undefined) decide(); else setImmediate(decide);
  };
  socket.on('data', onData);
  socket.resume(); // accepted paused (pauseOnConnect)
}
