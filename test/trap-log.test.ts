// The trap log as a user relies on it: every record as one JSON line, nothing lost
// to a kill -9, a log reused after a crash stays clean, and a pipe works too.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const tmp = mkdtempSync(path.join(scratchDir(), 'trap-log-'));

/** N PSCI_VERSION calls, then SYSTEM_OFF (n = 0: forever). */
const storm = (n: number) => assemble('aarch64', `.global _start\n_start:\n  ldr x19, =${n}\n1:\n  ldr x0, =0x84000000\n  smc #0
  cbz x19, 1b\n  subs x19, x19, #1\n  b.ne 1b\n  ldr x0, =0x84000008\n  smc #0\n`, 'log-storm');

/** The whole records of a log: its lines up to the last newline (after a kill -9, what follows is the record being written and zero bytes). */
function records(file: string) {
  const text = readFileSync(file, 'latin1');
  const body = text.slice(0, text.lastIndexOf('\n') + 1);
  expect(body).not.toContain('\0');
  return body.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; decoded: { name: string } });
}

describe('--trap-log', () => {
  it('holds every record, one JSON line each, and ends where the last one ends', () => {
    const log = path.join(tmp, 'all.jsonl');
    const r = spawnSync(process.execPath, [BIN, 'run', storm(5000), '--quiet', '--trap-log', log], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const recs = records(log);
    expect(recs.map((x) => x.seq)).toEqual(Array.from({ length: 5001 }, (_, i) => i + 1));
    expect(recs[5000].decoded.name).toBe('PSCI_SYSTEM_OFF');
    expect(readFileSync(log, 'latin1').endsWith('}\n')).toBe(true);
  });

  it('a kill -9 loses no record already written, and the next run appends cleanly after them', async () => {
    const log = path.join(tmp, 'killed.jsonl');
    const p = spawn(process.execPath, [BIN, 'run', storm(0), '--quiet', '--trap-log', log], { stdio: 'ignore' });
    for (let i = 0; i < 600 && !(existsSync(log) && statSync(log).size > 4 << 20); i++) await new Promise((r) => setTimeout(r, 50));
    p.kill('SIGKILL');
    await new Promise((r) => p.on('exit', r));
    const before = records(log);
    expect(before.length).toBeGreaterThan(1000);
    expect(before.every((x, i) => x.seq === i + 1)).toBe(true);
    const again = spawnSync(process.execPath, [BIN, 'run', storm(3), '--quiet', '--trap-log', log], { encoding: 'utf8', timeout: 60_000 });
    expect(again.status).toBe(0);
    const after = records(log);
    expect(after.length).toBe(before.length + 4);
    expect(after.slice(before.length).map((x) => x.seq)).toEqual([1, 2, 3, 4]);
  });

  it('a log that is not a regular file (a pipe) gets the records too', () => {
    // a shell pipe, as a user writes it (node's own stdio pipes are sockets, which /dev/stdout cannot open)
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" run "${storm(10)}" --quiet --trap-log /dev/stdout | cat`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  });
});

describe('stdout closed early', () => {
  it('`trapdoor run ... | head` ends the run quietly: no stack trace', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" run "${storm(0)}" --timeout 30 | head -3`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(3);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|at .*\.js:\d+/);
  });
});

// A full disk: a small tmpfs (needs root and mount, as CI has; skipped elsewhere).
const small = mkdtempSync(path.join(scratchDir(), 'small-disk-'));
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small]).status === 0;
afterAll(() => { if (mounted) spawnSync('umount', [small]); });

describe('a trap log on a disk that fills', () => {
  it.skipIf(!mounted)('stops the run at the trap it cannot log, exit 1, with every earlier record whole', () => {
    const log = path.join(small, 'log.jsonl');
    const r = spawnSync(process.execPath, [BIN, 'run', storm(0), '--quiet', '--trap-log', log], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    const m = /internal error at trap #(\d+): writing the trap log .* failed: .*disk full/.exec(r.stderr);
    expect(m).not.toBeNull();
    const recs = records(log);
    expect(recs.length).toBe(Number(m![1]) - 1);
    expect(readFileSync(log, 'latin1').endsWith('}\n')).toBe(true);
  });
});
