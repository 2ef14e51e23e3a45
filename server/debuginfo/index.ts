// What a debugger front-end knows about the guest image beyond its bytes: which
// instruction set lies where (the ELF's ARM mapping symbols), and the source lines
// of the DWARF line table. Read from the image file once, on the first request
// that needs it (the debug adapter's disassembly, source breakpoints, frames).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseElf, type ElfImage, type ElfMappingSymbol, type ElfSymbol } from '../machine/elf.js';
import { parseDebugLine, type LineRow } from './dwarf-line.js';

/** Instruction sets of the disassembler, and data. */
export type Isa = 'a64' | 'a32' | 'thumb' | 'data';

export interface SourceLine { file: string; line: number; column: number; address: bigint }

const KIND_ISA: Record<ElfMappingSymbol['kind'], Isa> = { x: 'a64', a: 'a32', t: 'thumb', d: 'data' };

function compare(a: bigint, b: bigint) { return a < b ? -1 : a > b ? 1 : 0; }

/** The last index i with key(xs[i]) <= v, or -1. */
function floorIndex<T>(xs: readonly T[], v: bigint, key: (x: T) => bigint): number {
  let lo = 0, hi = xs.length - 1, best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (key(xs[mid]) <= v) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best;
}

export class DebugInfo {
  /** Rows with a line (not end markers), sorted by address; an end marker closes the range of the row before it. */
  private readonly rows: LineRow[];
  /** Every row including end_sequence markers, sorted by address (end markers first at equal addresses). */
  private readonly ranges: LineRow[];
  /** Why there are no lines, when there are none (no .debug_line, or it could not be read). */
  readonly lineProblem: string | undefined;

  constructor(
    readonly arch: 'aarch64' | 'arm',
    readonly mapping: ElfMappingSymbol[],
    readonly symbols: ElfSymbol[],
    rows: LineRow[],
    lineProblem?: string,
  ) {
    this.ranges = [...rows].sort((a, b) => compare(a.address, b.address) || (a.endSequence === b.endSequence ? 0 : a.endSequence ? -1 : 1));
    this.rows = this.ranges.filter((r) => !r.endSequence);
    this.lineProblem = lineProblem ?? (rows.length ? undefined : 'the program has no line information (assemble or compile it with -g)');
  }

  static empty(arch: 'aarch64' | 'arm', why: string): DebugInfo { return new DebugInfo(arch, [], [], [], why); }

  static fromElf(elf: ElfImage): DebugInfo {
    const sec = (n: string) => elf.sections.find((s) => s.name === n)?.data;
    const line = sec('.debug_line');
    if (!line) return new DebugInfo(elf.arch, elf.mapping, elf.symbols, []);
    const parsed = parseDebugLine({ line, lineStr: sec('.debug_line_str'), str: sec('.debug_str'), info: sec('.debug_info'), abbrev: sec('.debug_abbrev') });
    if (!parsed.ok) return new DebugInfo(elf.arch, elf.mapping, elf.symbols, [], `the line table cannot be read: ${parsed.error}`);
    return new DebugInfo(elf.arch, elf.mapping, elf.symbols, parsed.value.flatMap((p) => p.rows));
  }

  /** The image at `file`: an ELF's mapping symbols and lines; a raw binary has neither. */
  static load(file: string, raw: boolean, arch: 'aarch64' | 'arm'): DebugInfo {
    if (raw) return DebugInfo.empty(arch, 'a raw binary has no line information');
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      return DebugInfo.empty(arch, `cannot read ${file}: ${(e as Error).message}`);
    }
    const elf = parseElf(bytes, file);
    return elf.ok ? DebugInfo.fromElf(elf.value) : DebugInfo.empty(arch, elf.error);
  }

  // ---------------------------------------------------------------- instruction sets
  /**
   * The instruction set at `addr` by the mapping symbols; undefined where there are none
   * (before the first, or an image without them): then the CPU state decides.
   */
  mappedIsa(addr: bigint): Isa | undefined {
    const i = floorIndex(this.mapping, addr, (m) => m.addr);
    return i < 0 ? undefined : KIND_ISA[this.mapping[i].kind];
  }

  /** The mapping region holding addr: its start and the next mapping symbol's address (or undefined). */
  mappedRegion(addr: bigint): { start: bigint; end: bigint | undefined } | undefined {
    const i = floorIndex(this.mapping, addr, (m) => m.addr);
    if (i < 0) return undefined;
    let j = i + 1;
    while (j < this.mapping.length && this.mapping[j].addr === this.mapping[i].addr) j++;
    return { start: this.mapping[i].addr, end: this.mapping[j]?.addr };
  }

  /** The instruction set at addr: the mapping symbols first, else the CPU state (thumb: the CPSR T bit). */
  isaAt(addr: bigint, cpuThumb: boolean): Isa {
    return this.mappedIsa(addr) ?? (this.arch === 'aarch64' ? 'a64' : cpuThumb ? 'thumb' : 'a32');
  }

  /** A code symbol starting exactly at addr (Thumb functions' bit 0 cleared). */
  symbolAt(addr: bigint): string | undefined {
    for (const s of this.symbols) {
      if (s.type === 'object') continue;
      const v = this.arch === 'arm' && s.type === 'func' ? s.value & ~1n : s.value;
      if (v === addr) return s.name;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- lines
  get hasLines(): boolean { return this.rows.length > 0; }

  /** The source line of the instruction at addr (the row covering it), if the line table knows it. */
  lineAt(addr: bigint): SourceLine | undefined {
    const i = floorIndex(this.ranges, addr, (r) => r.address);
    if (i < 0) return undefined;
    // at equal addresses the end marker sorts first: the last row <= addr decides
    const r = this.ranges[i];
    if (r.endSequence) return undefined;
    return { file: r.file, line: r.line, column: r.column, address: r.address };
  }

  /** The files of the line table. */
  files(): string[] { return [...new Set(this.rows.map((r) => r.file))]; }

  /**
   * The line table's file for a path a client names: the same path, else the one
   * sharing the longest tail of path components (a tree built elsewhere, or
   * a path relative to a compilation directory we do not know), at least the file name.
   */
  fileFor(clientPath: string): string | undefined {
    const want = path.resolve(clientPath).split(/[\\/]/).filter(Boolean);
    let best: string | undefined, bestScore = 0;
    for (const f of this.files()) {
      const have = f.split(/[\\/]/).filter(Boolean);
      let n = 0;
      while (n < want.length && n < have.length && want[want.length - 1 - n] === have[have.length - 1 - n]) n++;
      if (n === have.length && n === want.length) return f;
      if (n > bestScore) { best = f; bestScore = n; }
    }
    return best;
  }

  /** Lines of `file` that have code: line -> lowest is_stmt address. */
  linesOf(file: string): Map<number, bigint> {
    const out = new Map<number, bigint>();
    for (const r of this.rows) {
      if (r.file !== file || !r.isStmt) continue;
      const a = out.get(r.line);
      if (a === undefined || r.address < a) out.set(r.line, r.address);
    }
    return out;
  }

  /** Where a breakpoint on `line` of `file` goes: that line's first address, or the next line with code. */
  breakpointFor(file: string, line: number): { line: number; address: bigint } | undefined {
    let best: { line: number; address: bigint } | undefined;
    for (const [l, a] of this.linesOf(file)) if (l >= line && (!best || l < best.line)) best = { line: l, address: a };
    return best;
  }
}
