// Entry point of the emulation worker thread: one Engine, driven by requests from
// the Session on the main thread (WORKER_OPS in contract.ts). uc_emu_start blocks
// this thread while the guest runs; pauses arrive through the shared control
// block, not through messages.
import { parentPort, receiveMessageOnPort } from 'node:worker_threads';
import { Engine } from './engine.js';
import { findRegister } from '../machine/registers.js';
import { CoreError, failureOf } from '../result.js';
import type { WorkerHandlers, WorkerMessage, WorkerReply, WorkerRequest } from './contract.js';
import { MailboxWorker } from './mailbox.js';

const port = parentPort!;
let engine: Engine | undefined;
let mailbox: MailboxWorker | undefined;
/** Events posted so far (a mailbox answer must not overtake them). */
let events = 0;
const post = (m: WorkerMessage, transfer?: ArrayBuffer[]) => {
  if ('event' in m) events++;
  port.postMessage(m, transfer);
};

const need = () => {
  if (!engine) throw new CoreError('closed', 'the machine is not initialised');
  return engine;
};

/** Registers as hex text (Cpu.readRegsHex: one native call for most). */
const readRegs = (names: string[]) => need().cpu.readRegsHex(names);

function check<T>(r: { ok: true; value: T } | { ok: false; error: string }, code: 'invalid' | 'unmapped' | 'no-register'): T {
  if (!r.ok) throw new CoreError(code, r.error);
  return r.value;
}

const handlers: WorkerHandlers = {
  init({ mailbox: lane, ...cfg }) {
    engine = new Engine(cfg, {
      records: (bytes, count) => post({ event: 'records', bytes, count }, [bytes.buffer as ArrayBuffer]),
      output: (text) => post({ event: 'output', text }),
      log: (line) => post({ event: 'log', line }),
    });
    if (lane) {
      mailbox = new MailboxWorker(lane, answer, post, () => events,
        () => receiveMessageOnPort(port)?.message as WorkerRequest | undefined);
    }
    return { pc: engine.cpu.pc };
  },
  async run(a) {
    const ev = await need().run(a.step);
    // The stop and the registers in one message: one wake-up of the main thread.
    return a.regs && ev.reason !== 'exit' && !ev.final ? { ev, values: readRegs(a.regs) } : { ev };
  },
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
  breakpoint: (a) => {
    const cpu = need().cpu;
    if (a.op === 'remove') return cpu.removeBreakpoint(a.addr);
    return check(cpu.addBreakpoint(a.addr, a.thumb), 'invalid');
  },
  watchpoint: (a) => {
    const cpu = need().cpu;
    if (a.op === 'remove') return cpu.removeWatchpoint(a.addr, a.len, a.kind);
    return check(cpu.addWatchpoint(a.addr, a.len, a.kind), 'invalid');
  },
  traps: (a) => need().traps(a.n, a.from),
  policy: () => need().policyInfo(),
  addRule: (a) => need().addRule(a),
  removeRule: (a) => need().removeRule(a.id, a.version),
  setDefault: (a) => need().setDefault(a.action, a.version),
  close: () => { engine?.close(); engine = undefined; return true; },
};

async function answer(req: WorkerRequest): Promise<WorkerReply> {
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
  // the next call, likely soon (a step, the registers after it), comes through the mailbox
  void mailbox?.listen();
});
