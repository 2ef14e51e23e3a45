// The core as a front-end sees it: a Session running real assembled guests.
import { describe, it, expect, afterEach } from 'vitest';
import { Session, Client, type SessionOptions } from '../server/session/session.js';
import { hex } from '../server/machine/memory.js';
import type { PolicySpec } from '../server/policy/index.js';
import { parseOnFlag } from '../server/policy/index.js';
import { armVectors, assemble } from './helpers/asm.js';
import { sessionFixture } from './helpers/sessions.js';
import type { TrapRecord } from '../server/session/trap-record.js';

const open: Session[] = [];
afterEach(async () => { while (open.length) await open.pop()!.close(); });

/** A session whose 'trap' events are collected in `log`, as a front-end would. */
async function session(arch: 'aarch64' | 'arm', src: string, opts: Partial<SessionOptions> = {}) {
  const r = await Session.open({ image: { path: assemble(arch, src) }, ...opts });
  if (!r.ok) throw new Error(r.error);
  open.push(r.value);
  const log: TrapRecord[] = [];
  const c = r.value.connect('test');
  c.on('trap', (t) => log.push(t));
  return Object.assign(c, { log });
}

function policy(...on: string[]): PolicySpec {
  return {
    default: { action: 'emulate' },
    rules: on.map((t, i) => { const r = parseOnFlag(t, `t${i}`); if (!r.ok) throw new Error(r.error); return r.value; }),
  };
}

const A64_OFF = `ldr x0, =0x84000008\n  smc #0\n`;

async function runToEnd(s: Session | Client) {
  const r = await (s instanceof Session ? s.connect('test') : s).cont();
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

async function reg(s: Session | Client, name: string) {
  const r = await (s instanceof Session ? s.connect('test') : s).readRegisters({ names: [name] });
  if (!r.ok) throw new Error(r.error);
  return BigInt(r.value[name]);
}

describe('AArch64 traps', () => {
  it('answers an unknown call with -1 (NOT_SUPPORTED) and ends on SYSTEM_OFF', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =0x82000001\n  mov x1, #7\n  smc #0\n  mov x19, x0\n  ${A64_OFF}`);
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('exit');
    expect(stop.exit?.effect).toBe('system_off');
    expect(await reg(s, 'x19')).toBe(0xffff_ffff_ffff_ffffn);
    expect(s.log[0].decoded.owner).toBe('sip');
    expect(s.log[0].result.regs?.x0).toBe('0xffffffffffffffff');
    expect(s.log[1].decoded.name).toMatch(/SYSTEM_OFF/);
  });

  it('without a subscription, records are made on demand and match the subscribed ones', async () => {
    const src = `.global _start\n_start:\n  mov x5, #3\nagain:\n  ldr x0, =0xc4000003\n  mov x1, x5\n  smc #0\n  subs x5, x5, #1\n  b.ne again\n  ${A64_OFF}`;
    const quiet = await Session.open({ image: { path: assemble('aarch64', src) }, subscribe: false });
    if (!quiet.ok) throw new Error(quiet.error);
    open.push(quiet.value);
    let events = 0;
    quiet.value.on('trap', () => events++);
    await runToEnd(quiet.value);
    const loud = await session('aarch64', src);
    await runToEnd(loud);
    const asked = await quiet.value.traps(10);
    expect(events).toBe(0);
    expect(quiet.value.trapCount).toBe(4);
    expect(asked.ok && asked.value.map((t) => t.decoded.summary)).toEqual(loud.log.map((t) => t.decoded.summary));
    expect(asked.ok && asked.value[1].decoded.summary).toMatch(/CPU_ON\(target_cpu=0x2,/);
  });

  it('while a trap waits for a decision, every kept record still shows its own registers (the oldest too)', async () => {
    // 2048 calls (as many as a vCPU keeps) with x1 = 1, 2, ... then one that asks: its
    // registers must not show up in the oldest kept record (they share a ring slot
    // when the ring is no larger than what is kept)
    const s = await session('aarch64', `.global _start\n_start:\n  mov x1, #0\n1:\n  add x1, x1, #1\n  ldr x0, =0x84000000\n  smc #0
  cmp x1, #2048\n  b.ne 1b\n  ldr x0, =0x82000042\n  ldr x1, =0xdead\n  smc #0\n  ${A64_OFF}`, { policy: policy('0x82000042=ask') });
    const stop = await s.cont();
    expect(stop.ok && stop.value.reason).toBe('trap');
    const kept = await s.traps({ n: 5000 });
    if (!kept.ok) throw new Error(kept.error);
    expect(kept.value.length).toBeGreaterThan(100);
    for (const t of kept.value) expect(t.args[1]).toBe(hex(BigInt(t.seq)));
    expect(kept.value[0].decoded.name).toBe('PSCI_VERSION');
    expect(kept.value.at(-1)!.seq).toBe(2048);
    // from a seq on, across the point where the kept ring wraps
    const some = await s.traps({ from: kept.value[0].seq + 10, n: 3 });
    expect(some.ok && some.value.map((t) => t.seq)).toEqual([10, 11, 12].map((d) => kept.value[0].seq + d));
    const last = await s.traps({ n: 2 });
    expect(last.ok && last.value.map((t) => t.seq)).toEqual([2047, 2048]);
  });

  it('PSCI_FEATURES answers match what the built-in firmware implements', async () => {
    // CPU_ON (implemented), MEM_PROTECT (not), SMCCC_VERSION (implemented)
    const s = await session('aarch64', `.global _start\n_start:
  ldr x0, =0x8400000a\n  ldr x1, =0xc4000003\n  smc #0\n  mov x19, x0
  ldr x0, =0x8400000a\n  ldr x1, =0x84000013\n  smc #0\n  mov x20, x0
  ldr x0, =0x8400000a\n  ldr x1, =0x80000000\n  smc #0\n  mov x21, x0
  ldr x0, =0xc4000003\n  mov x1, #1\n  ldr x2, =0x40000000\n  mov x3, #0\n  smc #0\n  mov x22, x0
  ldr x0, =0x84000013\n  smc #0\n  mov x23, x0
  ${A64_OFF}`);
    await runToEnd(s);
    expect(await reg(s, 'x19')).toBe(0n);
    expect(BigInt.asIntN(64, await reg(s, 'x20'))).toBe(-1n);
    expect(await reg(s, 'x21')).toBe(0n);
    // CPU_ON is implemented: it answers a PSCI error code for a missing CPU, not NOT_SUPPORTED
    expect(BigInt.asIntN(64, await reg(s, 'x22'))).not.toBe(-1n);
    expect(BigInt.asIntN(64, await reg(s, 'x23'))).toBe(-1n);
    expect(s.log[0].decoded.summary).toMatch(/FEATURES/);
  });

  it('a return rule writes its values to the guest', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =0xc4000003\n  smc #0\n  mov x19, x0\n  mov x20, x1\n  ${A64_OFF}`,
      { policy: policy('0xc4000003=return(x0=5, x1=0x1234)') });
    await runToEnd(s);
    expect(await reg(s, 'x19')).toBe(5n);
    expect(await reg(s, 'x20')).toBe(0x1234n);
    expect(s.log[0].decision).toBe('return');
    expect(s.log[0].by).toBe('policy');
    expect(s.log[0].rule).toBe('t0');
  });

  it('an undef decision lands in the guest handler with ESR_EL1 = 0x02000000 and ELR_EL1 at the SMC', async () => {
    const s = await session('aarch64', `.global _start
_start:
  ldr x0, =vectors
  msr vbar_el1, x0
  ldr x0, =0x82000010
trap_site:
  smc #0
  b .
.balign 2048
vectors:
  .space 0x200
  mrs x20, esr_el1
  mrs x21, elr_el1
  mrs x22, spsr_el1
  mrs x23, CurrentEL
  ${A64_OFF}`, { policy: policy('0x82000010=undef') });
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('exit');
    const site = s.symbol('trap_site')!.value;
    expect(await reg(s, 'x20')).toBe(0x02000000n);
    expect(await reg(s, 'x21')).toBe(site);
    expect((await reg(s, 'x22')) & 0x3ffn).toBe(0x3c5n); // the PSTATE at the call: EL1h, DAIF masked
    expect(await reg(s, 'x23')).toBe(4n);
    expect(s.log[0].decision).toBe('undef');
    expect(s.log[0].result.exception?.esr).toBe('0x2000000');
    expect(s.log[0].result.exception?.vector).toBe('0x' + (s.symbol('vectors')!.value + 0x200n).toString(16));
  });

  it('traps HVC and decodes a Xen hypercall (HVC #0xEA1, number in x16)', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =0x80000000\n  hvc #0\n  mov x16, #17\n  mov x0, #0\n  hvc #0xea1\n  mov x19, x0\n  ${A64_OFF}`);
    await runToEnd(s);
    expect(s.log[0].conduit).toBe('hvc');
    expect(s.log[0].decoded.name).toMatch(/SMCCC_VERSION|VERSION/);
    expect(s.log[0].result.regs?.x0).toBe('0x10002');
    expect(s.log[1].imm).toBe(0xea1);
    expect(s.log[1].decoded.kind).toBe('xen');
    expect(s.log[1].decoded.summary).toMatch(/xen_version/);
  });

  it('Xen XENVER_get_features writes its answer into the guest buffer', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x1, =info\n  mov x16, #17\n  mov x0, #6\n  hvc #0xea1\n  mov x19, x0\n  ${A64_OFF}
.balign 8\ninfo:\n  .word 0\n  .word 0xdeadbeef\n`);
    await runToEnd(s);
    const info = s.symbol('info')!.value;
    const mem = await s.readMemory({ addr: hex(info), len: 8 });
    expect(mem.ok && Buffer.from(mem.value).readUInt32LE(4)).toBe(0);
    expect(await reg(s, 'x19')).toBe(0n);
    expect(s.log[0].decoded.summary).toMatch(/get_features/);
  });

  it('stops at an ask rule, shows the pending call and applies the decision made', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  smc #0\n  mov x19, x0\n  ${A64_OFF}`,
      { policy: policy('0x84000000=ask') });
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('trap');
    expect(stop.trap?.decision).toBe('pending');
    expect(stop.trap?.decoded.name).toMatch(/PSCI_VERSION|VERSION/);
    const d = await s.decide({ decision: { action: 'return', values: { x0: '0x20000' } } });
    expect(d.ok && d.value.by).toBe('user');
    expect((await runToEnd(s)).reason).toBe('exit');
    expect(await reg(s, 'x19')).toBe(0x20000n);
  });

  it('breakpoints, single steps and pauses a running guest at an exact point', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  mov x1, #0\nloop:\n  add x1, x1, #1\nback:\n  b loop\n`);
    const back = s.symbol('back')!.value;
    expect((await s.addBreakpoint({ addr: hex(back) })).ok).toBe(true);
    let stop = await runToEnd(s);
    expect(stop).toMatchObject({ reason: 'breakpoint', pc: '0x' + back.toString(16) });
    expect(await reg(s, 'x1')).toBe(1n);
    stop = await runToEnd(s);
    expect(await reg(s, 'x1')).toBe(2n);
    const st = await s.step();
    expect(st.ok && st.value.reason).toBe('step');
    expect(await reg(s, 'pc')).toBe(s.symbol('loop')!.value);
    await s.removeBreakpoint({ addr: hex(back) });
    setTimeout(() => s.pause(), 100);
    stop = await runToEnd(s);
    expect(stop.reason).toBe('pause');
    const x1 = await reg(s, 'x1');
    expect(x1).toBeGreaterThan(1000n);
    expect(await reg(s, 'pc')).toBe(s.symbol('loop')!.value); // a block boundary
    // resuming after a pause must not run anything twice: exactly one more add
    await s.addBreakpoint({ addr: hex(back) });
    await runToEnd(s);
    expect(await reg(s, 'x1')).toBe(x1 + 1n);
  });

  it('a breakpoint in the undef vector fires when the engine enters it', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =vectors\n  msr vbar_el1, x0\n  ldr x0, =0x82000010\n  smc #0\n  b .
.balign 2048\nvectors:\n  .space 0x200\nhandler:\n  mrs x20, esr_el1\n  ${A64_OFF}`, { policy: policy('0x82000010=undef') });
    const handler = s.symbol('handler')!.value;
    await s.addBreakpoint({ addr: hex(handler) });
    const stop = await runToEnd(s);
    expect(stop).toMatchObject({ reason: 'breakpoint', pc: '0x' + handler.toString(16) });
    expect((await runToEnd(s)).reason).toBe('exit');
    expect(await reg(s, 'x20')).toBe(0x02000000n);
  });

  it('WFI stops the run as idle (not an exit): the session can go on', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  mov x1, #1\n  wfi\n  mov x1, #2\n  ${A64_OFF}`);
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('idle');
    expect(stop.message).toMatch(/WFI/);
    expect(s.state).toBe('stopped');
    expect((await runToEnd(s)).reason).toBe('exit');
    expect(await reg(s, 'x1')).toBe(2n);
  });

  it('reports a guest fault with the address and access kind', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x1, =0x10\n  ldr x0, [x1]\n`);
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('fault');
    expect(stop.addr).toBe('0x10');
    expect(stop.access).toMatch(/read/);
  });

  it('a data fault stops at the faulting load/store, with the instructions before it done and none after', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  smc #0
  ldr x1, =0x40080000\n  ldr x6, =0x10000\n  add x2, x2, #1\n  ldr x5, [x1, #-8]!\n  add x3, x3, #1\nbad:\n  stp x2, x3, [x6, #0x40]\n  add x4, x4, #1\n  b .\n`);
    const stop = await runToEnd(s);
    expect(stop).toMatchObject({ reason: 'fault', access: 'write (unmapped)', exactPc: true, pc: '0x' + s.symbol('bad')!.value.toString(16) });
    expect(stop.addr).toBe('0x10040');
    expect([await reg(s, 'x2'), await reg(s, 'x3'), await reg(s, 'x4'), await reg(s, 'x1')]).toEqual([1n, 1n, 0n, 0x4007fff8n]);
  });

  it('stops at the instruction limit', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  b _start\n`, { maxInsns: 10000 });
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('limit');
    expect(s.insns).toBeGreaterThanOrEqual(10000);
  });
});

describe('images and memory', () => {
  it('runs a raw binary from --load with extra RAM regions, and reads banked and system registers', async () => {
    const elf = assemble('aarch64', `.global _start\n_start:\n  ldr x1, =0x80001000\n  mov x2, #42\n  str x2, [x1]\n  ${A64_OFF}`);
    const { parseElf } = await import('../server/machine/elf.js');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const img = parseElf(readFileSync(elf));
    if (!img.ok) throw new Error(img.error);
    const seg = img.value.segments.find((g) => g.paddr <= 0x40000000n && 0x40000000n < g.paddr + g.memsz)!;
    const bin = elf.replace(/\.elf$/, '.bin');
    writeFileSync(bin, seg.data.subarray(Number(0x40000000n - seg.paddr)));
    const r = await Session.open({ image: { path: bin, load: 0x40000000n, arch: 'aarch64' },
      ram: [{ base: 0x40000000n, size: 1n << 20n }, { base: 0x80000000n, size: 1n << 20n }] });
    if (!r.ok) throw new Error(r.error);
    open.push(r.value);
    expect((await runToEnd(r.value)).reason).toBe('exit');
    const mem = await r.value.readMemory(0x80001000n, 8);
    expect(mem.ok && Buffer.from(mem.value).readBigUInt64LE()).toBe(42n);
    expect(await reg(r.value, 'CurrentEL')).toBe(4n);
    expect(await reg(r.value, 'SCTLR_EL1')).toBeGreaterThan(0n);
    const bad = await r.value.readMemory(0x10n, 4);
    expect(bad.ok).toBe(false);
  });
});

describe('AArch32 and Thumb traps', () => {
  const OFF = `ldr r0, =0x84000008\n  smc #0\n`;

  it('an undef decision enters the undef vector with LR_und after the SMC', async () => {
    const s = await session('arm', `.syntax unified\n.arm\n.global _start
_start:
  ldr r0, =vectors
  mcr p15, 0, r0, c12, c0, 0
  ldr r0, =0x82000010
trap_site:
  smc #0
  b .
${armVectors('und_handler')}und_handler:
  mov r9, lr
  mrs r10, cpsr
  mrs r11, spsr
  ${OFF}`, { policy: policy('0x82000010=undef') });
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('exit');
    const site = s.symbol('trap_site')!.value;
    expect(await reg(s, 'r9')).toBe(site + 4n);
    expect((await reg(s, 'r10')) & 0x1fn).toBe(0x1bn);
    expect((await reg(s, 'r11')) & 0x1fn).toBe(0x13n);
    expect(s.log[0].result.exception?.lr).toBe('0x' + (site + 4n).toString(16));
  });

  it('an undef decision from Thumb state sets LR_und = SMC + 2 and SPSR.T, and enters the vector in ARM state', async () => {
    const s = await session('arm', `.syntax unified\n.arm\n.global _start
_start:
  ldr r0, =vectors
  mcr p15, 0, r0, c12, c0, 0
  ldr r1, =thumb_code + 1
  bx r1
${armVectors('und_handler')}und_handler:
  mov r9, lr
  mrs r11, spsr
  ${OFF}
.thumb
.thumb_func
thumb_code:
  ldr r0, =0x82000010
trap_site:
  smc #0
  b .
`, { policy: policy('0x82000010=undef') });
    expect((await runToEnd(s)).reason).toBe('exit');
    const site = s.symbol('trap_site')!.value & ~1n;
    expect(s.log[0].arch).toBe('thumb');
    expect(await reg(s, 'r9')).toBe(site + 2n);
    expect((await reg(s, 'r11')) & 0x20n).toBe(0x20n);
  });

  it('a data fault in ARM state stops at the faulting instruction', async () => {
    const s = await session('arm', `.syntax unified\n.arm\n.global _start\n_start:\n  mov r1, #0x100\n  add r2, r2, #1\nbad:\n  ldr r0, [r1, #4]\n  add r3, r3, #1\n  b .\n`);
    const stop = await runToEnd(s);
    expect(stop).toMatchObject({ reason: 'fault', exactPc: true, pc: '0x' + s.symbol('bad')!.value.toString(16), addr: '0x104' });
    expect([await reg(s, 'r2'), await reg(s, 'r3')]).toEqual([1n, 0n]);
  });

  it('traps HVC and Xen hypercalls from AArch32 (number in r12, 32-bit arguments)', async () => {
    const s = await session('arm', `.syntax unified\n.arm\n.global _start
_start:
  ldr r0, =0x80000000
  hvc #0
  mov r7, r0
  mov r12, #17
  mov r0, #0
  hvc #0xea1
  ${OFF}`);
    expect((await runToEnd(s)).reason).toBe('exit');
    expect(s.log[0]).toMatchObject({ conduit: 'hvc', imm: 0, arch: 'aarch32' });
    expect(await reg(s, 'r7')).toBe(0x10002n);
    expect(s.log[1]).toMatchObject({ conduit: 'hvc', imm: 0xea1 });
    expect(s.log[1].decoded.kind).toBe('xen');
    expect(s.log[1].decoded.summary).toMatch(/xen_version/);
  });

  it('decodes SMC from Thumb state and a Highbank legacy call', async () => {
    const s = await session('arm', `.syntax unified\n.arm\n.global _start
_start:
  mov r12, #0x102
  mov r0, #1
  smc #0
  ldr r1, =thumb_code + 1
  blx r1
  ${OFF}
.thumb
.thumb_func
thumb_code:
  ldr r0, =0x84000000
  smc #0
  mov r8, r0
  bx lr
`, { platform: 'highbank' });
    const stop = await runToEnd(s);
    expect(stop.reason).toBe('exit');
    expect(s.log[0].decoded.kind).toBe('legacy');
    expect(s.log[0].decoded.rule).toMatch(/highbank/);
    expect(s.log[1].arch).toBe('thumb');
    expect(s.log[1].decoded.kind).toBe('smccc');
    expect(await reg(s, 'r8')).toBe(0x10001n);
  });
});

describe('calls answered over and over with no reader of records (the hook answers them by itself)', () => {
  // PSCI_VERSION and SMCCC_VERSION never change their answer: after the first, the
  // native hook answers them without JS when nothing reads records as they come
  // (subscribe: false, no trap log). TRNG_RND (a new answer each time) always goes
  // through JS, so the two kinds interleave. The guest adds up what it was answered.
  const N = 3000;
  const a64 = `.global _start\n_start:\n  mov x20, #0\n  mov x21, #0
1:\n  add x21, x21, #1\n  ldr x0, =0x84000000\n  mov x1, x21\n  smc #0\n  add x20, x20, x0
  ldr x0, =0x80000000\n  hvc #0\n  add x20, x20, x0
  ldr x0, =0x84000053\n  mov x1, #32\n  smc #0
  ldr x2, =${N}\n  cmp x21, x2\n  b.ne 1b\n  ${A64_OFF}`;
  const a32 = `.syntax unified\n.arm\n.global _start\n_start:\n  mov r5, #0\n  mov r6, #0
loop:\n  add r6, r6, #1\n  ldr r0, =0x84000000\n  mov r1, r6\n  smc #0\n  add r5, r5, r0
  ldr r2, =thumb_part + 1\n  blx r2
  ldr r3, =${N}\n  cmp r6, r3\n  bne loop\n  ldr r0, =0x84000008\n  smc #0
.thumb\n.thumb_func\nthumb_part:\n  ldr r0, =0x80000000\n  smc #0\n  add r5, r5, r0
  ldr r0, =0x84000053\n  movs r1, #32\n  smc #0\n  bx lr\n`;

  for (const [arch, src, sum] of [['aarch64', a64, 'x20'], ['arm', a32, 'r5']] as const) {
    it(`${arch}: the guest gets the same answers, and the records kept are those a subscriber sees`, async () => {
      const t0 = Date.now();
      const quiet = await Session.open({ image: { path: assemble(arch, src) }, subscribe: false });
      if (!quiet.ok) throw new Error(quiet.error);
      open.push(quiet.value);
      expect((await runToEnd(quiet.value)).reason).toBe('exit');
      const loud = await session(arch, src);
      expect((await runToEnd(loud)).reason).toBe('exit');
      expect(quiet.value.trapCount).toBe(3 * N + 1);
      expect(loud.log.length).toBe(3 * N + 1);
      // what the guest was answered (write-back of the registers)
      expect(await reg(quiet.value, sum)).toBe(await reg(loud, sum));
      expect(await reg(quiet.value, sum)).toBeGreaterThan(0n);
      const kept = await quiet.value.traps(5000);
      if (!kept.ok) throw new Error(kept.error);
      expect(kept.value.length).toBe(2048);
      const seen = loud.log.slice(-2048);
      const random = (t: TrapRecord) => t.decoded.name?.startsWith('TRNG_RND');
      const same = (t: TrapRecord) => ({ ...t, time: undefined, result: random(t) ? undefined : t.result });
      expect(kept.value.map(same)).toEqual(seen.map(same));
      expect(new Set(kept.value.map((t) => t.decoded.name))).toEqual(new Set(['PSCI_VERSION', 'SMCCC_VERSION', 'TRNG_RND', 'PSCI_SYSTEM_OFF']));
      for (const t of kept.value) {
        expect(Date.parse(t.time)).toBeGreaterThanOrEqual(t0 - 1000);
        expect(Date.parse(t.time)).toBeLessThanOrEqual(Date.now() + 1000);
      }
    });
  }

  it('an ask nobody can answer (not interactive) is recorded as the default answering it, every time', async () => {
    const src = `.global _start\n_start:\n  mov x22, #0\n1:\n  ldr x0, =0x84000000\n  smc #0\n  add x22, x22, #1\n  cmp x22, #300\n  b.ne 1b\n  ${A64_OFF}`;
    const r = await Session.open({ image: { path: assemble('aarch64', src) }, subscribe: false, interactive: false, policy: policy('0x84000000=ask') });
    if (!r.ok) throw new Error(r.error);
    open.push(r.value);
    expect((await runToEnd(r.value)).reason).toBe('exit');
    const kept = await r.value.traps(400);
    if (!kept.ok) throw new Error(kept.error);
    expect(kept.value.length).toBe(301);
    expect(kept.value.slice(0, 300).every((t) => t.decision === 'emulate' && t.by === 'default' && t.rule === 'ask:t0')).toBe(true);
  });

  it('a rule added while stopped applies at once to a call the hook was answering by itself', async () => {
    const src = `.global _start\n_start:\n  mov x20, #0\n  mov x21, #0\n  mov x22, #0
1:\n  ldr x0, =0x84000000\n  smc #0\n  add x20, x20, x0\n  add x22, x22, #1\n  cmp x22, #500\n  b.ne 1b
  ldr x0, =0x86000001\n  hvc #0
2:\n  ldr x0, =0x84000000\n  smc #0\n  add x21, x21, x0\n  sub x22, x22, #1\n  cbnz x22, 2b\n  ${A64_OFF}`;
    const r = await Session.open({ image: { path: assemble('aarch64', src) }, subscribe: false, policy: policy('0x86000001=ask') });
    if (!r.ok) throw new Error(r.error);
    open.push(r.value);
    const c = r.value.connect('test');
    const stop = await c.cont();
    expect(stop.ok && stop.value.reason).toBe('trap');
    const version = (await reg(c, 'x20')) / 500n;
    expect(version).toBeGreaterThan(0n);
    expect(await reg(c, 'x20')).toBe(version * 500n);
    expect((await c.addRule({ rule: '0x84000000=return(x0=5)' })).ok).toBe(true);
    expect((await c.decide({ decision: { action: 'emulate' } })).ok).toBe(true);
    expect((await runToEnd(c)).reason).toBe('exit');
    expect(await reg(c, 'x21')).toBe(5n * 500n);
    const kept = await c.traps({ n: 1002 });
    if (!kept.ok) throw new Error(kept.error);
    expect(kept.value.map((t) => t.seq)).toEqual(Array.from({ length: 1002 }, (_, i) => i + 1));
    expect(kept.value.slice(0, 500).every((t) => t.decision === 'emulate' && t.result.regs?.x0 === hex(version))).toBe(true);
    expect(kept.value.slice(501, 1001).every((t) => t.decision === 'return' && t.result.regs?.x0 === '0x5')).toBe(true);
  });
});

describe('a continue after single steps (the step targets are kept for its first instructions)', () => {
  const open = sessionFixture('continue-after-steps');
  // 300 000 rounds of a 3-instruction loop: a continue through it runs far past the
  // instructions for which the step targets are kept, and must stop and go on unseen.
  const src = `.global _start\n_start:\n  mov x0, #0\n  ldr x1, =300000\nloop:\n  add x0, x0, #1\n  subs x1, x1, #1\n  b.ne loop\ndone:\n  nop\n  b done\n`;

  it('steps into the loop, continues through all of it to a breakpoint: every round ran, once', async () => {
    const s = await open('aarch64', src);
    const c = s.connect('t');
    for (let i = 0; i < 4; i++) expect((await c.step()).ok).toBe(true);
    const done = s.symbol('done')!.value;
    expect((await c.addBreakpoint({ addr: hex(done) })).ok).toBe(true);
    const stop = await c.cont();
    expect(stop.ok && stop.value).toMatchObject({ reason: 'breakpoint', pc: hex(done) });
    const regs = await c.readRegisters({ names: ['x0', 'x1'] });
    expect(regs.ok && regs.value).toEqual({ x0: hex(300000n), x1: '0x0' });
  });

  it('breakpoint cycles in the loop (step off the breakpoint, continue to it) advance one round each, then a long continue still stops where asked', async () => {
    const s = await open('aarch64', src);
    const c = s.connect('t');
    const loop = s.symbol('loop')!.value;
    expect((await c.addBreakpoint({ addr: hex(loop) })).ok).toBe(true);
    expect((await c.cont()).ok).toBe(true);
    for (let round = 1; round <= 20; round++) {
      expect((await c.removeBreakpoint({ addr: hex(loop) })).ok).toBe(true);
      expect((await c.step()).ok).toBe(true);
      expect((await c.addBreakpoint({ addr: hex(loop) })).ok).toBe(true);
      const stop = await c.cont();
      expect(stop.ok && stop.value).toMatchObject({ reason: 'breakpoint', pc: hex(loop) });
      const x0 = await c.readRegisters({ names: ['x0'] });
      expect(x0.ok && x0.value.x0).toBe(hex(BigInt(round)));
    }
    expect((await c.removeBreakpoint({ addr: hex(loop) })).ok).toBe(true);
    const done = s.symbol('done')!.value;
    expect((await c.addBreakpoint({ addr: hex(done) })).ok).toBe(true);
    const stop = await c.cont();
    expect(stop.ok && stop.value).toMatchObject({ reason: 'breakpoint', pc: hex(done) });
    const x0 = await c.readRegisters({ names: ['x0'] });
    expect(x0.ok && x0.value.x0).toBe(hex(300000n));
  });
});

// A pause, the deadline or a flush of records stops the run before a block. While
// any code hook exists (a breakpoint anywhere, a step target) Unicorn leaves PC as
// the last code hook or unchained block exit wrote it: in a loop of two blocks,
// chained to each other, that can be the other block, and the run resumed there.
describe('a stop before a block resumes there while a breakpoint is set elsewhere', () => {
  const ROUNDS = 1_500_000;
  // Each call's record waits to be posted: the run stops unseen (a flush) about a
  // million instructions later, inside the two-block loop (inner, mid).
  const loop = (arch: 'aarch64' | 'thumb') => arch === 'aarch64' ? `.global _start\n_start:\n  mov x5, #3\n  mov x1, #0\n  mov x2, #0
outer:\n  ldr x0, =0x84000000\n  smc #0\n  ldr x4, =${ROUNDS}
inner:\n  add x1, x1, #1\n  cbnz x1, mid\nmid:\n  add x2, x2, #1\n  subs x4, x4, #1\n  b.ne inner
  subs x5, x5, #1\n  b.ne outer\n  ${A64_OFF}far:\n  b far\n` : `.syntax unified\n.arm\n.global _start\n_start:\n  ldr r0, =thumb_code + 1\n  bx r0
.thumb\n.thumb_func\nthumb_code:\n  movs r5, #3\n  movs r1, #0\n  movs r2, #0
outer:\n  ldr r0, =0x84000000\n  smc #0\n  ldr r4, =${ROUNDS}
inner:\n  adds r1, r1, #1\n  cbnz r1, mid\nmid:\n  adds r2, r2, #1\n  subs r4, r4, #1\n  bne inner
  subs r5, r5, #1\n  bne outer\n  ldr r0, =0x84000008\n  smc #0\nfar:\n  b far\n`;

  for (const arch of ['aarch64', 'thumb'] as const) {
    it(`flush stops in a loop of two blocks lose no instruction (${arch})`, async () => {
      const s = await session(arch === 'aarch64' ? 'aarch64' : 'arm', loop(arch));
      expect((await s.addBreakpoint({ addr: hex(s.symbol('far')!.value & ~1n) })).ok).toBe(true);
      expect((await runToEnd(s)).reason).toBe('exit');
      const [a, b] = arch === 'aarch64' ? ['x1', 'x2'] : ['r1', 'r2'];
      expect(s.log.length).toBe(4);
      expect(await reg(s, a)).toBe(BigInt(3 * ROUNDS));
      expect(await reg(s, b)).toBe(BigInt(3 * ROUNDS));
    });
  }

  it('pauses in a loop of two blocks stop at a block start with the registers of that point', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  mov x1, #0\n  mov x2, #0\n  ldr x4, =0x7fffffffffff
inner:\n  add x1, x1, #1\n  cbnz x1, mid\nmid:\n  add x2, x2, #1\n  subs x4, x4, #1\n  b.ne inner\n  ${A64_OFF}far:\n  b far\n`);
    expect((await s.addBreakpoint({ addr: hex(s.symbol('far')!.value) })).ok).toBe(true);
    const inner = s.symbol('inner')!.value, mid = s.symbol('mid')!.value;
    for (let i = 0; i < 6; i++) {
      setTimeout(() => void s.pause(), 20 + 15 * i);
      const stop = await runToEnd(s);
      expect(stop.reason).toBe('pause');
      const pc = await reg(s, 'pc');
      expect([inner, mid]).toContain(pc);
      // at inner both counters are equal; at mid, x1 is one ahead
      expect((await reg(s, 'x1')) - (await reg(s, 'x2'))).toBe(pc === mid ? 1n : 0n);
    }
    // the last round: the loop ends, both counters equal
    expect((await s.writeRegister({ name: 'x4', value: '0x1' })).ok).toBe(true);
    expect((await runToEnd(s)).reason).toBe('exit');
    expect(await reg(s, 'x1')).toBe(await reg(s, 'x2'));
  });
});
