// The engine runs inside the emulation worker. It owns the vCPU, turns every raw
// SMC/HVC exception into a trap record, takes the decisions that need no person
// right inside the trap hook (no thread hop), and stops exactly at the trap when a
// person (ask) or the network (forward) must answer.
import { openSync, writeSync, closeSync } from 'node:fs';
import { Cpu, INTNO, type CpuStop, type RawTrap } from '../machine/cpu.js';
import { ACT, CTL } from '../machine/ctl.js';
import { MemoryMap, hex, type RamRegion } from '../machine/memory.js';
import { pl011 } from '../machine/devices/pl011.js';
import type { CpuArch } from '../machine/registers.js';
import { decodeCall } from '../decode/index.js';
import type { CallContext, Conduit, DecodedCall, GuestArch } from '../decode/types.js';
import { Firmware } from '../firmware/index.js';
import type { FirmwareConfig, FirmwareAnswer } from '../firmware/types.js';
import { Policy, type PolicySpec, type Verdict } from '../policy/index.js';
import { ForwardClient } from '../forward/client.js';
import { a32Successors, a64Successors, type StepPlan } from '../machine/step-plan.js';
import { toForwardParams } from '../forward/protocol.js';
import type { Decision, DecidedBy, TrapRecord, TrapResult } from './trap-record.js';

export type ForwardFallback = 'error' | 'undef' | 'stop';

export interface EngineConfig {
  arch: CpuArch;
  ram: Pick<RamRegion, 'name' | 'base' | 'size' | 'buf'>[];
  ctl: SharedArrayBuffer;
  entry: bigint;
  /** PL011 UART base for guest output (null: none). */
  uart: bigint | null;
  platform?: string;
  policy: PolicySpec;
  firmware: Partial<FirmwareConfig>;
  forward?: { endpoint: string; timeoutMs: number; fallback: ForwardFallback };
  trapLog?: string;
  /** false: an `ask` decision takes the policy default at once (no one to ask). */
  interactive: boolean;
  countBlocks: boolean;
  /** Keep this many records for `traps` queries. */
  keep?: number;
  /** Send every record to the Session as it happens (default true). */
  subscribed?: boolean;
  /**
   * Single steps as runs to breakpoints on the next possible PCs (default true);
   * false uses Unicorn's counted run, which drops the translation cache at every
   * switch between stepping and running.
   */
  softStep?: boolean;
}

export type StopReason = 'trap' | 'breakpoint' | 'watchpoint' | 'step' | 'pause' | 'limit' | 'exit' | 'fault' | 'exception' | 'idle';

export interface StopEvent {
  reason: StopReason;
  pc: string;
  insns: number;
  /** The pending trap (reason 'trap'): decision 'pending' until decided. */
  trap?: TrapRecord;
  addr?: string;
  access?: string;
  /** For fault/exception/exit: what happened, said for people. */
  message?: string;
  exit?: { effect: string; detail?: Record<string, string> };
  /** For faults: pc is the faulting instruction (false: only the start of its block is known). */
  exactPc?: boolean;
  /** The run cannot go on from here (a hard stop without the block hook). */
  final?: boolean;
  /**
   * Registers read at the stop, when the run asked for them (RunOptions.registers):
   * the front-end shows the stop without another trip to the emulation thread.
   */
  registers?: Map<string, bigint>;
}

export interface EngineEvents {
  records(batch: TrapRecord[]): void;
  output(text: string): void;
  log(line: string): void;
}

/**
 * A trap as the hot path keeps it: raw registers and references, no strings. It
 * becomes a TrapRecord (decoded summary, hex strings) only when someone looks: the
 * trap log, a subscribed front-end, or a query of the recent traps.
 */
interface Lazy {
  seq: number;
  insns: number;
  time: number;
  /** Slot of its registers in the register ring (valid while the record is kept). */
  slot: number;
  arch: GuestArch;
  conduit: Conduit;
  imm: number;
  /** PC after the trap (past the SMC/HVC). */
  pc: bigint;
  /** Full decode, or the cached decode of an earlier call with the same id (static fields only). */
  decoded: DecodedCall;
  exact: boolean;
  verdict: Verdict;
  decision: TrapRecord['decision'];
  by: DecidedBy;
  ans?: FirmwareAnswer;
  result?: TrapResult;
  rec?: TrapRecord;
}

/** Decode and policy verdict of an SMCCC function id, reused while the policy stands. */
interface CachedCall { conduit: Conduit; imm: number; arch: GuestArch; decoded: DecodedCall; verdict: Verdict }

interface Pending {
  raw: RawTrap;
  ctx: CallContext;
  decoded: DecodedCall;
  insnAddr: bigint;
  insns: number;
  seq: number;
  verdict: Verdict;
  /** Why the run stopped here: a person must answer, or an internal async step. */
  wait: 'user' | 'forward' | 'undef';
}

const MASK64 = 0xffff_ffff_ffff_ffffn;

/** A record's rule when the default answered what an `ask` rule asked (nobody could, or nobody did). */
const askedBy = (rule: string) => `ask:${rule}`;

export class Engine {
  readonly cpu: Cpu;
  readonly mem = new MemoryMap();
  private readonly firmware: Firmware;
  private policy: Policy;
  private readonly forward?: ForwardClient;
  private seq = 0;
  /** Recent traps, oldest first (a ring of `keep` entries). */
  private readonly kept: Lazy[] = [];
  private keptStart = 0;
  private readonly callCache = new Map<number, CachedCall>();
  /** Registers of the kept traps: 18 x 64-bit per slot, one slot per kept record. */
  private readonly ringSize: number;
  private readonly ring64: BigUint64Array;
  private readonly ring32: Int32Array;
  private ringNext = 0;
  /** A front-end wants every record as it happens. */
  private readonly subscribed: boolean;
  private batch: TrapRecord[] = [];
  private batchStart = 0;
  private logFd: number | undefined;
  private pending: Pending | undefined;
  private exitEffect: StopEvent['exit'] | undefined;
  private exception: { intno: number; pc: bigint } | undefined;
  private outBuf = '';
  private readonly archName: GuestArch;

  constructor(readonly cfg: EngineConfig, private readonly events: EngineEvents) {
    for (const r of cfg.ram) {
      const added = this.mem.add({ kind: 'ram', ...r });
      if (!added.ok) throw new Error(added.error);
    }
    this.cpu = new Cpu(cfg.arch, this.mem, cfg.ctl, () => this.onTrap(), { countBlocks: cfg.countBlocks });
    this.ringSize = cfg.keep ?? 2048;
    this.ring64 = new BigUint64Array(this.ringSize * 18);
    this.ring32 = new Int32Array(this.ring64.buffer);
    this.archName = cfg.arch === 'aarch64' ? 'aarch64' : 'aarch32';
    if (cfg.uart !== null) {
      const dev = this.cpu.mapDevice('uart0', cfg.uart, 0x1000n, pl011((b) => this.onUart(b)));
      if (!dev.ok) throw new Error(dev.error);
    }
    if (cfg.arch === 'arm' && cfg.entry & 1n) this.cpu.setReg('cpsr', this.cpu.reg('cpsr') | 0x20n);
    this.cpu.pc = cfg.entry & ~1n;
    this.firmware = new Firmware(cfg.firmware);
    const pol = Policy.fromSpec(cfg.policy);
    if (!pol.ok) throw new Error(pol.error);
    this.policy = pol.value;
    if (cfg.forward) this.forward = new ForwardClient(cfg.forward.endpoint, { timeoutMs: cfg.forward.timeoutMs });
    if (cfg.trapLog) this.logFd = openSync(cfg.trapLog, 'a');
    this.subscribed = cfg.subscribed !== false;
  }

  // ------------------------------------------------------------------ trap hook
  /** Called by the native trap hook inside uc_emu_start: must be quick. */
  private onTrap(): number {
    const cpu = this.cpu;
    const c32 = cpu.ctl32;
    const intno = c32[CTL.INTNO * 2];
    let conduit: Conduit;
    if (intno === INTNO.SMC) conduit = 'smc';
    else if (intno === INTNO.HVC) conduit = 'hvc';
    else {
      this.exception = { intno, pc: cpu.ctl[CTL.PC] };
      return ACT.STOP;
    }
    const thumb = this.cfg.arch === 'arm' && (c32[CTL.PSTATE * 2] & 0x20) !== 0;
    const arch: GuestArch = thumb ? 'thumb' : this.archName;
    const imm = immediateOf(arch, conduit, c32[CTL.INSN * 2] >>> 0);
    // The registers go to the ring as 32-bit halves: no BigInt is made on this path.
    const slot = this.ringNext;
    this.ringNext = slot + 1 === this.ringSize ? 0 : slot + 1;
    const w = cpu.nArgRegs * 2;
    this.ring32.set(c32.subarray(CTL.REGS * 2, CTL.REGS * 2 + w), slot * 36);
    const ctx: CallContext = { arch, conduit, imm, args: cpu.liveArgs, platform: this.cfg.platform, readMem: this.readGuest };
    // SMCCC calls decode the same way whenever their function id is the same: decode
    // and decide once per id, then reuse (the policy clears the cache when it changes).
    const key = c32[CTL.REGS * 2] >>> 0;
    const hit = this.callCache.get(key);
    let decoded: DecodedCall;
    let verdict: Verdict;
    let exact: boolean;
    if (hit !== undefined && hit.conduit === conduit && hit.imm === imm && hit.arch === arch) {
      decoded = hit.decoded;
      verdict = hit.verdict;
      exact = false;
    } else {
      decoded = decodeCall(ctx);
      verdict = this.policy.decide({ conduit, imm, decoded });
      exact = true;
      if (decoded.kind === 'smccc' && this.callCache.size < 4096) this.callCache.set(key, { conduit, imm, arch, decoded, verdict });
    }
    if (verdict.action === 'ask' && !this.cfg.interactive) verdict = this.noOneToAsk(verdict);
    const seq = ++this.seq;
    const insns = cpu.insns;
    const pc = cpu.ctl[CTL.PC];
    const lazy: Lazy = { seq, insns, time: Date.now(), slot, arch, conduit, imm, pc, decoded, exact, verdict, decision: 'pending', by: verdict.by };
    switch (verdict.action) {
      case 'emulate': {
        const ans = this.firmware.respond(ctx, decoded);
        for (let i = 0; i < ans.regs.length; i++) cpu.writeBack(i, ans.regs[i]);
        if (ans.memWrites) for (const mw of ans.memWrites) cpu.writeMem(mw.addr, mw.bytes);
        lazy.decision = 'emulate';
        lazy.ans = ans;
        this.keep(lazy);
        return this.afterEffect(ans) ? ACT.STOP : ACT.CONTINUE;
      }
      case 'return': {
        lazy.decision = 'return';
        lazy.result = { regs: this.writeValues(verdict.values ?? {}, (i, v) => cpu.writeBack(i, v)) };
        this.keep(lazy);
        return ACT.CONTINUE;
      }
      case 'skip':
        lazy.decision = 'skip';
        lazy.result = { note: 'registers left unchanged' };
        this.keep(lazy);
        return ACT.CONTINUE;
      default: {
        // undef and forward finish outside the hook (exact stop at the trap); ask waits for a person.
        const wait = verdict.action === 'ask' ? 'user' : verdict.action === 'forward' ? 'forward' : 'undef';
        const raw = this.rawAt(lazy);
        const pctx = { ...ctx, args: raw.regs };
        this.pending = { raw, ctx: pctx, decoded: exact ? decoded : decodeCall(pctx), insnAddr: pc - 4n, insns, seq, verdict, wait };
        return ACT.STOP;
      }
    }
  }

  /** The registers of a kept trap, copied out of the ring. */
  private rawAt(l: Pick<Lazy, 'slot' | 'pc'>): RawTrap {
    const n = this.cpu.nArgRegs;
    return { intno: 0, pc: l.pc, insn: 0, pstate: 0n, regs: this.ring64.slice(l.slot * 18, l.slot * 18 + n) };
  }

  /** Keeps a trap in the ring; hands it on at once when someone is listening. */
  private keep(l: Lazy) {
    const max = this.ringSize;
    if (this.kept.length - this.keptStart >= max) {
      this.keptStart++;
      if (this.keptStart > max) { this.kept.splice(0, this.keptStart); this.keptStart = 0; }
    }
    this.kept.push(l);
    // Records are made at once only for the trap log and subscribed front-ends.
    if (this.subscribed || this.logFd !== undefined) this.emit(this.materialize(l));
  }

  private keepRecord(p: Pending, rec: TrapRecord) {
    this.keep({ seq: p.seq, insns: p.insns, time: Date.parse(rec.time), slot: -1, arch: p.ctx.arch, conduit: p.ctx.conduit, imm: p.ctx.imm,
      pc: p.raw.pc, decoded: p.decoded, exact: true, verdict: p.verdict, decision: rec.decision, by: rec.by, rec });
  }

  private materialize(l: Lazy): TrapRecord {
    if (l.rec) return l.rec;
    const raw = this.rawAt(l);
    const ctx: CallContext = { arch: l.arch, conduit: l.conduit, imm: l.imm, args: raw.regs, platform: this.cfg.platform };
    const decoded = l.exact ? l.decoded : decodeCall(ctx);
    const result = l.result ?? (l.ans ? emulateResult(l.ans, this.regPrefix, this.cpu.arch) : {});
    const rec = this.record(l.seq, l.insns, raw, ctx, decoded, l.verdict, l.decision, l.by, result, l.time);
    l.rec = rec;
    return rec;
  }

  private noOneToAsk(v: Verdict): Verdict {
    const d = this.policy.getDefault();
    const action = d.action === 'ask' ? 'emulate' : d.action;
    return { action, values: d.values, by: 'default', rule: v.rule ? askedBy(v.rule) : undefined };
  }

  private get regPrefix() { return this.cfg.arch === 'aarch64' ? 'x' : 'r'; }

  private readonly readGuest = (addr: bigint, len: number): Uint8Array | null => {
    const r = this.cpu.readMem(addr, len);
    return r.ok ? r.value : null;
  };

  /** Applies `return` values ({x0: 5n, w1: ...}); returns them as the record shows them. */
  private writeValues(values: Record<string, bigint>, write: (i: number, v: bigint) => void): Record<string, string> {
    const shown: Record<string, string> = {};
    for (const [name, v] of Object.entries(values)) {
      const m = /^([xwr])(\d+)$/.exec(name);
      if (!m) continue;
      const i = Number(m[2]);
      const val = m[1] === 'w' || this.cfg.arch === 'arm' ? v & 0xffff_ffffn : v & MASK64;
      write(i, val);
      shown[`${this.regPrefix}${i}`] = hex(val);
    }
    return shown;
  }

  private afterEffect(ans: FirmwareAnswer): boolean {
    if (ans.effect === 'system_off' || ans.effect === 'system_reset' || ans.effect === 'cpu_off' /* one vCPU: the last one went off */) {
      this.exitEffect = { effect: ans.effect, detail: ans.detail };
      return true;
    }
    return false;
  }

  private record(seq: number, insns: number, raw: RawTrap, ctx: CallContext, decoded: DecodedCall, verdict: Verdict,
    decision: TrapRecord['decision'], by: DecidedBy, result: TrapResult, time = Date.now()): TrapRecord {
    const args = new Array<string>(raw.regs.length);
    for (let i = 0; i < raw.regs.length; i++) args[i] = '0x' + raw.regs[i].toString(16);
    const rec: TrapRecord = {
      seq, insns, cpu: 0, arch: ctx.arch, conduit: ctx.conduit, imm: ctx.imm, pc: '0x' + (raw.pc - 4n).toString(16),
      args, decoded, decision, by, result, time: new Date(time).toISOString(),
    };
    if (verdict.rule) rec.rule = verdict.rule;
    return rec;
  }

  private emit(rec: TrapRecord) {
    if (this.logFd !== undefined) writeSync(this.logFd, JSON.stringify(rec) + '\n');
    if (!this.subscribed) return;
    if (this.batch.length === 0) this.batchStart = Date.now();
    this.batch.push(rec);
    if (this.batch.length >= 512 || Date.now() - this.batchStart > 50) this.flushRecords();
  }

  flushRecords() {
    if (this.batch.length) {
      const b = this.batch;
      this.batch = [];
      this.events.records(b);
    }
    if (this.outBuf) { this.events.output(this.outBuf); this.outBuf = ''; }
  }

  private onUart(b: number) {
    this.outBuf += String.fromCharCode(b);
    // records first, so that guest output and traps keep their order
    if (b === 10 || this.outBuf.length > 4096) this.flushRecords();
  }

  // ------------------------------------------------------------------ run loop
  /** Continues, or executes one instruction (step); a pending trap is decided first. */
  async run(step = false): Promise<StopEvent> {
    if (this.exitEffect) return this.stopEvent('exit');
    if (this.pending) {
      if (this.pending.wait !== 'user') await this.finishPending();
      else await this.decide(this.continueDecision(), 'default');
    }
    if (!step) return this.runLoop(0);
    const plan = this.cfg.softStep === false || !this.cfg.countBlocks ? undefined : this.stepPlan();
    if (!plan) return this.runLoop(1);
    // A step as a run: exact breakpoints on where the instruction can go, and/or the
    // deadline one past the block at pc (step-plan.ts). Stops there read as 'step'.
    const cpu = this.cpu;
    const pc = cpu.pc;
    const temps = [...new Set(plan.at)].filter((a) => !cpu.hasBreakpoint(a));
    for (const a of temps) cpu.addBreakpoint(a);
    const deadline = cpu.deadline;
    if (plan.blockInsns !== undefined) cpu.deadline = cpu.insns + plan.blockInsns + 1;
    let ev: StopEvent;
    try {
      ev = await this.runLoop(0, plan.at.includes(pc));
    } finally {
      for (const a of temps) cpu.removeBreakpoint(a);
      cpu.deadline = deadline;
    }
    const limitReached = deadline !== 0 && cpu.insns >= deadline;
    if ((ev.reason === 'breakpoint' && ev.addr !== undefined && plan.at.includes(BigInt(ev.addr)))
      || (ev.reason === 'limit' && plan.blockInsns !== undefined && !limitReached)) {
      return this.stopEvent('step');
    }
    return ev;
  }

  /** Where one instruction from pc can go (undefined: only a counted step can tell). */
  private stepPlan(): StepPlan | undefined {
    const cpu = this.cpu;
    const a64 = cpu.arch === 'aarch64';
    // read on demand: a prediction needs pc, the state and at most a register or two
    const regs = { get: (n: string) => cpu.reg(n) };
    const code = cpu.readMem(cpu.pc, 4);
    if (!code.ok) return undefined;
    const b = code.value;
    if (a64) return a64Successors((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0, regs);
    const read32 = (addr: bigint) => {
      const m = cpu.readMem(addr, 4);
      return m.ok ? BigInt((m.value[0] | (m.value[1] << 8) | (m.value[2] << 16) | (m.value[3] << 24)) >>> 0) : undefined;
    };
    return a32Successors(b, regs, read32);
  }

  /**
   * Runs until a stop a front-end must hear about. Internal stops (undef injection,
   * forwarding) are finished here and the run goes on. count = 1: one instruction.
   */
  private async runLoop(count: number, passBreakAtPc = false): Promise<StopEvent> {
    const step = count === 1;
    for (;;) {
      const stop: CpuStop = this.cpu.run(count, passBreakAtPc);
      passBreakAtPc = false;
      if (stop.kind === 'trap' || (step && this.pending)) {
        if (this.exitEffect) return this.stopEvent('exit');
        if (this.exception) {
          const e = this.exception;
          this.exception = undefined;
          return this.stopEvent('exception', { message: `guest took exception ${e.intno} (${exceptionName(e.intno)}) at ${hex(e.pc)}; Trapdoor does not deliver it to the guest`, addr: hex(e.pc) });
        }
        const p = this.pending;
        if (p && p.wait === 'user') return this.stopEvent('trap', { trap: this.pendingRecord() });
        if (p) {
          const stopHere = await this.finishPending();
          if (stopHere) return stopHere;
          if (this.cpu.pauseRequested) return this.stopEvent('pause');
          if (step) return this.stopEvent('step');
          continue;
        }
        if (step) return this.stopEvent('step');
        continue;
      }
      switch (stop.kind) {
        case 'pause': return this.stopEvent('pause');
        case 'deadline': return this.stopEvent('limit', { message: `instruction limit reached (${this.cpu.insns} instructions)` });
        case 'step': return this.stopEvent('step');
        case 'breakpoint': return this.stopEvent('breakpoint', { addr: hex(stop.addr) });
        case 'watchpoint': return this.stopEvent('watchpoint', { addr: hex(stop.addr), access: stop.access });
        case 'fault':
          if (stop.hard) return this.stopEvent('pause', { final: true, message: stop.error });
          return this.stopEvent('fault', { pc: hex(stop.pc), message: stop.error, addr: stop.addr !== undefined ? hex(stop.addr) : undefined, access: stop.access, exactPc: stop.exact });
        case 'idle': return this.stopEvent('idle', { message: 'the guest executed WFI and waits for an interrupt (no interrupt source exists yet)' });
      }
    }
  }

  private stopEvent(reason: StopReason, extra: Partial<StopEvent> = {}): StopEvent {
    this.flushRecords();
    const ev: StopEvent = { reason, pc: hex(this.cpu.pc), insns: this.cpu.insns, ...extra };
    if (reason === 'exit' && this.exitEffect) {
      ev.exit = this.exitEffect;
      ev.message ??= `guest called PSCI ${this.exitEffect.effect.toUpperCase()}`;
    }
    return ev;
  }

  /** What `continue` without a decision does at an `ask` trap: the policy's default. */
  private continueDecision(): Decision {
    const d = this.policy.getDefault();
    return d.action === 'ask' ? { action: 'emulate' } : { action: d.action, values: d.values };
  }

  private pendingRecord(): TrapRecord {
    const p = this.pending!;
    return this.record(p.seq, p.insns, p.raw, p.ctx, p.decoded, p.verdict, 'pending', p.verdict.by, {});
  }

  pendingTrap(): TrapRecord | undefined {
    return this.pending?.wait === 'user' ? this.pendingRecord() : undefined;
  }

  /** Finishes an undef/forward the hook left for outside; returns a stop if one is due. */
  private async finishPending(): Promise<StopEvent | undefined> {
    const p = this.pending!;
    const by = p.verdict.by;
    await this.decide({ action: p.verdict.action as Decision['action'], values: p.verdict.values }, by);
    if (this.exitEffect) return this.stopEvent('exit');
    return undefined;
  }

  /** Applies a decision to the pending trap and records it. */
  async decide(d: Decision, by: DecidedBy = 'user'): Promise<TrapRecord> {
    const p = this.pending;
    if (!p) throw new Error('no trap is waiting for a decision');
    const cpu = this.cpu;
    const setReg = (i: number, v: bigint) => cpu.setReg(`${this.regPrefix}${i}`, this.cfg.arch === 'arm' ? v & 0xffff_ffffn : BigInt.asUintN(64, v));
    let result: TrapResult;
    let decision = d.action;
    const rule = by === 'policy' ? p.verdict.rule : undefined;
    switch (d.action) {
      case 'emulate': {
        const ans = this.firmware.respond(p.ctx, p.decoded);
        ans.regs.forEach((v, i) => setReg(i, v));
        if (ans.memWrites) for (const mw of ans.memWrites) cpu.writeMem(mw.addr, mw.bytes);
        result = emulateResult(ans, this.regPrefix, cpu.arch);
        this.afterEffect(ans);
        break;
      }
      case 'return':
        result = { regs: this.writeValues(d.values ?? {}, setReg) };
        break;
      case 'skip':
        result = { note: 'registers left unchanged' };
        break;
      case 'undef':
        result = { exception: this.undef(p.insnAddr) };
        break;
      case 'forward': {
        const fwd = await this.forwardCall();
        if (fwd.ok) {
          result = { regs: this.writeValues(fwd.regs, setReg) };
        } else {
          const fb = this.cfg.forward?.fallback ?? 'error';
          this.events.log(`trap #${p.seq}: ${fwd.error}; fallback: ${fb === 'error' ? 'x0 = -1 (NOT_SUPPORTED)' : fb}`);
          result = { error: fwd.error };
          if (fb === 'undef') result.exception = this.undef(p.insnAddr);
          else if (fb === 'error') result.regs = this.writeValues({ x0: -1n }, setReg);
          else result.note = 'run stopped (forward fallback: stop)';
          decision = 'forward';
          if (fb === 'stop') {
            this.pending = { ...p, wait: 'user' };
            const rec = this.record(p.seq, p.insns, p.raw, p.ctx, p.decoded, p.verdict, decision, by === 'policy' ? 'fallback' : by, result);
            this.keepRecord(p, rec);
            return rec;
          }
        }
        break;
      }
    }
    this.pending = undefined;
    const rec = this.record(p.seq, p.insns, p.raw, p.ctx, p.decoded, p.verdict, decision, by, result);
    if (rule) rec.rule = rule;
    // `continue` with no decision: the default answered what this rule asked (as noOneToAsk says it)
    else if (by === 'default' && p.verdict.action === 'ask' && p.verdict.rule) rec.rule = askedBy(p.verdict.rule);
    this.keepRecord(p, rec);
    this.flushRecords();
    return rec;
  }

  private undef(insnAddr: bigint): NonNullable<TrapResult['exception']> {
    const u = this.cpu.injectUndef(insnAddr);
    const e: NonNullable<TrapResult['exception']> = { kind: 'undef', vector: hex(u.vector), spsr: hex(u.spsr) };
    if (u.esr !== undefined) e.esr = hex(u.esr);
    if (u.elr !== undefined) e.elr = hex(u.elr);
    if (u.lr !== undefined) e.lr = hex(u.lr);
    return e;
  }

  private async forwardCall(): Promise<{ ok: true; regs: Record<string, bigint> } | { ok: false; error: string }> {
    if (!this.forward) return { ok: false, error: 'forward asked but no endpoint is configured (use --forward tcp://127.0.0.1:PORT)' };
    return this.forward.call(toForwardParams(this.pendingRecord()));
  }

  // ------------------------------------------------------------------ queries
  /** The last n traps (materialized on demand). */
  traps(n: number): TrapRecord[] {
    const from = Math.max(this.keptStart, this.kept.length - n);
    return this.kept.slice(from).map((l) => this.materialize(l));
  }
  get trapCount(): number { return this.seq; }
  setPolicy(spec: PolicySpec) {
    const p = Policy.fromSpec(spec);
    if (!p.ok) throw new Error(p.error);
    this.policy = p.value;
    this.callCache.clear();
  }
  policySpec(): PolicySpec { return this.policy.toSpec(); }

  close() {
    this.flushRecords();
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
    this.forward?.close();
    this.cpu.close();
  }
}

/** The SMC/HVC immediate from the trapping instruction word. */
export function immediateOf(arch: GuestArch, conduit: Conduit, insn: number): number {
  if (arch === 'aarch64') return (insn >>> 5) & 0xffff;
  if (arch === 'aarch32') return conduit === 'smc' ? insn & 0xf : (((insn >>> 8) & 0xfff) << 4) | (insn & 0xf);
  const hw1 = insn & 0xffff;
  const hw2 = insn >>> 16;
  return conduit === 'smc' ? hw1 & 0xf : ((hw1 & 0xf) << 12) | (hw2 & 0xfff);
}

function emulateResult(ans: FirmwareAnswer, prefix: string, arch: CpuArch): TrapResult {
  const regs: Record<string, string> = {};
  const mask = arch === 'aarch64' ? MASK64 : 0xffff_ffffn;
  ans.regs.forEach((v, i) => { regs[`${prefix}${i}`] = '0x' + (v & mask).toString(16); });
  const r: TrapResult = { regs };
  if (ans.effect) r.effect = ans.effect;
  if (!ans.handled) r.note = 'not implemented by the built-in firmware: NOT_SUPPORTED';
  else if (ans.note) r.note = ans.note;
  return r;
}

function exceptionName(intno: number): string {
  return ({ 1: 'undefined instruction', 2: 'SVC', 3: 'prefetch abort', 4: 'data abort', 5: 'IRQ', 6: 'FIQ', 7: 'BKPT', 12: 'hypervisor trap' } as Record<number, string>)[intno] ?? 'unknown';
}
