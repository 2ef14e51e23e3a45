// Z/z: breakpoints (Z0 software, Z1 hardware: both are exact code hooks in the
// core) and watchpoints (Z2 write, Z3 read, Z4 access). The core stops at the
// block boundary after a watched access and reports its address and kind; the
// stop reply names the watchpoint with watch:/rwatch:/awatch:. The session is
// changed when the guest next runs (points.ts).
import { fail } from '../errors.js';
import { parseHexNumber } from '../framing.js';
import type { BreakKind, WatchKind } from '../points.js';
import type { PacketFamily, Stub } from '../stub.js';

const TYPES: Record<string, { break: BreakKind } | { watch: WatchKind }> = {
  '0': { break: 'sw' },
  '1': { break: 'hw' },
  '2': { watch: 'write' },
  '3': { watch: 'read' },
  '4': { watch: 'access' },
};

function point(stub: Stub, args: string, insert: boolean) {
  // type,addr,kind[;cond_list][;cmds:...]: conditions are evaluated by gdb, not here
  const [head] = args.split(';');
  const [type, addrText, kindText, extra] = head.split(',');
  const addr = parseHexNumber(addrText ?? '');
  const kind = parseHexNumber(kindText ?? '');
  const t = TYPES[type];
  if (!t) return ''; // an unknown type is unsupported, not an error
  if (addr === undefined || kind === undefined || extra !== undefined) return fail('malformed', `Z${args}: expected TYPE,ADDR,KIND`);
  if ('break' in t) {
    // ARM kinds: 2 and 3 are Thumb (16- and 32-bit), 4 is ARM
    const thumb = stub.session.arch === 'arm' && (kind === 2n || kind === 3n);
    if (insert) stub.points.addBreak(addr, t.break, thumb); else stub.points.removeBreak(addr, t.break);
    return 'OK';
  }
  // A mode whose watchpoints cannot fire says so (gdb then watches by single-stepping).
  if (!stub.session.caps.watchpoints) return '';
  if (kind === 0n || kind > 0x1000_0000n || addr + kind > 1n << 64n) return fail('invalid', `watchpoint length ${kind} is out of range`);
  const w = { addr, len: Number(kind), kind: t.watch };
  if (insert) stub.points.addWatch(w); else stub.points.removeWatch(w);
  return 'OK';
}

export const breakpointPackets: PacketFamily = {
  // We report why a breakpoint stop happened (swbreak:/hwbreak: in the T packet).
  features: () => ['swbreak+', 'hwbreak+'],
  packets: {
    Z: (stub, args) => point(stub, args, true),
    z: (stub, args) => point(stub, args, false),
  },
};
