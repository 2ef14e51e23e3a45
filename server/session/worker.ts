// Entry point of the emulation worker thread: one Engine, driven by requests from
// the Session on the main thread (WORKER_OPS in contract.ts). uc_emu_start blocks
// this thread while the guest runs; pauses arrive through the shared control
// block, not through messages.
import { parentPort, receiveMessageOnPort } from 'node:worker_threads';
import { Engine } from './engine.js';
import { findRegister } from '../machine/registers.js';
import { unicorn } from '../machine/unicorn.js';
import { CoreError, failureOf, type Result } from '../result.js';
import type { WorkerHandlers, WorkerMessage, WorkerReply, WorkerRequest } from './contract.js';
import { MailboxWorker } from './mailbox.js';
import { OwnedPoints } from './owners.js';
import { FlowWorker } from './flow.js';
import { RUNNING } from './checks.js';
import type { StopEvent } from './contract.js';
import type { Hub } from '../../gdbstub/hosted.js';

const port = parentPort!;
let engine: Engine | undefined;
let mailbox: MailboxWorker | undefined;
/** Events posted so far (a mailbox answer must not overtake them). */
let events = 0;
const post = (m: WorkerMessage, transfer?: ArrayBuffer[]) => {
  if ('event' in m) events++;
  port.postMessage(m, transfer);
};

/**
 * What the gdb clients served on this thread (gdbstub/hosted.ts) share with the
 * Session's requests: one run at a time, whoever asks, and how the last one stopped.
 */
const hub: Hub = {
  busy: false,
  lastStop: undefined,
  points: new OwnedPoints(() => need().cpu),
  stops: new Set<(ev: StopEvent) => void>(),
  outputs: new Set<(text: string) => void>(),
  engine: () => need(),
  post,
  flow: () => (flow ??= new FlowWorker(need().cfg.shared, need().cpu.ctl32)),
  async run(step: boolean, regs?: string[]) {
    if (hub.busy) throw new CoreError('busy', RUNNING);
    const e = need();
    hub.busy = true;
    hub.flow().running(true);
    let ev: StopEvent;
    try { ev = await e.run(step); } finally { hub.busy = false; hub.flow().running(false); }
    const values = regs && ev.reason !== 'exit' && !ev.final ? readRegs(regs) : undefined;
    hub.points.ownersOf(ev);
    hub.lastStop = ev;
    for (const f of [...hub.stops]) f(ev);
    return { ev, values };
  },
};
let hosted: typeof import('../../gdbstub/hosted.js') | undefined;
/** The session block's worker side, for the hub (made once the engine is). */
let flow: FlowWorker | undefined;

const need = () => {
  if (!engine) throw new CoreError('closed', 'the machine is not initialised');
  return engine;
};

/** Registers as hex text (Cpu.readRegsHex: one native call for most). */
const readRegs = (names: string[]) => need().cpu.readRegsHex(names);

function must<T>(r: Result<T>): T {
  if (!r.ok) throw new CoreError(r.code, r.error);
  return r.value;
}

function check<T>(r: { ok: true; value: T } | { ok: false; error: string }, code: 'invalid' | 'unmapped' | 'no-register'): T {
  if (!r.ok) throw new CoreError(code, r.error);
  return r.value;
}

const handlers: WorkerHandlers = {
  init({ mailbox: lane, ...cfg }) {
    engine = new Engine(cfg, {
      records: (bytes, count) => post({ event: 'records', bytes, count }, [bytes.buffer as ArrayBuffer]),
      output: (text) => { post({ event: 'output', text }); for (const f of hub.outputs) f(text); },
      log: (line) => post({ event: 'log', line }),
    });
    unicorn().td_thread_name('trapdoor-emu'); // keeps its priority (jit.ts lowerBackgroundThreads)
    if (lane) {
      mailbox = new MailboxWorker(lane, answer, post, () => events,
        () => receiveMessageOnPort(port)?.message as WorkerRequest | undefined);
    }
    return { pc: engine.cpu.pc };
  },
  // The stop and the registers in one message: one wake-up of the main thread.
  run: (a) => hub.run(a.step, a.regs),
  decide: (a) => need().decide(a.decision, 'user', a.client, a.seq),
  pending: () => need().pendingTrap(),
  regs: (a) => readRegs(a.names),
  writeReg: (a) => {
    const cpu = need().cpu;
    const d = findRegister(cpu.arch, a.name);
    if (!d) throw new CoreError('no-register', `no register named ${a.name}`);
    check(cpu.writeReg(d, a.value), 'no-register');
    return true;
  },
  readMem: (a) => check(need().cpu.readMem(a.addr, a.len), 'unmapped'),
  writeMem: (a) => { check(need().cpu.writeMem(a.addr, a.data), 'unmapped'); return true; },
  breakpoint: (a) => (a.op === 'remove' ? hub.points.removeBreak(a.owner, a.addr) : must(hub.points.addBreak(a.owner, a.addr, a.thumb))),
  watchpoint: (a) => (a.op === 'remove' ? hub.points.removeWatch(a.owner, a.addr, a.len, a.kind) : must(hub.points.addWatch(a.owner, a.addr, a.len, a.kind))),
  clearPoints: (a) => { hub.points.clear(a.owner); return true; },
  traps: (a) => need().traps(a.n, a.from),
  policy: () => need().policyInfo(),
  addRule: (a) => need().addRule(a),
  removeRule: (a) => need().removeRule(a.id, a.version),
  setDefault: (a) => need().setDefault(a.action, a.version),
  close: () => { hosted?.closeAll(); engine?.close(); engine = undefined; return true; },
  async gdbHost(a) {
    hosted ??= await import('../../gdbstub/hosted.js');
    hosted.host(hub, a);
    return true as const;
  },
  gdbReply: (a) => { hosted?.reply(a); return true; },
  gdbClose: (a) => { hosted?.close(a.host); return true; },
};

async function answer(req: WorkerRequest): Promise<WorkerReply> {
  hosted?.tellRuns(); // a run made for a served gdb client is heard of before any answer
  const h = handlers[req.op] as ((args: unknown) => unknown) | undefined;
  if (!h) return { id: req.id, ok: false, code: 'invalid', error: `unknown request ${req.op}` };
  try {
    return { id: req.id, ok: true, value: await h(req.args) };
  } catch (e) {
    const f = failureOf(e);
    return { id: req.id, ok: false, code: f.code, error: f.error };
  }
}

port.on('message', async (req: WorkerRequest) => {
  post(await answer(req));
  // The next call, likely soon (a step, the registers after it), comes through the mailbox,
  // unless a gdb client is served here: this thread must not block listening then (gdb's
  // packets would wait out the window), and the Session's calls come by message instead.
  if (!hosted?.serving()) void mailbox?.listen();
});
