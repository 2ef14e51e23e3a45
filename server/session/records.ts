// The trap records of one vCPU: a ring of recent traps kept in their raw form (a
// register slot and references, no strings), turned into their JSON line only
// when someone looks (the trap log, a subscribed front-end, a query), and posted
// to the Session in batches, within the flow-control window (flow.ts).
//
// The JSON line is the record's one wire form: the trap log writes it, a batch
// is posted as one JSON text (parsed once on the main thread: cheaper than a
// structured clone of the objects), and queries parse it back. A call whose
// decode depends on its id alone reuses the JSON of its decode while its
// argument registers are the same as last time.
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

/** Decode and verdict of a call whose decode depends on its id alone, reused while the policy stands. */
export interface CachedCall {
  conduit: Conduit;
  imm: number;
  arch: GuestArch;
  decoded: DecodedCall;
  verdict: Verdict;
  /** Registers (as 32-bit words, x0 first) the decode reads: x0 and one per decoded argument. */
  words: number;
  /** The words of the last trap whose decode JSON is in `json`. */
  lastWords?: Int32Array;
  json?: string;
  /** The firmware's answer is the same for every such call (Firmware.constantAnswer). */
  constant: boolean;
  /** That answer, once given: repeated calls are answered from it (see TrapPath); and its JSON. */
  answer?: FirmwareAnswer;
  answerJson?: string;
  /** That answer's registers as the native hook writes them back (Cpu.writeBackValues). */
  answerWb?: { values: bigint[]; mask: bigint };
}

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
  /** The cache entry the decode came from (or went to). */
  call?: CachedCall;
  exact: boolean;
  verdict: Verdict;
  decision: TrapRecord['decision'];
  by: DecidedBy;
  ans?: FirmwareAnswer;
  result?: TrapResult;
  rec?: TrapRecord;
}

export interface RecordSink {
  /**
   * A batch as UTF-8 JSON text, {"r": [records whose "decoded" and "args" are indexes
   * into d, or the values themselves], "d": [decodes and argument lists]}, in bytes
   * the receiver may take over (transfer).
   */
  records(bytes: Uint8Array, count: number): void;
  output(text: string): void;
}

const MASK64 = 0xffff_ffff_ffff_ffffn;
/** Registers per ring slot: x0..x17 (r0..r14 use the first 15). */
export const RING_REGS = 18;
/**
 * 64-bit words a ring slot takes: the registers, then (written by the native hook
 * for a call it answered itself, RING_ANSWER > 0) the trap's seq, instruction count,
 * time, pc and answer (native/trapdoor.c RING_*).
 */
export const RING = { SEQ: 18, INSNS: 19, TIME: 20, PC: 21, ANSWER: 22, WORDS: 24 } as const;
const BATCH_MAX = 512;
/** A batch's first allocation: ~512 records of a storm. */
const BATCH_BYTES = 512 << 10;
const BATCH_MS = 50;
/**
 * Records or output waiting to be posted stop the run this many instructions
 * later at the latest (a few ms of a busy guest), so the newest trap is on the
 * front-end's screen even when the guest then spins or hangs.
 */
const FLUSH_INSNS = 1_000_000;

/** What stops a run so that waiting records get posted (Cpu.flushIn / flushed). */
export interface FlushTimer {
  flushIn(insns: number): boolean;
  flushed(): void;
}
/** Guest output is posted at each newline, or in pieces of this size (a line that never ends). */
const OUTPUT_PIECE = 4096;

export class RecordBook {
  /** The kept traps: a ring of keepMax, the oldest at keptNext - keptCount. */
  private readonly kept: (Lazy | undefined)[];
  private keptNext = 0;
  private keptCount = 0;
  readonly ringSize: number;
  readonly ring64: BigUint64Array;
  readonly ring32: Int32Array;
  private readonly ringF64: Float64Array;
  /** Ring slots whose trap is kept or pending (the traps the hook answered itself are kept by catchUp). */
  private seen = 0;
  /** The record object of each ring slot (lazyAt). */
  private readonly pool: (Lazy | undefined)[];
  /** The batch being written: JSON text straight into bytes to transfer (no joined string, no copy to post). */
  private batchBytes: Buffer | undefined;
  private batchPos = 0;
  private batchCount = 0;
  /** Decodes and argument lists of the batch, by their JSON text (see shared). */
  private readonly batchShared = new Map<string, number>();
  private batchStart = 0;
  private outBuf: number[] = [];
  private lastTime = 0;
  private lastPc = -1n;
  private lastPcHex = '';
  private readonly lastArgs = new Int32Array(RING_REGS * 2);
  private lastArgsJson = '';
  /** The trap log's bytes of the last argument list and decode (a storm of one call encodes them once). */
  private argsBytes: { of: string; bytes: Buffer } = { of: '', bytes: Buffer.alloc(0) };
  private decodedBytes: { of: string; bytes: Buffer } = { of: '', bytes: Buffer.alloc(0) };
  private lastIso = '';
  private readonly regJson: string;
  private readonly archJson: Record<GuestArch, string> = { aarch64: '"aarch64"', aarch32: '"aarch32"', thumb: '"thumb"' };

  constructor(
    private readonly arch: CpuArch,
    private readonly vcpu: number,
    private readonly nArgRegs: number,
    private readonly platform: string | undefined,
    private readonly sink: RecordSink,
    private readonly flow: FlowWorker,
    private readonly subscribed: boolean,
    private readonly log: TrapLog | undefined,
    private readonly keepMax = 2048,
    private readonly timer?: FlushTimer,
  ) {
    // a slot more than the traps kept: the trap being taken (the hook has written its
    // slot) never overwrites the registers or record of a trap still kept
    this.ringSize = keepMax + 1;
    // shared memory: the native trap hook writes the registers of each trap here (Cpu.attachRing)
    this.ring64 = new BigUint64Array(new SharedArrayBuffer(this.ringSize * RING.WORDS * 8));
    this.ring32 = new Int32Array(this.ring64.buffer);
    this.ringF64 = new Float64Array(this.ring64.buffer);
    this.pool = new Array<Lazy | undefined>(this.ringSize).fill(undefined);
    this.kept = new Array<Lazy | undefined>(keepMax).fill(undefined);
    this.regJson = arch === 'aarch64' ? 'x' : 'r';
  }

  /**
   * The record of the trap whose registers are in ring slot `slot`, as the trap
   * path starts it: one object per slot, reused (no allocation per trap). The trap
   * that had the slot before was dropped from `kept` before the hook wrote the
   * slot again (the ring has a slot more than kept holds).
   */
  lazyAt(slot: number, seq: number, insns: number, time: number, arch: GuestArch, conduit: Conduit, imm: number, pc: bigint,
    decoded: DecodedCall, call: CachedCall | undefined, exact: boolean, verdict: Verdict): Lazy {
    let l = this.pool[slot];
    if (l === undefined) {
      l = this.pool[slot] = { seq, insns, time, slot, arch, conduit, imm, pc, decoded, call, exact, verdict, decision: 'pending', by: verdict.by, ans: undefined, result: undefined, rec: undefined };
      return l;
    }
    l.seq = seq; l.insns = insns; l.time = time; l.arch = arch; l.conduit = conduit; l.imm = imm; l.pc = pc;
    l.decoded = decoded; l.call = call; l.exact = exact; l.verdict = verdict; l.decision = 'pending'; l.by = verdict.by;
    l.ans = undefined; l.result = undefined;
    return l;
  }

  /** Records are made as traps happen (a trap log, a subscriber): the hook must not answer calls by itself. */
  get consumed(): boolean { return this.subscribed || this.log !== undefined; }

  /**
   * Keeps the traps the native hook answered by itself (Cpu.setAnswer) among the
   * first `upTo` ring slots written (the count the hook keeps, CTL.RING_COUNT),
   * oldest first: only the last `keepMax` of them, as many as are kept. `calls`
   * are the cached calls of the hook's answers, by index.
   */
  catchUp(upTo: number, calls: readonly (CachedCall | undefined)[]) {
    let i = this.seen;
    if (upTo - i > this.keepMax) i = upTo - this.keepMax;
    for (; i < upTo; i++) {
      const slot = i % this.ringSize;
      const w = slot * RING.WORDS;
      const answer = this.ring32[(w + RING.ANSWER) * 2];
      const call = answer > 0 ? calls[answer - 1] : undefined;
      if (!call) continue; // the JS path kept it (or it is the trap pending now)
      const word = (k: number) => (this.ring32[(w + k) * 2] >>> 0) + (this.ring32[(w + k) * 2 + 1] >>> 0) * 0x1_0000_0000;
      const l = this.lazyAt(slot, word(RING.SEQ), word(RING.INSNS), this.ringF64[w + RING.TIME], call.arch, call.conduit, call.imm,
        this.ring64[w + RING.PC], call.decoded, call, false, call.verdict);
      l.decision = 'emulate';
      l.ans = call.answer;
      this.keep(l);
    }
    if (upTo > this.seen) this.seen = upTo;
  }

  /** The registers of a kept trap, copied out of the ring. */
  regsAt(slot: number): BigUint64Array {
    return this.ring64.slice(slot * RING.WORDS, slot * RING.WORDS + this.nArgRegs);
  }

  /**
   * Keeps a trap; writes it to the log and hands it on at once when someone is
   * listening. What the guest wrote through the firmware (Xen console_io) follows
   * its record as guest output.
   */
  keep(l: Lazy) {
    const next = this.keptNext;
    this.kept[next] = l;
    this.keptNext = next + 1 === this.keepMax ? 0 : next + 1;
    if (this.keptCount < this.keepMax) this.keptCount++;
    this.send(l);
    const out = l.ans?.output;
    if (out) for (const b of out) this.output(b);
  }

  private send(l: Lazy) {
    if (!this.subscribed && !this.log) return;
    if (l.rec) {
      const line = JSON.stringify(l.rec);
      this.log?.write(line);
      if (this.subscribed) this.queue(line);
      return;
    }
    const w = l.slot * RING.WORDS * 2;
    const head = this.head(l);
    const args = this.argsJson(w);
    const decoded = this.decodedJson(l, w);
    const tail = this.tail(l);
    if (this.log) {
      // the argument list and the decode go to the log as bytes encoded once while they repeat
      if (this.argsBytes.of !== args) this.argsBytes = { of: args, bytes: Buffer.from(args) };
      if (this.decodedBytes.of !== decoded) this.decodedBytes = { of: decoded, bytes: Buffer.from(',"decoded":' + decoded) };
      this.log.writeRecord(head, this.argsBytes.bytes, this.decodedBytes.bytes, tail);
    }
    if (!this.subscribed) return;
    this.queue(head + this.shared(args) + ',"decoded":' + this.shared(decoded) + tail);
  }

  /**
   * In a batch, a decode or an argument list is sent once and named by its index
   * (a storm of one call posts them once): the index of this JSON text.
   */
  private shared(json: string): number {
    let index = this.batchShared.get(json);
    if (index === undefined) {
      index = this.batchShared.size;
      this.batchShared.set(json, index);
    }
    return index;
  }

  private queue(rec: string) {
    // room for the record (3 bytes a character at worst), and for the decodes at the end
    if (this.batchBytes && this.batchPos + rec.length * 3 + this.sharedBytes() + 16 > this.batchBytes.length) this.flush();
    if (!this.batchBytes) {
      this.batchBytes = Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, rec.length * 3 + 64));
      this.batchPos = this.batchBytes.write('{"r":[', 0, 'latin1');
      this.batchStart = Date.now();
    } else this.batchBytes[this.batchPos++] = 0x2c; // ','
    this.batchPos += this.batchBytes.write(rec, this.batchPos);
    this.batchCount++;
    if (this.batchCount >= BATCH_MAX || Date.now() - this.batchStart > BATCH_MS) this.flush();
    // The newest record must not wait for the next trap: the block hook stops the
    // run shortly after (the engine then flushes). Without a block hook, post now.
    else if (this.batchCount === 1 && !this.timer?.flushIn(FLUSH_INSNS)) this.flush();
  }

  private sharedBytes(): number {
    let n = 8;
    for (const d of this.batchShared.keys()) n += d.length * 3 + 1;
    return n;
  }

  /** The record as an object (queries; rare). */
  materialize(l: Lazy): TrapRecord {
    return l.rec ?? (JSON.parse(this.line(l)) as TrapRecord);
  }

  /**
   * The record's JSON line (key order as in makeRecord). Not kept: a kept line
   * would be copied by every young-generation collection while its trap is in
   * the ring, which cost more than making it again when a query asks.
   */
  line(l: Lazy): string {
    if (l.rec) return JSON.stringify(l.rec);
    const w = l.slot * RING.WORDS * 2;
    return this.head(l) + this.argsJson(w) + ',"decoded":' + this.decodedJson(l, w) + this.tail(l);
  }

  /** The line up to `"args":`. */
  private head(l: Lazy): string {
    if (l.pc !== this.lastPc) { this.lastPc = l.pc; this.lastPcHex = hex(l.pc - 4n); }
    return `{"seq":${l.seq},"insns":${l.insns},"cpu":${this.vcpu},"arch":${this.archJson[l.arch]},"conduit":"${l.conduit}","imm":${l.imm},`
      + `"pc":"${this.lastPcHex}","args":`;
  }

  /** The line after the decode. */
  private tail(l: Lazy): string {
    if (l.time !== this.lastTime) { this.lastTime = l.time; this.lastIso = new Date(l.time).toISOString(); }
    const rule = l.verdict.rule === undefined ? '' : `,"rule":${JSON.stringify(l.verdict.rule)}`;
    return `,"decision":"${l.decision}","by":"${l.by}","result":${this.resultJson(l)}${rule},"time":"${this.lastIso}"}`;
  }

  /** The argument registers as JSON strings: the last trap's text while they are the same (a storm of one call). */
  private argsJson(w: number): string {
    const ring = this.ring32;
    const n = this.nArgRegs * 2;
    const last = this.lastArgs;
    let same = this.lastArgsJson !== '';
    for (let i = 0; same && i < n; i++) same = last[i] === ring[w + i];
    if (same) return this.lastArgsJson;
    let args = '[';
    for (let i = 0; i < this.nArgRegs; i++) {
      const lo = ring[w + 2 * i] >>> 0;
      const hi = ring[w + 2 * i + 1] >>> 0;
      args += (i ? ',"0x' : '"0x') + (hi ? hi.toString(16) + lo.toString(16).padStart(8, '0') : lo.toString(16)) + '"';
    }
    last.set(ring.subarray(w, w + n));
    this.lastArgsJson = args + ']';
    return this.lastArgsJson;
  }

  /** The decode's JSON: the cached one while the registers it reads are unchanged. */
  private decodedJson(l: Lazy, w: number): string {
    const c = l.call;
    if (!c) return JSON.stringify(l.exact ? l.decoded : this.decodeAt(l));
    const ring = this.ring32;
    const last = c.lastWords;
    let same = last !== undefined && c.json !== undefined;
    for (let i = 0; same && i < c.words; i++) same = last![i] === ring[w + i];
    if (same) return c.json!;
    c.json = JSON.stringify(l.exact ? l.decoded : this.decodeAt(l));
    c.lastWords = ring.slice(w, w + c.words);
    return c.json;
  }

  private decodeAt(l: Lazy): DecodedCall {
    const ctx: CallContext = { arch: l.arch, conduit: l.conduit, imm: l.imm, args: this.regsAt(l.slot), platform: this.platform, cpu: this.vcpu };
    return decodeCall(ctx);
  }

  private resultJson(l: Lazy): string {
    if (l.result) return JSON.stringify(l.result);
    const ans = l.ans;
    if (!ans) return '{}';
    // a cached call's constant answer (TrapPath): its JSON once
    const c = l.call;
    if (c !== undefined && c.answer === ans) return (c.answerJson ??= this.answerJson(ans));
    return this.answerJson(ans);
  }

  private answerJson(ans: FirmwareAnswer): string {
    const mask = this.arch === 'aarch64' ? MASK64 : 0xffff_ffffn;
    let regs = '';
    for (let i = 0; i < ans.regs.length; i++) regs += `${i ? ',' : ''}"${this.regJson}${i}":"0x${(ans.regs[i] & mask).toString(16)}"`;
    let out = `{"regs":{${regs}}`;
    if (ans.memWrites?.length) out += `,"memory":${JSON.stringify(memoryOf(ans))}`;
    if (ans.effect) out += `,"effect":"${ans.effect}"`;
    const note = noteOf(ans);
    if (note) out += `,"note":${JSON.stringify(note)}`;
    return out + '}';
  }

  /** Posts what is batched (records first, then output, so their order holds). */
  flush() {
    this.timer?.flushed();
    const bytes = this.batchBytes;
    if (bytes) {
      let pos = this.batchPos + bytes.write('],"d":[', this.batchPos, 'latin1');
      let first = true;
      for (const d of this.batchShared.keys()) {
        if (!first) bytes[pos++] = 0x2c;
        first = false;
        pos += bytes.write(d, pos);
      }
      pos += bytes.write(']}', pos, 'latin1');
      const count = this.batchCount;
      this.batchBytes = undefined;
      this.batchCount = 0;
      this.batchShared.clear();
      this.flow.post('records', count);
      this.sink.records(new Uint8Array(bytes.buffer, bytes.byteOffset, pos), count);
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
    // a line still open (a prompt) is posted shortly after, as records are
    else if (this.outBuf.length === 1) this.timer?.flushIn(FLUSH_INSNS);
  }

  /** The last n kept traps, or those from seq `from` on (at most n). */
  query(n: number | undefined, from: number | undefined): TrapRecord[] {
    const all: Lazy[] = [];
    for (let i = 0, at = this.keptNext - this.keptCount; i < this.keptCount; i++, at++) all.push(this.kept[at < 0 ? at + this.keepMax : at]!);
    if (from !== undefined) {
      let start = 0;
      while (start < all.length && all[start].seq < from) start++;
      return all.slice(start, n === undefined ? undefined : start + n).map((l) => this.materialize(l));
    }
    return all.slice(Math.max(0, all.length - (n ?? 20))).map((l) => this.materialize(l));
  }
}

export function makeRecord(vcpu: number, seq: number, insns: number, regs: ArrayLike<bigint>, pcAfter: bigint, ctx: CallContext, decoded: DecodedCall,
  rule: string | undefined, decision: TrapRecord['decision'], by: DecidedBy, result: TrapResult, time = Date.now()): TrapRecord {
  const args = new Array<string>(regs.length);
  for (let i = 0; i < regs.length; i++) args[i] = '0x' + regs[i].toString(16);
  // the key order of the JSON line (line() above)
  return {
    seq, insns, cpu: vcpu, arch: ctx.arch, conduit: ctx.conduit, imm: ctx.imm, pc: hex(pcAfter - 4n),
    args, decoded, decision, by, result, ...(rule ? { rule } : {}), time: new Date(time).toISOString(),
  };
}

/** A record's note for a firmware answer: its own, or why an unhandled call got NOT_SUPPORTED. */
function noteOf(ans: FirmwareAnswer): string | undefined {
  return ans.handled ? ans.note : ans.note ?? 'not implemented by the built-in firmware: NOT_SUPPORTED';
}

/** The guest memory a firmware answer writes, as the record shows it. */
function memoryOf(ans: FirmwareAnswer): TrapResult['memory'] {
  return ans.memWrites?.map((m) => ({ addr: hex(m.addr), len: m.bytes.length }));
}

export function emulateResult(ans: FirmwareAnswer, arch: CpuArch): TrapResult {
  const regs: Record<string, string> = {};
  const prefix = arch === 'aarch64' ? 'x' : 'r';
  const mask = arch === 'aarch64' ? MASK64 : 0xffff_ffffn;
  ans.regs.forEach((v, i) => { regs[`${prefix}${i}`] = '0x' + (v & mask).toString(16); });
  const r: TrapResult = { regs };
  if (ans.memWrites?.length) r.memory = memoryOf(ans);
  if (ans.effect) r.effect = ans.effect;
  const note = noteOf(ans);
  if (note) r.note = note;
  return r;
}
