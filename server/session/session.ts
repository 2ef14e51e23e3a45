// Session: one guest, driven by any number of clients (the CLI, each gdb
// connection, a debug adapter, the JSON-RPC service's connections). It lives on
// the main thread; the guest runs in a worker. Every operation is declared once
// in contract.ts; a front-end calls them through its own Client (client.ts), which
// names it as the owner of its breakpoints and the decider of its decisions.
// Errors are values (result.ts); each front-end maps their codes at its edge.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Worker } from 'node:worker_threads';
import { CTL } from '../machine/ctl.js';
import { hex, type MemoryMap } from '../machine/memory.js';
import { findRegister, registerTable, type CpuArch, type RegDef } from '../machine/registers.js';
import type { ElfSymbol } from '../machine/elf.js';
import type { FirmwareConfig } from '../firmware/types.js';
import { describeRule, type PolicySpec } from '../policy/rules.js';
import { formatAction, parseIntegerText } from '../policy/values.js';
import { fail, ok, type Result } from '../result.js';
import { loadImage, writeRam, type ImageSpec } from './loader.js';
import { symbolizeIn } from './symbols.js';
import { RUNNING, badReadLength, checkVcpu, ended, parseHex, unknownRegister, watchArgs } from './checks.js';
import type { EngineConfig, ForwardFallback } from './engine-config.js';
import type {
  AddRuleParams, Capabilities, DecisionParams, Hex, PolicyInfo, SessionState, StatusInfo, StopEvent, WatchKind,
  WorkerMessage, WorkerOpName, WorkerParams, WorkerRequest, WorkerResult,
} from './contract.js';
import type { TrapRecord } from './trap-record.js';
import { FlowMain, newSharedBlock } from './flow.js';
import { MAILBOX_OPS, MailboxMain, newMailbox } from './mailbox.js';
import { Client, byName } from './client.js';
import type { HostedGdb } from './contract.js';
import { takeWorker } from './prewarm.js';

export type { StopEvent, SessionState, Capabilities } from './contract.js';
export type { Result } from '../result.js';
export { Client, type SessionClient, type RegisterInfo } from './client.js';
export { prewarm } from './prewarm.js';
export { symbolizeIn } from './symbols.js';

export interface SessionOptions {
  image: ImageSpec;
  /** RAM regions (default 0x40000000:128M). */
  ram?: { base: bigint; size: bigint }[];
  /** PL011 base for guest output; null for none (default 0x09000000). */
  uart?: bigint | null;
  platform?: string;
  policy?: PolicySpec;
  firmware?: Partial<FirmwareConfig>;
  forward?: { endpoint: string; timeoutMs?: number; fallback?: ForwardFallback };
  trapLog?: string;
  /** Someone can answer `ask` (a terminal, gdb, VS Code). Default true. */
  interactive?: boolean;
  /** Native block hook: exact pauses, instruction counts, watchpoints (default true). */
  countBlocks?: boolean;
  /** Stop when this many instructions have run. */
  maxInsns?: number;
  /**
   * Deliver every trap record as a 'trap' event (default true). Off, records are
   * made only when asked for (traps), which is what lets a headless run take over
   * a million traps a second.
   */
  subscribe?: boolean;
  /** Single steps without Unicorn's counted run (default true; see stepper.ts). */
  softStep?: boolean;
  /**
   * Calls made while the guest is stopped go through the shared-memory mailbox
   * (default) or, as every other call, by postMessage (mailbox.ts; the bench compares them).
   */
  channel?: 'mailbox' | 'postMessage';
}

export interface SessionEvents {
  /** Records as they arrive, one batch at a time (one write for a whole batch). */
  traps: [TrapRecord[]];
  trap: [TrapRecord];
  output: [string];
  log: [string];
  /** A run or step started (whoever asked for it): the guest is running until the next stop. */
  running: [];
  stop: [StopEvent];
}

/** A gdb client served on the emulation thread (Session.hostGdb). */
export interface HostedGdbHandle {
  /** Its Client's name: the owner of its points, the decider of its decisions. */
  readonly name: string;
  readonly peer: string;
  /** Resolves once its socket has closed. */
  readonly gone: Promise<void>;
  /** Its socket is open: asked of the socket itself (the emulation thread may not have read its close yet). */
  open(): boolean;
  /** Resolves once what it left behind is cleaned up. */
  readonly closed: Promise<void>;
  /** Drops the client (server shutdown). */
  close(): Promise<void>;
}

export interface HostGdbOptions {
  packetSize: number;
  log: (line: string) => void;
  trace?: boolean;
  guestOutput?: boolean;
  hotMs?: number;
}

/** A socket's descriptor (Node keeps it on its libuv handle), if it has one. */
function fdOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

interface HostEnd { client: Client; log: (line: string) => void; gone: () => void; closed: () => void; peer: string; fd: number; left: boolean }

export const DEFAULT_RAM = { base: 0x4000_0000n, size: 128n << 20n };
export const DEFAULT_UART = 0x0900_0000n;

/** What a mode can do, and why not (read by every front-end before it advertises anything). */
export function capabilitiesOf(opts: Pick<SessionOptions, 'countBlocks' | 'softStep'>): Capabilities {
  const counting = opts.countBlocks !== false;
  const noCount = '--no-count runs without the native block hook (drop --no-count for it)';
  const why: Capabilities['why'] = { mmuWalk: 'addresses are physical: there is no stage-1 MMU walk yet' };
  if (!counting) Object.assign(why, { resumablePause: noCount, watchpoints: noCount, instructionCounts: noCount, softStep: noCount });
  else if (opts.softStep === false) why.softStep = 'soft single step is turned off (softStep: false)';
  return {
    resumablePause: counting, watchpoints: counting, instructionCounts: counting,
    softStep: counting && opts.softStep !== false, breakpoints: true, vcpus: 1, mmuWalk: false, why,
  };
}

const utf8 = new TextDecoder();

/**
 * A batch from the worker (records.ts): decodes and argument lists sent once,
 * records naming them by index (records that share them share the objects:
 * records are read-only).
 */
function parseBatch(json: string): TrapRecord[] {
  type Wire = Omit<TrapRecord, 'decoded' | 'args'> & { decoded: TrapRecord['decoded'] | number; args: string[] | number };
  const b = JSON.parse(json) as { d: (TrapRecord['decoded'] | string[])[]; r: Wire[] };
  for (const r of b.r) {
    if (typeof r.decoded === 'number') r.decoded = b.d[r.decoded] as TrapRecord['decoded'];
    if (typeof r.args === 'number') r.args = b.d[r.args] as string[];
  }
  return b.r as TrapRecord[];
}

export class Session extends EventEmitter<SessionEvents> {
  private _state: SessionState = 'stopped';
  private _lastStop: StopEvent | undefined;
  private nextId = 1;
  private readonly calls = new Map<number, (r: Result<unknown>) => void>();
  private readonly ctl32: Int32Array;
  private readonly ctl: BigUint64Array;
  private readonly flow: FlowMain;
  private readonly mailboxBuffer = newMailbox();
  private readonly mailbox = new MailboxMain(this.mailboxBuffer);
  private closed = false;
  /** The worker's own runs (for a gdb client it serves) this thread has heard of (FlowMain.workerRuns). */
  private adoptedRuns = 0;
  /** gdb clients served on the emulation thread (hostGdb), by number. */
  private readonly hosts = new Map<number, HostEnd>();
  private nextHost = 1;
  /**
   * Registers as they are at this stop (read at the stop or since): reads of them
   * need no trip to the worker. Anything that runs the guest or writes registers
   * (a run, writeRegister, a decision) drops it.
   */
  private regCache: Record<string, Hex> | undefined;
  /** Set by listeners of a batch (hold()): the front-end is not ready for more. */
  private holds: Promise<unknown>[] | undefined;
  readonly capabilities: Capabilities;
  /** Without the block hook a pause is uc_emu_stop from this thread (loaded only for such sessions). */
  private hardStop: ((slot: number) => unknown) | undefined;
  /** The native library, loaded on this thread while the worker starts (hostGdb duplicates a socket with it). */
  private native: typeof import('../machine/unicorn.js') | undefined;

  private constructor(
    private readonly worker: Worker,
    ctl: SharedArrayBuffer,
    shared: SharedArrayBuffer,
    readonly arch: CpuArch,
    readonly entry: bigint,
    readonly symbols: ElfSymbol[],
    readonly memory: MemoryMap,
    readonly options: SessionOptions,
  ) {
    super();
    this.ctl32 = new Int32Array(ctl);
    this.ctl = new BigUint64Array(ctl);
    this.flow = new FlowMain(shared);
    this.capabilities = capabilitiesOf(options);
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    worker.on('error', (e) => this.failAll(e.message));
    worker.on('exit', () => this.failAll('the emulation worker stopped'));
  }

  /** Loads the image, starts the worker and the vCPU at the entry point. */
  static async open(opts: SessionOptions): Promise<Result<Session>> {
    const ram = opts.ram ?? [DEFAULT_RAM];
    const img = loadImage(opts.image, ram);
    if (!img.ok) return fail('invalid', img.error);
    const { arch, entry, symbols, mem } = img.value;
    const ctl = new SharedArrayBuffer(CTL.SLOTS * 8);
    const shared = newSharedBlock();
    const worker = takeWorker();
    const s = new Session(worker, ctl, shared, arch, entry, symbols, mem, opts);
    if (!s.capabilities.resumablePause) {
      const { unicorn } = await import('../machine/unicorn.js');
      s.hardStop = (slot) => unicorn().td_hard_stop(slot);
    }
    const cfg: EngineConfig = {
      arch, ctl, shared, entry, vcpu: 0,
      ram: mem.regions.flatMap((r) => (r.kind === 'ram' ? [{ name: r.name, base: r.base, size: r.size, buf: r.buf }] : [])),
      uart: opts.uart === undefined ? DEFAULT_UART : opts.uart,
      platform: opts.platform,
      policy: opts.policy ?? { default: { action: 'emulate' }, rules: [] },
      firmware: opts.firmware ?? {},
      forward: opts.forward ? { endpoint: opts.forward.endpoint, timeoutMs: opts.forward.timeoutMs ?? 2000, fallback: opts.forward.fallback ?? 'error' } : undefined,
      trapLog: opts.trapLog,
      interactive: opts.interactive ?? true,
      countBlocks: opts.countBlocks ?? true,
      subscribed: opts.subscribe ?? true,
      softStep: opts.softStep,
    };
    const initCall = s.call('init', { ...cfg, mailbox: (opts.channel ?? process.env.TRAPDOOR_CHANNEL) === 'postMessage' ? undefined : s.mailboxBuffer });
    // while the worker starts (a thread takes ~60 ms here), this thread loads the native libraries for it
    s.native = await import('../machine/unicorn.js');
    s.native.preload();
    const init = await initCall;
    if (!init.ok) { await s.close(); return init; }
    if (opts.maxInsns) s.ctl[CTL.DEADLINE] = BigInt(opts.maxInsns);
    return ok(s);
  }

  /** A front-end's handle on this session: its breakpoints, its decisions. */
  connect(name: string): Client { return new Client(this, name); }

  /**
   * Serves a gdb client on the emulation thread (gdbstub/hosted.ts): its steps,
   * continues, register and memory reads are answered where the guest runs, with
   * no hop through this thread (a wake-up fewer each), and so are its breakpoints
   * and watchpoints (their owners are kept there: owners.ts); what needs the
   * Session (decisions, policy, console commands) is called here.
   * The socket must not have been read from, except what `initial` holds; this
   * thread's descriptor of it is closed.
   */
  hostGdb(socket: Socket, o: HostGdbOptions): Result<HostedGdbHandle> {
    const fd = fdOf(socket);
    const lib = this.native?.unicorn();
    const dup = fd !== undefined && lib ? lib.td_dup(fd) as number : -1;
    const kept = dup >= 0 ? lib!.td_dup(fd!) as number : -1; // this thread's, to look at (HostedGdbHandle.open)
    if (dup < 0 || kept < 0) {
      if (dup >= 0) lib!.td_close(dup);
      return fail('internal', 'the gdb socket could not be handed to the emulation thread');
    }
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const initial = socket.read() as Buffer | null; // read before it was served (a refused client's wait)
    const client = this.connect(`gdb ${peer}`);
    const host = this.nextHost++;
    let gone!: () => void;
    let closed!: () => void;
    const goneP = new Promise<void>((r) => { gone = r; });
    const closedP = new Promise<void>((r) => { closed = r; });
    const end: HostEnd = { client, log: o.log, gone: () => { end.left = true; gone(); }, closed, peer, fd: kept, left: false };
    this.hosts.set(host, end);
    const m = this.memory;
    const req: HostedGdb = {
      host, fd: dup, name: client.name, initial: initial ? new Uint8Array(initial) : undefined,
      opts: { packetSize: o.packetSize, trace: o.trace, guestOutput: o.guestOutput, hotMs: o.hotMs },
      caps: this.capabilities, shared: this.shared, symbols: this.symbols, memory: { top: m.top, regions: m.describe() },
    };
    void this.call('gdbHost', req).then((r) => {
      if (r.ok) return;
      o.log(`gdb ${peer}: cannot serve it: ${r.error}`);
      this.endHost(host);
    });
    socket.destroy();
    return ok({
      name: client.name, peer, gone: goneP, closed: closedP,
      open: () => !end.left && !lib!.td_sock_closed(kept), // (endHost marks it left before it closes kept)
      close: async () => {
        if (!this.hosts.has(host)) return closedP;
        // from here: the emulation thread may be running the guest for this client, and read no message
        lib!.td_shutdown(kept);
        await this.call('gdbClose', { host });
        await closedP;
      },
    });
  }

  /** The peer has closed this socket (looked at without reading it: it may not have been read from yet). */
  socketClosed(socket: Socket): boolean {
    const fd = fdOf(socket);
    if (socket.destroyed || fd === undefined) return true;
    return !!this.native?.unicorn().td_sock_closed(fd);
  }

  private endHost(host: number) {
    const end = this.hosts.get(host);
    if (!end) return;
    this.hosts.delete(host);
    end.gone();
    const lib = this.native?.unicorn();
    lib?.td_shutdown(end.fd); // a run the worker makes for it is paused (its watcher sees the end)
    lib?.td_close(end.fd);
    void end.client.close().finally(end.closed);
  }

  private onHosted(m: Extract<WorkerMessage, { event: 'gdb' | 'gdbCall' }>) {
    const end = this.hosts.get(m.host);
    if (!end) return;
    if (m.event === 'gdbCall') {
      void end.client.request(m.op, m.params as never).then((r) =>
        this.call('gdbReply', r.ok ? { call: m.call, ok: true, value: r.value } : { call: m.call, ok: false, code: r.code, error: r.error }));
      return;
    }
    if (m.what === 'log') end.log(m.line);
    else if (m.what === 'gone') end.gone();
    else this.endHost(m.host);
  }

  /**
   * Several people share this session (the JSON-RPC service serves it): what the
   * console shows of a person's decision names who made it (`return (alice)`).
   */
  shared = false;

  // ------------------------------------------------------------------ plumbing
  private call<N extends WorkerOpName>(op: N, args: WorkerParams<N>): Promise<Result<WorkerResult<N>>> {
    if (this.closed) return Promise.resolve(fail('closed', 'the session is closed'));
    const id = this.nextId++;
    // The mailbox only when no call is in flight: the worker answers in order.
    const fast = this.calls.size === 0 && MAILBOX_OPS.has(op);
    return new Promise((resolve) => {
      this.calls.set(id, resolve as (r: Result<unknown>) => void);
      const req: WorkerRequest = { id, op, args };
      const a = fast ? this.mailbox.call(req, op === 'run' && !(args as WorkerParams<'run'>).step) : undefined;
      if (a === undefined) {
        this.worker.postMessage(req);
        this.mailbox.kick();
      } else if (a instanceof Promise) void a.then((m) => m && this.onMessage(m));
      else if (a) this.onMessage(a);
      // null: the answer comes by postMessage, after the events the call made
    });
  }

  private onMessage(m: WorkerMessage) {
    if ('event' in m) {
      if (m.event === 'log') { this.emit('log', m.line); return; }
      if (m.event === 'ran') { this.adoptRun(m.run, m.ev); return; }
      if (m.event === 'gdb' || m.event === 'gdbCall') { this.onHosted(m); return; }
      let n: number;
      if (m.event === 'records') {
        const batch = parseBatch(utf8.decode(m.bytes));
        this.emit('traps', batch);
        if (this.listenerCount('trap')) for (const r of batch) this.emit('trap', r);
        n = m.count;
      } else {
        this.emit('output', m.text);
        n = m.text.length;
      }
      const kind = m.event === 'records' ? 'records' : 'output';
      // listeners whose reader is behind called hold() while we emitted
      const holds = this.holds;
      this.holds = undefined;
      if (holds) void Promise.all(holds).finally(() => this.flow.ack(kind, n));
      else this.flow.ack(kind, n);
      return;
    }
    const c = this.calls.get(m.id);
    if (!c) return;
    this.calls.delete(m.id);
    c(m.ok ? ok(m.value) : fail(m.code, m.error));
  }

  /**
   * Called by a 'trap' or 'output' listener whose reader is behind (e.g. stdout's
   * buffer is full): the guest is held back once it is a window ahead, until p settles.
   */
  hold(p: Promise<unknown>) { (this.holds ??= []).push(p); }

  private failAll(error: string) {
    this.closed = true;
    this.flow.releaseAll();
    for (const c of this.calls.values()) c(fail('closed', error));
    this.calls.clear();
  }

  // ------------------------------------------------------------------ state
  /** Running also while the worker runs the guest for a gdb client it serves. */
  get state(): SessionState {
    return this._state === 'stopped' && this.flow.workerRunning() ? 'running' : this._state;
  }

  /**
   * This thread has heard of every run the worker made on its own: its last stop
   * and the registers it keeps are the guest's. (The worker tells a burst of gdb's
   * steps once gdb pauses, and always before it answers this thread.)
   */
  private heard(): boolean { return this.flow.workerRuns() === this.adoptedRuns; }
  get lastStop(): StopEvent | undefined { return this._lastStop; }
  get registers(): RegDef[] { return registerTable(this.arch); }
  get insns(): number { return Number(this.ctl[CTL.INSNS]); }
  /** SMC/HVC exceptions taken so far (every trap, recorded or not). */
  get trapCount(): number { return Number(this.ctl[CTL.NTRAPS]); }

  status(): StatusInfo {
    return { state: this.state, arch: this.arch, insns: this.insns, traps: this.trapCount, lastStop: this._lastStop };
  }

  private checkVcpu(vcpu: number | undefined): Result<0> { return checkVcpu(vcpu, this.capabilities.vcpus); }

  // ------------------------------------------------------------------ run control
  async run(step: boolean, vcpu: number | undefined, registers: string[] | undefined): Promise<Result<StopEvent>> {
    const v = this.checkVcpu(vcpu);
    if (!v.ok) return v;
    if (this.state === 'running') return fail('busy', RUNNING);
    if (this._state === 'exited') return fail('exited', ended(this._lastStop));
    this._state = 'running';
    this.regCache = undefined;
    this.emit('running');
    const r = await this.call('run', { step, regs: registers });
    if (!r.ok) { this._state = 'stopped'; return r; }
    const { ev, values } = r.value;
    if (values && registers) {
      ev.registers = byName(registers, values);
      this.regCache = { ...ev.registers };
    }
    this._lastStop = ev;
    this._state = ev.reason === 'exit' || ev.final ? 'exited' : 'stopped';
    this.emit('stop', ev);
    return ok(ev);
  }

  /** A run the worker made on its own for a gdb client it serves: the others hear of it as of any run. */
  private adoptRun(run: number, ev: StopEvent | undefined) {
    this.adoptedRuns = run;
    if (!ev) return; // it could not start
    this.regCache = ev.registers ? { ...ev.registers } : undefined;
    this._lastStop = ev;
    if (this._state !== 'running') this._state = ev.reason === 'exit' || ev.final ? 'exited' : 'stopped';
    this.emit('running');
    this.emit('stop', ev);
  }

  /** Asks a running guest to stop at the next block boundary (resumable, unless --no-count). */
  pause(): SessionState {
    const state = this.state;
    if (state !== 'running') return state;
    if (!this.capabilities.resumablePause) this.hardStop?.(Number(this.ctl[CTL.SLOT]));
    else Atomics.store(this.ctl32, 0, 1);
    return state;
  }

  // ------------------------------------------------------------------ traps
  async pendingTrap(): Promise<Result<TrapRecord | null>> {
    // A trap waits only where a run stopped at it (any run decides it first): after
    // any other stop there is none, and no trip to the worker is needed to say so.
    if (this.state === 'stopped' && this.heard() && this._lastStop && this._lastStop.reason !== 'trap') return ok(null);
    const r = await this.call('pending', {});
    return r.ok ? ok(r.value ?? null) : r;
  }

  async decide(d: DecisionParams, client: string, seq?: number): Promise<Result<TrapRecord>> {
    if (this.state === 'running') return fail('busy', 'no trap is waiting: the guest is running');
    if (this._state === 'exited') return fail('exited', 'no trap is waiting: the guest has ended');
    const values: Record<string, bigint> = {};
    for (const [k, v] of Object.entries(d.values ?? {})) {
      const n = parseIntegerText(String(v));
      if (n === undefined) return fail('invalid', `value of ${k} '${v}' is not an integer: write e.g. 0x5, 2 or -1`);
      values[k] = n;
    }
    this.regCache = undefined; // a decision writes registers (return values, an injected exception)
    return this.call('decide', { decision: { action: d.action, values: d.action === 'return' ? values : undefined }, client, seq });
  }

  traps(n?: number, from?: number): Promise<Result<TrapRecord[]>> { return this.call('traps', { n, from }); }

  // ------------------------------------------------------------------ policy, rule by rule
  async policy(): Promise<Result<PolicyInfo>> {
    const r = await this.call('policy', {});
    if (!r.ok) return r;
    const { spec, version } = r.value;
    return ok({ version, rules: spec.rules.map((x) => ({ id: x.id, text: describeRule(x), action: x.action })), default: formatAction(spec.default) });
  }
  addRule(p: AddRuleParams) { return this.call('addRule', p); }
  removeRule(id: string, version?: number) { return this.call('removeRule', { id, version }); }
  setDefault(action: string, version?: number) { return this.call('setDefault', { action, version }); }

  // ------------------------------------------------------------------ registers
  async readRegisters(names: string[] = this.registers.map((r) => r.name), vcpu?: number): Promise<Result<Record<string, Hex>>> {
    const v = this.checkVcpu(vcpu);
    if (!v.ok) return v;
    const unknown = unknownRegister(this.arch, names);
    if (unknown) return unknown;
    const cache = this.state === 'stopped' && this.heard() ? this.regCache : undefined;
    if (cache && names.every((n) => n in cache)) {
      const out: Record<string, Hex> = {};
      for (const n of names) out[n] = cache[n];
      return ok(out);
    }
    const r = await this.call('regs', { names });
    if (!r.ok) return r;
    const out = byName(names, r.value);
    if (this.state === 'stopped' && this.heard()) this.regCache = { ...this.regCache, ...out };
    return ok(out);
  }

  async writeRegister(name: string, value: Hex | bigint, vcpu?: number): Promise<Result<true>> {
    const v = this.checkVcpu(vcpu);
    if (!v.ok) return v;
    if (this.state === 'running') return fail('busy', 'pause the guest before writing registers');
    const def = findRegister(this.arch, name);
    if (!def) return unknownRegister(this.arch, [name])!;
    const n = parseHex(value, name, def.bits);
    if (!n.ok) return n;
    this.regCache = undefined;
    return this.call('writeReg', { name, value: n.value });
  }

  // ------------------------------------------------------------------ memory
  /** Reads guest memory: RAM directly from shared memory, anything else via the vCPU. */
  async readMemory(addr: Hex | bigint, len: number, vcpu?: number): Promise<Result<Uint8Array>> {
    const v = this.checkVcpu(vcpu);
    if (!v.ok) return v;
    const a = parseHex(addr, 'address');
    if (!a.ok) return a;
    const badLength = badReadLength(len);
    if (badLength) return badLength;
    const direct = this.memory.read(a.value, len);
    if (direct.ok) return direct;
    if (this.state === 'running') return fail('unmapped', direct.error);
    return this.call('readMem', { addr: a.value, len });
  }

  async writeMemory(addr: Hex | bigint, data: Uint8Array, vcpu?: number): Promise<Result<true>> {
    const v = this.checkVcpu(vcpu);
    if (!v.ok) return v;
    if (this.state === 'running') return fail('busy', 'pause the guest before writing memory');
    const a = parseHex(addr, 'address');
    if (!a.ok) return a;
    return this.call('writeMem', { addr: a.value, data });
  }

  /** Host-side write before the guest starts (e.g. patching a parameter block). */
  poke(addr: bigint, data: Uint8Array): Result<true> {
    const r = writeRam(this.memory, addr, data);
    return r.ok ? r : fail('unmapped', r.error);
  }

  // ------------------------------------------------------------------ breakpoints, owned
  // The owners are kept on the emulation thread (owners.ts), where every change is made in order.
  /** `thumb`: the address holds Thumb code (AArch32); see Cpu.addBreakpoint. */
  async addBreakpoint(owner: string, addr: Hex | bigint, thumb = false): Promise<Result<true>> {
    const a = parseHex(addr, 'address');
    if (!a.ok) return a;
    const r = await this.call('breakpoint', { op: 'add', owner, addr: a.value, thumb });
    return r.ok ? ok(true) : r;
  }

  async removeBreakpoint(owner: string, addr: Hex | bigint): Promise<Result<boolean>> {
    const a = parseHex(addr, 'address');
    if (!a.ok) return a;
    return this.call('breakpoint', { op: 'remove', owner, addr: a.value });
  }

  async addWatchpoint(owner: string, addr: Hex | bigint, len: number, kind: WatchKind): Promise<Result<true>> {
    const a = watchArgs(this.capabilities, addr, len);
    if (!a.ok) return a;
    const r = await this.call('watchpoint', { op: 'add', owner, addr: a.value, len, kind });
    return r.ok ? ok(true) : r;
  }

  async removeWatchpoint(owner: string, addr: Hex | bigint, len: number, kind: WatchKind): Promise<Result<boolean>> {
    const a = parseHex(addr, 'address');
    if (!a.ok) return a;
    return this.call('watchpoint', { op: 'remove', owner, addr: a.value, len, kind });
  }

  /** Removes every point this owner set (a client that detached or went away). */
  async clearPoints(owner: string): Promise<Result<true>> {
    return this.call('clearPoints', { owner });
  }

  // ------------------------------------------------------------------ symbols
  symbol(name: string): ElfSymbol | undefined { return this.symbols.find((s) => s.name === name); }
  /** Nearest symbol at or below addr, as `name+0x10`. */
  symbolize(addr: bigint): string | undefined { return symbolizeIn(this.symbols, this.arch, addr); }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const host of [...this.hosts.keys()]) this.endHost(host);
    if (this.state === 'running') this.pause();
    this.flow.releaseAll();
    await this.call('close', {});
    this.closed = true;
    await this.worker.terminate();
  }
}
