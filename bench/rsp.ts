// The null stub for bench/gdb.ts: answers gdb's memory reads from a buffer, with
// no emulator behind it and every reply as good as ready. What gdb reaches against
// it is gdb's own ceiling (its parsing of the hex), the most any stub can get from
// that gdb.
import net from 'node:net';
import { FrameParser, frame } from '../gdbstub/framing.js';
import { PACKET_SIZE } from '../gdbstub/index.js';

/**
 * The null stub: enough of the protocol for gdb to attach to an AArch64 target
 * stopped at 0, and `m` answered from `data` placed at `base` (zeros elsewhere).
 */
export function nullStub(base: bigint, data: Buffer): Promise<{ port: number; close: () => Promise<void> }> {
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
    sock.on('data', (b) => {
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
  const answer = (p: string): string => {
    if (p.startsWith('qSupported')) return `PacketSize=${PACKET_SIZE.toString(16)};QStartNoAckMode+`;
    if (p === 'QStartNoAckMode' || p.startsWith('H')) return 'OK';
    if (p === '?') return 'S05';
    if (p === 'qAttached') return '1';
    if (p === 'g') return '0'.repeat(34 * 16 - 8);
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
