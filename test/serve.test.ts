// The JSON-RPC service (server/rpc/) with real vscode-jsonrpc clients over TCP:
// authentication, traps live and decided by several clients, limits, replay.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync, execFileSync } from 'node:child_process';
import path from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';
import { policy } from './helpers/sessions.js';
import { serviceFixture, clientsFixture, rawClient, TOKENS, GUEST } from './helpers/rpc.js';
import { OPS } from '../server/session/contract.js';
import { SERVICE_ERRORS, wireCode } from '../server/rpc/protocol.js';
import { connectService } from '../server/rpc/connect.js';
import type { TrapRecord } from '../server/session/trap-record.js';

const serve = serviceFixture();
const client = clientsFixture();

const tour = assemble('aarch64', readFileSync(path.join(ROOT, 'examples/aarch64/smccc-tour.S'), 'utf8'), 'tour');
const asks = assemble('aarch64', GUEST.asks, 'asks');
const many = assemble('aarch64', GUEST.many, 'many');

async function failure(p: Promise<unknown>): Promise<ResponseError<any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  try { await p; } catch (e) { if (e instanceof ResponseError) return e; throw e; }
  throw new Error('the request succeeded');
}

/** The session's pending trap, once the runner has reached it. */
async function pendingOf(c: Awaited<ReturnType<typeof client>>): Promise<TrapRecord> {
  for (let i = 0; i < 400; i++) {
    const p = await c.conn.sendRequest<TrapRecord | null>('pendingTrap', {});
    if (p) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no trap became pending');
}

describe('trapdoor serve: the JSON-RPC service', () => {
  it('two clients follow the same traps; the first decision wins, the second is told who, both hear decided', async () => {
    const { port } = await serve(tour, policy('hvc=ask'));
    const alice = await client(port, TOKENS.alice);
    const bob = await client(port, TOKENS.bob);
    expect(alice.auth).toMatchObject({ user: 'alice', role: 'decider', sessions: [{ id: '1' }] });
    await alice.conn.sendRequest('traps/subscribe', { from: 1 });
    await bob.conn.sendRequest('traps/subscribe', { from: 1 });
    const trap = await pendingOf(alice);
    expect(trap.conduit).toBe('hvc');
    const rec = await alice.conn.sendRequest<TrapRecord>('decide', { decision: { action: 'return', values: { x0: '0x77' } }, seq: trap.seq });
    expect(rec).toMatchObject({ seq: trap.seq, decision: 'return', by: 'user', client: expect.stringMatching(/^alice /), result: { regs: { x0: '0x77' } } });
    const e = await failure(bob.conn.sendRequest('decide', { decision: { action: 'emulate' }, seq: trap.seq }));
    expect(e.code).toBe(wireCode('conflict'));
    expect(e.message).toMatch(new RegExp(`trap #${trap.seq} was already decided by alice`));
    expect(e.data).toMatchObject({ code: 'conflict', decidedBy: expect.stringMatching(/^alice/) });
    for (const c of [alice, bob]) {
      const d = await c.wait('decided', (n: { seq: number }) => n.seq === trap.seq);
      expect(d).toMatchObject({ session: '1', seq: trap.seq, by: expect.stringMatching(/^alice \(127\.0\.0\.1:\d+\)$/) });
      // the live records: the earlier ones replayed, then the decided one
      const t = await c.wait('trap', (n: { record: TrapRecord }) => n.record.seq === trap.seq);
      expect(t.record.result.regs?.x0).toBe('0x77');
      expect((c.got.trap as { record: TrapRecord }[]).map((n) => n.record.seq).slice(0, trap.seq)).toEqual(Array.from({ length: trap.seq }, (_, i) => i + 1));
    }
  });

  it('refuses a connection whose first request is not auth, or whose token is wrong, and closes it', async () => {
    const { port } = await serve(asks, policy('hvc=ask'));
    const raw = await rawClient(port);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'status', params: {} });
    const m = await raw.next((x) => x.id === 1);
    expect(m.error).toMatchObject({ code: SERVICE_ERRORS.unauthenticated, message: expect.stringMatching(/authenticate first/) });
    await raw.closed;
    const bad = await rawClient(port);
    bad.send({ jsonrpc: '2.0', id: 1, method: 'auth', params: { token: TOKENS.alice + 'x' } });
    expect((await bad.next((x) => x.id === 1)).error.code).toBe(SERVICE_ERRORS.unauthenticated);
    await bad.closed;
    await expect(connectService({ connect: `127.0.0.1:${port}`, token: 'not-a-token-at-all' })).rejects.toThrow(/token is not valid/);
  });

  it('skips a message over --max-message with a clear error, and the connection and session go on', async () => {
    const { port } = await serve(asks, policy('hvc=ask'), { limits: { maxMessage: 64 << 10 } });
    const raw = await rawClient(port);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'auth', params: { token: TOKENS.alice } });
    raw.send({ jsonrpc: '2.0', id: 2, method: 'writeMemory', params: { addr: '0x40100000', data: 'A'.repeat(100_000) } });
    raw.send({ jsonrpc: '2.0', id: 3, method: 'pendingTrap', params: {} });
    expect((await raw.next((x) => x.id === 1)).result.user).toBe('alice');
    const big = await raw.next((x) => x.id === null);
    expect(big.error).toMatchObject({ code: SERVICE_ERRORS['too-large'], message: expect.stringMatching(/over the limit of 65536/) });
    const after = await raw.next((x) => x.id === 3);
    expect(after.error).toBeUndefined();
    expect(raw.messages.some((x) => x.id === 2)).toBe(false);
    raw.socket.destroy();
  });

  it('subscribing from a seq older than the kept records is "gone"; from the oldest kept replays them', async () => {
    const { port } = await serve(many, policy('hvc=ask'), { keep: 3 });
    const c = await client(port, TOKENS.alice);
    const t = await pendingOf(c);
    expect(t.seq).toBe(7);
    const e = await failure(c.conn.sendRequest('traps/subscribe', { from: 1 }));
    expect(e.code).toBe(SERVICE_ERRORS.gone);
    expect(e.message).toMatch(/trap #1 is gone: the oldest record kept is #4/);
    expect(e.data).toMatchObject({ code: 'gone', oldest: 4 });
    const r = await c.conn.sendRequest<{ replayed: number; pending: TrapRecord }>('traps/subscribe', { from: 4 });
    expect(r.replayed).toBe(3);
    expect(r.pending.seq).toBe(7);
    expect((c.got.trap ?? []).map((n) => (n as { record: TrapRecord }).record.seq)).toEqual([4, 5, 6]);
  });

  it('a client that disconnects mid-decision leaves the trap pending for the others', async () => {
    const { port } = await serve(asks, policy('hvc=ask'));
    const alice = await client(port, TOKENS.alice);
    const t = await pendingOf(alice);
    alice.close();
    await new Promise((r) => setTimeout(r, 200));
    const bob = await client(port, TOKENS.bob);
    expect((await pendingOf(bob)).seq).toBe(t.seq);
    const list = await bob.conn.sendRequest<{ pending: number; clients: { name: string }[] }[]>('session/list', {});
    expect(list[0].pending).toBe(t.seq);
    expect(list[0].clients.map((x) => x.name)).toEqual([expect.stringMatching(/^bob /)]);
    const rec = await bob.conn.sendRequest<TrapRecord>('decide', { decision: { action: 'emulate' }, seq: t.seq });
    expect(rec.client).toMatch(/^bob /);
  });

  it('--decide-timeout applies the default to a trap nobody decides, and the record says so', async () => {
    const { port } = await serve(asks, policy('hvc=ask'), { decideTimeout: 0.3 });
    const c = await client(port, TOKENS.bob);
    await c.conn.sendRequest('traps/subscribe', {});
    // (replayed if it was decided before this client came)
    const d = await c.wait('trap', (n: { record: TrapRecord }) => n.record.seq === 2);
    expect(d.record).toMatchObject({ decision: 'emulate', by: 'user', client: expect.stringMatching(/^decide-timeout/) });
  });

  it('observers read but never decide; the methods are the contract operations', async () => {
    const { port } = await serve(asks, policy('hvc=ask'));
    const eve = await client(port, TOKENS.eve);
    expect(eve.auth.role).toBe('observer');
    const t = await pendingOf(eve);
    const e = await failure(eve.conn.sendRequest('decide', { decision: { action: 'emulate' }, seq: t.seq }));
    expect(e.code).toBe(SERVICE_ERRORS.forbidden);
    expect((await failure(eve.conn.sendRequest('console', { line: 'decide emulate' }))).code).toBe(SERVICE_ERRORS.forbidden);
    expect((await eve.conn.sendRequest<{ lines: string[] }>('console', { line: 'trap' })).lines[0]).toMatch(new RegExp(`Trap #${t.seq}: HVC`));
    // every operation of the contract is a method (the ones that only look answer an observer)
    for (const name of Object.keys(OPS)) {
      const r = await eve.conn.sendRequest(name, {}).then(() => undefined, (x: ResponseError) => x.code);
      expect(r, name).not.toBe(-32601);
      if (OPS[name as keyof typeof OPS].access === 'read') expect(r, name).not.toBe(SERVICE_ERRORS.forbidden);
    }
    expect((await failure(eve.conn.sendRequest('constructor', {}))).code).toBe(-32601);
    const mem = await eve.conn.sendRequest<string>('readMemory', { addr: '0x40000000', len: 8 });
    expect(Buffer.from(mem, 'base64').length).toBe(8);
    const big = await failure(eve.conn.sendRequest('readMemory', { addr: '0x40000000', len: 4 << 20 }));
    expect(big.message).toMatch(/read at most \d+ bytes at a time/);
    const d = await eve.conn.sendRequest<{ name: string }>('decode', { id: '0x84000000' });
    expect(d.name).toMatch(/PSCI_VERSION/);
  });

  it('session/open runs an uploaded image with its own rules; session/list and session/close', async () => {
    const { port } = await serve(undefined, undefined);
    const c = await client(port, TOKENS.alice);
    expect((await failure(c.conn.sendRequest('status', {}))).code).toBe(SERVICE_ERRORS['no-session']);
    const bad = await failure(c.conn.sendRequest('session/open', { image: readFileSync(asks).toString('base64'), on: ['hvc=frobnicate'] }));
    expect(bad.code).toBe(wireCode('invalid'));
    const info = await c.conn.sendRequest<{ id: string; image: string }>('session/open', { image: readFileSync(asks).toString('base64'), name: 'asks.elf', on: ['hvc=ask'] });
    expect(info.image).toBe('asks.elf');
    expect((await pendingOf(c)).seq).toBe(2);
    expect((await c.conn.sendRequest<{ id: string }[]>('session/list', {})).map((x) => x.id)).toEqual([info.id]);
    await c.conn.sendRequest('session/close', { session: info.id });
    await c.wait('session/closed');
    expect(await c.conn.sendRequest('session/list', {})).toEqual([]);
  });

  it('a client that does not read gets a lagged notice with the number of records it missed', async () => {
    const storm = assemble('aarch64', GUEST.storm(100000), 'storm');
    const { port } = await serve(undefined, undefined, { maxQueue: 64 << 10 });
    const raw = await rawClient(port);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'auth', params: { token: TOKENS.alice } });
    raw.send({ jsonrpc: '2.0', id: 2, method: 'session/open', params: { path: storm, run: false } });
    await raw.next((x) => x.id === 2);
    raw.send({ jsonrpc: '2.0', id: 3, method: 'traps/subscribe', params: {} });
    await raw.next((x) => x.id === 3);
    raw.socket.pause();
    const other = await client(port, TOKENS.bob);
    const stop = await other.conn.sendRequest<{ reason: string }>('cont', { session: '1' });
    expect(stop.reason).toBe('exit');
    raw.socket.resume();
    const lagged = await raw.next((x) => x.method === 'lagged', 60_000);
    expect(lagged.params.missed).toBeGreaterThan(1000);
    expect(lagged.params.from).toBeGreaterThan(1);
    const got = raw.messages.filter((x) => x.method === 'trap').length;
    expect(got + lagged.params.missed).toBeLessThanOrEqual(100001);
    raw.socket.destroy();
  });

  it('reading pauses while --max-in-flight requests are unanswered', async () => {
    const { FrameGate } = await import('../server/rpc/framing.js');
    const gate = new FrameGate({ maxMessage: 1 << 20, maxHeader: 8192, maxInFlight: 2 }, () => undefined, () => undefined);
    const passed: string[] = [];
    gate.on('data', (b: Buffer) => passed.push(b.toString()));
    const frame = (id: number) => { const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'status' }); return `Content-Length: ${body.length}\r\n\r\n${body}`; };
    gate.write(Buffer.from(frame(1) + frame(2) + frame(3) + frame(4)));
    await new Promise((r) => setTimeout(r, 100));
    expect(passed).toHaveLength(2);
    gate.done();
    await new Promise((r) => setTimeout(r, 100));
    expect(passed).toHaveLength(3);
    gate.done(); gate.done();
    await new Promise((r) => setTimeout(r, 100));
    expect(passed).toHaveLength(4);
  });

  it('TLS: a TLS client authenticates; a plain TCP client to the TLS port fails', async () => {
    const dir = scratchDir();
    const key = path.join(dir, 'tls-key.pem'), cert = path.join(dir, 'tls-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const { port } = await serve(asks, policy('hvc=ask'), { tls: { cert, key } });
    const c = await client(port, TOKENS.alice, { tls: { ca: cert } });
    expect(c.auth.user).toBe('alice');
    expect((await pendingOf(c)).conduit).toBe('hvc');
    await expect(connectService({ connect: `127.0.0.1:${port}`, token: TOKENS.alice })).rejects.toThrow(/closed the connection/);
    // a TLS client that does not trust the certificate is refused too
    await expect(connectService({ connect: `127.0.0.1:${port}`, token: TOKENS.alice, tls: {} })).rejects.toThrow(/cannot connect|certificate/);
  });

  it('--tls-ca requires a client certificate signed by that CA', async () => {
    const dir = scratchDir();
    const f = (n: string) => path.join(dir, `mtls-${n}`);
    const ssl = (...a: string[]) => execFileSync('openssl', a, { stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=test CA');
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('cli.key'), '-out', f('cli.csr'), '-subj', '/CN=alice');
    ssl('x509', '-req', '-in', f('cli.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('cli.pem'), '-days', '1');
    const { port } = await serve(asks, policy('hvc=ask'), { tls: { cert: f('srv.pem'), key: f('srv.key'), ca: f('ca.pem') } });
    const c = await client(port, TOKENS.alice, { tls: { ca: f('srv.pem'), cert: f('cli.pem'), key: f('cli.key') } });
    expect(c.auth.user).toBe('alice');
    await expect(connectService({ connect: `127.0.0.1:${port}`, token: TOKENS.alice, tls: { ca: f('srv.pem') } })).rejects.toThrow();
  });

  it('closes connections that do not authenticate in time, and refuses more than --max-unauth waiting', async () => {
    const { port } = await serve(asks, policy('hvc=ask'), { authTimeout: 0.3, maxUnauthenticated: 1 });
    const first = await rawClient(port);
    await new Promise((r) => setTimeout(r, 50));
    const second = await rawClient(port);
    expect((await second.next((x) => x.method === 'refused')).params.message).toMatch(/too many connections waiting to authenticate/);
    await second.closed;
    const t0 = Date.now();
    await first.closed;
    expect(Date.now() - t0).toBeLessThan(5000);
    // once they are gone, a client that authenticates is served
    const c = await client(port, TOKENS.bob);
    expect(c.auth.user).toBe('bob');
  });

  it('serves over stdio (no token needed) and a unix socket', async () => {
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/trapdoor.js'), 'serve', asks, '--on', 'hvc=ask'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'pendingTrap', params: {} });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    const ask = () => p.stdin.write(`Content-Length: ${body.length}\r\n\r\n${body}`);
    for (let i = 0; i < 100 && !/"seq":2/.test(out); i++) { out = ''; ask(); await new Promise((r) => setTimeout(r, 200)); }
    expect(out).toMatch(/"result":\{"seq":2,.*"conduit":"hvc"/);
    p.stdin.end();
    expect(await new Promise((r) => p.on('close', r))).toBe(0);
    const sock = path.join(scratchDir(), 'serve.sock');
    const u = spawn(process.execPath, [path.join(ROOT, 'bin/trapdoor.js'), 'serve', asks, '--on', 'hvc=ask', '--listen', `unix:${sock}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((r) => { let e = ''; u.stderr.on('data', (d) => { e += d; if (/listening on unix:/.test(e)) r(); }); });
    const c = await connectService({ connect: `unix:${sock}` });
    expect(c.auth.client).toMatch(/^unix#1$/);
    const t = await pendingOf(c as Awaited<ReturnType<typeof client>>);
    expect(t.seq).toBe(2);
    c.close();
    u.kill('SIGTERM');
    expect(await new Promise((r) => u.on('close', r))).toBe(0);
  });

  it('--gdb: gdb and the JSON-RPC clients look at one guest; a decision from gdb is what the clients hear', async () => {
    const { RspClient, hex: toHex } = await import('./helpers/rsp-client.js');
    const { startServe } = await import('./helpers/cli.js');
    const ports = await startServe([asks, '--on', 'hvc=ask', '--listen', '127.0.0.1:0', '--gdb', '127.0.0.1:0'], [], ['rpc', 'gdb']);
    const p = ports.proc;
    try {
      const c = await client(ports.rpc);
      const t = await pendingOf(c);
      expect(t.conduit).toBe('hvc');
      const gdb = await RspClient.connect(ports.gdb);
      // gdb stops the guest where it waits and sees the same trap through monitor
      expect(await gdb.req('?')).toMatch(/^T05/);
      const seen = await gdb.ask(`qRcmd,${toHex('trap')}`);
      expect(seen.console).toMatch(new RegExp(`#${t.seq}\\b.*HVC`, 's'));
      const said = await gdb.ask(`qRcmd,${toHex('decide return x0=0x77')}`);
      expect(said.reply).toBe('OK');
      const d = await c.wait('decided', (n: { seq: number }) => n.seq === t.seq);
      expect(JSON.stringify(d)).toMatch(/gdb 127\.0\.0\.1:\d+/);
      // gdb decided it: the guest stays at the trap (gdb believes it stopped) until gdb continues
      await new Promise((r) => setTimeout(r, 500));
      const held = await c.conn.sendRequest<{ state: string; traps: number }>('status', {});
      expect(held).toMatchObject({ state: 'stopped', traps: t.seq });
      expect(await gdb.req('c')).toMatch(/^T05/);
      const next = await pendingOf(c);
      expect(next.seq).toBe(t.seq + 1);
      // gdb goes: the service drives again (a client's decision runs the guest on to its end)
      gdb.socket.destroy();
      await c.conn.sendRequest('decide', { decision: { action: 'emulate' }, seq: next.seq });
      await c.wait('stop', (n: { event: { reason: string } }) => n.event.reason === 'exit');
      c.close();
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.on('close', r));
    }
  });

  it('refuses at start a non-loopback address without a token file', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/trapdoor.js'), 'serve', '--listen', '0.0.0.0:0'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a loopback address, and there is no --token-file/);
    const tokens = path.join(scratchDir(), 'short-tokens');
    writeFileSync(tokens, 'alice:short\n');
    const s = spawnSync(process.execPath, [path.join(ROOT, 'bin/trapdoor.js'), 'serve', '--listen', '127.0.0.1:0', '--token-file', tokens], { encoding: 'utf8', timeout: 60_000 });
    expect(s.status).toBe(2);
    expect(s.stderr).toMatch(/at least 16 characters/);
  });
});
