// Fault messages as `trapdoor run` prints them (issue 14, item 12): the pc of the
// instruction that faulted, names that are code, counts in plain English, and why
// an injected undef went nowhere.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { assemble, ROOT } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');

function trapdoor(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('guest faults', () => {
  it('an SVC is reported at the SVC itself, not at its return address, and is not counted as a trap', () => {
    const a64 = assemble('aarch64', '.global _start\n_start:\n  nop\n  svc #0\n  nop\n', 'svc64');
    const r = trapdoor(['run', a64]);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/exception 2 \(SVC\) at 0x40000004;/);
    expect(r.err).toMatch(/^ {2}pc 0x40000004 <_start\+0x4>$/m);
    expect(r.out).toMatch(/run ended by a guest fault \(0 traps, /);
    const a32 = assemble('arm', '.global _start\n_start:\n  nop\n  svc #0\n  nop\n', 'svc32');
    expect(trapdoor(['run', a32]).err).toMatch(/^ {2}pc 0x40000004 <_start\+0x4>$/m);
    const thumb = assemble('arm', '.global _start\n_start:\n  ldr r0, =t + 1\n  bx r0\n.thumb\n.thumb_func\nt:\n  nop\n  svc #0\n  nop\n', 'svc-thumb');
    expect(trapdoor(['run', thumb]).err).toMatch(/exception 2 \(SVC\) at 0x4000000a;[^\n]*\n {2}pc 0x4000000a <t\+0x2>$/m);
  });

  it('BRK and HLT are reported at the instruction', () => {
    for (const insn of ['brk #0', 'hlt #0']) {
      const g = assemble('aarch64', `.global _start\n_start:\n  nop\n  ${insn}\n`, 'brk');
      const r = trapdoor(['run', g]);
      expect(r.code).toBe(4);
      expect(r.err).toMatch(/^ {2}pc 0x40000004 <_start\+0x4>$/m);
    }
  });

  it('a linker symbol (_bss_end__, _edata) does not name code', () => {
    // jumps to the end of the image, where the linker puts _bss_end__ and friends
    const g = assemble('aarch64', '.global _start\n_start:\n  ldr x0, =_bss_end__\n  br x0\n', 'bss-end');
    const r = trapdoor(['run', g]);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/^ {2}pc 0x4/m);
    expect(r.err).not.toMatch(/<_?_?(bss|edata|end)/);
  });

  it('counts read as English: 1 instruction, 0 traps', () => {
    const spin = assemble('aarch64', '.global _start\n_start:\n  b .\n', 'one');
    const r = trapdoor(['run', spin, '--max-insns', '1']);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/instruction limit reached \(1 instruction\) at pc 0x40000000 <_start> \(0 traps, 1 instruction, /);
    expect(r.out).not.toMatch(/1 instructions/);
  });

  it('an injected undef whose vector is not mapped says that VBAR is not set', () => {
    const g = assemble('aarch64', '.global _start\n_start:\n  ldr x0, =0x82000010\n  smc #0\n  nop\n', 'no-vbar');
    const r = trapdoor(['run', g, '--on', '0x82000010=undef']);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/the undef injected at trap #1 went to its vector at 0x200, which is not mapped: VBAR_EL1 is not set \(the guest has no vector table yet\)/);
    const a32 = assemble('arm', '.global _start\n_start:\n  ldr r0, =0x82000010\n  smc #0\n  nop\n', 'no-vbar32');
    const r32 = trapdoor(['run', a32, '--on', '0x82000010=undef', '--ram', '0x40000000:16M']);
    expect(r32.err).toMatch(/which is not mapped: VBAR is not set/);
  });
});
