// A front-end's handle on a Session: each gdb connection, debug adapter, triage
// client and the CLI has its own. It implements every operation of the contract
// (contract.ts) under the same names and with the same types, and names its
// owner: breakpoints and watchpoints belong to it (another client clearing its
// own never removes these), and the trap records it decides say so.
import type { AddressSpace, MemoryMap } from '../machine/memory.js';
import type { RegDef } from '../machine/registers.js';
import type { ElfSymbol } from '../machine/elf.js';
import { ok, type Result } from '../result.js';
import type { Capabilities, Hex, OpName, ParamsOf, ResultOf, SessionApi, SessionState, StopEvent } from './contract.js';
import { runConsole } from './console.js';
import type { Session, SessionEvents } from './session.js';

/**
 * What a front-end holds of a session, wherever the session runs: a Client (in
 * this process) or a RemoteClient (server/rpc/remote-client.ts: a session served
 * by `trapdoor serve`, over JSON-RPC). The static facts are read without a call;
 * every contract operation is a call; events say what any client made happen.
 */
export interface SessionClient extends SessionCalls {
  /** Who this client is: it owns its breakpoints, the records it decides name it. */
  readonly name: string;
  readonly arch: 'aarch64' | 'arm';
  readonly state: SessionState;
  readonly lastStop: StopEvent | undefined;
  readonly registers: readonly RegisterInfo[];
  readonly memory: AddressSpace;
  readonly symbols: readonly ElfSymbol[];
  readonly caps: Capabilities;
  /** Several people share the session (what the console shows of a decision names who made it). */
  readonly shared?: boolean;
  /** Registers read with every stop of this client's runs (see Client.stopRegisters). */
  stopRegisters: string[] | undefined;
  symbol(name: string): ElfSymbol | undefined;
  symbolize(addr: bigint): string | undefined;
  on<E extends keyof SessionEvents>(event: E, fn: (...args: SessionEvents[E]) => void): this;
  off<E extends keyof SessionEvents>(event: E, fn: (...args: SessionEvents[E]) => void): this;
  nextStop(): Promise<StopEvent>;
  /** This client's reader is behind: hold the guest back until p settles (where the client can). */
  hold(p: Promise<unknown>): void;
  /** The client goes (its breakpoints and watchpoints go with it); the session stays for the others. */
  close(): Promise<void>;
}

/** The contract as front-ends call it: an operation whose parameters are all optional may be called without them. */
export type SessionCalls = {
  [N in OpName]: {} extends ParamsOf<N> ? (params?: ParamsOf<N>) => Promise<Result<ResultOf<N>>> : (params: ParamsOf<N>) => Promise<Result<ResultOf<N>>>;
};

/** A register as a front-end sees it (RegDef without how the core reaches it). */
export type RegisterInfo = Pick<RegDef, 'name' | 'bits' | 'regnum' | 'group' | 'feature' | 'type' | 'readonly' | 'doc'>;

/** Register values read for a list of names, by name (a name with no value is left out). */
export function byName(names: readonly string[], values: readonly (Hex | undefined)[]): Record<string, Hex> {
  const out: Record<string, Hex> = {};
  names.forEach((n, i) => { const v = values[i]; if (v !== undefined) out[n] = v; });
  return out;
}

/** The next stop of the guest, whoever ran it, as a client's events tell it. */
export function nextStopOf(c: Pick<SessionClient, 'on' | 'off'>): Promise<StopEvent> {
  return new Promise((resolve) => {
    const fn = (ev: StopEvent) => { c.off('stop', fn); resolve(ev); };
    c.on('stop', fn);
  });
}

type Listener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

export class Client implements SessionClient {
  private readonly listeners: [keyof SessionEvents, Listener][] = [];
  private closed = false;

  /**
   * Registers this front-end reads after every stop (e.g. the debug adapter's
   * Registers view): read with the stop itself, in the same trip to the worker, and
   * kept for the reads that follow (until something runs the guest or writes them).
   */
  stopRegisters: string[] | undefined;

  constructor(readonly session: Session, readonly name: string) {}

  // ---------------------------------------------------------------- what front-ends read without a call
  get arch() { return this.session.arch; }
  get state(): SessionState { return this.session.state; }
  get lastStop(): StopEvent | undefined { return this.session.lastStop; }
  get registers(): RegDef[] { return this.session.registers; }
  get memory(): MemoryMap { return this.session.memory; }
  get symbols(): ElfSymbol[] { return this.session.symbols; }
  get insns(): number { return this.session.insns; }
  get trapCount(): number { return this.session.trapCount; }
  get caps() { return this.session.capabilities; }
  get shared() { return this.session.shared; }
  symbol(name: string) { return this.session.symbol(name); }
  symbolize(addr: bigint) { return this.session.symbolize(addr); }

  // ---------------------------------------------------------------- the contract
  async capabilities() { return ok(this.session.capabilities); }
  async status() { return ok(this.session.status()); }
  cont(p: ParamsOf<'cont'> = {}) { return this.session.run(false, p.vcpu, p.registers ?? this.stopRegisters); }
  step(p: ParamsOf<'step'> = {}) { return this.session.run(true, p.vcpu, p.registers ?? this.stopRegisters); }
  async pause(_p: ParamsOf<'pause'> = {}) { return ok(this.session.pause()); }
  readRegisters(p: ParamsOf<'readRegisters'> = {}) { return this.session.readRegisters(p.names, p.vcpu); }
  writeRegister(p: ParamsOf<'writeRegister'>) { return this.session.writeRegister(p.name, p.value, p.vcpu); }
  readMemory(p: ParamsOf<'readMemory'>) { return this.session.readMemory(p.addr, p.len, p.vcpu); }
  writeMemory(p: ParamsOf<'writeMemory'>) { return this.session.writeMemory(p.addr, p.data, p.vcpu); }
  addBreakpoint(p: ParamsOf<'addBreakpoint'>) { return this.session.addBreakpoint(this.name, p.addr, p.thumb); }
  removeBreakpoint(p: ParamsOf<'removeBreakpoint'>) { return this.session.removeBreakpoint(this.name, p.addr); }
  addWatchpoint(p: ParamsOf<'addWatchpoint'>) { return this.session.addWatchpoint(this.name, p.addr, p.len, p.kind); }
  removeWatchpoint(p: ParamsOf<'removeWatchpoint'>) { return this.session.removeWatchpoint(this.name, p.addr, p.len, p.kind); }
  clearPoints(_p: ParamsOf<'clearPoints'> = {}) { return this.session.clearPoints(this.name); }
  pendingTrap(_p: ParamsOf<'pendingTrap'> = {}) { return this.session.pendingTrap(); }
  decide(p: ParamsOf<'decide'>) { return this.session.decide(p.decision, this.name, p.seq); }
  traps(p: ParamsOf<'traps'> = {}) { return this.session.traps(p.n, p.from); }
  policy(_p: ParamsOf<'policy'> = {}) { return this.session.policy(); }
  addRule(p: ParamsOf<'addRule'>) { return this.session.addRule(p); }
  removeRule(p: ParamsOf<'removeRule'>) { return this.session.removeRule(p.id, p.version); }
  setDefault(p: ParamsOf<'setDefault'>) { return this.session.setDefault(p.action, p.version); }
  async console(p: ParamsOf<'console'>) { return ok(await runConsole(this, p.line)); }

  /** This client's reader is behind: hold the guest back until p settles (Session.hold). */
  hold(p: Promise<unknown>) { this.session.hold(p); }

  /** Calls an operation by name (the JSON-RPC service's dispatch). */
  request<N extends OpName>(name: N, params: ParamsOf<N>): Promise<Result<ResultOf<N>>> {
    return (this[name] as (p: ParamsOf<N>) => Promise<Result<ResultOf<N>>>)(params);
  }

  // ---------------------------------------------------------------- events (removed when the client closes)
  on<E extends keyof SessionEvents>(event: E, fn: (...args: SessionEvents[E]) => void): this {
    this.session.on(event, fn as never);
    this.listeners.push([event, fn as unknown as Listener]);
    return this;
  }
  off<E extends keyof SessionEvents>(event: E, fn: (...args: SessionEvents[E]) => void): this {
    this.session.off(event, fn as never);
    const i = this.listeners.findIndex(([e, f]) => e === event && f === (fn as unknown as Listener));
    if (i >= 0) this.listeners.splice(i, 1);
    return this;
  }
  /** The next stop of the guest, whoever ran it. */
  nextStop(): Promise<StopEvent> { return nextStopOf(this); }

  /**
   * The client goes: its breakpoints and watchpoints go with it. While the guest
   * runs, the emulation thread takes that when the run stops: the client does not
   * wait for it (the run may never stop on its own: a client that detached).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [e, f] of this.listeners) this.session.off(e, f as never);
    this.listeners.length = 0;
    const cleared = this.session.clearPoints(this.name);
    if (this.session.state !== 'running') await cleared;
  }
}
