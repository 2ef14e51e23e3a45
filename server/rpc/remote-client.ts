// A session served by `trapdoor serve`, held as a front-end holds an in-process
// Client (both are a SessionClient): the debug adapter's `attach` works with it
// as its `launch` works with a Client. The static facts (arch, registers, memory
// map, symbols, capabilities) are read once at attach (`session/describe`); every
// contract operation is the service's method of the same name (the list is OPS:
// the methods are made from it, below), its answer or error a Result as the
// core's; the events are the service's notifications for this session.
import { EventEmitter } from 'node:events';
import { ResponseError } from 'vscode-jsonrpc/node';
import { connectService, type ConnectOptions, type RpcClient } from './connect.js';
import {
  codeName, NOTIFICATIONS, type DecidedNotification, type LaggedNotification, type OutputNotification,
  type SessionFacts, type SessionInfo, type StopNotification, type SubscribeResult, type TrapNotification,
} from './protocol.js';
import { OPS, type Capabilities, type OpName, type ParamsOf, type ResultOf, type SessionState, type StopEvent } from '../session/contract.js';
import { nextStopOf, type RegisterInfo, type SessionCalls, type SessionClient } from '../session/client.js';
import type { SessionEvents } from '../session/session.js';
import { symbolizeIn } from '../session/symbols.js';
import type { ElfSymbol } from '../machine/elf.js';
import type { AddressSpace } from '../machine/memory.js';
import { ERROR_CODES, fail, ok, type ErrorCode, type Result } from '../result.js';
import type { Role } from './tokens.js';
import { memoryChunk } from './service.js';

/** The events of a RemoteClient: the Session's, and what only a served session has. */
export interface RemoteEvents extends SessionEvents {
  /** A pending trap was decided (by anyone: `by` names who). */
  decided: [DecidedNotification];
  /** The session or the connection is gone: why, said for people. */
  gone: [string];
}

export interface AttachOptions extends ConnectOptions {
  /** The served session's id (default: the first one served). */
  session?: string;
}

type Region = AddressSpace['regions'][number];

/** The memory map a served session described (the regions, without their bytes). */
class DescribedMemory implements AddressSpace {
  constructor(readonly top: bigint, readonly regions: readonly Region[]) {}
  find(addr: bigint): Region | undefined {
    return this.regions.find((r) => addr >= r.base && addr < r.base + r.size);
  }
}

/** The core's code for a wire error (the service's own codes become the nearest core one). */
function coreCode(wire: number): ErrorCode {
  const name = codeName(wire);
  if (name && (ERROR_CODES as readonly string[]).includes(name)) return name as ErrorCode;
  switch (name) {
    case 'forbidden': return 'unsupported';
    case 'gone': return 'not-found';
    case 'too-large': return 'invalid';
    case 'no-session': case 'unauthenticated': return 'closed';
    default: return 'internal';
  }
}

export interface RemoteClient extends SessionCalls {}

export class RemoteClient implements SessionClient {
  private readonly events = new EventEmitter<RemoteEvents>();
  private _state: SessionState;
  private _lastStop: StopEvent | undefined;
  /** Why the client cannot be used any more (the session or the connection went), once it is so. */
  private gone: string | undefined;
  /** Largest readMemory the service answers at once (it says when it is less). */
  private chunk = memoryChunk(1 << 20);
  stopRegisters: string[] | undefined;
  readonly arch: 'aarch64' | 'arm';
  readonly registers: readonly RegisterInfo[];
  readonly memory: AddressSpace;
  readonly symbols: readonly ElfSymbol[];
  readonly caps: Capabilities;
  /** The served session's id and image (as the service names it). */
  readonly id: string;
  readonly image: string;

  private constructor(private readonly rpc: RpcClient, readonly role: Role, facts: SessionFacts) {
    this.id = facts.id;
    this.image = facts.image;
    this.arch = facts.arch;
    this._state = facts.state;
    this._lastStop = facts.lastStop;
    this.caps = facts.capabilities;
    this.registers = facts.registers;
    this.memory = new DescribedMemory(BigInt(facts.memory.top), facts.memory.regions.map((r) => ({ ...r, base: BigInt(r.base), size: BigInt(r.size) })));
    this.symbols = facts.symbols.map((s) => ({ ...s, value: BigInt(s.value), size: BigInt(s.size) }));
    const conn = rpc.conn;
    const mine = (n: { session: string }) => n.session === this.id;
    conn.onNotification(NOTIFICATIONS.trap, (n: TrapNotification) => {
      if (!mine(n)) return;
      this.events.emit('traps', [n.record]);
      this.events.emit('trap', n.record);
    });
    conn.onNotification(NOTIFICATIONS.stop, (n: StopNotification) => {
      if (!mine(n)) return;
      this._lastStop = n.event;
      this._state = n.event.reason === 'exit' || n.event.final ? 'exited' : 'stopped';
      this.events.emit('stop', n.event);
    });
    conn.onNotification(NOTIFICATIONS.running, (n: { session: string }) => {
      if (!mine(n)) return;
      this._state = 'running';
      this.events.emit('running');
    });
    conn.onNotification(NOTIFICATIONS.decided, (n: DecidedNotification) => { if (mine(n)) this.events.emit('decided', n); });
    conn.onNotification(NOTIFICATIONS.output, (n: OutputNotification) => { if (mine(n)) this.events.emit('output', n.text); });
    conn.onNotification(NOTIFICATIONS.lagged, (n: LaggedNotification) => {
      if (mine(n)) this.events.emit('log', `this client fell behind: ${n.missed} trap records from #${n.from} were not sent (trapdoor/traps pages them)`);
    });
    conn.onNotification(NOTIFICATIONS.closed, (n: { session: string }) => { if (mine(n)) this.lose(`session ${this.id} was closed on the service`); });
    conn.onClose(() => this.lose('the connection to the service closed'));
  }

  /**
   * Connects, authenticates and joins a served session (the first one, unless
   * `session` names another). Throws an Error saying what went wrong and what to do.
   */
  static async attach(o: AttachOptions): Promise<RemoteClient> {
    const rpc = await connectService(o);
    try {
      const sessions = rpc.auth.sessions;
      const sid = o.session ?? sessions[0]?.id;
      if (sid === undefined) throw new Error(`${o.connect} serves no session (start trapdoor serve with an image, or open one with session/open)`);
      if (!sessions.some((s) => s.id === sid)) throw new Error(`${o.connect} has no session '${sid}' (it serves ${sessions.map((s) => `${s.id} (${s.image})`).join(', ') || 'none'})`);
      const info = await rpc.conn.sendRequest<SessionInfo>('session/attach', { session: sid, role: o.role });
      const role = info.clients.find((c) => c.name === rpc.auth.client)?.role ?? rpc.auth.role;
      const facts = await rpc.conn.sendRequest<SessionFacts>('session/describe', { session: sid });
      return new RemoteClient(rpc, role, facts);
    } catch (e) {
      rpc.close();
      throw new Error(e instanceof ResponseError ? e.message : (e as Error).message);
    }
  }

  private lose(why: string) {
    if (this.gone) return;
    this.gone = why;
    this._state = 'exited';
    this.events.emit('gone', why);
  }

  // ---------------------------------------------------------------- what front-ends read without a call
  /** This client as the records name it (`alice (10.0.0.5:40312)`). */
  get name(): string { return this.rpc.auth.client; }
  get state(): SessionState { return this._state; }
  get lastStop(): StopEvent | undefined { return this._lastStop; }
  symbol(name: string) { return this.symbols.find((s) => s.name === name); }
  symbolize(addr: bigint) { return symbolizeIn(this.symbols, this.arch, addr); }

  // ---------------------------------------------------------------- the contract, over the wire
  /** Calls the service's method `name` for this session: the answer, or the error as the core's Result. */
  async request<N extends OpName>(name: N, params: ParamsOf<N> = {} as ParamsOf<N>): Promise<Result<ResultOf<N>>> {
    const p = { ...(params as Record<string, unknown>) };
    if (name === 'cont' || name === 'step') p.registers ??= this.stopRegisters;
    if (name === 'writeMemory') p.data = Buffer.from(p.data as Uint8Array).toString('base64');
    if (name === 'readMemory' && typeof p.len === 'number' && Number.isSafeInteger(p.len) && p.len > 0) {
      let addr: bigint;
      try { addr = BigInt(String(p.addr)); } catch { return fail('invalid', `address '${String(p.addr)}' is not an address (write e.g. 0x40000000)`) as Result<ResultOf<N>>; }
      return this.readInChunks(addr, p.len) as Promise<Result<ResultOf<N>>>;
    }
    const r = await this.send(name, p);
    if (r.ok && name === 'readMemory') return ok(new Uint8Array(Buffer.from(r.value as string, 'base64'))) as Result<ResultOf<N>>;
    return r as Result<ResultOf<N>>;
  }

  private async send(method: string, params: Record<string, unknown>): Promise<Result<unknown>> {
    if (this.gone) return fail('closed', this.gone);
    try {
      return ok(await this.rpc.conn.sendRequest(method, { ...params, session: this.id }));
    } catch (e) {
      if (e instanceof ResponseError) {
        const max = (e.data as { max?: unknown } | undefined)?.max;
        if (method === 'readMemory' && typeof max === 'number' && max < this.chunk) this.chunk = max;
        return fail(coreCode(e.code), e.message);
      }
      return fail('closed', this.gone ?? `the connection to the service failed: ${(e as Error).message}`);
    }
  }

  /** A read in pieces that each fit in a message (the service says how large one may be when it is less than thought). */
  private async readInChunks(addr: bigint, len: number): Promise<Result<Uint8Array>> {
    const out = new Uint8Array(len);
    for (let done = 0; done < len;) {
      const n = Math.min(this.chunk, len - done);
      const r = await this.send('readMemory', { addr: '0x' + (addr + BigInt(done)).toString(16), len: n });
      if (!r.ok) {
        if (n > this.chunk) continue; // the service said how much fits: again, smaller
        return r;
      }
      out.set(Buffer.from(r.value as string, 'base64'), done);
      done += n;
    }
    return ok(out);
  }

  /** Live trap records from `from` on (default: the oldest the service keeps) as `trap`/`traps` events; the pending trap, if any. */
  async follow(from?: number): Promise<Result<SubscribeResult>> {
    const r = await this.send('traps/subscribe', from === undefined ? {} : { from });
    return r as Result<SubscribeResult>;
  }

  // ---------------------------------------------------------------- events
  on<E extends keyof RemoteEvents>(event: E, fn: (...args: RemoteEvents[E]) => void): this {
    this.events.on(event, fn as never);
    return this;
  }
  off<E extends keyof RemoteEvents>(event: E, fn: (...args: RemoteEvents[E]) => void): this {
    this.events.off(event, fn as never);
    return this;
  }
  nextStop(): Promise<StopEvent> { return nextStopOf(this); }

  private holds = 0;
  /**
   * This client's reader is behind: stop reading the service until p settles.
   * The service then holds what waits for this client within its --max-queue and
   * says `lagged` for the records it had to drop, as for any slow client.
   */
  hold(p: Promise<unknown>): void {
    if (this.holds++ === 0) this.rpc.socket.pause();
    void p.finally(() => { if (--this.holds === 0) this.rpc.socket.resume(); });
  }

  /** Leaves the served session: the service removes this client's breakpoints; the session stays for the others. */
  async close(): Promise<void> {
    this.events.removeAllListeners();
    this.lose('this client detached');
    this.rpc.close();
  }
}

// The contract's operations are the service's methods of the same names.
for (const name of Object.keys(OPS) as OpName[]) {
  Object.defineProperty(RemoteClient.prototype, name, {
    value: function (this: RemoteClient, params?: ParamsOf<typeof name>) { return this.request(name, params); },
    writable: true, configurable: true,
  });
}
