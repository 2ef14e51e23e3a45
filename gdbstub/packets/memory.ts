// m/M/X: guest memory. Reads of RAM come straight from shared memory (no trip
// to the emulation thread); an unreadable address is an error reply (E14),
// and a read that runs into one returns the readable part, as gdb expects.
import { fail, type GdbError } from '../errors.js';
import { fromHex, parseHexNumber, toHex, unescapeBinary } from '../framing.js';
import type { PacketFamily, Stub } from '../stub.js';
import { hex } from '../../server/machine/memory.js';

const PAGE = 0x1000n;
const MAX_ADDR = 1n << 64n;

function addrLen(text: string): { addr: bigint; len: number } | GdbError {
  const comma = text.indexOf(',');
  const addr = parseHexNumber(text.slice(0, comma));
  const len = parseHexNumber(text.slice(comma + 1));
  if (comma < 0 || addr === undefined || len === undefined) return fail('malformed', `expected ADDR,LENGTH in hex, got '${text.slice(0, 40)}'`);
  if (addr + len > MAX_ADDR) return fail('invalid', 'the range wraps past the end of the address space');
  if (len > 0x7fff_ffffn) return fail('too-big', `${len} bytes is more than a packet can carry`);
  return { addr, len: Number(len) };
}

async function read(stub: Stub, addr: bigint, len: number): Promise<Uint8Array | GdbError> {
  const whole = await stub.session.readMemory({ addr: hex(addr), len });
  if (whole.ok) return whole.value;
  // Page by page up to the first unreadable one.
  const parts: Uint8Array[] = [];
  let a = addr;
  let left = len;
  while (left > 0) {
    const n = Math.min(left, Number(PAGE - (a % PAGE)));
    const p = await stub.session.readMemory({ addr: hex(a), len: n });
    if (!p.ok) break;
    parts.push(p.value);
    a += BigInt(n);
    left -= n;
  }
  if (!parts.length) return fail('memory', whole.error);
  return Buffer.concat(parts);
}

async function write(stub: Stub, addr: bigint, data: Uint8Array) {
  if (data.length === 0) return 'OK'; // gdb probes X support with an empty write
  const r = await stub.session.writeMemory({ addr: hex(addr), data });
  return r.ok ? 'OK' : fail('memory', r.error);
}

/** M (hex data) and X (binary data): ADDR,LENGTH:DATA, the same but for how DATA is coded. */
async function writePacket(stub: Stub, args: string, name: string, coding: string, decode: (text: string) => Uint8Array | null) {
  const colon = args.indexOf(':');
  const al = addrLen(colon < 0 ? args : args.slice(0, colon));
  if ('error' in al) return al;
  const data = colon < 0 ? null : decode(args.slice(colon + 1));
  if (!data || data.length !== al.len) return fail('malformed', `${name}: expected ${al.len} bytes of ${coding} data`);
  return write(stub, al.addr, data);
}

/** RAM as hex, at once (shared memory); undefined if any byte is not RAM. */
export function readRamHex(stub: Stub, addr: bigint, len: number): string | undefined {
  const r = stub.session.memory.read(addr, len);
  return r.ok ? toHex(r.value) : undefined;
}

export const memoryPackets: PacketFamily = {
  packets: {
    m: (stub, args) => {
      const al = addrLen(args);
      if ('error' in al) return al;
      if (al.len === 0) return fail('invalid', 'm: a zero-length read'); // an empty reply would mean "unsupported"
      const len = Math.min(al.len, stub.packetSize >> 1);
      // RAM answers now; device memory and partly unmapped ranges go through the vCPU.
      return readRamHex(stub, al.addr, len) ?? read(stub, al.addr, len).then((d) => (d instanceof Uint8Array ? toHex(d) : d));
    },
    M: (stub, args) => writePacket(stub, args, 'M', 'hex', fromHex),
    X: (stub, args) => writePacket(stub, args, 'X', 'binary', unescapeBinary),
  },
};
