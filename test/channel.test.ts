// The worker channel's fast lane (server/session/mailbox.ts) and the step targets
// that stay between steps (Cpu.armStep): what a front-end sees must not change
// with either — the same answers, in the same order, as over postMessage.
import { describe, it, expect, afterEach } from 'vitest';
import { Worker } from 'node:worker_threads';
import { Session, type SessionOptions } from '../server/session/session.js';
import { MailboxMain, newMailbox } from '../server/session/mailbox.js';
import type { WorkerReply, WorkerRequest } from '../server/session/contract.js';
import { assemble } from './helpers/asm.js';
import { policy } from './helpers/sessions.js';

const open: Session[] = [];
const workers: Worker[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
  while (workers.length) await workers.pop()!.terminate();
});

/** A worker serving the mailbox with `handler` (source of an async function of a request). */
function echoWorker(sab: SharedArrayBuffer, handler: string): Worker {
  const mailbox = new URL('../server/session/mailbox.ts', import.meta.url).href;
  const tsx = new URL('../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url).href;
  const w = new Worker(`
    const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
    import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(mailbox)}); }).then(({ MailboxWorker }) => {
      const handle = ${handler};
      const mb = new MailboxWorker(workerData, handle, (m) => parentPort.postMessage(m), () => globalThis.events ?? 0,
        () => receiveMessageOnPort(parentPort)?.message);
      parentPort.on('message', async (m) => { parentPort.postMessage(await handle(m)); void mb.listen(); });
      parentPort.postMessage('ready');
    });`, { eval: true, workerData: sab });
  workers.push(w);
  return w;
}

const viaPort = (w: Worker, r: WorkerRequest) => new Promise<WorkerReply>((resolve) => {
  const on = (m: WorkerReply) => { if (m.id === r.id) { w.off('message', on); resolve(m); } };
  w.on('message', on);
  w.postMessage(r);
});

describe('the mailbox', () => {
  it('is used only while the worker listens, and carries bigints and bytes both ways', async () => {
    const sab = newMailbox();
    const w = echoWorker(sab, `async (r) => ({ id: r.id, ok: true, value: { got: r.args, big: 0xffff_ffff_ffff_fff0n, bytes: new Uint8Array([1, 2, 255]) } })`);
    await new Promise((r) => w.once('message', r));
    const main = new MailboxMain(sab);
    // not listening before its first posted call
    expect(main.call({ id: 1, op: 'regs', args: {} })).toBeUndefined();
    expect((await viaPort(w, { id: 2, op: 'regs', args: {} })).ok).toBe(true);
    // now it listens: the call is answered through shared memory
    let a = main.call({ id: 3, op: 'writeMem', args: { addr: 0x4000_0000n, data: new Uint8Array([7, 8, 9]), neg: -5n } });
    for (let i = 0; a === undefined && i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 1));
      a = main.call({ id: 3, op: 'writeMem', args: { addr: 0x4000_0000n, data: new Uint8Array([7, 8, 9]), neg: -5n } });
    }
    const reply = (a instanceof Promise ? await a : a) as WorkerReply & { ok: true };
    expect(reply).toMatchObject({ id: 3, ok: true });
    const v = reply.value as { got: { addr: bigint; data: Uint8Array; neg: bigint }; big: bigint; bytes: Uint8Array };
    expect(v.got.addr).toBe(0x4000_0000n);
    expect(v.got.neg).toBe(-5n);
    expect([...v.got.data]).toEqual([7, 8, 9]);
    expect(v.big).toBe(0xffff_ffff_ffff_fff0n);
    expect([...v.bytes]).toEqual([1, 2, 255]);
  });

  it('an answer that does not fit comes by postMessage', async () => {
    const sab = newMailbox();
    const w = echoWorker(sab, `async (r) => ({ id: r.id, ok: true, value: 'x'.repeat(r.args.n) })`);
    await new Promise((r) => w.once('message', r));
    const main = new MailboxMain(sab);
    await viaPort(w, { id: 1, op: 'regs', args: { n: 1 } });
    const port = new Promise<WorkerReply>((resolve) => w.on('message', (m: WorkerReply) => { if (m.id === 2) resolve(m); }));
    let a: ReturnType<MailboxMain['call']>;
    do a = main.call({ id: 2, op: 'regs', args: { n: 1 << 20 } }); while (a === undefined && (await new Promise((r) => setTimeout(r, 1)), true));
    expect(a instanceof Promise ? await a : a).toBeNull();
    const m = await port;
    expect(m.ok && (m.value as string).length).toBe(1 << 20);
  });
});

describe('a Session over the mailbox', () => {
  const SRC = `.global _start\n_start:\n  mov x5, #0\nloop:\n  add x5, x5, #1\n  cmp x5, #3\n  b.ne loop\n  ldr x0, =0x84000000\n  smc #0\n  mov x6, x0\n  ldr x0, =0x84000008\n  smc #0\n`;

  async function both(opts: Partial<SessionOptions> = {}) {
    const path = assemble('aarch64', SRC);
    const out: Session[] = [];
    for (const channel of ['mailbox', 'postMessage'] as const) {
      const r = await Session.open({ image: { path }, channel, ...opts });
      if (!r.ok) throw new Error(r.error);
      open.push(r.value);
      out.push(r.value);
    }
    return out;
  }

  it('steps through a loop, a trap and its answer exactly as over postMessage, the trap record before the step that made it', async () => {
    const traces: string[][] = [];
    for (const s of await both()) {
      const c = s.connect('test');
      const trace: string[] = [];
      c.on('trap', (t) => trace.push(`trap #${t.seq} ${t.decoded.name}`));
      for (let i = 0; i < 40; i++) {
        const r = await c.step({ registers: ['pc', 'x5', 'x6'] });
        if (!r.ok) throw new Error(r.error);
        trace.push(`${r.value.reason} pc=${r.value.pc} x5=${r.value.registers?.x5} x6=${r.value.registers?.x6}`);
        if (r.value.reason === 'exit') break;
      }
      traces.push(trace);
    }
    const [mailbox, post] = traces;
    expect(mailbox).toEqual(post);
    // the PSCI_VERSION trap is reported before the step that executed it returns
    const at = mailbox.findIndex((l) => l.startsWith('trap #1'));
    expect(at).toBeGreaterThan(0);
    expect(mailbox[at + 1]).toMatch(/^step /);
    expect(mailbox.join('\n')).toMatch(/x6=0x10001/); // PSCI 1.1 answered
    expect(mailbox.at(-1)).toMatch(/^exit/);
  });

  it('calls made together are taken in order: a rule added, then a continue, a breakpoint, then a continue', async () => {
    for (const s of await both()) {
      const c = s.connect('test');
      // addRule goes by postMessage, the continue may take the mailbox: the rule must apply first
      const [added, run] = await Promise.all([c.addRule({ rule: '0x84000000=return(x0=0x77)' }), c.cont()]);
      expect(added.ok).toBe(true);
      expect(run.ok && run.value.reason).toBe('exit');
      const x6 = await c.readRegisters({ names: ['x6'] });
      expect(x6.ok && BigInt(x6.value.x6)).toBe(0x77n);
    }
    for (const s of await both()) {
      const c = s.connect('test');
      const bp = `0x${s.symbols.find((x) => x.name === 'loop')!.value.toString(16)}`;
      const [set, run] = await Promise.all([c.addBreakpoint({ addr: bp }), c.cont()]);
      expect(set.ok).toBe(true);
      expect(run.ok && run.value.reason).toBe('breakpoint');
      expect(run.ok && run.value.pc).toBe(bp);
    }
  });

  it('registers read with a stop are what later reads give, until a write or a decision changes them', async () => {
    const path = assemble('aarch64', SRC);
    const r = await Session.open({ image: { path }, policy: policy('0x84000000=ask') });
    if (!r.ok) throw new Error(r.error);
    open.push(r.value);
    const c = r.value.connect('test');
    c.stopRegisters = ['x0', 'x5', 'pc'];
    const stop = await c.cont();
    expect(stop.ok && stop.value.reason).toBe('trap');
    const x0 = async () => { const v = await c.readRegisters({ names: ['x0', 'x5'] }); if (!v.ok) throw new Error(v.error); return v.value; };
    expect((await x0()).x0).toBe('0x84000000');
    expect(await c.writeRegister({ name: 'x5', value: '0x1234' })).toMatchObject({ ok: true });
    expect((await x0()).x5).toBe('0x1234');
    expect((await c.decide({ decision: { action: 'return', values: { x0: '0x77' } } })).ok).toBe(true);
    expect((await x0()).x0).toBe('0x77');
    // another client's write is seen too
    const other = r.value.connect('other');
    expect((await other.writeRegister({ name: 'x5', value: '0x99' })).ok).toBe(true);
    expect((await x0()).x5).toBe('0x99');
    const next = await c.step();
    expect(next.ok && next.value.registers?.x0).toBe('0x77'); // mov x6, x0 ran with the answer
  });

  it('a continue after steps runs at full speed to the end: the step targets do not stop it', async () => {
    for (const s of await both()) {
      const c = s.connect('test');
      for (let i = 0; i < 5; i++) expect((await c.step({})).ok).toBe(true);
      const end = await c.cont();
      expect(end.ok && end.value.reason).toBe('exit');
    }
  });
});
