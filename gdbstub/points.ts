// The breakpoints and watchpoints one gdb client wants, and what is installed in
// the session. gdb removes every breakpoint at each stop and inserts them again
// before it resumes; doing that in the core costs a trip to the emulation thread
// each (and a translation-cache flush for a watchpoint), so Z/z only record what
// gdb wants and sync() makes the session match just before the guest runs.
// A breakpoint gdb no longer wants may stay
// installed: it is "stale", and a run that stops at it is resumed at once and
// the breakpoint removed then. In gdb's loop of stop, step over, continue, the
// same hooks stay put and Unicorn keeps its translated blocks.
// The book also remembers which Z kinds asked for an address (z0 must not drop a
// Z1 at the same place) and maps a watchpoint hit back to the Z2/Z3/Z4 that
// caused it. What a client leaves behind is removed when it goes.
import type { SessionClient as Client } from '../server/session/client.js';
import { hex } from '../server/machine/memory.js';

export type WatchKind = 'write' | 'read' | 'access';
export type BreakKind = 'sw' | 'hw';

export interface Watch { addr: bigint; len: number; kind: WatchKind }

/** The stop-reply reason gdb uses to find the watchpoint that fired. */
export const WATCH_REASON: Record<WatchKind, 'watch' | 'rwatch' | 'awatch'> = { write: 'watch', read: 'rwatch', access: 'awatch' };

const watchKey = (w: Watch) => `${w.addr}:${w.len}:${w.kind}`;

/** Stale breakpoints kept installed at most (the oldest go first). */
const STALE_LIMIT = 8;

export class Points {
  /** The Z kinds that asked for each address, and whether gdb said it holds Thumb code (kind 2 or 3 on AArch32). */
  private readonly wantBreaks = new Map<bigint, { kinds: Set<BreakKind>; thumb: boolean }>();
  private readonly wantWatches = new Map<string, Watch>();
  private readonly haveBreaks = new Set<bigint>();
  private readonly haveWatches = new Map<string, Watch>();

  constructor(private readonly session: Client) {}

  addBreak(addr: bigint, kind: BreakKind, thumb = false) {
    const want = this.wantBreaks.get(addr) ?? { kinds: new Set<BreakKind>(), thumb };
    want.kinds.add(kind);
    want.thumb = thumb;
    this.wantBreaks.set(addr, want);
  }

  removeBreak(addr: bigint, kind: BreakKind) {
    const want = this.wantBreaks.get(addr);
    if (want?.kinds.delete(kind) && !want.kinds.size) this.wantBreaks.delete(addr);
  }

  /** Which kind gdb asked for at an address (for swbreak/hwbreak). */
  breakKindAt(addr: bigint): BreakKind | undefined {
    const k = this.wantBreaks.get(addr)?.kinds;
    return k ? (k.has('sw') ? 'sw' : 'hw') : undefined;
  }

  /** A breakpoint hook is in the session at addr (wanted or stale). */
  installed(addr: bigint): boolean { return this.haveBreaks.has(addr); }

  /** Installed, but gdb does not want it: a stop there is not gdb's. */
  isStale(addr: bigint): boolean { return this.haveBreaks.has(addr) && !this.wantBreaks.has(addr); }

  /** Removes a stale breakpoint the guest just stopped at (posted at once). */
  dropStale(addr: bigint) {
    if (!this.isStale(addr)) return;
    this.haveBreaks.delete(addr);
    void this.session.removeBreakpoint({ addr: hex(addr) });
  }

  addWatch(w: Watch) { this.wantWatches.set(watchKey(w), w); }
  removeWatch(w: Watch) { this.wantWatches.delete(watchKey(w)); }

  /**
   * Makes the session match what gdb wants. The calls are posted at once (the
   * emulation thread takes them in order, before a run posted after them).
   * Stale breakpoints stay (up to STALE_LIMIT): a single step stops after one
   * instruction whatever hooks lie ahead (the core passes a breakpoint at the
   * address it resumes from), and a run that reaches one goes on (run control
   * in connection.ts). Watchpoints are always synced: an access during a step
   * gdb made with them removed must not be reported later.
   */
  sync(all = false): Promise<string[]> {
    const calls: Promise<{ ok: boolean; error?: string }>[] = [];
    const stale = [...this.haveBreaks].filter((a) => !this.wantBreaks.has(a));
    for (const a of all ? stale : stale.slice(0, Math.max(0, stale.length - STALE_LIMIT))) {
      this.haveBreaks.delete(a);
      calls.push(this.session.removeBreakpoint({ addr: hex(a) }));
    }
    for (const [a, want] of this.wantBreaks) {
      if (this.haveBreaks.has(a)) continue;
      this.haveBreaks.add(a);
      // one the core refused is not installed: the next sync tries again (and says why again)
      calls.push(this.session.addBreakpoint({ addr: hex(a), thumb: want.thumb }).then((r) => { if (!r.ok) this.haveBreaks.delete(a); return r; }));
    }
    for (const [k, w] of [...this.haveWatches]) {
      if (!this.wantWatches.has(k)) { this.haveWatches.delete(k); calls.push(this.session.removeWatchpoint({ addr: hex(w.addr), len: w.len, kind: w.kind })); }
    }
    for (const [k, w] of this.wantWatches) {
      if (!this.haveWatches.has(k)) { this.haveWatches.set(k, w); calls.push(this.session.addWatchpoint({ addr: hex(w.addr), len: w.len, kind: w.kind })); }
    }
    return Promise.all(calls).then((rs) => rs.flatMap((r) => (r.ok ? [] : [r.error ?? 'failed'])));
  }

  /**
   * The watchpoint an access hit, and the address to report: inside its range,
   * since gdb matches the reported address against [addr, addr+len).
   */
  watchHit(addr: bigint, access: string | undefined): { reason: 'watch' | 'rwatch' | 'awatch'; addr: bigint } | undefined {
    const watches = [...this.haveWatches.values()];
    const fits = (w: Watch) => access === undefined || w.kind === 'access' || (access === 'write') === (w.kind === 'write');
    const near = (w: Watch) => addr + 16n > w.addr && addr < w.addr + BigInt(w.len); // an access of up to 16 bytes may start before
    const inside = (w: Watch) => addr >= w.addr && addr < w.addr + BigInt(w.len);
    const w = watches.find((o) => fits(o) && inside(o)) ?? watches.find((o) => fits(o) && near(o))
      ?? watches.find(inside) ?? watches.find(near);
    if (!w) return undefined;
    return { reason: WATCH_REASON[w.kind], addr: addr < w.addr ? w.addr : addr };
  }

  /** Removes every point this client set (it detached or went away). */
  async clear(): Promise<void> {
    this.wantBreaks.clear();
    this.wantWatches.clear();
    await this.sync(true);
  }
}
