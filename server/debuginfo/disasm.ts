// Disassembly listings for debugger front-ends: Capstone (its WebAssembly build,
// @alexaltea/capstone-js) for A64, A32 and Thumb, chosen at each address by the
// ELF's mapping symbols and else the CPU state; `$d` bytes are shown as data.
// Capstone loads on the first listing only (~3 MB of WebAssembly, a quarter of a
// second): `trapdoor run` and a debug session that never disassembles do not pay it.
// Addresses are unsigned 64-bit and wrap at 2^64.
import type { DebugInfo, Isa } from './index.js';

export const MASK64 = (1n << 64n) - 1n;
export const wrap64 = (a: bigint) => a & MASK64;

/** One line of a listing. */
export interface ListItem {
  address: bigint;
  /** Bytes it covers (the step to the next item). */
  size: number;
  isa: Isa;
  /** `mnemonic operands`, `.word 0x...`, or why there is no instruction. */
  text: string;
  /** The encoding as objdump shows it: one word, Thumb halfwords, or data. */
  bytes?: string;
  /** Unreadable memory or an encoding Capstone does not decode. */
  invalid: boolean;
}

/** Reads guest memory; undefined where it cannot (unmapped). */
export type ReadMemory = (addr: bigint, len: number) => Promise<Uint8Array | undefined>;

interface Decoder { decode(isa: 'a64' | 'a32' | 'thumb', bytes: Uint8Array, addr: bigint): { size: number; text: string } | undefined }

let loading: Promise<Decoder> | undefined;

/** Capstone, loaded on first use. */
export function decoder(): Promise<Decoder> {
  return (loading ??= (async () => {
    const { default: MCapstone } = await import('@alexaltea/capstone-js');
    const cs = await MCapstone();
    const handles = {
      a64: new cs.Capstone(cs.ARCH_ARM64, cs.MODE_ARM),
      a32: new cs.Capstone(cs.ARCH_ARM, cs.MODE_ARM),
      thumb: new cs.Capstone(cs.ARCH_ARM, cs.MODE_THUMB),
    };
    // immediates as unsigned where the encoding allows it (Thumb `mov.w r0, #0x84000000`, as objdump)
    for (const h of Object.values(handles)) h.option(cs.OPT_UNSIGNED, cs.OPT_ON);
    return {
      decode(isa, bytes, addr) {
        try {
          // Capstone takes the address as a signed 64-bit value; branch targets come out right either way
          const [i] = handles[isa].disasm(Array.from(bytes), BigInt.asIntN(64, addr), 1);
          return i ? { size: i.size, text: i.op_str ? `${i.mnemonic} ${i.op_str}` : i.mnemonic } : undefined;
        } catch {
          return undefined; // cs_disasm found no instruction: an invalid encoding
        }
      },
    };
  })());
}

const hex = (v: number, digits: number) => v.toString(16).padStart(digits, '0');
const le = (b: Uint8Array, o: number, n: number) => { let v = 0; for (let i = n - 1; i >= 0; i--) v = v * 256 + b[o + i]; return v; };

/** A 32-bit Thumb instruction starts with a halfword 0b11101..., 0b11110... or 0b11111.... */
export const thumbWide = (hw: number) => (hw >> 11) >= 0b11101;

export class Lister {
  /** Instruction starts of Thumb code decoded from a known start (a mapping symbol or a symbol), by that start. */
  private readonly thumbStarts = new Map<bigint, bigint[]>();

  constructor(
    private readonly cs: Decoder,
    private readonly info: DebugInfo,
    private readonly read: ReadMemory,
    /** The CPU is in Thumb state (AArch32 CPSR.T): the ISA where no mapping symbol says. */
    private readonly cpuThumb: boolean,
  ) {}

  isaAt(addr: bigint): Isa { return this.info.isaAt(addr, this.cpuThumb); }

  /** The item at addr. */
  async item(addr: bigint): Promise<ListItem> {
    const isa = this.isaAt(addr);
    if (isa === 'data') {
      // words, or the smaller piece up to the next word boundary or mapping symbol
      const end = this.info.mappedRegion(addr)?.end;
      let size = 4 - Number(addr & 3n);
      if (end !== undefined && end > addr && end - addr < BigInt(size)) size = Number(end - addr);
      const b = await this.read(addr, size);
      if (!b) return { address: addr, size, isa, text: '(unreadable)', invalid: true };
      const v = hex(le(b, 0, size), size * 2);
      return { address: addr, size, isa, text: `${size === 4 ? '.word' : size === 2 ? '.short' : '.byte'} 0x${v}`, bytes: v, invalid: false };
    }
    const min = isa === 'thumb' ? 2 : 4;
    let b = await this.read(addr, min);
    if (!b) return { address: addr, size: min, isa, text: '(unreadable)', invalid: true };
    if (isa === 'thumb' && thumbWide(le(b, 0, 2))) {
      const w = await this.read(addr, 4);
      if (!w) return { address: addr, size: 2, isa, text: '(unreadable)', invalid: true };
      b = w;
    }
    const bytes = isa === 'thumb'
      ? [hex(le(b, 0, 2), 4), ...(b.length === 4 ? [hex(le(b, 2, 2), 4)] : [])].join(' ')
      : hex(le(b, 0, 4), 8);
    const d = this.cs.decode(isa, b, addr);
    if (!d) return { address: addr, size: b.length, isa, text: `.inst 0x${bytes.replace(' ', '')} (invalid)`, bytes, invalid: true };
    return { address: addr, size: d.size, isa, text: d.text, bytes, invalid: false };
  }

  /** The start of the instruction (or data item) before the one at addr. */
  async previous(addr: bigint): Promise<bigint> {
    const before = wrap64(addr - 1n);
    const isa = this.isaAt(before);
    const region = this.info.mappedRegion(before);
    if (isa === 'thumb') {
      const starts = await this.thumbFrom(before, region?.start);
      if (starts) {
        for (let i = starts.length - 1; i >= 0; i--) if (starts[i] < addr) return starts[i];
      }
      return wrap64(addr - 2n);
    }
    const step = isa === 'data' && (addr & 3n) !== 0n ? addr & 3n : 4n;
    const prev = wrap64(addr - step);
    // not back across the start of the region (a data word after Thumb code may start at a halfword)
    if (region && prev < region.start && region.start < addr) return region.start;
    return prev;
  }

  /**
   * Instruction starts of the Thumb code around `at`, decoded forward from the nearest
   * known start at or below it: a mapping symbol or a symbol, at most 16 KiB back.
   */
  private async thumbFrom(at: bigint, regionStart: bigint | undefined): Promise<bigint[] | undefined> {
    let sync = regionStart;
    for (const s of this.info.symbols) {
      if (s.type === 'object') continue;
      const v = s.value & ~1n;
      if (v <= at && (sync === undefined || v > sync) && this.isaAt(v) === 'thumb') sync = v;
    }
    if (sync === undefined || at - sync > 0x4000n) return undefined;
    const known = this.thumbStarts.get(sync);
    if (known && known[known.length - 1] > at) return known;
    const starts: bigint[] = [];
    let a = sync;
    const end = this.info.mappedRegion(at)?.end;
    while (a <= at + 4n && (end === undefined || a < end)) {
      starts.push(a);
      const it = await this.item(a);
      if (it.isa !== 'thumb') break;
      a += BigInt(it.size);
    }
    starts.push(a);
    this.thumbStarts.set(sync, starts);
    return starts;
  }

  /**
   * Exactly `count` items: the item at `base` (aligned to its instruction size) moved
   * by `instructionOffset` items (negative: back), and the ones after it.
   */
  async list(base: bigint, instructionOffset: number, count: number): Promise<ListItem[]> {
    base = wrap64(base);
    const isa = this.isaAt(base);
    if (isa === 'a64' || isa === 'a32') base &= ~3n;
    else if (isa === 'thumb') base &= ~1n;
    let start = base;
    if (instructionOffset < 0) {
      for (let i = 0; i < -instructionOffset; i++) start = await this.previous(start);
    } else {
      for (let i = 0; i < instructionOffset; i++) start = wrap64(start + BigInt((await this.item(start)).size));
    }
    const out: ListItem[] = [];
    let a = start;
    while (out.length < count) {
      const it = await this.item(a);
      out.push(it);
      a = wrap64(a + BigInt(it.size));
    }
    return out;
  }
}
