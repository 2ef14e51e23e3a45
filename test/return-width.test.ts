// A `return` value wider than the register it goes to is an error in every path
// (policy file, --on, a rule added while running, a decision, the console), never
// silently truncated; negative values that fit as signed are two's complement.
import { describe, it, expect } from 'vitest';
import { parseOnFlag, parsePolicyText } from '../server/policy/index.js';
import { sessionFixture, policy } from './helpers/sessions.js';

const session = sessionFixture('width');

// PSCI_VERSION (asked), its r0/r1 kept in r8/r9, then SYSTEM_OFF.
const A32 = `.global _start\n_start:\n  ldr r0, =0x84000000\n  smc #0\n  mov r8, r0\n  mov r9, r1\n  ldr r0, =0x84000008\n  smc #0\n`;
const A64 = `.global _start\n_start:\n  ldr x0, =0x84000000\n  smc #0\n  mov x19, x0\n  ldr x0, =0x84000008\n  smc #0\n`;

describe('return values wider than the register', () => {
  it('AArch32: a decision with r1=0x123456789 is refused, the trap still waits, and r0=-2 arrives as 0xfffffffe', async () => {
    const s = await session('arm', A32, { policy: policy('0x84000000=ask') });
    const c = s.connect('test');
    const stop = await c.cont();
    expect(stop.ok && stop.value.reason).toBe('trap');
    expect(await c.decide({ decision: { action: 'return', values: { r0: '0', r1: '0x123456789' } } })).toEqual({
      ok: false,
      code: 'invalid',
      error: "r1=0x123456789 does not fit in the guest's 32-bit r1 (allowed -2147483648 .. 0xffffffff)",
    });
    expect(await c.decide({ decision: { action: 'return', values: { r0: '-0x80000001' } } })).toMatchObject({ ok: false, code: 'invalid' });
    const good = await c.decide({ decision: { action: 'return', values: { r0: '-2', r1: '0xffffffff' } } });
    expect(good.ok && good.value.result.regs).toEqual({ r0: '0xfffffffe', r1: '0xffffffff' });
    const end = await c.cont();
    expect(end.ok && end.value.reason).toBe('exit');
    const regs = await c.readRegisters({ names: ['r8', 'r9'] });
    expect(regs).toEqual({ ok: true, value: { r8: '0xfffffffe', r9: '0xffffffff' } });
  });

  it('AArch64: w0=0x100000000 is refused, x0=-1 is 64 bits of ones', async () => {
    const s = await session('aarch64', A64, { policy: policy('0x84000000=ask') });
    const c = s.connect('test');
    expect((await c.cont()).ok).toBe(true);
    expect(await c.decide({ decision: { action: 'return', values: { w0: '0x100000000' } } })).toMatchObject({
      ok: false,
      code: 'invalid',
      error: expect.stringMatching(/^w0=0x100000000 does not fit in the guest's 32-bit w0/),
    });
    const good = await c.decide({ decision: { action: 'return', values: { x0: '-1' } } });
    expect(good.ok && good.value.result.regs).toEqual({ x0: '0xffffffffffffffff' });
  });

  it('is refused by the policy file, --on, a rule added while running and the console as well', async () => {
    const file = parsePolicyText('rules:\n  - match: { id: 0x84000000 }\n    action: "return(r1=0x123456789)"\n', 'p.yaml');
    expect(file).toMatchObject({ ok: false, error: { line: 3, message: expect.stringMatching(/r1=0x123456789 does not fit in 32 bits/) } });
    expect(parseOnFlag('0x84000000=return(r1=0x123456789)', 'on1')).toMatchObject({ ok: false, error: expect.stringMatching(/does not fit in 32 bits/) });
    const s = await session('arm', A32, { policy: policy('0x84000000=ask') });
    const c = s.connect('test');
    expect((await c.cont()).ok).toBe(true);
    expect(await c.addRule({ rule: 'smc=return(r1=0x123456789)' })).toMatchObject({ ok: false, error: expect.stringMatching(/does not fit in 32 bits/) });
    const said = await c.console({ line: 'decide return r1=0x123456789' });
    expect(said.ok && said.value).toMatchObject({ failed: true, lines: [expect.stringMatching(/does not fit in 32 bits/)] });
    expect((await c.decide({ decision: { action: 'return', values: { r0: '-2' } } })).ok).toBe(true);
  });
});
