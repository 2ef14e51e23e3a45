// Builds the guest memory map and loads the image into it (main thread: RAM is
// shared memory, so the worker sees what is written here).
import { readFileSync, statSync } from 'node:fs';
import { parseElf, type ElfImage, type ElfSymbol } from '../machine/elf.js';
import { MemoryMap, hex, pageAlignDown, pageAlignUp, pastTop, sizeText, PAGE, TOP32, TOP64, type MemResult } from '../machine/memory.js';
import type { CpuArch } from '../machine/registers.js';

export interface ImageSpec {
  /** ELF file, or a raw binary when `load` is given. */
  path: string;
  /** Raw binary: load address (then `entry` defaults to it and `arch` is required). */
  load?: bigint;
  entry?: bigint;
  arch?: CpuArch;
}

export interface LoadedImage {
  arch: CpuArch;
  entry: bigint;
  symbols: ElfSymbol[];
  mem: MemoryMap;
  format: 'elf' | 'raw';
}

export function loadImage(image: ImageSpec, ram: { base: bigint; size: bigint }[]): MemResult<LoadedImage> {
  let bytes: Uint8Array;
  try {
    const st = statSync(image.path);
    if (st.isDirectory()) return { ok: false, error: `${image.path} is a directory, not a guest image` };
    bytes = readFileSync(image.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, error: code === 'ENOENT' ? `${image.path}: no such file (build the examples with \`make examples\`?)` : `${image.path}: cannot read (${code ?? String(e)})` };
  }
  // The architecture first: it decides how far the address space goes.
  let arch: CpuArch;
  let elf: ElfImage | undefined;
  if (image.load !== undefined) {
    if (!image.arch) return { ok: false, error: 'a raw binary needs --arch aarch64|arm' };
    arch = image.arch;
  } else {
    const parsed = parseElf(bytes, image.path);
    if (!parsed.ok) return parsed;
    elf = parsed.value;
    if (image.arch && image.arch !== elf.arch) return { ok: false, error: `${image.path} is an ${elf.arch} ELF but --arch ${image.arch} was given` };
    arch = elf.arch;
  }
  const mem = new MemoryMap(arch === 'arm' ? TOP32 : TOP64);
  for (const [i, r] of ram.entries()) {
    const added = mem.addRam(ram.length > 1 ? `ram${i}` : 'ram', r.base, r.size);
    if (!added.ok) return { ok: false, error: `${added.error} (check your --ram options)` };
  }
  const budget = { left: IMAGE_RAM_LIMIT };
  if (!elf) {
    const placed = place(mem, image.load!, bytes, BigInt(bytes.length), 'raw image', budget);
    if (!placed.ok) return placed;
    return { ok: true, value: { arch, entry: image.entry ?? image.load!, symbols: [], mem, format: 'raw' } };
  }
  for (const [i, s] of elf.segments.entries()) {
    const placed = place(mem, s.paddr, s.data, s.memsz, `segment ${i}`, budget);
    if (!placed.ok) return placed;
  }
  return { ok: true, value: { arch, entry: image.entry ?? elf.entry, symbols: elf.symbols, mem, format: 'elf' } };
}

/**
 * Copies data to [addr, addr+memsz), mapping RAM for any page no region covers
 * (`ld -Ttext=0x40000000` puts the ELF headers in a PT_LOAD just below the text).
 */
function place(mem: MemoryMap, addr: bigint, data: Uint8Array, memsz: bigint, what: string, budget: { left: bigint }): MemResult<true> {
  if (memsz === 0n) return { ok: true, value: true };
  const end = addr + memsz;
  if (end > mem.top) return { ok: false, error: `${what} at ${hex(addr)} (${sizeText(memsz)}) ${pastTop(mem.top)}` };
  let p = pageAlignDown(addr);
  while (p < end) {
    const r = mem.find(p);
    if (r) {
      if (r.kind !== 'ram') return { ok: false, error: `${what} at ${hex(addr)} lands on device ${r.name}` };
      p = r.base + r.size;
      continue;
    }
    let q = p;
    while (q < pageAlignUp(end) && !mem.find(q) && q - p <= budget.left) q += PAGE;
    if (q - p > budget.left) {
      const whole = budget.left < IMAGE_RAM_LIMIT ? ': with the segments before it, the image' : '';
      return { ok: false, error: `${what} at ${hex(addr)}${whole} needs more than ${IMAGE_RAM_LIMIT >> 20n} MiB outside the guest RAM: give it RAM with --ram BASE:SIZE` };
    }
    const added = mem.addRam(`image@${hex(p)}`, p, q - p);
    if (!added.ok) return added;
    budget.left -= q - p;
    p = q;
  }
  const w = writeRam(mem, addr, data);
  return w.ok ? { ok: true, value: true } : w;
}

/** RAM the loader adds by itself for segments outside --ram (headers, stray sections), in all. */
const IMAGE_RAM_LIMIT = 256n << 20n;

export function writeRam(mem: MemoryMap, addr: bigint, data: Uint8Array): MemResult<true> {
  let done = 0;
  while (done < data.length) {
    const a = addr + BigInt(done);
    const r = mem.find(a);
    if (!r || r.kind !== 'ram') return { ok: false, error: `address ${hex(a)} is not RAM` };
    const off = Number(a - r.base);
    const n = Math.min(data.length - done, Number(r.size) - off);
    new Uint8Array(r.buf, off, n).set(data.subarray(done, done + n));
    done += n;
  }
  return { ok: true, value: true };
}
