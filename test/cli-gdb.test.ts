// `trapdoor run --gdb HOST:PORT --wait` as a user runs it, with the real gdb-multiarch.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { assemble, ROOT } from './helpers/asm.js';
import { expectHelpersLowered } from './helpers/threads.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');

/** Starts `trapdoor run ELF ...args --gdb 127.0.0.1:0`; resolves with the port once it listens. */
async function startRun(elf: string, args: string[]) {
  const td = spawn(process.execPath, [BIN, 'run', elf, ...args, '--gdb', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seen = { out: '', err: '' };
  td.stderr.on('data', (d) => { seen.err += d; });
  const port = await new Promise<number>((resolve, reject) => {
    td.stdout.on('data', (d) => {
      seen.out += d;
      const m = /gdb stub on 127\.0\.0\.1:(\d+)/.exec(seen.out);
      if (m) resolve(Number(m[1]));
    });
    td.on('exit', () => reject(new Error(`trapdoor exited early: ${seen.out}${seen.err}`)));
  });
  const closed = new Promise<number | null>((resolve) => td.on('close', resolve));
  return { port, seen, closed, pid: td.pid! };
}

function gdb(port: number, elf: string, commands: string[]): string {
  const r = spawnSync('gdb-multiarch', ['-batch', '-nx', '-ex', 'set pagination off', '-ex', `target remote 127.0.0.1:${port}`,
    ...commands.flatMap((c) => ['-ex', c]), elf], { encoding: 'utf8', timeout: 30_000 });
  return r.stdout + r.stderr;
}

describe('trapdoor run --gdb', () => {
  it('waits for gdb, which decides an ask trap with monitor decide and runs the guest to SYSTEM_OFF', async () => {
    const elf = assemble('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  hvc #0\n  mov x19, x0\ndone:\n  ldr x0, =0x84000008\n  smc #0\n`, 'gdb-cli');
    const run = await startRun(elf, ['--on', 'hvc=ask', '--wait']);
    const said = gdb(run.port, elf, ['continue', 'monitor decide return x0=0x55', 'break done', 'continue', 'p/x $x19', 'continue']);
    const code = await run.closed;
    expect(said).toMatch(/Trap #1: HVC #0x0 PSCI VERSION\(\)/);
    expect(said).toMatch(/\$1 = 0x55/);
    expect(said).toMatch(/\[Inferior 1 \(Remote target\) exited normally\]/);
    expect(code).toBe(0);
    expect(run.seen.out).toMatch(/return \(user\)\s+x0=0x55/);
    expect(run.seen.out).toMatch(/run ended: guest called PSCI SYSTEM_OFF/);
  });

  it('after detach the guest runs on to the next ask trap, which waits for the next gdb', async () => {
    const elf = assemble('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  hvc #0\n  mov x19, x0\n  ldr x0, =0x84000000\n  hvc #0\n  mov x20, x0\n  ldr x0, =0x84000008\n  smc #0\n`, 'gdb-cli-detach');
    const run = await startRun(elf, ['--on', 'hvc=ask', '--wait']);
    const first = gdb(run.port, elf, ['continue', 'detach']);
    expect(first).toMatch(/Trap #1: HVC #0x0 PSCI VERSION\(\)/);
    // trap 1 takes the default (emulate); trap 2 stops the guest and the CLI says so
    for (let i = 0; i < 100 && !/trap #2 waits for a decision/.test(run.seen.out); i++) await new Promise((r) => setTimeout(r, 50));
    expect(run.seen.out).toMatch(/trap #2 waits for a decision: attach gdb and use 'monitor decide'/);
    const second = gdb(run.port, elf, ['monitor trap', 'monitor decide return x0=0x77', 'stepi', 'p/x $x20', 'p/x $x19', 'continue']);
    expect(second).toMatch(/Trap #2: HVC #0x0 at 0x[0-9a-f]+/);
    expect(second).toMatch(/\$1 = 0x77/);
    expect(second).toMatch(/\$2 = 0x10001/); // PSCI 1.1, emulated for trap 1
    expect(second).toMatch(/exited normally/);
    expect(await run.closed).toBe(0);
    expect(run.seen.out).toMatch(/^1 .*PSCI VERSION\(\)\s+emulate \(default \(ask:on1\)\)/m);
  });

  it('while gdb drives the guest, node\'s helper threads (compiler, GC, I/O pool) run behind the emulation thread and the watcher', async () => {
    const elf = assemble('aarch64', `.global _start\n_start:\n  mov x1, #1\n  mov x2, #2\n  ldr x0, =0x84000008\n  smc #0\n`, 'gdb-cli-nice');
    const run = await startRun(elf, ['--wait']);
    // each thread of the stub as "name nice", read while gdb is attached
    const list = `for t in /proc/${run.pid}/task/*; do echo "THREAD $(basename $t) $(cat $t/comm) $(cut -d' ' -f19 $t/stat)"; done`;
    const said = gdb(run.port, elf, ['stepi', `shell ${list}`, 'continue']);
    expect(await run.closed).toBe(0);
    const threads = [...said.matchAll(/^THREAD (\d+) (\S+) (-?\d+)$/gm)].map((m) => ({ tid: Number(m[1]), name: m[2], nice: Number(m[3]) }));
    expectHelpersLowered(threads, run.pid, ['trapdoor-emu', 'trapdoor-watch']);
  });

  it('refuses a non-loopback address with a clear message', () => {
    const r = spawnSync(process.execPath, [BIN, 'run', 'x.elf', '--gdb', '0.0.0.0:1234'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/loopback only/);
  });
});
