// Rendering helpers shared by every decoder, so that a value looks the same in a
// summary, an argument list and a trap record.

export const MASK32 = 0xffffffffn;
export const MASK64 = 0xffffffffffffffffn;

/** `0x` + lowercase hex, no padding. Negative values are shown as 64-bit two's complement. */
export function formatHex(v: bigint | number): string {
  let b = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
  if (b < 0n) b &= MASK64;
  return `0x${b.toString(16)}`;
}

/** A 32-bit SMCCC function id as "0x84000003" (always 8 digits). */
export function formatId(id: number): string {
  return `0x${(id >>> 0).toString(16).padStart(8, '0')}`;
}

/** Two-digit, four-digit hex without prefix (PCI addresses and the like). */
export function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/**
 * Guest text made safe for one log line: printable ASCII kept, common control
 * characters escaped C-style, anything else as \xNN.
 */
export function escapeText(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x22) out += '\\"';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${hex2(b)}`;
  }
  return out;
}
