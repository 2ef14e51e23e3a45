// StopEvent -> stop reply. A `T` packet names the signal, why the guest stopped
// (watch/rwatch/awatch with the data address, swbreak/hwbreak) and carries every
// core register, so gdb needs no `g` round trip after a step or a breakpoint.
// Traps, faults and the end of the guest also get a console line before it.
import type { StopEvent } from '../server/session/session.js';
import { FEATURE } from '../server/machine/registers.js';
import type { Stub } from './stub.js';

/** gdb's own signal numbers (include/gdb/signals.def), not the host's. */
export const SIG = { NONE: 0, INT: 2, ILL: 4, TRAP: 5, SEGV: 11 } as const;

/** The one vCPU is thread 1 (thread ids start at 1; 0 and -1 mean "any"/"all"). */
export const THREAD = 1;

const CORE_FEATURES: ReadonlySet<string> = new Set([FEATURE.a64core, FEATURE.armcore]);

function signalOf(ev: StopEvent): number {
  switch (ev.reason) {
    case 'pause': return SIG.INT;
    case 'fault': return SIG.SEGV;
    case 'exception': return /undefined/.test(ev.message ?? '') ? SIG.ILL : /abort/.test(ev.message ?? '') ? SIG.SEGV : SIG.TRAP;
    default: return SIG.TRAP;
  }
}

/** The line gdb prints for a trap, e.g. `Trap #3: HVC #0x0 PSCI_FEATURES(func=0x80000000)`. */
export function trapLine(ev: StopEvent): string | undefined {
  const t = ev.trap;
  if (!t) return undefined;
  return `Trap #${t.seq}: ${t.conduit.toUpperCase()} #0x${t.imm.toString(16)} ${t.decoded.summary}`;
}

/** What the user should hear besides the signal (gdb prints `O` packets as they come). */
export function consoleLines(ev: StopEvent): string[] {
  switch (ev.reason) {
    case 'trap': return [trapLine(ev)!];
    case 'fault': return [`Trapdoor: guest fault: ${ev.message ?? 'unmapped access'}`];
    case 'exception': return [`Trapdoor: ${ev.message ?? 'unexpected exception'}`];
    case 'limit': return [`Trapdoor: ${ev.message ?? 'instruction limit reached'}`];
    case 'idle': return [`Trapdoor: ${ev.message ?? 'the guest waits for an interrupt'}`];
    case 'exit': return [`Trapdoor: the guest ended: ${ev.message ?? 'exited'}`];
    default: return [];
  }
}

/** What a stop reply expedites: the core registers (names, and gdb's numbers for them), in layout order. */
export function stopRegisters(stub: Stub): { names: string[]; regnums: number[] } {
  return coreLayout(stub);
}

/** Expedited registers (values in coreLayout's order, gdb's form): `regnum:value;` each. */
function expedite(stub: Stub, values: readonly (string | undefined)[] | undefined): string {
  if (!values) return '';
  let out = '';
  const { nums } = coreLayout(stub);
  for (let i = 0; i < nums.length; i++) {
    const v = values[i];
    if (v !== undefined) out += nums[i] + v + ';';
  }
  return out;
}

/** The core registers of a layout: their names, and the `regnum:` expedite writes for each. */
function coreLayout(stub: Stub) {
  let c = CORE_LAYOUT.get(stub.layout);
  if (!c) {
    const core = stub.layout.filter((r) => CORE_FEATURES.has(r.feature));
    c = { names: core.map((r) => r.name), regnums: core.map((r) => r.regnum), nums: core.map((r) => `${r.regnum.toString(16)}:`) };
    CORE_LAYOUT.set(stub.layout, c);
  }
  return c;
}
const CORE_LAYOUT = new WeakMap<readonly unknown[], { names: string[]; regnums: number[]; nums: string[] }>();

/**
 * The stop reply for a stop event (or the initial state when the guest never ran),
 * with the registers read at the stop (stopRegisters, as Stub.session.targetRegisters gives them).
 * `asked` is true for `?`: it reports where the guest is, not a fresh event, so it
 * names no watchpoint (gdb would take it as a new hit).
 */
export function stopReply(stub: Stub, ev: StopEvent | undefined, regs: readonly (string | undefined)[] | undefined, asked = false): string {
  const head = stopHead(stub, ev, asked);
  return head === EXITED ? head : head + expedite(stub, regs);
}

/** The reply when the guest has ended. */
export const EXITED = 'W00';

/** A stop reply up to its registers: the signal, why (a watchpoint, a breakpoint's kind), the thread; or EXITED. */
export function stopHead(stub: Stub, ev: StopEvent | undefined, asked = false): string {
  if (ev?.reason === 'exit' || stub.session.state === 'exited') return EXITED;
  const sig = ev ? signalOf(ev) : SIG.TRAP;
  let reason = '';
  if (ev && !asked) {
    if (ev.reason === 'watchpoint' && ev.addr !== undefined) {
      const hit = stub.points.watchHit(BigInt(ev.addr), ev.access);
      if (hit) reason = `${hit.reason}:${hit.addr.toString(16)};`;
    } else if (ev.reason === 'breakpoint' && ev.addr !== undefined) {
      const kind = stub.points.breakKindAt(BigInt(ev.addr));
      if (kind === 'sw' && stub.gdbFeatures.has('swbreak+')) reason = 'swbreak:;';
      else if (kind === 'hw' && stub.gdbFeatures.has('hwbreak+')) reason = 'hwbreak:;';
    }
  }
  return `T${sig.toString(16).padStart(2, '0')}${reason}thread:${THREAD};`;
}
