// The web triage page of `trapdoor serve --web HOST:PORT`: node:http, the page's
// three files (web/), and a small JSON API over the service's own sessions
// (SessionHost), so a decision made in a browser is the same first-decision-wins
// decision a JSON-RPC client makes (a Client of the session, named for the web
// user), and RPC clients hear its `decided` notification.
//
// Live updates are Server-Sent Events (web-events.ts); each trap record's event
// has `id:` = its seq, so a browser that reconnects (Last-Event-ID) resumes from
// the next record, replayed from the kept ones (older than kept: a `missed` event,
// then on); a slow reader never makes the server buffer without limit.
//
// Security: the service's token (a login form POSTs it, compared in constant time
// by checkToken; the answer is a random session cookie, HttpOnly, SameSite=Strict),
// never in a URL. Every request's Host must name the listening address (DNS
// rebinding); every POST must carry this page's Origin, and the events stream
// refuses another origin. Every response carries a strict Content-Security-Policy
// (no inline script or style, no eval) and nosniff. Request bodies are limited.
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RpcService } from './service.js';
import type { SessionHost } from './host.js';
import { isLoopback, tlsOptions, type TlsFiles } from './listen.js';
import { checkToken, type Role } from './tokens.js';
import { trapCells } from '../session/render.js';
import type { DecisionParams } from '../session/contract.js';
import { EventStream, HostView, pendingData } from './web-events.js';
import type { Client } from '../session/session.js';

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
export const COOKIE = 'trapdoor_web';

export interface WebOptions {
  host: string;
  port: number;
  /** Largest request body (default 16 KiB). */
  maxBody?: number;
  /** Bytes waiting for one events reader before its records wait and its output is dropped (default 256 KiB). */
  maxQueue?: number;
  /** Console output kept per session for a page that opens later (default 64 KiB). */
  keepOutput?: number;
  /** Events streams open at once, at most (default 64). */
  maxStreams?: number;
  /** Serve the page over HTTPS with serve's --tls-cert/--tls-key (--tls-ca: browsers must present a certificate). */
  tls?: TlsFiles;
  log?: (line: string) => void;
}

export interface WebServer {
  /** `127.0.0.1:8080`. */
  address: string;
  /** `http` or `https` (with --tls-cert). */
  scheme: 'http' | 'https';
  port: number;
  close(): Promise<void>;
}

const ACTIONS = ['emulate', 'forward', 'undef', 'return', 'skip'] as const;
/** Login sessions kept at once (the oldest goes first), and for how long. */
const MAX_LOGINS = 1000;
const LOGIN_TTL_MS = 12 * 3600_000;

/** The page's files, from web/ beside server/ (source) or beside dist/ (built). */
function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const dir = path.resolve(here, up, 'web');
    try {
      const files: [string, string, string][] = [['/', 'index.html', 'text/html; charset=utf-8'], ['/app.js', 'app.js', 'text/javascript; charset=utf-8'], ['/app.css', 'app.css', 'text/css; charset=utf-8']];
      return new Map(files.map(([url, f, type]) => [url, { type, body: readFileSync(path.join(dir, f)) }]));
    } catch { /* not here: the next level up */ }
  }
  throw new Error('the web page files (web/index.html, app.js, app.css) are missing from the trapdoor package');
}

/** A client error: its HTTP status and a message for people. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly data: Record<string, unknown> = {}) { super(message); }
}

interface Login { user: string | undefined; role: Role; name: string; expires: number }

/** What the page sees of a request's user: from its login cookie, or (no token file) its address. */
interface Who { name: string; user: string | undefined; role: Role }

export async function startWebServer(svc: RpcService, opts: WebOptions): Promise<WebServer> {
  if (!isLoopback(opts.host) && !svc.needsToken) {
    throw new Error(`--web ${opts.host}:${opts.port} is not a loopback address: give --token-file F so that people must log in (or serve the page on 127.0.0.1 and reach it through an SSH tunnel)`);
  }
  const assets = loadAssets();
  const tlsOpts = opts.tls ? tlsOptions(opts.tls) : undefined;
  const scheme = tlsOpts ? 'https' : 'http';
  // over HTTPS the login cookie is never sent in the clear
  const secure = tlsOpts ? '; Secure' : '';
  const log = opts.log ?? svc.log;
  const maxBody = opts.maxBody ?? 16 << 10;
  const maxQueue = opts.maxQueue ?? 256 << 10;
  const maxStreams = opts.maxStreams ?? 64;
  const views = new Map<string, HostView>();
  const logins = new Map<string, Login>();
  let streams = 0;

  const follow = (h: SessionHost) => {
    if (views.has(h.id)) return;
    const v = new HostView(h, opts.keepOutput ?? 64 << 10, () => views.delete(h.id));
    views.set(h.id, v);
    // a session served before the page started: its pending trap
    if (h.pendingSeq !== undefined) void h.session.pendingTrap().then((p) => { if (p.ok && p.value && !v.pending) v.pending = p.value; });
  };
  for (const h of svc.hosts.values()) follow(h);
  svc.onSession.push(follow);

  // ---------------------------------------------------------------- who asks
  const peerOf = (req: http.IncomingMessage) => (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
  const cookieOf = (req: http.IncomingMessage): string | undefined => {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === COOKIE) return v.join('=');
    }
    return undefined;
  };
  const who = (req: http.IncomingMessage): Who | undefined => {
    if (!svc.needsToken) return { name: `web ${peerOf(req)}`, user: undefined, role: 'decider' };
    const c = cookieOf(req);
    const l = c ? logins.get(c) : undefined;
    if (!l) return undefined;
    if (l.expires < Date.now()) { logins.delete(c!); return undefined; }
    return l;
  };
  const needWho = (req: http.IncomingMessage): Who => {
    const w = who(req);
    if (!w) throw new HttpError(401, 'log in first: this service asks for a token');
    return w;
  };
  const needDecider = (w: Who, what: string) => {
    if (w.role !== 'decider') throw new HttpError(403, `${w.name} is an observer: ${what} needs a decider's token`);
  };

  // ---------------------------------------------------------------- Host and Origin
  const allowedHosts = new Set<string>();
  const hostPort = (h: string, port: number) => `${h.includes(':') ? `[${h}]` : h}:${port}`.toLowerCase();
  const allowHosts = (port: number) => {
    const names = new Set<string>([opts.host]);
    if (isLoopback(opts.host)) for (const n of ['localhost', '127.0.0.1', '::1']) names.add(n);
    if (opts.host === '0.0.0.0' || opts.host === '::') {
      names.add(os.hostname());
      for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) names.add(a.address);
    }
    for (const n of names) {
      allowedHosts.add(hostPort(n, port));
      if (port === (tlsOpts ? 443 : 80)) allowedHosts.add((n.includes(':') ? `[${n}]` : n).toLowerCase()); // a browser leaves out the default port
    }
  };
  const checkHost = (req: http.IncomingMessage) => {
    const h = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts.has(h)) throw new HttpError(421, `Host '${h.slice(0, 80)}' is not this server's address (open the page as http://${[...allowedHosts][0]}/)`);
  };
  const sameOrigin = (req: http.IncomingMessage) => req.headers.origin === `${scheme}://${req.headers.host}`;
  const checkOrigin = (req: http.IncomingMessage, required: boolean) => {
    const origin = req.headers.origin;
    if (origin === undefined) {
      if (required) throw new HttpError(403, 'a request that changes something must come from this page (no Origin header)');
      const site = req.headers['sec-fetch-site'];
      if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, `cross-site request refused (${site})`);
      return;
    }
    if (!sameOrigin(req)) throw new HttpError(403, `Origin '${String(origin).slice(0, 80)}' is not this page's: refused`);
  };

  // ---------------------------------------------------------------- bodies and answers
  const readJson = (req: http.IncomingMessage): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') { reject(new HttpError(415, 'send the body as application/json')); return; }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) { reject(new HttpError(413, `the body is over ${maxBody} bytes`)); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) { reject(new HttpError(413, `the body is over ${maxBody} bytes`)); req.removeAllListeners('data'); req.resume(); return; }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'the body is not a JSON object'));
      }
    });
    req.on('error', reject);
  });

  const headers = (type: string, extra: http.OutgoingHttpHeaders = {}): http.OutgoingHttpHeaders => ({
    'Content-Type': type, 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY', 'Cache-Control': 'no-store', ...extra,
  });
  const json = (res: http.ServerResponse, status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, headers('application/json; charset=utf-8', { 'Content-Length': Buffer.byteLength(text), ...extra }));
    res.end(text);
  };

  const viewOf = (id: unknown): HostView => {
    const sid = id === undefined || id === null || id === '' ? (svc.hosts.size ? [...svc.hosts.keys()][0] : undefined) : String(id);
    if (sid === undefined) throw new HttpError(404, 'no session is served yet: open one (trapdoor serve IMAGE, or session/open over JSON-RPC)');
    const h = svc.hosts.get(sid);
    if (!h) throw new HttpError(404, `no session '${sid.slice(0, 40)}'`);
    follow(h);
    return views.get(sid)!;
  };

  /** A Client of the session named for the web user, for one request. */
  const withClient = async <T>(v: HostView, w: Who, fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = v.host.session.connect(w.name);
    try { return await fn(c); } finally { await c.close(); }
  };

  const failure = (f: { code: string; error: string }): HttpError =>
    new HttpError(f.code === 'invalid' || f.code === 'no-register' || f.code === 'not-found' ? 400 : f.code === 'internal' || f.code === 'io' ? 500 : 409, f.error, { code: f.code });

  // ---------------------------------------------------------------- routes
  const meOf = (w: Who) => ({
    name: w.name, user: w.user, role: w.role,
    sessions: [...svc.hosts.values()].map((h) => h.info()),
  });

  const login = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = await readJson(req);
    if (!svc.needsToken) { json(res, 200, meOf(who(req)!)); return; }
    const e = checkToken(svc.opts.tokens!, body.token);
    if (!e) { log(`web ${peerOf(req)}: refused: bad token`); throw new HttpError(401, 'the token is not valid'); }
    const role: Role = e.role === 'observer' || body.role === 'observer' ? 'observer' : 'decider';
    const id = randomBytes(32).toString('base64url');
    if (logins.size >= MAX_LOGINS) logins.delete(logins.keys().next().value!);
    const l: Login = { user: e.user, role, name: `${e.user} (web ${peerOf(req)})`, expires: Date.now() + LOGIN_TTL_MS };
    logins.set(id, l);
    log(`${l.name}: logged in as ${role}`);
    json(res, 200, meOf(l), { 'Set-Cookie': `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${LOGIN_TTL_MS / 1000}${secure}` });
  };

  const events = async (req: http.IncomingMessage, res: http.ServerResponse, url: { searchParams: URLSearchParams }) => {
    const w = needWho(req);
    const v = viewOf(url.searchParams.get('session'));
    if (streams >= maxStreams) throw new HttpError(429, `too many pages follow this service (${maxStreams}); close one and reload`);
    const host = v.host;
    const policy = await v.refreshPolicy();
    // a reconnect: from the record after the last one it got; a first visit: every kept record
    const last = Number(req.headers['last-event-id']);
    let from = Number.isInteger(last) && last >= 0 ? last + 1 : host.oldestKept;
    if (from > host.lastSeq + 1) from = host.oldestKept; // another session's numbers (the server restarted)
    res.writeHead(200, headers('text/event-stream; charset=utf-8', { Connection: 'keep-alive', 'X-Accel-Buffering': 'no' }));
    res.write('retry: 2000\n\n');
    const s = new EventStream(v, res, from, maxQueue);
    streams++;
    res.on('close', () => { streams--; });
    res.write(`event: hello\ndata: ${JSON.stringify({
      session: host.info(), you: { name: w.name, user: w.user, role: w.role },
      forward: !!host.session.options.forward, arch: host.session.arch,
      policy, output: v.output, pending: v.pending ? pendingData(v.pending) : null,
      ended: v.ended ? { reason: v.ended.reason, message: v.ended.message ?? v.ended.reason } : null,
    })}\n\n`);
    v.streams.add(s);
    host.attached.set(s, { name: w.name, role: w.role });
    s.pump();
  };

  const decide = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const w = needWho(req);
    const body = await readJson(req);
    needDecider(w, 'deciding a trap');
    const v = viewOf(body.session);
    const seq = body.seq;
    if (!Number.isInteger(seq) || (seq as number) < 1) throw new HttpError(400, 'seq: the number of the trap to decide');
    const action = body.action;
    if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) throw new HttpError(400, `action: one of ${ACTIONS.join(', ')}`);
    if (action === 'forward' && !v.host.session.options.forward) throw new HttpError(400, 'forward needs a firmware endpoint: this session has no --forward');
    let values: Record<string, string> | undefined;
    if (action === 'return') {
      const raw = body.values;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HttpError(400, 'values: the registers to return, e.g. {"x0": "0x0"}');
      const entries = Object.entries(raw as Record<string, unknown>);
      if (!entries.length || entries.length > 32) throw new HttpError(400, 'values: give 1 to 32 registers');
      for (const [k, x] of entries) if (typeof x !== 'string' || !/^[a-z][a-z0-9]{0,5}$/i.test(k) || x.length > 40) throw new HttpError(400, `values: ${k.slice(0, 20)} needs a number in text, e.g. "0x0" or "-1"`);
      values = Object.fromEntries(entries) as Record<string, string>;
    }
    const decidedAlready = () => {
      const rec = v.host.decidedRecord(seq);
      if (rec) throw new HttpError(409, `trap #${seq} was already decided by ${rec.client ?? rec.by}`, { code: 'conflict', decidedBy: rec.client ?? rec.by });
    };
    decidedAlready();
    const decision: DecisionParams = { action: action as DecisionParams['action'], values };
    const r = await withClient(v, w, (c) => c.decide({ decision, seq: seq as number }));
    if (!r.ok) { decidedAlready(); throw failure(r); }
    log(`${w.name}: trap #${seq}: ${action}`);
    json(res, 200, { record: r.value, cells: trapCells(r.value) });
  };

  const policy = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const w = needWho(req);
    const body = await readJson(req);
    needDecider(w, 'changing the policy');
    const v = viewOf(body.session);
    if (body.op === 'add') {
      if (typeof body.rule !== 'string' || !body.rule.trim() || body.rule.length > 500) throw new HttpError(400, 'rule: MATCH=ACTION as --on takes it, e.g. hvc=ask or owner:sip=undef');
      const r = await withClient(v, w, (c) => c.addRule({ rule: body.rule as string, idPrefix: 'web' }));
      if (!r.ok) throw failure(r);
    } else if (body.op === 'remove') {
      if (typeof body.id !== 'string' || !body.id) throw new HttpError(400, 'id: the id of the rule to remove');
      const r = await withClient(v, w, (c) => c.removeRule({ id: body.id as string }));
      if (!r.ok) throw failure(r);
    } else throw new HttpError(400, "op: 'add' (with rule) or 'remove' (with id)");
    log(`${w.name}: policy ${body.op} ${String(body.rule ?? body.id)}`);
    json(res, 200, await v.refreshPolicy());
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    checkHost(req);
    // the path and query as sent (never resolved against anything)
    const [pathname, query = ''] = (req.url ?? '/').split('?', 2);
    const url = { pathname, searchParams: new URLSearchParams(query) };
    const route = `${req.method} ${pathname}`;
    if (req.method === 'POST') checkOrigin(req, true);
    switch (route) {
      case 'GET /': case 'GET /index.html': case 'GET /app.js': case 'GET /app.css': {
        const a = assets.get(url.pathname === '/index.html' ? '/' : url.pathname)!;
        res.writeHead(200, headers(a.type, { 'Content-Length': a.body.length }));
        res.end(a.body);
        return;
      }
      case 'GET /favicon.ico': res.writeHead(204, headers('image/x-icon')); res.end(); return;
      case 'GET /api/me': {
        const w = who(req);
        if (!w) { json(res, 401, { error: 'log in first: this service asks for a token', login: true }); return; }
        json(res, 200, meOf(w));
        return;
      }
      case 'GET /api/events': checkOrigin(req, false); await events(req, res, url); return;
      case 'POST /api/login': await login(req, res); return;
      case 'POST /api/logout': {
        const c = cookieOf(req);
        if (c) logins.delete(c);
        json(res, 200, { ok: true }, { 'Set-Cookie': `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure}` });
        return;
      }
      case 'POST /api/decide': await decide(req, res); return;
      case 'POST /api/policy': await policy(req, res); return;
    }
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') throw new HttpError(405, `${String(req.method).slice(0, 10)} is not served here`);
    throw new HttpError(404, `nothing at ${url.pathname.slice(0, 80)}`);
  };

  const serverOpts = { maxHeaderSize: 16 << 10, requestTimeout: 30_000, headersTimeout: 15_000 };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) { res.destroy(); return; }
      if (e instanceof HttpError) { json(res, e.status, { error: e.message, ...e.data }, e.status === 413 ? { Connection: 'close' } : {}); return; }
      log(`web: ${req.method} ${String(req.url).slice(0, 80)}: internal error: ${(e as Error).stack ?? e}`);
      json(res, 500, { error: `internal error: ${(e as Error).message}` });
    });
  };
  const server = tlsOpts ? https.createServer({ ...serverOpts, ...tlsOpts }, onRequest) : http.createServer(serverOpts, onRequest);
  if (tlsOpts) server.on('tlsClientError', (e) => log(`web: a browser failed the TLS handshake: ${e.message}`));
  server.maxConnections = 256;
  server.on('clientError', (_e, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); else socket.destroy(); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'EADDRINUSE' ? `--web ${opts.host}:${opts.port} is already in use (pick another, or port 0 for any)` : `cannot serve the web page on ${opts.host}:${opts.port}: ${e.message}`)));
    server.listen(opts.port, opts.host, () => resolve());
  });
  server.on('error', (e) => log(`web: server error: ${e.message}`));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : opts.port;
  allowHosts(port);
  return {
    address: hostPort(opts.host, port), port, scheme,
    close: async () => {
      const i = svc.onSession.indexOf(follow);
      if (i >= 0) svc.onSession.splice(i, 1);
      for (const v of views.values()) { for (const s of [...v.streams]) s.end(); v.dispose(); }
      views.clear();
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
    },
  };
}
