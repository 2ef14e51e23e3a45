// `trapdoor run --gdb HOST:PORT --wait` as a user runs it, with the real gdb-multiarch.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { assemble, ROOT } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');

describe('trapdoor run --gdb', () => {
  it('waits for gdb, which decides an ask trap with monitor decide and runs the guest to SYSTEM_OFF', async () => {
    const elf = assemble('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  hvc #0\n  mov x19, x0\ndone:\n  ldr x0, =0x84000008\n  smc #0\n`, 'gdb-cli');
    const td = spawn(process.execPath, [BIN, 'run', elf, '--on', 'hvc=ask', '--gdb', '127.0.0.1:0', '--wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    td.stderr.on('data', (d) => { err += d; });
    const port = await new Promise<number>((resolve, reject) => {
      td.stdout.on('data', (d) => {
        out += d;
        const m = /gdb stub on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      td.on('exit', () => reject(new Error(`trapdoor exited early: ${out}${err}`)));
    });
    const gdb = spawnSync('gdb-multiarch', ['-batch', '-nx', '-ex', 'set pagination off', '-ex', `target remote 127.0.0.1:${port}`,
      '-ex', 'continue', '-ex', 'monitor decide return x0=0x55', '-ex', 'break done', '-ex', 'continue', '-ex', 'p/x $x19', '-ex', 'continue', elf],
      { encoding: 'utf8', timeout: 30_000 });
    const code = await new Promise<number | null>((resolve) => td.on('close', resolve));
    const said = gdb.stdout + gdb.stderr;
    expect(said).toMatch(/Trap #1: HVC #0x0 PSCI VERSION\(\)/);
    expect(said).toMatch(/\$1 = 0x55/);
    expect(said).toMatch(/\[Inferior 1 \(Remote target\) exited normally\]/);
    expect(code).toBe(0);
    expect(out).toMatch(/return \(user\)\s+x0=0x55/);
    expect(out).toMatch(/run ended: guest called PSCI SYSTEM_OFF/);
  });

  it('refuses a non-loopback address with a clear message', () => {
    const r = spawnSync(process.execPath, [BIN, 'run', 'x.elf', '--gdb', '0.0.0.0:1234'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/loopback only/);
  });
});
