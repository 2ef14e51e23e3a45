// The CLI on a real terminal (issue 14, items 4 and 5): `trapdoor run` inside a
// tmux pane, keys sent as a user types them, the screen read back with
// capture-pane. Also the progress lines when stderr is not a terminal.
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const tmp = mkdtempSync(path.join(scratchDir(), 'cli-term-'));
const SOCKET = `trapdoor-test-${process.pid}`;
let panes = 0;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

afterAll(() => { try { tmux('kill-server'); } catch { /* no server left */ } });

/** Starts `trapdoor ARGS` in a new tmux pane; its exit code is printed as EXIT=N when it ends. */
function inTerminal(args: string[], width = 160) {
  const name = `t${panes++}`;
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  tmux('new-session', '-d', '-s', name, '-x', String(width), '-y', '50', `${cmd}; echo EXIT=$?; sleep 600`);
  const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', name);
  return {
    screen,
    keys: (...keys: string[]) => { tmux('send-keys', '-t', name, ...keys); },
    /** The screen once it matches `re` (polled: no fixed sleeps). */
    async waitFor(re: RegExp, timeoutMs = 60_000): Promise<string> {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const s = screen();
        if (re.test(s)) return s;
        if (Date.now() > end) throw new Error(`the terminal never showed ${re}:\n${s}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** Two SiP calls the tests decide at the prompt, then SYSTEM_OFF. */
const armAsk = assemble('arm', `.global _start\n_start:
  ldr r0, =0x82000001\n  smc #0
  ldr r0, =0x82000002\n  smc #0
  ldr r0, =0x84000008\n  smc #0\n`, 'ask-arm');

/** One trap at once, then about 10^10 instructions (seconds of running), then SYSTEM_OFF. */
const slow = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x84000000\n  smc #0
  mov x3, #3
1: ldr x2, =0x20000000
2: subs x2, x2, #1
  b.ne 2b
  ldr x0, =0x82000001\n  smc #0
  subs x3, x3, #1
  b.ne 1b
  ldr x0, =0x84000008\n  smc #0\n`, 'slow');

describe.runIf(existsSync('/usr/bin/tmux'))('the ask prompt on a terminal', () => {
  it('AArch32 names r0, forward is not offered without an endpoint, a bad value asks for the values again, Ctrl-C stops the run', { timeout: 120_000 }, async () => {
    const log = path.join(tmp, 'ask.jsonl');
    const t = inTerminal(['run', armAsk, '--on', 'owner:sip=ask', '--trap-log', log]);
    const first = await t.waitFor(/decide: .*> $/m);
    expect(first).toMatch(/decide: \[e\]mulate \[u\]ndef \[r\]eturn values \[s\]kip \[q\]uit >/);
    expect(first).not.toMatch(/\[f\]orward/);
    expect(first).toMatch(/decision: pending \(emulate \| forward \| undef \| return r0=\.\.\. \| skip\)/);
    expect(first).not.toMatch(/x0=/);
    t.keys('r');
    await t.waitFor(/values \(e\.g\. r0=0 r1=5; empty goes back\): $/m);
    t.keys('r0=zz', 'Enter');
    await t.waitFor(/not an integer[^\n]*\n\s*values \(e\.g\. r0=0/);
    t.keys('r0=7', 'Enter');
    await t.waitFor(/Trap #2/);
    const second = await t.waitFor(/Trap #2[\s\S]*decide: .*> $/m);
    expect(second).toMatch(/^1\s.*return \(user\)\s+r0=0x7/m);
    t.keys('C-c');
    const end = await t.waitFor(/EXIT=\d+/);
    expect(end).toMatch(/run stopped: quit at trap #2 \(pc 0x4000000c <_start\+0xc>\), before it was decided/);
    expect(end).toMatch(/EXIT=130/);
    expect(end).not.toMatch(/emulate \(user\)/);
    const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records.filter((r) => r.seq !== undefined).map((r) => [r.seq, r.decision, r.by])).toEqual([[1, 'return', 'user']]);
  });

  it('q quits, and [f]orward is offered when there is an endpoint', { timeout: 120_000 }, async () => {
    const t = inTerminal(['run', armAsk, '--on', 'owner:sip=ask', '--forward', 'tcp://127.0.0.1:9']);
    expect(await t.waitFor(/decide: .*> $/m)).toMatch(/\[e\]mulate \[f\]orward \[u\]ndef/);
    t.keys('q');
    const end = await t.waitFor(/EXIT=\d+/);
    expect(end).toMatch(/run stopped: quit at trap #1/);
    expect(end).toMatch(/EXIT=130/);
  });
});

describe.runIf(existsSync('/usr/bin/tmux'))('progress on a terminal', () => {
  it('one line that fits the width, says "1 trap", and is gone before rows, log lines and the summary', { timeout: 300_000 }, async () => {
    // a dead endpoint: each forward fails at once and logs a line on stderr while the progress line is up
    // (--progress 0.25: the line is redrawn often enough to be seen between two traps however fast the machine runs the loop)
    const t = inTerminal(['run', slow, '--on', 'owner:sip=forward', '--forward', 'tcp://127.0.0.1:9', '--forward-timeout', '60000', '--progress', '0.25'], 60);
    const running = await t.waitFor(/\[trapdoor\] \d+ s, .*1 trap\b/);
    expect(running).not.toMatch(/1 traps/);
    const end = await t.waitFor(/EXIT=\d+/, 300_000);
    expect(end).toMatch(/EXIT=0/);
    // nothing of the progress line is left, and no row or log line starts after one
    expect(end).not.toMatch(/\[trapdoor\]/);
    expect(end).not.toMatch(/Ctrl-C stops/);
    expect(end.match(/^trapdoor: trap #\d+: forward to/gm)?.length).toBe(3);
  });
});

describe('progress when stderr is not a terminal', () => {
  it('a plain line on stderr every --progress seconds while the guest runs', { timeout: 300_000 }, async () => {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN, 'run', slow, '--progress', '0.5', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => { err += d; });
      p.on('close', (code) => resolve({ code, err }));
    });
    expect(r.code).toBe(0);
    const lines = r.err.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^trapdoor: running: \d+ s, [\d.]+ [MG]? ?instructions, \d+ traps?$/);
    expect(r.err).not.toMatch(/\r|\x1b/);
  });
});

describe.runIf(existsSync('/usr/bin/tmux'))('trapdoor triage on a terminal', () => {
  it('its prompt ends when another client decides the trap, saying who and how; the next pending trap asks', { timeout: 120_000 }, async () => {
    const { connectService } = await import('../server/rpc/connect.js');
    const guest = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x86000001\n  hvc #0
  ldr x0, =0x86000002\n  hvc #0
  ldr x0, =0x84000008\n  smc #0\n`, 'triage-term');
    const { startServe } = await import('./helpers/cli.js');
    const started: import('node:child_process').ChildProcess[] = [];
    try {
      const port = (await startServe([guest, '--on', 'hvc=ask', '--listen', '127.0.0.1:0'], started)).rpc;
      const t = inTerminal(['triage', '--connect', `127.0.0.1:${port}`]);
      await t.waitFor(/Trap #1: HVC[\s\S]*decide: \[e\]mulate/);
      // someone else (here a script; gdb or the web page alike) decides trap #1 first
      const other = await connectService({ connect: `127.0.0.1:${port}` });
      await other.conn.sendRequest('decide', { decision: { action: 'return', values: { x0: '0x77' } }, seq: 1 });
      const s = await t.waitFor(/Trap #2: HVC[\s\S]*decide: \[e\]mulate/);
      expect(s).toMatch(/trap #1 decided by 127\.0\.0\.1:\d+: Trap #1: return \(127\.0\.0\.1:\d+\) -> x0=0x77/);
      // this terminal decides the next one
      t.keys('e');
      const end = await t.waitFor(/EXIT=\d+/);
      expect(end).toMatch(/Trap #2: emulate \(127\.0\.0\.1:\d+\)/);
      expect(end).toMatch(/run ended: guest called PSCI SYSTEM_OFF[\s\S]*EXIT=0/);
      other.close();
    } finally {
      for (const p of started) p.kill('SIGTERM');
    }
  });
});
