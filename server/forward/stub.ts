// The reference forward endpoint: answers `trapdoor/call` from a table
// (answers.json) keyed by function id, then call name, then "default". It is the
// smallest useful firmware model and the template for writing a real one.
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import {
  createMessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { CallRequest } from './request.js';
import { NO_ANSWER, regValue, type Checked, type ForwardCallParams, type ForwardCallResult } from './protocol.js';

type Regs = Record<string, string>;

export interface AnswerTable {
  byId: Map<number, Regs>;
  /** Lower-case call names (PSCI_FEATURES, xen_version, ...). */
  byName: Map<string, Regs>;
  fallback?: Regs;
}

/** The JSON form: `{ "0x84000000": { "x0": "0x10001" }, "PSCI_FEATURES": { "x0": "0" }, "default": { "x0": "-1" } }`. */
export type AnswerTableJson = Record<string, Record<string, string | number>>;

export function parseAnswerTable(json: unknown, source = 'answer table'): Checked<AnswerTable> {
  const fail = (msg: string): Checked<AnswerTable> => ({ ok: false, error: `${source}: ${msg}` });
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail('must be a JSON object like { "0x84000000": { "x0": "0x10001" }, "default": { "x0": "-1" } }');
  }
  const table: AnswerTable = { byId: new Map(), byName: new Map() };
  for (const [key, regs] of Object.entries(json)) {
    if (typeof regs !== 'object' || regs === null || Array.isArray(regs) || Object.keys(regs).length === 0) {
      return fail(`"${key}" must map registers to values, e.g. { "x0": "0x0" }`);
    }
    const out: Regs = {};
    for (const [reg, v] of Object.entries(regs as Record<string, unknown>)) {
      const r = regValue(reg, v);
      if (!r.ok) return fail(`"${key}": ${r.error}`);
      out[reg] = r.value < 0n ? r.value.toString() : `0x${r.value.toString(16)}`;
    }
    if (key === 'default') table.fallback = out;
    else if (/^(0x[0-9a-f]+|\d+)$/i.test(key)) {
      const id = Number(key);
      if (id > 0xffffffff) return fail(`"${key}" is not a 32-bit function id`);
      table.byId.set(id, out);
    } else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) table.byName.set(key.toLowerCase(), out);
    else return fail(`"${key}" is neither a function id (0x84000000), a call name (PSCI_FEATURES) nor "default"`);
  }
  return { ok: true, value: table };
}

export function loadAnswerTable(path: string): Checked<AnswerTable> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, error: code === 'ENOENT' ? `${path}: answer table not found (check the --table path)` : `${path}: ${(e as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `${path}: not valid JSON (${(e as Error).message})` };
  }
  return parseAnswerTable(json, path);
}

export function lookupAnswer(table: AnswerTable, decoded: ForwardCallParams['decoded']): Regs | undefined {
  if (decoded.id !== undefined) {
    const id = Number.parseInt(decoded.id, 16);
    const byId = table.byId.get(id);
    if (byId) return byId;
  }
  return table.byName.get(decoded.name.toLowerCase()) ?? table.fallback;
}

export interface FirmwareStubOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  table: AnswerTable | AnswerTableJson;
  /** One line per call, e.g. `#3 cpu0 smc PSCI_VERSION 0x84000000 -> x0=0x10001`. */
  onCall?: (line: string) => void;
}

export interface FirmwareStub {
  host: string;
  port: number;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** Rejects when the table is invalid or the port cannot be bound. */
export async function startFirmwareStub(opts: FirmwareStubOptions): Promise<FirmwareStub> {
  const host = opts.host ?? '127.0.0.1';
  let table: AnswerTable;
  if (opts.table instanceof Object && 'byId' in opts.table && opts.table.byId instanceof Map) table = opts.table as AnswerTable;
  else {
    const parsed = parseAnswerTable(opts.table);
    if (!parsed.ok) throw new Error(parsed.error);
    table = parsed.value;
  }
  const live = new Map<Socket, MessageConnection>();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    live.set(socket, connection);
    const drop = (): void => {
      live.delete(socket);
      connection.dispose();
      socket.destroy();
    };
    socket.on('error', drop);
    socket.on('close', drop);
    connection.onError(drop);
    connection.onRequest(CallRequest, (params): ForwardCallResult | ResponseError<void> => {
      const d = params?.decoded;
      if (typeof d?.name !== 'string') {
        return new ResponseError(-32602, 'params.decoded.name is missing: see docs/forward-protocol.md');
      }
      const what = `#${params.seq} cpu${params.cpu} ${params.conduit} ${d.name}${d.id !== undefined ? ` ${d.id}` : ''}`;
      const regs = lookupAnswer(table, d);
      if (!regs) {
        opts.onCall?.(`${what} -> no answer`);
        return new ResponseError(NO_ANSWER, `no answer for ${d.name}${d.id !== undefined ? ` (${d.id})` : ''} in the table and no "default" entry`);
      }
      opts.onCall?.(`${what} -> ${Object.entries(regs).map(([r, v]) => `${r}=${v}`).join(' ')}`);
      return { regs };
    });
    connection.listen();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const [socket, connection] of live) {
          connection.dispose();
          socket.destroy();
        }
        live.clear();
        server.close(() => resolve());
      }),
  };
}

const USAGE = 'usage: trapdoor firmware-stub --listen PORT [--host HOST] --table answers.json';

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Stops the stub (besides SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

/**
 * `trapdoor firmware-stub --listen PORT [--host H] --table FILE`: serves until
 * SIGINT/SIGTERM (or io.signal) and resolves with the exit code.
 */
export async function runFirmwareStubCli(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const args = parseStubArgs(argv);
  if (!args.ok) {
    io.stderr.write(`firmware-stub: ${args.error}\n${USAGE}\n`);
    return 2;
  }
  if (args.value.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const table = loadAnswerTable(args.value.table);
  if (!table.ok) {
    io.stderr.write(`firmware-stub: ${table.error}\n`);
    return 1;
  }
  let stub: FirmwareStub;
  try {
    stub = await startFirmwareStub({
      port: args.value.port,
      host: args.value.host,
      table: table.value,
      onCall: (line) => io.stdout.write(`${line}\n`),
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EADDRINUSE' ? `port ${args.value.port} is already in use: pick another --listen port` : err.message;
    io.stderr.write(`firmware-stub: cannot listen on ${args.value.host}:${args.value.port}: ${why}\n`);
    return 1;
  }
  io.stdout.write(`firmware-stub listening on ${stub.host}:${stub.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop);
  });
  await stub.close();
  return 0;
}

function parseStubArgs(argv: string[]): Checked<{ port: number; host: string; table: string; help: boolean }> {
  let port: number | undefined;
  let host = '127.0.0.1';
  let table: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') return { ok: true, value: { port: 0, host, table: '', help: true } };
    const value = argv[i + 1];
    if (!['--listen', '--host', '--table'].includes(flag)) return { ok: false, error: `unknown argument '${flag}'` };
    if (value === undefined || value.startsWith('--')) return { ok: false, error: `${flag} needs a value` };
    i++;
    if (flag === '--table') table = value;
    else if (flag === '--host') host = value;
    else {
      // --listen PORT or --listen HOST:PORT
      const colon = value.lastIndexOf(':');
      if (colon >= 0) host = value.slice(0, colon).replace(/^\[|\]$/g, '');
      const text = value.slice(colon + 1);
      port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
      if (!(port >= 0 && port <= 65535)) return { ok: false, error: `--listen ${value}: the port must be a number 0 .. 65535` };
    }
  }
  if (port === undefined) return { ok: false, error: '--listen PORT is required' };
  if (table === undefined) return { ok: false, error: '--table FILE is required (a JSON object of function ids or names to registers)' };
  return { ok: true, value: { port, host, table, help: false } };
}
