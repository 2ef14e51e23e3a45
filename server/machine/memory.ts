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

/** What a front-end reads of the memory map (the regions without their bytes): a MemoryMap, or one described over the wire. */
export interface AddressSpace {
  readonly top: bigint;
  readonly regions: readonly Pick<Region, 'kind' | 'name' | 'base' | 'size'>[];
  find(addr: bigint): Pick<Region, 'kind' | 'name' | 'base' | 'size'> | undefined;
}

export type MemResult<T> = { ok: true; value: T } | { ok: false; error: string };

export const hex = (v: bigint | number) => '0x' + v.toString(16);

/** One past the highest address: Unicorn maps AArch64 memory up to 2^64 - 1 (no wrap). */
export const TOP64 = 1n << 64n;
/** One past the highest address an AArch32 guest reaches (32-bit addresses, MMU off). */
export const TOP32 = 1n << 32n;

/** `1 MiB`, `4 KiB`, `0x1234 bytes`: a size as people read it. */
export function sizeText(n: bigint): string {
  if (n >= 1n << 30n && n % (1n << 30n) === 0n) return `${n >> 30n} GiB`;
  if (n >= 1n << 20n && n % (1n << 20n) === 0n) return `${n >> 20n} MiB`;
  if (n >= 1n << 10n && n % (1n << 10n) === 0n) return `${n >> 10n} KiB`;
  return `${hex(n)} bytes`;
}

/** `runs past the top of the 64-bit address space (...)`: why a range ending past `top` cannot be mapped. */
export function pastTop(top: bigint): string {
  if (top === TOP32) return `runs past the top of the 32-bit address space (${hex(top - 1n)} is the last address): an AArch32 guest has 32-bit addresses`;
  if (top === TOP64) return `runs past the top of the 64-bit address space (${hex(top - 1n)} is the last address; Unicorn cannot map a region that wraps)`;
  return `runs past the top of the address space (${hex(top - 1n)} is the last address)`;
}

/**
 * What to do when a device lands on memory (or memory on a device): devices the
 * user places with an option say which option moves them.
 */
const DEVICE_HINTS: [RegExp, string][] = [
  [/^uart/, 'move the UART with --uart ADDR, or run without it with --uart none'],
];

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
  if (base + size > TOP64) {
    return { ok: false, error: `bad --ram "${spec}": ${hex(base)} + ${sizeText(size)} ${pastTop(TOP64)}` };
  }
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

  /**
   * `top`: one past the highest address a region may cover (2^64 for AArch64, 2^32
   * for an AArch32 guest); past it Unicorn refuses the mapping with a bare UC_ERR_ARG.
   */
  constructor(readonly top: bigint = TOP64) {}

  /** Says why [base, base+size) cannot be in this address space, or undefined. */
  outOfRange(name: string, base: bigint, size: bigint): string | undefined {
    return base + size <= this.top ? undefined : `memory ${name} at ${hex(base)} (${sizeText(size)}) ${pastTop(this.top)}`;
  }

  /** Adds a region; refuses overlaps with a message naming both (and how to move a device). */
  add(r: Region): MemResult<Region> {
    const hintFor = (x: Region | undefined) => (x?.kind === 'mmio' ? DEVICE_HINTS.find(([re]) => re.test(x.name))?.[1] : undefined);
    const range = this.outOfRange(r.name, r.base, r.size);
    if (range) {
      const hint = hintFor(r);
      return { ok: false, error: range + (hint ? `: ${hint}` : '') };
    }
    for (const o of this.regions) {
      if (r.base < o.base + o.size && o.base < r.base + r.size) {
        const hint = hintFor(r) ?? hintFor(o);
        return {
          ok: false,
          error: `memory ${r.name} ${hex(r.base)}-${hex(r.base + r.size - 1n)} overlaps ${o.name} ${hex(o.base)}-${hex(o.base + o.size - 1n)}` +
            (hint ? `: ${hint} (or move the memory)` : ''),
        };
      }
    }
    this.regions.push(r);
    this.regions.sort((a, b) => (a.base < b.base ? -1 : 1));
    return { ok: true, value: r };
  }

  addRam(name: string, base: bigint, size: bigint): MemResult<RamRegion> {
    const range = this.outOfRange(name, base, size);
    if (range) return { ok: false, error: range };
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
