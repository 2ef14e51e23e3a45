import { scratchDir } from './helpers/asm.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createForwardClient,
  ForwardClient,
  loadAnswerTable,
  parseEndpoint,
  runFirmwareStubCli,
  startFirmwareStub,
  type FirmwareStub,
  type ForwardCallParams,
} from '../server/forward/index.js';

const TIMEOUT = 300;
/** Generous slack for a loaded CI machine; the point is "no hang", not precision. */
const MARGIN = 700;

const TABLE = {
  '0x84000000': { x0: '0x10001' },
  PSCI_FEATURES: { x0: '0' },
  '0xc4000053': { x0: 0, x1: '0x1234', x2: -2 },
  default: { x0: '-1' },
};

function params(id: string | undefined, name: string, seq = 1): ForwardCallParams {
  const decoded: ForwardCallParams['decoded'] = { kind: 'smccc', owner: 'std-secure', name, summary: name };
  if (id !== undefined) decoded.id = id;
  return { seq, cpu: 0, arch: 'aarch64', conduit: 'smc', imm: 0, pc: '0x40000010', args: [id ?? '0x0', '0x0'], decoded };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function client(port: number, timeoutMs = TIMEOUT): ForwardClient {
  const c = new ForwardClient(`tcp://127.0.0.1:${port}`, { timeoutMs });
  cleanups.push(() => c.close());
  return c;
}

async function stub(table: object = TABLE, port = 0): Promise<FirmwareStub> {
  const s = await startFirmwareStub({ port, table: table as never });
  cleanups.push(() => s.close());
  return s;
}

/** A TCP server with custom behaviour, for endpoints that misbehave. */
async function rawServer(onSocket: (s: Socket) => void): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, server, sockets };
}

/** Answers each request with `reply(id)` as a framed body. */
function answering(reply: (id: number) => string): (s: Socket) => void {
  return (s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('utf8');
      const m = /Content-Length: (\d+)\r\n\r\n/.exec(buf);
      if (!m || buf.length < m.index + m[0].length + Number(m[1])) return;
      const body = JSON.parse(buf.slice(m.index + m[0].length, m.index + m[0].length + Number(m[1])));
      buf = '';
      const out = reply(body.id);
      s.write(`Content-Length: ${Buffer.byteLength(out)}\r\n\r\n${out}`);
    });
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const v = await p;
  return [v, performance.now() - start];
}

describe('forward client and firmware stub', () => {
  it('round-trips through the stub: by id, by name, default, several registers', async () => {
    const s = await stub();
    const c = client(s.port);
    expect(await c.call(params('0x84000000', 'PSCI_VERSION'))).toEqual({ ok: true, regs: { x0: 0x10001n } });
    expect(await c.call(params('0x8400000a', 'PSCI_FEATURES'))).toEqual({ ok: true, regs: { x0: 0n } });
    expect(await c.call(params('0xc4000053', 'TRNG_RND'))).toEqual({ ok: true, regs: { x0: 0n, x1: 0x1234n, x2: -2n } });
    expect(await c.call(params('0x82000001', 'UNKNOWN'))).toEqual({ ok: true, regs: { x0: -1n } });
    expect(await c.call({ ...params(undefined, 'xen_version'), conduit: 'hvc', imm: 0xea1 })).toEqual({ ok: true, regs: { x0: -1n } });
  });

  it('passes a JSON-RPC error from the endpoint on as a value', async () => {
    const s = await stub({ '0x84000000': { x0: '0x10001' } });
    const c = client(s.port);
    const r = await c.call(params('0x84000008', 'PSCI_SYSTEM_OFF'));
    expect(r).toEqual({
      ok: false,
      error: `forward to tcp://127.0.0.1:${s.port} failed: the endpoint answered error -32001: no answer for PSCI_SYSTEM_OFF (0x84000008) in the table and no "default" entry`,
    });
    // the connection is still good
    expect(await c.call(params('0x84000000', 'PSCI_VERSION'))).toEqual({ ok: true, regs: { x0: 0x10001n } });
  });

  it('fails fast once the stub is killed, then reconnects when it is back', async () => {
    const s = await stub();
    const port = s.port;
    const c = client(port);
    expect((await c.call(params('0x84000000', 'PSCI_VERSION'))).ok).toBe(true);
    await s.close();
    const [r, ms] = await timed(c.call(params('0x84000000', 'PSCI_VERSION')));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^forward to tcp:\/\/127\.0\.0\.1:\d+ failed: (connection refused \(is the endpoint running\?\)|the endpoint closed the connection|the endpoint reset the connection)$/);
    expect(ms).toBeLessThan(TIMEOUT + MARGIN);
    await stub(TABLE, port);
    expect(await c.call(params('0x84000000', 'PSCI_VERSION'))).toEqual({ ok: true, regs: { x0: 0x10001n } });
  });

  it('fails at once when the endpoint dies in the middle of a call', async () => {
    const { port } = await rawServer((s) => s.once('data', () => s.destroy()));
    const [r, ms] = await timed(client(port).call(params('0x84000000', 'PSCI_VERSION')));
    expect(r).toEqual({ ok: false, error: `forward to tcp://127.0.0.1:${port} failed: the endpoint closed the connection` });
    expect(ms).toBeLessThan(TIMEOUT);
  });

  it('times out on an endpoint that accepts but never answers', async () => {
    const { port } = await rawServer(() => {});
    const c = client(port);
    const [r, ms] = await timed(c.call(params('0x84000000', 'PSCI_VERSION')));
    expect(r).toEqual({ ok: false, error: `forward to tcp://127.0.0.1:${port} failed: timed out after ${TIMEOUT} ms` });
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(ms).toBeLessThan(TIMEOUT + MARGIN);
    // and again on a fresh connection: no stale state
    const [again] = await timed(c.call(params('0x84000000', 'PSCI_VERSION', 2)));
    expect(again.ok).toBe(false);
  });

  it('reports a refused port', async () => {
    const port = await freePort();
    const [r, ms] = await timed(client(port).call(params('0x84000000', 'PSCI_VERSION')));
    expect(r).toEqual({ ok: false, error: `forward to tcp://127.0.0.1:${port} failed: connection refused (is the endpoint running?)` });
    expect(ms).toBeLessThan(TIMEOUT + MARGIN);
  });

  it('reports garbage bytes from the endpoint without waiting for the timeout', async () => {
    const { port } = await rawServer((s) => s.once('data', () => s.write('HTTP/1.1 400 Bad Request\r\n\r\n')));
    const [r, ms] = await timed(client(port, 5000).call(params('0x84000000', 'PSCI_VERSION')));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/failed: the endpoint does not speak JSON-RPC \(it sent "HTTP\/1\.1 400/);
    expect(ms).toBeLessThan(1000);
  });

  it('reports a framed message that is not JSON', async () => {
    const { port } = await rawServer((s) => s.once('data', () => s.write('Content-Length: 9\r\n\r\nnot json!')));
    const r = await client(port, 5000).call(params('0x84000000', 'PSCI_VERSION'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/failed: the endpoint sent an invalid message/);
  });

  it.each([
    ['a result without regs', '{"ok":1}', /bad answer: regs must be an object/],
    ['a value that is not a number', '{"regs":{"x0":"zz"}}', /bad answer: x0 = "zz" is not an integer/],
    ['an unknown register', '{"regs":{"pc":"0x0"}}', /bad answer: 'pc' is not a result register/],
    ['a value too wide', '{"regs":{"w0":"0x100000000"}}', /bad answer: w0 = 0x100000000 does not fit in 32 bits/],
  ])('rejects %s', async (_name, result, message) => {
    const { port } = await rawServer(answering((id) => `{"jsonrpc":"2.0","id":${id},"result":${result}}`));
    const r = await client(port).call(params('0x84000000', 'PSCI_VERSION'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it('accepts numbers, negative numbers and hex strings from the endpoint', async () => {
    const { port } = await rawServer(
      answering((id) => `{"jsonrpc":"2.0","id":${id},"result":{"regs":{"r0":-1,"r1":"0xffffffff","r2":7,"r3":"-0x2"}}}`),
    );
    expect(await client(port).call(params('0x84000000', 'PSCI_VERSION'))).toEqual({
      ok: true,
      regs: { r0: -1n, r1: 0xffffffffn, r2: 7n, r3: -2n },
    });
  });

  it('validates the endpoint URL', () => {
    for (const bad of ['127.0.0.1:9000', 'http://127.0.0.1:9000', 'tcp://127.0.0.1', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1:70000', 'tcp://:9000', 'tcp://a b:1']) {
      const r = createForwardClient(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.error).toBe(`forward endpoint '${bad}' is not tcp://HOST:PORT: write e.g. tcp://127.0.0.1:9000`);
    }
    expect(() => new ForwardClient('udp://127.0.0.1:9')).toThrow(/is not tcp:\/\/HOST:PORT/);
    expect(parseEndpoint('tcp://[::1]:9000')).toEqual({ ok: true, value: { host: '::1', port: 9000 } });
    expect(parseEndpoint('tcp://firmware.local:9000/')).toEqual({ ok: true, value: { host: 'firmware.local', port: 9000 } });
  });

  it('fails calls after close()', async () => {
    const s = await stub();
    const c = client(s.port);
    expect((await c.call(params('0x84000000', 'PSCI_VERSION'))).ok).toBe(true);
    c.close();
    expect(await c.call(params('0x84000000', 'PSCI_VERSION'))).toEqual({
      ok: false,
      error: `forward to tcp://127.0.0.1:${s.port} failed: the forward client is closed`,
    });
  });

  it('serves concurrent calls on one connection', async () => {
    const s = await stub();
    const c = client(s.port);
    const rs = await Promise.all([1, 2, 3, 4].map((n) => c.call(params('0x84000000', 'PSCI_VERSION', n))));
    expect(rs.every((r) => r.ok)).toBe(true);
  });
});

describe('answer tables and the firmware-stub command', () => {
  function tableFile(content: string): string {
    const dir = mkdtempSync(join(scratchDir(), 'fwd-'));
    const f = join(dir, 'answers.json');
    writeFileSync(f, content);
    return f;
  }

  it('loads a table and reports bad ones clearly', () => {
    expect(loadAnswerTable(tableFile(JSON.stringify(TABLE))).ok).toBe(true);
    expect(loadAnswerTable('/nonexistent/answers.json')).toEqual({
      ok: false,
      error: '/nonexistent/answers.json: answer table not found (check the --table path)',
    });
    const cases: [string, RegExp][] = [
      ['{', /not valid JSON/],
      ['[]', /must be a JSON object/],
      ['{"0x84000000": "0x10001"}', /"0x84000000" must map registers to values/],
      ['{"0x84000000": {"x0": "nope"}}', /"0x84000000": x0 = "nope" is not an integer/],
      ['{"0x84000000": {"sp": 0}}', /'sp' is not a result register/],
      ['{"PSCI FEATURES": {"x0": 0}}', /neither a function id/],
      ['{"0x100000000": {"x0": 0}}', /not a 32-bit function id/],
    ];
    for (const [content, message] of cases) {
      const r = loadAnswerTable(tableFile(content));
      expect(r.ok, content).toBe(false);
      if (!r.ok) expect(r.error).toMatch(message);
    }
  });

  it('runs as a command: prints where it listens and one line per call', async () => {
    const out: string[] = [];
    const ctl = new AbortController();
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(`ERR ${s}`) }, signal: ctl.signal };
    const done = runFirmwareStubCli(['--listen', '0', '--table', tableFile(JSON.stringify(TABLE))], io);
    await expect.poll(() => out.join('')).toMatch(/firmware-stub listening on 127\.0\.0\.1:\d+\n/);
    const port = Number(/:(\d+)\n/.exec(out[0])?.[1]);
    expect(await client(port).call(params('0x84000000', 'PSCI_VERSION', 7))).toEqual({ ok: true, regs: { x0: 0x10001n } });
    expect(out[1]).toBe('#7 cpu0 smc PSCI_VERSION 0x84000000 -> x0=0x10001\n');
    ctl.abort();
    expect(await done).toBe(0);
  });

  it.each([
    [[], 2, /--listen PORT is required/],
    [['--listen', '9000'], 2, /--table FILE is required/],
    [['--listen', 'x', '--table', 'a.json'], 2, /the port must be a number/],
    [['--listen'], 2, /--listen needs a value/],
    [['--port', '1'], 2, /unknown argument '--port'/],
    [['--listen', '0', '--table', '/nonexistent/answers.json'], 1, /answer table not found/],
  ])('rejects bad arguments %j', async (argv, code, message) => {
    const err: string[] = [];
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) } };
    expect(await runFirmwareStubCli(argv as string[], io)).toBe(code);
    expect(err.join('')).toMatch(message);
  });

  it('says when the port is taken', async () => {
    const s = await stub();
    const err: string[] = [];
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) } };
    const code = await runFirmwareStubCli(['--listen', String(s.port), '--table', tableFile('{}')], io);
    expect(code).toBe(1);
    expect(err.join('')).toMatch(/port \d+ is already in use: pick another --listen port/);
  });
});
