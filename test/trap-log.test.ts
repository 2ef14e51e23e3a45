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

/** The whole lines of a log: up to the last newline (after a kill -9, what follows is the record being written and zero bytes). */
function lines(file: string) {
  const text = readFileSync(file, 'latin1');
  const body = text.slice(0, text.lastIndexOf('\n') + 1);
  expect(body).not.toContain('\0');
  return body.trim().split('\n').map((l) => JSON.parse(l) as { seq?: number; trapdoor?: string; decoded: { name: string } });
}

/** The trap records of a log (its header records, one per run, left out). */
function records(file: string) {
  return lines(file).filter((l) => l.seq !== undefined) as { seq: number; decoded: { name: string } }[];
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

  it('a kill -9 loses no record already written, and the next run with --append goes on cleanly after them', async () => {
    const log = path.join(tmp, 'killed.jsonl');
    const p = spawn(process.execPath, [BIN, 'run', storm(0), '--quiet', '--trap-log', log], { stdio: 'ignore' });
    for (let i = 0; i < 600 && !(existsSync(log) && statSync(log).size > 4 << 20); i++) await new Promise((r) => setTimeout(r, 50));
    p.kill('SIGKILL');
    await new Promise((r) => p.on('exit', r));
    const before = records(log);
    expect(before.length).toBeGreaterThan(1000);
    expect(before.every((x, i) => x.seq === i + 1)).toBe(true);
    const again = spawnSync(process.execPath, [BIN, 'run', storm(3), '--quiet', '--trap-log', log, '--append'], { encoding: 'utf8', timeout: 60_000 });
    expect(again.status).toBe(0);
    const after = lines(log);
    expect(after.length).toBe(1 + before.length + 1 + 4);
    expect(after[before.length + 1].trapdoor).toBeDefined();
    expect(after.slice(before.length + 2).map((x) => x.seq)).toEqual([1, 2, 3, 4]);
  });

  it('a log that is not a regular file (a pipe) gets the records too', () => {
    // a shell pipe, as a user writes it (node's own stdio pipes are sockets, which /dev/stdout cannot open)
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" run "${storm(10)}" --quiet --trap-log /dev/stdout | cat`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const logged = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(logged[0].trapdoor).toBeDefined();
    expect(logged.slice(1).map((l) => l.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  });
});

describe('one file, several runs', () => {
  it('each run empties the log and starts it with a header record: version, image, options, start time', () => {
    const log = path.join(tmp, 'runs.jsonl');
    const guest = storm(2);
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(process.execPath, [BIN, 'run', guest, '--quiet', '--trap-log', log], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(0);
    }
    const [header, ...rest] = lines(log);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(header).toEqual({ trapdoor: pkg.version, image: guest, options: ['--quiet', '--trap-log', log], started: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/) });
    expect(Math.abs(Date.parse((header as unknown as { started: string }).started) - Date.now())).toBeLessThan(10 * 60_000);
    expect(rest.map((x) => x.seq)).toEqual([1, 2, 3]);
  });

  it('--append adds the run after what the file holds, its header first', () => {
    const log = path.join(tmp, 'appended.jsonl');
    for (const extra of [[], ['--append'], ['--append']]) {
      const r = spawnSync(process.execPath, [BIN, 'run', storm(1), '--quiet', '--trap-log', log, ...extra], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(0);
    }
    expect(lines(log).map((x) => x.seq ?? 'header')).toEqual(['header', 1, 2, 'header', 1, 2, 'header', 1, 2]);
  });

  it('a log path that cannot be written is one clear line, not a raw ENOENT', () => {
    const cases: [string, RegExp][] = [
      [path.join(tmp, 'no-such-folder', 'traps.jsonl'), /^trapdoor: cannot create the trap log .*traps\.jsonl: the folder .*no-such-folder does not exist \(create it first, or give another path\)\n$/],
      [tmp, /^trapdoor: --trap-log .* is a folder: give a file in it, e\.g\. .*traps\.jsonl\n$/],
    ];
    for (const [file, msg] of cases) {
      const r = spawnSync(process.execPath, [BIN, 'run', storm(1), '--trap-log', file], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/ENOENT|EISDIR/);
      expect(r.status).toBe(2);
    }
    const r = spawnSync(process.execPath, [BIN, 'run', storm(1), '--append'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toMatch(/--append goes with --trap-log FILE/);
    expect(r.status).toBe(2);
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
