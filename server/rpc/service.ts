// The JSON-RPC service (`trapdoor serve`): sessions served to any number of
// clients over one connection each (stdio, a unix socket, TCP, TLS: listen.ts).
// Its methods are the Session contract's operations under their own names
// (`Object.keys(OPS)`, dispatched to the connection's Client with
// client.request), plus `auth`, `session/open|list|attach|describe|close`,
// `traps/subscribe|unsubscribe` and `decode`. Errors are JSON-RPC error objects
// with the core's stable codes (protocol.ts). Nothing a client sends is
// evaluated: messages are parsed as JSON and their values checked.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  createMessageConnection, ErrorCodes, ResponseError, StreamMessageReader, type MessageConnection,
} from 'vscode-jsonrpc/node';
import { Session, type SessionOptions, type Client } from '../session/session.js';
import { OPS, type OpName } from '../session/contract.js';
import { consoleLineReadOnly } from '../session/console.js';
import type { Failure } from '../result.js';
import { argRegisters, decodeCall } from '../decode/index.js';
import { parseNumber } from '../machine/memory.js';
import { buildDecisions } from '../cli/policy-build.js';
import { BoundedWriter, FrameGate, DEFAULT_FRAME_LIMITS, type FrameLimits } from './framing.js';
import { checkToken, type Role, type TokenEntry } from './tokens.js';
import { SessionHost } from './host.js';
import {
  NOTIFICATIONS, wireCode, type AuthParams, type AuthResult, type DecodeParams, type OpenParams, type ServiceError,
  type SessionInfo, type SubscribeParams, type SubscribeResult,
} from './protocol.js';

export interface ServiceOptions {
  /** Token file entries; without them no token is asked for (stdio, a unix socket, loopback). */
  tokens?: TokenEntry[];
  limits?: Partial<FrameLimits>;
  /** Bytes waiting to go out to one client before its live records are dropped (`lagged`). Default 4 MiB. */
  maxQueue?: number;
  /** Connections not yet authenticated, at most (default 16). */
  maxUnauthenticated?: number;
  /** Seconds a connection has to authenticate (default 10). */
  authTimeout?: number;
  /** Records kept per session for replay (default 10000). */
  keep?: number;
  /** Seconds a trap waits for a person before the default applies (default: forever). */
  decideTimeout?: number;
  /** What every session/open starts from (the serve command's memory, UART, forward options). */
  sessionDefaults?: Partial<SessionOptions>;
  log?: (line: string) => void;
}

/** One connection's two ends, and how to end it. */
export interface Transport {
  input: Readable;
  output: Writable;
  /** The client's address, as the records name it when it has no user name. */
  peer: string;
  close(): void;
}

/** Largest readMemory at once: its base64 must fit in a message (read larger ranges in chunks). */
export const memoryChunk = (maxMessage: number) => Math.max(256, Math.floor(((maxMessage - 512) * 3) / 4) & ~0xff);
/** Largest page of `traps`. */
export const MAX_TRAPS_PAGE = 1000;

class RpcError extends Error {
  constructor(readonly code: ServiceError | Failure['code'], message: string, readonly data: Record<string, unknown> = {}) { super(message); }
}
const failed = (f: Failure) => new RpcError(f.code, f.error);

export class RpcService {
  readonly hosts = new Map<string, SessionHost>();
  private nextId = 1;
  private unauthenticated = 0;
  private readonly connections = new Set<RpcConnection>();
  readonly limits: FrameLimits;
  readonly log: (line: string) => void;
  private readonly uploads = new Map<string, string>();
  /** Called with each session as it starts being served (the web page follows its console output from the start). */
  readonly onSession: ((host: SessionHost) => void)[] = [];

  constructor(readonly opts: ServiceOptions = {}) {
    this.limits = { ...DEFAULT_FRAME_LIMITS, ...opts.limits };
    this.log = opts.log ?? (() => undefined);
  }

  get needsToken(): boolean { return !!this.opts.tokens?.length; }

  /** Serves a session opened by the caller (`trapdoor serve IMAGE`). */
  addSession(session: Session, image: string, run = true): SessionHost {
    const id = String(this.nextId++);
    const host = new SessionHost(id, session, image, { keep: this.opts.keep ?? 10000, decideTimeout: this.opts.decideTimeout, run, log: this.log });
    this.hosts.set(id, host);
    for (const f of this.onSession) f(host);
    host.start();
    return host;
  }

  async openSession(p: OpenParams): Promise<SessionHost> {
    if ((p.path === undefined) === (p.image === undefined)) throw new RpcError('invalid', 'session/open takes a path on the server or the image bytes (image, base64): one of them');
    let dec;
    try {
      dec = await buildDecisions({ on: strings(p.on, 'on'), default: optString(p.default, 'default'), platform: optString(p.platform, 'platform'), forward: this.opts.sessionDefaults?.forward?.endpoint });
    } catch (e) {
      throw new RpcError('invalid', (e as Error).message);
    }
    let file: string;
    let shown: string;
    let upload: string | undefined;
    if (p.image !== undefined) {
      if (typeof p.image !== 'string') throw new RpcError('invalid', 'image: the image bytes as a base64 string');
      upload = mkdtempSync(path.join(tmpdir(), 'trapdoor-upload-'));
      shown = optString(p.name, 'name') ?? 'uploaded image';
      file = path.join(upload, 'image');
      writeFileSync(file, Buffer.from(p.image, 'base64'));
    } else {
      file = optString(p.path, 'path')!;
      shown = file;
    }
    const opened = await Session.open({
      ...this.opts.sessionDefaults,
      image: { ...this.opts.sessionDefaults?.image, path: file },
      policy: dec.policy, platform: dec.platform, firmware: { ...this.opts.sessionDefaults?.firmware, ...dec.firmware },
      interactive: true, subscribe: true,
    });
    if (!opened.ok) {
      if (upload) rmSync(upload, { recursive: true, force: true });
      throw failed(opened);
    }
    const host = this.addSession(opened.value, shown, p.run !== false);
    if (upload) this.uploads.set(host.id, upload);
    return host;
  }

  async closeSession(id: string) {
    const host = this.hosts.get(id);
    if (!host) return;
    this.hosts.delete(id);
    await host.close();
    const up = this.uploads.get(id);
    if (up) { this.uploads.delete(id); rmSync(up, { recursive: true, force: true }); }
  }

  /** Serves one connection. */
  serve(t: Transport): RpcConnection {
    const c = new RpcConnection(this, t);
    this.connections.add(c);
    t.output.once('close', () => this.connections.delete(c));
    return c;
  }

  /** A connection starts unauthenticated: refuse it when too many are. */
  admit(): boolean {
    if (!this.needsToken) return true;
    if (this.unauthenticated >= (this.opts.maxUnauthenticated ?? 16)) return false;
    this.unauthenticated++;
    return true;
  }
  authenticatedOrGone() { if (this.needsToken) this.unauthenticated = Math.max(0, this.unauthenticated - 1); }

  async close() {
    for (const c of this.connections) c.end();
    for (const id of [...this.hosts.keys()]) await this.closeSession(id);
  }
}

function optString(v: unknown, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new RpcError('invalid', `${what} must be a string`);
  return v;
}
function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new RpcError('invalid', `${what} must be a list of strings`);
  return v as string[];
}

interface Attached { host: SessionHost; client: Client; role: Role; unlisten: () => void }

/** One client's connection: its name and role, its Clients (one per session it joined), its subscriptions. */
export class RpcConnection {
  private readonly conn: MessageConnection;
  private readonly writer: BoundedWriter;
  private readonly gate: FrameGate;
  private authed = false;
  private counted = false;
  name: string;
  private user: string | undefined;
  private role: Role = 'decider';
  private readonly attached = new Map<string, Attached>();
  private current: string | undefined;
  /** Live records from this seq on, per session subscribed. */
  private readonly subs = new Map<string, number>();
  private readonly lag = new Map<string, { missed: number; from: number; output: number }>();
  private authTimer: NodeJS.Timeout | undefined;
  private ended = false;
  /** The next error answer is the last thing this connection sends (a refused auth). */
  private closeOnError = false;

  constructor(private readonly svc: RpcService, private readonly t: Transport) {
    this.name = t.peer;
    const limits = svc.limits;
    this.writer = new BoundedWriter(t.output, Math.max(64 << 10, svc.opts.maxQueue ?? 4 << 20));
    this.gate = new FrameGate(limits,
      (bytes) => void this.writer.writeRaw({ jsonrpc: '2.0', id: null, error: { code: wireCode('too-large'), message: `a message of ${bytes} bytes is over the limit of ${limits.maxMessage} (--max-message); it was skipped, the connection goes on`, data: { code: 'too-large', limit: limits.maxMessage } } }),
      (why) => { svc.log(`${t.peer}: closed: ${why}`); void this.writer.writeRaw({ jsonrpc: '2.0', id: null, error: { code: ErrorCodes.ParseError, message: `closing: ${why}` } }).then(() => this.end()); });
    t.input.pipe(this.gate);
    this.writer.afterWrite = (msg) => { if (this.closeOnError && 'error' in msg) this.end(); };
    this.conn = createMessageConnection(new StreamMessageReader(this.gate), this.writer);
    this.conn.onRequest(async (method, params) => {
      try {
        return await this.handle(method, params);
      } catch (e) {
        if (e instanceof RpcError) return new ResponseError(wireCode(e.code), e.message, { code: e.code, ...e.data });
        if (e instanceof ResponseError) return e;
        svc.log(`${this.name}: ${method}: internal error: ${(e as Error).stack ?? e}`);
        return new ResponseError(wireCode('internal'), `internal error: ${(e as Error).message}`, { code: 'internal' });
      } finally {
        this.gate.done();
      }
    });
    this.conn.onNotification(() => undefined);
    this.conn.onError(() => undefined);
    this.conn.onClose(() => void this.cleanup());
    t.output.once('close', () => void this.cleanup());
    t.input.once('end', () => void this.cleanup());
    this.conn.listen();
    if (!svc.admit()) {
      svc.log(`${t.peer}: refused: too many connections waiting to authenticate`);
      void this.writer.writeRaw({ jsonrpc: '2.0', method: 'refused', params: { message: 'too many connections waiting to authenticate; try again later' } }).then(() => this.end());
      return;
    }
    this.counted = svc.needsToken;
    if (svc.needsToken) {
      const s = svc.opts.authTimeout ?? 10;
      this.authTimer = setTimeout(() => { svc.log(`${t.peer}: closed: no auth within ${s} s`); this.end(); }, s * 1000);
    }
  }

  end() {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.authTimer);
    this.t.close();
    void this.cleanup();
  }

  private cleaned = false;
  private async cleanup() {
    if (this.cleaned) return;
    this.cleaned = true;
    clearTimeout(this.authTimer);
    if (this.counted && !this.authed) this.svc.authenticatedOrGone();
    this.conn.dispose();
    // a trap this client was deciding stays pending for the others
    for (const a of this.attached.values()) { a.unlisten(); a.host.attached.delete(this); await a.client.close(); }
    this.attached.clear();
  }

  private notify(method: string, params: object) {
    if (!this.ended) void this.conn.sendNotification(method, params).catch(() => undefined);
  }

  /** Live records and output: dropped while the client is behind, then one `lagged` says how many. */
  private sendLive(sid: string, method: string, params: object, seq?: number, chars = 0) {
    const lag = this.lag.get(sid);
    if (lag) { if (seq !== undefined) lag.missed++; lag.output += chars; return; }
    if (this.writer.behind) {
      const host = this.attached.get(sid)?.host;
      this.lag.set(sid, { missed: seq !== undefined ? 1 : 0, from: seq ?? (host ? host.lastSeq + 1 : 0), output: chars });
      this.writer.onDrain(() => {
        const l = this.lag.get(sid);
        this.lag.delete(sid);
        if (l) this.notify(NOTIFICATIONS.lagged, { session: sid, ...l });
      });
      return;
    }
    this.notify(method, params);
  }

  // ---------------------------------------------------------------- sessions of this connection
  private attach(host: SessionHost, role: Role): Attached {
    const had = this.attached.get(host.id);
    if (had) { had.role = role; host.attached.set(this, { name: this.name, role }); return had; }
    const client = host.session.connect(this.name);
    const sid = host.id;
    const onTrap = (r: import('../session/trap-record.js').TrapRecord) => {
      const from = this.subs.get(sid);
      if (from === undefined || r.seq < from) return;
      this.subs.set(sid, r.seq + 1);
      this.sendLive(sid, NOTIFICATIONS.trap, { session: sid, record: r }, r.seq);
    };
    const onStop = (event: unknown) => this.notify(NOTIFICATIONS.stop, { session: sid, event });
    const onRunning = () => this.notify(NOTIFICATIONS.running, { session: sid });
    const onDecided = (d: { seq: number; by: string; record: unknown }) => this.notify(NOTIFICATIONS.decided, { session: sid, ...d });
    const onOutput = (text: string) => this.sendLive(sid, NOTIFICATIONS.output, { session: sid, text }, undefined, text.length);
    const onClosed = () => { this.notify(NOTIFICATIONS.closed, { session: sid }); this.detach(sid); };
    host.on('trap', onTrap).on('stop', onStop).on('running', onRunning).on('decided', onDecided).on('output', onOutput).on('closed', onClosed);
    const unlisten = () => { host.off('trap', onTrap).off('stop', onStop).off('running', onRunning).off('decided', onDecided).off('output', onOutput).off('closed', onClosed); };
    const a: Attached = { host, client, role, unlisten };
    this.attached.set(sid, a);
    host.attached.set(this, { name: this.name, role });
    this.current ??= sid;
    return a;
  }

  private detach(sid: string) {
    const a = this.attached.get(sid);
    if (!a) return;
    a.unlisten();
    a.host.attached.delete(this);
    this.attached.delete(sid);
    this.subs.delete(sid);
    if (this.current === sid) this.current = undefined;
    void a.client.close();
  }

  /** The session a request names (`session`), or the connection's current one, or the only one served. */
  private target(params: Record<string, unknown>): Attached {
    const sid = params.session !== undefined ? String(params.session) : this.current ?? (this.svc.hosts.size === 1 ? [...this.svc.hosts.keys()][0] : undefined);
    if (sid === undefined) throw new RpcError('no-session', this.svc.hosts.size ? `name a session (session/list lists ${this.svc.hosts.size})` : 'no session is served: open one with session/open');
    const had = this.attached.get(sid);
    if (had) return had;
    const host = this.svc.hosts.get(sid);
    if (!host) throw new RpcError('no-session', `no session '${sid}' (session/list lists them)`);
    return this.attach(host, this.role);
  }

  private needDecider(a: Attached | undefined, what: string) {
    const role = a?.role ?? this.role;
    if (role !== 'decider') throw new RpcError('forbidden', `${this.name} is an observer: ${what} needs a decider`);
  }

  // ---------------------------------------------------------------- requests
  private async handle(method: string, raw: unknown): Promise<unknown> {
    if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) throw new RpcError('invalid', 'params must be an object (named parameters)');
    const params = (raw ?? {}) as Record<string, unknown>;
    if (!this.authed) {
      if (method === 'auth') return this.auth(params as AuthParams, true);
      if (this.svc.needsToken) {
        this.svc.log(`${this.t.peer}: refused: '${method.slice(0, 40)}' before auth`);
        this.closeAfterThis();
        throw new RpcError('unauthenticated', 'authenticate first: the first request must be auth {token}; closing');
      }
      this.auth({}, false);
    }
    switch (method) {
      case 'auth': throw new RpcError('invalid', 'already authenticated');
      case 'session/list': return [...this.svc.hosts.values()].map((h) => h.info());
      case 'session/open': {
        this.needDecider(undefined, 'opening a session');
        const host = await this.svc.openSession(params as OpenParams);
        const role = params.role === 'observer' ? 'observer' : this.role;
        this.attach(host, role);
        this.current = host.id;
        return host.info();
      }
      case 'session/attach': {
        const sid = String(params.session ?? '');
        const host = this.svc.hosts.get(sid);
        if (!host) throw new RpcError('no-session', `no session '${sid}' (session/list lists them)`);
        const role: Role = params.role === 'observer' || this.role === 'observer' ? 'observer' : 'decider';
        this.attach(host, role);
        this.current = sid;
        return host.info();
      }
      case 'session/close': {
        const a = this.target(params);
        this.needDecider(a, 'closing a session');
        await this.svc.closeSession(a.host.id);
        return true;
      }
      case 'session/describe': return this.target(params).host.describe();
      case 'traps/subscribe': return this.subscribe(params as SubscribeParams);
      case 'traps/unsubscribe': { const a = this.target(params); this.subs.delete(a.host.id); return true; }
      case 'decode': return decode(params as unknown as DecodeParams);
    }
    if (!Object.hasOwn(OPS, method)) throw new ResponseError(ErrorCodes.MethodNotFound, `no method '${method.slice(0, 60)}' (the Session operations: ${Object.keys(OPS).join(', ')}; and auth, session/open, session/list, session/attach, session/describe, session/close, traps/subscribe, traps/unsubscribe, decode)`);
    return this.op(method as OpName, params);
  }

  private closeAfterThis() { this.closeOnError = true; }

  private auth(p: AuthParams, explicit: boolean): AuthResult {
    const svc = this.svc;
    let role: Role = p.role === 'observer' ? 'observer' : 'decider';
    if (svc.needsToken) {
      const e = checkToken(svc.opts.tokens!, p.token);
      if (!e) {
        svc.log(`${this.t.peer}: refused: bad token`);
        this.closeAfterThis();
        throw new RpcError('unauthenticated', 'the token is not valid; closing');
      }
      this.user = e.user;
      if (e.role === 'observer') role = 'observer';
      this.name = `${e.user} (${this.t.peer})`;
    }
    this.authed = true;
    this.role = role;
    clearTimeout(this.authTimer);
    if (this.counted) { this.counted = false; svc.authenticatedOrGone(); }
    if (explicit) svc.log(`${this.name}: authenticated as ${role}`);
    return { client: this.name, user: this.user, role, sessions: [...svc.hosts.values()].map((h) => h.info()) };
  }

  private async subscribe(p: SubscribeParams): Promise<SubscribeResult> {
    const a = this.target(p as Record<string, unknown>);
    const host = a.host;
    if (p.from !== undefined && (!Number.isInteger(p.from) || p.from < 1)) throw new RpcError('invalid', `from: a trap seq (1 or more), not ${JSON.stringify(p.from)}`);
    const kept = host.kept(p.from);
    if (kept === 'gone') {
      throw new RpcError('gone', `trap #${p.from} is gone: the oldest record kept is #${host.oldestKept} (the service keeps the last records only); page older ones from the trap log, or subscribe from #${host.oldestKept}`, { oldest: host.oldestKept });
    }
    const sid = host.id;
    for (const r of kept) this.sendLive(sid, NOTIFICATIONS.trap, { session: sid, record: r }, r.seq);
    const next = kept.length ? kept[kept.length - 1].seq + 1 : Math.max(p.from ?? 0, host.lastSeq + 1);
    this.subs.set(sid, next);
    const pend = await a.client.pendingTrap();
    return { replayed: kept.length, next, pending: pend.ok ? pend.value : null };
  }

  private async op(name: OpName, params: Record<string, unknown>): Promise<unknown> {
    const a = this.target(params);
    const { session: _s, ...p } = params;
    const spec = OPS[name];
    if (spec.access !== 'read') {
      if (name === 'console') {
        if (a.role !== 'decider' && !consoleLineReadOnly(String(p.line ?? ''))) this.needDecider(a, 'this console command');
      } else this.needDecider(a, name);
    }
    const host = a.host;
    switch (name) {
      case 'readMemory': {
        const max = memoryChunk(this.svc.limits.maxMessage);
        if (typeof p.len === 'number' && p.len > max) throw new RpcError('invalid', `read at most ${max} bytes at a time (a message is at most ${this.svc.limits.maxMessage} bytes): read larger ranges in chunks`, { max });
        break;
      }
      case 'writeMemory':
        if (typeof p.data !== 'string') throw new RpcError('invalid', 'data: the bytes as a base64 string');
        p.data = new Uint8Array(Buffer.from(p.data, 'base64'));
        break;
      case 'traps':
        if (p.n === undefined || (typeof p.n === 'number' && p.n > MAX_TRAPS_PAGE)) p.n = MAX_TRAPS_PAGE;
        break;
      case 'cont': host.resumeDriving(); break;
      case 'step': case 'pause': host.stopDriving(); break;
    }
    // a decision of a trap already decided: the first decision won; say whose it was
    const seq = name === 'decide' ? (p as { seq?: unknown }).seq : undefined;
    const decidedAlready = () => {
      const rec = host.decidedRecord(seq);
      if (rec) throw new RpcError('conflict', `trap #${seq} was already decided by ${rec.client ?? rec.by}`, { decidedBy: rec.client ?? rec.by, record: rec });
    };
    decidedAlready();
    const r = await a.client.request(name, p as never);
    if (!r.ok) {
      decidedAlready();
      throw failed(r);
    }
    const v: unknown = r.value;
    return v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v;
  }
}

function decode(p: DecodeParams) {
  const id = parseNumber(String(p.id ?? ''));
  if (id === undefined) throw new RpcError('invalid', `id: a function id such as 0x84000000, not ${JSON.stringify(p.id)}`);
  const arch = p.arch === 'aarch32' ? 'aarch32' : 'aarch64';
  const values = [id];
  for (const [i, v] of (Array.isArray(p.args) ? p.args : []).slice(0, argRegisters(arch).length - 1).entries()) {
    const x = parseNumber(String(v));
    if (x === undefined) throw new RpcError('invalid', `args[${i}]: not a number: ${JSON.stringify(v)}`);
    values.push(x);
  }
  const args = argRegisters(arch, values);
  const imm = typeof p.imm === 'number' && Number.isInteger(p.imm) ? p.imm : 0;
  return decodeCall({ arch, conduit: p.conduit === 'hvc' ? 'hvc' : 'smc', imm, args, platform: typeof p.platform === 'string' ? p.platform : undefined });
}

export type { SessionInfo };
