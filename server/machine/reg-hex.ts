// Register values in gdb's form: little-endian target bytes in hex, the size of
// the register. The core reads most registers as such bytes already (Cpu.readRegsTarget);
// these convert the core's '0x...' text and BigInts.

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

/**
 * A value as the core gives it ('0x...' text) to little-endian hex of `bytes`
 * bytes, as regToHex, without making a BigInt (every stop reply carries ~35).
 */
export function hexTextToReg(text: string, bytes: number): string {
  const start = text.startsWith('0x') ? 2 : 0;
  const n = bytes * 2;
  if (n > LE_SCRATCH.length) return regToHex(BigInt(start ? text : '0x' + text), bytes);
  // digit p of the value padded to n digits is text[start + p - pad] (or '0' where p < pad)
  const pad = n - (text.length - start);
  for (let i = 0; i < bytes; i++) {
    const p = n - 2 - 2 * i;
    LE_SCRATCH[2 * i] = p >= pad ? text.charCodeAt(start + p - pad) : ZERO;
    LE_SCRATCH[2 * i + 1] = p + 1 >= pad ? text.charCodeAt(start + p + 1 - pad) : ZERO;
  }
  return String.fromCharCode.apply(null, LE_SCRATCH.subarray(0, n) as unknown as number[]);
}
const LE_SCRATCH = new Uint16Array(32);
const ZERO = 0x30;

