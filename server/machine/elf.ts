// ELF loader: program headers, entry and symbol table (kept for the front-ends).
// Accepts little-endian ELF32 (EM_ARM) and ELF64 (EM_AARCH64). Every offset, size
// and count is checked against the file before it is read: a truncated or corrupt
// file is an error value naming the field, never an exception.
export type ElfArch = 'aarch64' | 'arm';

export interface ElfSegment { paddr: bigint; vaddr: bigint; data: Uint8Array; memsz: bigint; flags: number }
export interface ElfSymbol { name: string; value: bigint; size: bigint; type: 'func' | 'object' | 'notype' | 'other' }
/**
 * An ARM ELF mapping symbol (`$x` A64, `$a` A32, `$t` Thumb, `$d` data; `$x.foo` too):
 * from `addr` on, up to the next one, the bytes are of that kind.
 */
export interface ElfMappingSymbol { addr: bigint; kind: 'x' | 'a' | 't' | 'd' }
/** A section with contents in the file (the debug sections' bytes are read from here). */
export interface ElfSection { name: string; addr: bigint; data: Uint8Array }
export interface ElfImage {
  arch: ElfArch; entry: bigint; segments: ElfSegment[]; symbols: ElfSymbol[];
  /** Mapping symbols, sorted by address. */
  mapping: ElfMappingSymbol[];
  /** Sections with a name and file contents (not SHT_NOBITS); unreadable ones are left out. */
  sections: ElfSection[];
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const EM_ARM = 40;
const EM_AARCH64 = 183;
const ET_REL = 1;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_NOBITS = 8;
const SHN_XINDEX = 0xffff;
const SHN_LORESERVE = 0xff00;

/** Sizes of the headers and entries the loader reads, by class. */
const SIZES = {
  32: { ehdr: 52, phdr: 32, shdr: 40, sym: 16 },
  64: { ehdr: 64, phdr: 56, shdr: 64, sym: 24 },
} as const;

const REBUILD = 'rebuild it or copy it again';

export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

const hex = (v: bigint | number) => '0x' + v.toString(16);

export function parseElf(buf: Uint8Array, name = 'image'): Result<ElfImage> {
  const bad = (why: string): Result<ElfImage> => ({ ok: false, error: `${name}: not a usable ELF file: ${why}` });
  if (!isElf(buf)) return bad('no ELF magic (for a raw binary use --load ADDR and --entry ADDR)');
  if (buf.length < 6) return bad(`truncated (${buf.length} bytes, the ELF header alone is 52): ${REBUILD}`);
  const cls = buf[4];
  if (cls !== 1 && cls !== 2) return bad(`corrupt: unknown ELF class ${cls} (1 is ELF32, 2 is ELF64): ${REBUILD}`);
  if (buf[5] === 2) return bad('big-endian ELF is not supported: build the guest little-endian');
  if (buf[5] !== 1) return bad(`corrupt: unknown data encoding ${buf[5]} (1 is little-endian): ${REBUILD}`);
  const is64 = cls === 2;
  const S = SIZES[is64 ? 64 : 32];
  const kind = is64 ? 'ELF64' : 'ELF32';
  if (buf.length < S.ehdr) return bad(`truncated (${buf.length} bytes, the ${kind} header alone is ${S.ehdr}): ${REBUILD}`);
  const size = BigInt(buf.length);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  /** [off, off+len) lies in the file (bigints: 64-bit fields are compared exactly). */
  const inFile = (off: bigint, len: bigint) => off <= size && len <= size - off;
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  /** An address, offset or size field: 64-bit in ELF64, 32-bit in ELF32. */
  const word = (o: number) => (is64 ? dv.getBigUint64(o, true) : BigInt(dv.getUint32(o, true)));
  const pastEnd = (what: string, off: bigint, len: bigint) =>
    bad(`truncated or corrupt: ${what} (bytes ${hex(off)}..${hex(off + len)}) runs past the end of the file (${buf.length} bytes): ${REBUILD}`);

  const machine = u16(18);
  let arch: ElfArch;
  if (machine === EM_AARCH64 && is64) arch = 'aarch64';
  else if (machine === EM_ARM && !is64) arch = 'arm';
  else if (machine === EM_AARCH64) return bad('machine is AArch64 (183) but the class is ELF32: AArch64 guests are ELF64 (ILP32 images are not supported)');
  else if (machine === EM_ARM) return bad('machine is ARM (40) but the class is ELF64: AArch32 guests are ELF32');
  else return bad(`machine ${machine} (${kind}) is not AArch64 (183) or ARM (40): build the guest for aarch64 or arm`);
  if (u16(16) === ET_REL) return bad('a relocatable object (.o): link it into an executable first');
  const entry = word(24);
  const phoff = word(is64 ? 32 : 28);
  const shoff = word(is64 ? 40 : 32);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const shentsize = u16(is64 ? 58 : 46);
  let shnum = u16(is64 ? 60 : 48);

  // ---------------------------------------------------------------- program headers
  if (phnum === 0) return bad('no program headers (link it, do not load a .o)');
  if (phentsize < S.phdr) return bad(`corrupt: e_phentsize ${phentsize} is smaller than an ${kind} program header (${S.phdr} bytes): ${REBUILD}`);
  const phLen = BigInt(phnum) * BigInt(phentsize);
  if (!inFile(phoff, phLen)) return pastEnd(`the program header table (${phnum} x ${phentsize} bytes)`, phoff, phLen);
  const top = is64 ? 1n << 64n : 1n << 32n;
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = Number(phoff) + i * phentsize;
    if (u32(o) !== PT_LOAD) continue;
    let flags: number, off: bigint, vaddr: bigint, paddr: bigint, filesz: bigint, memsz: bigint;
    if (is64) {
      flags = u32(o + 4); off = word(o + 8); vaddr = word(o + 16); paddr = word(o + 24); filesz = word(o + 32); memsz = word(o + 40);
    } else {
      off = word(o + 4); vaddr = word(o + 8); paddr = word(o + 12); filesz = word(o + 16); memsz = word(o + 20); flags = u32(o + 24);
    }
    if (!inFile(off, filesz)) return pastEnd(`segment ${i}'s data`, off, filesz);
    if (memsz < filesz) return bad(`corrupt: segment ${i}'s p_memsz ${hex(memsz)} is smaller than its p_filesz ${hex(filesz)}: ${REBUILD}`);
    if (paddr + memsz > top) {
      return bad(`corrupt: segment ${i} at ${hex(paddr)} (p_memsz ${hex(memsz)}) runs past the top of the ${is64 ? 64 : 32}-bit address space: ${REBUILD}`);
    }
    const start = Number(off);
    segments.push({ paddr, vaddr, data: buf.subarray(start, start + Number(filesz)), memsz, flags });
  }
  if (segments.length === 0) return bad('no PT_LOAD segment: nothing to load (link it with a loadable segment)');

  // ---------------------------------------------------------------- sections, symbols
  const symbols: ElfSymbol[] = [];
  const mapping: ElfMappingSymbol[] = [];
  const sections: ElfSection[] = [];
  if (shoff === 0n) return { ok: true, value: { arch, entry, segments, symbols, mapping, sections } }; // no section headers: no symbols
  if (shentsize < S.shdr) return bad(`corrupt: e_shentsize ${shentsize} is smaller than an ${kind} section header (${S.shdr} bytes): ${REBUILD}`);
  // More than 0xff00 sections: e_shnum is 0 and section 0's sh_size holds the count.
  if (shnum === 0) {
    if (!inFile(shoff, BigInt(shentsize))) return pastEnd('the section header table', shoff, BigInt(shentsize));
    const n = word(Number(shoff) + (is64 ? 32 : 20));
    if (n > 0xffff_ffffn) return bad(`corrupt: the section count ${hex(n)} in section 0 is not believable: ${REBUILD}`);
    shnum = Number(n);
  }
  const shLen = BigInt(shnum) * BigInt(shentsize);
  if (!inFile(shoff, shLen)) return pastEnd(`the section header table (${shnum} x ${shentsize} bytes)`, shoff, shLen);
  const sh = (i: number) => Number(shoff) + i * shentsize;
  const dec = new TextDecoder();
  for (let i = 0; i < shnum; i++) {
    const o = sh(i);
    if (u32(o + 4) !== SHT_SYMTAB) continue;
    const symOff = word(o + (is64 ? 24 : 16));
    const symSize = word(o + (is64 ? 32 : 20));
    if (!inFile(symOff, symSize)) return pastEnd(`the symbol table (section ${i})`, symOff, symSize);
    const link = u32(o + (is64 ? 40 : 24)); // sh_link: its string table
    if (link >= shnum) return bad(`corrupt: the symbol table's string table is section ${link} but there are ${shnum} sections: ${REBUILD}`);
    const so = sh(link);
    if (u32(so + 4) !== SHT_STRTAB) return bad(`corrupt: the symbol table's string table (section ${link}) is not a string table: ${REBUILD}`);
    const strOff = word(so + (is64 ? 24 : 16));
    const strSize = word(so + (is64 ? 32 : 20));
    if (!inFile(strOff, strSize)) return pastEnd(`the string table (section ${link})`, strOff, strSize);
    const s0 = Number(symOff), s1 = s0 + Number(symSize);
    const t0 = Number(strOff), t1 = t0 + Number(strSize);
    for (let s = s0 + S.sym; s + S.sym <= s1; s += S.sym) {
      const nameOff = u32(s);
      const info = is64 ? buf[s + 4] : buf[s + 12];
      const shndx = is64 ? u16(s + 6) : u16(s + 14);
      const value = is64 ? dv.getBigUint64(s + 8, true) : BigInt(u32(s + 4));
      const symSz = is64 ? dv.getBigUint64(s + 16, true) : BigInt(u32(s + 8));
      // undefined (0) and special sections (ABS constants such as .equ values, COMMON)
      if (shndx === 0 || shndx >= SHN_LORESERVE || nameOff === 0) continue;
      if (nameOff >= t1 - t0) {
        return bad(`corrupt: symbol ${(s - s0) / S.sym}'s name (offset ${nameOff}) lies outside its string table (${t1 - t0} bytes): ${REBUILD}`);
      }
      let end = t0 + nameOff;
      while (end < t1 && buf[end] !== 0) end++;
      const nm = dec.decode(buf.subarray(t0 + nameOff, end));
      if (!nm) continue;
      if (nm.startsWith('$')) { // mapping symbols ($x, $d, $a, $t, maybe with a .suffix)
        const m = /^\$([xatd])(?:\.|$)/.exec(nm);
        if (m) mapping.push({ addr: value, kind: m[1] as ElfMappingSymbol['kind'] });
        continue;
      }
      const t = info & 0xf;
      symbols.push({ name: nm, value, size: symSz, type: t === 2 ? 'func' : t === 1 ? 'object' : t === 0 ? 'notype' : 'other' });
    }
  }
  mapping.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  // Section names (e_shstrndx; SHN_XINDEX: in section 0's sh_link). A bad name table only loses the names.
  let shstrndx = u16(is64 ? 62 : 50);
  if (shstrndx === SHN_XINDEX && shnum > 0) shstrndx = u32(sh(0) + (is64 ? 40 : 24));
  if (shstrndx > 0 && shstrndx < shnum) {
    const no = sh(shstrndx);
    const nOff = word(no + (is64 ? 24 : 16)), nSize = word(no + (is64 ? 32 : 20));
    if (inFile(nOff, nSize)) {
      const n0 = Number(nOff), n1 = n0 + Number(nSize);
      for (let i = 1; i < shnum; i++) {
        const o = sh(i);
        const nameOff = u32(o);
        if (u32(o + 4) === SHT_NOBITS || nameOff >= n1 - n0) continue;
        const off = word(o + (is64 ? 24 : 16)), len = word(o + (is64 ? 32 : 20));
        if (!inFile(off, len)) continue;
        let end = n0 + nameOff;
        while (end < n1 && buf[end] !== 0) end++;
        const start = Number(off);
        sections.push({ name: dec.decode(buf.subarray(n0 + nameOff, end)), addr: word(o + (is64 ? 16 : 12)), data: buf.subarray(start, start + Number(len)) });
      }
    }
  }
  return { ok: true, value: { arch, entry, segments, symbols, mapping, sections } };
}
