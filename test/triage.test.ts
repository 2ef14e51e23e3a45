// `trapdoor serve IMAGE` and `trapdoor triage` as a user runs them: the traps so
// far as JSON Lines, a decision from a script and its exit codes.
import { describe, it, expect, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { assemble, scratchDir } from './helpers/asm.js';
import { TOKEN_FILE_TEXT } from './helpers/rpc.js';
import { trapdoorAsync, startServe } from './helpers/cli.js';

const tokens = path.join(scratchDir(), 'triage-tokens');
writeFileSync(tokens, TOKEN_FILE_TEXT);
// bob's file: the same tokens, bob's first
const bobTokens = path.join(scratchDir(), 'triage-tokens-bob');
writeFileSync(bobTokens, TOKEN_FILE_TEXT.split('\n').filter((l) => !l.startsWith('alice')).join('\n'));

const guest = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x84000000\n  smc #0
  ldr x0, =0x86000001\n  hvc #0
  mov x19, x0
  ldr x0, =0x86000002\n  hvc #0
  ldr x0, =0x84000008\n  smc #0\n`, 'triage-guest');

const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) c.kill('SIGTERM'); });

const trapdoor = trapdoorAsync;

/** Starts `trapdoor serve` and resolves with its port once it listens. */
const serve = async (args: string[]) => ({ port: (await startServe(args, children)).rpc });

describe('trapdoor triage', () => {
  it('--json prints the traps so far; --decide applies (exit 0) or names who came first (exit 6)', async () => {
    const { port } = await serve([guest, '--on', 'hvc=ask', '--listen', '127.0.0.1:0', '--token-file', tokens]);
    const at = ['--connect', `127.0.0.1:${port}`, '--token-file', tokens];
    // the guest runs at once: trap #1 is emulated, #2 waits
    let json = await trapdoor(['triage', ...at, '--json']);
    for (let i = 0; i < 100 && !json.out.trim(); i++) {
      await new Promise((r) => setTimeout(r, 100));
      json = await trapdoor(['triage', ...at, '--json']);
    }
    expect(json.code).toBe(0);
    const recs = json.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(recs[0]).toMatchObject({ seq: 1, decision: 'emulate', decoded: { name: expect.stringMatching(/PSCI_VERSION/) } });

    const first = await trapdoor(['triage', ...at, '--decide', 'return x0=0x77']);
    expect(first.err).not.toMatch(/error/i);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/Trap #2: return \(alice\) -> x0=0x77/);

    const late = await trapdoor(['triage', '--connect', `127.0.0.1:${port}`, '--token-file', bobTokens, '--decide', 'emulate', '--seq', '2']);
    expect(late.code).toBe(6);
    expect(late.err).toMatch(/trap #2 was already decided by alice \(127\.0\.0\.1:\d+\)/);

    // the next ask (#3) by bob; then the run ends and --json shows all four with their deciders
    const next = await trapdoor(['triage', '--connect', `127.0.0.1:${port}`, '--token-file', bobTokens, '--decide', 'emulate']);
    expect(next.code).toBe(0);
    expect(next.out).toMatch(/Trap #3: emulate \(bob\)/);
    let all: { seq: number; client?: string }[] = [];
    for (let i = 0; i < 100 && all.length < 4; i++) {
      const r = await trapdoor(['triage', ...at, '--json']);
      all = r.out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      if (all.length < 4) await new Promise((r2) => setTimeout(r2, 100));
    }
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(all[1].client).toMatch(/^alice /);
    expect(all[2].client).toMatch(/^bob /);
  });

  it('follows the traps live as the table run prints, and refuses a bad token', async () => {
    const { port } = await serve([guest, '--on', 'hvc=ask', '--listen', '127.0.0.1:0', '--token-file', tokens, '--decide-timeout', '0.5']);
    const at = ['--connect', `127.0.0.1:${port}`, '--token-file', tokens];
    const live = await trapdoor(['triage', ...at]);
    expect(live.code).toBe(0);
    expect(live.out).toMatch(/^seq\s+insns\s+call site\s+decoded call\s+decision\s+result/m);
    expect(live.out).toMatch(/^1\s+\d+\s+SMC #0x0 @0x4000000\d\s+PSCI/m);
    // nobody decided: --decide-timeout applied the default
    expect(live.out).toMatch(/^2\s+.*HVC.*emulate \(decide-timeout\)/m);
    expect(live.out).toMatch(/run ended: guest called PSCI SYSTEM_OFF/);
    const badTokens = path.join(scratchDir(), 'bad-tokens');
    writeFileSync(badTokens, 'mallory:0123456789abcdef0123\n');
    const bad = await trapdoor(['triage', '--connect', `127.0.0.1:${port}`, '--token-file', badTokens, '--json']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/token is not valid/);
  });
});
