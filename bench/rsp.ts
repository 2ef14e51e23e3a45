// The null stub for bench/gdb.ts: answers gdb's memory reads from a buffer, and
// gdb's breakpoint cycles on the bench's loop guest from a model of it, with no
// emulator behind it and every reply as good as ready. What gdb reaches against it
// is gdb's own ceiling (its parsing of the hex; its own work per stop, and a socket
// round trip for each packet it sends), the most any stub can get from that gdb.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FrameParser, frame } from '../gdbstub/framing.js';
import { PACKET_SIZE } from '../gdbstub/index.js';

/**
 * The null stub: enough of the protocol for gdb to attach to an AArch64 target
 * stopped at `code`'s base, and `m` answered from `data` placed at `base`, or
 * from `code` (zeros elsewhere). With `code` (the bench's loop: its last
 * instruction branches back to `code.loop`), breakpoints and runs are modelled:
 * a continue stops at the breakpoint, a step goes to the next instruction. The
 * packets gdb sends for a breakpoint cycle are the ones Trapdoor's stub gets
 * (thread list by qXfer, registers expedited in the stop reply).
 */
export function nullStub(base: bigint, data: Buffer, code?: { base: bigint; bytes: Buffer; loop: bigint }): Promise<{ port: number; close: () => Promise<void> }> {
  // Every reply is as good as ready before gdb asks: the hex of all the data, to
  // slice, and running sums of it, so that any slice's checksum is one subtraction.
  const hex = data.toString('hex');
  const sums = new Uint32Array(hex.length + 1);
  for (let i = 0; i < hex.length; i++) sums[i + 1] = sums[i] + hex.charCodeAt(i);
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const parser = new FrameParser(1 << 16);
    let ack = true;
    sock.on('error', () => undefined);
    // It busy-polls for a moment after each packet, as Trapdoor's stub does (gdbstub/connection.ts
    // keepHot): gdb's next packet is then taken without a wake-up, the cheapest a Node stub can be.
    let hotUntil = 0;
    let hot = false;
    const spin = () => { if (performance.now() < hotUntil && !sock.destroyed) setImmediate(spin); else hot = false; };
    sock.on('data', (b) => {
      hotUntil = performance.now() + 1;
      if (!hot) { hot = true; setImmediate(spin); }
      for (const ev of parser.push(b)) {
        if (ev.kind !== 'packet') continue;
        if (ack) sock.write('+');
        const slice = memorySlice(ev.data);
        if (slice) {
          const [a, b] = slice;
          sock.write(`$${hex.slice(a, b)}#${((sums[b] - sums[a]) & 0xff).toString(16).padStart(2, '0')}`, 'latin1');
        } else sock.write(frame(answer(ev.data)));
        if (ev.data === 'QStartNoAckMode') ack = false;
      }
    });
  });
  /** The hex range an `m` of the data asks for. */
  const memorySlice = (p: string): [number, number] | undefined => {
    const m = /^m([0-9a-f]+),([0-9a-f]+)$/.exec(p);
    if (!m) return undefined;
    const off = Number(BigInt('0x' + m[1]) - base);
    const len = Math.min(parseInt(m[2], 16), PACKET_SIZE >> 1);
    return off >= 0 && off + len <= data.length ? [off * 2, (off + len) * 2] : undefined;
  };
  let pc = code?.base ?? 0n;
  let bp: bigint | undefined;
  const le64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b.toString('hex'); };
  // x0-x30 and sp zero, pc, cpsr (EL1h): what Trapdoor expedites
  const stop = (swbreak: boolean) => `T05${swbreak ? 'swbreak:;' : ''}thread:1;` +
    Array.from({ length: 32 }, (_, i) => `${i.toString(16)}:${'0'.repeat(16)};`).join('') + `20:${le64(pc)};21:c5030000;`;
  const answer = (p: string): string => {
    if (p.startsWith('qSupported')) return `PacketSize=${PACKET_SIZE.toString(16)};QStartNoAckMode+${code ? ';qXfer:threads:read+;swbreak+' : ''}`;
    if (p === 'QStartNoAckMode' || p.startsWith('H')) return 'OK';
    if (code) {
      if (p === '?') return stop(false);
      if (p.startsWith('qXfer:threads:read::')) return 'l<?xml version="1.0"?>\n<threads>\n  <thread id="1" core="0" name="vCPU 0 (aarch64, stopped)"/>\n</threads>\n';
      const z = /^([Zz])0,([0-9a-f]+),4$/.exec(p);
      if (z) { bp = z[1] === 'Z' ? BigInt('0x' + z[2]) : undefined; return 'OK'; }
      if (p.startsWith('vCont;s')) { pc = pc + 4n >= code.base + BigInt(code.bytes.length) ? code.loop : pc + 4n; return stop(false); }
      if (p.startsWith('vCont;c')) { if (bp !== undefined) pc = bp; return stop(bp !== undefined); }
      if (p === 'vCont?') return 'vCont;c;C;s;S;t';
      const m = /^m([0-9a-f]+),([0-9a-f]+)$/.exec(p);
      const off = m ? Number(BigInt('0x' + m[1]) - code.base) : -1;
      if (m && off >= 0 && off + parseInt(m[2], 16) <= code.bytes.length) return code.bytes.subarray(off, off + parseInt(m[2], 16)).toString('hex');
    }
    if (p === '?') return 'S05';
    if (p === 'qAttached') return '1';
    if (p === 'g') return code ? '0'.repeat(32 * 16) + le64(pc) + 'c5030000' : '0'.repeat(34 * 16 - 8);
    if (p === 'D') return 'OK';
    const m = /^m([0-9a-f]+),([0-9a-f]+)$/.exec(p);
    if (m) return '00'.repeat(Math.min(parseInt(m[2], 16), PACKET_SIZE >> 1)); // outside the data
    return '';
  };
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: (server.address() as net.AddressInfo).port,
      close: () => new Promise<void>((r) => server.close(() => r())),
    }));
  });
}

// Run as a program (bench/gdb.ts starts it so: a process of its own, as QEMU and
// Trapdoor are): rsp.js BASE DATA_FILE [CODE_FILE CODE_BASE LOOP]; prints its port.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [base, dataFile, codeFile, codeBase, loop] = process.argv.slice(2);
  const code = codeFile ? { base: BigInt(codeBase), bytes: readFileSync(codeFile), loop: BigInt(loop) } : undefined;
  void nullStub(BigInt(base), readFileSync(dataFile), code).then((s) => console.log(s.port));
}
