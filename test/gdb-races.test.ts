// The gdb stub under timing races a raw socket client can provoke on purpose:
// a Ctrl-C right behind `c` (gdb sends it as soon as the user presses it), and a
// client that connects the moment the previous one closed (gdb restarted at
// once, a port probe before the real client).
import { describe, it, expect, beforeAll } from 'vitest';
import { assemble } from './helpers/asm.js';
import { LOOP_WITH_TARGET, RspClient as Client, pkt, stubFixture, type StubSetup } from './helpers/rsp-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- fixtures

type Setup = StubSetup;
const fx = stubFixture();
const serve = fx.serve;

async function connect(s: Setup): Promise<Client> {
  const c = await fx.connect(s, { skipConsole: true });
  return c;
}

/** The handshake gdb starts with; returns the qSupported reply. */
async function handshake(c: Client): Promise<string | undefined> {
  c.write('+');
  return c.req('qSupported:swbreak+;hwbreak+;vContSupported+');
}

const SPIN = `.global _start\n_start:\n  mov x1, #0\n1:\n  add x1, x1, #1\n  b 1b\n`;

let spin: string;
let breakGuest: string;
beforeAll(() => {
  spin = assemble('aarch64', SPIN, 'races-spin');
  breakGuest = assemble('aarch64', LOOP_WITH_TARGET, 'races-break');
});

// ---------------------------------------------------------------- Ctrl-C right after c

describe('Ctrl-C right behind a resume', () => {
  /**
   * Sends `c` (or another resume) and Ctrl-C `gapMs` later (-1: in the same write);
   * true if the stub answered with a SIGINT stop in time. A lost Ctrl-C is
   * recovered with a second one, so the next round starts stopped.
   */
  async function round(c: Client, resume: string, gapMs: number): Promise<boolean> {
    if (gapMs < 0) c.write(pkt(resume) + '\x03');
    else {
      c.send(resume);
      if (gapMs > 0) await sleep(gapMs);
      c.write('\x03');
    }
    const r = await c.poll(1000);
    if (r !== undefined) {
      expect(r).toMatch(/^T02thread:1;/);
      return true;
    }
    c.write('\x03');
    expect(await c.poll(2000)).toMatch(/^T02thread:1;/);
    return false;
  }

  for (const ack of [false, true]) {
    it(`every Ctrl-C sent 0-20 ms after c stops the guest with SIGINT (${ack ? 'acks' : 'no-ack mode'})`, async () => {
      const s = await serve(spin);
      const c = await connect(s);
      expect(await handshake(c)).toMatch(/PacketSize=/);
      if (!ack) await c.noAck();
      // 20 in the same write as the resume, 30 spread over 0-20 ms after it
      const gaps = [...Array<number>(20).fill(-1), ...Array.from({ length: 30 }, (_, i) => Math.round((i * 20) / 29))];
      const resumes = ['c', 'vCont;c', 'vCont;c:1', 'C00'];
      const lost: string[] = [];
      for (let i = 0; i < gaps.length; i++) {
        const resume = resumes[i % resumes.length];
        if (!(await round(c, resume, gaps[i]))) lost.push(`${resume} +${gaps[i] < 0 ? 'same write' : `${gaps[i]} ms`}`);
      }
      if (lost.length) console.log(`${lost.length}/${gaps.length} Ctrl-C lost: ${lost.join(', ')}`);
      expect(lost, `${lost.length}/${gaps.length} Ctrl-C lost`).toEqual([]);
      // and the guest still runs normally afterwards
      const x1 = await c.req('p1');
      c.send('c');
      await sleep(50);
      expect(s.session.state).toBe('running');
      c.write('\x03');
      expect(await c.poll(2000)).toMatch(/^T02thread:1;/);
      expect(await c.req('p1')).not.toBe(x1);
      expect(await c.req('s')).toMatch(/^T05thread:1;/);
    }, 120_000);
  }

  it('a Ctrl-C behind c that waits for an earlier slow packet still stops the run', async () => {
    const s = await serve(spin);
    const c = await connect(s);
    await handshake(c);
    await c.noAck();
    let lost = 0;
    for (let i = 0; i < 20; i++) {
      // g waits for the emulation thread: c is queued behind it when Ctrl-C comes
      c.write(pkt('g') + pkt('c') + '\x03');
      expect(await c.poll(2000)).toMatch(/^[0-9a-f]+$/);
      const r = await c.poll(1000);
      if (r === undefined) { lost++; c.write('\x03'); expect(await c.poll(2000)).toMatch(/^T02/); } else expect(r).toMatch(/^T02thread:1;/);
    }
    expect(lost, `${lost}/20 Ctrl-C lost`).toBe(0);
  });

  it('a Ctrl-C while the guest is stopped and nothing is queued is still ignored', async () => {
    const s = await serve(spin);
    const c = await connect(s);
    await handshake(c);
    c.write('\x03');
    await sleep(20);
    expect(await c.req('?')).toMatch(/^T05thread:1;/);
    // the ignored Ctrl-C does not stop the next run
    c.send('c');
    expect(await c.poll(300)).toBeUndefined();
    expect(s.session.state).toBe('running');
    c.write('\x03');
    expect(await c.poll(2000)).toMatch(/^T02thread:1;/);
    expect(s.logs.some((l) => /Ctrl-C while the guest is stopped: nothing to do/.test(l))).toBe(true);
  });

  it('a Ctrl-C that races a step is answered by that step, and the next c runs', async () => {
    const s = await serve(spin);
    const c = await connect(s);
    await handshake(c);
    await c.noAck();
    c.write(pkt('s') + '\x03');
    expect(await c.poll(2000)).toMatch(/^T0[25]thread:1;/);
    // nothing of that Ctrl-C is left over for the next run
    c.send('c');
    expect(await c.poll(300)).toBeUndefined();
    expect(s.session.state).toBe('running');
    c.write('\x03');
    expect(await c.poll(2000)).toMatch(/^T02thread:1;/);
  });
});

// ---------------------------------------------------------------- a client right after another closed

describe('a client right after the previous one closed', () => {
  const REFUSED = /^E\.Trapdoor: another gdb/;

  for (const how of ['destroy', 'end'] as const) {
    it(`serves a client that connects at once after the previous one closed (${how})`, async () => {
      const s = await serve(spin);
      let refused = 0;
      const N = 25;
      for (let i = 0; i < N; i++) {
        const a = await connect(s);
        expect(await handshake(a)).toMatch(/PacketSize=/);
        if (how === 'destroy') a.close(); else a.socket.end();
        const b = await connect(s);
        const r = await handshake(b);
        if (r === undefined || REFUSED.test(r)) refused++;
        else {
          expect(r).toMatch(/PacketSize=/);
          expect(await b.req('?')).toMatch(/^T05thread:1;/);
        }
        b.close();
        for (let k = 0; k < 100 && s.server.clients(); k++) await sleep(5);
      }
      expect(refused, `${refused}/${N} refused`).toBe(0);
    });
  }

  it('serves a real client right after a port probe that connected and closed without a word', async () => {
    const s = await serve(spin);
    let refused = 0;
    const N = 25;
    for (let i = 0; i < N; i++) {
      const probe = await connect(s);
      probe.close();
      const b = await connect(s);
      const r = await handshake(b);
      if (r === undefined || REFUSED.test(r)) refused++;
      else expect(r).toMatch(/PacketSize=/);
      b.close();
      for (let k = 0; k < 100 && s.server.clients(); k++) await sleep(5);
    }
    expect(refused, `${refused}/${N} refused`).toBe(0);
  });

  it('still refuses a second client while the first one is connected', async () => {
    const s = await serve(spin);
    const a = await connect(s);
    expect(await handshake(a)).toMatch(/PacketSize=/);
    const b = await connect(s);
    expect(await handshake(b)).toMatch(/^E\.Trapdoor: another gdb \(127\.0\.0\.1:\d+\) is attached to this session; one client at a time$/);
    await sleep(50);
    expect(b.closed).toBe(true);
    expect(s.server.clients()).toBe(1);
    expect(await a.req('?')).toMatch(/^T05thread:1;/);
  });

  it('serves a client that connected while the previous one was attached if that one is gone by its first packet', async () => {
    const s = await serve(spin);
    const a = await connect(s);
    expect(await handshake(a)).toMatch(/PacketSize=/);
    const b = await connect(s);
    a.close();
    await sleep(20);
    expect(await handshake(b)).toMatch(/PacketSize=/);
    expect(await b.req('?')).toMatch(/^T05thread:1;/);
    expect(s.server.clients()).toBe(1);
  });

  it('a waiting client that vanishes as the slot frees up does not keep the slot', async () => {
    const s = await serve(spin);
    for (let i = 0; i < 20; i++) {
      const a = await connect(s);
      expect(await handshake(a)).toMatch(/PacketSize=/);
      const b = await connect(s);
      b.write('+' + pkt('qSupported'));
      b.close();
      a.close();
      const c = await connect(s);
      let r = await handshake(c);
      // c may come while the server has not yet seen a or b go: then it is refused, and the next one is served
      for (let k = 0; k < 20 && (r === undefined || REFUSED.test(r)); k++) {
        c.close();
        await sleep(10);
        r = await handshake(await connect(s));
      }
      expect(r).toMatch(/PacketSize=/);
      fx.closeClients();
      for (let k = 0; k < 100 && s.server.clients(); k++) await sleep(5);
      expect(s.server.clients()).toBe(0);
    }
  });

  it('the new client keeps the breakpoint it sets at the address the old one left behind', async () => {
    const s = await serve(breakGuest);
    const target = '40000008';
    for (let i = 0; i < 5; i++) {
      const a = await connect(s);
      await handshake(a);
      // a's breakpoint is installed in the core by a resume
      expect(await a.req(`Z0,${target},4`)).toBe('OK');
      expect(await a.req('c', 3000)).toMatch(/^T05(swbreak:;)?thread:1;/);
      expect(await a.req(`z0,${target},4`)).toBe('OK');
      a.close();
      // b asks for the same address at once (all in one write); a's cleanup must not take it away
      const b = await connect(s);
      b.write('+' + pkt('qSupported:swbreak+') + pkt(`Z0,${target},4`) + pkt('s') + pkt('c'));
      expect(await b.poll()).toMatch(/PacketSize=/);
      expect(await b.poll()).toBe('OK');
      expect(await b.poll()).toMatch(/^T05thread:1;/); // off the breakpoint
      const r = await b.poll(2000);
      if (r === undefined) { b.write('\x03'); await b.poll(2000); }
      expect(r ?? 'no stop: the breakpoint b set was removed', 'the breakpoint b set stopped the guest').toMatch(/^T05(swbreak:;)?thread:1;/);
      expect(await b.req(`z0,${target},4`)).toBe('OK');
      b.close();
      for (let k = 0; k < 100 && s.server.clients(); k++) await sleep(5);
    }
  });

  it('a client that connects while the guest runs for the previous one (which vanished) finds it paused', async () => {
    const s = await serve(spin);
    const a = await connect(s);
    await handshake(a);
    a.send('c');
    await sleep(50);
    expect(s.session.state).toBe('running');
    a.close();
    const b = await connect(s);
    expect(await handshake(b)).toMatch(/PacketSize=/);
    expect(await b.req('?')).toMatch(/^T0[25]thread:1;/);
    expect(s.session.state).toBe('stopped');
    expect(await b.req('s')).toMatch(/^T05thread:1;/);
  });
});
