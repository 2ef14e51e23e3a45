// The trap records of one vCPU: a ring of recent traps kept in their raw form (a
// register slot and references, no strings), made into TrapRecords only when
// someone looks (the trap log, a subscribed front-end, a query), and posted to
// the Session in batches, within the flow-control window (flow.ts).
import { hex } from '../machine/memory.js';
import type { CpuArch } from '../machine/registers.js';
import { decodeCall } from '../decode/index.js';
import type { CallContext, Conduit, DecodedCall, GuestArch } from '../decode/types.js';
import type { FirmwareAnswer } from '../firmware/types.js';
import type { Verdict } from '../policy/rules.js';
import type { DecidedBy } from '../policy/actions.js';
import type { TrapRecord, TrapResult } from './trap-record.js';
import type { FlowWorker } from './flow.js';
import type { TrapLog } from './trap-log.js';

/** A trap as the hot path keeps it. */
export interface Lazy {
  seq: number;
  insns: number;
  time: number;
  /** Slot of its registers in the register ring (-1: the record is made already). */
  slot: number;
  arch: GuestArch;
  conduit: Conduit;
  imm: number;
  /** PC after the trap (past the SMC/HVC). */
  pc: bigint;
  /** The decode: exact, or the cached decode of an earlier call with the same id (static fields only). */
  decoded: DecodedCall;
  exact: boolean;
  verdict: Verdict;
  decision: TrapRecord['decision'];
  by: DecidedBy;
  ans?: FirmwareAnswer;
  result?: TrapResult;
  rec?: TrapRecord;
}

export interface RecordSink {
  records(batch: TrapRecord[]): void;
  output(text: string): void;
}

const MASK64 = 0xffff_ffff_ffff_ffffn;
/** Registers per ring slot: x0..x17 (r0..r14 use the first 15). */
export const RING_REGS = 18;
const BATCH_MAX = 512;
const BATCH_MS = 50;
/** Guest output is posted at each newline, or in pieces of this size (a line that never ends). */
const OUTPUT_PIECE = 4096;

export class RecordBook {
  private readonly kept: Lazy[] = [];
  private keptStart = 0;
  readonly ringSize: number;
  readonly ring64: BigUint64Array;
  readonly ring32: Int32Array;
  private ringNext = 0;
  private batch: TrapRecord[] = [];
  private batchStart = 0;
  private outBuf: number[] = [];

  constructor(
    private readonly arch: CpuArch,
    private readonly vcpu: number,
    private readonly nArgRegs: number,
    private readonly platform: string | undefined,
    private readonly sink: RecordSink,
    private readonly flow: FlowWorker,
    private readonly subscribed: boolean,
    private readonly log: TrapLog | undefined,
    keep = 2048,
  ) {
    this.ringSize = keep;
    this.ring64 = new BigUint64Array(keep * RING_REGS);
    this.ring32 = new Int32Array(this.ring64.buffer);
  }

  /** A free register slot for the next trap (its words at ring32[slot * 36 ...]). */
  nextSlot(): number {
    const slot = this.ringNext;
    this.ringNext = slot + 1 === this.ringSize ? 0 : slot + 1;
    return slot;
  }

  /** The registers of a kept trap, copied out of the ring. */
  regsAt(slot: number): BigUint64Array {
    return this.ring64.slice(slot * RING_REGS, slot * RING_REGS + this.nArgRegs);
  }

  /** Keeps a trap; writes it to the log and hands it on at once when someone is listening. */
  keep(l: Lazy) {
    const max = this.ringSize;
    if (this.kept.length - this.keptStart >= max) {
      this.keptStart++;
      if (this.keptStart > max) { this.kept.splice(0, this.keptStart); this.keptStart = 0; }
    }
    this.kept.push(l);
    if (!this.subscribed && !this.log) return;
    const rec = this.materialize(l);
    this.log?.write(JSON.stringify(rec) + '\n');
    if (!this.subscribed) return;
    if (this.batch.length === 0) this.batchStart = Date.now();
    this.batch.push(rec);
    if (this.batch.length >= BATCH_MAX || Date.now() - this.batchStart > BATCH_MS) this.flush();
  }

  materialize(l: Lazy): TrapRecord {
    if (l.rec) return l.rec;
    const regs = this.regsAt(l.slot);
    const ctx: CallContext = { arch: l.arch, conduit: l.conduit, imm: l.imm, args: regs, platform: this.platform, cpu: this.vcpu };
    const decoded = l.exact ? l.decoded : decodeCall(ctx);
    const result = l.result ?? (l.ans ? emulateResult(l.ans, this.arch) : {});
    const rec = makeRecord(this.vcpu, l.seq, l.insns, regs, l.pc, ctx, decoded, l.verdict.rule, l.decision, l.by, result, l.time);
    l.rec = rec;
    return rec;
  }

  /** Posts what is batched (records first, then output, so their order holds). */
  flush() {
    if (this.batch.length) {
      const b = this.batch;
      this.batch = [];
      this.flow.post('records', b.length);
      this.sink.records(b);
    }
    if (this.outBuf.length) {
      const text = String.fromCharCode(...this.outBuf);
      this.outBuf = [];
      this.flow.post('output', text.length);
      this.sink.output(text);
    }
  }

  /** A byte the guest wrote to its UART. */
  output(b: number) {
    this.outBuf.push(b);
    if (b === 10 || this.outBuf.length >= OUTPUT_PIECE) this.flush();
  }

  /** The last n kept traps, or those from seq `from` on (at most n). */
  query(n: number | undefined, from: number | undefined): TrapRecord[] {
    let start = this.keptStart;
    if (from !== undefined) {
      while (start < this.kept.length && this.kept[start].seq < from) start++;
      return this.kept.slice(start, n === undefined ? undefined : start + n).map((l) => this.materialize(l));
    }
    start = Math.max(start, this.kept.length - (n ?? 20));
    return this.kept.slice(start).map((l) => this.materialize(l));
  }
}

export function makeRecord(vcpu: number, seq: number, insns: number, regs: ArrayLike<bigint>, pcAfter: bigint, ctx: CallContext, decoded: DecodedCall,
  rule: string | undefined, decision: TrapRecord['decision'], by: DecidedBy, result: TrapResult, time = Date.now()): TrapRecord {
  const args = new Array<string>(regs.length);
  for (let i = 0; i < regs.length; i++) args[i] = '0x' + regs[i].toString(16);
  const rec: TrapRecord = {
    seq, insns, cpu: vcpu, arch: ctx.arch, conduit: ctx.conduit, imm: ctx.imm, pc: hex(pcAfter - 4n),
    args, decoded, decision, by, result, time: new Date(time).toISOString(),
  };
  if (rule) rec.rule = rule;
  return rec;
}

export function emulateResult(ans: FirmwareAnswer, arch: CpuArch): TrapResult {
  const regs: Record<string, string> = {};
  const prefix = arch === 'aarch64' ? 'x' : 'r';
  const mask = arch === 'aarch64' ? MASK64 : 0xffff_ffffn;
  ans.regs.forEach((v, i) => { regs[`${prefix}${i}`] = '0x' + (v & mask).toString(16); });
  const r: TrapResult = { regs };
  if (ans.effect) r.effect = ans.effect;
  if (!ans.handled) r.note = 'not implemented by the built-in firmware: NOT_SUPPORTED';
  else if (ans.note) r.note = ans.note;
  return r;
}
