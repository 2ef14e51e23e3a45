// A raw RSP client for tests: every byte the stub sends, split into acks and
// checked packets, with helpers to ask and wait. Used where gdb-multiarch cannot
// provoke what a test needs (framing, races, fuzzing).
import net from 'node:net';
import { afterEach, expect } from 'vitest';
import { Session, type SessionOptions } from '../../server/session/session.js';
import { startGdbServer, type GdbServer } from '../../gdbstub/index.js';

export const sum = (s: string) => { let n = 0; for (let i = 0; i < s.length; i++) n += s.charCodeAt(i); return (n & 0xff).toString(16).padStart(2, '0'); };
export const pkt = (data: string) => `$${data}#${sum(data)}`;
export const hex = (text: string) => Buffer.from(text).toString('hex');
export const unhex = (h: string) => Buffer.from(h, 'hex').toString();
/** Expands run-length encoding as gdb does: `c*N` is c and N-29 more. */
export const unrle = (s: string) => s.replace(/(.)\*(.)/gs, (_m, c: string, n: string) => c.repeat(1 + n.charCodeAt(0) - 29));
const isConsole = (p: string) => p.startsWith('O') && p !== 'OK' && /^O([0-9a-f]{2})+$/.test(p);

/** Everything the stub sent, split into acks and checked packets. */
/** An AArch64 endless loop with a label, `target`, at its second instruction (for breakpoints). */
export const LOOP_WITH_TARGET = `.global _start
_start:
  mov x1, #0
1:
  add x1, x1, #1
target:
  add x2, x1, #2
  b 1b
`;

export class RspClient {
  private buf = '';
  readonly packets: string[] = [];
  acks = 0;
  nacks = 0;
  closed = false;
  private waiters: (() => void)[] = [];
  ackMode = true;

  /** skipConsole: drop `O` packets (console text) instead of queueing them. */
  private constructor(readonly socket: net.Socket, private readonly skipConsole: boolean) {
    socket.setNoDelay(true);
    socket.on('data', (b) => { this.buf += b.toString('latin1'); this.parse(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  static connect(port: number, opts: { skipConsole?: boolean } = {}): Promise<RspClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RspClient(s, !!opts.skipConsole)));
      s.once('error', reject);
    });
  }

  private wake() { const w = this.waiters; this.waiters = []; for (const f of w) f(); }

  private parse() {
    for (;;) {
      while (this.buf.length && this.buf[0] !== '$') {
        if (this.buf[0] === '+') this.acks++;
        else if (this.buf[0] === '-') this.nacks++;
        this.buf = this.buf.slice(1);
      }
      const end = this.buf.indexOf('#');
      if (end < 0 || this.buf.length < end + 3) break;
      const data = this.buf.slice(1, end);
      const cs = this.buf.slice(end + 1, end + 3);
      this.buf = this.buf.slice(end + 3);
      if (cs !== sum(data)) throw new Error(`stub sent a bad checksum for ${data}`);
      if (this.ackMode) this.socket.write('+');
      if (this.skipConsole && isConsole(data)) continue;
      this.packets.push(unrle(data));
    }
    this.wake();
  }

  write(raw: string | Buffer) { this.socket.write(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw); }
  send(data: string) { this.write(pkt(data)); }

  /** The next packet from the stub, or undefined if none comes within ms. */
  async poll(ms = 5000): Promise<string | undefined> {
    const end = Date.now() + ms;
    while (!this.packets.length) {
      if (this.closed) throw new Error('the stub closed the connection');
      const left = end - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.packets.shift()!;
  }

  /** The next packet from the stub. */
  async next(ms = 5000): Promise<string> {
    const p = await this.poll(ms);
    if (p === undefined) throw new Error('no reply from the stub');
    return p;
  }

  /** Sends a packet; returns the console text (O packets) and the reply. */
  async ask(data: string, ms?: number): Promise<{ reply: string; console: string }> {
    this.send(data);
    let console = '';
    for (;;) {
      const p = await this.next(ms);
      if (isConsole(p)) { console += unhex(p.slice(1)); continue; }
      return { reply: p, console };
    }
  }

  async req(data: string, ms?: number): Promise<string> { return (await this.ask(data, ms)).reply; }

  async noAck() {
    expect(await this.req('QStartNoAckMode')).toBe('OK');
    this.ackMode = false;
  }

  close() { this.socket.destroy(); }
}

// ---------------------------------------------------------------- a stub per test

export interface StubSetup { session: Session; server: GdbServer; logs: string[] }

/**
 * Sessions served by a gdb stub on a free port, and the clients connected to them,
 * all closed after each test (call once, at the top of a test file).
 */
export function stubFixture() {
  const open: StubSetup[] = [];
  const clients: RspClient[] = [];
  afterEach(async () => {
    while (clients.length) clients.pop()!.close();
    while (open.length) {
      const s = open.pop()!;
      await s.server.close();
      await s.session.close();
    }
  });
  return {
    async serve(elf: string, opts: Partial<SessionOptions> = {}, guestOutput = false): Promise<StubSetup> {
      const r = await Session.open({ image: { path: elf }, ...opts });
      if (!r.ok) throw new Error(r.error);
      const logs: string[] = [];
      const server = await startGdbServer(r.value, { port: 0, log: (l) => logs.push(l), guestOutput });
      const s = { session: r.value, server, logs };
      open.push(s);
      return s;
    },
    /** Closes the clients connected so far. */
    closeClients() { for (const c of clients.splice(0)) c.close(); },
    /** A client connected to s, closed after the test. */
    async connect(s: StubSetup, opts: { skipConsole?: boolean } = {}): Promise<RspClient> {
      const c = await RspClient.connect(s.server.port, opts);
      clients.push(c);
      return c;
    },
  };
}
