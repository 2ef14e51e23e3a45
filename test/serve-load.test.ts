// The JSON-RPC service under load, as issue 16 asks: a client that floods
// requests does not starve another, and a subscriber that stops reading costs
// the server bounded memory (a real `trapdoor serve`, its size read from /proc).
import { describe, it, expect, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { assemble } from './helpers/asm.js';
import { startServe } from './helpers/cli.js';
import { policy } from './helpers/sessions.js';
import { serviceFixture, clientsFixture, rawClient, TOKENS, GUEST } from './helpers/rpc.js';

const serve = serviceFixture();
const client = clientsFixture();

const storm = (n: number, name: string) => assemble('aarch64', GUEST.storm(n), name);

const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) c.kill('SIGKILL'); });

/** Resident size of a process in MiB. */
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('trapdoor serve under load', () => {
  it('a client flooding requests does not starve another: its requests are answered while the flood goes on', async () => {
    const guest = assemble('aarch64', '.global _start\n_start:\n  ldr x0, =0x86000001\n  hvc #0\n  b _start\n', 'flood-guest');
    const { port } = await serve(guest, policy('hvc=ask'));
    const a = await client(port, TOKENS.alice);
    const b = await client(port, TOKENS.bob);
    // both are in the session once the guest waits at its first ask
    for (let i = 0; i < 400 && !(await b.conn.sendRequest('pendingTrap', {})); i++) await new Promise((r) => setTimeout(r, 50));
    const FLOOD = 40000;
    let answered = 0;
    // alice sends them all at once (each a trip to the emulation worker); reading pauses past --max-in-flight
    const flood = Promise.all(Array.from({ length: FLOOD }, () => a.conn.sendRequest('readRegisters', { names: ['x0', 'pc'] }).then(() => { answered++; })));
    await new Promise((r) => setTimeout(r, 20));
    let atFirst = -1;
    for (let i = 0; i < 20; i++) {
      const regs = await b.conn.sendRequest<Record<string, string>>('readRegisters', { names: ['x0'] });
      expect(regs.x0).toBe('0x86000001');
      if (i === 0) atFirst = answered;
    }
    // bob's first came back while most of alice's flood was still waiting, and all twenty before it ended
    // (a server that took the flood first would answer bob after all of it). This process reads both
    // clients' answers, so how many of alice's it counts meanwhile depends on the machine, not the server.
    expect(atFirst).toBeLessThan(FLOOD / 2);
    expect(answered).toBeLessThan(FLOOD);
    await flood;
    expect(answered).toBe(FLOOD);
  });

  it('a subscriber that stops reading: it gets lagged, and the server grows by megabytes, not by the records it could not send', async () => {
    const N = 300_000;
    const guest = storm(N, 'rss-storm');
    const { proc: p, rpc: port } = await startServe(['--listen', '127.0.0.1:0', '--max-queue', '64K'], children);
    const slow = await rawClient(port);
    slow.send({ jsonrpc: '2.0', id: 1, method: 'session/open', params: { path: guest, run: false } });
    await slow.next((x) => x.id === 1);
    slow.send({ jsonrpc: '2.0', id: 2, method: 'traps/subscribe', params: {} });
    await slow.next((x) => x.id === 2);
    slow.socket.pause();
    const driver = await client(port);
    await driver.conn.sendRequest('session/attach', { session: '1' });
    const before = rssOf(p.pid!);
    let peak = before;
    const sample = setInterval(() => { peak = Math.max(peak, rssOf(p.pid!)); }, 25);
    const stop = await driver.conn.sendRequest<{ reason: string }>('cont', { session: '1' });
    clearInterval(sample);
    peak = Math.max(peak, rssOf(p.pid!));
    expect(stop.reason).toBe('exit');
    // unbounded, the ~300k records waiting for the reader take about a gigabyte here (measured with --max-queue 1G)
    expect(peak - before).toBeLessThan(400);
    slow.socket.resume();
    const lagged = await slow.next((x) => x.method === 'lagged', 60_000);
    expect(lagged.params.missed).toBeGreaterThan(N / 2);
    slow.socket.destroy();
    p.kill('SIGTERM');
  });
});
