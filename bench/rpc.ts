// `npm run bench:rpc`: the JSON-RPC service (`trapdoor serve`) against a bare
// vscode-jsonrpc server measured in the same run, both in their own process on
// TCP loopback, driven by vscode-jsonrpc clients in this one:
//  - request round trips per second, one request in flight: the service's
//    `status` (answered by the session, no trip to the emulation worker) against
//    the bare server's `echo`; also `readRegisters` (a trip to the worker) for scale;
//  - trap notifications per second delivered to 1 and to 10 subscribed clients
//    while the trap-storm guest runs, against the bare server sending the same
//    record as a notification the same number of times to as many clients.
// Rounds are taken in turns (bare, service, bare, ...); medians; the goal for
// round trips is >= 0.8x. The last line is one JSON object of the figures.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { ROOT } from './root.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const STORM = path.join(ROOT, 'examples/aarch64/trap-storm.elf');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TRIPS = Number(process.env.BENCH_TRIPS ?? 4000);
/** Traps per notification round (each delivered to every subscribed client). */
const TRAPS = Number(process.env.BENCH_TRAPS ?? 20000);

// ---------------------------------------------------------------- the bare server (this file, run with --bare)
async function bareServer() {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const conn = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
    socket.on('close', () => conns.delete(conn));
    conn.onRequest('subscribe', () => { conns.add(conn); return true; });
    socket.on('error', () => undefined);
    conn.onRequest('echo', (p: unknown) => p);
    // the same notification n times to every subscribed connection, as the service sends a trap to each subscriber
    conn.onRequest('flood', async (p: { n: number; record: unknown }) => {
      for (let i = 0; i < p.n; i++) {
        for (const c of conns) void c.sendNotification('trap', { session: '1', record: p.record });
        if ((i & 255) === 255) await new Promise((r) => setImmediate(r));
      }
      return true;
    });
    conn.listen();
  });
  const conns = new Set<MessageConnection>();
  server.listen(0, '127.0.0.1', () => process.stderr.write(`listening on 127.0.0.1:${(server.address() as net.AddressInfo).port}\n`));
}

// ---------------------------------------------------------------- the driver
const children: ChildProcess[] = [];
function start(args: string[]): Promise<number> {
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(p);
  let err = '';
  return new Promise((resolve, reject) => {
    p.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    p.on('close', (code) => reject(new Error(`${args.join(' ')} ended (${code}): ${err}`)));
  });
}

async function connect(port: number): Promise<MessageConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => { socket.once('connect', () => r()); socket.once('error', j); });
  socket.setNoDelay(true);
  const conn = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
  conn.onDispose(() => socket.destroy());
  conn.listen();
  return conn;
}

async function trips(conn: MessageConnection, method: string, params: object, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await conn.sendRequest(method, params);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Resolves when every client has heard `n` trap notifications; rate = n*clients/s from `go()`. */
async function delivered(clients: MessageConnection[], n: number, go: () => Promise<unknown>): Promise<number> {
  let left = clients.length;
  let done!: () => void;
  const all = new Promise<void>((r) => { done = r; });
  const disposers = clients.map((c) => {
    let got = 0;
    return c.onNotification('trap', () => { if (++got === n && --left === 0) done(); });
  });
  const t0 = process.hrtime.bigint();
  await go();
  await all;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const d of disposers) d.dispose();
  return (n * clients.length) / s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
const k = (x: number) => `${(x / 1000).toFixed(1)} k/s`;

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'trapdoor-bench-rpc-'));
  const token = randomBytes(16).toString('hex');
  const tokens = path.join(dir, 'tokens');
  writeFileSync(tokens, `bench:${token}\n`);
  // the storm's call count (a .quad the guest reads first): patched per round
  const nm = execFileSync('aarch64-linux-gnu-nm', [STORM], { encoding: 'utf8' });
  const callsAt = /^([0-9a-f]+) \w calls$/m.exec(nm)?.[1];
  if (!callsAt) throw new Error(`no 'calls' symbol in ${STORM} (make examples)`);

  const barePort = await start([new URL(import.meta.url).pathname, '--bare']);
  const svcPort = await start([BIN, 'serve', '--listen', '127.0.0.1:0', '--token-file', tokens, '--max-queue', '1G', '--keep', '100']);

  process.stderr.write(`bench: bare server on ${barePort}, trapdoor serve on ${svcPort}\n`);
  const bare = await connect(barePort);
  const svc = await connect(svcPort);
  await svc.sendRequest('auth', { token });

  // one session per notification round: opened stopped, the count patched, subscribers attached, then cont
  const quad = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b.toString('base64'); };
  async function serviceRound(subscribers: number): Promise<number> {
    const info = await svc.sendRequest<{ id: string }>('session/open', { path: STORM, run: false });
    await svc.sendRequest('writeMemory', { session: info.id, addr: `0x${callsAt}`, data: quad(TRAPS - 1) });
    const clients = await Promise.all(Array.from({ length: subscribers }, async () => {
      const c = await connect(svcPort);
      await c.sendRequest('auth', { token, role: 'observer' });
      await c.sendRequest('session/attach', { session: info.id });
      await c.sendRequest('traps/subscribe', { session: info.id });
      return c;
    }));
    // TRAPS - 1 PSCI_VERSION calls and the SYSTEM_OFF: TRAPS records
    const rate = await delivered(clients, TRAPS, () => svc.sendRequest('cont', { session: info.id }));
    for (const c of clients) c.dispose();
    await svc.sendRequest('session/close', { session: info.id });
    return rate;
  }
  let sample: unknown;
  {
    // a real record, for the bare server to send
    const info = await svc.sendRequest<{ id: string }>('session/open', { path: STORM, run: false });
    await svc.sendRequest('writeMemory', { session: info.id, addr: `0x${callsAt}`, data: quad(1) });
    await svc.sendRequest('cont', { session: info.id });
    const recs = await svc.sendRequest<unknown[]>('traps', { session: info.id, n: 1, from: 1 });
    sample = recs[0];
    await svc.sendRequest('session/close', { session: info.id });
  }
  async function bareRound(subscribers: number): Promise<number> {
    const clients = await Promise.all(Array.from({ length: subscribers }, async () => {
      const c = await connect(barePort);
      await c.sendRequest('subscribe', {});
      return c;
    }));
    const rate = await delivered(clients, TRAPS, () => clients[0].sendRequest('flood', { n: TRAPS, record: sample }));
    for (const c of clients) c.dispose();
    return rate;
  }

  // a session for the round trips (stopped at its entry)
  const rt = await svc.sendRequest<{ id: string }>('session/open', { path: STORM, run: false });
  await trips(svc, 'status', { session: rt.id }, 200);
  await trips(bare, 'echo', { session: rt.id }, 200);

  const r = { bare: [] as number[], status: [] as number[], regs: [] as number[], n1: [] as number[], b1: [] as number[], n10: [] as number[], b10: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    r.bare.push(await trips(bare, 'echo', { session: rt.id }, TRIPS));
    r.status.push(await trips(svc, 'status', { session: rt.id }, TRIPS));
    r.regs.push(await trips(svc, 'readRegisters', { session: rt.id, names: ['x0', 'pc'] }, TRIPS));
    r.b1.push(await bareRound(1));
    r.n1.push(await serviceRound(1));
    r.b10.push(await bareRound(10));
    r.n10.push(await serviceRound(10));
    process.stderr.write(`bench: round ${i + 1} of ${ROUNDS} done\n`);
  }
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]);
  const rtRatio = ratios(r.status, r.bare);
  const n1Ratio = ratios(r.n1, r.b1);
  const n10Ratio = ratios(r.n10, r.b10);
  console.log(`round trips (1 in flight): service status ${k(median(r.status))} vs bare echo ${k(median(r.bare))}: ${median(rtRatio).toFixed(2)}x (rounds ${range(rtRatio)}; goal >= 0.8x)`);
  console.log(`  readRegisters (a trip to the emulation worker): ${k(median(r.regs))}`);
  console.log(`trap notifications, 1 client:   ${k(median(r.n1))} vs bare ${k(median(r.b1))}: ${median(n1Ratio).toFixed(2)}x (rounds ${range(n1Ratio)})`);
  console.log(`trap notifications, 10 clients: ${k(median(r.n10))} delivered vs bare ${k(median(r.b10))}: ${median(n10Ratio).toFixed(2)}x (rounds ${range(n10Ratio)})`);
  console.log(JSON.stringify({
    bench: 'rpc', rounds: ROUNDS, trips: TRIPS, traps: TRAPS,
    roundTrips: { service: Math.round(median(r.status)), bare: Math.round(median(r.bare)), ratio: +median(rtRatio).toFixed(3), goal: 0.8 },
    readRegisters: Math.round(median(r.regs)),
    notify1: { service: Math.round(median(r.n1)), bare: Math.round(median(r.b1)), ratio: +median(n1Ratio).toFixed(3) },
    notify10: { service: Math.round(median(r.n10)), bare: Math.round(median(r.b10)), ratio: +median(n10Ratio).toFixed(3) },
  }));
  bare.dispose();
  svc.dispose();
}

if (process.argv.includes('--bare')) void bareServer();
else {
  main().then(() => { for (const c of children) c.kill(); }, (e) => { for (const c of children) c.kill(); console.error(`bench:rpc failed: ${(e as Error).message}`); process.exit(1); });
}
