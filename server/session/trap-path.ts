// The trap path: what runs inside the native trap hook for every SMC/HVC. It
// reads the trapping registers from the control block (no BigInt per register),
// decodes and decides the call (reusing the decode and verdict of an earlier call
// when the decoder says they depend on the function id alone), answers the calls
// that need no person right here, and stops the run exactly at the trap when a
// person (ask), the network (forward) or an injected exception (undef) must
// answer. Nothing thrown here escapes into Unicorn: a failure stops the run at
// this trap as an internal stop.
import type { Cpu } from '../machine/cpu.js';
import { INTNO } from '../machine/cpu.js';
import { ACT, CTL } from '../machine/ctl.js';
import { decodeCall, decodeDependsOnIdOnly } from '../decode/index.js';
import type { CallContext, Conduit, DecodedCall, GuestArch } from '../decode/types.js';
import type { Firmware } from '../firmware/index.js';
import type { Policy, Verdict } from '../policy/rules.js';
import { applyEmulate, applyEnv, applyReturn, type ApplyEnv, type ExitEffect } from './apply.js';
import type { FlowWorker } from './flow.js';
import type { CachedCall, RecordBook } from './records.js';

/** A trap the hook could not finish: the run is stopped exactly at it. */
export interface Pending {
  seq: number;
  insns: number;
  time: number;
  /** PC after the trap. */
  pc: bigint;
  regs: BigUint64Array;
  ctx: CallContext;
  decoded: DecodedCall;
  verdict: Verdict;
  /** Why the run stopped here: a person must answer, or an internal async step. */
  wait: 'user' | 'forward' | 'undef';
}


/** Calls the native hook can answer by itself (TD_ANSWERS in native/trapdoor.c). */
const NATIVE_ANSWERS = 8;

/** A record's rule when the default answered what an `ask` rule asked (nobody could, or nobody did). */
export const askedBy = (rule: string) => `ask:${rule}`;

export class TrapPath {
  pending: Pending | undefined;
  exitEffect: ExitEffect | undefined;
  /** A CPU exception other than SMC/HVC (the run loop reports it). */
  exception: { intno: number; pc: bigint } | undefined;
  /** What failed inside the hook, and at which trap. */
  internal: { message: string; seq: number } | undefined;
  private readonly callCache = new Map<number, CachedCall>();
  private lastW0 = -1;
  private lastHit: CachedCall | undefined;
  /** The calls the native hook answers by itself, by its answer index (Cpu.setAnswer). */
  private nativeCalls: CachedCall[] = [];
  private readonly archName: GuestArch;
  private readonly hookEnv: ApplyEnv;

  constructor(
    private readonly cpu: Cpu,
    private readonly records: RecordBook,
    private readonly firmware: Firmware,
    private readonly flow: FlowWorker,
    private readonly policy: () => Policy,
    private readonly opts: { platform?: string; interactive: boolean; vcpu: number },
  ) {
    this.archName = cpu.arch === 'aarch64' ? 'aarch64' : 'aarch32';
    this.hookEnv = applyEnv(cpu, firmware, 'hook');
  }

  /** The policy changed: cached verdicts no longer hold. */
  policyChanged() {
    // the traps the hook answered under the old policy are kept first
    this.catchUp(false);
    if (this.nativeCalls.length) this.cpu.setAnswer(0, 0, { w0: 0, insn: 0, intno: 0, thumb: false });
    this.nativeCalls = [];
    this.callCache.clear();
    this.lastW0 = -1;
    this.lastHit = undefined;
  }

  readonly readGuest = (addr: bigint, len: number): Uint8Array | null => {
    const r = this.cpu.readMem(addr, len);
    return r.ok ? r.value : null;
  };

  /**
   * Keeps the traps the native hook answered by itself since JS last looked (when
   * `taking`, all but the trap the hook is in now, which the caller handles).
   */
  catchUp(taking: boolean) {
    if (!this.nativeCalls.length) return;
    const c32 = this.cpu.ctl32;
    const count = (c32[CTL.RING_COUNT * 2] >>> 0) + (c32[CTL.RING_COUNT * 2 + 1] >>> 0) * 0x1_0000_0000;
    this.records.catchUp(taking ? count - 1 : count, this.nativeCalls);
  }

  /** Called by the native trap hook inside uc_emu_start. */
  onTrap(): number {
    let seq = 0;
    try {
      const c32 = this.cpu.ctl32;
      const intno = c32[CTL.INTNO * 2];
      const trap = intno === INTNO.SMC || intno === INTNO.HVC;
      // (an SMC/HVC took a ring slot: the traps before it are kept before it)
      this.catchUp(trap);
      if (!trap) {
        // not a trap: the count is of SMC/HVC calls. An SVC reports the address after
        // it (its return address): the faulting instruction is the one before.
        this.cpu.ctl[CTL.NTRAPS] -= 1n;
        const pc = this.cpu.ctl[CTL.PC];
        const thumb = this.cpu.arch === 'arm' && ((this.cpu.ctl[CTL.PSTATE] >> 5n) & 1n) === 1n;
        this.exception = { intno, pc: intno === INTNO.SWI ? pc - (thumb ? 2n : 4n) : pc };
        return ACT.STOP;
      }
      seq = this.flow.nextSeq();
      return this.trap(seq, intno === INTNO.SMC ? 'smc' : 'hvc');
    } catch (e) {
      this.internal = { message: e instanceof Error ? e.message : String(e), seq };
      return ACT.STOP;
    }
  }

  private trap(seq: number, conduit: Conduit): number {
    const cpu = this.cpu;
    const c32 = cpu.ctl32;
    const thumb = cpu.arch === 'arm' && (c32[CTL.PSTATE * 2] & 0x20) !== 0;
    const arch: GuestArch = thumb ? 'thumb' : this.archName;
    const imm = immediateOf(arch, conduit, c32[CTL.INSN * 2] >>> 0);
    // the native hook copied the registers to this slot of the record ring
    const slot = c32[CTL.RING_SLOT * 2];
    // the call's context, made only when something reads it (not for a cached call answered from the cache)
    let ctx: CallContext | undefined;
    const w0 = c32[CTL.REGS * 2] >>> 0;
    // a storm repeats one call: the last one looked up is checked first (Map.get hashes a number this large)
    const hit = w0 === this.lastW0 ? this.lastHit : this.callCache.get(w0);
    let decoded: DecodedCall;
    let verdict: Verdict;
    let exact: boolean;
    let call: CachedCall | undefined;
    if (hit !== undefined && hit.conduit === conduit && hit.imm === imm && hit.arch === arch) {
      decoded = hit.decoded;
      verdict = hit.verdict;
      exact = false;
      call = hit;
    } else {
      const c = ctx = this.context(arch, conduit, imm);
      decoded = decodeCall(c);
      verdict = this.policy().decide({ conduit, imm, decoded, implemented: this.firmware.answers(c, decoded) });
      exact = true;
      if (decodeDependsOnIdOnly(c, decoded, w0) && this.callCache.size < 4096) {
        // the decode reads x0 and one register per argument it names (2 words each)
        call = {
          conduit, imm, arch, decoded, verdict, words: Math.min(1 + decoded.args.length, cpu.nArgRegs) * 2,
          constant: this.firmware.constantAnswer(c, decoded),
        };
        this.callCache.set(w0, call);
      }
    }
    if (call !== hit) { this.lastW0 = w0; this.lastHit = this.callCache.get(w0); }
    if (verdict.action === 'ask' && !this.opts.interactive) verdict = this.noOneToAsk(verdict);
    const insns = (c32[CTL.INSNS * 2] >>> 0) + (c32[CTL.INSNS * 2 + 1] >>> 0) * 0x1_0000_0000;
    const pc = cpu.ctl[CTL.PC];
    const lazy = this.records.lazyAt(slot, seq, insns, cpu.ctlF64[CTL.TIME], arch, conduit, imm, pc, decoded, call, exact, verdict);
    switch (verdict.action) {
      case 'emulate': {
        // a call whose answer never changes (Firmware.constantAnswer) is answered from the cache after the first
        let ans = call?.answer;
        let effect: ExitEffect | undefined;
        if (ans !== undefined) cpu.writeBackAll(call!.answerWb!);
        else {
          ({ ans, effect } = applyEmulate(this.hookEnv, ctx ?? this.context(arch, conduit, imm), decoded));
          if (call?.constant && !effect && !ans.memWrites?.length && !ans.output?.length) {
            call.answer = ans;
            call.answerWb = cpu.writeBackValues(ans.regs);
            // nobody reads records as they are made: from now on the hook answers this call
            // without JS (not when this trap's verdict is not the call's own: an ask nobody can answer)
            if (!this.records.consumed && verdict === call.verdict && this.nativeCalls.length < NATIVE_ANSWERS) {
              const key = { w0, insn: c32[CTL.INSN * 2], intno: conduit === 'smc' ? INTNO.SMC : INTNO.HVC, thumb };
              if (cpu.setAnswer(this.nativeCalls.length, this.nativeCalls.length + 1, key, call.answerWb)) this.nativeCalls.push(call);
            }
          }
        }
        lazy.decision = 'emulate';
        lazy.ans = ans;
        this.records.keep(lazy);
        if (effect) { this.exitEffect = effect; return ACT.STOP; }
        return ACT.CONTINUE;
      }
      case 'return':
        lazy.decision = 'return';
        lazy.result = { regs: applyReturn(this.hookEnv, verdict.values ?? {}) };
        this.records.keep(lazy);
        return ACT.CONTINUE;
      case 'skip':
        lazy.decision = 'skip';
        lazy.result = { note: 'registers left unchanged' };
        this.records.keep(lazy);
        return ACT.CONTINUE;
      default: {
        // undef and forward finish outside the hook (exact stop at the trap); ask waits for a person.
        const wait = verdict.action === 'ask' ? 'user' : verdict.action === 'forward' ? 'forward' : 'undef';
        const regs = this.records.regsAt(slot);
        const pctx = { ...(ctx ?? this.context(arch, conduit, imm)), args: regs };
        this.pending = { seq, insns, time: lazy.time, pc, regs, ctx: pctx, decoded: exact ? decoded : decodeCall(pctx), verdict, wait };
        return ACT.STOP;
      }
    }
  }

  private context(arch: GuestArch, conduit: Conduit, imm: number): CallContext {
    return { arch, conduit, imm, args: this.cpu.liveArgs, platform: this.opts.platform, readMem: this.readGuest, cpu: this.opts.vcpu };
  }

  private noOneToAsk(v: Verdict): Verdict {
    const d = this.policy().getDefault();
    const action = d.action === 'ask' ? 'emulate' : d.action;
    return { action, values: d.values, by: 'default', rule: v.rule ? askedBy(v.rule) : undefined };
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
