// `trapdoor run` under pressure, as a user meets it: output nobody reads, a guest
// that prints without newlines, a trap log on a full disk, a mode that cannot do
// what is asked, a register the guest does not have. Limits hold, memory stays
// bounded, and every failure is a clear message and a non-zero exit.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { assemble, ROOT } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');

function trapdoor(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Resident memory of a process in MiB (0 once it is gone). */
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch { return 0; }
}

interface Watched { code: number | null; maxRss: number; err: string; out: string; killed: boolean }

/**
 * Runs trapdoor, sampling its memory; `readStdout: false` never reads its stdout
 * (a stalled pipe). Kills it after `killAfterMs` (a run that ignores its limits).
 */
function watch(args: string[], opts: { readStdout: boolean; killAfterMs: number }): Promise<Watched> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let out = '';
    let maxRss = 0;
    let killed = false;
    p.stderr.on('data', (d) => { err += d; });
    if (opts.readStdout) p.stdout.on('data', (d) => { if (out.length < 1 << 20) out += d; });
    else p.stdout.pause();
    const sampler = setInterval(() => { maxRss = Math.max(maxRss, rssMiB(p.pid!)); }, 100);
    const killer = setTimeout(() => { killed = true; p.kill('SIGKILL'); }, opts.killAfterMs);
    p.on('exit', (code) => {
      clearInterval(sampler);
      clearTimeout(killer);
      resolve({ code, maxRss, err, out, killed });
    });
  });
}

/** Writes 'x' to the PL011 data register forever, never a newline. */
const PRINTER = assemble('aarch64', `.global _start\n_start:\n  ldr x1, =0x09000000\n  mov w2, #'x'\n1:\n  strb w2, [x1]\n  b 1b\n`, 'printer');
/** SMC PSCI_VERSION forever. */
const STORM = assemble('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n1:\n  smc #0\n  ldr x0, =0x84000000\n  b 1b\n`, 'storm');

describe('output is bounded and limits hold', () => {
  it('a guest printing without newlines: --timeout holds, memory stays bounded, output comes in pieces', async () => {
    const r = await watch(['run', PRINTER, '--timeout', '3'], { readStdout: true, killAfterMs: 60_000 });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(3);
    expect(r.maxRss).toBeLessThan(400);
    expect(r.out).toMatch(/^guest\| x{4096}$/m);
  });

  it('a table nobody reads (a stalled pipe): the guest is held back, memory stays bounded, --timeout still ends the run', async () => {
    const r = await watch(['run', STORM, '--timeout', '4'], { readStdout: false, killAfterMs: 60_000 });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(3);
    expect(r.maxRss).toBeLessThan(400);
  });
});

describe('failures are clear and final', () => {
  it('a trap log that cannot be written (a full disk) ends the run at once with exit 1 and says why', async () => {
    const r = await watch(['run', STORM, '--trap-log', '/dev/full'], { readStdout: true, killAfterMs: 60_000 });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(1);
    // its header record, before the guest starts, already cannot be written
    expect(r.err).toMatch(/^trapdoor: writing the trap log \/dev\/full failed: .*(ENOSPC|no space)/i);
  });

  it('AArch32 with --platform: the legacy call is decided as legacy even after an SMCCC call with the same r0', () => {
    const arm = assemble('arm', `.global _start\n_start:
  mov r12, #0\n  mov r0, #1\n  smc #0
  ldr r12, =0x102\n  mov r0, #1\n  smc #0
  ldr r0, =0x84000008\n  smc #0\n`, 'highbank-cache');
    const r = trapdoor(['run', arm, '--platform', 'highbank', '--on', 'legacy:HIGHBANK_L2_CTRL=return(r0=0x55)', '--json']);
    expect(r.code).toBe(0);
    const recs = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(recs[1]).toMatchObject({ decision: 'return', decoded: { kind: 'legacy' }, result: { regs: { r0: '0x55' } } });
  });

  it('--no-count refuses what it cannot do (gdb needs a resumable pause), with the reason', () => {
    const r = trapdoor(['run', STORM, '--no-count', '--gdb', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--gdb needs a pause the guest can resume from: --no-count runs without the native block hook/);
  });

  it('return(x16=5) on an AArch32 guest is refused up front', () => {
    const arm = assemble('arm', `.global _start\n_start:\n  ldr r0, =0x84000000\n  smc #0\n  ldr r0, =0x84000008\n  smc #0\n`, 'x16');
    const r = trapdoor(['run', arm, '--on', '0x84000000=return(x16=5)']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/AArch32 guest has no register 'x16'/);
  });
});
