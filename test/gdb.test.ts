// The gdb stub driven by the real client: gdb-multiarch -batch against the stub
// started in-process on port 0, asserting what gdb prints.
import { describe, it, expect, afterEach, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { Session, type SessionOptions } from '../server/session/session.js';
import { startGdbServer, type GdbServer } from '../gdbstub/index.js';
import { assemble, ROOT } from './helpers/asm.js';
import path from 'node:path';

const GDB = 'gdb-multiarch';

interface Setup { session: Session; server: GdbServer; elf: string; logs: string[] }
const open: Setup[] = [];
afterEach(async () => {
  while (open.length) {
    const s = open.pop()!;
    await s.server.close();
    await s.session.close();
  }
});

async function serve(elf: string, opts: Partial<SessionOptions> = {}): Promise<Setup> {
  const r = await Session.open({ image: { path: elf }, ...opts });
  if (!r.ok) throw new Error(r.error);
  const logs: string[] = [];
  const server = await startGdbServer(r.value, { port: 0, log: (l) => logs.push(l) });
  const s = { session: r.value, server, elf, logs };
  open.push(s);
  return s;
}

interface GdbRun { output: string; child: ChildProcess; done: Promise<string> }

/** Starts gdb-multiarch in batch mode: connects, then runs the commands. */
function startGdb(s: Setup, arch: 'aarch64' | 'arm', commands: string[], timeoutMs = 90_000, script?: string): GdbRun {
  const args = ['-batch', '-nx', ...(script ? ['-x', script] : []), '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', `set architecture ${arch}`,
    '-ex', `file ${s.elf}`, '-ex', `target remote 127.0.0.1:${s.server.port}`];
  for (const c of commands) args.push('-ex', c);
  const child = spawn(GDB, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: GdbRun = { output: '', child, done: Promise.resolve('') };
  child.stdout!.on('data', (b) => { run.output += b.toString(); });
  child.stderr!.on('data', (b) => { run.output += b.toString(); });
  run.done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`gdb timed out; output so far:\n${run.output}`)); }, timeoutMs);
    child.on('exit', () => { clearTimeout(timer); resolve(run.output); });
  });
  return run;
}

const gdb = (s: Setup, arch: 'aarch64' | 'arm', commands: string[]) => startGdb(s, arch, commands).done;

async function until(cond: () => boolean, what: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const hexOf = (v: bigint) => '0x' + v.toString(16);

// ---------------------------------------------------------------- guests

const A64 = `.global _start
_start:
  ldr x0, =vectors
  msr vbar_el1, x0
  mov x2, #0
marker:
  add x2, x2, #1
  add x2, x2, #1
  ldr x0, =0x8400000a
  ldr x1, =0x80000000
hvc_site:
  hvc #0
after_hvc:
  mov x19, x0
  ldr x3, =var_b
  mov x4, #5
  str x4, [x3]
  b 1f
1:
  ldr x6, =var_a
  ldr x7, [x6]
  b 2f
2:
  ldr x8, =var_c
  ldr x9, [x8]
  b 3f
3:
  add x9, x9, #1
  str x9, [x8]
  b done
done:
  ldr x0, =0x84000008
  smc #0
  b .
.balign 2048
vectors:
  .space 0x200
el1h_sync:
  mov x20, #1
  b done
.data
.balign 8
var_a: .quad 0x1234
var_b: .quad 0
var_c: .quad 41
`;

const LOOP = `.global _start\n_start:\n  mov x1, #0\nloop:\n  add x1, x1, #1\n  b loop\n`;

const A32 = `.syntax unified
.arm
.global _start
_start:
  mov r5, #0
  ldr r1, =thumb_code + 1
  blx r1
after_thumb:
  mov r9, r8
  ldr r0, =0x84000008
  smc #0
  b .
.thumb
.thumb_func
thumb_code:
  adds r5, r5, #1
  adds r5, r5, #1
  ldr r0, =0x84000000
  smc #0
  mov r8, r0
  bx lr
`;

let a64: string;
let loop: string;
let a32: string;
beforeAll(() => {
  a64 = assemble('aarch64', A64, 'a64');
  loop = assemble('aarch64', LOOP, 'loop');
  a32 = assemble('arm', A32, 'a32');
});

// ---------------------------------------------------------------- tests

describe('gdb-multiarch against the stub (AArch64)', () => {
  it('shows core and system registers and disassembles at pc', async () => {
    const s = await serve(a64);
    const vectors = s.session.symbol('vectors')!.value;
    const out = await gdb(s, 'aarch64', ['info registers', 'info registers SCTLR_EL1', 'x/4i $pc', 'stepi', 'stepi', 'p/x $VBAR_EL1', 'p/x $CurrentEL', 'p $v0.d.u[0]']);
    expect(out).toMatch(/^x0\s+0x0\s+0$/m);
    expect(out).toMatch(/^x30\s+0x0/m);
    expect(out).toMatch(/^pc\s+0x40000000\s+0x40000000 <_start>$/m);
    expect(out).toMatch(/^cpsr\s+0x400003c5/m);
    expect(out).toMatch(/^SCTLR_EL1\s+0x[0-9a-f]+/m);
    expect(out).toMatch(/<_start\+4>:\s+msr\s+vbar_el1, x0/);
    expect(out).toMatch(/<marker>:\s+add\s+x2, x2, #0x1/);
    expect(out).toContain(`= ${hexOf(vectors)}`);
    expect(out).toMatch(/= 0x4\n/); // CurrentEL: EL1
    expect(out).not.toMatch(/^v0\s/m); // vector registers are not general ones
  });

  it('breaks at a symbol, continues and single-steps', async () => {
    const s = await serve(a64);
    const marker = s.session.symbol('marker')!.value;
    const out = await gdb(s, 'aarch64', ['break marker', 'continue', 'p $pc', 'stepi', 'p $pc', 'info breakpoints']);
    expect(out).toMatch(/Breakpoint 1, 0x[0-9a-f]+ in marker \(\)/);
    const pcs = [...out.matchAll(/\(void \(\*\)\(\)\) (0x[0-9a-f]+)/g)].map((m) => BigInt(m[1]));
    expect(pcs).toHaveLength(2);
    // gdb puts the breakpoint past what it takes for marker's prologue
    expect(pcs[0] >= marker && pcs[0] <= marker + 16n).toBe(true);
    expect(pcs[1]).toBe(pcs[0] + 4n);
    expect(out).toMatch(/breakpoint already hit 1 time/);
    // gdb -batch detaches as it quits: the guest runs on, to its SYSTEM_OFF
    await until(() => s.session.state === 'exited', 'the guest to run to its end');
  });

  it('stops at a trap with its summary; decide undef then stepi lands in the vector', async () => {
    const s = await serve(a64);
    const vectors = s.session.symbol('vectors')!.value;
    const hvc = s.session.symbol('hvc_site')!.value;
    const out = await gdb(s, 'aarch64', ['monitor break-on hvc', 'continue', 'monitor trap', 'monitor decide undef', 'stepi', 'p $pc', 'p/x $ESR_EL1', 'p/x $ELR_EL1', 'p $x20']);
    expect(out).toContain('Trap #1: HVC #0x0 PSCI FEATURES(func=0x80000000');
    expect(out).toMatch(/SIGTRAP/);
    expect(out).toMatch(/in after_hvc \(\)/);
    expect(out).toContain('decision: pending');
    expect(out).toMatch(/Trap #1: undef \(user\) -> undef -> 0x[0-9a-f]+ ESR=0x2000000/);
    expect(out).toMatch(/in el1h_sync \(\)/);
    expect(out).toContain(`(void (*)()) ${hexOf(vectors + 0x204n)} <el1h_sync+4>`);
    expect(out).toContain('= 0x2000000');
    expect(out).toContain(`= ${hexOf(hvc)}`);
    expect(out).toMatch(/\$\d+ = 1\n/);
  });

  it('with examples/trapdoor.gdb, gdb shows the decided registers at once', async () => {
    const s = await serve(a64);
    const run = startGdb(s, 'aarch64', ['monitor break-on owner psci hvc', 'continue', 'p/x $x0', 'monitor decide return x0=5',
      'p/x $x0', 'break done', 'continue', 'p $x19'], 20_000, path.join(ROOT, 'examples/trapdoor.gdb'));
    const out = await run.done;
    expect(out).toMatch(/\$1 = 0x8400000a\n/); // PSCI_FEATURES, as the guest made the call
    expect(out).toMatch(/\$2 = 0x5\n/); // the decision, before the guest runs on
    expect(out).toMatch(/\$3 = 5\n/);
  });

  it('monitor decide return x0=5: the guest sees 5; continue applies it', async () => {
    const s = await serve(a64);
    const out = await gdb(s, 'aarch64', ['monitor break-on owner psci hvc', 'continue', 'monitor decide return x0=5', 'break done', 'continue', 'p $x19', 'monitor traps', 'monitor break-on off', 'monitor policy']);
    expect(out).toContain('break-on-1: owner psci hvc -> ask');
    expect(out).toContain('Trap #1: HVC #0x0 PSCI FEATURES');
    expect(out).toContain('Trap #1: return (user) -> x0=0x5');
    expect(out).toMatch(/\$1 = 5\n/);
    expect(out).toMatch(/^1\s+\d+\s+HVC #0x0 @0x[0-9a-f]+\s+PSCI FEATURES.*return \(user\)\s+x0=0x5/m);
    expect(out).toContain('Removed break-on-1.');
    expect(out).toContain('default -> emulate');
  });

  it('watchpoints fire with the right address and kind', async () => {
    const s = await serve(a64);
    const out = await gdb(s, 'aarch64', [
      'watch *(long *)&var_b', 'rwatch *(long *)&var_a', 'awatch *(long *)&var_c',
      'continue', 'continue', 'continue', 'continue', 'info watchpoints']);
    // the write to var_b, the read of var_a, then var_c read and written
    expect(out).toMatch(/Hardware watchpoint 1: \*\(long \*\)&var_b\s+Old value = 0\s+New value = 5/);
    expect(out).toMatch(/Hardware read watchpoint 2: \*\(long \*\)&var_a\s+Value = 4660/);
    expect(out).toMatch(/Hardware access \(read\/write\) watchpoint 3: \*\(long \*\)&var_c\s+Value = 41/);
    expect(out).toMatch(/Hardware access \(read\/write\) watchpoint 3: \*\(long \*\)&var_c\s+Old value = 41\s+New value = 42/);
  });

  it('Ctrl-C stops a guest in an endless loop in under a second', async () => {
    const s = await serve(loop);
    const run = startGdb(s, 'aarch64', ['continue', 'p $pc', 'p $x1 > 1000', 'detach']);
    await until(() => s.session.state === 'running', 'the guest to run');
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    run.child.kill('SIGINT');
    await until(() => /SIGINT, Interrupt/.test(run.output), 'gdb to report SIGINT', 3000);
    const ms = Date.now() - t0;
    const out = await run.done;
    expect(ms).toBeLessThan(1000);
    expect(out).toMatch(/Program received signal SIGINT, Interrupt\.\n0x[0-9a-f]+ in loop \(\)/);
    expect(out).toMatch(/\$2 = 1\n/);
    await until(() => s.session.state === 'running', 'the guest to run on after detach');
  });

  it('detach lets the guest run on without gdb\'s breakpoints', async () => {
    const s = await serve(a64);
    const out = await gdb(s, 'aarch64', ['break marker', 'continue', 'p $pc', 'detach']);
    expect(out).toMatch(/Breakpoint 1, .* in marker \(\)/);
    expect(out).toContain('[Inferior 1 (Remote target) detached]');
    await until(() => s.session.state === 'exited', 'the guest to run to its end');
    expect(s.session.lastStop?.message).toMatch(/SYSTEM_OFF/);
  });

  it('re-attaching pauses a running guest; kill leaves it paused and re-attachable', async () => {
    const s = await serve(loop);
    const first = await gdb(s, 'aarch64', ['break loop', 'continue', 'detach']);
    expect(first).toMatch(/Breakpoint 1, .* in loop \(\)/);
    await until(() => s.server.clients() === 0, 'the client to go');
    // gdb's breakpoint went with it: the loop runs on
    await new Promise((r) => setTimeout(r, 100));
    expect(s.session.state).toBe('running');
    expect(s.session.insns).toBeGreaterThan(1000);
    const second = await gdb(s, 'aarch64', ['p $x1 > 1000', 'p $pc', 'kill']);
    expect(second).toMatch(/\$1 = 1\n/);
    expect(second).toMatch(/\[Inferior 1 \(Remote target\) killed\]/);
    await until(() => s.server.clients() === 0, 'the client to go');
    expect(s.session.state).toBe('stopped');
    const pc = second.match(/\$2 = \(void \(\*\)\(\)\) (0x[0-9a-f]+)/)![1];
    const third = await gdb(s, 'aarch64', ['p $pc', 'stepi', 'p $pc']);
    expect(third).toContain(`$1 = (void (*)()) ${pc}`);
    expect(third).toMatch(/\$2 = \(void \(\*\)\(\)\) 0x[0-9a-f]+ <(loop|_start)/);
  });

  it('refuses a second gdb while one is attached, with a message', async () => {
    const s = await serve(loop);
    const first = startGdb(s, 'aarch64', ['continue']);
    await until(() => s.session.state === 'running', 'the guest to run');
    const second = await gdb(s, 'aarch64', ['p 1']);
    expect(second).toMatch(/Remote failure reply: E\.Trapdoor: another gdb \(127\.0\.0\.1:\d+\) is attached/);
    expect(s.server.clients()).toBe(1);
    first.child.kill('SIGINT');
    await first.done;
  });
});

describe('gdb-multiarch: the banked stack pointers', () => {
  it('at EL1h SP_EL1 is sp: reading either gives the same value, writing either changes both', async () => {
    const s = await serve(assemble('aarch64', `.global _start
_start:
  ldr x0, =0x40100000
  mov sp, x0
here:
  nop
  ldr x0, =0x84000008
  smc #0
`, 'banked-sp'));
    const flush = 'maintenance flush register-cache';
    const out = await gdb(s, 'aarch64', ['break here', 'continue', 'p/x $cpsr & 0xd', 'p/x $sp', 'p/x $SP_EL1',
      'set $SP_EL1 = 0x40200000', flush, 'p/x $sp', 'set $sp = 0x40300000', flush, 'p/x $SP_EL1', 'p/x $SP_EL0']);
    const values = [...out.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => m[1]);
    // EL1 with SPSel = 1 (EL1h); before, SP_EL1 read 0 and writing it left sp alone
    expect(values.slice(0, 5)).toEqual(['0x5', '0x40100000', '0x40100000', '0x40200000', '0x40300000']);
    expect(values[5]).not.toBe('0x40300000'); // SP_EL0 is another bank
  });
});

describe('gdb-multiarch against the stub (AArch32)', () => {
  it('registers, a Thumb breakpoint, stepi, a trap and a returned value', async () => {
    const s = await serve(a32);
    const thumb = s.session.symbol('thumb_code')!.value & ~1n;
    const out = await gdb(s, 'arm', [
      'info registers', 'p/x $SCTLR', 'break *thumb_code', 'continue', 'stepi', 'p $pc', 'x/i $pc',
      'monitor break-on smc', 'continue', 'monitor decide return r0=7', 'break after_thumb', 'continue', 'p $r9']);
    expect(out).toMatch(/^r0\s+0x0/m);
    expect(out).toMatch(/^pc\s+0x40000000/m);
    expect(out).toMatch(/^cpsr\s+0x[0-9a-f]+/m);
    expect(out).toMatch(/= 0xc50078/);
    expect(out).toMatch(/Breakpoint 1, 0x[0-9a-f]+ in thumb_code \(\)/);
    expect(out).toContain(`(void (*)()) ${hexOf(thumb + 2n)} <thumb_code+2>`);
    expect(out).toMatch(/adds\s+r5, #1/);
    expect(out).toContain('Trap #1: SMC #0x0 PSCI VERSION()');
    expect(out).toContain('Trap #1: return (user) -> r0=0x7');
    expect(out).toMatch(/\$\d+ = 7\n/);
  });
});
