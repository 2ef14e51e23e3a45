// ELF loader: program headers, entry and symbol table (kept for the front-ends).
// Accepts little-endian ELF32 (EM_ARM) and ELF64 (EM_AARCH64).
export type ElfArch = 'aarch64' | 'arm';

export interface ElfSegment { paddr: bigint; vaddr: bigint; data: Uint8Array; memsz: bigint; flags: number }
export interface ElfSymbol { name: string; value: bigint; size: bigint; type: 'func' | 'object' | 'notype' | 'other' }
export interface ElfImage { arch: ElfArch; entry: bigint; segments: ElfSegment[]; symbols: ElfSymbol[] }

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const EM_ARM = 40;
const EM_AARCH64 = 183;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;

export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

export function parseElf(buf: Uint8Array, name = 'image'): Result<ElfImage> {
  const bad = (why: string): Result<ElfImage> => ({ ok: false, error: `${name}: not a usable ELF file: ${why}` });
  if (!isElf(buf)) return bad('no ELF magic (for a raw binary use --load ADDR and --entry ADDR)');
  if (buf.length < 52) return bad(`truncated (${buf.length} bytes, the ELF header alone is 52)`);
  const cls = buf[4];
  if (cls !== 1 && cls !== 2) return bad(`unknown ELF class ${cls}`);
  if (buf[5] !== 1) return bad('big-endian ELF is not supported');
  const is64 = cls === 2;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = (off: number, len: number) => off >= 0 && off + len <= buf.length;
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const addr = (o: number) => (is64 ? dv.getBigUint64(o, true) : BigInt(dv.getUint32(o, true)));
  if (is64 && buf.length < 64) return bad(`truncated (${buf.length} bytes, the ELF64 header alone is 64)`);
  const machine = u16(18);
  let arch: ElfArch;
  if (machine === EM_AARCH64 && is64) arch = 'aarch64';
  else if (machine === EM_ARM && !is64) arch = 'arm';
  else return bad(`machine ${machine} (${is64 ? 'ELF64' : 'ELF32'}) is not AArch64 or ARM`);
  const entry = addr(24);
  const phoff = Number(is64 ? dv.getBigUint64(32, true) : BigInt(u32(28)));
  const shoff = Number(is64 ? dv.getBigUint64(40, true) : BigInt(u32(32)));
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const shentsize = u16(is64 ? 58 : 46);
  const shnum = u16(is64 ? 60 : 48);
  if (phnum === 0) return bad('no program headers (link it, do not load a .o)');
  if (!need(phoff, phnum * phentsize)) return bad('truncated: program headers lie past the end of the file');
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (u32(o) !== PT_LOAD) continue;
    let flags: number, off: number, vaddr: bigint, paddr: bigint, filesz: number, memsz: bigint;
    if (is64) {
      flags = u32(o + 4); off = Number(dv.getBigUint64(o + 8, true)); vaddr = dv.getBigUint64(o + 16, true);
      paddr = dv.getBigUint64(o + 24, true); filesz = Number(dv.getBigUint64(o + 32, true)); memsz = dv.getBigUint64(o + 40, true);
    } else {
      off = u32(o + 4); vaddr = BigInt(u32(o + 8)); paddr = BigInt(u32(o + 12)); filesz = u32(o + 16);
      memsz = BigInt(u32(o + 20)); flags = u32(o + 24);
    }
    if (!need(off, filesz)) return bad(`truncated: segment ${i} needs bytes ${off}..${off + filesz} but the file has ${buf.length}`);
    if (memsz < BigInt(filesz)) return bad(`segment ${i} has memsz < filesz`);
    segments.push({ paddr, vaddr, data: buf.subarray(off, off + filesz), memsz, flags });
  }
  if (segments.length === 0) return bad('no PT_LOAD segment');
  const symbols: ElfSymbol[] = [];
  if (shoff && shnum && need(shoff, shnum * shentsize)) {
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      if (u32(o + 4) !== SHT_SYMTAB) continue;
      const symOff = Number(is64 ? dv.getBigUint64(o + 24, true) : BigInt(u32(o + 16)));
      const symSize = Number(is64 ? dv.getBigUint64(o + 32, true) : BigInt(u32(o + 20)));
      const entSize = is64 ? 24 : 16;
      const strHdr = shoff + (is64 ? u32(o + 40) : u32(o + 24)) * shentsize; // sh_link: its string table
      if (!need(strHdr, shentsize)) break;
      const strOff = Number(is64 ? dv.getBigUint64(strHdr + 24, true) : BigInt(u32(strHdr + 16)));
      const strSize = Number(is64 ? dv.getBigUint64(strHdr + 32, true) : BigInt(u32(strHdr + 20)));
      if (!need(symOff, symSize) || !need(strOff, strSize)) break;
      const dec = new TextDecoder();
      for (let s = symOff + entSize; s + entSize <= symOff + symSize; s += entSize) {
        const nameOff = u32(s);
        const info = is64 ? buf[s + 4] : buf[s + 12];
        const shndx = is64 ? u16(s + 6) : u16(s + 14);
        const value = is64 ? dv.getBigUint64(s + 8, true) : BigInt(u32(s + 4));
        const size = is64 ? dv.getBigUint64(s + 16, true) : BigInt(u32(s + 8));
        // undefined (0) and special sections (ABS constants such as .equ values, COMMON)
        if (shndx === 0 || shndx >= 0xff00 || nameOff === 0 || nameOff >= strSize) continue;
        let end = strOff + nameOff;
        while (end < strOff + strSize && buf[end] !== 0) end++;
        const nm = dec.decode(buf.subarray(strOff + nameOff, end));
        if (!nm || nm.startsWith('$')) continue; // mapping symbols ($x, $d, $a, $t)
        const t = info & 0xf;
        symbols.push({ name: nm, value, size, type: t === 2 ? 'func' : t === 1 ? 'object' : t === 0 ? 'notype' : 'other' });
      }
    }
  }
  return { ok: true, value: { arch, entry, segments, symbols } };
}
