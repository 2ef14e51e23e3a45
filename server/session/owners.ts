// Who owns the breakpoint or watchpoint a stop is at. The Session (main thread)
// keeps the owners; the worker keeps a copy (Session posts each change) for the
// runs it makes on its own for a gdb client it serves (gdbstub/hosted.ts).
import type { StopEvent, WatchKind } from './contract.js';

export interface WatchOwners { addr: bigint; len: number; kind: WatchKind; owners: Set<string> }

export const pointKey = (addr: bigint) => addr.toString(16);
export const watchKey = (addr: bigint, len: number, kind: WatchKind) => `${addr.toString(16)}:${len}:${kind}`;

/** Adds the owners of the point the guest stopped at (breakpoints by address, watchpoints by an access of up to 16 bytes). */
export function addOwners(ev: StopEvent, breaks: ReadonlyMap<string, Set<string>>, watches: ReadonlyMap<string, WatchOwners>) {
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
