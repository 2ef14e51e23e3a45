// The web triage page (trapdoor serve --web): in headless Chromium driven by
// playwright-core (the page logs in, shows a trap, a click decides it, an edited
// return value is applied, a screenshot is written), and over plain HTTP for what
// a browser would never send: wrong tokens, Hosts and Origins, an observer's
// decision, bad bodies, reconnecting events streams, a reader that does not read.
import { describe, it, expect, afterEach, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';
import { policy } from './helpers/sessions.js';
import { serviceFixture, clientsFixture, TOKENS, TOKEN_FILE_TEXT, GUEST } from './helpers/rpc.js';
import { trapdoorAsync, startServe } from './helpers/cli.js';
import { startWebServer, CSP, type WebOptions, type WebServer } from '../server/rpc/web.js';
import type { TrapRecord } from '../server/session/trap-record.js';

const serve = serviceFixture();
const client = clientsFixture();
const webs: WebServer[] = [];
afterEach(async () => { while (webs.length) await webs.pop()!.close(); });
const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) c.kill('SIGTERM'); });

const tour = assemble('aarch64', readFileSync(path.join(ROOT, 'examples/aarch64/smccc-tour.S'), 'utf8'), 'web-tour');
const asks = assemble('aarch64', GUEST.asks, 'web-asks');
const many = assemble('aarch64', GUEST.many, 'web-many');
const STORM = 50000;
const storm = assemble('aarch64', `.global _start\n_start:
  ldr x0, =0x86000001\n  hvc #0
  ldr x19, =${STORM}
1:ldr x0, =0x84000000\n  smc #0
  subs x19, x19, #1\n  b.ne 1b
  ldr x0, =0x86000001\n  hvc #0
  ldr x0, =0x84000008\n  smc #0\n`, 'web-storm');

/** The service with sessions on `image`, and its web page on loopback. */
async function served(image: string, pol = policy('hvc=ask'), opts: Parameters<typeof serve>[2] = {}, web: Partial<WebOptions> = {}) {
  const s = await serve(image, pol, opts);
  const w = await startWebServer(s.svc, { host: '127.0.0.1', port: 0, ...web });
  webs.push(w);
  return { ...s, web: w, origin: `http://127.0.0.1:${w.port}` };
}

interface Answer { status: number; headers: http.IncomingHttpHeaders; text: string; json: any } // eslint-disable-line @typescript-eslint/no-explicit-any

/** One HTTP request with exactly these headers (node:http sets Host from the address unless given). */
function request(port: number, method: string, url: string, o: { headers?: Record<string, string>; body?: string | object } = {}): Promise<Answer> {
  const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, headers: { ...(body !== undefined && typeof o.body === 'object' ? { 'Content-Type': 'application/json' } : {}), ...o.headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Logs in with a token; the session cookie the server answered with. */
async function login(port: number, token: string): Promise<string> {
  const r = await request(port, 'POST', '/api/login', { headers: { Origin: `http://127.0.0.1:${port}` }, body: { token } });
  expect(r.status).toBe(200);
  const cookie = String(r.headers['set-cookie']);
  expect(cookie).toMatch(/HttpOnly/);
  expect(cookie).toMatch(/SameSite=Strict/);
  return cookie.split(';')[0];
}

interface SseEvent { event: string; id?: string; data: any } // eslint-disable-line @typescript-eslint/no-explicit-any

/** An events stream over a raw socket (so a test can stop reading it): its events as they are parsed. */
function events(port: number, headers: Record<string, string>) {
  const socket = net.connect(port, '127.0.0.1');
  const got: SseEvent[] = [];
  let head: string | undefined;
  let buf = '';
  let wake: (() => void) | undefined;
  socket.setEncoding('utf8');
  socket.on('connect', () => {
    // HTTP/1.0: the answer comes unchunked, the events as they are written
    socket.write(`GET /api/events HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  });
  socket.on('data', (d: string) => {
    buf += d;
    if (head === undefined) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      head = buf.slice(0, end);
      buf = buf.slice(end + 4);
    }
    for (;;) {
      const end = buf.indexOf('\n\n');
      if (end < 0) break;
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const ev: SseEvent = { event: 'message', data: undefined };
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) ev.event = line.slice(7);
        else if (line.startsWith('id: ')) ev.id = line.slice(4);
        else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
      }
      if (ev.data !== undefined) got.push(ev);
    }
    wake?.();
  });
  socket.on('error', () => undefined);
  return {
    socket, got,
    head: () => head,
    async until(pred: (got: SseEvent[]) => boolean, ms = 60_000) {
      const end = Date.now() + ms;
      while (!pred(got)) {
        if (Date.now() > end) throw new Error(`events: not there in ${ms} ms; got ${JSON.stringify(got.map((e) => [e.event, e.id])).slice(0, 600)} (head ${head})`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, 250); });
      }
      return got;
    },
    close() { socket.destroy(); },
  };
}

const tokenFile = path.join(scratchDir(), 'web-tokens');
writeFileSync(tokenFile, TOKEN_FILE_TEXT);

/** `trapdoor serve ... --listen 127.0.0.1:0 --web 127.0.0.1:0` as a user starts it: its two ports. */
const serveBoth = (args: string[]) => startServe(args, children, ['rpc', 'web']);

describe('the web triage page in Chromium', () => {
  it('logs in with the token, shows the pending trap (an observer without buttons), a click decides it and an edited return value is applied', async () => {
    const at = await serveBoth([tour, '--on', 'hvc=ask', '--listen', '127.0.0.1:0', '--web', '127.0.0.1:0', '--token-file', tokenFile]);
    // alice follows over JSON-RPC; bob decides in the browser
    const alice = await client(at.rpc, TOKENS.alice);
    await alice.conn.sendRequest('traps/subscribe', { from: 1 });
    const profile = mkdtempSync(path.join(scratchDir(), 'chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 860 }, timeout: 60_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = browser.pages()[0] ?? await browser.newPage();
      page.setDefaultTimeout(60_000);
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('console', (m) => { if (/Content.Security.Policy|Refused/i.test(m.text())) problems.push(m.text()); });
      await page.goto(`http://127.0.0.1:${at.web}/`);
      // eve's token is an observer's: she sees the pending trap, without decision buttons
      await page.locator('#login').waitFor({ state: 'visible' });
      await page.fill('#token', TOKENS.eve);
      await page.click('#login-form button[type=submit]');
      await expect.poll(() => page.textContent('#pending-record'), { timeout: 60_000 }).toMatch(/^Trap #3: HVC/);
      expect(await page.textContent('#who')).toBe('eve (web 127.0.0.1) · observer');
      expect(await page.isVisible('#decide')).toBe(false);
      expect(await page.isVisible('#observer-note')).toBe(true);
      expect(await page.isVisible('#rule-form')).toBe(false);
      await page.click('#logout');
      await page.locator('#login').waitFor({ state: 'visible' });
      await page.fill('#token', TOKENS.bob);
      await page.click('#login-form button[type=submit]');
      await expect.poll(() => page.textContent('#who'), { timeout: 60_000 }).toContain('bob (web 127.0.0.1) · decider');

      // the tour's first hvc: SMCCC_ARCH_FEATURES, trap #3, waits; the two before are in the table
      await expect.poll(() => page.textContent('#pending-record'), { timeout: 60_000 }).toMatch(/^Trap #3: HVC #0x0 .*\n {2}call: {5}SMCCC ARCH_FEATURES/);
      expect(await page.locator('#traps tbody tr').count()).toBe(2);
      expect(await page.isVisible('#forward-button')).toBe(false); // no --forward endpoint
      await page.click('#decide button[data-action=emulate]');
      const decided = await alice.wait<{ seq: number; by: string }>('decided', (n) => n.seq === 3, 60_000);
      expect(decided.by).toBe('bob (web 127.0.0.1)');
      const row3 = page.locator('#traps tbody tr[data-seq="3"]');
      await expect.poll(() => row3.locator('td.by').textContent(), { timeout: 60_000 }).toBe('bob (web 127.0.0.1)');
      expect(await row3.locator('td.decision').textContent()).toBe('emulate (bob)');
      expect(await row3.locator('td.call').textContent()).toBe('ARCH_FEATURES');

      // the next ask: xen_version; x0 edited to 0x77 before Return
      await expect.poll(() => page.textContent('#pending-record'), { timeout: 60_000 }).toMatch(/HVC #0xea1 .*\n {2}call: {5}.*xen_version/);
      const seq = Number(/^Trap #(\d+)/.exec((await page.textContent('#pending-record'))!)![1]);
      await page.fill('#ret-x0', '0x77');
      await expect.poll(() => page.textContent('#console'), { timeout: 60_000 }).toMatch(/SMCCC_ARCH_FEATURES\(ARCH_WORKAROUND_1\) \[hvc\] -> /);
      mkdirSync(path.join(ROOT, 'build'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'build/web-triage.png'), fullPage: true });
      expect(statSync(path.join(ROOT, 'build/web-triage.png')).size).toBeGreaterThan(10_000);
      await page.click('#return-form button[type=submit]');
      const rec = (await alice.wait('trap', (n: { record: TrapRecord }) => n.record.seq === seq, 60_000)).record as TrapRecord;
      expect(rec).toMatchObject({ decision: 'return', by: 'user', client: 'bob (web 127.0.0.1)', result: { regs: { x0: '0x77' } } });
      // the guest got it: it prints what the call answered
      await expect.poll(() => page.textContent('#console'), { timeout: 60_000 }).toMatch(/xen_version \[hvc #0xea1\] -> 0x77/);
      const row = page.locator(`#traps tbody tr[data-seq="${seq}"]`);
      await expect.poll(() => row.locator('td.result').textContent(), { timeout: 60_000 }).toBe('x0=0x77');
      expect(await row.locator('td.by').textContent()).toBe('bob (web 127.0.0.1)');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('the web triage page over HTTP', () => {
  it('refuses a wrong token, and answers nothing but the login to a request without a login', async () => {
    const { web, origin } = await served(asks);
    const bad = await request(web.port, 'POST', '/api/login', { headers: { Origin: origin }, body: { token: TOKENS.alice + 'x' } });
    expect(bad.status).toBe(401);
    expect(bad.json.error).toBe('the token is not valid');
    expect(bad.headers['set-cookie']).toBeUndefined();
    expect((await request(web.port, 'GET', '/api/me')).status).toBe(401);
    const forged = { Cookie: 'trapdoor_web=' + 'A'.repeat(43), Origin: origin };
    expect((await request(web.port, 'GET', '/api/events', { headers: forged })).status).toBe(401);
    const d = await request(web.port, 'POST', '/api/decide', { headers: forged, body: { seq: 2, action: 'emulate' } });
    expect(d.status).toBe(401);
    expect(d.json.error).toMatch(/log in first/);
    // the right token: a cookie that opens the API
    const cookie = await login(web.port, TOKENS.alice);
    const me = await request(web.port, 'GET', '/api/me', { headers: { Cookie: cookie } });
    expect(me.json).toMatchObject({ name: 'alice (web 127.0.0.1)', user: 'alice', role: 'decider', sessions: [{ id: '1' }] });
  });

  it('refuses a Host that is not its address (DNS rebinding)', async () => {
    const { web } = await served(asks);
    const r = await request(web.port, 'GET', '/', { headers: { Host: `attacker.example:${web.port}` } });
    expect(r.status).toBe(421);
    expect(r.json.error).toMatch(/Host 'attacker\.example:\d+' is not this server's address/);
    expect((await request(web.port, 'POST', '/api/login', { headers: { Host: `attacker.example:${web.port}`, Origin: `http://attacker.example:${web.port}` }, body: { token: TOKENS.alice } })).status).toBe(421);
    expect((await request(web.port, 'GET', '/', { headers: { Host: `127.0.0.1:${web.port + 1}` } })).status).toBe(421);
    // loopback's other names are this address too
    expect((await request(web.port, 'GET', '/', { headers: { Host: `localhost:${web.port}` } })).status).toBe(200);
  });

  it('refuses a POST from another origin or without one, and an events stream for another origin; the trap stays pending', async () => {
    const { svc, port, web, origin } = await served(asks);
    const alice = await client(port, TOKENS.alice);
    const cookie = await login(web.port, TOKENS.bob);
    const pending = await waitPending(svc);
    const evil = await request(web.port, 'POST', '/api/decide', { headers: { Cookie: cookie, Origin: 'http://attacker.example' }, body: { seq: pending, action: 'emulate' } });
    expect(evil.status).toBe(403);
    expect(evil.json.error).toMatch(/Origin 'http:\/\/attacker\.example' is not this page's/);
    const none = await request(web.port, 'POST', '/api/decide', { headers: { Cookie: cookie }, body: { seq: pending, action: 'emulate' } });
    expect(none.status).toBe(403);
    expect(none.json.error).toMatch(/no Origin header/);
    expect((await request(web.port, 'POST', '/api/login', { headers: { Origin: 'http://attacker.example' }, body: { token: TOKENS.bob } })).status).toBe(403);
    expect((await request(web.port, 'GET', '/api/events', { headers: { Cookie: cookie, Origin: 'http://attacker.example' } })).status).toBe(403);
    expect((await request(web.port, 'GET', '/api/events', { headers: { Cookie: cookie, 'Sec-Fetch-Site': 'cross-site' } })).status).toBe(403);
    expect((await alice.conn.sendRequest<TrapRecord>('pendingTrap', {})).seq).toBe(pending);
    // from the page's own origin it decides, and the RPC client hears who
    const ok = await request(web.port, 'POST', '/api/decide', { headers: { Cookie: cookie, Origin: origin }, body: { seq: pending, action: 'emulate' } });
    expect(ok.status).toBe(200);
    expect(ok.json.cells).toMatchObject({ seq: pending, decision: 'emulate (bob)', by: 'bob (web 127.0.0.1)' });
    expect(await alice.wait('decided', (n: { seq: number }) => n.seq === pending)).toMatchObject({ by: 'bob (web 127.0.0.1)' });
    // second decision of the same trap: the first won, and says whose it was
    const late = await request(web.port, 'POST', '/api/decide', { headers: { Cookie: cookie, Origin: origin }, body: { seq: pending, action: 'undef' } });
    expect(late.status).toBe(409);
    expect(late.json).toMatchObject({ error: `trap #${pending} was already decided by bob (web 127.0.0.1)`, decidedBy: 'bob (web 127.0.0.1)' });
  });

  it('every answer has the strict Content-Security-Policy and nosniff; the page has no inline script or style', async () => {
    const { web } = await served(asks);
    for (const url of ['/', '/app.js', '/app.css', '/api/me', '/nothing-here']) {
      const r = await request(web.port, 'GET', url);
      expect(r.headers['content-security-policy'], url).toBe(CSP);
      expect(r.headers['x-content-type-options'], url).toBe('nosniff');
    }
    expect(CSP).toBe("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    const html = (await request(web.port, 'GET', '/')).text;
    expect(html).toMatch(/<script src="\/app\.js" defer><\/script>/);
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=/i);
    const js = (await request(web.port, 'GET', '/app.js')).text;
    expect(js).not.toMatch(/\beval\(|new Function|innerHTML|insertAdjacentHTML|document\.write/);
  });

  it('an observer sees the traps but its decisions and policy changes are refused; it sees an RPC client decide', async () => {
    const { svc, port, web, origin } = await served(asks);
    const cookie = await login(web.port, TOKENS.eve);
    const pending = await waitPending(svc);
    const es = events(web.port, { Cookie: cookie });
    const got = await es.until((g) => g.some((e) => e.event === 'hello') && g.some((e) => e.event === 'trap'));
    const hello = got.find((e) => e.event === 'hello')!.data;
    expect(hello.you).toMatchObject({ name: 'eve (web 127.0.0.1)', role: 'observer' });
    expect(hello.pending.record.seq).toBe(pending);
    expect(got.find((e) => e.event === 'trap')).toMatchObject({ id: '1', data: { call: 'PSCI_VERSION' } });
    const d = await request(web.port, 'POST', '/api/decide', { headers: { Cookie: cookie, Origin: origin }, body: { seq: pending, action: 'emulate' } });
    expect(d.status).toBe(403);
    expect(d.json.error).toBe("eve (web 127.0.0.1) is an observer: deciding a trap needs a decider's token");
    expect((await request(web.port, 'POST', '/api/policy', { headers: { Cookie: cookie, Origin: origin }, body: { op: 'add', rule: 'smc=undef' } })).status).toBe(403);
    expect(svc.hosts.get('1')!.pendingSeq).toBe(pending);
    // an RPC client decides: her page hears who, and gets the record
    const alice = await client(port, TOKENS.alice);
    await alice.conn.sendRequest('decide', { decision: { action: 'return', values: { x0: '0x5' } }, seq: pending });
    const after = await es.until((g) => g.some((e) => e.event === 'trap' && e.data.seq === pending));
    expect(after.find((e) => e.event === 'decided')!.data).toMatchObject({ seq: pending, by: expect.stringMatching(/^alice \(127\.0\.0\.1:\d+\)$/) });
    expect(after.find((e) => e.event === 'trap' && e.data.seq === pending)!.data).toMatchObject({ decision: 'return (alice)', result: 'x0=0x5', by: expect.stringMatching(/^alice /) });
    // and the next trap waits: the page is told
    await es.until((g) => g.some((e) => e.event === 'pending' && e.data.record.seq === pending + 1));
    es.close();
    // a decider's token logged in as an observer is one too
    const r = await request(web.port, 'POST', '/api/login', { headers: { Origin: origin }, body: { token: TOKENS.alice, role: 'observer' } });
    expect(r.json.role).toBe('observer');
  });

  it('a decider adds and removes policy rules, and every page hears of it', async () => {
    const { svc, web, origin } = await served(asks);
    const cookie = await login(web.port, TOKENS.alice);
    await waitPending(svc);
    const es = events(web.port, { Cookie: cookie });
    await es.until((g) => g.some((e) => e.event === 'hello'));
    const add = await request(web.port, 'POST', '/api/policy', { headers: { Cookie: cookie, Origin: origin }, body: { op: 'add', rule: 'owner:sip=undef' } });
    expect(add.status).toBe(200);
    const rule = add.json.rules.find((x: { text: string }) => /sip/.test(x.text));
    expect(rule.id).toMatch(/^web/);
    await es.until((g) => g.some((e) => e.event === 'policy' && e.data.rules.some((x: { id: string }) => x.id === rule.id)));
    const bad = await request(web.port, 'POST', '/api/policy', { headers: { Cookie: cookie, Origin: origin }, body: { op: 'add', rule: 'nonsense' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBeTruthy();
    const rm = await request(web.port, 'POST', '/api/policy', { headers: { Cookie: cookie, Origin: origin }, body: { op: 'remove', id: rule.id } });
    expect(rm.status).toBe(200);
    expect(rm.json.rules.some((x: { id: string }) => x.id === rule.id)).toBe(false);
    es.close();
  });

  it('bad input gets a clear 4xx and the page goes on', async () => {
    const { svc, web, origin } = await served(asks);
    const cookie = await login(web.port, TOKENS.alice);
    const pending = await waitPending(svc);
    const h = { Cookie: cookie, Origin: origin };
    const post = (body: string | object, headers: Record<string, string> = {}) => request(web.port, 'POST', '/api/decide', { headers: { ...h, ...headers }, body });
    const big = await post({ seq: pending, action: 'emulate', pad: 'x'.repeat(100_000) });
    expect(big.status).toBe(413);
    expect(big.json.error).toMatch(/over 16384 bytes/);
    const notJson = await post('{"seq": ', { 'Content-Type': 'application/json' });
    expect([notJson.status, notJson.json.error]).toEqual([400, 'the body is not a JSON object']);
    expect((await post('seq=2', { 'Content-Type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await post({ seq: pending, action: 'launch' })).json.error).toBe('action: one of emulate, forward, undef, return, skip');
    expect((await post({ seq: 'two', action: 'emulate' })).status).toBe(400);
    expect((await post({ seq: pending, action: 'forward' })).json.error).toMatch(/no --forward/);
    expect((await post({ seq: pending, action: 'return', values: { x0: 7 } })).status).toBe(400);
    const wrong = await post({ seq: pending, action: 'return', values: { x0: 'lots' } });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toMatch(/x0 'lots' is not an integer/);
    expect((await post({ seq: pending + 5, action: 'emulate' })).status).toBe(409);
    expect((await request(web.port, 'DELETE', '/api/decide', { headers: h })).status).toBe(405);
    expect((await request(web.port, 'GET', '/api/events?session=9', { headers: h })).status).toBe(404);
    const odd = await request(web.port, 'GET', '//[?session=%%', { headers: h });
    expect([odd.status, odd.json.error]).toEqual([404, 'nothing at //[']);
    // and then a good decision
    const good = await post({ seq: pending, action: 'return', values: { x0: '-2', x1: '0x5' } });
    expect(good.status).toBe(200);
    expect(good.json.record.result.regs).toMatchObject({ x0: '0xfffffffffffffffe', x1: '0x5' });
  });

  it('the events stream resumes after Last-Event-ID; from older than the kept records it says so and goes on', async () => {
    const { svc, web } = await served(many, policy('hvc=ask'), { keep: 4 });
    const cookie = await login(web.port, TOKENS.alice);
    expect(await waitPending(svc)).toBe(7);
    const first = events(web.port, { Cookie: cookie });
    const all = await first.until((g) => g.filter((e) => e.event === 'trap').length === 4);
    expect(first.head()).toMatch(/^HTTP\/1\.[01] 200[^]*content-type: text\/event-stream/i);
    expect(all.filter((e) => e.event === 'trap').map((e) => e.id)).toEqual(['3', '4', '5', '6']);
    expect(all.find((e) => e.event === 'hello')!.data.pending.record.seq).toBe(7);
    first.close();
    // a reconnect after #4: #5 and #6, nothing before
    const again = events(web.port, { Cookie: cookie, 'Last-Event-ID': '4' });
    const resumed = await again.until((g) => g.filter((e) => e.event === 'trap').length === 2);
    expect(resumed.filter((e) => e.event === 'trap').map((e) => [e.id, e.data.seq])).toEqual([['5', 5], ['6', 6]]);
    again.close();
    // after #1: #2 is no longer kept (keep 4): a missed event, then #3 on
    const old = events(web.port, { Cookie: cookie, 'Last-Event-ID': '1' });
    const late = await old.until((g) => g.filter((e) => e.event === 'trap').length === 4);
    const missed = late.find((e) => e.event === 'missed')!;
    expect(missed.data).toMatchObject({ from: 2, oldest: 3, missed: 1 });
    expect(missed.data.message).toMatch(/traps #2 to #2 are no longer kept/);
    expect(late.indexOf(missed)).toBeLessThan(late.findIndex((e) => e.event === 'trap'));
    expect(late.filter((e) => e.event === 'trap').map((e) => e.id)).toEqual(['3', '4', '5', '6']);
    old.close();
  });

  it('a reader that stops reading does not make the server buffer its records: it is told what it missed, then goes on', async () => {
    const { svc, web, origin } = await served(storm, policy('hvc=ask'), { keep: 100, tokens: false }, { maxQueue: 16 << 10 });
    // the guest waits at its first hvc while the reader connects, then stops reading
    expect(await waitPending(svc)).toBe(1);
    const es = events(web.port, {});
    await es.until((g) => g.some((e) => e.event === 'hello'));
    es.socket.pause();
    const go = await request(web.port, 'POST', '/api/decide', { headers: { Origin: origin }, body: { seq: 1, action: 'emulate' } });
    expect(go.json.cells.by).toBe('web 127.0.0.1');
    // the storm: STORM records while the reader reads nothing, then the last hvc waits
    expect(await waitPending(svc, 120_000)).toBe(STORM + 2);
    es.socket.resume();
    const got = await es.until((g) => g.some((e) => e.event === 'trap' && e.data.seq === STORM + 1), 120_000);
    const traps = got.filter((e) => e.event === 'trap');
    const missed = got.filter((e) => e.event === 'missed');
    // what the socket held when it stopped, then a gap told as missed, then the kept records to the last
    expect(missed.length).toBeGreaterThan(0);
    expect(traps.length).toBeLessThan(STORM / 2);
    const told = missed.reduce((n, e) => n + e.data.missed, 0);
    expect(traps.length + told).toBe(STORM + 1);
    expect(traps.slice(-100).map((e) => e.data.seq)).toEqual(Array.from({ length: 100 }, (_, i) => STORM + 2 - 100 + i));
    es.close();
  }, 180_000);
});

describe('trapdoor serve --web on the command line', () => {
  it('refuses a non-loopback --web without --token-file at start, and its help tells of --web', async () => {
    const r = await trapdoorAsync(['serve', asks, '--web', '0.0.0.0:0']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--web 0\.0\.0\.0:0: not a loopback address, and there is no --token-file/);
    const bad = await trapdoorAsync(['serve', asks, '--web', 'unix:/tmp/x']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/bad --web "unix:\/tmp\/x": expected HOST:PORT/);
    const help = await trapdoorAsync(['serve', '--help']);
    expect(help.out).toMatch(/--web HOST:PORT +also serve the web triage page/);
  });

  it('with --tls-cert the page is served over HTTPS only, and its login cookie is Secure', async () => {
    const { execFileSync } = await import('node:child_process');
    const https = await import('node:https');
    const dir = scratchDir();
    const key = path.join(dir, 'web-key.pem'), cert = path.join(dir, 'web-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const tokens = path.join(dir, 'web-tls-tokens');
    writeFileSync(tokens, TOKEN_FILE_TEXT);
    const s = await startServe([asks, '--on', 'hvc=ask', '--web', '127.0.0.1:0', '--token-file', tokens, '--tls-cert', cert, '--tls-key', key], children, ['web']);
    expect(s.err()).toMatch(/web triage page on https:/);
    const port = s.web;
    const origin = `https://127.0.0.1:${port}`;
    const login = await new Promise<{ status: number; cookie: string; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/login', ca: readFileSync(cert), headers: { Origin: origin, 'Content-Type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode!, cookie: String(res.headers['set-cookie']), body }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ token: TOKENS.bob }));
    });
    expect(login.status).toBe(200);
    expect(login.cookie).toMatch(/HttpOnly; SameSite=Strict; .*; Secure$/);
    // plain HTTP on that port gets no page
    const plain = await request(port, 'GET', '/').catch((e: Error) => ({ status: 0, error: e.message }));
    expect(plain.status).not.toBe(200);
    s.proc.kill('SIGTERM');
  });
});

/** The seq of the trap the session's runner stopped at, once it has. */
async function waitPending(svc: { hosts: Map<string, { pendingSeq: number | undefined }> }, ms = 30_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const p = svc.hosts.get('1')?.pendingSeq;
    if (p !== undefined) return p;
    if (Date.now() > end) throw new Error(`no trap became pending in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
