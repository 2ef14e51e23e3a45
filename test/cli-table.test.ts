// The trap table as printed by `trapdoor run` (issue 14, item 17): columns sized
// to what they hold, long decoded calls wrapped under their column, decision and
// result aligned with the header, 10-digit instruction counts in their column.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const tmp = mkdtempSync(path.join(scratchDir(), 'cli-table-'));

function trapdoor(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// a PSCI call at once; a SiP call with six large arguments after 10^9 instructions; SYSTEM_OFF
const guest = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x84000000\n  smc #0
  ldr x2, =500000000
1: subs x2, x2, #1
  b.ne 1b
  ldr x0, =0x82000001
  ldr x1, =0x1111111111111111\n  ldr x2, =0x2222222222222222\n  ldr x3, =0x3333333333333333
  ldr x4, =0x4444444444444444\n  ldr x5, =0x5555555555555555\n  ldr x6, =0x6666666666666666
  smc #0
  ldr x0, =0x84000008\n  smc #0\n`, 'table');

describe('the trap table', () => {
  it('keeps decision and result under their headers, wraps long calls under theirs, fits 10-digit counts', { timeout: 300_000 }, () => {
    const pol = path.join(tmp, 'long-id.yaml');
    writeFileSync(pol, 'rules:\n  - id: sip-answered-by-the-test\n    match: { owner: sip }\n    action: "return(x0=0x5)"\n');
    const r = trapdoor(['run', guest, '--policy', pol]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const header = lines.find((l) => l.startsWith('seq'))!;
    const col = (name: string) => header.indexOf(name);
    const rows = lines.filter((l) => /^\d+\s/.test(l));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row[col('insns') - 1]).toBe(' ');
      expect(row.slice(col('call site'))).toMatch(/^(SMC|HVC) #0x0 @0x4/);
      expect(row[col('call site') - 1]).toBe(' ');
      expect(row.slice(col('decision'))).toMatch(/^(emulate \(default\)|return \(rule sip-answered-by-the-test\))\s/);
      expect(row[col('decision') - 1]).toBe(' ');
      expect(row.slice(col('result'))).toMatch(/^(x0=0x10001|x0=0x5|SYSTEM_OFF)$/);
      expect(row[col('result') - 1]).toBe(' ');
    }
    // the SiP row: a 10-digit instruction count, the call wrapped under the decoded-call column
    const sip = lines.findIndex((l) => /^2\s/.test(l));
    expect(lines[sip]).toMatch(/^2\s+\d{10} /);
    const more = lines.slice(sip + 1).filter((l, i, a) => a.slice(0, i + 1).every((x) => x.startsWith(' ')));
    expect(more.length).toBeGreaterThan(0);
    for (const l of more) {
      expect(l.slice(0, col('decoded call')).trim()).toBe('');
      expect(l[col('decoded call')]).not.toBe(' ');
    }
    const shown = [lines[sip].slice(col('decoded call'), col('decision')).trim(), ...more.map((l) => l.trim())].join(' ');
    // an SMC32 call: its arguments are 32-bit
    const full = 'SiP call 0x82000001(x1=0x11111111, x2=0x22222222, x3=0x33333333, x4=0x44444444, x5=0x55555555, x6=0x66666666)';
    // at most three lines, the rest cut with …
    expect(more.length).toBeLessThanOrEqual(2);
    expect(shown).toMatch(/…$/);
    expect(full.replace(/\s/g, '').startsWith(shown.replace(/\s|…/g, ''))).toBe(true);
    // the full text is in --json
    const json = trapdoor(['run', guest, '--policy', pol, '--json']);
    const rec = JSON.parse(json.out.split('\n')[1]);
    expect(rec.decoded.summary).toBe(full);
  });
});
