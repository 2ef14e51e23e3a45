// The machine layer's own contract: server/machine/cpu.ts over native/trapdoor.c and
// libunicorn (memory cost of watchpoints, attach failures, the shared layout).
// Driven at the Cpu level, on this thread: no worker, no Session.
import { describe, it, expect, afterEach } from 'vitest';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { Cpu } from '../server/machine/cpu.js';
import * as uc from '../server/machine/unicorn.js';
import { unicorn, UC_ARCH_ARM64, UC_MODE_ARM } from '../server/machine/unicorn.js';
import { CTL, ACT, STOP } from '../server/machine/ctl.js';
import { registerTable, ARM64_IDS, ARM_IDS } from '../server/machine/registers.js';
import { MemoryMap } from '../server/machine/memory.js';
import { parseElf } from '../server/machine/elf.js';
import { frame, regToHex } from '../gdbstub/framing.js';
import { assemble, scratchDir, ROOT } from './helpers/asm.js';

const RAM_BASE = 0x4000_0000n;
const RAM_SIZE = 16n << 20n;

const cpus: Cpu[] = [];
afterEach(() => { while (cpus.length) cpus.pop()!.close(); });

/** A vCPU with the assembled guest loaded at 0x40000000; every SMC/HVC stops the run. */
function guest(src: string, opts: { countBlocks?: boolean } = {}) {
  const elf = parseElf(readFileSync(assemble('aarch64', src)));
  if (!elf.ok) throw new Error(elf.error);
  const mem = new MemoryMap();
  const ram = mem.addRam('ram', RAM_BASE, RAM_SIZE);
  if (!ram.ok) throw new Error(ram.error);
  for (const seg of elf.value.segments) {
    // ld puts the ELF headers in the same PT_LOAD, just below the text: skip them
    const skip = seg.paddr < RAM_BASE ? Number(RAM_BASE - seg.paddr) : 0;
    new Uint8Array(ram.value.buf).set(seg.data.subarray(skip), Number(seg.paddr + BigInt(skip) - RAM_BASE));
  }
  const cpu = new Cpu('aarch64', mem, new SharedArrayBuffer(CTL.SLOTS * 8), () => ACT.STOP, opts);
  cpus.push(cpu);
  cpu.pc = elf.value.entry;
  const sym = (name: string) => elf.value.symbols.find((s) => s.name === name)!.value;
  return { cpu, sym };
}

const MB = 1 << 20;
const rss = () => process.memoryUsage().rss;

describe('watchpoints (bug 5: one watchpoint cost ~1 GB of RSS)', () => {
  // Two rounds of a loop that stores to and loads from `var` (on its own page, away
  // from the code). Every block of round 2 is translated and run in round 1, before
  // any watchpoint exists; round 2 must still report the access: Unicorn decides when
  // it translates a block whether its loads go through the memory hooks (2.0.1's
  // stores always do, through its dirty tracking), so adding a watchpoint has to drop
  // the blocks translated before.
  const src = `.global _start
_start:
  ldr x2, =var
  mov x4, #2
  b round
round:
  mov x3, #0
  b 1f
1:
  add x3, x3, #1
  str x3, [x2]
  ldr x5, [x2]
  cmp x3, #100
  b.ne 1b
  sub x4, x4, #1
  b check
check:
  cbnz x4, round
  ldr x0, =0x84000008
  smc #0
.ltorg
.balign 0x1000
var: .quad 0
`;

  for (const kind of ['write', 'read'] as const) {
    it(`a 4-byte ${kind} watchpoint added after the code ran fires; adding, hitting and removing it costs < 100 MB`, () => {
      const { cpu, sym } = guest(src);
      const check = sym('check');
      const v = sym('var');
      expect(cpu.addBreakpoint(check).ok).toBe(true);
      expect(cpu.run()).toEqual({ kind: 'breakpoint', addr: check });
      expect(cpu.removeBreakpoint(check)).toBe(true);

      const before = rss();
      expect(cpu.addWatchpoint(v, 4, kind)).toEqual({ ok: true, value: true });
      expect(cpu.run()).toEqual({ kind: 'watchpoint', addr: v, access: kind });
      expect(cpu.reg('x3')).toBe(1n); // the first access of round 2
      expect(cpu.removeWatchpoint(v, 4, kind)).toBe(true);
      expect(cpu.run()).toEqual({ kind: 'trap' });
      expect(cpu.reg('x0')).toBe(0x84000008n);
      expect((rss() - before) / MB).toBeLessThan(100);
    });
  }

  it('many watchpoints added and removed do not grow memory either', () => {
    const { cpu, sym } = guest(src);
    const v = sym('var');
    expect(cpu.run()).toEqual({ kind: 'trap' });
    const before = rss();
    for (let i = 0; i < 50; i++) {
      expect(cpu.addWatchpoint(v + BigInt(i * 8), 8, 'access').ok).toBe(true);
      expect(cpu.removeWatchpoint(v + BigInt(i * 8), 8, 'access')).toBe(true);
    }
    expect((rss() - before) / MB).toBeLessThan(100);
  });
});

/** Virtual size of this process: every Unicorn instance reserves 1 GiB of it for its
 * translation buffer until uc_close, so a leaked instance shows here. */
const vmSize = () => Number(/VmSize:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

describe('attaching the native hooks (bug 10)', () => {
  it('td_attach: a failed hook leaves no hook and no slot behind; slots are claimed atomically; detach removes its hooks', () => {
    // A C harness that links build/libtrapdoor.so and interposes uc_hook_add to make
    // one of td_attach's hooks fail (test/native/td-attach.c).
    const exe = path.join(mkdtempSync(path.join(scratchDir(), 'td-attach-')), 'td-attach');
    const build = path.join(ROOT, 'build');
    execFileSync('gcc', ['-O1', '-Wall', '-o', exe, path.join(ROOT, 'test/native/td-attach.c'),
      `-L${build}`, '-ltrapdoor', '-lunicorn', '-ldl', '-lpthread', `-Wl,-rpath,${build}`]);
    const r = spawnSync(exe, [String(CTL.SLOT)], { encoding: 'utf8', timeout: 60_000 });
    const out = r.stdout + (r.signal ? `\nkilled by ${r.signal}` : '');
    expect(out.split('\n').filter((l) => l.startsWith('FAIL') || l.startsWith('killed'))).toEqual([]);
    expect(out).toMatch(/^done 0$/m);
    expect(r.status).toBe(0);
  });

  it('a Cpu that cannot attach says why and gives back its Unicorn instance; a freed slot cannot be stopped and is reused', () => {
    const lib = unicorn();
    // Take every free slot with bare attaches to one scratch engine (cheap: a
    // Cpu each would cost ~3 MB and 1 GiB of address space).
    const h: unknown[] = [null];
    expect(lib.uc_open(UC_ARCH_ARM64, UC_MODE_ARM, h)).toBe(0);
    const scratch = h[0];
    const taken: { td: unknown; ctl: BigUint64Array }[] = [];
    for (;;) {
      const ctl = new BigUint64Array(CTL.SLOTS);
      const td = lib.td_attach(scratch, ctl, 0, null, 0);
      if (!td) break;
      taken.push({ td, ctl });
      if (taken.length > 100_000) throw new Error('td_attach never runs out of slots');
    }
    try {
      expect(taken.length).toBe(256);
      const mem = new MemoryMap();
      mem.addRam('ram', RAM_BASE, 0x1000n);
      const before = vmSize();
      const errors: string[] = [];
      for (let i = 0; i < 3; i++) {
        try {
          cpus.push(new Cpu('aarch64', mem, new SharedArrayBuffer(CTL.SLOTS * 8), () => ACT.STOP));
        } catch (e) { errors.push(String(e)); }
      }
      expect((vmSize() - before) / MB).toBeLessThan(512);
      expect(errors).toHaveLength(3);
      for (const e of errors) expect(e).toMatch(/all 256 vCPU slots .*in use/);

      // Free one slot: nothing answers there any more, and the next Cpu takes it.
      const k = 17;
      const slot = Number(taken[k].ctl[CTL.SLOT]);
      lib.td_detach(taken[k].td);
      taken.splice(k, 1);
      expect(lib.td_hard_stop(slot)).toBe(-1);
      const cpu = new Cpu('aarch64', mem, new SharedArrayBuffer(CTL.SLOTS * 8), () => ACT.STOP);
      cpus.push(cpu);
      expect(Number(cpu.ctl[CTL.SLOT])).toBe(slot);
      expect(lib.td_hard_stop(slot)).toBe(0);
    } finally {
      for (const t of taken) lib.td_detach(t.td);
      lib.uc_close(scratch);
    }
  });
});

/**
 * Values of C constants as the compiler sees them: native/trapdoor.c itself (so its
 * enums are evaluated, not parsed) and the installed Unicorn headers. A name that
 * does not exist is a compile error, which fails the test with gcc's message.
 */
function cValues(names: string[]): Map<string, bigint> {
  const dir = mkdtempSync(path.join(scratchDir(), 'layout-'));
  const src = path.join(dir, 'layout.c');
  writeFileSync(src, `#include "${path.join(ROOT, 'native/trapdoor.c')}"\n#include <stdio.h>\nint main(void) {\n` +
    names.map((n) => `  printf("%s %lld\\n", "${n}", (long long)(${n}));\n`).join('') + '  return 0;\n}\n');
  const exe = path.join(dir, 'layout');
  const r = spawnSync('gcc', ['-w', '-pthread', '-o', exe, src, '-lunicorn'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`compiling the layout probe failed:\n${r.stderr}`);
  const out = execFileSync(exe, { encoding: 'utf8' });
  return new Map(out.trim().split('\n').map((l) => { const i = l.lastIndexOf(' '); return [l.slice(0, i), BigInt(l.slice(i + 1))]; }));
}

/** The members of trapdoor.c's enums whose names start with `prefix`. */
function cEnumNames(prefix: string): string[] {
  const text = readFileSync(path.join(ROOT, 'native/trapdoor.c'), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const names = new Set<string>();
  for (const body of text.matchAll(/\benum\s*\{([^}]*)\}/g)) {
    for (const m of body[1].matchAll(/\b([A-Z][A-Z0-9_]*)\s*(=|,|$)/g)) if (m[1].startsWith(prefix)) names.add(m[1]);
  }
  return [...names];
}

describe('one layout for C and TypeScript (ctl.ts, registers.ts, unicorn.ts against trapdoor.c and the Unicorn headers)', () => {
  it('CTL_*, STOP_* and ACT_* of native/trapdoor.c are CTL, STOP and ACT of server/machine/ctl.ts', () => {
    for (const [prefix, table] of [['CTL_', CTL], ['STOP_', STOP], ['ACT_', ACT]] as const) {
      const names = cEnumNames(prefix);
      expect(names.length).toBeGreaterThan(1);
      const c = cValues(names);
      const fromC = Object.fromEntries([...c].map(([n, v]) => [n.slice(prefix.length), Number(v)]));
      expect([prefix, table]).toEqual([prefix, fromC]);
    }
    // Every slot fits the shared block and no two names share a slot (REGS and WB span 18).
    const slots = Object.entries(CTL).filter(([n]) => n !== 'SLOTS').map(([n, v]) => [n, v, n === 'REGS' || n === 'WB' ? 18 : 1] as const);
    const used = new Map<number, string>();
    for (const [n, v, len] of slots) {
      for (let i = v; i < v + len; i++) {
        expect([n, i, used.get(i)]).toEqual([n, i, undefined]);
        used.set(i, n);
      }
      expect(v + len).toBeLessThanOrEqual(CTL.SLOTS);
    }
  });

  it('register ids in registers.ts are those of the 2.0.1 headers', () => {
    const want = new Map<string, number>(); // header name -> id used in TypeScript
    const put = (name: string, id: number) => {
      expect([name, want.get(name) ?? id]).toEqual([name, id]);
      want.set(name, id);
    };
    for (const [k, v] of Object.entries(ARM64_IDS)) put(`UC_ARM64_REG_${k}`, v);
    for (const [k, v] of Object.entries(ARM_IDS)) put(`UC_ARM_REG_${k}`, v);
    // Every register of both tables read through an id, by its header name.
    const a64 = (n: string) => (/^v\d+$/.test(n) ? `Q${n.slice(1)}` : n === 'cpsr' ? 'PSTATE' : n.toUpperCase());
    for (const d of registerTable('aarch64')) if (d.uc !== undefined) put(`UC_ARM64_REG_${a64(d.name)}`, d.uc);
    for (const d of registerTable('arm')) if (d.uc !== undefined) put(`UC_ARM_REG_${d.name.toUpperCase()}`, d.uc);
    put('UC_ARM64_REG_CP_REG', uc.UC_ARM64_REG_CP_REG);
    put('UC_ARM_REG_CP_REG', uc.UC_ARM_REG_CP_REG);
    expect(want.size).toBeGreaterThan(100);
    const c = cValues([...want.keys()]);
    for (const [n, id] of want) expect([n, id]).toEqual([n, Number(c.get(n))]);
  });

  it('the Unicorn constants of unicorn.ts are those of the headers', () => {
    const want = new Map<string, number>([
      ['UC_ARCH_ARM', uc.UC_ARCH_ARM], ['UC_ARCH_ARM64', uc.UC_ARCH_ARM64], ['UC_MODE_ARM', uc.UC_MODE_ARM],
      ['UC_PROT_ALL', uc.UC_PROT_ALL], ['UC_CTL_CPU_MODEL', uc.UC_CTL_CPU_MODEL],
      ['UC_CTL_TB_REMOVE_CACHE', uc.UC_CTL_TB_REMOVE_CACHE], ['UC_CTL_TB_FLUSH', uc.UC_CTL_TB_FLUSH],
      ['UC_CTL_WRITE(UC_CTL_CPU_MODEL, 1)', uc.ucCtlWrite(uc.UC_CTL_CPU_MODEL, 1)],
      ['UC_CTL_WRITE(UC_CTL_TB_REMOVE_CACHE, 2)', uc.ucCtlWrite(uc.UC_CTL_TB_REMOVE_CACHE, 2)],
      ['UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0)', uc.ucCtlWrite(uc.UC_CTL_TB_FLUSH, 0)],
    ]);
    for (const [k, v] of Object.entries(uc.UC_ERR)) want.set(`UC_ERR_${k}`, v);
    const memName: Record<string, string> = {
      read: 'READ', write: 'WRITE', fetch: 'FETCH', 'read (unmapped)': 'READ_UNMAPPED', 'write (unmapped)': 'WRITE_UNMAPPED',
      'fetch (unmapped)': 'FETCH_UNMAPPED', 'write (protected)': 'WRITE_PROT', 'read (protected)': 'READ_PROT', 'fetch (protected)': 'FETCH_PROT',
    };
    for (const [v, text] of Object.entries(uc.UC_MEM_TYPES)) want.set(`UC_MEM_${memName[text]}`, Number(v));
    const c = cValues([...want.keys()]);
    // uc_ctl's control word is an int: compare as 32-bit signed
    for (const [n, v] of want) expect([n, v]).toEqual([n, Number(BigInt.asIntN(32, c.get(n)!))]);
  });
});

describe('stop replies built natively (td_stop_frame)', () => {
  it('registers and run-length encoding byte for byte as frame() makes them from the text', () => {
    const { cpu } = guest(`.global _start\n_start:\n  b _start\n`);
    const values = [0n, 0x1111_1111_1111_1111n, 0xffff_0000_ffff_0000n, 0x0123_4567_89ab_cdefn, 0x7n, 0x8000_0000_0000_0000n, 0x4444_4444_0000_0007n];
    values.forEach((v, i) => cpu.setReg(`x${i}`, v));
    const names = [...values.map((_, i) => `x${i}`), 'sp', 'pc', 'cpsr'];
    const regnums = [...values.map((_, i) => i), 31, 32, 0x21];
    const text = names.map((n, i) => `${regnums[i].toString(16)}:${regToHex(cpu.reg(n), n === 'cpsr' ? 4 : 8)};`).join('');
    for (const head of ['T05thread:1;', 'T02swbreak:;thread:1;', 'T05watch:40000010;thread:1;']) {
      expect(cpu.stopFrame(head, names, regnums)!.toString('latin1')).toBe(frame(head + text).toString('latin1'));
    }
    // the encoder alone (no registers), on text full of runs of every length
    let x = 12345;
    const rand = (n: number) => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x % n; };
    for (let k = 0; k < 500; k++) {
      let head = '';
      while (head.length < rand(400)) head += '0a:;f'[rand(5)].repeat(1 + rand(rand(2) ? 12 : 120));
      expect([head, cpu.stopFrame(head, [], [])!.toString('latin1')]).toEqual([head, frame(head).toString('latin1')]);
    }
    expect(cpu.stopFrame('T05', ['x0', 'nosuch'], [0, 1])).toBeUndefined();
  });
});

describe('counting mode (the native block hook)', () => {
  const src = `.global _start
_start:
  mov x1, #1000
1:
  subs x1, x1, #1
  b.ne 1b
  ldr x0, =0x84000008
  smc #0
`;
  it('stops at the first block that reaches the deadline; a deadline set between runs is honoured; none runs to the end', () => {
    const { cpu } = guest(src);
    cpu.deadline = 101; // blocks of 3, then 2 instructions: 3, 5, ... 101
    expect(cpu.run()).toEqual({ kind: 'deadline' });
    expect(cpu.insns).toBe(101);
    expect(cpu.reg('x1')).toBe(1000n - 49n);
    cpu.deadline = 0;
    cpu.deadline = 151; // the resumed block is counted again: 103, 105, ... 151
    expect(cpu.run()).toEqual({ kind: 'deadline' });
    expect(cpu.insns).toBe(151);
    cpu.deadline = 0;
    expect(cpu.run()).toEqual({ kind: 'trap' });
    expect(cpu.reg('x1')).toBe(0n);
    expect(cpu.reg('x0')).toBe(0x84000008n);
  });

  it('a pause requested before the run stops before the first block runs', () => {
    const { cpu } = guest(src);
    const entry = cpu.pc;
    Atomics.store(cpu.ctl32, 0, 1);
    expect(cpu.run()).toEqual({ kind: 'pause' });
    expect(cpu.pc).toBe(entry);
    expect(cpu.reg('x1')).toBe(0n);
    expect(cpu.run()).toEqual({ kind: 'trap' });
  });

  it('without the block hook (--no-count) nothing is counted and the run goes to the end', () => {
    const { cpu } = guest(src, { countBlocks: false });
    cpu.deadline = 10;
    expect(cpu.run()).toEqual({ kind: 'trap' });
    expect(cpu.insns).toBe(0);
  });
});

describe('counted runs (single steps Unicorn cannot be spared)', () => {
  const src = `.global _start
_start:
  mov x1, #1
  mov x2, #2
  mov x3, #3
next:
  mov x4, #4
  b far
  nop
far:
  mov x5, #5
  ldr x0, =0x84000008
  smc #0
`;
  it('steps one instruction at a time, a breakpoint on the next instruction reads as the step, and the switch back to a normal run costs < 100 MB', () => {
    const { cpu, sym } = guest(src);
    const entry = cpu.pc;
    const before = rss();
    expect(cpu.run(1)).toEqual({ kind: 'step' });
    expect(cpu.pc).toBe(entry + 4n);
    expect(cpu.reg('x1')).toBe(1n);
    expect(cpu.addBreakpoint(entry + 8n).ok).toBe(true);
    expect(cpu.run(1)).toEqual({ kind: 'step' });
    expect(cpu.pc).toBe(entry + 8n);
    expect(cpu.reg('x2')).toBe(2n);
    // resuming from the breakpoint passes it
    expect(cpu.run(1)).toEqual({ kind: 'step' });
    expect(cpu.pc).toBe(entry + 12n);
    expect(cpu.reg('x3')).toBe(3n);
    expect(cpu.addBreakpoint(sym('far')).ok).toBe(true);
    expect(cpu.run()).toEqual({ kind: 'breakpoint', addr: sym('far') });
    expect(cpu.reg('x4')).toBe(4n);
    expect(cpu.run(2)).toEqual({ kind: 'step' });
    expect(cpu.reg('x5')).toBe(5n);
    expect(cpu.pc).toBe(sym('far') + 8n);
    expect(cpu.run()).toEqual({ kind: 'trap' });
    expect((rss() - before) / MB).toBeLessThan(100);
  });

  it('a step right after a normal run sees the instructions already translated', () => {
    const { cpu, sym } = guest(src);
    expect(cpu.addBreakpoint(sym('next')).ok).toBe(true);
    expect(cpu.run()).toEqual({ kind: 'breakpoint', addr: sym('next') });
    expect(cpu.removeBreakpoint(sym('next'))).toBe(true);
    // the block at `next` was translated without any per-instruction hook
    expect(cpu.run(1)).toEqual({ kind: 'step' });
    expect(cpu.pc).toBe(sym('next') + 4n);
    expect(cpu.reg('x4')).toBe(4n);
    expect(cpu.reg('x5')).toBe(0n);
  });
});
