// What a firmware developer meets in the first hour with `trapdoor run` (issue 14,
// core side): the trap just before a hang is on the screen at once, a signal ends
// the run with the rows so far and the summary, and `--forward-fallback stop`
// stops the run at the trap.
import { describe, it, expect, afterEach } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { assemble, ROOT } from './helpers/asm.js';
import { Session } from '../server/session/session.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');

interface Live {
  out: () => string;
  err: () => string;
  /** Resolves when stdout (or stderr) has matched `re`. */
  waitFor: (re: RegExp, stream?: 'out' | 'err') => Promise<void>;
  signal: (s: NodeJS.Signals) => void;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: { kill: (s: NodeJS.Signals) => boolean; exitCode: number | null; signalCode: NodeJS.Signals | null }[] = [];
afterEach(() => {
  // a run a failed test left behind must not spin on
  while (children.length) {
    const c = children.pop()!;
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
});

/** Starts trapdoor with stdout and stderr on pipes (not a terminal), as a script or CI sees it. */
function start(args: string[]): Live {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  const poke = () => { for (const w of [...waiters]) w(); };
  child.stdout.on('data', (b) => { out += b; poke(); });
  child.stderr.on('data', (b) => { err += b; poke(); });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => { poke(); resolve({ code, signal }); }));
  let exited = false;
  void done.then(() => { exited = true; });
  return {
    out: () => out,
    err: () => err,
    waitFor: (re, stream = 'out') => new Promise((resolve, reject) => {
      const check = () => {
        const text = stream === 'out' ? out : err;
        if (re.test(text)) { waiters.splice(waiters.indexOf(check), 1); resolve(); }
        else if (exited) reject(new Error(`trapdoor exited before ${re} appeared:\n${out}\n${err}`));
      };
      waiters.push(check);
      check();
    }),
    signal: (s) => { child.kill(s); },
    done,
  };
}

// One SMC (PSCI_VERSION), then the guest spins forever: the hang a user debugs.
const ONE_CALL_THEN_HANG = `
.global _start
_start:
  ldr x0, =0x84000000
  smc #0
  mov x1, #1
spin:
  add x2, x2, #1
  b spin
`;

describe('the newest trap is shown at once, and a signal ends the run cleanly', () => {
  const elf = assemble('aarch64', ONE_CALL_THEN_HANG, 'hang');

  for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`the table row appears while the guest spins; ${sig} prints the summary and exits ${code}`, async () => {
      const t = start(['run', elf]);
      try {
        // before the fix the row waited for the next trap (which never comes)
        await t.waitFor(/PSCI VERSION\(\)\s+emulate/);
        expect(t.out()).not.toMatch(/run (stopped|ended)/);
      } finally {
        t.signal(sig);
      }
      const r = await t.done;
      expect(r.code).toBe(code);
      expect(t.out()).toMatch(/^1\s+\d+\s+SMC #0x0/m);
      expect(t.out()).toMatch(/run stopped: interrupted .*\(1 trap, \d+ instructions/);
    });
  }

  it('--json: the record is on the pipe at once, and SIGTERM keeps it', async () => {
    const t = start(['run', elf, '--json']);
    try {
      await t.waitFor(/"seq":1,/);
    } finally {
      t.signal('SIGTERM');
    }
    const r = await t.done;
    expect(r.code).toBe(143);
    const rec = JSON.parse(t.out().trim().split('\n')[0]);
    expect(rec.decoded.summary).toBe('PSCI VERSION()');
    expect(t.err()).toMatch(/run stopped: interrupted/);
  });

  it('a prompt the guest prints without a newline is shown while the guest waits', async () => {
    const prompt = assemble('aarch64', `
.global _start
_start:
  ldr x1, =0x09000000
  adr x2, text
1: ldrb w3, [x2], #1
  cbz w3, spin
  strb w3, [x1]
  b 1b
spin:
  b spin
text: .asciz "login: "
`, 'prompt');
    const t = start(['run', prompt]);
    try {
      await t.waitFor(/guest\| login: /);
    } finally {
      t.signal('SIGTERM');
    }
    expect((await t.done).code).toBe(143);
  });
});

describe('--forward-fallback stop stops the run at the trap', () => {
  it('the run ends at the failed forward with its own exit code and says why; the guest never sees its id as the result', async () => {
    // an endpoint that accepts and never answers
    const server = net.createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const guest = assemble('aarch64', `
.global _start
_start:
  ldr x0, =0x82000010
  smc #0
  mov x5, x0
  ldr x0, =0x84000008
  smc #0
`, 'fwd');
    try {
      const t = start(['run', guest, '--on', '0x82000010=forward', '--forward', `tcp://127.0.0.1:${port}`, '--forward-timeout', '300', '--forward-fallback', 'stop', '--json']);
      const r = await t.done;
      const recs = t.out().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      // the SiP call is the last record: SYSTEM_OFF never ran
      expect(recs.map((x) => x.decoded.summary)).not.toContain('PSCI SYSTEM_OFF()');
      expect(recs.at(-1).seq).toBe(1);
      expect(t.err()).toMatch(/forward.*(timed out|timeout).*stop/i);
      expect(r.code).toBe(5);
    } finally {
      server.close();
    }
  });
});

describe('a watchpoint is reported at the accessing instruction', () => {
  // One translated block: a store, a load and an SMC, all watched or trapped.
  const SRC = `
.global _start
_start:
  adr x2, var_a
  adr x4, var_b
  mov x1, #5
  ldr x0, =0x84000000
  b block
.balign 64
block:
  str x1, [x2]
after_store:
  ldr x3, [x4]
after_load:
  smc #0
  mov x19, x0
  ldr x0, =0x84000008
  smc #0
.balign 8
var_a: .quad 0
var_b: .quad 0x1234
`;
  const sym = (elf: string, name: string) => {
    const out = execFileSync('aarch64-linux-gnu-nm', [elf], { encoding: 'utf8' });
    const m = new RegExp(`^([0-9a-f]+) \\w ${name}$`, 'm').exec(out);
    if (!m) throw new Error(`no symbol ${name}`);
    return `0x${BigInt('0x' + m[1]).toString(16)}`;
  };

  it('a write, then a read later in the same block, then the SMC: each stops before the next instruction runs', async () => {
    const elf = assemble('aarch64', SRC, 'watch');
    const opened = await Session.open({ image: { path: elf } });
    if (!opened.ok) throw new Error(opened.error);
    const s = opened.value;
    try {
      const c = s.connect('test');
      expect((await c.addWatchpoint({ addr: sym(elf, 'var_a'), len: 8, kind: 'write' })).ok).toBe(true);
      expect((await c.addWatchpoint({ addr: sym(elf, 'var_b'), len: 8, kind: 'read' })).ok).toBe(true);
      const first = await c.cont({});
      expect(first.ok && first.value).toMatchObject({ reason: 'watchpoint', access: 'write', addr: sym(elf, 'var_a'), pc: sym(elf, 'after_store') });
      // the SMC later in the block has not trapped (before: it was trapped and decided first)
      expect(s.trapCount).toBe(0);
      const second = await c.cont({});
      // before: the read watchpoint on the later load never fired
      expect(second.ok && second.value).toMatchObject({ reason: 'watchpoint', access: 'read', addr: sym(elf, 'var_b'), pc: sym(elf, 'after_load') });
      expect(s.trapCount).toBe(0);
      const regs = await c.readRegisters({ names: ['x3'] });
      expect(regs.ok && regs.value.x3).toBe('0x1234');
      const end = await c.cont({});
      expect(end.ok && end.value.reason).toBe('exit');
      expect(s.trapCount).toBe(2);
    } finally {
      await s.close();
    }
  });
});

describe('a rule for the calls the built-in firmware does not implement', () => {
  it('--on unimplemented=... decides only the calls that would get NOT_SUPPORTED; the policy file says firmware: unimplemented', async () => {
    const tour = path.join(ROOT, 'examples/aarch64/smccc-tour.elf');
    const t = start(['run', tour, '--on', 'unimplemented=return(x0=7)', '--json']);
    await t.done;
    const recs = t.out().trim().split('\n').map((l) => JSON.parse(l));
    const returned = recs.filter((r) => r.decision === 'return').map((r) => r.decoded.id);
    // the two SiP calls; PSCI, SMCCC, TRNG, Xen xen_version and CPU_ON are the firmware's
    expect(returned).toEqual(['0x82000001', '0x82000010']);
    expect(recs.filter((r) => r.decision === 'emulate').length).toBe(recs.length - 2);
    const { parseOnFlag, parsePolicyText } = await import('../server/policy/index.js');
    expect(parseOnFlag('unimplemented,smc=ask', 'r')).toMatchObject({ ok: true, value: { match: { firmware: 'unimplemented', conduit: 'smc' } } });
    expect(parsePolicyText('rules:\n  - match: { firmware: unimplemented }\n    action: undef\n', 'p.yaml')).toMatchObject({ ok: true });
    expect(parsePolicyText('rules:\n  - match: { firmware: maybe }\n    action: undef\n', 'p.yaml')).toMatchObject({ ok: false, error: { line: 2, message: expect.stringMatching(/firmware 'maybe' is not implemented or unimplemented/) } });
  });
});
