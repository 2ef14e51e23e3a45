// RSP framing: `$data#cs` packets with a modulo-256 checksum, `+`/`-` acks, the
// out-of-band Ctrl-C byte, binary escaping and hex. Packet data is handled as
// latin1 strings: one char per byte, so binary `X` data survives unchanged.

/** Everything the byte stream can carry, in arrival order. */
export type FrameEvent =
  | { kind: 'packet'; data: string }
  | { kind: 'bad-checksum'; data: string }
  | { kind: 'oversized'; size: number }
  | { kind: 'ack' }
  | { kind: 'nack' }
  | { kind: 'interrupt' };

const DOLLAR = 0x24;
const HASH = 0x23;
const PLUS = 0x2b;
const MINUS = 0x2d;
const CTRL_C = 0x03;

export const ESCAPE = 0x7d;

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Run-length encoding of reply data: a run becomes the character, `*` and a
 * repeat count + 29 (3..97 more copies; 6 and 7 would be `#` and `$`). gdb
 * expands runs before it unescapes binary data, so any reply may use it.
 * Memory that is mostly zeros (fresh RAM) shrinks ~30x on the wire. It is
 * frame's own encoding: the data of the frame.
 */
export function runLengthEncode(data: string): string {
  const f = frame(data);
  return f.toString('latin1', 1, f.length - 3);
}

/**
 * `$data#cs` as bytes ready for the socket, the data run-length encoded
 * (runLengthEncode says how). Every reply goes through here (a stop reply is ~700
 * bytes): one pass over the bytes, compacted in place (an encoded run is never
 * longer than the run), the checksum taken on the way.
 */
export function frame(raw: string): Buffer {
  const n = raw.length;
  const out = Buffer.allocUnsafe(n + 4);
  out[0] = DOLLAR;
  out.write(raw, 1, 'latin1');
  let w = 1;
  let sum = 0;
  if (n < 8) {
    for (let i = 1; i <= n; i++) sum += out[i];
    w = n + 1;
  } else {
    for (let i = 1; i <= n;) {
      const c = out[i];
      let j = i + 1;
      while (j <= n && out[j] === c) j++;
      let left = j - i;
      while (left >= 4) {
        let more = left - 1 > 97 ? 97 : left - 1;
        if (more === 6 || more === 7) more = 5; // 29 + 6, 29 + 7 are `#` and `$`
        out[w++] = c; out[w++] = STAR; out[w++] = 29 + more;
        sum += c + STAR + 29 + more;
        left -= more + 1;
      }
      for (; left > 0; left--) { out[w++] = c; sum += c; }
      i = j;
    }
  }
  out[w] = HASH;
  out[w + 1] = HEX_DIGITS[(sum >> 4) & 0xf];
  out[w + 2] = HEX_DIGITS[sum & 0xf];
  return out.subarray(0, w + 3);
}
const STAR = 0x2a;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Splits the incoming byte stream into frame events. A packet longer than
 * `maxData` is consumed to its end and reported as oversized (never buffered);
 * a `$` inside a packet means the previous one was cut short: it is dropped.
 */
export class FrameParser {
  private state: 'idle' | 'data' | 'cs1' | 'cs2' = 'idle';
  private chunks: Buffer[] = [];
  private size = 0;
  private sum = 0;
  private cs = 0;
  private overflow = false;
  /** The packet's data is buf[from, to) of the buffer being pushed (the usual case: no chunks kept). */
  private whole: { from: number; to: number } | undefined;

  constructor(private readonly maxData: number) {}

  /** No packet is half read. */
  get idle(): boolean { return this.state === 'idle'; }

  /**
   * Feeds bytes; returns the complete events they finish. `buf` is not kept: the
   * caller may reuse it (the bytes of a packet cut short are copied).
   */
  push(buf: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let start = this.state === 'data' ? 0 : -1; // start of the data run inside buf
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      switch (this.state) {
        case 'idle':
          if (c === DOLLAR) {
            this.begin();
            start = i + 1;
          } else if (c === PLUS) events.push({ kind: 'ack' });
          else if (c === MINUS) events.push({ kind: 'nack' });
          else if (c === CTRL_C) events.push({ kind: 'interrupt' });
          // anything else between packets is line noise
          break;
        case 'data':
          if (c === HASH) {
            // all of it in this buffer: read in place at the checksum
            if (start >= 0 && !this.chunks.length && i - start <= this.maxData) this.whole = { from: start, to: i };
            else if (start >= 0) this.keep(buf, start, i);
            start = -1;
            this.state = 'cs1';
          } else if (c === DOLLAR) {
            // the previous packet never ended: start over at this one
            this.begin();
            start = i + 1;
          } else {
            this.sum = (this.sum + c) & 0xff;
          }
          break;
        case 'cs1':
          this.cs = hexDigit(c);
          this.state = 'cs2';
          break;
        case 'cs2': {
          const d = hexDigit(c);
          const cs = d < 0 || this.cs < 0 ? -1 : (this.cs << 4) | d;
          this.state = 'idle';
          if (this.overflow) { events.push({ kind: 'oversized', size: this.size }); break; }
          const w = this.whole;
          const data = w ? buf.toString('latin1', w.from, w.to) : Buffer.concat(this.chunks, this.size).toString('latin1');
          events.push(cs === this.sum ? { kind: 'packet', data } : { kind: 'bad-checksum', data });
          this.chunks = [];
          this.whole = undefined;
          break;
        }
      }
    }
    if (this.state === 'data' && start >= 0) this.keep(buf, start, buf.length);
    // the checksum comes in the next bytes: keep the data (buf is not ours to keep)
    if (this.whole) { this.keep(buf, this.whole.from, this.whole.to); this.whole = undefined; }
    return events;
  }

  private begin() {
    this.state = 'data';
    this.whole = undefined;
    this.chunks = [];
    this.size = 0;
    this.sum = 0;
    this.overflow = false;
  }

  private keep(buf: Buffer, from: number, to: number) {
    const n = to - from;
    this.size += n;
    if (this.overflow) return;
    if (this.size > this.maxData) { this.overflow = true; this.chunks = []; return; }
    if (n > 0) this.chunks.push(Buffer.from(buf.subarray(from, to)));
  }
}

// ---------------------------------------------------------------- binary and hex

/** Undoes `}` escaping (byte ^ 0x20) of binary packet data; null if it ends mid-escape. */
export function unescapeBinary(data: string): Uint8Array | null {
  const out = new Uint8Array(data.length);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === ESCAPE) {
      if (++i >= data.length) return null;
      out[n++] = data.charCodeAt(i) ^ 0x20;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/** Escapes `$`, `#`, `}` and `*` for binary replies (qXfer). */
export function escapeBinary(text: string): string {
  return text.replace(/[$#}*]/g, (ch) => '}' + String.fromCharCode(ch.charCodeAt(0) ^ 0x20));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict hex to bytes: null on odd length or a non-hex digit. */
export function fromHex(text: string): Uint8Array | null {
  if (text.length % 2 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export function textToHex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

export function hexToText(text: string): string | null {
  const b = fromHex(text);
  return b ? Buffer.from(b).toString('utf8') : null;
}

/** A hex number as the protocol writes them (no 0x); undefined unless all hex. */
export function parseHexNumber(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return BigInt('0x' + text);
}

export { regToHex } from '../server/machine/reg-hex.js';

/** Little-endian hex back to a value; undefined unless exactly `bytes` bytes of hex. */
export function hexToReg(text: string, bytes: number): bigint | undefined {
  if (text.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  let v = 0n;
  for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(parseInt(text.slice(i * 2, i * 2 + 2), 16));
  return v;
}
