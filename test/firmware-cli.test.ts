// What the built-in firmware answers and how a run ends, as `trapdoor run` shows it.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const tmp = mkdtempSync(path.join(scratchDir(), 'fw-cli-'));

function trapdoor(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Trap records of a --json run (the lines that are JSON objects). */
function records(out: string): Array<{ decoded: { name: string; summary: string; fields: Record<string, unknown> }; result: { regs?: Record<string, string>; effect?: string; note?: string } }> {
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/** Table rows, each with its continuation lines (a long decoded call wraps under its column) appended. */
const rows = (out: string) => {
  const r: string[] = [];
  for (const l of out.split('\n')) {
    if (/^\d+\s/.test(l)) r.push(l);
    else if (/^ {20,}\S/.test(l) && r.length) r[r.length - 1] += ' ' + l.trim();
  }
  return r;
};

describe('SMCCC 1.x: SMC64 ids from an AArch32 guest', () => {
  const guest = assemble('arm', `.global _start\n_start:
  ldr r0, =0xc4000003\n  mov r1, #1\n  ldr r2, =0x40000100\n  smc #0
  ldr r0, =0x84000008\n  smc #0\n`, 'a32-smc64');

  it('answers r0 = -1 NOT_SUPPORTED instead of running CPU_ON, and the row shows the warning', () => {
    const r = trapdoor(['run', guest]);
    expect(r.code).toBe(0);
    const [row] = rows(r.out);
    expect(row).toMatch(/PSCI CPU_ON\(.*emulate \(default\)\s+r0=-1 /);
    expect(row.replace(/\s+/g, ' ')).toMatch(/\) \[warning: SMC64\/HVC64 id from an AArch32 guest\]$/);
    const [rec] = records(trapdoor(['run', guest, '--json']).out);
    expect(rec.result.regs).toEqual({ r0: '0xffffffff' });
    expect(rec.result.note).toBe('SMC64/HVC64 id from an AArch32 guest: NOT_SUPPORTED');
    expect(rec.result.effect).toBeUndefined();
  });
});

describe('PSCI end of run', () => {
  it('reports SYSTEM_RESET2 as SYSTEM_RESET2, with its reset type and cookie', () => {
    const guest = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0xc4000012\n  mov x1, #0\n  ldr x2, =0x1234\n  smc #0\n  b .\n`, 'reset2');
    const r = trapdoor(['run', guest]);
    expect(r.code).toBe(0);
    expect(rows(r.out)[0]).toMatch(/SYSTEM_RESET2( |$)/);
    expect(r.out).toMatch(/run ended: guest called PSCI SYSTEM_RESET2 \(SYSTEM_WARM_RESET, reset_type=0x0, cookie=0x1234\)/);
  });

  it('ends the run when the only CPU calls CPU_OFF, without answering DENIED', () => {
    const guest = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x84000002\n  smc #0\n  ldr x0, =0x84000008\n  smc #0\n`, 'cpu-off');
    const r = trapdoor(['run', guest]);
    expect(r.code).toBe(0);
    expect(rows(r.out)).toHaveLength(1);
    expect(rows(r.out)[0]).toMatch(/PSCI CPU_OFF\(\).*emulate \(default\)\s+CPU_OFF$/);
    expect(r.out).toMatch(/run ended: guest called PSCI CPU_OFF on its last running CPU \(vCPU 0\): no CPU is left to run/);
    const [rec] = records(trapdoor(['run', guest, '--json']).out);
    expect(rec.result).toMatchObject({ regs: {}, effect: 'cpu_off' });
  });
});

describe('Xen hypercalls', () => {
  const guest = assemble('aarch64', `.global _start\n_start:
  mov x16, #18\n  mov x0, #0\n  mov x1, #12\n  adr x2, msg\n  hvc #0xea1
  mov x16, #29\n  mov x0, #2\n  adr x1, reason\n  hvc #0xea1
  ldr x0, =0x84000008\n  smc #0
msg: .ascii "hello, xen!\\n"
.balign 4
reason: .word 1\n`, 'xen-console');

  it('shows console_io(CONSOLEIO_write) as guest output and ends on sched_op(SCHEDOP_shutdown) with the reason', () => {
    const r = trapdoor(['run', guest]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const console = lines.findIndex((l) => /XEN console_io\(CONSOLEIO_write/.test(l));
    expect(lines[console]).toMatch(/x0=0x0$/);
    // right after the row (and the decoded call's continuation line)
    const after = lines.slice(console + 1).find((l) => !/^ {20,}\S/.test(l));
    expect(after).toBe('guest| hello, xen!');
    const shutdown = rows(r.out).find((row) => row.includes('XEN sched_op(SCHEDOP_shutdown'));
    expect(shutdown).toMatch(/XEN_SHUTDOWN/);
    expect(shutdown).toMatch(/reason=reboot\)/);
    expect(r.out).toMatch(/run ended: guest called Xen sched_op\(SCHEDOP_shutdown, reason=reboot\)/);
  });

  it('answers -ENOSYS, not -1, when forwarding a Xen hypercall fails', () => {
    const xenVersion = assemble('aarch64', `.global _start\n_start:
  mov x16, #17\n  mov x0, #0\n  hvc #0xea1\n  ldr x0, =0x84000008\n  smc #0\n`, 'xen-forward');
    // nothing listens on port 1: the forward fails at once
    const r = trapdoor(['run', xenVersion, '--json', '--on', 'xen:17=forward', '--forward', 'tcp://127.0.0.1:1', '--forward-timeout', '20000']);
    expect(r.code).toBe(0);
    const [rec] = records(r.out);
    expect(rec.decoded.name).toBe('xen_version');
    expect(rec.result.regs).toEqual({ x0: '0xffffffffffffffda' });
    expect(r.err + r.out).toMatch(/x0 = -38 \(-ENOSYS\)/);
  });
});

describe('SMCCC SOC_ID from --soc-id and from the policy file', () => {
  const guest = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x80000002\n  mov x1, #0\n  smc #0
  ldr x0, =0x80000002\n  mov x1, #1\n  smc #0
  ldr x0, =0xc0000002\n  mov x1, #2\n  smc #0
  ldr x0, =0x84000008\n  smc #0\n`, 'soc-id');

  const expectSocId = (out: string, name: string) => {
    const [version, revision, soc] = records(out);
    // bank 4, code 0x3b (Arm), SoC id 0x1234 / revision 2 (SMCCC 1.6 section 7.4)
    expect(version.result.regs?.x0).toBe('0x43b1234');
    expect(revision.result.regs?.x0).toBe('0x2');
    expect(soc.result.regs?.x0).toBe('0x0');
    const bytes = Buffer.alloc(136);
    Object.entries(soc.result.regs ?? {}).filter(([k]) => k !== 'x0').forEach(([k, v]) => bytes.writeBigUInt64LE(BigInt(v), (Number(k.slice(1)) - 1) * 8));
    expect(bytes.toString('utf8').replace(/\0+$/, '')).toBe(name);
  };

  it('answers version, revision and name from --soc-id', () => {
    const r = trapdoor(['run', guest, '--json', '--soc-id', '0x43b:0x1234:2:Trapdoor virt']);
    expect(r.err).not.toMatch(/error|bad/i);
    expect(r.code).toBe(0);
    expectSocId(r.out, 'Trapdoor virt');
  });

  it('answers them from the policy file', () => {
    const file = path.join(tmp, 'soc.yaml');
    writeFileSync(file, 'default: emulate\nfirmware:\n  soc_id: { jep106: 0x43b, soc: 0x1234, revision: 2, name: "My SoC" }\nrules: []\n');
    const r = trapdoor(['run', guest, '--json', '--policy', file]);
    expect(r.code).toBe(0);
    expectSocId(r.out, 'My SoC');
  });

  it('answers NOT_SUPPORTED without them, and says what is wrong with a bad --soc-id or policy entry', () => {
    expect(records(trapdoor(['run', guest, '--json']).out)[0].result.regs?.x0).toBe('0xffffffffffffffff');
    const bad = trapdoor(['run', guest, '--soc-id', '0x43b']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/bad --soc-id "0x43b": expected JEP106:SOC:REVISION\[:NAME\]/);
    const file = path.join(tmp, 'bad-soc.yaml');
    writeFileSync(file, 'firmware:\n  soc_id: { jep106: 0x4bb, soc: 1 }\n');
    const r = trapdoor(['run', guest, '--policy', file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad-soc\.yaml:2:11: jep106 identification code is 7 bits/);
  });
});

describe('a call repeated with a constant answer (answered from the call cache after the first)', () => {
  // each call twice; the answers are kept in other registers, which the final call's record shows
  const repeat = (r: string) => `.global _start\n_start:
  ldr ${r}0, =0x84000000\n  smc #0\n  mov ${r}4, ${r}0
  ldr ${r}0, =0x84000000\n  smc #0\n  mov ${r}5, ${r}0
  ldr ${r}0, =0x8200ff00\n  smc #0\n  mov ${r}6, ${r}0
  ldr ${r}0, =0x8200ff00\n  smc #0\n  mov ${r}7, ${r}0
  ldr ${r}0, =0x84000008\n  smc #0\n`;
  const a64 = assemble('aarch64', repeat('x'), 'repeat-a64');
  const a32 = assemble('arm', repeat('r'), 'repeat-a32');

  it.each([['AArch64', a64, '0xffffffffffffffff'], ['AArch32', a32, '0xffffffff']])('%s: the second call gets the same registers as the first (PSCI_VERSION, an unimplemented SiP call)', (_arch, guest, minus1) => {
    const r = trapdoor(['run', guest, '--json']);
    expect(r.code).toBe(0);
    const recs = records(r.out) as unknown as { args: string[]; result: { regs: Record<string, string> } }[];
    expect(recs).toHaveLength(5);
    const last = recs[4].args;
    expect(last.slice(4, 8)).toEqual(['0x10001', '0x10001', minus1, minus1]);
    expect(recs[1].result).toEqual(recs[0].result);
    expect(recs[3].result).toEqual(recs[2].result);
  });
});
