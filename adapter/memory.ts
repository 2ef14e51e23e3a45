// readMemory and writeMemory: guest physical memory at a memoryReference (the
// hex addresses registers and frames carry) plus an offset. A read returns the
// readable part up to the first byte that is not mapped and says how many bytes
// after it cannot be read (`unreadableBytes`, up to the next mapped region or the
// end of the request), as the DAP specification asks. Addresses are unsigned and
// a range past the top of the guest's address space is refused, not wrapped.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { hex, type AddressSpace } from '../server/machine/memory.js';
import type { SessionClient } from '../server/session/session.js';
import { parseAddress, type Host } from './host.js';

const PAGE = 0x1000n;
/** The most one readMemory request returns (VS Code's memory views ask for far less). */
const MAX_READ = 16 << 20;

/** The first address of [ref+offset, +count), or why it is not an address range of this guest. */
export function rangeOf(mem: AddressSpace, ref: string, offset: number | undefined, count: number, what: string): bigint | string {
  const base = parseAddress(ref);
  if (base === undefined) return `${what}: memoryReference '${ref}' is not an address (write e.g. 0x40000000)`;
  if (offset !== undefined && !Number.isSafeInteger(offset)) return `${what}: offset ${offset} is not a whole number`;
  const start = base + BigInt(offset ?? 0);
  if (start < 0n) return `${what}: ${ref} ${offset} is below address 0 (addresses do not wrap)`;
  if (start + BigInt(count) > mem.top) {
    return `${what}: ${hex(start)} + ${count} bytes runs past the top of the ${mem.top === 1n << 32n ? '32' : '64'}-bit address space (${hex(mem.top - 1n)} is the last address; addresses do not wrap)`;
  }
  return start;
}

/** The end of the mapped regions that follow each other from addr (addr itself if it is not mapped), at most `limit`. */
function mappedEnd(mem: AddressSpace, addr: bigint, limit: bigint): bigint {
  let end = addr;
  for (let r = mem.find(end); r && end < limit; r = mem.find(end)) end = r.base + r.size;
  return end < limit ? end : limit;
}

/** The next mapped address after addr, at most `limit`. */
function nextMapped(mem: AddressSpace, addr: bigint, limit: bigint): bigint {
  let next = limit;
  for (const r of mem.regions) if (r.base > addr && r.base < next) next = r.base;
  return next;
}

/** The bytes from addr up to the first that cannot be read, and how many after it cannot. */
export async function readUpTo(c: SessionClient, addr: bigint, count: number): Promise<{ data: Uint8Array; unreadable: number }> {
  const limit = addr + BigInt(count);
  const end = mappedEnd(c.memory, addr, limit);
  let data: Uint8Array = new Uint8Array(0);
  if (end > addr) {
    const whole = await c.readMemory({ addr: hex(addr), len: Number(end - addr) });
    if (whole.ok) data = whole.value;
    else {
      // device memory the vCPU cannot read: page by page up to the first failure
      const parts: Uint8Array[] = [];
      for (let a = addr; a < end;) {
        const n = Number((a / PAGE + 1n) * PAGE < end ? (a / PAGE + 1n) * PAGE - a : end - a);
        const p = await c.readMemory({ addr: hex(a), len: n });
        if (!p.ok) break;
        parts.push(p.value);
        a += BigInt(n);
      }
      data = Buffer.concat(parts);
    }
  }
  const stop = addr + BigInt(data.length);
  return { data, unreadable: stop < limit ? Number(nextMapped(c.memory, stop, limit) - stop) : 0 };
}

export async function readMemory(host: Host, response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): Promise<void> {
  const c = host.need(response);
  if (!c) return;
  if (!Number.isSafeInteger(args.count) || args.count < 0) return host.fail(response, `readMemory: count ${args.count} is not a number of bytes`);
  const count = Math.min(args.count, MAX_READ);
  const start = rangeOf(c.memory, args.memoryReference, args.offset, count, 'readMemory');
  if (typeof start === 'string') return host.fail(response, start);
  const { data, unreadable } = await readUpTo(c, start, count);
  response.body = { address: hex(start), data: Buffer.from(data).toString('base64') };
  if (unreadable) response.body.unreadableBytes = unreadable;
  host.sendResponse(response);
}

export async function writeMemory(host: Host, response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): Promise<void> {
  const c = host.stoppedClient(response);
  if (!c) return;
  const text = String(args.data ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return host.fail(response, 'writeMemory: data is not base64');
  const data = new Uint8Array(Buffer.from(text, 'base64'));
  const start = rangeOf(c.memory, args.memoryReference, args.offset, data.length, 'writeMemory');
  if (typeof start === 'string') return host.fail(response, start);
  // what can be written: the mapped regions from start on (a write stops at the first hole)
  const end = mappedEnd(c.memory, start, start + BigInt(data.length));
  const n = Number(end - start);
  if (n < data.length && (!args.allowPartial || n === 0)) {
    return host.fail(response, `writeMemory: ${hex(end)} is not mapped: nothing was written${args.allowPartial ? '' : ` (allowPartial writes the ${n} bytes before it)`}`);
  }
  const w = await c.writeMemory({ addr: hex(start), data: data.subarray(0, n) });
  if (!w.ok) return host.fail(response, `writeMemory: ${w.error}`);
  response.body = { offset: args.offset, bytesWritten: n };
  host.sendResponse(response);
  host.changed([{ addr: start, len: n }]);
}
