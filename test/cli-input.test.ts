// What a new user types wrong in the first hour (issue 14, items 9 and 11): every
// option checked up front, with one line of ours that says what to do.
import { describe, it, expect, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';
import { Session } from '../server/session/session.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const tmp = mkdtempSync(path.join(scratchDir(), 'cli-input-'));

function trapdoor(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const guest = assemble('aarch64', `.global _start\n_start:\n  ldr x0, =0x84000000\n  smc #0\n  ldr x0, =0x84000008\n  smc #0\n`, 'input-guest');

/** Exit 2, exactly one line on stderr, matching `msg`, and nothing run. */
function refused(args: string[], msg: RegExp) {
  const r = trapdoor(args);
  expect(r.err).toMatch(msg);
  expect(r.code).toBe(2);
  expect(r.err.trim().split('\n')).toHaveLength(1);
  expect(r.out).not.toMatch(/^1\s/m);
  return r;
}

describe('platforms (item 9)', () => {
  it('an unknown --platform is refused, listing the known ones, in run and decode', () => {
    refused(['run', guest, '--platform', 'foo'], /unknown --platform "foo": the legacy call tables are highbank, omap4, omap5/);
    refused(['decode', '1', '--platform', 'foo'], /unknown --platform "foo": the legacy call tables are highbank, omap4, omap5/);
  });

  it('decode --help and run --help list every platform, omap5 included', () => {
    expect(trapdoor(['decode', '--help']).out).toMatch(/highbank, omap4, omap5/);
    expect(trapdoor(['run', '--help']).out).toMatch(/highbank, omap4, omap5/);
  });

  it('a legacy: rule without a platform is an error before the run', () => {
    refused(['run', guest, '--on', 'legacy:0x102=skip'], /rule on1 matches legacy platform calls, but no platform is set: add --platform NAME/);
    refused(['run', guest, '--on', 'kind:legacy=skip'], /rule on1 matches legacy platform calls/);
    refused(['run', guest, '--on', 'owner:omap4=skip'], /rule on1 matches legacy platform calls/);
  });

  it('a policy file can name its platform, and an unknown one is an error at its line', () => {
    const pol = path.join(tmp, 'hb.yaml');
    writeFileSync(pol, 'platform: highbank\nrules:\n  - match: { legacy: HIGHBANK_L2_CTRL }\n    action: "return(r0=0x55)"\n');
    const arm = assemble('arm', `.global _start\n_start:\n  mov r0, #1\n  ldr r12, =0x102\n  smc #0\n  ldr r0, =0x84000008\n  smc #0\n`, 'hb-guest');
    const r = trapdoor(['run', arm, '--policy', pol, '--json']);
    expect(r.err).toMatch(/^run ended: guest called PSCI SYSTEM_OFF/);
    expect(r.code).toBe(0);
    const first = JSON.parse(r.out.split('\n')[0]);
    expect(first).toMatchObject({ decoded: { name: 'HIGHBANK_L2_CTRL' }, decision: 'return', result: { regs: { r0: '0x55' } } });
    writeFileSync(pol, 'platform: hibank\ndefault: emulate\n');
    refused(['run', arm, '--policy', pol], /hb\.yaml:1:11: unknown platform 'hibank': the legacy call tables are highbank, omap4, omap5/);
  });
});

describe('forward needs an endpoint (item 9)', () => {
  it('forward from --on, the policy file or --default without --forward is an error before the run', () => {
    refused(['run', guest, '--on', 'owner:sip=forward'], /rule on1 forwards, but there is no firmware endpoint: give a firmware endpoint with --forward tcp:\/\/127\.0\.0\.1:PORT/);
    const pol = path.join(tmp, 'fwd.yaml');
    writeFileSync(pol, 'rules:\n  - id: to-tf-a\n    match: { owner: sip }\n    action: forward\n');
    refused(['run', guest, '--policy', pol], /rule to-tf-a forwards, but there is no firmware endpoint/);
    refused(['run', guest, '--default', 'forward'], /the default action forwards, but there is no firmware endpoint/);
  });

  const sessions: Session[] = [];
  afterEach(async () => { while (sessions.length) await sessions.pop()!.close(); });

  it('a rule or default that forwards, added to a session without an endpoint (monitor policy add), is refused', async () => {
    const r = await Session.open({ image: { path: guest } });
    if (!r.ok) throw new Error(r.error);
    sessions.push(r.value);
    const c = r.value.connect('gdb');
    const added = await c.addRule({ rule: 'owner:sip=forward', idPrefix: 'gdb' });
    expect(added).toMatchObject({ ok: false, code: 'invalid' });
    if (!added.ok) expect(added.error).toMatch(/forwards, but there is no firmware endpoint/);
    const legacy = await c.addRule({ rule: 'legacy:0x102=skip', idPrefix: 'gdb' });
    expect(legacy).toMatchObject({ ok: false, code: 'invalid' });
    if (!legacy.ok) expect(legacy.error).toMatch(/no platform is set/);
    expect(await c.setDefault({ action: 'forward' })).toMatchObject({ ok: false, code: 'invalid' });
    expect(await c.addRule({ rule: 'owner:sip=undef', idPrefix: 'gdb' })).toMatchObject({ ok: true });
  });
});

describe('options and numbers (item 11)', () => {
  it('--forward-timeout must be a positive number of milliseconds a timer can hold', () => {
    const fwd = ['--on', 'owner:sip=forward', '--forward', 'tcp://127.0.0.1:9'];
    refused(['run', guest, ...fwd, '--forward-timeout', '-5'], /bad --forward-timeout "-5": expected milliseconds from 1 to 2147483647/);
    refused(['run', guest, ...fwd, '--forward-timeout', '0'], /bad --forward-timeout "0"/);
    refused(['run', guest, ...fwd, '--forward-timeout', '99999999999'], /bad --forward-timeout "99999999999"/);
  });

  it('--timeout, --max-insns and --trng-seed are checked with messages that say what is allowed', () => {
    refused(['run', guest, '--timeout', '-1'], /bad --timeout "-1": expected seconds, more than 0/);
    refused(['run', guest, '--timeout', 'soon'], /bad --timeout "soon"/);
    refused(['run', guest, '--timeout', '0'], /bad --timeout "0"/);
    refused(['run', guest, '--max-insns', '-3'], /bad --max-insns "-3": expected a number of instructions from 1/);
    refused(['run', guest, '--trng-seed', '-1'], /bad --trng-seed "-1"/);
  });

  it("node's raw parseArgs messages are replaced by ours", () => {
    const bogus = refused(['run', guest, '--bogus'], /^trapdoor: unknown option --bogus \(see trapdoor run --help\)$/m);
    expect(bogus.err).not.toMatch(/positional argument/);
    refused(['run', guest, '--jsno'], /unknown option --jsno \(did you mean --json\?\)/);
    refused(['run', guest, '--timeout'], /^trapdoor: --timeout needs a value \(see trapdoor run --help\)$/m);
    refused(['run', guest, '--json=yes'], /--json takes no value/);
    refused(['decode', '1', '--frob'], /unknown option --frob \(see trapdoor decode --help\)/);
  });

  it('--on errors say the flag once', () => {
    const r = refused(['run', guest, '--on', 'bogus'], /bad --on "bogus": no '=ACTION'/);
    expect(r.err.match(/--on bogus|--on "bogus"/g)).toHaveLength(1);
  });

  it('--version prints the package version', () => {
    const r = trapdoor(['--version']);
    expect(r.code).toBe(0);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(r.out).toBe(`trapdoor ${pkg.version}\n`);
  });

  it('run --arch and decode --arch take the same names', () => {
    const raw = path.join(tmp, 'thumb.bin');
    // Thumb: movs r0, #0x84 ; lsls r0, #24 ; adds r0, #8 ; smc #0 (PSCI SYSTEM_OFF)
    writeFileSync(raw, Buffer.from([0x84, 0x20, 0x00, 0x06, 0x08, 0x30, 0xf0, 0xf7, 0x00, 0x80]));
    for (const arch of ['thumb']) {
      const r = trapdoor(['run', raw, '--load', '0x40000000', '--arch', arch]);
      expect(r.out).toMatch(/SYSTEM_OFF/);
      expect(r.code).toBe(0);
    }
    for (const arch of ['aarch32', 'arm', 'aarch64']) {
      const r = trapdoor(['run', raw, '--load', '0x40000000', '--arch', arch, '--max-insns', '10']);
      expect(r.err).not.toMatch(/bad --arch/);
    }
    for (const arch of ['aarch64', 'aarch32', 'arm', 'thumb']) expect(trapdoor(['decode', '0x84000000', '--arch', arch]).code).toBe(0);
    refused(['run', raw, '--load', '0x40000000', '--arch', 'x86'], /bad --arch "x86": use aarch64, aarch32 \(or arm\) or thumb/);
    refused(['decode', '1', '--arch', 'x86'], /bad --arch "x86": use aarch64, aarch32 \(or arm\) or thumb/);
  });

  it('decode --xen takes names as policies do', () => {
    const byName = trapdoor(['decode', '0', '--xen', 'xen_version']);
    expect(byName.code).toBe(0);
    expect(byName.out).toBe(trapdoor(['decode', '0', '--xen', '17']).out);
    refused(['decode', '0', '--xen', 'xen_verson'], /bad --xen "xen_verson": .*did you mean xen_version\?/);
  });

  it('decode takes negative numbers as register values', () => {
    const r = trapdoor(['decode', '-1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/x0=0xffffffffffffffff/);
    expect(trapdoor(['decode', '-1', '--arch', 'arm']).out).toMatch(/r0=0xffffffff\b/);
  });

  it('--gdb :PORT means loopback', () => {
    const r = trapdoor(['run', guest, '--gdb', ':0']);
    expect(r.err).not.toMatch(/bad --gdb/);
    expect(r.out).toMatch(/gdb stub on 127\.0\.0\.1:\d+/);
    expect(r.code).toBe(0);
  });
});
