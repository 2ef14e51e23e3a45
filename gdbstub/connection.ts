// One gdb client: framing and acks in, one packet at a time through the packet
// table, replies out (errors become `Exx` here and nowhere else), and the run
// state: while the guest runs, only the Ctrl-C byte matters and the stop reply
// is sent when the session stops.
import type { Socket } from 'node:net';
import type { StopEvent } from '../server/session/contract.js';
import type { RegDef } from '../server/machine/registers.js';
import { FrameParser, frame, textToHex } from './framing.js';
import { errorPacket, fail, isError, type GdbError } from './errors.js';
import { advertise, lookup, splitPacket } from './dispatch.js';
import { readRamHex } from './packets/memory.js';
import { Points } from './points.js';
import { EXITED, consoleLines, stopHead, stopRegisters, stopReply } from './stop-reply.js';
import { registerLayout } from './target-xml.js';
import type { GdbSession, Reply, Stub } from './stub.js';
import { lowerBackgroundThreads, tierUpSooner } from '../server/session/jit.js';
import { HotWindow } from '../server/session/hot.js';

export interface ConnectionOptions {
  packetSize: number;
  log: (line: string) => void;
  /** Log every packet in and out. */
  trace?: boolean;
  /** Send the guest's UART output to gdb (O packets) while it runs. */
  guestOutput?: boolean;
  /** How long to busy-poll for the next packet after a reply (ms; 0: never). */
  hotMs?: number;
  /** The client detaches: called before the guest runs on without it. */
  onLeave?: () => void;
  /**
   * Bytes gdb sent, taken off the socket as they come (hosted.ts: a short native
   * spin), or undefined when none came: keepHot's window reads through it. With
   * `fast` (nothing is queued or running, no acks, no trace) it may answer a
   * memory read of RAM itself, as this connection would: true says it did.
   */
  take?: (fast: boolean) => Buffer | true | undefined;
}

/** See keepHot: long enough to cover gdb's think time between the packets of one command. */
const HOT_MS = 1;

/** Guest output waiting for gdb to read it, beyond which the guest waits. */
const OUTPUT_BACKLOG = 1 << 20;

/** Packets that may run the guest (vCont;t and vCont? do not, but counting them is harmless). */
const RESUME_PACKETS = new Set(['c', 'C', 's', 'S', 'vCont']);

export class GdbConnection implements Stub {
  readonly layout: readonly RegDef[];
  readonly byRegnum: ReadonlyMap<number, RegDef>;
  readonly packetSize: number;
  readonly points: Points;
  gdbFeatures = new Set<string>();
  extended = false;
  readonly peer: string;
  /** Resolves once the client is gone and what it left behind is cleaned up. */
  readonly closed: Promise<void>;

  private readonly parser: FrameParser;
  private queue: Promise<void> = Promise.resolve();
  /** Jobs queued or running that wait for something (see enqueue). */
  private waiting = 0;
  private noAck = false;
  private noAckAfterReply = false;
  private lastFrame: Buffer | undefined;
  private running = false;
  /** Resume packets received whose handling (up to the stop reply) has not finished. */
  private resumesPending = 0;
  /** A Ctrl-C came for the run in progress or a resume received and not yet run. */
  private interrupted = false;
  private gone = false;
  private resolveClosed!: () => void;
  private readonly hotWindow: HotWindow;
  /** The m reply gdb will probably ask for next (see readOn). */
  private readAhead: { packet: string; frame: Buffer } | undefined;

  /** Guest output not sent: gdb read slower than the guest printed (said at the stop). */
  private outputDropped = 0;
  /** Resolves when gdb has read what is queued (one wait however much output comes meanwhile). */
  private drained: Promise<void> | undefined;

  /** session: this connection's own client of the session (its breakpoints, its decisions). */
  constructor(readonly session: GdbSession, private readonly socket: Socket, private readonly opts: ConnectionOptions) {
    tierUpSooner(); // gdb steps: see server/session/jit.ts
    lowerBackgroundThreads();
    this.layout = registerLayout(session.registers);
    this.byRegnum = new Map(this.layout.map((r) => [r.regnum, r]));
    this.packetSize = opts.packetSize;
    this.points = new Points(session);
    this.parser = new FrameParser(opts.packetSize);
    this.hotWindow = new HotWindow(opts.hotMs ?? HOT_MS, {
      changed: (hot) => session.busyPolling(hot),
      turn: () => {
        const b = opts.take?.(this.answersAnywhere());
        if (b === true) { this.keepHot(); this.readAhead = undefined; } else if (b && !this.gone) this.onData(b);
      },
      over: () => this.gone || this.socket.destroyed,
    });
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.closed = new Promise((r) => { this.resolveClosed = r; });
    socket.setNoDelay(true);
    socket.on('data', (b) => this.onData(b));
    socket.on('error', (e) => this.log(`socket error: ${e.message}`));
    socket.on('close', () => void this.onClose());
    session.on('output', this.onOutput);
    // gdb expects a stopped target when it attaches.
    if (session.state === 'running') this.enqueue(() => this.haltRunningGuest());
  }

  log(line: string) { this.opts.log(`gdb ${this.peer}: ${line}`); }
  advertise(): string { return advertise(this); }
  startNoAck() { this.noAckAfterReply = true; }

  /** Drops the client (server shutdown). */
  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }

  // ------------------------------------------------------------------ input
  private onData(buf: Buffer) {
    this.keepHot(); // the answer may need the emulation thread: its reply is picked up at once too
    for (const ev of this.parser.push(buf)) {
      switch (ev.kind) {
        case 'packet':
          if (!this.noAck) this.write('+');
          this.enqueuePacket(ev.data);
          break;
        case 'bad-checksum':
          if (this.noAck) {
            // TCP already checked the bytes; a wrong sum here is the client's bug.
            this.log(`bad checksum ignored (no-ack mode): ${ev.data.slice(0, 40)}`);
            this.enqueuePacket(ev.data);
          } else {
            this.log(`bad checksum: asking for a resend of ${JSON.stringify(ev.data.slice(0, 40))}`);
            this.write('-');
          }
          break;
        case 'oversized':
          if (!this.noAck) this.write('+');
          this.enqueue(() => this.answer(fail('too-big', `a ${ev.size}-byte packet is over PacketSize ${this.packetSize}`), 'oversized'));
          break;
        case 'nack':
          if (this.lastFrame) this.socket.write(this.lastFrame);
          break;
        case 'ack':
          break;
        case 'interrupt':
          this.interrupt();
          break;
      }
    }
  }

  /**
   * A resume counts as pending from the moment it is read, so that a Ctrl-C
   * right behind it (often in the same TCP segment, handled before the packet's
   * job has started the run) is kept for that run instead of being dropped.
   */
  private enqueuePacket(data: string) {
    if (!RESUME_PACKETS.has(splitPacket(data).name)) { this.enqueue(() => this.handle(data)); return; }
    this.resumesPending++;
    const done = () => {
      // The stop reply is out (or the resume failed): a Ctrl-C kept for it is used up.
      if (--this.resumesPending === 0 && !this.running) this.interrupted = false;
    };
    this.enqueue(() => {
      let r: void | Promise<void>;
      try { r = this.handle(data); } catch (e) { done(); throw e; }
      if (!r) { done(); return; }
      return r.finally(done);
    });
  }

  /**
   * Packets are answered in order. A job that finishes at once (most packets: a
   * memory read of RAM, a query, a breakpoint noted) runs in the data callback
   * itself when nothing is queued; only one that waits (a run, a register read
   * from the emulation thread) holds the queue until it is done. Each packet then
   * costs no promise turns, which is most of a round trip's time on our side.
   */
  private enqueue(job: () => void | Promise<void>) {
    if (this.waiting === 0) {
      let r: void | Promise<void>;
      try { r = job(); } catch (e) { this.internalError(e); return; }
      if (r) this.hold(r);
      return;
    }
    this.hold(this.queue.then(job));
  }

  private hold(p: Promise<void>) {
    this.waiting++;
    this.queue = p.catch((e: unknown) => this.internalError(e)).finally(() => { this.waiting--; });
  }

  private internalError(e: unknown) {
    this.log(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    this.send([errorPacket(fail('session', 'internal error'))]);
  }

  /**
   * Busy-polls for a moment after each packet and reply (server/session/hot.ts):
   * gdb's next packet is then taken without waking this thread (the emulation
   * thread: hosted.ts), through `take` where it is given. The session hears when the
   * window closes (busyPolling: a burst of steps is told to the main thread then).
   */
  private keepHot() { this.hotWindow.touch(); }

  /** A packet may be answered outside this connection now (take's `fast`): it has nothing in hand and no acks or trace to add. */
  private answersAnywhere(): boolean {
    return this.noAck && !this.opts.trace && this.waiting === 0 && !this.running && this.resumesPending === 0 && !this.gone && this.parser.idle;
  }

  /** Ctrl-C: read here, or by the watcher while a run had the thread (hosted.ts). */
  interrupt() {
    if (this.running) {
      this.interrupted = true;
      this.session.pause();
    } else if (this.resumesPending > 0) {
      // the run has not started yet: run() pauses it as soon as it is launched
      this.interrupted = true;
    } else this.log('Ctrl-C while the guest is stopped: nothing to do');
  }

  private handle(data: string): void | Promise<void> {
    if (this.gone) return;
    if (this.opts.trace) this.log(`<- ${data.length > 200 ? data.slice(0, 200) + '...' : data}`);
    const { handler, name, args } = lookup(data);
    const ahead = this.readAhead;
    this.readAhead = undefined;
    if (ahead?.packet === data) {
      this.sendFrames([ahead.frame], [data]);
      this.readOn(args, ahead.frame);
      return;
    }
    if (!handler) { this.send(['']); return; }
    const reply = handler(this, args);
    if (reply instanceof Promise) return reply.then((r) => this.finish(r, name, args));
    return this.finish(reply, name, args);
  }

  private finish(reply: Reply, name: string, args: string): void | Promise<void> {
    const done = this.answer(reply, name);
    if (name === 'm' && typeof reply === 'string') this.readOn(args, reply);
    return done;
  }

  /**
   * A dump reads memory in order, one m packet at a time, and gdb parses each
   * reply before it asks for the next: build the next reply meanwhile. It is
   * used only if the very next packet asks for exactly it (nothing in between
   * could have changed memory or let the guest run).
   */
  private readOn(args: string, reply: string | Buffer) {
    const m = /^([0-9a-f]+),([0-9a-f]+)$/.exec(args);
    const len = m ? parseInt(m[2], 16) : 0;
    const full = typeof reply === 'string' ? reply.length === len * 2 : true;
    if (!m || len < 0x400 || !full) return;
    const next = (BigInt('0x' + m[1]) + BigInt(len)).toString(16);
    const r = readRamHex(this, BigInt('0x' + next), len);
    if (r !== undefined) this.readAhead = { packet: `m${next},${m[2]}`, frame: frame(r) };
  }

  // ------------------------------------------------------------------ output
  private write(text: string) {
    if (!this.gone && !this.socket.destroyed) this.socket.write(text);
  }

  private send(packets: string[]) {
    this.sendFrames(packets.map(frame), packets);
  }

  private sendFrames(frames: Buffer[], shown: string[]) {
    if (this.gone || this.socket.destroyed || !frames.length) return;
    this.keepHot();
    if (this.opts.trace) for (const p of shown) this.log(`-> ${p.length > 200 ? p.slice(0, 200) + '...' : p}`);
    this.lastFrame = frames[frames.length - 1];
    this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
    if (this.noAckAfterReply) { this.noAck = true; this.noAckAfterReply = false; }
  }

  /** Console text for gdb to print: one `O` packet per line, split to fit. */
  private consolePackets(lines: string[]): string[] {
    const max = (this.packetSize - 4) >> 1;
    const out: string[] = [];
    for (const line of lines) {
      const text = line.endsWith('\n') ? line : line + '\n';
      for (let i = 0; i < text.length; i += max) out.push('O' + textToHex(text.slice(i, i + max)));
    }
    return out;
  }

  private readonly onOutput = (text: string) => {
    if (!this.running || !this.opts.guestOutput) return;
    // Where the guest cannot be held back (a client served on the emulation thread), past a bound output is counted, not kept.
    if (this.socket.writableLength > 4 * OUTPUT_BACKLOG) { this.outputDropped += text.length; return; }
    this.send(this.consolePackets([text.replace(/\n$/, '')]));
    // gdb reads slower than the guest prints: hold the guest back (flow control), not our memory
    if (this.socket.writableLength > OUTPUT_BACKLOG) {
      this.drained ??= new Promise<void>((r) => {
        const done = () => { this.socket.off('drain', done); this.socket.off('close', done); this.drained = undefined; r(); };
        this.socket.once('drain', done);
        this.socket.once('close', done);
      });
      this.session.hold(this.drained);
    }
  };

  private errorReply(e: GdbError, name: string): string {
    this.log(`${name}: ${e.why}`);
    return errorPacket(e);
  }

  private answer(reply: Reply, name: string): void | Promise<void> {
    if (typeof reply === 'string') return this.send([reply]);
    if (isError(reply)) return this.send([this.errorReply(reply, name)]);
    if ('output' in reply) {
      const last = typeof reply.reply === 'string' ? reply.reply : this.errorReply(reply.reply, name);
      return this.send([...this.consolePackets(reply.output), last]);
    }
    if ('report' in reply) { const [f, shown] = this.stopFrame(this.session.lastStop, true); return this.sendFrames([f], [shown]); }
    if ('resume' in reply) return this.run(reply.resume);
    return this.leave(reply.leave);
  }

  // ------------------------------------------------------------------ run control
  private nextStop(): Promise<StopEvent> {
    return this.session.nextStop();
  }

  private async haltRunningGuest() {
    this.log('the guest is running: pausing it for gdb');
    const stopped = this.nextStop();
    this.session.pause();
    await stopped;
  }

  /**
   * The stop reply's frame, reading the registers it expedites (on this thread: no
   * trip to make), and its text for the trace. Built natively, registers and all,
   * where the session can (GdbSession.stopFrame); the trace shows it in full.
   */
  private stopFrame(ev: StopEvent | undefined, asked = false): [Buffer, string] {
    const head = stopHead(this, ev, asked);
    if (head === EXITED) return [frame(head), head];
    const core = stopRegisters(this);
    const ready = this.opts.trace ? undefined : this.session.stopFrame(head, core.names, core.regnums);
    if (ready) return [ready, head];
    const text = stopReply(this, ev, this.session.targetRegisters(core.names), asked);
    return [frame(text), text];
  }

  /**
   * One resume: the breakpoint and watchpoint changes gdb made, then the run (a
   * step is the core's: a run to the next instruction, server/machine/step-plan.ts).
   */
  private launch(how: 'continue' | 'step') {
    const problems = this.points.sync();
    const stop = how === 'step' ? this.session.step() : this.session.cont();
    return { stop, problems };
  }

  private async run(how: 'continue' | 'step') {
    if (this.session.state === 'exited') {
      this.send([...this.consolePackets(consoleLines(this.session.lastStop ?? { reason: 'exit', vcpu: 0, pc: '0x0', insns: 0 })), 'W00']);
      return;
    }
    // `interrupted` is not reset here: a Ctrl-C that came after the resume packet
    // and before this run started is for this run (reset when its reply is out).
    this.running = true;
    let ev: StopEvent | undefined;
    const notes: string[] = [];
    let retried = false;
    for (;;) {
      const l = this.launch(how);
      // A Ctrl-C that came while the run was being prepared (the session was not running yet)
      if (this.interrupted) this.session.pause();
      const r = await l.stop;
      for (const p of await l.problems) notes.push(`Trapdoor: a breakpoint or watchpoint could not be set: ${p}`);
      if (r.ok) ev = r.value;
      else if (this.session.state === 'running') ev = await this.nextStop(); // another front-end runs it
      else { notes.push(`Trapdoor: ${r.error}`); ev = this.session.lastStop; }
      if (this.gone || this.interrupted) break;
      // A breakpoint gdb no longer wants: not a stop for gdb; it goes, the run goes on
      // (unless another client has a breakpoint there too: that one stops gdb's run).
      if (how === 'continue' && ev?.reason === 'breakpoint' && ev.addr !== undefined && this.points.isStale(BigInt(ev.addr))) {
        this.points.dropStale(BigInt(ev.addr));
        if (!ev.owners?.some((o) => o !== this.session.name)) continue;
      }
      // A pause nobody asked for in this run is a Ctrl-C that raced the previous
      // stop and stayed set in the core: resume once more.
      if (ev?.reason === 'pause' && !retried) { retried = true; continue; }
      break;
    }
    // A step that ends on a breakpoint (ours or gdb's) is still just a step.
    if (how === 'step' && ev?.reason === 'breakpoint') ev = { ...ev, reason: 'step', addr: undefined };
    // Another client's breakpoint stopped the guest (gdb has none there, or no longer wants its own):
    // gdb sees a plain SIGTRAP; say whose it is.
    else if (ev?.reason === 'breakpoint' && ev.addr !== undefined && !this.points.breakKindAt(BigInt(ev.addr))) {
      const others = (ev.owners ?? []).filter((o) => o !== this.session.name);
      if (others.length) notes.push(`Trapdoor: the guest stopped at ${ev.addr}, a breakpoint of ${others.join(', ')}`);
    }
    this.running = false;
    if (this.gone) return;
    if (this.outputDropped) {
      notes.push(`Trapdoor: ${this.outputDropped} bytes of guest output were not sent (gdb read slower than the guest printed)`);
      this.outputDropped = 0;
    }
    const lines = [...notes, ...(ev ? consoleLines(ev) : [])];
    const consoles = this.consolePackets(lines);
    const [stop, shown] = this.stopFrame(ev);
    this.sendFrames([...consoles.map(frame), stop], [...consoles, shown]);
  }

  private async leave(how: 'detach' | 'kill') {
    if (how === 'detach') {
      // As gdb's own servers and QEMU do: the guest goes on, without this client's
      // breakpoints. A pending `ask` trap takes the policy's default; the next
      // one stops the guest again and waits for a gdb to decide it.
      await this.points.clear();
      this.send(['OK']);
      if (this.session.state === 'stopped') {
        this.session.runOn();
        this.log('detached; the guest runs on');
      } else this.log(`detached; the session stays ${this.session.state}`);
      this.opts.onLeave?.();
    } else if (!this.extended) {
      // gdb reads no reply to `k` and closes: the line is for logs and protocol traces.
      this.send(this.consolePackets([`Trapdoor: kill does not end the service; the session stays ${this.session.state} (attach again with target remote)`]));
      this.log(`kill: the session stays ${this.session.state}`);
    } else {
      this.log(`kill (extended mode): the session stays ${this.session.state}`);
      await this.points.clear();
      return;
    }
    this.socket.end();
  }

  // ------------------------------------------------------------------ the end
  private async onClose() {
    if (this.gone) return;
    this.gone = true;
    this.session.off('output', this.onOutput);
    // the client's breakpoints and watchpoints go with it (below, after the queue)
    // A client that vanishes while the guest runs leaves it paused, re-attachable.
    if (this.running) this.session.pause();
    await this.queue.catch(() => undefined);
    await this.points.clear();
    await this.session.close();
    this.log(`disconnected; the session stays ${this.session.state}`);
    this.resolveClosed();
  }
}
