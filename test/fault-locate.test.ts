// The load/store that faulted, found from the block start (pure decoder over real encodings).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { locateFault } from '../server/machine/fault-locate.js';
import { parseElf } from '../server/machine/elf.js';
import { assemble } from './helpers/asm.js';

function words(arch: 'aarch64' | 'arm', body: string) {
  const elf = parseElf(readFileSync(assemble(arch, `.global _start\n_start:\n${body}\n  b .\n`)));
  if (!elf.ok) throw new Error(elf.error);
  const seg = elf.value.segments.find((s) => s.paddr <= elf.value.entry && elf.value.entry < s.paddr + s.memsz)!;
  const base = seg.paddr;
  const dv = new DataView(seg.data.buffer, seg.data.byteOffset, seg.data.byteLength);
  return (a: bigint) => (a - base + 4n <= BigInt(seg.data.length) ? dv.getUint32(Number(a - base), true) : undefined);
}

const START = 0x40000000n;
const regs = (m: Record<number, bigint>) => (n: number) => m[n] ?? 0n;

describe('locateFault', () => {
  const cases: [string, string, Record<number, bigint>, bigint, number][] = [
    // body, registers now, fault address, index of the faulting instruction
    ['unsigned offset', 'add x0, x0, #1\n  ldr x2, [x1, #16]\n  str x3, [x4, #8]', { 1: 0x40000100n, 4: 0x1000n }, 0x1008n, 2],
    ['register offset', 'ldr w2, [x1, x5, lsl #2]', { 1: 0x2000n, 5: 3n }, 0x200cn, 0],
    ['post-index uses the base as is', 'ldr x2, [x1], #32', { 1: 0x3000n }, 0x3000n, 0],
    ['pre-index adds first', 'str x2, [x1, #-16]!', { 1: 0x3010n }, 0x3000n, 0],
    ['pair, second register', 'mov x9, #1\n  ldp x2, x3, [x1, #16]', { 1: 0x5000n }, 0x5018n, 1],
    ['SP base', 'str x0, [sp, #8]', { 31: 0x6000n }, 0x6008n, 0],
    ['exclusive', 'ldxr x0, [x7]', { 7: 0x7000n }, 0x7000n, 0],
  ];
  for (const [what, body, r, addr, index] of cases) {
    it(`AArch64: ${what}`, () => {
      const pc = locateFault('aarch64', { word: words('aarch64', body), reg: regs(r), faultAddr: addr, faultSize: 4, start: START });
      expect(pc).toBe(START + BigInt(index * 4));
    });
  }

  it('AArch32: immediate, negative offset and halfword forms', () => {
    const w = words('arm', 'ldr r0, [r1, #4]\n  str r2, [r3, #-8]\n  ldrh r4, [r5, #2]');
    expect(locateFault('arm', { word: w, reg: regs({ 1: 0x9000n }), faultAddr: 0x9004n, faultSize: 4, start: START })).toBe(START);
    expect(locateFault('arm', { word: w, reg: regs({ 1: 0x40000000n, 3: 0x108n }), faultAddr: 0x100n, faultSize: 4, start: START })).toBe(START + 4n);
    expect(locateFault('arm', { word: w, reg: regs({ 1: 0x40000000n, 3: 0x40000000n, 5: 0x200n }), faultAddr: 0x202n, faultSize: 2, start: START })).toBe(START + 8n);
  });

  it('gives up at the end of the block when no access matches', () => {
    expect(locateFault('aarch64', { word: words('aarch64', 'ldr x2, [x1]'), reg: regs({ 1: 0x40000000n }), faultAddr: 0x10n, faultSize: 8, start: START })).toBeUndefined();
  });
});
