// Minimal PL011 UART: enough for guests to print (DR, FR) and for Linux to probe it
// (PrimeCell id registers). Received data is not modelled yet.
import type { DeviceHandlers } from '../cpu.js';

const ID_REGS = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]; // 0xfe0..0xffc

export function pl011(onByte: (b: number) => void): DeviceHandlers {
  const regs = new Map<bigint, bigint>();
  return {
    read(off) {
      if (off === 0x18n) return 0x90n; // FR: TX FIFO empty, RX FIFO empty
      if (off >= 0xfe0n && off <= 0xffcn) return BigInt(ID_REGS[Number(off - 0xfe0n) >> 2]);
      return regs.get(off) ?? 0n;
    },
    write(off, _size, value) {
      if (off === 0n) onByte(Number(value & 0xffn));
      else regs.set(off, value);
    },
  };
}
