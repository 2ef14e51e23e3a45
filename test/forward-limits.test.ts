// Forwarding against endpoints that send too much or send nonsense: the call fails
// at once with a message naming the problem, the client's memory stays flat, and
// the next call works on a fresh connection.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ForwardClient, type ForwardCallParams } from '../server/forward/index.js';

const params = (seq = 1): ForwardCallParams => ({
  seq, cpu: 0, arch: 'aarch64', conduit: 'smc', imm: 0, pc: '0x40000010', args: ['0x84000000', '0x0'],
  decoded: { kind: 'smccc', owner: 'std-secure', name: 'PSCI_VERSION', id: '0x84000000', summary: 'PSCI VERSION()' },
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** The request's id, once a whole framed request is in `buf`. */
function requestId(buf: string): number | undefined {
  const m = /Content-Length: (\d+)\r\n\r\n/.exec(buf);
  if (!m || buf.length < m.index + m[0].length + Number(m[1])) return undefined;
  return JSON.parse(buf.slice(m.index + m[0].length, m.index + m[0].length + Number(m[1]))).id;
}

const good = (id: number) => {
  const body = `{"jsonrpc":"2.0","id":${id},"result":{"regs":{"x0":"0x10001"}}}`;
  return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
};

/**
 * An endpoint whose first connection gets `bad(socket, id)` as the answer to its
 * first request; every later connection is answered properly.
 */
async function endpoint(bad: (s: Socket, id: number) => void): Promise<{ port: number; connections: () => number }> {
  const sockets = new Set<Socket>();
  let n = 0;
  const server: Server = createServer((s) => {
    const mine = n++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('utf8');
      const id = requestId(buf);
      if (id === undefined) return;
      buf = '';
      if (mine === 0) bad(s, id);
      else s.write(good(id));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, connections: () => n };
}

function client(port: number, opts: { timeoutMs?: number; maxAnswerBytes?: number } = {}): ForwardClient {
  const c = new ForwardClient(`tcp://127.0.0.1:${port}`, { timeoutMs: 20_000, ...opts });
  cleanups.push(() => c.close());
  return c;
}

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const v = await p;
  return [v, performance.now() - start];
}

/** Streams `total` bytes of body in 64 KiB chunks, respecting backpressure, until the peer goes. */
function stream(s: Socket, total: number) {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const pump = () => {
    while (sent < total && !s.destroyed) {
      sent += chunk.length;
      if (!s.write(chunk)) return void s.once('drain', pump);
    }
  };
  pump();
}

describe('answer size limit', () => {
  it('a 100 MB answer fails at once, without buffering it, and the next call reconnects', async () => {
    const ep = await endpoint((s) => {
      s.write('Content-Length: 104857600\r\n\r\n{"jsonrpc":"2.0","id":1,"result":{"regs":{"x0":"');
      stream(s, 100 << 20);
    });
    const c = client(ep.port);
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const [r, ms] = await timed(c.call(params()));
    const grew = process.memoryUsage().rss - rss0;
    expect(r).toEqual({
      ok: false,
      error: `forward to tcp://127.0.0.1:${ep.port} failed: the firmware endpoint sent a 104857600-byte answer; the limit is 1048576 bytes`,
    });
    expect(ms).toBeLessThan(5000);
    expect(grew).toBeLessThan(50 << 20);
    // the connection was dropped: the next call goes to a new one and works
    expect(await c.call(params(2))).toEqual({ ok: true, regs: { x0: 0x10001n } });
    expect(ep.connections()).toBe(2);
  });

  it('the limit is an option; an answer of exactly the limit passes', async () => {
    const body = (id: number) => `{"jsonrpc":"2.0","id":${id},"result":{"regs":{"x0":"0x10001"}}}`;
    const size = Buffer.byteLength(body(1));
    const ep = await endpoint((s, id) => s.write(`Content-Length: ${size}\r\n\r\n${body(id)}`));
    expect(await client(ep.port, { maxAnswerBytes: size }).call(params())).toEqual({ ok: true, regs: { x0: 0x10001n } });
    const ep2 = await endpoint((s, id) => s.write(`Content-Length: ${size}\r\n\r\n${body(id)}`));
    const small = client(ep2.port, { maxAnswerBytes: size - 1 });
    const [r, ms] = await timed(small.call(params()));
    expect(r).toEqual({ ok: false, error: `forward to tcp://127.0.0.1:${ep2.port} failed: the firmware endpoint sent a ${size}-byte answer; the limit is ${size - 1} bytes` });
    expect(ms).toBeLessThan(5000);
  });

  it('refuses a limit that is not a positive whole number', () => {
    expect(() => new ForwardClient('tcp://127.0.0.1:9', { maxAnswerBytes: 0 })).toThrow(/maxAnswerBytes/);
    expect(() => new ForwardClient('tcp://127.0.0.1:9', { maxAnswerBytes: 1.5 })).toThrow(/maxAnswerBytes/);
  });
});

describe('malformed headers fail at once', () => {
  const cases: [string, string, RegExp][] = [
    ['no Content-Length', 'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}', /sent a message without a Content-Length header/],
    ['a non-numeric Content-Length', 'Content-Length: abc\r\n\r\n', /Content-Length "abc" is not a byte count/],
    ['a negative Content-Length', 'Content-Length: -5\r\n\r\n', /Content-Length "-5" is not a byte count/],
    ['a Content-Length in exponent form', 'Content-Length: 1e3\r\n\r\n', /Content-Length "1e3" is not a byte count/],
    ['two different Content-Lengths', 'Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}', /two different Content-Length headers/],
    ['a huge Content-Length', 'Content-Length: 99999999999999999999999\r\n\r\n', /sent a 99999999999999999999999-byte answer; the limit is 1048576 bytes/],
    ['a header line without a colon', 'Content-Length 12\r\n\r\n', /malformed header line "Content-Length 12"/],
    ['a header block with no blank line', `Content-Length: 10\r\nX-Padding: ${'a'.repeat(100_000)}`, /header block of more than \d+ bytes without the blank line/],
    ['header lines that never end', `Content-Length: 10\r\n${'X-A: b\r\n'.repeat(20_000)}`, /header block of more than \d+ bytes without the blank line/],
    ['garbage bytes', '\u0000\u00ff\u0013garbage', /does not speak JSON-RPC \(it sent /],
    ['an HTTP answer', 'HTTP/1.1 400 Bad Request\r\n\r\n', /does not speak JSON-RPC \(it sent "HTTP\/1\.1 400/],
  ];
  for (const [what, answer, message] of cases) {
    it(what, async () => {
      const ep = await endpoint((s) => s.write(Buffer.from(answer, 'latin1')));
      const c = client(ep.port);
      const [r, ms] = await timed(c.call(params()));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toMatch(new RegExp(`^forward to tcp://127\\.0\\.0\\.1:${ep.port} failed: `));
        expect(r.error).toMatch(message);
        expect(r.error.split('\n')).toHaveLength(1);
        expect(r.error.length).toBeLessThan(300);
      }
      expect(ms).toBeLessThan(2000);
      // the bad connection is gone; the next call works on a new one
      expect(await c.call(params(2))).toEqual({ ok: true, regs: { x0: 0x10001n } });
      expect(ep.connections()).toBe(2);
    });
  }

  it('a well-formed answer in many small pieces, with a Content-Type header, still works', async () => {
    const ep = await endpoint((s, id) => {
      const body = `{"jsonrpc":"2.0","id":${id},"result":{"regs":{"x0":"0x7"}}}`;
      const all = Buffer.from(`content-length: ${Buffer.byteLength(body)}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n${body}`);
      let i = 0;
      const next = () => {
        if (i >= all.length || s.destroyed) return;
        s.write(all.subarray(i, i + 3));
        i += 3;
        setImmediate(next);
      };
      next();
    });
    const c = client(ep.port);
    expect(await c.call(params())).toEqual({ ok: true, regs: { x0: 7n } });
    expect(await c.call(params(2))).toEqual({ ok: true, regs: { x0: 7n } });
    expect(ep.connections()).toBe(1);
  });
});
