// Entry point of the emulation worker thread: one Engine, driven by requests from
// the Session on the main thread. uc_emu_start blocks this thread while the guest
// runs; pauses arrive through the shared control block, not through messages.
import { parentPort } from 'node:worker_threads';
import { Engine, type EngineConfig } from './engine.js';
import { findRegister } from '../machine/registers.js';
import type { WorkerRequest, WorkerMessage } from './protocol.js';
import type { Decision } from './trap-record.js';
import type { PolicySpec } from '../policy/index.js';

const port = parentPort!;
let engine: Engine | undefined;
const post = (m: WorkerMessage) => port.postMessage(m);

type Handler = (args: any) => unknown;
const need = () => {
  if (!engine) throw new Error('the machine is not initialised');
  return engine;
};

function readRegs(names: string[]): (bigint | undefined)[] {
  const cpu = need().cpu;
  return names.map((n) => {
    const d = findRegister(cpu.arch, n);
    return d ? cpu.readReg(d) : undefined;
  });
}

const handlers: Record<string, Handler> = {
  init(cfg: EngineConfig) {
    engine = new Engine(cfg, {
      records: (batch) => post({ event: 'records', batch }),
      output: (text) => post({ event: 'output', text }),
      log: (line) => post({ event: 'log', line }),
    });
    return { pc: engine.cpu.pc };
  },
  async run(a: { step?: boolean; regs?: string[] }) {
    const ev = await need().run(!!a?.step);
    // The stop and the registers in one message: one wake-up of the main thread.
    return a?.regs && ev.reason !== 'exit' && !ev.final ? { ev, values: readRegs(a.regs) } : { ev };
  },
  decide: (a: { decision: Decision }) => need().decide(a.decision, 'user'),
  pending: () => need().pendingTrap(),
  regs: (a: { names: string[] }) => readRegs(a.names),
  writeReg: (a: { name: string; value: bigint }) => {
    const cpu = need().cpu;
    const d = findRegister(cpu.arch, a.name);
    if (!d) throw new Error(`no register named ${a.name}`);
    const r = cpu.writeReg(d, a.value);
    if (!r.ok) throw new Error(r.error);
    return true;
  },
  readMem: (a: { addr: bigint; len: number }) => {
    const r = need().cpu.readMem(a.addr, a.len);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  },
  writeMem: (a: { addr: bigint; data: Uint8Array }) => {
    const r = need().cpu.writeMem(a.addr, a.data);
    if (!r.ok) throw new Error(r.error);
    return true;
  },
  breakpoint: (a: { op: 'add' | 'remove'; addr: bigint; thumb?: boolean }) => {
    const cpu = need().cpu;
    if (a.op === 'remove') return cpu.removeBreakpoint(a.addr);
    const r = cpu.addBreakpoint(a.addr, a.thumb);
    if (!r.ok) throw new Error(r.error);
    return true;
  },
  watchpoint: (a: { op: 'add' | 'remove'; addr: bigint; len: number; kind: 'read' | 'write' | 'access' }) => {
    const cpu = need().cpu;
    if (a.op === 'remove') return cpu.removeWatchpoint(a.addr, a.len, a.kind);
    const r = cpu.addWatchpoint(a.addr, a.len, a.kind);
    if (!r.ok) throw new Error(r.error);
    return true;
  },
  traps: (a: { n: number }) => need().traps(a.n),
  getPolicy: () => need().policySpec(),
  setPolicy: (a: { spec: PolicySpec }) => { need().setPolicy(a.spec); return true; },
  close: () => { engine?.close(); engine = undefined; return true; },
};

port.on('message', async (req: WorkerRequest) => {
  const h = handlers[req.op];
  if (!h) return post({ id: req.id, ok: false, error: `unknown request ${req.op}` });
  try {
    const value = await h(req.args);
    post({ id: req.id, ok: true, value });
  } catch (e) {
    post({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
