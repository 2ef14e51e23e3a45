// Every breakpoint of the adapter in one book: instruction, function and source
// (line) breakpoints, data breakpoints (watchpoints), and the adapter's own
// temporary `step` points (stepOut, next over a call: frames.ts). DAP sends each
// kind as a whole set (source breakpoints: one set per source file); the book
// keeps every kind's points and makes the Client's breakpoints match the union
// (one Session breakpoint per address, however many points want it), so
// replacing one kind, or one file's line breakpoints, never removes another's. A
// stop at an address says which kinds were there: reason 'instruction
// breakpoint', 'function breakpoint', 'breakpoint' (a line) or 'data
// breakpoint', with the hitBreakpointIds of every point there. Function
// breakpoints are ELF symbols (`puts`, `print_result+0x10`); data breakpoints
// are watchpoints on an address, a symbol, or the address a register holds.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { StoppedEvent } from '@vscode/debugadapter';
import { hex } from '../server/machine/memory.js';
import { editDistance } from '../server/policy/values.js';
import type { SessionClient, StopEvent } from '../server/session/session.js';
import type { WatchKind } from '../server/session/contract.js';
import { parseAddress, THREAD, type Host } from './host.js';

/** Who wants a breakpoint: a DAP kind, or the adapter for one step ('step'). */
export type PointKind = 'instruction' | 'function' | 'source' | 'step';
/** group: the set a point belongs to within its kind (a source breakpoint's file; '' for the others). */
interface Point { id: number; kind: PointKind; group: string; addr: bigint; thumb: boolean }
interface Watch { id: number; addr: bigint; len: number; kind: WatchKind }

const REASON: Record<Exclude<PointKind, 'step'>, string> = { instruction: 'instruction breakpoint', function: 'function breakpoint', source: 'breakpoint' };
const ACCESS: Record<string, WatchKind> = { read: 'read', write: 'write', readWrite: 'access' };
const ACCESS_NAME: Record<WatchKind, DebugProtocol.DataBreakpointAccessType> = { read: 'read', write: 'write', access: 'readWrite' };

let lastId = 0;
/** A breakpoint id unique in this adapter (every kind draws from it, so hitBreakpointIds never mix two up). */
export function newBreakpointId(): number { return ++lastId; }

/** `name`, `name+0x10` or `name+16`: a symbol and an offset. */
function splitSymbol(text: string): { name: string; offset: bigint } | undefined {
  const m = /^\s*([^\s+]+)\s*(?:\+\s*(0x[0-9a-f]+|[0-9]+))?\s*$/i.exec(text);
  return m ? { name: m[1], offset: m[2] ? BigInt(m[2]) : 0n } : undefined;
}

/** " (did you mean puts)", or nothing when no symbol is close. */
function didYouMean(c: SessionClient, name: string): string {
  let best: { name: string; d: number } | undefined;
  for (const s of c.symbols) {
    const d = editDistance(name.toLowerCase(), s.name.toLowerCase());
    if (!best || d < best.d) best = { name: s.name, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean ${best.name})` : '';
}

/** The address of a symbol expression (`puts`, `puts+0x8`), whether it is Thumb code, or why not. */
export function resolveSymbol(c: SessionClient, text: string, forCode: boolean): { addr: bigint; thumb: boolean; size: bigint } | string {
  const e = splitSymbol(text);
  if (!e) return `'${text}' is not a symbol or symbol+offset (e.g. puts or print_result+0x10)`;
  const s = c.symbol(e.name);
  if (!s) return c.symbols.length ? `no symbol named ${e.name}${didYouMean(c, e.name)}` : `no symbol named ${e.name}: the image has no symbol table`;
  if (forCode && s.type === 'object') return `${e.name} is a data object, not code (a data breakpoint watches it)`;
  const thumb = c.arch === 'arm' && s.type === 'func' && (s.value & 1n) === 1n;
  return { addr: (thumb ? s.value & ~1n : s.value) + e.offset, thumb, size: e.offset ? 0n : s.size };
}

/** Whether code at addr is Thumb: an odd address, or inside a Thumb function symbol (AArch32 only). */
function thumbAt(c: SessionClient, addr: bigint): boolean {
  if (c.arch !== 'arm') return false;
  if (addr & 1n) return true;
  let best: { value: bigint; thumb: boolean } | undefined;
  for (const s of c.symbols) {
    if (s.type !== 'func') continue;
    const v = s.value & ~1n;
    if (v <= addr && (!best || v > best.value)) best = { value: v, thumb: (s.value & 1n) === 1n };
  }
  return best?.thumb ?? false;
}

export class Breakpoints {
  private points: Point[] = [];
  private watches: Watch[] = [];
  /** The addresses and watch keys the client has now. */
  private readonly haveBreaks = new Map<bigint, boolean>();
  private readonly haveWatches = new Map<string, Watch>();

  // ---------------------------------------------------------------- making the client match
  /** Adds and removes the client's breakpoints to match the book; the error of each address that could not be set. */
  private syncBreaks(c: SessionClient): Promise<Map<bigint, string>> {
    const want = new Map<bigint, boolean>();
    for (const p of this.points) want.set(p.addr, p.thumb);
    // every call is posted before the first answer comes back, so the next run sees them all
    const jobs: Promise<unknown>[] = [];
    for (const addr of [...this.haveBreaks.keys()]) {
      if (want.has(addr)) continue;
      this.haveBreaks.delete(addr);
      jobs.push(c.removeBreakpoint({ addr: hex(addr) }));
    }
    const errors = new Map<bigint, string>();
    for (const [addr, thumb] of want) {
      if (this.haveBreaks.has(addr)) continue;
      this.haveBreaks.set(addr, thumb);
      jobs.push(c.addBreakpoint({ addr: hex(addr), thumb }).then((r) => {
        if (!r.ok) { errors.set(addr, r.error); this.haveBreaks.delete(addr); }
      }));
    }
    return Promise.all(jobs).then(() => errors);
  }

  private async syncWatches(c: SessionClient): Promise<Map<string, string>> {
    const key = (w: Watch) => `${w.addr}:${w.len}:${w.kind}`;
    const want = new Map(this.watches.map((w) => [key(w), w]));
    const errors = new Map<string, string>();
    const jobs: Promise<unknown>[] = [];
    for (const [k, w] of [...this.haveWatches]) {
      if (want.has(k)) continue;
      this.haveWatches.delete(k);
      jobs.push(c.removeWatchpoint({ addr: hex(w.addr), len: w.len, kind: w.kind }));
    }
    for (const [k, w] of want) {
      if (this.haveWatches.has(k)) continue;
      this.haveWatches.set(k, w);
      jobs.push(c.addWatchpoint({ addr: hex(w.addr), len: w.len, kind: w.kind }).then((r) => {
        if (!r.ok) { errors.set(k, r.error); this.haveWatches.delete(k); }
      }));
    }
    await Promise.all(jobs);
    return errors;
  }

  /**
   * Replaces the points of one kind (and group: a source file's line
   * breakpoints); answers each wanted one with its id and the error that kept it
   * out of the client, if any. A point at an address it already had keeps its id.
   */
  async replace(c: SessionClient, kind: PointKind, wanted: { addr: bigint; thumb: boolean }[], group = ''): Promise<{ id: number; error?: string }[]> {
    const same = (p: Point) => p.kind === kind && p.group === group;
    const old = this.points.filter(same);
    const mine = wanted.map((w) => {
      // each old point gives its id once: two lines moved to one address keep two ids
      const i = old.findIndex((p) => p.addr === w.addr);
      const id = i >= 0 ? old.splice(i, 1)[0].id : newBreakpointId();
      return { id, kind, group, addr: w.addr, thumb: w.thumb };
    });
    this.points = [...this.points.filter((p) => !same(p)), ...mine];
    const errors = await this.syncBreaks(c);
    return mine.map((p) => ({ id: p.id, error: errors.get(p.addr) }));
  }

  /** The adapter's breakpoint for one step (stepOut, next over a call): gone at the next stop other than a pause (endStep). */
  async stepTo(c: SessionClient, addr: bigint, thumb: boolean): Promise<string | undefined> {
    this.points.push({ id: 0, kind: 'step', group: '', addr, thumb });
    return (await this.syncBreaks(c)).get(addr);
  }

  /**
   * A stop ends the adapter's step points: they go, and a breakpoint stop at
   * one where no other point is becomes the 'step' stop it is. A step that meets
   * a trap, a breakpoint or a pause first ends there, as gdb's `finish` does.
   */
  endStep(c: SessionClient, ev: StopEvent): StopEvent {
    const steps = this.points.filter((p) => p.kind === 'step');
    if (!steps.length) return ev;
    this.points = this.points.filter((p) => p.kind !== 'step');
    void this.syncBreaks(c);
    if (ev.reason !== 'breakpoint') return ev;
    const at = BigInt(ev.addr ?? ev.pc);
    return steps.some((p) => p.addr === at) && !this.points.some((p) => p.addr === at) ? { ...ev, reason: 'step' } : ev;
  }

  /** Puts every point into a new client (restart): the same program has the same addresses. */
  async reinstall(c: SessionClient): Promise<void> {
    this.points = this.points.filter((p) => p.kind !== 'step');
    this.haveBreaks.clear();
    this.haveWatches.clear();
    await Promise.all([this.syncBreaks(c), this.syncWatches(c)]);
  }

  // ---------------------------------------------------------------- stops
  /** How a stop is reported when one of these points caused it; undefined for other stops (endStep has run). */
  stopped(c: SessionClient, ev: StopEvent): DebugProtocol.StoppedEvent | undefined {
    if (ev.reason === 'breakpoint') {
      const at = BigInt(ev.addr ?? ev.pc);
      const hits = this.points.filter((p) => p.addr === at);
      const kind = (['instruction', 'function', 'source'] as const).find((k) => hits.some((p) => p.kind === k));
      const stopped = new StoppedEvent(kind ? REASON[kind] : 'breakpoint', THREAD) as DebugProtocol.StoppedEvent;
      if (hits.length) stopped.body.hitBreakpointIds = hits.map((p) => p.id);
      // another client's (a served session: gdb's, another editor's)
      const others = (ev.owners ?? []).filter((o) => o !== c.name);
      if (!hits.length && others.length) stopped.body.description = `a breakpoint of ${others.join(', ')} at ${ev.addr ?? ev.pc}`;
      stopped.body.allThreadsStopped = true;
      return stopped;
    }
    if (ev.reason === 'watchpoint' && ev.addr !== undefined) {
      const at = BigInt(ev.addr);
      const fits = (w: Watch) => w.kind === 'access' || w.kind === ev.access;
      // the watch holding the accessed byte; else one the access overlaps (a wide access starting below it)
      let hits = this.watches.filter((w) => fits(w) && at >= w.addr && at < w.addr + BigInt(w.len));
      if (!hits.length) hits = this.watches.filter((w) => fits(w) && at + 16n > w.addr && at < w.addr + BigInt(w.len));
      const stopped = new StoppedEvent('data breakpoint', THREAD, `${ev.access ?? 'access'} at ${ev.addr}`) as DebugProtocol.StoppedEvent;
      stopped.body.description = `${ev.access ?? 'access'} of ${ev.addr} (${c.symbolize(at) ?? 'no symbol'}) by the instruction before ${ev.pc}`;
      if (hits.length) stopped.body.hitBreakpointIds = hits.map((w) => w.id);
      stopped.body.allThreadsStopped = true;
      return stopped;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- requests
  async setInstruction(host: Host, response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments) {
    const c = host.need(response);
    if (!c) return;
    const answers: (DebugProtocol.Breakpoint | undefined)[] = [];
    const wanted: { addr: bigint; thumb: boolean }[] = [];
    const where: number[] = [];
    for (const b of args.breakpoints ?? []) {
      const base = parseAddress(b.instructionReference);
      const addr = base === undefined ? undefined : base + BigInt(Number.isSafeInteger(b.offset) ? b.offset! : 0);
      let error: string | undefined;
      if (addr === undefined) error = `instructionReference '${b.instructionReference}' is not an address (e.g. 0x40000010)`;
      else if (addr < 0n || addr >= c.memory.top) error = `${hex(addr)} is outside the guest's address space`;
      else if (!c.memory.find(addr & ~1n)) error = `${hex(addr)} is not in guest memory`;
      if (error !== undefined || addr === undefined) { answers.push({ verified: false, message: error, reason: 'failed' } as DebugProtocol.Breakpoint); continue; }
      where.push(answers.length);
      answers.push(undefined);
      wanted.push({ addr: addr & ~1n, thumb: thumbAt(c, addr) });
    }
    const set = await host.whileStopped(c, () => this.replace(c, 'instruction', wanted));
    set.forEach((r, i) => {
      const a = wanted[i].addr;
      answers[where[i]] = r.error
        ? { id: r.id, verified: false, message: r.error, reason: 'failed', instructionReference: hex(a) } as DebugProtocol.Breakpoint
        : { id: r.id, verified: true, instructionReference: hex(a) };
    });
    response.body = { breakpoints: answers as DebugProtocol.Breakpoint[] };
    host.sendResponse(response);
  }

  async setFunction(host: Host, response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments) {
    const c = host.need(response);
    if (!c) return;
    const resolved = (args.breakpoints ?? []).map((b) => resolveSymbol(c, b.name, true));
    const wanted = resolved.flatMap((r) => (typeof r === 'string' ? [] : [{ addr: r.addr, thumb: r.thumb }]));
    const set = await host.whileStopped(c, () => this.replace(c, 'function', wanted));
    let i = 0;
    const breakpoints = resolved.map((r): DebugProtocol.Breakpoint => {
      if (typeof r === 'string') return { verified: false, message: r, reason: 'failed' } as DebugProtocol.Breakpoint;
      const s = set[i++];
      const ref = hex(r.addr);
      return s.error
        ? { id: s.id, verified: false, message: s.error, reason: 'failed', instructionReference: ref } as DebugProtocol.Breakpoint
        : { id: s.id, verified: true, instructionReference: ref, message: `${c.symbolize(r.addr) ?? ref} at ${ref}` };
    });
    response.body = { breakpoints };
    host.sendResponse(response);
  }

  /** What can be watched for a register (the address it holds) or an address expression (0x40001000, a symbol, symbol+0x8). */
  async dataInfo(host: Host, response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments) {
    const c = host.need(response);
    if (!c) return;
    const none = (description: string) => {
      response.body = { dataId: null, description };
      host.sendResponse(response);
    };
    if (!c.caps.watchpoints) return none(`data breakpoints cannot fire: ${c.caps.why.watchpoints}`);
    const word = c.arch === 'aarch64' ? 8 : 4;
    let addr: bigint;
    let len: number;
    let what: string;
    let persists = true;
    if (args.variablesReference !== undefined && !args.asAddress) {
      // a register: watch the memory at the address it holds
      const r = await c.readRegisters({ names: [args.name] });
      if (!r.ok || r.value[args.name] === undefined) return none(`${args.name} is not a register: only registers (the address they hold) and addresses can be watched`);
      addr = BigInt(r.value[args.name]);
      len = args.bytes ?? word;
      what = `the address in ${args.name}`;
      persists = false;
    } else {
      const a = parseAddress(args.name);
      if (a !== undefined) { addr = a; len = args.bytes ?? word; what = args.name; } else {
        const s = resolveSymbol(c, args.name, false);
        if (typeof s === 'string') return none(s);
        addr = s.addr;
        len = args.bytes ?? (s.size > 0n && s.size <= 0x1000n ? Number(s.size) : word);
        what = args.name;
      }
    }
    if (!Number.isSafeInteger(len) || len <= 0) return none(`cannot watch ${len} bytes`);
    if (addr + BigInt(len) > c.memory.top) return none(`${hex(addr)} + ${len} bytes runs past the top of the address space`);
    if (!c.memory.find(addr)) return none(`${hex(addr)} (${what}) is not in guest memory`);
    response.body = {
      dataId: `${hex(addr)}:${len}`,
      description: `${len} bytes at ${hex(addr)} (${what})`,
      accessTypes: ['write', 'read', 'readWrite'],
      canPersist: persists,
    };
    host.sendResponse(response);
  }

  async setData(host: Host, response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments) {
    const c = host.need(response);
    if (!c) return;
    const answers: DebugProtocol.Breakpoint[] = [];
    const next: Watch[] = [];
    const keys: (string | undefined)[] = [];
    for (const b of args.breakpoints ?? []) {
      const m = /^(0x[0-9a-f]+):(\d+)$/i.exec(b.dataId);
      const kind = ACCESS[b.accessType ?? 'write'];
      if (!m || !kind) {
        answers.push({ verified: false, reason: 'failed', message: !m ? `dataId '${b.dataId}' is not one of this adapter's (ask dataBreakpointInfo)` : `access type ${b.accessType}: use read, write or readWrite` } as DebugProtocol.Breakpoint);
        keys.push(undefined);
        continue;
      }
      const addr = BigInt(m[1]);
      const len = Number(m[2]);
      const id = this.watches.find((w) => w.addr === addr && w.len === len && w.kind === kind)?.id ?? newBreakpointId();
      next.push({ id, addr, len, kind });
      keys.push(`${addr}:${len}:${kind}`);
      answers.push({ id, verified: true, message: `${ACCESS_NAME[kind]} of ${len} bytes at ${hex(addr)}` } as DebugProtocol.Breakpoint);
    }
    if (!c.caps.watchpoints && next.length) {
      // said once per breakpoint, in the words of the capability
      const why = `data breakpoints cannot fire: ${c.caps.why.watchpoints}`;
      response.body = { breakpoints: answers.map((a) => (a.verified ? { id: a.id, verified: false, reason: 'failed', message: why } as DebugProtocol.Breakpoint : a)) };
      return host.sendResponse(response);
    }
    this.watches = next;
    const errors = await host.whileStopped(c, () => this.syncWatches(c));
    keys.forEach((k, i) => {
      const e = k && errors.get(k);
      if (e) answers[i] = { id: answers[i].id, verified: false, reason: 'failed', message: e } as DebugProtocol.Breakpoint;
    });
    response.body = { breakpoints: answers };
    host.sendResponse(response);
  }
}
