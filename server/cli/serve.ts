// `trapdoor serve [IMAGE [run options]]`: the JSON-RPC service (server/rpc/) on
// stdio, a unix socket or TCP (optionally TLS). With an image, a session for it
// starts at once with `run`'s policy, platform and forward flags.
import { Session, prewarm } from '../session/session.js';
import { RpcService } from '../rpc/service.js';
import { listen, parseListen, isLoopback, type Listening } from '../rpc/listen.js';
import { readTokenFile } from '../rpc/tokens.js';
import { startWebServer, type WebServer } from '../rpc/web.js';
import { SESSION_FLAGS, parseGdbAddress, sessionOptionsFrom } from './run.js';
import { EXIT, UsageError, RunError } from './errors.js';
import { intOption, parseCommandLine, secondsOption, secondsOrOff } from './args.js';

export const SERVE_HELP = `Usage: trapdoor serve [IMAGE [run options]] [options]

Serves Trapdoor sessions over JSON-RPC 2.0 (Content-Length framing, as LSP):
every Session operation (cont, step, pause, readRegisters, readMemory, decide,
traps, addRule, console, ...) under its own name, plus auth, session/open,
session/list, session/attach, session/describe, session/close, traps/subscribe
and decode; live notifications trap, stop, running, decided, output and lagged
(docs/architecture.md).
With IMAGE, a session for it starts at once and runs as 'trapdoor run' would,
stopping where the policy asks (e.g. --on hvc=ask) until a client decides.

Where:
  --listen ADDR           stdio (the default without --web), unix:PATH, or HOST:PORT
                          (default host 127.0.0.1; port 0 picks one). A non-loopback
                          address needs --token-file.
  --token-file F          lines USER:TOKEN or USER:TOKEN:observer (tokens of 16+
                          characters, e.g. openssl rand -hex 24); the first request
                          of a connection must be auth {token}
  --tls-cert F --tls-key F
                          serve TLS with this certificate and key (PEM): the
                          JSON-RPC listener, and the web page over HTTPS
  --tls-ca F              require client certificates signed by this CA (PEM)
  --web HOST:PORT         also serve the web triage page there (default host
                          127.0.0.1): the live trap table, the pending trap with a
                          button per decision, the policy, the console output. With
                          --token-file it asks for a token (a login form, never in
                          the URL); a non-loopback address needs --token-file. With
                          --web and no --listen, only the page is served.
  --gdb HOST:PORT         with IMAGE: a gdb stub on the served session too (loopback
                          only), so gdb sees the same guest, traps and decisions as the
                          JSON-RPC clients; a trap gdb decides stays stopped until gdb
                          continues, another client's decision runs the guest on
Limits:
  --max-message BYTES     largest message (default 1M; memory reads are chunked to fit)
  --max-header BYTES      largest header block (default 8K)
  --max-in-flight N       requests in flight per connection; reading pauses past it (default 16)
  --max-queue BYTES       bytes waiting for a slow client before its live records are
                          dropped and counted in a 'lagged' notification (default 4M)
  --max-unauth N          connections waiting to authenticate, at most (default 16)
  --auth-timeout S        seconds a connection has to authenticate (default 10)
  --keepalive S           TCP keep-alive after S idle seconds (default 30; 0 off)
  --keep N                trap records kept per session for replay (default 10000)
  --decide-timeout S      a trap nobody decides in S seconds gets the policy default
                          (the record names 'decide-timeout' as its decider)
Session (with IMAGE): the options of 'trapdoor run' that make the session:
  --ram --load --entry --arch --uart --policy --on --default --platform --forward
  --forward-timeout --forward-fallback --trng-seed --soc-id --no-count

Examples:
  trapdoor serve examples/aarch64/smccc-tour.elf --on hvc=ask --listen 127.0.0.1:7000 --token-file tokens
  trapdoor triage --connect 127.0.0.1:7000 --token-file tokens
  trapdoor serve examples/aarch64/smccc-tour.elf --on hvc=ask --web 127.0.0.1:8080 --token-file tokens
                          (then open http://127.0.0.1:8080/ and log in with the token)
`;

const OPTIONS = {
  ...SESSION_FLAGS,
  listen: { type: 'string' },
  'token-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'max-message': { type: 'string' },
  'max-header': { type: 'string' },
  'max-in-flight': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-unauth': { type: 'string' },
  'auth-timeout': { type: 'string' },
  keepalive: { type: 'string' },
  keep: { type: 'string' },
  'decide-timeout': { type: 'string' },
  gdb: { type: 'string' },
  web: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** 1048576, 1M, 64K, 1MiB. */
export function byteSize(flag: string, text: string, min: number, max: number): number {
  const m = /^\s*(\d+)\s*([kKmMgG]?)(i?[bB])?\s*$/.exec(text);
  const n = m ? Number(m[1]) * ({ '': 1, k: 1024, m: 1 << 20, g: 1 << 30 } as Record<string, number>)[m[2].toLowerCase()] : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`bad ${flag} "${text}": expected a size from ${min} to ${max} bytes (e.g. 1M or 65536)`);
  return n;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseCommandLine('serve', argv, OPTIONS);
  if (o.help) { process.stdout.write(SERVE_HELP); return EXIT.OK; }
  if (positionals.length > 1) throw new UsageError(`one image at a time (got ${positionals.join(', ')})`);
  // with --web alone, no JSON-RPC listener (stdio would be the terminal)
  const at = o.listen === undefined && o.web !== undefined ? undefined : parseListen(o.listen ?? 'stdio');
  if (typeof at === 'string') throw new UsageError(`bad --listen: ${at}`);
  const webAt = o.web !== undefined ? parseListen(o.web) : undefined;
  if (webAt !== undefined && (typeof webAt === 'string' || webAt.kind !== 'tcp')) throw new UsageError(`bad --web "${o.web}": expected HOST:PORT (e.g. 127.0.0.1:8080; port 0 picks one)`);
  let tokens;
  if (o['token-file'] !== undefined) {
    const t = readTokenFile(o['token-file']);
    if (!t.ok) throw new UsageError(t.error);
    tokens = t.value;
  }
  if (webAt && !isLoopback(webAt.host) && !tokens) {
    throw new UsageError(`--web ${o.web}: not a loopback address, and there is no --token-file: anyone who reaches it could decide the guest's calls (give --token-file F, or serve the page on 127.0.0.1)`);
  }
  if (at?.kind === 'tcp' && !isLoopback(at.host) && !tokens) {
    throw new UsageError(`--listen ${o.listen}: not a loopback address, and there is no --token-file: anyone who reaches it could drive the guest (give --token-file F, or listen on 127.0.0.1)`);
  }
  if ((o['tls-cert'] === undefined) !== (o['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (o['tls-ca'] !== undefined && o['tls-cert'] === undefined) throw new UsageError('--tls-ca needs --tls-cert and --tls-key (it makes clients present certificates)');
  if (o['tls-cert'] !== undefined && at?.kind === 'stdio') throw new UsageError('TLS needs a socket: give --listen HOST:PORT or unix:PATH (or --web)');
  const limits = {
    maxMessage: o['max-message'] !== undefined ? byteSize('--max-message', o['max-message'], 4096, 1 << 30) : 1 << 20,
    maxHeader: o['max-header'] !== undefined ? byteSize('--max-header', o['max-header'], 64, 1 << 20) : 8 << 10,
    maxInFlight: o['max-in-flight'] !== undefined ? intOption('--max-in-flight', o['max-in-flight'], 1, 10000, 'a number of requests') : 16,
  };
  const gdbAt = o.gdb !== undefined ? parseGdbAddress(o.gdb) : undefined;
  if (gdbAt && !positionals.length) throw new UsageError('--gdb goes with an IMAGE: the stub serves the session started for it');
  const decideTimeout = o['decide-timeout'] !== undefined ? secondsOption('--decide-timeout', o['decide-timeout'], 24 * 3600) : undefined;
  const log = (line: string) => process.stderr.write(`trapdoor serve: ${line}\n`);
  let base;
  if (positionals.length) {
    prewarm();
    base = await sessionOptionsFrom(o, positionals[0]);
  }
  const svc = new RpcService({
    tokens, limits,
    maxQueue: o['max-queue'] !== undefined ? byteSize('--max-queue', o['max-queue'], 64 << 10, 1 << 30) : 4 << 20,
    maxUnauthenticated: o['max-unauth'] !== undefined ? intOption('--max-unauth', o['max-unauth'], 1, 10000, 'a number of connections') : 16,
    authTimeout: o['auth-timeout'] !== undefined ? secondsOption('--auth-timeout', o['auth-timeout'], 3600) : 10,
    keep: o.keep !== undefined ? intOption('--keep', o.keep, 1, 10_000_000, 'a number of records') : 10000,
    decideTimeout,
    sessionDefaults: base ? { ram: base.ram, uart: base.uart, forward: base.forward, firmware: base.firmware, countBlocks: base.countBlocks } : undefined,
    log,
  });
  const keepAlive = o.keepalive !== undefined ? secondsOrOff('--keepalive', o.keepalive) : 30;
  const tlsFiles = o['tls-cert'] ? { cert: o['tls-cert'], key: o['tls-key']!, ca: o['tls-ca'] } : undefined;
  let server: Listening | undefined;
  let web: WebServer | undefined;
  try {
    if (at) server = await listen(svc, at, { keepAlive, tls: tlsFiles });
    if (webAt) web = await startWebServer(svc, { host: webAt.host, port: webAt.port, log, tls: tlsFiles });
  } catch (e) {
    await server?.close();
    throw new UsageError((e as Error).message);
  }
  let gdb: { port: number; close(): Promise<void> } | undefined;
  if (base) {
    const opened = await Session.open({ ...base, interactive: true, subscribe: true });
    if (!opened.ok) { await server?.close(); await web?.close(); throw new RunError(opened.error); }
    const host = svc.addSession(opened.value, positionals[0]);
    log(`session ${host.id}: ${positionals[0]}`);
    if (gdbAt) {
      const { startGdbServer } = await import('../../gdbstub/index.js');
      try {
        // a trap gdb decides stays stopped until gdb continues it, as gdb believes (as with
        // `trapdoor run --gdb`); anyone else's decision runs the guest on
        gdb = await startGdbServer(opened.value, {
          host: gdbAt.host, port: gdbAt.port, log: (l) => log(`gdb: ${l}`),
          onAttach: (c) => host.hold(c), onLeave: (c) => host.release(c),
        });
      } catch (e) {
        await server?.close();
        await web?.close();
        await svc.close();
        throw new UsageError((e as Error).message);
      }
      log(`gdb stub for session ${host.id} on ${gdbAt.host}:${gdb.port}: gdb-multiarch ${positionals[0]} -ex 'target remote ${gdbAt.host}:${gdb.port}'`);
    }
  }
  if (server) log(`listening on ${server.address}${o['tls-cert'] ? ' (TLS)' : ''}${tokens ? '' : ' (no token needed)'}`);
  if (web) log(`web triage page on ${web.scheme}://${web.address}/${tokens ? ' (log in with a token of the token file)' : ' (no token needed)'}`);
  const stop = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    void server?.done?.then(() => resolve('end of input'));
  });
  const why = await stop;
  log(`stopping (${why})`);
  await gdb?.close();
  await web?.close();
  await server?.close();
  await svc.close();
  return EXIT.OK;
}
