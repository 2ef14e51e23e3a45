// DAP `attach` to a session served by `trapdoor serve`, with real clients at once:
// the debug adapter driven by a DebugClient, gdb-multiarch (on its machine
// interface, staying attached) through the serve's --gdb stub, and a
// vscode-jsonrpc client of the service. They look at one guest: the same pending
// trap, one decision heard by all, breakpoints each client owns.
import { describe, it, expect, afterEach } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';
import { WAIT, startedAdapters, variables, nonReadingClient } from './helpers/dap-client.js';
import { startServe } from './helpers/cli.js';
import { clientsFixture, serviceFixture, TOKEN_FILE_TEXT, TOKENS } from './helpers/rpc.js';
import { policy } from './helpers/sessions.js';
import { RemoteClient } from '../server/rpc/remote-client.js';
import { GdbMi } from './helpers/gdb-mi.js';
import type { TrapRecord } from '../server/session/trap-record.js';

const TOUR = path.join(ROOT, 'examples/aarch64/smccc-tour.elf');
const adapters = startedAdapters();
const client = clientsFixture();
const service = serviceFixture();
const procs: ChildProcess[] = [];
const gdbs: GdbMi[] = [];
afterEach(async () => {
  for (const g of gdbs.splice(0)) g.kill();
  for (const p of procs.splice(0)) {
    if (p.exitCode === null && p.signalCode === null) { p.kill('SIGTERM'); await new Promise((r) => p.once('close', r)); }
  }
});

/** The token file the service reads (alice, bob, eve the observer), and one with bob's token alone for the adapter. */
function tokenFiles() {
  const dir = scratchDir();
  const served = path.join(dir, 'attach-tokens');
  const bob = path.join(dir, 'attach-bob-token');
  writeFileSync(served, TOKEN_FILE_TEXT);
  writeFileSync(bob, `bob:${TOKENS.bob}\n`);
  return { served, bob };
}

/** `trapdoor serve TOUR --on hvc=ask --listen 127.0.0.1:0 --token-file F --gdb 127.0.0.1:0`: its two ports. */
async function serve(tokenFile: string, ...more: string[]) {
  const s = await startServe([TOUR, '--on', 'hvc=ask', '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--gdb', '127.0.0.1:0', ...more], procs, ['rpc', 'gdb']);
  return { rpc: s.rpc, gdb: s.gdb, log: s.err };
}

/** Every event the DebugClient gets, and a wait for the first (got or to come) that pred accepts. */
function recorder(dc: DebugClient) {
  const got: DebugProtocol.Event[] = [];
  for (const e of ['stopped', 'continued', 'output', 'trapdoor/trap', 'terminated', 'exited']) dc.on(e, (ev: DebugProtocol.Event) => got.push(ev));
  return {
    got,
    async wait<T extends DebugProtocol.Event>(event: string, pred: (e: T) => boolean = () => true, from = 0, ms = WAIT): Promise<T> {
      const until = Date.now() + ms;
      for (;;) {
        const e = got.slice(from).find((x) => x.event === event && pred(x as T));
        if (e) return e as T;
        if (Date.now() > until) throw new Error(`no '${event}' event in ${ms} ms (got ${got.map((x) => x.event).join(', ')})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** initialize, attach, no exception filters, configurationDone; the attach response. */
async function attach(dc: DebugClient, args: Record<string, unknown>) {
  await dc.initializeRequest({ adapterID: 'trapdoor', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true, supportsInvalidatedEvent: true });
  const attached = dc.attachRequest(args as DebugProtocol.AttachRequestArguments);
  await dc.waitForEvent('initialized');
  await dc.setExceptionBreakpointsRequest({ filters: [] });
  await dc.configurationDoneRequest();
  return attached;
}

/** The served session's pending trap, once the runner has reached it. */
async function pendingOf(c: Awaited<ReturnType<typeof client>>, after = 0): Promise<TrapRecord> {
  for (let i = 0; i < 600; i++) {
    const p = await c.conn.sendRequest<TrapRecord | null>('pendingTrap', {});
    if (p && p.seq > after) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no trap became pending');
}

async function gdbOn(port: number): Promise<GdbMi> {
  const gdb = new GdbMi(TOUR);
  gdbs.push(gdb);
  const r = await gdb.cmd(`-target-select remote 127.0.0.1:${port}`);
  expect(r.result).toMatch(/\^connected/);
  return gdb;
}

describe('DAP attach to a served session', () => {
  it('gdb, a DebugClient and a JSON-RPC client see one pending trap; the RPC client decides it and the others hear who did', async () => {
    const tokens = tokenFiles();
    const srv = await serve(tokens.served);
    const rpc = await client(srv.rpc, TOKENS.alice);
    const t = await pendingOf(rpc);
    expect(t).toMatchObject({ seq: 3, conduit: 'hvc' });

    const { dc } = adapters.stdio();
    const ev = recorder(dc);
    await attach(dc, { address: `127.0.0.1:${srv.rpc}`, tokenFile: tokens.bob });
    const stop = await ev.wait<DebugProtocol.StoppedEvent>('stopped');
    expect(stop.body).toMatchObject({ reason: 'exception', description: expect.stringMatching(/^trap #3: /) });
    expect((await ev.wait<DebugProtocol.OutputEvent>('output', (e) => /attached to session 1/.test(e.body.output))).body.output).toMatch(/as bob \(127\.0\.0\.1:\d+\), decider/);
    const trap = await variables(dc, 'Trap');
    expect(trap.trap.value).toBe(`#3 at ${t.pc}`);
    expect(trap.decision.value).toMatch(/^pending/);
    // the frames name the served image's symbols; memory reads larger than one message come in pieces
    const [f0] = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    // (the CPU is past the HVC the record names)
    const pc = `0x${(BigInt(t.pc) + 4n).toString(16)}`;
    expect(f0).toMatchObject({ name: `_start+0x${(BigInt(pc) - 0x40000000n).toString(16)}`, instructionPointerReference: pc });
    const mem = await dc.customRequest('readMemory', { memoryReference: '0x40000000', count: 2 << 20 }) as DebugProtocol.ReadMemoryResponse;
    const bytes = Buffer.from(mem.body!.data!, 'base64');
    expect(bytes.length).toBe(2 << 20);
    const head = Buffer.from(await rpc.conn.sendRequest<string>('readMemory', { addr: '0x40000000', len: 64 }), 'base64');
    expect(bytes.subarray(0, 64)).toEqual(head);
    // the records so far came with the attach (the Traps view)
    const feed = await ev.wait<DebugProtocol.Event>('trapdoor/trap', (e) => e.body.pending?.seq === 3);
    expect(feed.body.traps.map((r: TrapRecord) => r.seq)).toEqual([1, 2]);

    const gdb = await gdbOn(srv.gdb);
    expect(await gdb.console('monitor trap')).toMatch(/Trap #3: HVC #0x0 .*ARCH_FEATURES/s);

    const mark = ev.got.length;
    const rec = await rpc.conn.sendRequest<TrapRecord>('decide', { decision: { action: 'return', values: { x0: '0x77' } }, seq: 3 });
    expect(rec).toMatchObject({ seq: 3, decision: 'return', client: expect.stringMatching(/^alice /) });
    // the DebugClient hears the decision: who made it, the record, the guest running on to the next ask
    const said = await ev.wait<DebugProtocol.OutputEvent>('output', (e) => /trap #3 decided by/.test(e.body.output), mark);
    expect(said.body.output).toMatch(/trap #3 decided by alice \(127\.0\.0\.1:\d+\): Trap #3: return \(user\) -> x0=0x77/);
    const decided = await ev.wait<DebugProtocol.Event>('trapdoor/trap', (e) => e.body.traps.some((r: TrapRecord) => r.seq === 3), mark);
    expect(decided.body.traps.find((r: TrapRecord) => r.seq === 3)).toMatchObject({ decision: 'return', client: rec.client, result: { regs: { x0: '0x77' } } });
    await ev.wait('continued', () => true, mark);
    const next = await ev.wait<DebugProtocol.StoppedEvent>('stopped', () => true, mark);
    expect(next.body.description).toMatch(/^trap #7: /);
    expect((await variables(dc, 'Trap')).trap.value).toMatch(/^#7 at /);
    // gdb's console shows trap #3 decided, as the others see it
    expect(await gdb.console('monitor trap 3')).toMatch(/Trap #3: HVC.*return \(user\).*x0=0x77/s);
    // and the DebugClient decides the next one: the RPC client hears it was bob
    const mine = await dc.customRequest('trapdoor/decide', { action: 'return', values: { x0: '0x5' } });
    expect(mine.body.trap).toMatchObject({ seq: 7, decision: 'return', client: expect.stringMatching(/^bob /) });
    expect(await rpc.wait('decided', (n: { seq: number }) => n.seq === 7)).toMatchObject({ by: expect.stringMatching(/^bob \(127\.0\.0\.1:\d+\)$/) });
    // continue after a decision (what the extension does) is fine whether or not the service ran the guest on already;
    // the guest runs to its end, and the DebugClient hears it
    expect((await dc.continueRequest({ threadId: 1 })).success).toBe(true);
    expect((await ev.wait<DebugProtocol.ExitedEvent>('exited')).body.exitCode).toBe(0);
    await ev.wait('terminated');
    expect(ev.got.some((e) => e.event === 'output' && /run ended: guest called PSCI SYSTEM_OFF/.test((e as DebugProtocol.OutputEvent).body.output))).toBe(true);
  }, 120_000);

  it("a DAP breakpoint and a gdb breakpoint coexist: the DebugClient clearing its own leaves gdb's, and gdb's run stops at the DebugClient's", async () => {
    const tokens = tokenFiles();
    const srv = await serve(tokens.served);
    const rpc = await client(srv.rpc, TOKENS.alice);
    await pendingOf(rpc);
    const { dc } = adapters.stdio();
    const ev = recorder(dc);
    await attach(dc, { address: `127.0.0.1:${srv.rpc}`, token: TOKENS.bob });
    await ev.wait('stopped');
    const gdb = await gdbOn(srv.gdb);
    expect((await gdb.cmd('-break-insert print_result')).result).toMatch(/\^done,bkpt=\{number="1"/);
    const set = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'print_result' }] });
    expect(set.body.breakpoints[0].verified).toBe(true);
    const dapId = set.body.breakpoints[0].id;

    // the RPC client decides; the served guest runs on into the DebugClient's breakpoint
    let mark = ev.got.length;
    await rpc.conn.sendRequest('decide', { decision: { action: 'emulate' }, seq: 3 });
    let stop = await ev.wait<DebugProtocol.StoppedEvent>('stopped', () => true, mark);
    expect(stop.body).toMatchObject({ reason: 'function breakpoint', hitBreakpointIds: [dapId] });

    // gdb runs it (its breakpoint goes in): the next print_result stops both; the DebugClient hears gdb's run stop there
    mark = ev.got.length;
    let g = await gdb.cont();
    expect(g.stopped).toMatch(/reason="breakpoint-hit".*bkptno="1"/);
    stop = await ev.wait<DebugProtocol.StoppedEvent>('stopped', () => true, mark);
    expect(stop.body).toMatchObject({ reason: 'function breakpoint', hitBreakpointIds: [dapId] });

    // the DebugClient clears its own: gdb's stays, and stops gdb's next run there
    expect((await dc.setFunctionBreakpointsRequest({ breakpoints: [] })).body.breakpoints).toEqual([]);
    mark = ev.got.length;
    g = await gdb.cont();
    expect(g.stopped).toMatch(/reason="breakpoint-hit".*bkptno="1"/);
    // (gdb steps off a breakpoint before it continues: the DebugClient hears that step too)
    stop = await ev.wait<DebugProtocol.StoppedEvent>('stopped', (e) => e.body.reason !== 'step', mark);
    expect(stop.body.reason).toBe('breakpoint');
    expect(stop.body.hitBreakpointIds).toBeUndefined();
    expect(stop.body.description).toMatch(/^a breakpoint of gdb 127\.0\.0\.1:\d+ at 0x/);

    // gdb clears its own and the DebugClient sets one there again: gdb's next run stops at the DebugClient's, and gdb is told whose it is
    expect((await gdb.cmd('-break-delete 1')).result).toMatch(/\^done/);
    const again = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'print_result' }] });
    mark = ev.got.length;
    g = await gdb.cont();
    expect(g.stopped).toMatch(/reason="signal-received".*func="print_result"/);
    expect(g.console).toMatch(/a breakpoint of bob \(127\.0\.0\.1:\d+\)/);
    stop = await ev.wait<DebugProtocol.StoppedEvent>('stopped', (e) => e.body.reason !== 'step', mark);
    expect(stop.body).toMatchObject({ reason: 'function breakpoint', hitBreakpointIds: [again.body.breakpoints[0].id] });
  }, 120_000);

  it('a wrong token, a missing address or a bad role is a clear attach error; an observer may look but not decide', async () => {
    const tokens = tokenFiles();
    const srv = await serve(tokens.served);
    const address = `127.0.0.1:${srv.rpc}`;
    const { dc } = adapters.stdio();
    await dc.initializeRequest({ adapterID: 'trapdoor', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
    await expect(dc.attachRequest({ address, token: 'not-the-token-0123456789' } as DebugProtocol.AttachRequestArguments)).rejects.toThrow(/^attach: the token is not valid/);
    await expect(dc.attachRequest({ token: TOKENS.bob } as DebugProtocol.AttachRequestArguments)).rejects.toThrow(/attach: no 'address': give where trapdoor serve listens/);
    await expect(dc.attachRequest({ address, token: TOKENS.bob, role: 'boss' } as DebugProtocol.AttachRequestArguments)).rejects.toThrow(/attach: 'role' is decider or observer, not "boss"/);
    await expect(dc.attachRequest({ address, token: TOKENS.bob, session: '9' } as DebugProtocol.AttachRequestArguments)).rejects.toThrow(/has no session '9' \(it serves 1 \(.*smccc-tour\.elf\)\)/);
    const closed = await new Promise<number>((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
    await expect(dc.attachRequest({ address: `127.0.0.1:${closed}`, token: TOKENS.bob } as DebugProtocol.AttachRequestArguments)).rejects.toThrow(/cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED/);

    const ev = recorder(dc);
    await attach(dc, { address, token: TOKENS.bob, role: 'observer' });
    await ev.wait<DebugProtocol.StoppedEvent>('stopped', (e) => /^trap #3/.test(e.body.description ?? ''));
    expect((await variables(dc, 'Trap')).trap.value).toMatch(/^#3 at /);
    await expect(dc.customRequest('trapdoor/decide', { action: 'emulate' })).rejects.toThrow(/is an observer: decide needs a decider/);
    await expect(dc.evaluateRequest({ expression: 'decide emulate', context: 'repl' })).rejects.toThrow(/is an observer/);
    expect((await dc.evaluateRequest({ expression: 'trap', context: 'repl' })).body.result).toMatch(/Trap #3: HVC/);
  }, 120_000);

  it('disconnecting or terminating the DebugClient leaves the session served: the RPC client decides the next traps', async () => {
    const tokens = tokenFiles();
    const srv = await serve(tokens.served);
    const rpc = await client(srv.rpc, TOKENS.alice);
    await pendingOf(rpc);
    const first = adapters.stdio();
    const ev = recorder(first.dc);
    await attach(first.dc, { address: `127.0.0.1:${srv.rpc}`, tokenFile: tokens.bob });
    await ev.wait('stopped');
    // a breakpoint and an exception filter's ask rule of the DebugClient go with it
    await first.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'print_result' }] });
    const filters = await first.dc.setExceptionBreakpointsRequest({ filters: ['smc'] });
    expect(filters.body?.breakpoints?.[0]).toMatchObject({ verified: true });
    const ours = (await rpc.conn.sendRequest<{ rules: { id: string; text: string }[] }>('policy', {})).rules.filter((r) => r.id.startsWith('dap-exc-'));
    expect(ours).toEqual([{ id: expect.stringMatching(/^dap-exc-[0-9a-f]{6}-\d+$/), text: expect.stringMatching(/: smc -> ask$/), action: 'ask' }]);
    const gone = new Promise((r) => first.proc.once('exit', r));
    await first.dc.disconnectRequest({ terminateDebuggee: true });
    await gone;
    // (the service hears the connection close a moment after the adapter has gone)
    let list = await rpc.conn.sendRequest<{ pending: number; clients: { name: string }[] }[]>('session/list', {});
    for (let i = 0; i < 200 && list[0].clients.length > 1; i++) {
      await new Promise((r) => setTimeout(r, 50));
      list = await rpc.conn.sendRequest('session/list', {});
    }
    expect(list[0].pending).toBe(3);
    expect(list[0].clients.map((c) => c.name)).toEqual([expect.stringMatching(/^alice /)]);
    expect((await rpc.conn.sendRequest<{ rules: { id: string }[] }>('policy', {})).rules.map((r) => r.id)).not.toContain(ours[0].id);
    const rec = await rpc.conn.sendRequest<TrapRecord>('decide', { decision: { action: 'emulate' }, seq: 3 });
    expect(rec.client).toMatch(/^alice /);
    // no stop at print_result: the guest ran on to the next ask
    const t7 = await pendingOf(rpc, 3);
    expect(t7.seq).toBe(7);

    // terminate only detaches, and says so
    const second = adapters.stdio();
    const ev2 = recorder(second.dc);
    await attach(second.dc, { address: `127.0.0.1:${srv.rpc}`, token: TOKENS.bob });
    await ev2.wait<DebugProtocol.StoppedEvent>('stopped', (e) => /^trap #7/.test(e.body.description ?? ''));
    const term = await second.dc.terminateRequest({});
    expect(term.success).toBe(true);
    expect(term.message).toMatch(/^detached: terminate does not end a served session/);
    await ev2.wait('terminated');
    expect(ev2.got.some((e) => e.event === 'exited')).toBe(false);
    const again = await rpc.conn.sendRequest<TrapRecord>('decide', { decision: { action: 'return', values: { x0: '0x1' } }, seq: 7 });
    expect(again).toMatchObject({ seq: 7, decision: 'return', client: expect.stringMatching(/^alice /) });
  }, 120_000);

  it('attaches over TLS (tlsCa), and reads memory in the pieces a small --max-message allows; without TLS the attach says the service closed', async () => {
    const tokens = tokenFiles();
    const dir = scratchDir();
    const key = path.join(dir, 'attach-tls-key.pem'), cert = path.join(dir, 'attach-tls-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const srv = await serve(tokens.served, '--tls-cert', cert, '--tls-key', key, '--max-message', '8K');
    const address = `127.0.0.1:${srv.rpc}`;
    const { dc } = adapters.stdio();
    await dc.initializeRequest({ adapterID: 'trapdoor', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
    await expect(dc.attachRequest({ address, token: TOKENS.bob } as DebugProtocol.AttachRequestArguments)).rejects.toThrow(/^attach: the service closed the connection/);
    const ev = recorder(dc);
    await attach(dc, { address, tokenFile: tokens.bob, tlsCa: cert });
    await ev.wait<DebugProtocol.StoppedEvent>('stopped', (e) => /^trap #3/.test(e.body.description ?? ''));
    const mem = await dc.customRequest('readMemory', { memoryReference: '0x40000000', count: 64 << 10 }) as DebugProtocol.ReadMemoryResponse;
    const bytes = Buffer.from(mem.body!.data!, 'base64');
    expect(bytes.length).toBe(64 << 10);
    // the guest's first instruction (ldr x0, =... or mov): not all zero
    expect(bytes.subarray(0, 16).some((b) => b !== 0)).toBe(true);
  }, 120_000);
});

describe('the remote client (what attach holds)', () => {
  it('has the surface of a Client: facts read once, operations by their names, errors as Results, memory in pieces that fit', async () => {
    const { port } = await service(TOUR, policy('hvc=ask'), { limits: { maxMessage: 8192 } });
    const c = await RemoteClient.attach({ connect: `127.0.0.1:${port}`, token: TOKENS.bob });
    try {
      expect(c).toMatchObject({ id: '1', arch: 'aarch64', role: 'decider', name: expect.stringMatching(/^bob \(127\.0\.0\.1:\d+\)$/) });
      expect(c.registers.find((r) => r.name === 'x0')).toMatchObject({ group: 'general', bits: 64 });
      expect(c.memory.find(0x40001000n)).toMatchObject({ kind: 'ram', base: 0x40000000n });
      expect(c.symbol('print_result')?.value).toBeGreaterThan(0x40000000n);
      expect(c.symbolize(0x40000004n)).toBe('_start+0x4');
      // the stop at trap 3 (heard, or already there when the client came)
      const stop = c.lastStop?.trap?.seq === 3 ? c.lastStop : await c.nextStop();
      expect(stop).toMatchObject({ reason: 'trap', trap: { seq: 3 } });
      expect(c.state).toBe('stopped');
      expect(await c.pendingTrap()).toMatchObject({ ok: true, value: { seq: 3, decision: 'pending' } });
      // 64 KiB through a service whose messages hold 8 KiB
      const mem = await c.readMemory({ addr: '0x40000000', len: 64 << 10 });
      expect(mem.ok && mem.value.length).toBe(64 << 10);
      const bad = await c.writeRegister({ name: 'x99', value: '0x1' });
      expect(bad).toMatchObject({ ok: false, code: 'no-register' });
      const d = await c.decide({ decision: { action: 'emulate' } });
      expect(d.ok && d.value).toMatchObject({ seq: 3, client: c.name });
      expect(await c.decide({ decision: { action: 'emulate' }, seq: 3 })).toMatchObject({ ok: false, code: 'conflict', error: expect.stringMatching(/already decided by bob/) });
    } finally {
      await c.close();
    }
    expect(await c.status()).toMatchObject({ ok: false, code: 'closed' });
  });

  it('a served guest printing without end and a DebugClient that does not read: the adapter stops reading the service and its memory stays bounded', async () => {
    const printer = assemble('aarch64', `.global _start\n_start:\n  ldr x1, =0x09000000\n  mov w2, #'x'\n1:\n  strb w2, [x1]\n  b 1b\n`, 'attach-printer');
    const { port } = await service(printer, undefined);
    const a = await nonReadingClient('attach', { address: `127.0.0.1:${port}`, token: TOKENS.bob });
    try {
      expect(a.got).toMatch(/"command":"attach","success":true/);
      a.send('configurationDone', {});
      const { before, after } = await a.rssAcross();
      expect(a.child.exitCode).toBeNull();
      expect(after - before).toBeLessThan(12);
      expect(after).toBeLessThan(400);
    } finally {
      a.stop();
    }
  }, 120_000);
});
