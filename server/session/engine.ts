// The engine runs inside the emulation worker and owns one vCPU. This file is the
// run loop and the pending trap: the trap hook is trap-path.ts, decisions are
// applied by apply.ts, records are kept and posted by records.ts, the trap log is
// trap-log.ts and single steps are stepper.ts.
import { Cpu, type CpuStop } from '../machine/cpu.js';
import { MemoryMap, hex } from '../machine/memory.js';
import { pl011 } from '../machine/devices/pl011.js';
import { parseActionText } from '../policy/values.js';
import { Firmware, exitMessage, XEN_ENOSYS, type FirmwareAnswer } from '../firmware/index.js';
import { Policy, describeRule, type PolicySpec } from '../policy/rules.js';
import { parseOnFlag } from '../policy/parse.js';
import type { Decision, DecidedBy } from '../policy/actions.js';
import type { ForwardClient } from '../forward/client.js';
import { toForwardParams } from '../forward/protocol.js';
import { CoreError } from '../result.js';
import type { EngineConfig } from './engine-config.js';
import type { AddRuleParams, RuleInfo, StopEvent, StopReason } from './contract.js';
import type { TrapRecord, TrapResult } from './trap-record.js';
import { FlowWorker } from './flow.js';
import { RecordBook, RING, makeRecord, type RecordSink } from './records.js';
import { TrapLog } from './trap-log.js';
import { defaultNeeds, ruleNeeds } from './policy-needs.js';
import { plural } from './render.js';
import { TrapPath, askedBy, type Pending } from './trap-path.js';
import { applyEnv, applyReturn, emulated, type ApplyEnv, type ExitEffect } from './apply.js';
import { runPlannedStep, stepPlan } from './stepper.js';

export type { EngineConfig, ForwardFallback } from './engine-config.js';
export { immediateOf } from './trap-path.js';

export interface EngineEvents extends RecordSink {
  log(line: string): void;
}

export class Engine {
  readonly cpu: Cpu;
  readonly mem = new MemoryMap();
  private readonly firmware: Firmware;
  private policy: Policy;
  private policyVersion = 1;
  /** Made on the first forwarded call (its JSON-RPC library loads then, not at start-up). */
  private forward?: ForwardClient;
  private readonly records: RecordBook;
  private readonly path: TrapPath;
  private readonly log: TrapLog | undefined;
  private readonly env: ApplyEnv;
  /** Who decided the last trap a person decided (for a second decider's error). */
  private lastDecided: { seq: number; client?: string } | undefined;

  constructor(readonly cfg: EngineConfig, private readonly events: EngineEvents) {
    for (const r of cfg.ram) {
      const added = this.mem.add({ kind: 'ram', ...r });
      if (!added.ok) throw new CoreError('invalid', added.error);
    }
    const pol = Policy.fromSpec(cfg.policy);
    if (!pol.ok) throw new CoreError('invalid', pol.error);
    const bad = pol.value.checkFor(cfg.arch);
    if (bad) throw new CoreError('invalid', `the policy does not fit this guest: ${bad}`);
    this.policy = pol.value;
    const ctl32 = new Int32Array(cfg.ctl);
    const flow = new FlowWorker(cfg.shared, ctl32);
    this.cpu = new Cpu(cfg.arch, this.mem, cfg.ctl, () => this.path.onTrap(), { countBlocks: cfg.countBlocks });
    this.log = cfg.trapLog ? new TrapLog(cfg.trapLog) : undefined;
    this.records = new RecordBook(cfg.arch, cfg.vcpu, this.cpu.nArgRegs, cfg.platform, events, flow, cfg.subscribed !== false, this.log, cfg.keep, this.cpu);
    this.cpu.attachRing(this.records.ring64, this.records.ringSize, RING.WORDS);
    this.cpu.attachSeq(cfg.shared);
    this.firmware = new Firmware(cfg.firmware);
    this.path = new TrapPath(this.cpu, this.records, this.firmware, flow, () => this.policy, { platform: cfg.platform, interactive: cfg.interactive, vcpu: cfg.vcpu });
    this.env = applyEnv(this.cpu, this.firmware, 'outside');
    if (cfg.uart !== null) {
      const dev = this.cpu.mapDevice('uart0', cfg.uart, 0x1000n, pl011((b) => this.onUart(b)));
      if (!dev.ok) throw new CoreError('invalid', `${dev.error} (move the UART with --uart ADDR, or --uart none)`);
    }
    if (cfg.arch === 'arm' && cfg.entry & 1n) this.cpu.setReg('cpsr', this.cpu.reg('cpsr') | 0x20n);
    this.cpu.pc = cfg.entry & ~1n;
  }

  private onUart(b: number) { this.records.output(b); }

  // ------------------------------------------------------------------ run loop
  /** Continues, or executes one instruction (step); a pending trap is decided first. */
  async run(step = false): Promise<StopEvent> {
    const done = this.finalStop();
    if (done) return done;
    const p = this.path.pending;
    if (p) {
      if (p.wait !== 'user') {
        const stop = await this.finishPending();
        if (stop) return stop;
      } else await this.decide(this.continueDecision(), 'default');
    }
    if (!step) return this.runLoop(0);
    const plan = this.cfg.softStep === false || !this.cfg.countBlocks ? undefined : stepPlan(this.cpu);
    if (!plan) return this.runLoop(1);
    return runPlannedStep(this.cpu, plan, (pass) => this.runLoop(0, pass), () => this.stopEvent('step'));
  }

  /** The stop a run gives at once because the guest cannot go on. */
  private finalStop(): StopEvent | undefined {
    if (this.path.internal) return this.internalStop();
    if (this.path.exitEffect) return this.stopEvent('exit');
    return undefined;
  }

  private internalStop(): StopEvent {
    const i = this.path.internal!;
    const at = i.seq ? ` at trap #${i.seq}` : '';
    return this.stopEvent('internal', { message: `internal error${at}: ${i.message}`, seq: i.seq || undefined, final: true });
  }

  /**
   * Runs until a stop a front-end must hear about. Internal stops (undef injection,
   * forwarding) are finished here and the run goes on. count = 1: one instruction.
   */
  private async runLoop(count: number, passBreakAtPc = false): Promise<StopEvent> {
    const step = count === 1;
    for (;;) {
      const from = this.cpu.pc;
      const stop: CpuStop = this.cpu.run(count, passBreakAtPc);
      // a flush stop before anything ran keeps the pass (it stopped before the first block)
      if (stop.kind !== 'flush' || this.cpu.pc !== from) passBreakAtPc = false;
      const done = this.finalStop();
      if (done) return done;
      if (stop.kind === 'trap' || (step && this.path.pending)) {
        if (this.path.exception) {
          const e = this.path.exception;
          this.path.exception = undefined;
          return this.stopEvent('exception', { message: `guest took exception ${e.intno} (${exceptionName(e.intno)}) at ${hex(e.pc)}; Trapdoor does not deliver it to the guest`, addr: hex(e.pc) });
        }
        const p = this.path.pending;
        if (p && p.wait === 'user') return this.stopEvent('trap', { trap: this.pendingRecord() });
        if (p) {
          const stopHere = await this.finishPending();
          if (stopHere) return stopHere;
          if (this.cpu.pauseRequested) return this.stopEvent('pause');
        }
        if (step) return this.stopEvent('step');
        continue;
      }
      switch (stop.kind) {
        case 'pause': return this.stopEvent('pause');
        case 'deadline': return this.stopEvent('limit', { message: `instruction limit reached (${plural(this.cpu.insns, 'instruction')})` });
        case 'step': return this.stopEvent('step');
        case 'flush': this.flushRecords(); if (this.path.internal) return this.internalStop(); continue;
        case 'breakpoint': return this.stopEvent('breakpoint', { addr: hex(stop.addr) });
        case 'watchpoint': return this.stopEvent('watchpoint', { addr: hex(stop.addr), access: stop.access });
        case 'fault':
          if (stop.hard) return this.stopEvent('pause', { final: true, message: stop.error });
          return this.stopEvent('fault', { pc: hex(stop.pc), message: stop.error, addr: stop.addr !== undefined ? hex(stop.addr) : undefined, access: stop.access, exactPc: stop.exact });
        case 'idle': return this.stopEvent('idle', { message: 'the guest executed WFI and waits for an interrupt (no interrupt source exists yet)' });
      }
    }
  }

  private flushRecords() {
    try {
      this.path.catchUp(false);
      this.records.flush();
    } catch (e) {
      this.path.internal ??= { message: (e as Error).message, seq: 0 };
    }
  }

  private stopEvent(reason: StopReason, extra: Partial<StopEvent> = {}): StopEvent {
    this.flushRecords();
    const ev: StopEvent = { reason, vcpu: this.cfg.vcpu, pc: hex(this.cpu.pc), insns: this.cpu.insns, ...extra };
    const exit = this.path.exitEffect;
    if (reason === 'exit' && exit) {
      ev.exit = exit;
      ev.message ??= exitMessage(exit);
    }
    return ev;
  }

  /** What `continue` without a decision does at an `ask` trap: the policy's default. */
  private continueDecision(): Decision {
    const d = this.policy.getDefault();
    return d.action === 'ask' ? { action: 'emulate' } : { action: d.action, values: d.values };
  }

  private pendingRecord(): TrapRecord {
    const p = this.path.pending!;
    return this.recordOf(p, 'pending', p.verdict.by, {});
  }

  private recordOf(p: Pending, decision: TrapRecord['decision'], by: DecidedBy, result: TrapResult, rule = p.verdict.rule): TrapRecord {
    return makeRecord(this.cfg.vcpu, p.seq, p.insns, p.regs, p.pc, p.ctx, p.decoded, rule, decision, by, result, p.time);
  }

  pendingTrap(): TrapRecord | undefined {
    return this.path.pending?.wait === 'user' ? this.pendingRecord() : undefined;
  }

  /**
   * Finishes an undef/forward the hook left for outside; returns a stop when the
   * run must not go on (the end, or a forward that failed with fallback `stop`).
   */
  private async finishPending(): Promise<StopEvent | undefined> {
    const p = this.path.pending!;
    const rec = await this.decide({ action: p.verdict.action as Decision['action'], values: p.verdict.values }, p.verdict.by);
    const done = this.finalStop();
    if (done) return done;
    if (this.path.pending) {
      return this.stopEvent('trap', { trap: this.pendingRecord(), message: `trap #${rec.seq}: ${rec.result.error ?? 'forwarding failed'}; the run stopped (forward fallback: stop): decide it, or continue to apply the default` });
    }
    return undefined;
  }

  /** Applies a decision to the pending trap and records it. */
  async decide(d: Decision, by: DecidedBy = 'user', client?: string, seq?: number): Promise<TrapRecord> {
    const p = this.path.pending;
    if (!p || (by === 'user' && p.wait !== 'user')) {
      const last = this.lastDecided;
      if (seq !== undefined && last?.seq === seq) throw new CoreError('conflict', `trap #${seq} was already decided${last.client ? ` by ${last.client}` : ''}`);
      throw new CoreError('not-stopped', 'no trap is waiting for a decision');
    }
    if (seq !== undefined && seq !== p.seq) throw new CoreError('conflict', `trap #${seq} is not the one waiting (trap #${p.seq} is)`);
    let result: TrapResult;
    let decision = d.action;
    let effect: ExitEffect | undefined;
    let ans: FirmwareAnswer | undefined;
    const rule = by === 'policy' ? p.verdict.rule : undefined;
    switch (d.action) {
      case 'emulate':
        ({ result, effect, ans } = emulated(this.env, p.ctx, p.decoded));
        break;
      case 'return':
        result = { regs: applyReturn(this.env, d.values ?? {}) };
        break;
      case 'skip':
        result = { note: 'registers left unchanged' };
        break;
      case 'undef':
        result = { exception: this.undef(p) };
        break;
      case 'forward': {
        const fwd = await this.forwardCall(p);
        let applied: Record<string, string> | string;
        if (fwd.ok) {
          try { applied = applyReturn(this.env, fwd.regs); } catch (e) { applied = `the endpoint answered with ${(e as Error).message}`; }
        } else applied = fwd.error;
        if (typeof applied !== 'string') {
          result = { regs: applied };
          break;
        }
        const fb = this.cfg.forward?.fallback ?? 'error';
        // the error a guest expects from what it called: -ENOSYS from Xen, NOT_SUPPORTED from SMCCC firmware
        const xen = p.decoded.kind === 'xen';
        this.events.log(`trap #${p.seq}: ${applied}; fallback: ${fb !== 'error' ? fb : xen ? 'x0 = -38 (-ENOSYS)' : 'x0 = -1 (NOT_SUPPORTED)'}`);
        result = { error: applied };
        if (fb === 'undef') result.exception = this.undef(p);
        else if (fb === 'error') result.regs = applyReturn(this.env, { [this.cfg.arch === 'aarch64' ? 'x0' : 'r0']: xen ? BigInt(XEN_ENOSYS) : -1n });
        else result.note = 'run stopped (forward fallback: stop)';
        decision = 'forward';
        if (fb === 'stop') {
          // The trap stays pending for a person: nothing was written to the guest.
          p.wait = 'user';
          const rec = this.recordOf(p, decision, by === 'policy' ? 'fallback' : by, result);
          this.keepRecord(p, rec);
          return rec;
        }
        if (by === 'policy') by = 'fallback';
        break;
      }
    }
    if (effect) this.path.exitEffect = effect;
    this.path.pending = undefined;
    // `continue` with no decision: the default answered what this rule asked (as noOneToAsk says it)
    const shownRule = rule ?? (by === 'default' && p.verdict.action === 'ask' && p.verdict.rule ? askedBy(p.verdict.rule) : undefined);
    const rec = this.recordOf(p, decision, by, result, shownRule);
    if (client) rec.client = client;
    if (by === 'user') this.lastDecided = { seq: p.seq, client };
    this.keepRecord(p, rec, ans);
    this.records.flush();
    return rec;
  }

  private keepRecord(p: Pending, rec: TrapRecord, ans?: FirmwareAnswer) {
    try {
      this.records.keep({ seq: p.seq, insns: p.insns, time: p.time, slot: -1, arch: p.ctx.arch, conduit: p.ctx.conduit, imm: p.ctx.imm,
        pc: p.pc, decoded: p.decoded, exact: true, verdict: p.verdict, decision: rec.decision, by: rec.by, rec, ans });
    } catch (e) {
      this.path.internal ??= { message: (e as Error).message, seq: p.seq };
      throw new CoreError('internal', (e as Error).message);
    }
  }

  private undef(p: Pending): NonNullable<TrapResult['exception']> {
    const u = this.cpu.injectUndef(p.pc - 4n);
    const e: NonNullable<TrapResult['exception']> = { kind: 'undef', vector: hex(u.vector), spsr: hex(u.spsr) };
    if (u.esr !== undefined) e.esr = hex(u.esr);
    if (u.elr !== undefined) e.elr = hex(u.elr);
    if (u.lr !== undefined) e.lr = hex(u.lr);
    return e;
  }

  private async forwardCall(p: Pending): Promise<{ ok: true; regs: Record<string, bigint> } | { ok: false; error: string }> {
    const fwd = this.cfg.forward;
    if (!fwd) return { ok: false, error: 'forward asked but no endpoint is configured (use --forward tcp://127.0.0.1:PORT)' };
    if (!this.forward) {
      const { ForwardClient } = await import('../forward/client.js');
      this.forward = new ForwardClient(fwd.endpoint, { timeoutMs: fwd.timeoutMs });
    }
    return this.forward.call(toForwardParams(this.recordOf(p, 'pending', p.verdict.by, {})));
  }

  // ------------------------------------------------------------------ queries and policy
  traps(n: number | undefined, from: number | undefined): TrapRecord[] {
    this.path.catchUp(false);
    return this.records.query(n, from);
  }

  policyInfo(): { spec: PolicySpec; version: number } { return { spec: this.policy.toSpec(), version: this.policyVersion }; }

  private changePolicy(version: number | undefined, change: (next: Policy) => void): number {
    if (version !== undefined && version !== this.policyVersion) {
      throw new CoreError('conflict', `the policy changed (it is at version ${this.policyVersion}, not ${version}): read it again`);
    }
    const next = Policy.fromSpec(this.policy.toSpec());
    if (!next.ok) throw new CoreError('internal', next.error);
    change(next.value);
    const bad = next.value.checkFor(this.cfg.arch);
    if (bad) throw new CoreError('no-register', bad);
    this.policy = next.value;
    this.path.policyChanged();
    return ++this.policyVersion;
  }

  /** What this session offers a policy (see policy-needs.ts). */
  private has() { return { forward: !!this.cfg.forward, platform: this.cfg.platform }; }

  addRule(a: Pick<AddRuleParams, 'rule' | 'position' | 'id' | 'idPrefix' | 'version'>): { rule: RuleInfo; version: number } {
    let info: RuleInfo | undefined;
    const version = this.changePolicy(a.version, (next) => {
      const id = a.id ?? next.freeId(a.idPrefix ?? 'r');
      const parsed = parseOnFlag(a.rule, id);
      if (!parsed.ok) throw new CoreError('invalid', parsed.error.replace(/^--on [^:]*: /, ''));
      const rules = next.list();
      const pos = a.position ?? 'last';
      const at = pos === 'first' ? 0 : pos === 'last' ? rules.length : rules.filter((r) => r.id.startsWith(pos.afterPrefix)).length;
      const added = next.add(parsed.value, at);
      if (!added.ok) throw new CoreError('invalid', added.error);
      const why = ruleNeeds(added.value, this.has());
      if (why) throw new CoreError('invalid', why);
      info = { id: added.value.id, text: describeRule(added.value), action: added.value.action };
    });
    return { rule: info!, version };
  }

  removeRule(id: string, version?: number): { version: number } {
    return { version: this.changePolicy(version, (next) => { if (!next.remove(id)) throw new CoreError('not-found', `no rule '${id}'`); }) };
  }

  setDefault(text: string, version?: number): { version: number } {
    return {
      version: this.changePolicy(version, (next) => {
        const a = parseActionText(text);
        if (!a.ok) throw new CoreError('invalid', a.error);
        const why = defaultNeeds(a.value, this.has());
        if (why) throw new CoreError('invalid', why);
        const r = next.setDefault(a.value);
        if (!r.ok) throw new CoreError('invalid', r.error);
      }),
    };
  }

  close() {
    try { this.records.flush(); } catch { /* the log already failed: nothing more to write */ }
    this.log?.close();
    this.forward?.close();
    this.cpu.close();
  }
}

function exceptionName(intno: number): string {
  return ({ 1: 'undefined instruction', 2: 'SVC', 3: 'prefetch abort', 4: 'data abort', 5: 'IRQ', 6: 'FIQ', 7: 'BKPT', 12: 'hypervisor trap' } as Record<number, string>)[intno] ?? 'unknown';
}
