// The example guests build with mk/examples.mk and contain the calls the tour
// promises. Running them under the emulator is covered by the session tests.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RAM_START = 0x40000000;
const RAM_END = RAM_START + 128 * 1024 * 1024;

type Arch = 'aarch64' | 'aarch32';
const TOOL_PREFIX: Record<Arch, string> = { aarch64: 'aarch64-linux-gnu-', aarch32: 'arm-linux-gnueabihf-' };

function tool(arch: Arch, name: string, ...args: string[]): string {
  return execFileSync(`${TOOL_PREFIX[arch]}${name}`, args, { cwd: ROOT, encoding: 'utf8' });
}

interface ElfFacts {
  entry: number;
  symbols: Map<string, number>;
  loads: { vaddr: number; memsz: number }[];
  disasm: string;
}

function inspect(arch: Arch, elf: string): ElfFacts {
  const header = tool(arch, 'readelf', '-hlW', elf);
  const entry = Number(/Entry point address:\s+(0x[0-9a-f]+)/.exec(header)?.[1]);
  const loads = [...header.matchAll(/^\s*LOAD\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)/gm)].map(
    (m) => ({ vaddr: Number(m[1]), memsz: Number(m[2]) }),
  );
  const symbols = new Map<string, number>();
  for (const line of tool(arch, 'nm', elf).split('\n')) {
    const m = /^([0-9a-f]+) \w (\S+)$/.exec(line);
    if (m) symbols.set(m[2], Number.parseInt(m[1], 16));
  }
  return { entry, symbols, loads, disasm: tool(arch, 'objdump', '-d', elf) };
}

/** Instructions in objdump's text form (mnemonic and operands, tab separated). */
function count(disasm: string, insn: RegExp): number {
  return disasm.split('\n').filter((l) => {
    const cols = l.split('\t');
    return cols.length >= 3 && insn.test(cols.slice(2).join('\t').trim());
  }).length;
}

const EXAMPLES: { path: string; arch: Arch }[] = [
  { path: 'examples/aarch64/smccc-tour.elf', arch: 'aarch64' },
  { path: 'examples/aarch64/loop.elf', arch: 'aarch64' },
  { path: 'examples/aarch64/trap-storm.elf', arch: 'aarch64' },
  { path: 'examples/aarch32/legacy-thumb.elf', arch: 'aarch32' },
];

const facts = new Map<string, ElfFacts>();

beforeAll(() => {
  execFileSync('make', ['-s', '-f', 'mk/examples.mk', 'examples'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const e of EXAMPLES) facts.set(e.path, inspect(e.arch, join(ROOT, e.path)));
}, 60_000);

describe('example guests', () => {
  it.each(EXAMPLES)('$path starts at _start inside RAM and loads only into RAM', ({ path }) => {
    expect(existsSync(join(ROOT, path))).toBe(true);
    const f = facts.get(path)!;
    expect(f.symbols.get('_start')).toBe(f.entry);
    expect(f.entry).toBeGreaterThanOrEqual(RAM_START);
    expect(f.entry).toBeLessThan(RAM_END);
    expect(f.loads.length).toBeGreaterThan(0);
    for (const l of f.loads) {
      expect(l.vaddr).toBeGreaterThanOrEqual(RAM_START);
      expect(l.vaddr + l.memsz).toBeLessThanOrEqual(RAM_END);
    }
  });

  it('smccc-tour makes each kind of call and has an aligned vector table', () => {
    const f = facts.get('examples/aarch64/smccc-tour.elf')!;
    // PSCI_VERSION, SMCCC_VERSION, PSCI_FEATURES, TRNG_RND64, SiP unknown, SiP undef, CPU_ON, SYSTEM_OFF, CPU_OFF
    expect(count(f.disasm, /^smc\s+#0x0$/)).toBe(9);
    expect(count(f.disasm, /^hvc\s+#0x0$/)).toBe(1);
    expect(count(f.disasm, /^hvc\s+#0xea1$/)).toBe(1);
    expect(count(f.disasm, /^mov\s+x16, #0x11\b/)).toBe(1);
    expect(count(f.disasm, /^msr\s+vbar_el1, x0$/)).toBe(1);
    expect(count(f.disasm, /^mrs\s+x0, esr_el1$/)).toBeGreaterThan(0);
    expect(count(f.disasm, /^msr\s+elr_el1, x0$/)).toBe(1);
    expect(count(f.disasm, /^eret$/)).toBe(1);
    const vectors = f.symbols.get('vectors')!;
    expect(vectors % 2048).toBe(0);
    // VBAR + 0x200 (current EL, SPx, synchronous) branches to the handler
    expect(f.disasm).toMatch(new RegExp(`${(vectors + 0x200).toString(16)}:\\s+\\w+\\s+b\\s+\\w+ <sync_handler>`));
    expect(f.symbols.has('secondary_entry')).toBe(true);
  });

  it('legacy-thumb makes a Highbank call, a Thumb SMC and installs its vectors', () => {
    const f = facts.get('examples/aarch32/legacy-thumb.elf')!;
    expect(count(f.disasm, /^movw\s+ip, #258\b/)).toBe(1); // r12 = 0x102
    expect(count(f.disasm, /^smc\s+0$/)).toBe(3); // ARM: Highbank, SiP undef, SYSTEM_OFF
    expect(count(f.disasm, /^smc\s+#0$/)).toBe(1); // Thumb-2: PSCI_VERSION
    expect(count(f.disasm, /^blx\s+\w+ <thumb_psci_version>$/)).toBe(1);
    expect(count(f.disasm, /^mcr\s+15, 0, r0, cr12, cr0, \{0\}$/)).toBe(1); // VBAR
    expect(count(f.disasm, /^movs\s+pc, lr$/)).toBe(1);
    expect(f.symbols.get('vectors')! % 32).toBe(0);
    // the Thumb SMC is a 32-bit encoding (f7f0 8000)
    expect(f.disasm).toMatch(/\bf7f0 8000\s+smc\s+#0/);
  });

  it('loop has no trap but SYSTEM_OFF and a patchable iteration count', () => {
    const f = facts.get('examples/aarch64/loop.elf')!;
    expect(count(f.disasm, /^(smc|hvc)\b/)).toBe(1);
    expect(f.symbols.get('iterations')! % 8).toBe(0);
  });

  it('trap-storm makes its SMC in a loop, then SYSTEM_OFF', () => {
    const f = facts.get('examples/aarch64/trap-storm.elf')!;
    expect(count(f.disasm, /^smc\s+#0x0$/)).toBe(2);
    expect(count(f.disasm, /^hvc\b/)).toBe(0);
    expect(f.symbols.get('calls')! % 8).toBe(0);
  });

  it('rebuilds nothing when up to date', () => {
    const out = execFileSync('make', ['-f', 'mk/examples.mk', 'examples'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/Nothing to be done for 'examples'/);
  });
});
