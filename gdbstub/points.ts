// The breakpoints and watchpoints one gdb client inserted. The session holds one
// hook per address; this book remembers which Z kinds asked for it (so z0 does
// not drop a Z1 at the same place), maps a watchpoint hit back to the Z2/Z3/Z4
// that caused it, and removes everything the client left behind when it goes.
import type { Session } from '../server/session/session.js';

export type WatchKind = 'write' | 'read' | 'access';
export type BreakKind = 'sw' | 'hw';

export interface Watch { addr: bigint; len: number; kind: WatchKind }

/** The stop-reply reason gdb uses to find the watchpoint that fired. */
export const WATCH_REASON: Record<WatchKind, 'watch' | 'rwatch' | 'awatch'> = { write: 'watch', read: 'rwatch', access: 'awatch' };

export type PointResult = { ok: true } | { ok: false; error: string };

export class Points {
  private readonly breaks = new Map<bigint, Set<BreakKind>>();
  private readonly watches: Watch[] = [];

  constructor(private readonly session: Session) {}

  async addBreak(addr: bigint, kind: BreakKind): Promise<PointResult> {
    const kinds = this.breaks.get(addr);
    if (kinds) { kinds.add(kind); return { ok: true }; }
    const r = await this.session.addBreakpoint(addr);
    if (!r.ok) return r;
    this.breaks.set(addr, new Set([kind]));
    return { ok: true };
  }

  async removeBreak(addr: bigint, kind: BreakKind): Promise<PointResult> {
    const kinds = this.breaks.get(addr);
    if (!kinds?.delete(kind)) return { ok: true }; // gdb may remove what it never inserted
    if (kinds.size) return { ok: true };
    this.breaks.delete(addr);
    const r = await this.session.removeBreakpoint(addr);
    return r.ok ? { ok: true } : r;
  }

  /** Which kind gdb asked for at a stop address (for swbreak/hwbreak). */
  breakKindAt(addr: bigint): BreakKind | undefined {
    const k = this.breaks.get(addr);
    return k ? (k.has('sw') ? 'sw' : 'hw') : undefined;
  }

  async addWatch(w: Watch): Promise<PointResult> {
    const r = await this.session.addWatchpoint(w.addr, w.len, w.kind);
    if (!r.ok) return r;
    if (!this.watches.some((o) => o.addr === w.addr && o.len === w.len && o.kind === w.kind)) this.watches.push(w);
    return { ok: true };
  }

  async removeWatch(w: Watch): Promise<PointResult> {
    const i = this.watches.findIndex((o) => o.addr === w.addr && o.len === w.len && o.kind === w.kind);
    if (i < 0) return { ok: true };
    this.watches.splice(i, 1);
    const r = await this.session.removeWatchpoint(w.addr, w.len, w.kind);
    return r.ok ? { ok: true } : r;
  }

  /**
   * The watchpoint an access hit, and the address to report: inside its range,
   * since gdb matches the reported address against [addr, addr+len).
   */
  watchHit(addr: bigint, access: string | undefined): { reason: 'watch' | 'rwatch' | 'awatch'; addr: bigint } | undefined {
    const fits = (w: Watch) => access === undefined || w.kind === 'access' || (access === 'write') === (w.kind === 'write');
    const near = (w: Watch) => addr + 16n > w.addr && addr < w.addr + BigInt(w.len); // an access of up to 16 bytes may start before
    const inside = (w: Watch) => addr >= w.addr && addr < w.addr + BigInt(w.len);
    const w = this.watches.find((o) => fits(o) && inside(o)) ?? this.watches.find((o) => fits(o) && near(o))
      ?? this.watches.find(inside) ?? this.watches.find(near);
    if (!w) return undefined;
    return { reason: WATCH_REASON[w.kind], addr: addr < w.addr ? w.addr : addr };
  }

  get count(): number { return this.breaks.size + this.watches.length; }

  /** Removes every point this client set (it detached or went away). */
  async clear(): Promise<void> {
    const breaks = [...this.breaks.keys()];
    const watches = this.watches.splice(0);
    this.breaks.clear();
    for (const a of breaks) await this.session.removeBreakpoint(a);
    for (const w of watches) await this.session.removeWatchpoint(w.addr, w.len, w.kind);
  }
}
