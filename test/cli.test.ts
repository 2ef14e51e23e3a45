// The CLI as a user runs it: `trapdoor run`, `trapdoor decode`, bad input.
import { describe, it, expect } from 'vitest';
import { trapdoorAsync } from './helpers/cli.js';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, copyFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const tmp = mkdtempSync(path.join(scratchDir(), 'cli-'));

function trapdoor(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}


const OFF = `ldr x0, =0x84000008\n  smc #0\n`;
const guest = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x84000000\n  smc #0
  ldr x0, =0x82000001\n  smc #0
  ldr x0, =0xc4000053\n  mov x1, #64\n  smc #0
  ${OFF}`, 'cli-guest');

describe('trapdoor run', () => {
  it('prints one table row per trap and ends on SYSTEM_OFF with exit 0', () => {
    const r = trapdoor(['run', guest]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rows = r.out.split('\n').filter((l) => /^\d+\s/.test(l));
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatch(/SMC #0x0 @0x4000000\d.*PSCI.*VERSION.*emulate \(default\).*x0=0x10001/);
    expect(rows[1]).toMatch(/emulate.*x0=-1/);
    expect(rows[3]).toMatch(/SYSTEM_OFF/);
    expect(r.out).toMatch(/run ended: guest called PSCI SYSTEM_OFF \(4 traps/);
  });

  it('--json prints the records as JSON lines and --trap-log writes them after a header record', () => {
    const log = path.join(tmp, 'traps.jsonl');
    const r = trapdoor(['run', guest, '--json', '--trap-log', log]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    expect(lines[0]).toMatchObject({ conduit: 'smc', imm: 0, arch: 'aarch64', decision: 'emulate', by: 'default' });
    expect(lines[0].args[0]).toBe('0x84000000');
    const [header, ...logged] = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(header).toMatchObject({ trapdoor: expect.any(String), image: guest, options: ['--json', '--trap-log', log] });
    expect(logged).toEqual(lines);
  });

  it('applies --on rules and says which rule decided', () => {
    const r = trapdoor(['run', guest, '--json', '--on', '0x82000001=return(x0=0x7)', '--on', '0x84000000-0x8400001f=emulate']);
    const recs = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(recs[1]).toMatchObject({ decision: 'return', by: 'policy', rule: 'on1', result: { regs: { x0: '0x7' } } });
    expect(recs[0]).toMatchObject({ decision: 'emulate', by: 'policy', rule: 'on2' });
  });

  it('without a terminal, ask applies the default and says so', () => {
    const r = trapdoor(['run', guest, '--on', 'owner:sip=ask', '--default', 'undef', '--max-insns', '1000']);
    expect(r.out).toMatch(/no terminal to ask on: applying the default \(undef\)/);
    expect(r.out).toMatch(/undef \(default/);
  });

  it('stops at --max-insns with exit code 3 and at --timeout', () => {
    const spin = assemble('aarch64', '.global _start\n_start:\n  b _start\n', 'spin');
    const r = trapdoor(['run', spin, '--max-insns', '100000']);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/instruction limit reached/);
    const t = trapdoor(['run', spin, '--timeout', '0.3']);
    expect(t.code).toBe(3);
    expect(t.out).toMatch(/timeout after 0.3 s/);
    // without the block hook a timeout still ends the run (a hard stop)
    const f = trapdoor(['run', spin, '--timeout', '0.3', '--no-count']);
    expect(f.code).toBe(3);
    expect(f.out).toMatch(/timeout after 0.3 s/);
    expect(trapdoor(['run', spin, '--no-count', '--max-insns', '5']).err).toMatch(/--max-insns needs instruction counts: --no-count runs without the native block hook/);
  });

  it('a guest fault exits 4 with pc, address, access and the last traps', () => {
    const bad = assemble('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  smc #0\n  ldr x1, =0x123450\n  str x0, [x1]\n`, 'fault');
    const r = trapdoor(['run', bad]);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/guest fault: write.*0x123450/);
    expect(r.err).toMatch(/pc 0x4000000c <_start\+0xc>, address 0x123450, access write/);
    expect(r.err).toMatch(/#1 0x40000004 PSCI/);
  });

  it('forwards to the reference endpoint, and falls back within the timeout when it is killed', async () => {
    const table = path.join(tmp, 'answers.json');
    writeFileSync(table, JSON.stringify({ '0x82000001': { x0: '0x42' } }));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const stub = spawn(process.execPath, [BIN, 'firmware-stub', '--listen', String(port), '--table', table], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stubOut = '';
    await new Promise<void>((resolve, reject) => {
      stub.stdout.on('data', (d) => { stubOut += d; if (stubOut.includes('listening')) resolve(); });
      stub.on('exit', () => reject(new Error(`firmware-stub exited: ${stubOut}`)));
    });
    const ok = await trapdoorAsync(['run', guest, '--json', '--on', '0x82000001=forward', '--forward', `tcp://127.0.0.1:${port}`]);
    expect(ok.code).toBe(0);
    const recs = ok.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(recs[1]).toMatchObject({ decision: 'forward', by: 'policy', result: { regs: { x0: '0x42' } } });
    stub.kill('SIGKILL');
    await new Promise((r) => stub.on('close', r));
    const t0 = Date.now();
    const dead = await trapdoorAsync(['run', guest, '--json', '--on', '0x82000001=forward', '--forward', `tcp://127.0.0.1:${port}`, '--forward-timeout', '500']);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(dead.code).toBe(0);
    expect(dead.err).toMatch(/trap #2: forward to tcp:\/\/127\.0\.0\.1:\d+ failed: .*fallback: x0 = -1/);
    const drecs = dead.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(drecs[1].result.regs.x0).toBe('0xffffffffffffffff');
    expect(drecs[1].result.error).toMatch(/failed/);
  });
});

describe('bad input gives a clear message and a non-zero exit, never a stack trace', () => {
  const cases: [string, string[], RegExp][] = [
    ['missing file', ['run', '/nonexistent/guest.elf'], /no such file/],
    ['no image', ['run'], /no image given/],
    ['unknown option', ['run', 'x.elf', '--frobnicate'], /unknown option --frobnicate/],
    ['bad ram', ['run', 'x.elf', '--ram', '0x40000000'], /bad --ram "0x40000000": expected BASE:SIZE/],
    ['bad address', ['run', 'x.elf', '--load', 'zz', '--arch', 'aarch64'], /bad --load "zz"/],
    ['bad rule', ['run', 'x.elf', '--on', '0x84000000=explode'], /bad --on/],
    ['bad forward url', ['run', 'x.elf', '--forward', 'http://x'], /bad --forward/],
    ['unknown command', ['frob'], /unknown command "frob"/],
  ];
  for (const [what, args, msg] of cases) {
    it(what, () => {
      const r = trapdoor(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /);
    });
  }

  it('overlapping memory', () => {
    const r = trapdoor(['run', guest, '--ram', '0x40000000:1M', '--ram', '0x40080000:1M']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/overlaps ram0 0x40000000-0x400fffff/);
  });

  it('a RAM region larger than one region holds, and a segment far outside RAM', () => {
    const big = trapdoor(['run', guest, '--ram', '0x40000000:128M', '--ram', '0x100000000:8G']);
    expect(big.code).toBe(2);
    expect(big.err).toMatch(/8192 MiB is more than one region holds \(2048 MiB\): split it into several --ram regions/);
    const elf = Buffer.from(readFileSync(guest));
    const phoff = Number(elf.readBigUInt64LE(32));
    elf.writeBigUInt64LE(0x7000000000n, phoff + 16);
    elf.writeBigUInt64LE(0x7000000000n, phoff + 24);
    elf.writeBigUInt64LE(64n << 30n, phoff + 40);
    const far = path.join(tmp, 'far.elf');
    writeFileSync(far, elf);
    const r = trapdoor(['run', far]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/segment 0 at 0x7000000000 needs more than 256 MiB outside the guest RAM: give it RAM with --ram BASE:SIZE/);
  });

  it('truncated and non-ELF files', () => {
    const cut = path.join(tmp, 'cut.elf');
    copyFileSync(guest, cut);
    truncateSync(cut, 100);
    const r = trapdoor(['run', cut]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not a usable ELF file: truncated/);
    const txt = path.join(tmp, 'notes.txt');
    writeFileSync(txt, 'hello');
    expect(trapdoor(['run', txt]).err).toMatch(/no ELF magic \(for a raw binary use --load ADDR/);
  });

  it('a bad policy file names the line and column', () => {
    const pol = path.join(tmp, 'bad.yaml');
    writeFileSync(pol, 'default: emulate\nrules:\n  - match: { id: 0x84000000 }\n    action: explode\n');
    const r = trapdoor(['run', guest, '--policy', pol]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.yaml:4:\d+/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('trapdoor decode', () => {
  it('decodes an SMC64 PSCI call with named arguments', () => {
    const r = trapdoor(['decode', '0xc4000003', '0x1', '0x40080000', '0']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('PSCI CPU_ON(target_cpu=0x1, entry=0x40080000, context=0x0)');
    expect(r.out).toMatch(/fast call, SMC64/);
  });
  it('decodes a Xen hypercall and emits JSON', () => {
    const r = trapdoor(['decode', '0', '--xen', '17', '--json']);
    const d = JSON.parse(r.out);
    expect(d.kind).toBe('xen');
    expect(d.name).toMatch(/xen_version/);
  });
  it('rejects a non-number', () => {
    const r = trapdoor(['decode', 'psci']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/"psci" is not a number/);
  });
});

describe('examples', () => {
  it.runIf(existsSync(path.join(ROOT, 'examples/aarch64/smccc-tour.elf')))('the tour prints its decoded trap table and the undef handler report', () => {
    const r = trapdoor(['run', path.join(ROOT, 'examples/aarch64/smccc-tour.elf'), '--policy', path.join(ROOT, 'examples/aarch64/tour-policy.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/undef handler: ESR_EL1=0x0*2000000/);
    expect(r.out).toMatch(/xen_version/);
    expect(r.out).toMatch(/TRNG/);
    expect(r.out).toMatch(/SYSTEM_OFF/);
  });
});
