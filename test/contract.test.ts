// The Session contract as front-ends use it: typed operations by name, errors with
// stable codes, vCPUs named in every operation, capabilities, breakpoints owned
// by clients, rule-by-rule policy changes with versions, and the trap path's
// correctness bugs (decode cache keys, failures inside the hook, register names).
import { describe, it, expect, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import { Session } from '../server/session/session.js';
import { OPS } from '../server/session/contract.js';
import { startGdbServer, type GdbServer } from '../gdbstub/index.js';
import { hex } from '../server/machine/memory.js';
import { assemble } from './helpers/asm.js';
import { sessionFixture, policy } from './helpers/sessions.js';

const session = sessionFixture('contract');
const servers: GdbServer[] = [];
/** Sessions served to gdb (served below): closed after their stubs. */
const served_: Session[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  while (served_.length) await served_.pop()!.close();
});

const A64_OFF = `ldr x0, =0x84000008\n  smc #0\n`;
const LOOP = `.global _start\n_start:\n  mov x1, #0\nloop:\n  add x1, x1, #1\nfirst:\n  nop\nsecond:\n  nop\n  cmp x1, #3\n  b.ne loop
  ldr x0, =0x84000000\n  hvc #0\n  mov x19, x0\n  ${A64_OFF}`;

describe('the contract', () => {
  it('every operation is a method of a client, called by its name', async () => {
    const s = await session('aarch64', LOOP);
    const c = s.connect('test');
    for (const name of Object.keys(OPS)) expect(typeof (c as unknown as Record<string, unknown>)[name]).toBe('function');
    const caps = await c.request('capabilities', {});
    expect(caps).toMatchObject({ ok: true, value: { vcpus: 1, watchpoints: true, resumablePause: true } });
    const regs = await c.request('readRegisters', { names: ['x1', 'pc'] });
    expect(regs).toEqual({ ok: true, value: { x1: '0x0', pc: '0x40000000' } });
    const console = await c.request('console', { line: 'policy' });
    expect(console.ok && console.value.lines.join('\n')).toMatch(/default -> emulate/);
  });

  it('errors carry stable codes', async () => {
    const s = await session('aarch64', LOOP);
    const c = s.connect('test');
    expect(await c.readRegisters({ names: ['x99'] })).toMatchObject({ ok: false, code: 'no-register' });
    expect(await c.readRegisters({ vcpu: 1 })).toMatchObject({ ok: false, code: 'not-found', error: expect.stringMatching(/no vCPU 1/) });
    expect(await c.step({ vcpu: 3 })).toMatchObject({ ok: false, code: 'not-found' });
    expect(await c.readMemory({ addr: '0x10', len: 4 })).toMatchObject({ ok: false, code: 'unmapped' });
    expect(await c.readMemory({ addr: 'nonsense', len: 4 })).toMatchObject({ ok: false, code: 'invalid' });
    expect(await c.decide({ decision: { action: 'emulate' } })).toMatchObject({ ok: false, code: 'not-stopped' });
    expect(await c.removeRule({ id: 'nope' })).toMatchObject({ ok: false, code: 'not-found' });
    const running = c.cont();
    expect(await c.cont()).toMatchObject({ ok: false, code: 'busy' });
    expect(await c.writeRegister({ name: 'x1', value: '0x5' })).toMatchObject({ ok: false, code: 'busy' });
    const end = await running;
    expect(end.ok && end.value.reason).toBe('exit');
    expect(await c.cont()).toMatchObject({ ok: false, code: 'exited' });
    await s.close();
    expect(await c.traps({})).toMatchObject({ ok: false, code: 'closed' });
  });

  it('stop events and trap records name the vCPU; values are hex strings', async () => {
    const s = await session('aarch64', LOOP, { policy: policy('hvc=ask') });
    const c = s.connect('test');
    const stop = await c.cont({ registers: ['x0', 'x1'] });
    expect(stop.ok && stop.value).toMatchObject({ reason: 'trap', vcpu: 0, registers: { x0: '0x84000000', x1: '0x3' }, trap: { cpu: 0, decision: 'pending' } });
    expect(JSON.parse(JSON.stringify(stop.ok && stop.value))).toEqual(stop.ok && stop.value);
  });

  it('capabilities say what --no-count cannot do, and such requests are refused with the reason', async () => {
    const s = await session('aarch64', LOOP, { countBlocks: false });
    const c = s.connect('test');
    expect(s.capabilities).toMatchObject({ watchpoints: false, resumablePause: false, instructionCounts: false });
    expect(s.capabilities.why.watchpoints).toMatch(/--no-count/);
    const w = await c.addWatchpoint({ addr: '0x40000000', len: 4, kind: 'write' });
    expect(w).toMatchObject({ ok: false, code: 'unsupported', error: expect.stringMatching(/--no-count/) });
    await expect(startGdbServer(s, { port: 0 })).rejects.toThrow(/gdb needs a pause the guest can resume from: --no-count runs without the native block hook/);
  });
});

/** gdb-multiarch -batch against a stub on port, running the commands; resolves with what it printed. */
function gdbBatch(port: number, elf: string, commands: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const args = ['-batch', '-nx', '-ex', 'set architecture aarch64', '-ex', `file ${elf}`, '-ex', `target remote 127.0.0.1:${port}`];
    for (const c of commands) args.push('-ex', c);
    const child = spawn('gdb-multiarch', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.stderr.on('data', (d) => { text += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`gdb timed out:\n${text}`)); }, 30_000);
    child.on('exit', () => { clearTimeout(timer); resolve(text); });
  });
}

/** The LOOP guest in a session served by a gdb stub on a free port. */
async function served(name: string) {
  const elf = assemble('aarch64', LOOP, name);
  const r = await Session.open({ image: { path: elf } });
  if (!r.ok) throw new Error(r.error);
  served_.push(r.value);
  const server = await startGdbServer(r.value, { port: 0 });
  servers.push(server);
  return { elf, s: r.value, server };
}

/** The client runs the LOOP guest to its end; its first trap was answered by the 0x77 rule `rule`. */
async function runsToEndAnsweredBy(c: ReturnType<Session['connect']>, rule: string) {
  const end = await c.cont();
  expect(end.ok && end.value.reason).toBe('exit');
  const traps = await c.traps({});
  expect(traps.ok && traps.value[0]).toMatchObject({ decision: 'return', rule, result: { regs: { x0: '0x77' } } });
}

describe('many clients on one session', () => {
  it('breakpoints belong to their client: one clearing its own leaves the other\'s', async () => {
    const s = await session('aarch64', LOOP);
    const a = s.connect('a');
    const b = s.connect('b');
    const first = hex(s.symbol('first')!.value);
    const second = hex(s.symbol('second')!.value);
    expect((await a.addBreakpoint({ addr: first })).ok).toBe(true);
    expect((await b.addBreakpoint({ addr: first })).ok).toBe(true);
    expect((await b.addBreakpoint({ addr: second })).ok).toBe(true);
    let stop = await a.cont();
    expect(stop.ok && stop.value).toMatchObject({ reason: 'breakpoint', pc: first });
    expect(stop.ok && [...stop.value.owners!].sort()).toEqual(['a', 'b']);
    await b.removeBreakpoint({ addr: first });
    await a.close(); // a goes: its breakpoint at `first` goes with it, b's at `second` stays
    stop = await b.cont();
    expect(stop.ok && stop.value).toMatchObject({ reason: 'breakpoint', pc: second, owners: ['b'] });
    await b.clearPoints();
    stop = await b.cont();
    expect(stop.ok && stop.value.reason).toBe('exit');
  });

  it('rules are added and removed one by one, with versions: two clients never lose each other\'s rules', async () => {
    const s = await session('aarch64', LOOP);
    const a = s.connect('gdb x');
    const b = s.connect('dap');
    const v0 = await a.policy();
    if (!v0.ok) throw new Error(v0.error);
    const [ra, rb] = await Promise.all([
      a.addRule({ rule: '0x84000000=return(x0=0x77)', idPrefix: 'gdb' }),
      b.addRule({ rule: 'owner:sip=undef', idPrefix: 'dap' }),
    ]);
    expect(ra.ok && ra.value.rule.id).toBe('gdb1');
    expect(rb.ok && rb.value.rule.id).toBe('dap1');
    const after = await b.policy();
    expect(after.ok && after.value.rules.map((r) => r.id).sort()).toEqual(['dap1', 'gdb1']);
    expect(after.ok && after.value.version).toBe(v0.value.version + 2);
    // A change made against an old version is refused, not applied over the other's.
    expect(await a.removeRule({ id: 'dap1', version: v0.value.version })).toMatchObject({ ok: false, code: 'conflict' });
    expect(await a.addRule({ rule: 'x16=5', idPrefix: 'gdb' })).toMatchObject({ ok: false, code: 'invalid' });
    await runsToEndAnsweredBy(b, 'gdb1');
  });

  it('gdb and a direct client drive one guest: gdb\'s detach removes only gdb\'s breakpoints, and gdb\'s rule applies to the other\'s run', async () => {
    const { elf, s, server } = await served('two-front-ends');
    const dap = s.connect('dap');
    const second = s.symbol('second')!.value;
    expect((await dap.addBreakpoint({ addr: hex(second) })).ok).toBe(true);
    // gdb sets its own breakpoints (one at the same place), adds a rule, runs to `first`, and quits (detach: the guest runs on).
    const out = await gdbBatch(server.port, elf, ['break first', 'break second', 'monitor policy add 0x84000000=return(x0=0x77)', 'continue', 'p $x1']);
    expect(out).toMatch(/Breakpoint 1, .*first/);
    expect(out).toMatch(/\$1 = 1/);
    expect(out).toMatch(/Added gdb1: id 0x84000000 -> return\(x0=0x77\)/);
    // gdb has gone; the guest ran on and stopped at dap's breakpoint (gdb's at the same place was removed, dap's stayed).
    const stop = await new Promise<import('../server/session/contract.js').StopEvent>((resolve) => {
      const check = () => (s.state === 'running' || !s.lastStop || s.lastStop.reason !== 'breakpoint' ? setTimeout(check, 20) : resolve(s.lastStop));
      check();
    });
    expect(stop).toMatchObject({ reason: 'breakpoint', pc: hex(second), owners: ['dap'] });
    const x1 = await dap.readRegisters({ names: ['x1'] });
    expect(x1.ok && x1.value.x1).toBe('0x1');
    await dap.clearPoints();
    await runsToEndAnsweredBy(dap, 'gdb1');
  });

  it('gdb continuing into another client\'s breakpoint stops there, and is told whose it is', async () => {
    const { elf, s, server } = await served('foreign-break');
    const second = s.symbol('second')!.value;
    await s.connect('dap').addBreakpoint({ addr: hex(second) });
    const out = await gdbBatch(server.port, elf, ['continue', 'p/x $pc']);
    expect(out).toMatch(new RegExp(`the guest stopped at ${hex(second)}, a breakpoint of dap`));
    expect(out).toMatch(/SIGTRAP/);
    expect(out).toMatch(new RegExp(`\\$1 = ${hex(second)}`));
  });

  it('a decision names its client; a second decision on the same trap is told who came first', async () => {
    const s = await session('aarch64', LOOP, { policy: policy('hvc=ask') });
    const a = s.connect('alice');
    const b = s.connect('bob');
    const stop = await a.cont();
    if (!stop.ok || !stop.value.trap) throw new Error('no trap stop');
    const seq = stop.value.trap.seq;
    const first = await a.decide({ decision: { action: 'return', values: { x0: '5' } }, seq });
    expect(first.ok && first.value).toMatchObject({ by: 'user', client: 'alice', decision: 'return' });
    expect(await b.decide({ decision: { action: 'undef' }, seq })).toMatchObject({ ok: false, code: 'conflict', error: expect.stringMatching(/decided by alice/) });
  });
});

describe('one record, however it is made', () => {
  it('a record made in the trap hook (as its JSON line) and one made for a decision have the same form', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  mov x1, #7\n  hvc #0\n  ldr x0, =0x84000000\n  mov x1, #7\n  smc #0\n  ${A64_OFF}`,
      { policy: policy('hvc=ask') });
    const c = s.connect('test');
    const stop = await c.cont();
    expect(stop.ok && stop.value.reason).toBe('trap');
    const asked = await c.decide({ decision: { action: 'emulate' } });
    const end = await c.cont();
    expect(end.ok && end.value.reason).toBe('exit');
    const traps = await c.traps({});
    if (!asked.ok || !traps.ok) throw new Error('no records');
    const [byPerson, inHook] = [asked.value, traps.value[1]];
    const { client, ...rest } = byPerson;
    expect(client).toBe('test');
    // the person's record names the ask rule that stopped the guest; the hook's has no rule (the default answered)
    expect(rest.rule).toBe('t0');
    expect(Object.keys(rest).filter((k) => k !== 'rule')).toEqual(Object.keys(inHook));
    expect(rest.decoded).toEqual(inHook.decoded);
    expect(rest.args).toEqual(inHook.args);
    expect(rest.result).toEqual(inHook.result);
    expect(traps.value[0]).toEqual(byPerson);
  });
});

describe('trap path bugs', () => {
  it('AArch32 with --platform: an SMCCC-looking call does not decide a later legacy call with the same r0 (the cache key covers r12)', async () => {
    const s = await session('arm', `.global _start\n_start:
  mov r12, #0\n  mov r0, #1\n  smc #0
  ldr r12, =0x102\n  mov r0, #1\n  smc #0\n  mov r5, r0
  ldr r0, =0x84000008\n  smc #0\n`, { platform: 'highbank', policy: policy('legacy:HIGHBANK_L2_CTRL=return(r0=0x55)') });
    const c = s.connect('test');
    const end = await c.cont();
    expect(end.ok && end.value.reason).toBe('exit');
    const traps = await c.traps({});
    if (!traps.ok) throw new Error(traps.error);
    expect(traps.value[0].decoded.kind).toBe('smccc');
    expect(traps.value[1]).toMatchObject({ decision: 'return', rule: 't0', decoded: { kind: 'legacy', name: 'HIGHBANK_L2_CTRL' }, result: { regs: { r0: '0x55' } } });
    const r5 = await c.readRegisters({ names: ['r5'] });
    expect(r5.ok && r5.value.r5).toBe('0x55');
  });

  it('a failure inside the trap hook (the trap log cannot be written) is an internal stop at that trap, and the run cannot go on', async () => {
    const s = await session('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  smc #0\n  smc #0\n  smc #0\n  ${A64_OFF}`, { trapLog: '/dev/full' });
    const c = s.connect('test');
    const stop = await c.cont();
    expect(stop.ok && stop.value).toMatchObject({ reason: 'internal', seq: 1, final: true, message: expect.stringMatching(/trap #1.*trap log \/dev\/full.*(ENOSPC|no space)/i) });
    expect(s.state).toBe('exited');
    expect(s.trapCount).toBe(1);
    expect(await c.cont()).toMatchObject({ ok: false, code: 'exited' });
  });

  it('a register the guest does not have is an error in every path: policy, decide, console', async () => {
    const src = `.global _start\n_start:\n  ldr r0, =0x84000000\n  smc #0\n  ldr r0, =0x84000008\n  smc #0\n`;
    const bad = await Session.open({ image: { path: assemble('arm', src, 'regs') }, policy: policy('0x84000000=return(x16=5)') });
    expect(bad).toMatchObject({ ok: false, code: 'invalid', error: expect.stringMatching(/AArch32 guest has no register 'x16'.*r0\.\.r14/) });
    const s = await session('arm', src, { policy: policy('smc=ask') });
    const c = s.connect('test');
    const stop = await c.cont();
    expect(stop.ok && stop.value.reason).toBe('trap');
    expect(await c.decide({ decision: { action: 'return', values: { x16: '5' } } })).toMatchObject({ ok: false, code: 'no-register' });
    const said = await c.console({ line: 'decide return x0=5' });
    expect(said.ok && said.value).toMatchObject({ failed: true, lines: [expect.stringMatching(/no register 'x0'/)] });
    expect(await c.addRule({ rule: 'hvc=return(w0=1)' })).toMatchObject({ ok: false, code: 'no-register' });
    const good = await c.decide({ decision: { action: 'return', values: { r0: '5' } } });
    expect(good.ok && good.value.result.regs).toEqual({ r0: '0x5' });
  });
});
