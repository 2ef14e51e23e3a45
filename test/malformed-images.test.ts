// Malformed guest images and memory layouts: truncated or corrupted ELF files,
// regions near the top of the address space, RAM over the UART. Every one must
// give one clear line and exit 2 (or run), never an internal error.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, scratchDir } from './helpers/asm.js';
import { parseElf } from '../server/machine/elf.js';
import { loadImage } from '../server/session/loader.js';
import { MemoryMap, parseRamSpec } from '../server/machine/memory.js';
import { Cpu } from '../server/machine/cpu.js';
import { CTL } from '../server/machine/ctl.js';
import { pl011 } from '../server/machine/devices/pl011.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const A64 = path.join(ROOT, 'examples/aarch64/smccc-tour.elf');
const A32 = path.join(ROOT, 'examples/aarch32/legacy-thumb.elf');
const haveExamples = existsSync(A64) && existsSync(A32);
const tmp = mkdtempSync(path.join(scratchDir(), 'malformed-'));

function trapdoor(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** What every run of a malformed image must look like. */
function expectClean(r: { code: number | null; err: string }, what: string) {
  expect([0, 2, 3, 4], `${what}: exit ${r.code}\n${r.err}`).toContain(r.code);
  expect(r.err, what).not.toMatch(/internal error|RangeError|TypeError/);
  expect(r.err, what).not.toMatch(/\n\s+at /);
  if (r.code === 2) {
    expect(r.err, what).not.toMatch(/UC_ERR/);
    const lines = r.err.trimEnd().split('\n');
    expect(lines, `${what}: ${r.err}`).toHaveLength(1);
    expect(lines[0], what).toMatch(/^trapdoor: \S/);
  }
}

/** An error value from the core: one line, no JavaScript noise. */
function expectOneLine(error: string, what: string) {
  expect(error.split('\n'), `${what}: ${error}`).toHaveLength(1);
  expect(error, what).not.toMatch(/RangeError|TypeError|undefined|NaN|Infinity|\[object/);
}

// ------------------------------------------------------------------ mutations
/** mulberry32: a small deterministic generator. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Field { at: number; size: 1 | 2 | 4 | 8; name: string }

/** The header fields a loader reads, at their offsets in this file. */
function fieldsOf(elf: Buffer): Field[] {
  const is64 = elf[4] === 2;
  const W = is64 ? 8 : 4;
  const f: Field[] = [
    { at: 4, size: 1, name: 'EI_CLASS' },
    { at: 5, size: 1, name: 'EI_DATA' },
    { at: 16, size: 2, name: 'e_type' },
    { at: 18, size: 2, name: 'e_machine' },
    { at: 24, size: W, name: 'e_entry' },
    { at: is64 ? 32 : 28, size: W, name: 'e_phoff' },
    { at: is64 ? 40 : 32, size: W, name: 'e_shoff' },
    { at: is64 ? 54 : 42, size: 2, name: 'e_phentsize' },
    { at: is64 ? 56 : 44, size: 2, name: 'e_phnum' },
    { at: is64 ? 58 : 46, size: 2, name: 'e_shentsize' },
    { at: is64 ? 60 : 48, size: 2, name: 'e_shnum' },
    { at: is64 ? 62 : 50, size: 2, name: 'e_shstrndx' },
  ];
  const phoff = Number(is64 ? elf.readBigUInt64LE(32) : elf.readUInt32LE(28));
  const ph = is64
    ? [[0, 4, 'p_type'], [8, 8, 'p_offset'], [16, 8, 'p_vaddr'], [24, 8, 'p_paddr'], [32, 8, 'p_filesz'], [40, 8, 'p_memsz']]
    : [[0, 4, 'p_type'], [4, 4, 'p_offset'], [8, 4, 'p_vaddr'], [12, 4, 'p_paddr'], [16, 4, 'p_filesz'], [20, 4, 'p_memsz']];
  for (const [o, size, name] of ph) f.push({ at: phoff + (o as number), size: size as 4 | 8, name: name as string });
  const shoff = Number(is64 ? elf.readBigUInt64LE(40) : elf.readUInt32LE(32));
  const shentsize = elf.readUInt16LE(is64 ? 58 : 46);
  const shnum = elf.readUInt16LE(is64 ? 60 : 48);
  const sh = is64
    ? [[4, 4, 'sh_type'], [24, 8, 'sh_offset'], [32, 8, 'sh_size'], [40, 4, 'sh_link'], [56, 8, 'sh_entsize']]
    : [[4, 4, 'sh_type'], [16, 4, 'sh_offset'], [20, 4, 'sh_size'], [24, 4, 'sh_link'], [36, 4, 'sh_entsize']];
  for (let i = 0; i < shnum; i++) {
    const type = elf.readUInt32LE(shoff + i * shentsize + 4);
    if (type !== 2 && type !== 3) continue; // the symbol table and the string tables
    for (const [o, size, name] of sh) f.push({ at: shoff + i * shentsize + (o as number), size: size as 4 | 8, name: `${name}[${i}]` });
  }
  // the first symbols' name offsets and values
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    if (elf.readUInt32LE(o + 4) !== 2) continue;
    const symoff = Number(is64 ? elf.readBigUInt64LE(o + 24) : elf.readUInt32LE(o + 16));
    const ent = is64 ? 24 : 16;
    for (let s = 1; s < 6; s++) {
      f.push({ at: symoff + s * ent, size: 4, name: `st_name[${s}]` });
      f.push({ at: symoff + s * ent + (is64 ? 6 : 14), size: 2, name: `st_shndx[${s}]` });
    }
  }
  return f;
}

function put(buf: Buffer, f: Field, v: bigint) {
  const bits = BigInt(f.size * 8);
  const x = BigInt.asUintN(Number(bits), v);
  if (f.size === 1) buf.writeUInt8(Number(x), f.at);
  else if (f.size === 2) buf.writeUInt16LE(Number(x), f.at);
  else if (f.size === 4) buf.writeUInt32LE(Number(x), f.at);
  else buf.writeBigUInt64LE(x, f.at);
}

interface Mutant { name: string; bytes: Buffer }

function mutants(file: string, seed: number, count: number): Mutant[] {
  const orig = readFileSync(file);
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const fields = fieldsOf(orig);
  const len = BigInt(orig.length);
  const extremes = [
    0n, 1n, 2n, 3n, 0x7fn, 0x80n, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0xfffff000n,
    0x100000000n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 0x1000n, (1n << 64n) - 0x100n,
    len, len - 1n, len + 1n, len / 2n, 0x09000000n, 0x08fff000n, 0x40000000n, 0x3ffff000n, 52n, 64n,
  ];
  const out: Mutant[] = [];
  // truncations: every header boundary and a spread over the whole file
  const cuts = new Set<number>([0, 1, 4, 5, 16, 20, 24, 51, 52, 53, 63, 64, 65, 100, 120, 127, 128]);
  for (let i = 0; i < 40; i++) cuts.add(Math.floor(rand() * orig.length));
  for (const f of fields) { cuts.add(f.at); cuts.add(f.at + f.size - 1); }
  for (const c of [...cuts].filter((c) => c < orig.length).sort((a, b) => a - b)) {
    out.push({ name: `truncated to ${c} bytes`, bytes: orig.subarray(0, c) });
  }
  // a table moved to the end of the file with an entry size too small to notice
  const at = (n: string) => fields.find((f) => f.name === n)!;
  for (const [off, ent] of [['e_phoff', 'e_phentsize'], ['e_shoff', 'e_shentsize']]) {
    for (const pos of [len, len - 1n, len - 4n, len - 8n, len - 20n]) {
      for (const size of [0n, 1n, 4n, 8n]) {
        const b = Buffer.from(orig);
        put(b, at(off), pos);
        put(b, at(ent), size);
        out.push({ name: `${off}=${pos}, ${ent}=${size}`, bytes: b });
      }
    }
  }
  // one to three fields set to an extreme or random value, or random bytes
  while (out.length < count) {
    const b = Buffer.from(orig);
    const n = 1 + Math.floor(rand() * 3);
    const what: string[] = [];
    for (let k = 0; k < n; k++) {
      const r = rand();
      if (r < 0.75) {
        const f = pick(fields);
        const v = rand() < 0.6 ? pick(extremes) : BigInt(Math.floor(rand() * 2 ** 32)) * BigInt(rand() < 0.5 ? 1 : Math.floor(rand() * 2 ** 32));
        put(b, f, v);
        what.push(`${f.name}=0x${v.toString(16)}`);
      } else {
        // a random byte in the headers or tables
        const at = Math.floor(rand() * b.length);
        const v = Math.floor(rand() * 256);
        b[at] = v;
        what.push(`byte ${at}=0x${v.toString(16)}`);
      }
    }
    const cut = rand() < 0.15 ? Math.floor(rand() * b.length) : b.length;
    out.push({ name: what.join(', ') + (cut < b.length ? `, truncated to ${cut}` : ''), bytes: b.subarray(0, cut) });
  }
  return out;
}

/** Maps what loadImage accepted into Unicorn, with the UART, as the engine does. */
function mapsInUnicorn(arch: 'aarch64' | 'arm', mem: MemoryMap): string | undefined {
  // Each Cpu registers native callbacks that stay registered: map each layout once.
  const key = arch + mem.regions.map((r) => `${r.base}:${r.size}`).join(',');
  if (mapped.has(key)) return mapped.get(key)!.error;
  const error = mapNow(arch, mem);
  mapped.set(key, { error });
  return error;
}
const mapped = new Map<string, { error: string | undefined }>();

function mapNow(arch: 'aarch64' | 'arm', mem: MemoryMap): string | undefined {
  const engineMem = new MemoryMap();
  for (const r of mem.regions) if (r.kind === 'ram') engineMem.add(r);
  let cpu: Cpu | undefined;
  try {
    cpu = new Cpu(arch, engineMem, new SharedArrayBuffer(CTL.SLOTS * 8), () => 0);
    const dev = cpu.mapDevice('uart0', 0x09000000n, 0x1000n, pl011(() => {}));
    return dev.ok ? undefined : dev.error;
  } catch (e) {
    return (e as Error).message;
  } finally {
    cpu?.close();
  }
}

const SMALL_RAM = [{ base: 0x40000000n, size: 16n << 20n }];

describe.runIf(haveExamples)('fuzzed ELF images', () => {
  const sets: [string, string, number][] = [
    ['AArch64 smccc-tour.elf', A64, 1],
    ['AArch32 legacy-thumb.elf', A32, 2],
  ];
  for (const [label, file, seed] of sets) {
    it(`${label}: parseElf and loadImage give a value or one clear line for every mutation`, () => {
      const ms = mutants(file, seed, 400);
      const dir = mkdtempSync(path.join(tmp, 'fuzz-'));
      let accepted = 0, rejected = 0;
      ms.forEach((m, i) => {
        let parsed: ReturnType<typeof parseElf>;
        expect(() => { parsed = parseElf(m.bytes, 'g.elf'); }, m.name).not.toThrow();
        if (!parsed!.ok) {
          expectOneLine(parsed!.error, m.name);
          expect(parsed!.error, m.name).toMatch(/^g\.elf: not a usable ELF file: \S/);
        }
        const f = path.join(dir, `m${i}.elf`);
        writeFileSync(f, m.bytes);
        let loaded: ReturnType<typeof loadImage>;
        expect(() => { loaded = loadImage({ path: f }, SMALL_RAM); }, m.name).not.toThrow();
        if (!loaded!.ok) {
          expectOneLine(loaded!.error, m.name);
          rejected++;
          return;
        }
        accepted++;
        // what the loader accepts, Unicorn maps (or the clash is said clearly)
        const err = mapsInUnicorn(loaded!.value.arch, loaded!.value.mem);
        if (err !== undefined) {
          expectOneLine(err, m.name);
          expect(err, m.name).not.toMatch(/UC_ERR/);
          expect(err, m.name).toMatch(/--uart/);
        }
      });
      expect(accepted).toBeGreaterThan(10);
      expect(rejected).toBeGreaterThan(100);
    });
  }

  it('the CLI runs a sample of the mutations: exit 0/2/3/4 and one line for a rejected image', () => {
    const sample = [...mutants(A64, 11, 200), ...mutants(A32, 12, 200)];
    const rand = rng(99);
    const chosen: Mutant[] = [];
    for (let i = 0; i < 24; i++) chosen.push(sample[Math.floor(rand() * sample.length)]);
    const codes = new Set<number | null>();
    chosen.forEach((m, i) => {
      const f = path.join(tmp, `cli-${i}.elf`);
      writeFileSync(f, m.bytes);
      const r = trapdoor(['run', f, '--quiet', '--max-insns', '10000', '--timeout', '5']);
      expectClean(r, m.name);
      codes.add(r.code);
    });
    // both kinds in the sample: images refused, and images that load and run
    expect(codes.has(2)).toBe(true);
    expect([...codes].some((c) => c !== 2), [...codes].join(',')).toBe(true);
  }, 120_000);
});

// ------------------------------------------------------------------ named cases
function patched(file: string, name: string, edit: (b: Buffer) => void): string {
  const b = Buffer.from(readFileSync(file));
  edit(b);
  const f = path.join(tmp, name);
  writeFileSync(f, b);
  return f;
}
const ph64 = (b: Buffer) => Number(b.readBigUInt64LE(32));
const ph32 = (b: Buffer) => b.readUInt32LE(28);

describe.runIf(haveExamples)('corrupt headers name the problem', () => {
  const bad = (bytes: Uint8Array) => {
    const r = parseElf(bytes, 'g.elf');
    expect(r.ok).toBe(false);
    return r.ok ? '' : r.error;
  };
  const a64 = () => Buffer.from(readFileSync(A64));
  const a32 = () => Buffer.from(readFileSync(A32));

  it('header tables past the end of the file', () => {
    const b = a64();
    const shoff = Number(b.readBigUInt64LE(40));
    expect(bad(b.subarray(0, shoff + 10))).toMatch(/section header table .* past the end of the file/);
    const c = a64(); c.writeBigUInt64LE(1n << 63n, 32);
    expect(bad(c)).toMatch(/program header table .* past the end of the file/);
    const d = a64(); d.writeBigUInt64LE((1n << 64n) - 8n, 40);
    expect(bad(d)).toMatch(/section header table .* past the end of the file/);
    const e = a32(); e.writeUInt16LE(0xffff, 48);
    expect(bad(e)).toMatch(/section header table .* past the end of the file/);
  });

  it('entry sizes smaller than a header', () => {
    // a table at the very end whose entries claim no size: read past the buffer before
    const z = a64(); z.writeBigUInt64LE(BigInt(z.length), 32); z.writeUInt16LE(0, 54);
    expect(bad(z)).toMatch(/e_phentsize 0 .*56/);
    const y = a32(); y.writeUInt32LE(y.length - 2, 32); y.writeUInt16LE(0, 46);
    expect(bad(y)).toMatch(/e_shentsize 0 .*40/);
    const b = a64(); b.writeUInt16LE(8, 54);
    expect(bad(b)).toMatch(/e_phentsize 8 .*56/);
    const c = a64(); c.writeUInt16LE(16, 58);
    expect(bad(c)).toMatch(/e_shentsize 16 .*64/);
    const d = a32(); d.writeUInt16LE(0, 46);
    expect(bad(d)).toMatch(/e_shentsize 0 .*40/);
  });

  it('symbol and string tables out of range', () => {
    const b = a64();
    const shoff = Number(b.readBigUInt64LE(40));
    b.writeBigUInt64LE(0xffff_ffffn, shoff + 9 * 64 + 32); // .symtab sh_size
    expect(bad(b)).toMatch(/symbol table .* past the end of the file/);
    const c = a64();
    c.writeUInt32LE(200, shoff + 9 * 64 + 40); // .symtab sh_link
    expect(bad(c)).toMatch(/string table .*section 200.*12 sections/);
    const d = a64();
    d.writeBigUInt64LE(1n << 62n, shoff + 10 * 64 + 24); // .strtab sh_offset
    expect(bad(d)).toMatch(/string table .* past the end of the file/);
  });

  it('segments: data past the end, memsz below filesz, wrapping addresses', () => {
    const b = a64(); b.writeBigUInt64LE(0x10_0000n, ph64(b) + 32);
    expect(bad(b)).toMatch(/segment 0's data.* past the end of the file/);
    const c = a64(); c.writeBigUInt64LE(1n, ph64(c) + 40);
    expect(bad(c)).toMatch(/segment 0's p_memsz .* smaller than .*p_filesz/);
    const d = a64(); d.writeBigUInt64LE((1n << 64n) - 0x1000n, ph64(d) + 24);
    expect(bad(d)).toMatch(/segment 0 .*0xfffffffffffff000.* past the top of the 64-bit address space/);
    const e = a32(); e.writeUInt32LE(0xffff_f000, ph32(e) + 12);
    expect(bad(e)).toMatch(/segment 0 .*0xfffff000.* past the top of the 32-bit address space/);
  });

  it('no program headers, wrong class for the machine, unknown machine', () => {
    const b = a64(); b.writeUInt16LE(0, 56);
    expect(bad(b)).toMatch(/no program headers/);
    const c = a64(); c[4] = 1;
    expect(bad(c)).toMatch(/AArch64 .*ELF32|ELF32 .*AArch64/);
    const d = a32(); d[4] = 2;
    expect(bad(d)).toMatch(/^g\.elf: not a usable ELF file: /);
    const e = a64(); e.writeUInt16LE(62, 18);
    expect(bad(e)).toMatch(/machine 62 .*not AArch64 .* or ARM/);
  });
});

describe.runIf(haveExamples)('regions at the top of the address space and over the UART', () => {
  it('--ram past 2^64 is refused before Unicorn sees it', () => {
    const r = trapdoor(['run', A64, '--ram', '0xfffffffffffff000:1M']);
    expectClean(r, 'ram near 2^64');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/past the top of the 64-bit address space/);
    expect(parseRamSpec('0xfffffffffffff000:1M').ok).toBe(false);
    expect(parseRamSpec('0x10000000000000000:4K').ok).toBe(false);
  });

  it('a region that ends exactly at 2^64 maps (AArch64)', () => {
    const l = loadImage({ path: A64 }, [...SMALL_RAM, { base: 0xfffffffffff00000n, size: 1n << 20n }]);
    expect(l.ok).toBe(true);
    if (l.ok) expect(mapsInUnicorn('aarch64', l.value.mem)).toBeUndefined();
  });

  it('an AArch32 guest has 32-bit addresses', () => {
    const l = loadImage({ path: A32 }, [...SMALL_RAM, { base: 0x1_0000_0000n, size: 1n << 20n }]);
    expect(l.ok).toBe(false);
    if (!l.ok) expect(l.error).toMatch(/past the top of the 32-bit address space.*AArch32/);
    const ok = loadImage({ path: A32 }, [...SMALL_RAM, { base: 0xfff0_0000n, size: 1n << 20n }]);
    expect(ok.ok).toBe(true);
  });

  it('ELF segments near 2^64 give a clear line from the CLI', () => {
    const wrap = patched(A64, 'wrap.elf', (b) => {
      b.writeBigUInt64LE((1n << 64n) - 0x1000n, ph64(b) + 16);
      b.writeBigUInt64LE((1n << 64n) - 0x1000n, ph64(b) + 24);
    });
    const r = trapdoor(['run', wrap]);
    expectClean(r, 'segment wraps');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/segment 0 .* past the top of the 64-bit address space/);
    const raw = trapdoor(['run', A64, '--load', '0xfffffffffffff000', '--arch', 'aarch64']);
    expectClean(raw, 'raw image wraps');
    expect(raw.code).toBe(2);
    expect(raw.err).toMatch(/raw image .* past the top of the 64-bit address space/);
  });

  it('RAM over the UART suggests --uart', () => {
    const r = trapdoor(['run', A64, '--ram', '0x09000000:1M', '--ram', '0x40000000:1M']);
    expectClean(r, 'ram over uart');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/uart0 0x9000000-0x9000fff/);
    expect(r.err).toMatch(/--uart ADDR/);
    expect(r.err).toMatch(/--uart none/);
    const moved = trapdoor(['run', A64, '--ram', '0x09000000:1M', '--ram', '0x40000000:1M', '--uart', 'none', '--quiet']);
    expect(moved.code).toBe(0);
    const seg = patched(A64, 'at-uart.elf', (b) => {
      b.writeBigUInt64LE(0x09000000n, ph64(b) + 16);
      b.writeBigUInt64LE(0x09000000n, ph64(b) + 24);
    });
    const s = trapdoor(['run', seg]);
    expectClean(s, 'segment over uart');
    expect(s.code).toBe(2);
    expect(s.err).toMatch(/--uart ADDR/);
  });
});
