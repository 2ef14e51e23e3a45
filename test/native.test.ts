// The machine layer's own contract: server/machine/cpu.ts over native/trapdoor.c and
// libunicorn (memory cost of watchpoints, attach failures, the shared layout).
// Driven at the Cpu level, on this thread: no worker, no Session.
import { describe, it, expect, afterEach } from 'vitest';
import { readFileSync, mkdtempSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { Cpu } from '../server/machine/cpu.js';
import { unicorn, UC_ARCH_ARM64, UC_MODE_ARM } from '../server/machine/unicorn.js';
import { CTL, ACT } from '../server/machine/ctl.js';
import { MemoryMap } from '../server/machine/memory.js';
import { parseElf } from '../server/machine/elf.js';
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
