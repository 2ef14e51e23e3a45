// Register values in gdb's form: little-endian target bytes in hex, the size of
// the register. The core reads most registers as such bytes already
// (Cpu.readRegsTarget); this converts the others' values.

const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A register value as little-endian target bytes in hex (32 bits at a time: a stop reply has dozens). */
export function regToHex(value: bigint, bytes: number): string {
  let out = '';
  let v = value;
  for (let left = bytes; left > 0; left -= 4) {
    const word = Number(BigInt.asUintN(32, v));
    for (let i = 0; i < Math.min(4, left); i++) out += BYTE_HEX[(word >>> (i * 8)) & 0xff];
    v >>= 32n;
  }
  return out;
}
