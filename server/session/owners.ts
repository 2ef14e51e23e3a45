// Who owns which breakpoint and watchpoint. The emulation thread keeps the table:
// every change is made there, in order, whoever asks (the Session's calls and the
// gdb clients served on that thread alike: gdbstub/hosted.ts), so the owners and
// the CPU's hooks never disagree and a gdb client's Z/z packets cost no trip
// between threads. A stop carries its point's owners from there.
import type { Cpu } from '../machine/cpu.js';
import { fail, ok, type Result } from '../result.js';
import type { StopEvent, WatchKind } from './contract.js';

export interface WatchOwners { addr: bigint; len: number; kind: WatchKind; owners: Set<string> }

const pointKey = (addr: bigint) => addr.toString(16);
const watchKey = (addr: bigint, len: number, kind: WatchKind) => `${addr.toString(16)}:${len}:${kind}`;

/** Adds the owners of the point the guest stopped at (breakpoints by address, watchpoints by an access of up to 16 bytes). */
function addOwners(ev: StopEvent, breaks: ReadonlyMap<string, Set<string>>, watches: ReadonlyMap<string, WatchOwners>) {
  if (ev.addr === undefined) return;
  const addr = BigInt(ev.addr);
  if (ev.reason === 'breakpoint') {
    const o = breaks.get(pointKey(addr));
    if (o) ev.owners = [...o];
  } else if (ev.reason === 'watchpoint') {
    const owners = new Set<string>();
    for (const w of watches.values()) if (addr + 16n > w.addr && addr < w.addr + BigInt(w.len)) for (const o of w.owners) owners.add(o);
    ev.owners = [...owners];
  }
}

/** The points of every owner: the CPU's hook comes with a point's first owner and goes with its last. */
export class OwnedPoints {
  readonly breaks = new Map<string, Set<string>>();
  readonly watches = new Map<string, WatchOwners>();

  constructor(private readonly cpu: () => Cpu) {}

  /** `thumb`: the address holds Thumb code (AArch32); see Cpu.addBreakpoint. */
  addBreak(owner: string, addr: bigint, thumb = false): Result<true> {
    const key = pointKey(addr);
    const owners = this.breaks.get(key);
    if (owners) { owners.add(owner); return ok(true); }
    const r = this.cpu().addBreakpoint(addr, thumb);
    if (!r.ok) return fail('invalid', r.error);
    this.breaks.set(key, new Set([owner]));
    return ok(true);
  }

  /** False when the owner had no breakpoint there. */
  removeBreak(owner: string, addr: bigint): boolean {
    const key = pointKey(addr);
    const owners = this.breaks.get(key);
    if (!owners?.delete(owner)) return false;
    if (!owners.size) {
      this.breaks.delete(key);
      this.cpu().removeBreakpoint(addr);
    }
    return true;
  }

  addWatch(owner: string, addr: bigint, len: number, kind: WatchKind): Result<true> {
    const key = watchKey(addr, len, kind);
    const w = this.watches.get(key);
    if (w) { w.owners.add(owner); return ok(true); }
    const r = this.cpu().addWatchpoint(addr, len, kind);
    if (!r.ok) return fail('invalid', r.error);
    this.watches.set(key, { addr, len, kind, owners: new Set([owner]) });
    return ok(true);
  }

  removeWatch(owner: string, addr: bigint, len: number, kind: WatchKind): boolean {
    const key = watchKey(addr, len, kind);
    const w = this.watches.get(key);
    if (!w?.owners.delete(owner)) return false;
    if (!w.owners.size) {
      this.watches.delete(key);
      this.cpu().removeWatchpoint(addr, len, kind);
    }
    return true;
  }

  /** Removes every point this owner set (a client that detached or went away). */
  clear(owner: string) {
    for (const [key, owners] of [...this.breaks]) if (owners.has(owner)) this.removeBreak(owner, BigInt('0x' + key));
    for (const w of [...this.watches.values()]) if (w.owners.has(owner)) this.removeWatch(owner, w.addr, w.len, w.kind);
  }

  /** The owners of the point a stop is at (StopEvent.owners). */
  ownersOf(ev: StopEvent) { addOwners(ev, this.breaks, this.watches); }
}
