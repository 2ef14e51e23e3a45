// Our DWARF line table reader against binutils: every row of `objdump
// --dwarf=decodedline` for the examples (and a source with an .include, so the
// table switches files), assembled for AArch64 and AArch32 (ARM and Thumb code)
// with each DWARF version GNU as writes.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseElf } from '../server/machine/elf.js';
import { parseDebugLine, type LineRow } from '../server/debuginfo/dwarf-line.js';
import { DebugInfo } from '../server/debuginfo/index.js';
import { ROOT, scratchDir } from './helpers/asm.js';

const TOOLS = {
  aarch64: { as: 'aarch64-linux-gnu-as', ld: 'aarch64-linux-gnu-ld', objdump: 'aarch64-linux-gnu-objdump', asflags: [] as string[] },
  arm: { as: 'arm-linux-gnueabihf-as', ld: 'arm-linux-gnueabihf-ld', objdump: 'arm-linux-gnueabihf-objdump', asflags: ['-march=armv7-a+sec+virt'] },
} as const;

const INCLUDER = {
  aarch64: '        .global _start\n_start:\n        mov x1, #1\n        .include "inc/helper.inc"\n        mov x2, #2\n\n        b _start\n',
  arm: '        .syntax unified\n        .arm\n        .global _start\n_start:\n        mov r1, #1\n        .include "inc/helper.inc"\n        blx thumb\n        b _start\n        .thumb\n        .type thumb, %function\nthumb:\n        movs r2, #2\n\n        mov.w r3, #0x84000000\n        bx lr\n',
};
const HELPER = { aarch64: '        mov x3, #3\n        mov x4, #4\n', arm: '        mov r3, #3\n        mov r4, #4\n' };

/** Assembles `src` (relative to cwd) with the DWARF flag and links it at 0x40000000. */
function build(arch: 'aarch64' | 'arm', cwd: string, src: string, flag: string): string {
  const t = TOOLS[arch];
  const out = path.join(scratchDir(), `dwarf-${path.basename(src, '.S')}-${arch}${flag}-${process.pid}`);
  execFileSync(t.as, [...t.asflags, flag, '-o', `${out}.o`, src], { cwd });
  execFileSync(t.ld, ['-N', '--no-warn-rwx-segments', '-Ttext=0x40000000', '-e', '_start', '-o', `${out}.elf`, `${out}.o`]);
  return `${out}.elf`;
}

interface Row { file: string; line: number | '-'; address: bigint; stmt: boolean }

/** objdump's decoded line table: its rows (file names as it prints them, without directories). */
function objdumpRows(arch: 'aarch64' | 'arm', elf: string): Row[] {
  const text = execFileSync(TOOLS[arch].objdump, ['--dwarf=decodedline', '--wide', elf], { encoding: 'utf8' });
  const rows: Row[] = [];
  for (const l of text.split('\n')) {
    const m = /^(\S+)\s+(\d+|-)\s+(0x[0-9a-f]+)(?:\s+\d+)?(?:\s+(x))?\s*$/.exec(l);
    if (m) rows.push({ file: m[1], line: m[2] === '-' ? '-' : Number(m[2]), address: BigInt(m[3]), stmt: m[4] === 'x' });
  }
  return rows;
}

function ourRows(elf: string): { rows: LineRow[]; versions: number[] } {
  const img = parseElf(readFileSync(elf), elf);
  if (!img.ok) throw new Error(img.error);
  const sec = (n: string) => img.value.sections.find((s) => s.name === n)?.data;
  const r = parseDebugLine({ line: sec('.debug_line')!, lineStr: sec('.debug_line_str'), str: sec('.debug_str'), info: sec('.debug_info'), abbrev: sec('.debug_abbrev') });
  if (!r.ok) throw new Error(r.error);
  return { rows: r.value.flatMap((p) => p.rows), versions: r.value.map((p) => p.version) };
}

const asRows = (rows: LineRow[]): Row[] => rows.map((r) => ({
  // objdump shows an end-of-sequence row without a line, and a stmt mark only on statement rows
  file: path.basename(r.file), line: r.endSequence ? '-' : r.line, address: r.address, stmt: r.endSequence ? false : r.isStmt,
}));

describe('DWARF line table reader', () => {
  const dir = mkdtempSync(path.join(scratchDir(), 'dwarf-src-'));
  mkdirSync(path.join(dir, 'inc'));
  const cases: [string, 'aarch64' | 'arm', string, string][] = [];
  for (const arch of ['aarch64', 'arm'] as const) {
    const example = arch === 'aarch64' ? 'examples/aarch64/smccc-tour.S' : 'examples/aarch32/legacy-thumb.S';
    for (const flag of ['-g', '--gdwarf-2', '--gdwarf-3', '--gdwarf-4', '--gdwarf-5']) {
      cases.push([`${arch} ${example} ${flag}`, arch, example, flag]);
      cases.push([`${arch} a source with an .include ${flag}`, arch, `includer-${arch}.S`, flag]);
    }
  }
  it.each(cases)('%s: every row equals objdump --dwarf=decodedline', (_name, arch, src, flag) => {
    writeFileSync(path.join(dir, `includer-${arch}.S`), INCLUDER[arch]);
    writeFileSync(path.join(dir, 'inc/helper.inc'), HELPER[arch]);
    const cwd = src.startsWith('examples/') ? ROOT : dir;
    const elf = build(arch, cwd, src, flag);
    const expected = objdumpRows(arch, elf);
    const { rows, versions } = ourRows(elf);
    expect(expected.length).toBeGreaterThan(3);
    expect(asRows(rows)).toEqual(expected);
    // GNU as 2.40 writes version 3 line tables for -g and --gdwarf-2 (the formats of 2 and 3 are the same)
    const want = flag === '-g' || flag === '--gdwarf-2' ? 3 : Number(flag.slice(-1));
    expect(versions).toEqual([want]);
    // the file paths are whole: the compilation directory and the directory table joined
    const files = [...new Set(rows.map((r) => r.file))];
    if (src.startsWith('includer')) {
      expect(files.sort()).toEqual([path.join(dir, 'inc/helper.inc'), path.join(dir, `includer-${arch}.S`)].sort());
    } else {
      expect(files).toEqual([path.join(ROOT, src)]);
    }
  });

  it('a line breakpoint goes to the first address of its line, or the next line with code', () => {
    writeFileSync(path.join(dir, 'includer-arm.S'), INCLUDER.arm);
    writeFileSync(path.join(dir, 'inc/helper.inc'), HELPER.arm);
    const elf = build('arm', dir, 'includer-arm.S', '-g');
    const img = parseElf(readFileSync(elf), elf);
    if (!img.ok) throw new Error(img.error);
    const info = DebugInfo.fromElf(img.value);
    const file = info.fileFor(path.join('/somewhere/else', 'includer-arm.S'))!;
    expect(file).toBe(path.join(dir, 'includer-arm.S'));
    expect(info.breakpointFor(file, 5)).toEqual({ line: 5, address: 0x40000000n });
    // line 13 is blank: the next line with code is 14 (the Thumb mov.w after movs)
    expect(info.breakpointFor(file, 13)).toEqual({ line: 14, address: 0x40000016n });
    expect(info.breakpointFor(file, 99)).toBeUndefined();
    expect(info.lineAt(0x40000016n)).toMatchObject({ file, line: 14 });
    expect(info.lineAt(0x40000004n)).toMatchObject({ file: path.join(dir, 'inc/helper.inc'), line: 1 });
    // the mapping symbols say where ARM and Thumb code are
    expect(info.isaAt(0x40000000n, true)).toBe('a32');
    expect(info.isaAt(0x40000014n, false)).toBe('thumb');
    expect(info.isaAt(0x30000000n, true)).toBe('thumb'); // no mapping symbol: the CPU state decides
  });

  it('a version 2 line table (a version 3 one relabelled: the formats are the same) gives the same rows', () => {
    const elf = build('aarch64', ROOT, 'examples/aarch64/smccc-tour.S', '--gdwarf-3');
    const img = parseElf(readFileSync(elf), elf);
    if (!img.ok) throw new Error(img.error);
    const line = img.value.sections.find((s) => s.name === '.debug_line')!.data.slice();
    expect(line[4]).toBe(3);
    const v3 = parseDebugLine({ line });
    line[4] = 2;
    const v2 = parseDebugLine({ line });
    expect(v2.ok && v2.value[0].version).toBe(2);
    expect(v2.ok && v2.value[0].rows).toEqual(v3.ok && v3.value[0].rows);
    expect(v2.ok && v2.value[0].rows.length).toBeGreaterThan(100);
  });

  it('64-bit DWARF and a truncated table are errors that say so', () => {
    const dwarf64 = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0, 0, 0, 0, 0, 4, 0]);
    const r = parseDebugLine({ line: dwarf64 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/64-bit DWARF .* not supported/);
    const cut = new Uint8Array([0x40, 0, 0, 0, 3, 0, 0x20, 0, 0, 0]);
    const t = parseDebugLine({ line: cut });
    expect(!t.ok && t.error).toMatch(/runs past the end of the section/);
  });
});
