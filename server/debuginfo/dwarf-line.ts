// Our own reader of the DWARF line table (.debug_line, versions 2 to 5) and of
// the one thing it needs from .debug_info: each compilation unit's DW_AT_comp_dir,
// which relative directories of DWARF 2-4 line tables are relative to. 32-bit DWARF
// only: a 64-bit DWARF unit (unit_length 0xffffffff) is an error saying so.
// Every read is bounds-checked; a corrupt table is an error value, not an exception.
import path from 'node:path';

export interface LineRow {
  address: bigint;
  /** The source file as the table names it, joined with its directory and the compilation directory. */
  file: string;
  line: number;
  /** 0: no column. */
  column: number;
  isStmt: boolean;
  /** The first address after a sequence (its line is meaningless). */
  endSequence: boolean;
}

export interface LineProgram {
  /** Offset of this unit in .debug_line. */
  offset: number;
  version: number;
  /** The files of the header (and DW_LNE_define_file), joined as the rows' `file`. */
  files: string[];
  rows: LineRow[];
}

export interface DwarfSections {
  line: Uint8Array;
  lineStr?: Uint8Array;
  str?: Uint8Array;
  info?: Uint8Array;
  abbrev?: Uint8Array;
}

export type LineResult = { ok: true; value: LineProgram[] } | { ok: false; error: string };

class DwarfError extends Error {}

/** A little-endian cursor over one section; reading past `end` throws a DwarfError naming the section. */
class Reader {
  private readonly dv: DataView;
  constructor(readonly buf: Uint8Array, public pos: number, public end: number, readonly what: string) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number) {
    if (n < 0 || this.pos + n > this.end) throw new DwarfError(`${this.what}: truncated at offset 0x${this.pos.toString(16)} (need ${n} more bytes, the unit ends at 0x${this.end.toString(16)})`);
  }
  u8() { this.need(1); return this.buf[this.pos++]; }
  i8() { this.need(1); return this.dv.getInt8(this.pos++); }
  u16() { this.need(2); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  u64() { this.need(8); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  /** An unsigned value of n bytes (1, 2, 4, 8; 3 for strx3/addrx3). */
  uN(n: number): bigint {
    this.need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.buf[this.pos + i]);
    this.pos += n;
    return v;
  }
  skip(n: number) { this.need(n); this.pos += n; }
  uleb(): bigint {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = this.u8();
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return v;
    }
  }
  sleb(): bigint {
    let v = 0n, shift = 0n, b: number;
    do {
      b = this.u8();
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    return b & 0x40 ? v - (1n << shift) : v;
  }
  /** uleb as a number (counts, indexes, line advances fit). */
  un() { return Number(this.uleb()); }
  cstr(): string {
    let e = this.pos;
    while (e < this.end && this.buf[e] !== 0) e++;
    if (e >= this.end) throw new DwarfError(`${this.what}: unterminated string at offset 0x${this.pos.toString(16)}`);
    const s = new TextDecoder().decode(this.buf.subarray(this.pos, e));
    this.pos = e + 1;
    return s;
  }
}

/** A NUL-terminated string at `off` of a string section (.debug_str, .debug_line_str). */
function strAt(sec: Uint8Array | undefined, off: number, name: string): string {
  if (!sec) throw new DwarfError(`a string in ${name} is used but the file has no ${name} section`);
  if (off >= sec.length) throw new DwarfError(`string offset 0x${off.toString(16)} is past the end of ${name} (${sec.length} bytes)`);
  return new Reader(sec, off, sec.length, name).cstr();
}

/** unit_length: 32-bit DWARF only. */
function unitLength(r: Reader): number {
  const len = r.u32();
  if (len === 0xffffffff) throw new DwarfError(`${r.what}: 64-bit DWARF (unit at offset 0x${(r.pos - 4).toString(16)}) is not supported: build with 32-bit DWARF (the default of GNU as and gcc)`);
  if (len >= 0xfffffff0) throw new DwarfError(`${r.what}: reserved unit length 0x${len.toString(16)} at offset 0x${(r.pos - 4).toString(16)}`);
  return len;
}

const DW_FORM = {
  addr: 0x01, block2: 0x03, block4: 0x04, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block: 0x09, block1: 0x0a,
  data1: 0x0b, flag: 0x0c, sdata: 0x0d, strp: 0x0e, udata: 0x0f, ref_addr: 0x10, ref1: 0x11, ref2: 0x12, ref4: 0x13,
  ref8: 0x14, ref_udata: 0x15, indirect: 0x16, sec_offset: 0x17, exprloc: 0x18, flag_present: 0x19, strx: 0x1a,
  addrx: 0x1b, ref_sup4: 0x1c, strp_sup: 0x1d, data16: 0x1e, line_strp: 0x1f, ref_sig8: 0x20, implicit_const: 0x21,
  loclistx: 0x22, rnglistx: 0x23, ref_sup8: 0x24, strx1: 0x25, strx2: 0x26, strx3: 0x27, strx4: 0x28,
  addrx1: 0x29, addrx2: 0x2a, addrx3: 0x2b, addrx4: 0x2c,
} as const;

type FormValue = { num?: bigint; str?: string };

/** Reads one attribute value of `form` (32-bit DWARF); strings are read when the form says where. */
function readForm(r: Reader, form: number, ctx: { addrSize: number; version: number; s: DwarfSections }, implicit?: bigint): FormValue {
  const F = DW_FORM;
  switch (form) {
    case F.addr: return { num: r.uN(ctx.addrSize) };
    case F.data1: case F.ref1: case F.flag: case F.strx1: case F.addrx1: return { num: r.uN(1) };
    case F.data2: case F.ref2: case F.strx2: case F.addrx2: return { num: r.uN(2) };
    case F.strx3: case F.addrx3: return { num: r.uN(3) };
    case F.data4: case F.ref4: case F.sec_offset: case F.ref_sup4: case F.strp_sup: case F.strx4: case F.addrx4: return { num: r.uN(4) };
    case F.data8: case F.ref8: case F.ref_sig8: case F.ref_sup8: return { num: r.uN(8) };
    case F.data16: r.skip(16); return {};
    case F.ref_addr: return { num: r.uN(ctx.version <= 2 ? ctx.addrSize : 4) };
    case F.udata: case F.ref_udata: case F.strx: case F.addrx: case F.loclistx: case F.rnglistx: return { num: r.uleb() };
    case F.sdata: return { num: r.sleb() };
    case F.string: return { str: r.cstr() };
    case F.strp: return { str: strAt(ctx.s.str, r.u32(), '.debug_str') };
    case F.line_strp: return { str: strAt(ctx.s.lineStr, r.u32(), '.debug_line_str') };
    case F.block1: r.skip(r.u8()); return {};
    case F.block2: r.skip(r.u16()); return {};
    case F.block4: r.skip(r.u32()); return {};
    case F.block: case F.exprloc: r.skip(r.un()); return {};
    case F.flag_present: return { num: 1n };
    case F.implicit_const: return { num: implicit ?? 0n };
    case F.indirect: return readForm(r, r.un(), ctx);
    default: throw new DwarfError(`${r.what}: unknown attribute form 0x${form.toString(16)} at offset 0x${r.pos.toString(16)}`);
  }
}

const DW_AT_stmt_list = 0x10;
const DW_AT_comp_dir = 0x1b;

/** .debug_line offset -> the compilation directory of the unit that points there (DW_AT_stmt_list). */
export function compDirs(s: DwarfSections): Map<number, string> {
  const out = new Map<number, string>();
  if (!s.info || !s.abbrev) return out;
  const r = new Reader(s.info, 0, s.info.length, '.debug_info');
  while (r.pos < s.info.length) {
    const len = unitLength(r);
    const next = r.pos + len;
    if (next > s.info.length) throw new DwarfError(`.debug_info: the unit at 0x${(r.pos - 4).toString(16)} runs past the end of the section`);
    r.end = next;
    const version = r.u16();
    let abbrevOff: number, addrSize: number;
    if (version >= 5) {
      const unitType = r.u8();
      addrSize = r.u8();
      abbrevOff = r.u32();
      if (unitType === 4 || unitType === 5) r.skip(8); // skeleton, split_compile: dwo_id
      else if (unitType === 2 || unitType === 6) r.skip(12); // type units: signature, type_offset
    } else {
      abbrevOff = r.u32();
      addrSize = r.u8();
    }
    const code = r.uleb();
    if (code !== 0n) {
      const attrs = abbrevOf(s.abbrev, abbrevOff, code);
      let stmt: number | undefined, dir: string | undefined;
      for (const [at, form, implicit] of attrs) {
        const v = readForm(r, form, { addrSize, version, s }, implicit);
        if (at === DW_AT_stmt_list && v.num !== undefined) stmt = Number(v.num);
        if (at === DW_AT_comp_dir && v.str !== undefined) dir = v.str;
      }
      if (stmt !== undefined && dir !== undefined) out.set(stmt, dir);
    }
    r.pos = next;
    r.end = s.info.length;
  }
  return out;
}

/** The attribute list (attribute, form, implicit_const value) of abbreviation `code` in the table at `off`. */
function abbrevOf(abbrev: Uint8Array, off: number, code: bigint): [number, number, bigint | undefined][] {
  if (off >= abbrev.length) throw new DwarfError(`.debug_info: abbreviation table offset 0x${off.toString(16)} is past the end of .debug_abbrev`);
  const r = new Reader(abbrev, off, abbrev.length, '.debug_abbrev');
  for (;;) {
    const c = r.uleb();
    if (c === 0n) throw new DwarfError(`.debug_abbrev: no abbreviation ${code} in the table at 0x${off.toString(16)}`);
    r.uleb(); // tag
    r.u8(); // children
    const attrs: [number, number, bigint | undefined][] = [];
    for (;;) {
      const at = r.un(), form = r.un();
      if (at === 0 && form === 0) break;
      attrs.push([at, form, form === DW_FORM.implicit_const ? r.sleb() : undefined]);
    }
    if (c === code) return attrs;
  }
}

const DW_LNCT = { path: 1, directory_index: 2 } as const;

function join(dir: string | undefined, name: string): string {
  if (!dir || path.posix.isAbsolute(name)) return name;
  return path.posix.join(dir, name);
}

/** Every line number program of .debug_line, with its rows. */
export function parseDebugLine(s: DwarfSections): LineResult {
  try {
    let dirs: Map<number, string>;
    try {
      dirs = compDirs(s);
    } catch {
      dirs = new Map(); // without the compilation directories, relative paths stay relative
    }
    const programs: LineProgram[] = [];
    let off = 0;
    while (off < s.line.length) {
      const p = parseUnit(s, off, dirs.get(off));
      programs.push(p.program);
      off = p.next;
    }
    return { ok: true, value: programs };
  } catch (e) {
    if (e instanceof DwarfError) return { ok: false, error: e.message };
    throw e;
  }
}

function parseUnit(s: DwarfSections, off: number, compDir: string | undefined): { program: LineProgram; next: number } {
  const r = new Reader(s.line, off, s.line.length, '.debug_line');
  const len = unitLength(r);
  const next = r.pos + len;
  if (next > s.line.length) throw new DwarfError(`.debug_line: the unit at 0x${off.toString(16)} (${len} bytes) runs past the end of the section (${s.line.length} bytes)`);
  r.end = next;
  const version = r.u16();
  if (version < 2 || version > 5) throw new DwarfError(`.debug_line: unit at 0x${off.toString(16)} has version ${version} (versions 2 to 5 are read)`);
  let addrSize = 0;
  if (version >= 5) {
    addrSize = r.u8();
    r.u8(); // segment_selector_size
  }
  const headerLength = r.u32();
  const programStart = r.pos + headerLength;
  if (programStart > next) throw new DwarfError(`.debug_line: unit at 0x${off.toString(16)}: header_length ${headerLength} runs past the unit`);
  const minInst = r.u8();
  const maxOps = version >= 4 ? r.u8() : 1;
  const defaultIsStmt = r.u8() !== 0;
  const lineBase = r.i8();
  const lineRange = r.u8();
  const opcodeBase = r.u8();
  if (lineRange === 0) throw new DwarfError(`.debug_line: unit at 0x${off.toString(16)}: line_range is 0`);
  if (maxOps !== 1) throw new DwarfError(`.debug_line: unit at 0x${off.toString(16)}: maximum_operations_per_instruction ${maxOps} (VLIW) is not supported`);
  const opLengths: number[] = [];
  for (let i = 1; i < opcodeBase; i++) opLengths.push(r.u8());

  const files: string[] = [];
  /** DWARF 2-4 files are numbered from 1, DWARF 5 from 0. */
  let fileBase = 1;
  if (version <= 4) {
    const incDirs: string[] = [];
    for (let d = r.cstr(); d !== ''; d = r.cstr()) incDirs.push(join(compDir, d));
    const dirOf = (i: number) => (i === 0 ? compDir : incDirs[i - 1]);
    const readFile = (name: string) => {
      const di = r.un();
      r.uleb(); r.uleb(); // mtime, length
      if (di > incDirs.length) throw new DwarfError(`.debug_line: file ${name} names directory ${di} but there are ${incDirs.length}`);
      return join(dirOf(di), name);
    };
    for (let f = r.cstr(); f !== ''; f = r.cstr()) files.push(readFile(f));
    r.pos = programStart;
    return { program: run(files, fileBase, readFile), next };
  }
  fileBase = 0;
  const ctx = { addrSize, version, s };
  const entries = (what: string) => {
    const fmtCount = r.u8();
    const fmt: [number, number][] = [];
    for (let i = 0; i < fmtCount; i++) fmt.push([r.un(), r.un()]);
    const count = r.un();
    const out: { path?: string; dir?: number }[] = [];
    for (let i = 0; i < count; i++) {
      const e: { path?: string; dir?: number } = {};
      for (const [type, form] of fmt) {
        if (form === DW_FORM.strx || (form >= DW_FORM.strx1 && form <= DW_FORM.strx4)) {
          throw new DwarfError(`.debug_line: ${what} names use form 0x${form.toString(16)} (strx, needs .debug_str_offsets): not supported`);
        }
        const v = readForm(r, form, ctx);
        if (type === DW_LNCT.path) e.path = v.str;
        if (type === DW_LNCT.directory_index && v.num !== undefined) e.dir = Number(v.num);
      }
      out.push(e);
    }
    return out;
  };
  const dirEntries = entries('directory');
  const root = dirEntries[0]?.path ?? compDir;
  const dirNames = dirEntries.map((d, i) => (i === 0 ? root : join(root, d.path ?? '')));
  for (const f of entries('file')) {
    const di = f.dir ?? 0;
    if (di >= dirNames.length) throw new DwarfError(`.debug_line: file ${f.path} names directory ${di} but there are ${dirNames.length}`);
    files.push(join(dirNames[di], f.path ?? ''));
  }
  r.pos = programStart;
  return { program: run(files, fileBase, () => { throw new DwarfError('.debug_line: DW_LNE_define_file in a DWARF 5 unit'); }), next };

  /** The line number state machine over [programStart, next). */
  function run(fileList: string[], base: number, defineFile: (name: string) => string): LineProgram {
    const rows: LineRow[] = [];
    let address = 0n, file = 1, line = 1, column = 0, isStmt = defaultIsStmt;
    const reset = () => { address = 0n; file = 1; line = 1; column = 0; isStmt = defaultIsStmt; };
    const fileName = () => {
      const f = fileList[file - base];
      if (f === undefined) throw new DwarfError(`.debug_line: unit at 0x${off.toString(16)} uses file ${file}, which its header does not list`);
      return f;
    };
    const row = (endSequence: boolean) => rows.push({ address, file: fileName(), line, column, isStmt, endSequence });
    const mask = (1n << 64n) - 1n;
    const advance = (ops: bigint) => { address = (address + BigInt(minInst) * ops) & mask; };
    while (r.pos < next) {
      const op = r.u8();
      if (op >= opcodeBase) { // special opcode
        const adj = op - opcodeBase;
        advance(BigInt(Math.floor(adj / lineRange)));
        line += lineBase + (adj % lineRange);
        row(false);
        continue;
      }
      switch (op) {
        case 0: { // extended
          const len = r.un();
          const end = r.pos + len;
          if (len === 0) break;
          const sub = r.u8();
          if (sub === 1) { row(true); reset(); }
          else if (sub === 2) address = r.uN(len - 1);
          else if (sub === 3) fileList.push(defineFile(r.cstr()));
          else if (sub === 4) r.uleb(); // discriminator
          r.pos = end;
          break;
        }
        case 1: row(false); break; // copy
        case 2: advance(r.uleb()); break;
        case 3: line += Number(r.sleb()); break;
        case 4: file = r.un(); break;
        case 5: column = r.un(); break;
        case 6: isStmt = !isStmt; break;
        case 7: break; // basic_block
        case 8: advance(BigInt(Math.floor((255 - opcodeBase) / lineRange))); break;
        case 9: address = (address + BigInt(r.u16())) & mask; break;
        case 10: case 11: break; // prologue_end, epilogue_begin
        case 12: r.uleb(); break; // isa
        default: for (let i = 0; i < opLengths[op - 1]; i++) r.uleb(); // an opcode this reader does not know: skip its operands
      }
    }
    return { offset: off, version, files: fileList, rows };
  }
}
