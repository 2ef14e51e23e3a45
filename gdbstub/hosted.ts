// A gdb client served on the emulation thread: the connection (connection.ts, the
// same code as ever) runs where the guest runs, so a step, a continue, the stop
// reply and the register and memory reads around it cost no trip between
// threads. On this 2-core VM each such trip is a wake-up of 20-45 us, and a gdb
// step took two of them; served here it takes none (gdb's own socket aside).
//
// Breakpoints and watchpoints are kept here too, with their owners (owners.ts),
// for every client. What belongs to the Session (decisions, policy, console
// commands) is still the Session's: those calls go to the main thread
// ('gdbCall', answered by 'gdbReply'). The main thread hears of each run made here
// afterwards ('ran'; while it has not, it reports the guest as running), so every
// other front-end sees the stops as it would have. A run here blocks this thread,
// so a native watcher (native/trapdoor.c td_watch_*) reads the one byte gdb may
// send meanwhile, Ctrl-C, and notices a client that goes.
import net from 'node:net';
import { GdbConnection } from './connection.js';
import type { GdbMemory, GdbSession } from './stub.js';
import type { Engine } from '../server/session/engine.js';
import type { FlowWorker } from '../server/session/flow.js';
import type { OwnedPoints } from '../server/session/owners.js';
import { symbolizeIn } from '../server/session/symbols.js';
import { OPS, type Capabilities, type Hex, type HostedGdb, type OpName, type ParamsOf, type ResultOf, type SessionState, type StopEvent, type WorkerEvent } from '../server/session/contract.js';
import { byName, nextStopOf, type RegisterInfo, type SessionCalls } from '../server/session/client.js';
import type { SessionEvents } from '../server/session/session.js';
import { registerTable, type CpuArch } from '../server/machine/registers.js';
import { RUNNING, badReadLength, checkVcpu, ended, parseHex, unknownRegister, watchArgs } from '../server/session/checks.js';
import type { ElfSymbol } from '../server/machine/elf.js';
import { unicorn, type Ptr } from '../server/machine/unicorn.js';
import { fail, failureOf, ok, type Result } from '../server/result.js';

/** What the emulation thread shares with the clients it serves (server/session/worker.ts). */
export interface Hub {
  /** A run is under way on this thread (the Session's or a served client's). */
  busy: boolean;
  lastStop: StopEvent | undefined;
  /** Who owns which point (owners.ts): kept on this thread. */
  readonly points: OwnedPoints;
  /** Called with every stop of every run on this thread. */
  readonly stops: Set<(ev: StopEvent) => void>;
  /** Called with the guest's output as it is posted. */
  readonly outputs: Set<(text: string) => void>;
  engine(): Engine;
  post(m: WorkerEvent): void;
  /** The session block: whether this thread runs the guest, and how often on its own. */
  flow(): FlowWorker;
  /** One run (throws `busy` while another is under way). */
  run(step: boolean, regs?: string[]): Promise<{ ev: StopEvent; values?: (Hex | undefined)[] }>;
}

/**
 * How long one native read waits for gdb's next bytes before the event loop
 * turns again (the main thread's answers, a timer): short, as the loop must stay live.
 * The same read answers gdb's memory reads of RAM itself when it may (td_take).
 */
const TAKE_US = 30;

/** Calls waiting for the main thread's answer ('gdbReply'). */
const calls = new Map<number, (r: Result<unknown>) => void>();
let nextCall = 1;
const conns = new Map<number, GdbConnection>();
/** The watcher threads of the clients served now: stopped before this thread ends (closeAll). */
const watchers = new Map<number, Ptr>();
function dropWatcher(hostId: number) {
  const w = watchers.get(hostId);
  if (!w) return;
  watchers.delete(hostId);
  unicorn().td_watch_free(w);
}

/**
 * The newest run made here that the main thread has not heard of. Told when the
 * connection stops busy-polling (a burst of steps is one message, sent once gdb
 * has its replies), and always before anything else this client sends it.
 */
let unheard: { hub: Hub; run: number; ev: StopEvent } | undefined;
export function tellRuns() {
  const u = unheard;
  if (!u) return;
  unheard = undefined;
  u.hub.post({ event: 'ran', run: u.run, ev: u.ev });
}

class HostedClient {
  readonly arch: CpuArch;
  readonly registers: readonly RegisterInfo[];
  readonly memory: GdbMemory;
  readonly symbols: readonly ElfSymbol[];
  readonly caps: Capabilities;
  readonly name: string;
  readonly shared: boolean;
  stopRegisters: string[] | undefined;
  /** The connection's Ctrl-C, for a byte the watcher took while a run had the thread. */
  onInterrupt: (() => void) | undefined;
  private readonly listeners: [keyof SessionEvents, (...a: never[]) => void, (...a: never[]) => void][] = [];
  private hot = false;
  /** A run was asked for and has not started (see run). */
  private starting = false;
  /** Calls made of the main thread and not answered yet: a run waits for them (a decision gdb made before it, say). */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly hub: Hub, private readonly h: HostedGdb) {
    const engine = hub.engine();
    this.arch = engine.cfg.arch;
    this.registers = registerTable(this.arch);
    this.symbols = h.symbols;
    this.caps = h.caps;
    this.name = h.name;
    this.shared = h.shared;
    const regions = h.memory.regions;
    this.memory = {
      top: h.memory.top,
      regions,
      find: (addr) => regions.find((r) => addr >= r.base && addr < r.base + r.size),
      read: (addr, len) => engine.mem.read(addr, len),
      describe: () => regions,
    };
  }

  get state(): SessionState {
    if (this.hub.busy) return 'running';
    const s = this.hub.lastStop;
    return s && (s.reason === 'exit' || s.final) ? 'exited' : 'stopped';
  }
  get lastStop() { return this.hub.lastStop; }
  symbol(name: string) { return this.symbols.find((s) => s.name === name); }
  symbolize(addr: bigint) { return symbolizeIn(this.symbols, this.arch, addr); }

  // ---------------------------------------------------------------- answered here
  async capabilities() { return ok(this.caps); }
  cont(p: ParamsOf<'cont'> = {}) { return this.run(false, p); }
  step(p: ParamsOf<'step'> = {}) { return this.run(true, p); }
  async pause(_p: ParamsOf<'pause'> = {}) {
    if (this.hub.busy || this.starting) Atomics.store(this.hub.engine().cpu.ctl32, 0, 1);
    return ok(this.state);
  }

  async readRegisters(p: ParamsOf<'readRegisters'> = {}): Promise<Result<Record<string, Hex>>> {
    const v = checkVcpu(p.vcpu, this.caps.vcpus);
    if (!v.ok) return v;
    const names = p.names ?? this.registers.map((r) => r.name);
    const unknown = unknownRegister(this.arch, names);
    if (unknown) return unknown;
    return ok(byName(names, this.hub.engine().cpu.readRegsHex(names)));
  }

  // Points are kept on this thread (owners.ts): a Z or z packet costs no trip between threads.
  async addBreakpoint(p: ParamsOf<'addBreakpoint'>): Promise<Result<true>> {
    const a = parseHex(p.addr, 'address');
    return a.ok ? this.hub.points.addBreak(this.name, a.value, p.thumb) : a;
  }
  async removeBreakpoint(p: ParamsOf<'removeBreakpoint'>): Promise<Result<boolean>> {
    const a = parseHex(p.addr, 'address');
    return a.ok ? ok(this.hub.points.removeBreak(this.name, a.value)) : a;
  }
  async addWatchpoint(p: ParamsOf<'addWatchpoint'>): Promise<Result<true>> {
    const a = watchArgs(this.caps, p.addr, p.len);
    return a.ok ? this.hub.points.addWatch(this.name, a.value, p.len, p.kind) : a;
  }
  async removeWatchpoint(p: ParamsOf<'removeWatchpoint'>): Promise<Result<boolean>> {
    const a = parseHex(p.addr, 'address');
    return a.ok ? ok(this.hub.points.removeWatch(this.name, a.value, p.len, p.kind)) : a;
  }
  async clearPoints(_p: ParamsOf<'clearPoints'> = {}): Promise<Result<true>> {
    this.hub.points.clear(this.name);
    return ok(true);
  }

  targetRegisters(names: readonly string[]) { return this.hub.engine().cpu.readRegsTarget(names); }
  stopFrame(head: string, names: readonly string[], regnums: readonly number[]) { return this.hub.engine().cpu.stopFrame(head, names, regnums); }

  async readMemory(p: ParamsOf<'readMemory'>): Promise<Result<Uint8Array>> {
    const v = checkVcpu(p.vcpu, this.caps.vcpus);
    if (!v.ok) return v;
    const a = parseHex(p.addr, 'address');
    if (!a.ok) return a;
    const badLength = badReadLength(p.len);
    if (badLength) return badLength;
    const addr = a.value;
    const engine = this.hub.engine();
    const direct = engine.mem.read(addr, p.len);
    if (direct.ok) return direct;
    if (this.hub.busy) return fail('unmapped', direct.error);
    const r = engine.cpu.readMem(addr, p.len);
    return r.ok ? r : fail('unmapped', r.error);
  }

  private async run(step: boolean, p: ParamsOf<'cont'>): Promise<Result<StopEvent>> {
    const v = checkVcpu(p.vcpu, this.caps.vcpus);
    if (!v.ok) return v;
    if (this.hub.busy) return fail('busy', RUNNING);
    if (this.state === 'exited') return fail('exited', ended(this.hub.lastStop));
    // (a run not told yet stays so: the next one's 'ran' stands for both)
    // The run blocks this thread: first let the packet handler finish what it read with the
    // resume (a Ctrl-C in the same segment), and the main thread answer what was asked before it.
    this.starting = true;
    try {
      await null;
      while (this.inFlight.size) await Promise.all(this.inFlight);
    } finally { this.starting = false; }
    if (this.hub.busy) return fail('busy', RUNNING);
    const regs = p.registers ?? this.stopRegisters;
    const lib = unicorn();
    const run = this.hub.flow().ownRun();
    const watch = watchers.get(this.h.host);
    if (watch) lib.td_watch_arm(watch);
    let r: Awaited<ReturnType<Hub['run']>>;
    try {
      r = await this.hub.run(step, regs);
    } catch (e) {
      if (watchers.has(this.h.host)) lib.td_watch_disarm(watch);
      tellRuns(); // the one before, with its stop
      this.hub.post({ event: 'ran', run });
      return failureOf(e);
    }
    const seen = watchers.has(this.h.host) ? lib.td_watch_disarm(watch) as number : 0;
    const { ev, values } = r;
    if (values && regs) ev.registers = byName(regs, values);
    unheard = { hub: this.hub, run, ev };
    if (!this.hot) setImmediate(tellRuns);
    if (seen === 1) this.onInterrupt?.();
    return ok(ev);
  }

  /** A run of the Session's (this thread then reads nothing of this client: it has left). */
  runOn() { void this.request('cont', {}); }

  busyPolling(on: boolean) {
    this.hot = on;
    if (!on) tellRuns();
  }

  /** Output is bounded by the connection itself here: this thread cannot wait for gdb's socket while it runs the guest. */
  hold(_p: Promise<unknown>) { /* see GdbConnection.onOutput */ }

  // ---------------------------------------------------------------- asked of the main thread
  /** Calls an operation on this client's Client on the main thread. */
  request<N extends OpName>(op: N, params: ParamsOf<N>): Promise<Result<ResultOf<N>>> {
    tellRuns();
    const call = nextCall++;
    const p = new Promise<Result<ResultOf<N>>>((resolve) => {
      calls.set(call, resolve as (r: Result<unknown>) => void);
      this.hub.post({ event: 'gdbCall', host: this.h.host, call, op, params });
    });
    this.inFlight.add(p);
    void p.then(() => this.inFlight.delete(p));
    return p;
  }

  // ---------------------------------------------------------------- events
  on<E extends keyof SessionEvents>(event: E, fn: (...args: SessionEvents[E]) => void): this {
    const set = event === 'stop' ? this.hub.stops : event === 'output' ? this.hub.outputs : undefined;
    const f = fn as unknown as (...a: never[]) => void;
    set?.add(f as never);
    this.listeners.push([event, fn as never, f]);
    return this;
  }
  off<E extends keyof SessionEvents>(event: E, fn: (...args: SessionEvents[E]) => void): this {
    const i = this.listeners.findIndex(([e, g]) => e === event && g === (fn as never));
    if (i < 0) return this;
    const [, , f] = this.listeners[i];
    this.listeners.splice(i, 1);
    this.hub.stops.delete(f as never);
    this.hub.outputs.delete(f as never);
    return this;
  }
  nextStop(): Promise<StopEvent> { return nextStopOf(this); }

  async close(): Promise<void> {
    for (const [, , f] of this.listeners) { this.hub.stops.delete(f as never); this.hub.outputs.delete(f as never); }
    this.listeners.length = 0;
    this.hub.points.clear(this.name);
  }
}

// Every other operation of the contract is the main thread's (its Client, by name).
interface HostedClient extends Omit<SessionCalls, 'capabilities' | 'cont' | 'step' | 'pause' | 'readRegisters' | 'readMemory'
  | 'addBreakpoint' | 'removeBreakpoint' | 'addWatchpoint' | 'removeWatchpoint' | 'clearPoints'> {} // eslint-disable-line @typescript-eslint/no-empty-object-type
for (const name of Object.keys(OPS) as OpName[]) {
  if (name in HostedClient.prototype) continue;
  Object.defineProperty(HostedClient.prototype, name, {
    value(this: HostedClient, params: unknown = {}) { return this.request(name, params as never); },
  });
}

/** Serves the gdb client whose socket the main thread handed over (Session.hostGdb). */
export function host(hub: Hub, h: HostedGdb) {
  const socket = new net.Socket({ fd: h.fd, readable: true, writable: true });
  if (h.initial?.length) socket.unshift(Buffer.from(h.initial));
  const lib = unicorn();
  const watch = lib.td_watch_new(h.fd, hub.engine().cpu.ctl);
  if (!watch) { socket.destroy(); throw new Error('no thread could be started to watch the gdb socket'); }
  watchers.set(h.host, watch);
  const client = new HostedClient(hub, h);
  const log = (line: string) => { tellRuns(); hub.post({ event: 'gdb', host: h.host, what: 'log', line }); };
  const gone = () => { tellRuns(); hub.post({ event: 'gdb', host: h.host, what: 'gone' }); };
  // A client that detaches has gone, its points cleared, before the guest runs on: the guest may run for
  // long, and this thread with it, before the socket's close is read here.
  const left = () => { tellRuns(); hub.post({ event: 'gdb', host: h.host, what: 'closed' }); };
  const rams = hub.engine().cpu.mem.regions.filter((r) => r.kind === 'ram');
  rams.forEach((r, i) => lib.td_watch_ram(watch, i, new Uint8Array(r.buf), r.base, r.size));
  const scratch = Buffer.allocUnsafe(64 * 1024);
  const take = (fast: boolean): Buffer | true | undefined => {
    // Not once the socket is destroyed: its descriptor may be closed already, and its
    // number given to the next client's socket, whose bytes this read would steal.
    if (!watchers.has(h.host) || socket.destroyed) return undefined;
    const n = Number(lib.td_take(watch, scratch, scratch.length, TAKE_US, fast ? 1 : 0));
    if (n === -2) return true;
    return n > 0 ? scratch.subarray(0, n) : undefined; // the parser copies what it keeps
  };
  const conn = new GdbConnection(client as unknown as GdbSession, socket, { ...h.opts, log, onLeave: left, take });
  client.onInterrupt = () => conn.interrupt();
  conns.set(h.host, conn);
  socket.once('close', gone);
  void conn.closed.then(() => {
    conns.delete(h.host);
    dropWatcher(h.host);
    tellRuns();
    hub.post({ event: 'gdb', host: h.host, what: 'closed' });
  });
}

export function reply(a: { call: number; ok: boolean; value?: unknown; code?: string; error?: string }) {
  const c = calls.get(a.call);
  if (!c) return;
  calls.delete(a.call);
  c(a.ok ? ok(a.value) : fail((a.code ?? 'internal') as never, a.error ?? 'failed'));
}

/** A gdb client is served on this thread now. */
export function serving() { return conns.size > 0; }

export function close(hostId: number) { void conns.get(hostId)?.close(); }
/** The session closes: every client goes, and every watcher thread now (the library may be unloaded next). */
export function closeAll() {
  for (const c of conns.values()) void c.close();
  for (const id of [...watchers.keys()]) dropWatcher(id);
}
