// Guest physical memory map. RAM lives in SharedArrayBuffers mapped into Unicorn
// with uc_mem_map_ptr, so every thread (the emulation worker, the front-ends on the
// main thread, later one worker per vCPU) sees the same bytes without copies.
export const PAGE = 0x1000n;
const MAX_REGION = 2n << 30n;

export interface RamRegion {
  kind: 'ram';
  name: string;
  base: bigint;
  size: bigint;
  buf: SharedArrayBuffer;
}
export interface MmioRegion {
  kind: 'mmio';
  name: string;
  base: bigint;
  size: bigint;
}
export type Region = RamRegion | MmioRegion;

export type MemResult<T> = { ok: true; value: T } | { ok: false; error: string };

export const hex = (v: bigint | number) => '0x' + v.toString(16);

export function pageAlignDown(v: bigint) { return v & ~(PAGE - 1n); }
export function pageAlignUp(v: bigint) { return (v + PAGE - 1n) & ~(PAGE - 1n); }

/** Parses `BASE:SIZE` with hex/decimal numbers and K/M/G suffixes (`0x40000000:128M`). */
export function parseRamSpec(spec: string): MemResult<{ base: bigint; size: bigint }> {
  const m = /^\s*([0-9a-fA-Fx_]+)\s*:\s*([0-9a-fA-Fx_]+)\s*([kKmMgG]?)\s*$/.exec(spec);
  if (!m) return { ok: false, error: `bad --ram "${spec}": expected BASE:SIZE, e.g. 0x40000000:128M` };
  const base = parseNumber(m[1]);
  let size = parseNumber(m[2]);
  if (base === undefined || size === undefined) return { ok: false, error: `bad --ram "${spec}": numbers must be decimal or 0x-hex` };
  size *= { '': 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n }[m[3].toLowerCase() as '' | 'k' | 'm' | 'g'];
  if (size === 0n) return { ok: false, error: `bad --ram "${spec}": size is zero` };
  if (base % PAGE || size % PAGE) return { ok: false, error: `bad --ram "${spec}": base and size must be multiples of 4 KiB` };
  return { ok: true, value: { base, size } };
}

/** Decimal or 0x-hex (underscores allowed), or undefined. Negative values are two's complement 64-bit. */
export function parseNumber(text: string): bigint | undefined {
  const t = text.trim().replace(/_/g, '');
  const neg = t.startsWith('-');
  const body = neg ? t.slice(1) : t;
  if (!/^(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(body)) return undefined;
  const v = BigInt(body);
  return neg ? (-v) & 0xffff_ffff_ffff_ffffn : v;
}

export class MemoryMap {
  readonly regions: Region[] = [];

  /** Adds a region; refuses overlaps with a message naming both. */
  add(r: Region): MemResult<Region> {
    for (const o of this.regions) {
      if (r.base < o.base + o.size && o.base < r.base + r.size) {
        return { ok: false, error: `memory ${r.name} ${hex(r.base)}-${hex(r.base + r.size - 1n)} overlaps ${o.name} ${hex(o.base)}-${hex(o.base + o.size - 1n)}` };
      }
    }
    this.regions.push(r);
    this.regions.sort((a, b) => (a.base < b.base ? -1 : 1));
    return { ok: true, value: r };
  }

  addRam(name: string, base: bigint, size: bigint): MemResult<RamRegion> {
    // One region is one SharedArrayBuffer seen through a Uint8Array: 2 GiB at most.
    if (size > MAX_REGION) return { ok: false, error: `memory ${name}: ${size >> 20n} MiB is more than one region holds (${MAX_REGION >> 20n} MiB): split it into several --ram regions` };
    let buf: SharedArrayBuffer;
    try {
      buf = new SharedArrayBuffer(Number(size));
    } catch {
      return { ok: false, error: `memory ${name}: cannot allocate ${size >> 20n} MiB of guest RAM on this machine` };
    }
    const r: RamRegion = { kind: 'ram', name, base, size, buf };
    const added = this.add(r);
    return added.ok ? { ok: true, value: r } : added;
  }

  find(addr: bigint): Region | undefined {
    for (const r of this.regions) if (addr >= r.base && addr < r.base + r.size) return r;
    return undefined;
  }

  /** Reads RAM directly from the shared buffers (any thread). MMIO and holes are errors. */
  read(addr: bigint, len: number): MemResult<Uint8Array> {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + BigInt(done);
      const r = this.find(a);
      if (!r) return { ok: false, error: `address ${hex(a)} is not mapped` };
      if (r.kind !== 'ram') return { ok: false, error: `address ${hex(a)} is device memory (${r.name})` };
      const off = Number(a - r.base);
      const n = Math.min(len - done, Number(r.size) - off);
      out.set(new Uint8Array(r.buf, off, n), done);
      done += n;
    }
    return { ok: true, value: out };
  }

  /** Plain description for the gdb memory map and the CLI. */
  describe() {
    return this.regions.map((r) => ({ kind: r.kind, name: r.name, base: r.base, size: r.size }));
  }
}
