// One vCPU: a Unicorn instance with our native hooks attached. It knows nothing of
// SMCCC: it reports raw exceptions (interrupt number, PC, instruction word) and
// offers registers, memory, run/step, breakpoints and watchpoints.
// Everything here runs on the thread that owns the vCPU (the emulation worker).
import { ffi, unicorn, ucError, UC_ARCH_ARM, UC_ARCH_ARM64, UC_MODE_ARM, UC_PROT_ALL, UC_CTL_CPU_MODEL, UC_CTL_TB_FLUSH, UC_CTL_TB_REMOVE_CACHE, ucCtlWrite, type Ptr, UC_ERR, UC_MEM_TYPES, UC_ARM64_REG_CP_REG, UC_ARM_REG_CP_REG } from './unicorn.js';
import { CTL, STOP } from './ctl.js';
import { regToHex } from './reg-hex.js';
import { registerTable, findRegister, ARM64_IDS, ARM_IDS, type CpuArch, type RegDef } from './registers.js';
import { MemoryMap, hex, type MemResult } from './memory.js';
import { locateFault } from './fault-locate.js';
import { thumbItBlockOf } from './step-plan.js';

/** Why a run or step returned. Exact stop points only: the CPU can be resumed. */
export type CpuStop =
  | { kind: 'trap' }                      // the trap handler asked to stop (decision pending, or end)
  | { kind: 'pause' }
  | { kind: 'deadline' }
  | { kind: 'step' }
  | { kind: 'breakpoint'; addr: bigint }
  | { kind: 'watchpoint'; addr: bigint; access: 'read' | 'write' }
  | { kind: 'fault'; error: string; access?: string; addr?: bigint; size?: number; pc: bigint; hard?: boolean; exact?: boolean }
  | { kind: 'flush' }                     // records wait to be posted (flushIn): post them and run on
  | { kind: 'idle' };                     // WFI: Unicorn returns with PC after it (no interrupt can come)

export interface RawTrap {
  intno: number;
  /** PC after the exception was taken (past SMC/HVC). */
  pc: bigint;
  insn: number;
  pstate: bigint;
  /** x0..x17 / r0..r14, copied out of the control block. */
  regs: BigUint64Array;
}

export interface DeviceHandlers {
  read(offset: bigint, size: number): bigint;
  write(offset: bigint, size: number, value: bigint): void;
}

/** Addresses one step can stop at (TD_STEP_MAX in trapdoor.c). */
const STEP_MAX = 4;
/** Dormant step targets kept between steps (a loop being stepped through; a page of code). */
const STEP_HOOKS_KEPT = 64;
/**
 * Instructions a run that is not a step keeps the dormant step targets for (see
 * run): a debugger's breakpoint cycle (step off the breakpoint, continue to it)
 * comes back to them well within it.
 */
const STEP_HOOKS_KEPT_INSNS = 100_000n;

/** A register one batch read gives as it is (td_read_regs, td_stop_frame): a plain Unicorn id of at most 64 bits. */
const readInBatch = (d: RegDef | undefined): d is RegDef => d?.uc !== undefined && d.bits <= 64 && !d.derive && !d.name.startsWith('SP_EL');

export const INTNO = { UDEF: 1, SWI: 2, PREFETCH_ABORT: 3, DATA_ABORT: 4, IRQ: 5, FIQ: 6, BKPT: 7, HVC: 11, HYP_TRAP: 12, SMC: 13 } as const;

export class Cpu {
  readonly ctl: BigUint64Array;
  readonly ctl32: Int32Array;
  /** The control block as doubles (CTL.TIME). */
  readonly ctlF64: Float64Array;
  /** readRegsHex's plan for each list of names it was asked for. */
  private readonly hexPlans = new Map<string, { defs: (RegDef | undefined)[]; batch: number[]; ids: Int32Array; out: Uint32Array }>();
  /** stopFrame's plan for each list of names (the stub keeps one list per layout). */
  private readonly framePlans = new WeakMap<readonly string[], { ids: Int32Array; sizes: Uint8Array; nums: Int32Array } | null>();
  private readonly frameOut = Buffer.alloc(8192);
  private readonly uc: Ptr;
  private readonly td: Ptr;
  private readonly lib = unicorn();
  private readonly breakpoints = new Map<bigint, bigint>();
  /** Step targets by address (armStep): hook handles, oldest use first. */
  private readonly stepHooks = new Map<bigint, bigint>();
  private armed: bigint[] = [];
  private readonly watchpoints = new Map<string, bigint>();
  /** koffi callbacks handed to C: unregistered on close (koffi has a limited number). */
  private readonly callbacks: bigint[] = [];
  private closed = false;
  private counting = false;
  /** PC where the last run stopped: a breakpoint there is passed once when resuming. */
  private stoppedAt: bigint | undefined;
  /** A pause was requested during the last run (whatever stopped it). */
  pauseRequested = false;
  private readonly buf8 = Buffer.alloc(8);
  private readonly buf16 = Buffer.alloc(16);
  private readonly cpBuf: Buffer;
  readonly regs: RegDef[];
  readonly nArgRegs: number;
  /** The native block hook runs (not --no-count): it counts, and can stop a run for a deadline or a flush. */
  readonly countBlocks: boolean;
  /** x0..x17 / r0..r14 as the trap hook sees them (valid inside the hook only). */
  readonly liveArgs: BigUint64Array;

  constructor(readonly arch: CpuArch, readonly mem: MemoryMap, ctlBuffer: SharedArrayBuffer, onTrap: () => number, opts: { countBlocks?: boolean; cpuModel?: number } = {}) {
    this.ctl = new BigUint64Array(ctlBuffer);
    this.countBlocks = opts.countBlocks !== false;
    this.ctl32 = new Int32Array(ctlBuffer);
    this.ctlF64 = new Float64Array(ctlBuffer);
    this.regs = registerTable(arch);
    this.nArgRegs = arch === 'aarch64' ? 18 : 15;
    this.liveArgs = this.ctl.subarray(CTL.REGS, CTL.REGS + this.nArgRegs);
    this.cpBuf = Buffer.alloc(arch === 'aarch64' ? 32 : 40);
    const h: Ptr[] = [null];
    const err = this.lib.uc_open(arch === 'aarch64' ? UC_ARCH_ARM64 : UC_ARCH_ARM, UC_MODE_ARM, h) as number;
    if (err) throw new Error(`uc_open failed: ${ucError(err)}`);
    this.uc = h[0];
    // From here every failure gives back what was taken (the engine reserves 1 GiB
    // of address space; the native state holds one of the process's vCPU slots).
    let td: Ptr = null;
    try {
      if (opts.cpuModel !== undefined) {
        const e = this.lib.uc_ctl_int(this.uc, ucCtlWrite(UC_CTL_CPU_MODEL, 1), 'int', opts.cpuModel) as number;
        if (e) throw new Error(`CPU model ${opts.cpuModel}: ${ucError(e)}`);
      }
      for (const r of mem.regions) {
        if (r.kind !== 'ram') continue;
        const e = this.lib.uc_mem_map_ptr(this.uc, r.base, Number(r.size), UC_PROT_ALL, new Uint8Array(r.buf)) as number;
        if (e) throw new Error(`mapping ${r.name} at ${hex(r.base)} failed: ${ucError(e)}`);
      }
      const cb = ffi().register(onTrap, ffi().pointer(this.lib.TrapCb));
      this.callbacks.push(cb);
      td = this.lib.td_attach(this.uc, this.ctl, arch === 'aarch64' ? 0 : 1, cb, opts.countBlocks === false ? 0 : 1);
      if (!td) throw new Error(`attaching the native hooks failed: ${this.lib.td_last_error() as string}`);
      // HVC only reaches the interrupt hook as a hypervisor call once SCR says EL2 exists
      // (FACTS.md): SCR_EL3 = NS|HCE|RW (AArch64), SCR = NS|HCE (AArch32).
      const e = arch === 'aarch64'
        ? this.writeCp64({ op0: 3, op1: 6, crn: 1, crm: 1, op2: 0 }, 0x501n)
        : this.writeCp32({ cp: 15, crn: 1, crm: 1, opc1: 0, opc2: 0 }, 0x101n);
      if (e) throw new Error(`enabling HVC (writing SCR): ${ucError(e)}`);
    } catch (e) {
      if (td) this.lib.td_detach(td);
      this.lib.uc_close(this.uc);
      this.unregisterCallbacks();
      throw e;
    }
    this.td = td;
  }

  /** Maps a device: callbacks run on this thread, inside the run. */
  mapDevice(name: string, base: bigint, size: bigint, dev: DeviceHandlers): MemResult<true> {
    const added = this.mem.add({ kind: 'mmio', name, base, size });
    if (!added.ok) return added;
    const rd = ffi().register((_uc: unknown, off: bigint | number, sz: number) => dev.read(BigInt(off), sz), ffi().pointer(this.lib.MmioRead));
    const wr = ffi().register((_uc: unknown, off: bigint | number, sz: number, v: bigint | number) => dev.write(BigInt(off), sz, BigInt(v)), ffi().pointer(this.lib.MmioWrite));
    this.callbacks.push(rd, wr);
    const e = this.lib.uc_mmio_map(this.uc, base, Number(size), rd, null, wr, null) as number;
    return e ? { ok: false, error: `mapping device ${name}: ${ucError(e)}` } : { ok: true, value: true };
  }

  // ---------------------------------------------------------------- registers
  private readCp64(cp: { op0: number; op1: number; crn: number; crm: number; op2: number }): bigint {
    const b = this.cpBuf;
    b.fill(0);
    b.writeUInt32LE(cp.crn, 0); b.writeUInt32LE(cp.crm, 4); b.writeUInt32LE(cp.op0, 8); b.writeUInt32LE(cp.op1, 12); b.writeUInt32LE(cp.op2, 16);
    this.lib.uc_reg_read(this.uc, UC_ARM64_REG_CP_REG, b);
    return b.readBigUInt64LE(24);
  }
  private writeCp64(cp: { op0: number; op1: number; crn: number; crm: number; op2: number }, v: bigint): number {
    const b = this.cpBuf;
    b.fill(0);
    b.writeUInt32LE(cp.crn, 0); b.writeUInt32LE(cp.crm, 4); b.writeUInt32LE(cp.op0, 8); b.writeUInt32LE(cp.op1, 12); b.writeUInt32LE(cp.op2, 16);
    b.writeBigUInt64LE(v, 24);
    return this.lib.uc_reg_write(this.uc, UC_ARM64_REG_CP_REG, b) as number;
  }
  private cp32Buf(cp: { cp: number; crn: number; crm: number; opc1: number; opc2: number; is64?: boolean }, v = 0n) {
    const b = this.cpBuf;
    b.fill(0);
    b.writeUInt32LE(cp.cp, 0); b.writeUInt32LE(cp.is64 ? 1 : 0, 4); b.writeUInt32LE(0, 8);
    b.writeUInt32LE(cp.crn, 12); b.writeUInt32LE(cp.crm, 16); b.writeUInt32LE(cp.opc1, 20); b.writeUInt32LE(cp.opc2, 24);
    b.writeBigUInt64LE(v, 32);
    return b;
  }
  private readCp32(cp: { cp: number; crn: number; crm: number; opc1: number; opc2: number; is64?: boolean }): bigint {
    const b = this.cp32Buf(cp);
    this.lib.uc_reg_read(this.uc, UC_ARM_REG_CP_REG, b);
    return b.readBigUInt64LE(32);
  }
  private writeCp32(cp: { cp: number; crn: number; crm: number; opc1: number; opc2: number; is64?: boolean }, v: bigint): number {
    return this.lib.uc_reg_write(this.uc, UC_ARM_REG_CP_REG, this.cp32Buf(cp, v)) as number;
  }

  private readId(id: number, bits: number): bigint {
    if (bits === 128) {
      this.buf16.fill(0);
      this.lib.uc_reg_read(this.uc, id, this.buf16);
      return this.buf16.readBigUInt64LE(0) | (this.buf16.readBigUInt64LE(8) << 64n);
    }
    this.buf8.fill(0);
    this.lib.uc_reg_read(this.uc, id, this.buf8);
    const v = this.buf8.readBigUInt64LE(0);
    return bits === 32 ? v & 0xffff_ffffn : v;
  }
  private writeId(id: number, bits: number, v: bigint): number {
    if (bits === 128) {
      this.buf16.writeBigUInt64LE(v & 0xffff_ffff_ffff_ffffn, 0);
      this.buf16.writeBigUInt64LE((v >> 64n) & 0xffff_ffff_ffff_ffffn, 8);
      return this.lib.uc_reg_write(this.uc, id, this.buf16) as number;
    }
    this.buf8.writeBigUInt64LE(v & 0xffff_ffff_ffff_ffffn, 0);
    return this.lib.uc_reg_write(this.uc, id, this.buf8) as number;
  }

  /**
   * AArch64 keeps the stack pointer in use in `sp` and banks it into SP_ELn only
   * when the EL or SPSel changes: the SP_ELn register the CPU is using now is `sp`
   * (reading the bank would give a stale value, and writing it would be undone).
   */
  private liveBank(def: RegDef): RegDef {
    if (this.arch !== 'aarch64' || !def.name.startsWith('SP_EL')) return def;
    const pstate = this.readId(findRegister('aarch64', 'cpsr')!.uc!, 32);
    const inUse = pstate & 1n ? (pstate >> 2n) & 3n : 0n;
    return def.name === `SP_EL${inUse}` ? findRegister('aarch64', 'sp')! : def;
  }

  /**
   * How to read a list of registers: those Unicorn reads by id (up to 64 bits)
   * in one native call, the others one by one (SP_ELn: liveBank; derived and
   * 128-bit ones). Made once per list.
   */
  private regPlan(names: readonly string[]) {
    const key = names.join();
    let plan = this.hexPlans.get(key);
    if (!plan) {
      const defs = names.map((n) => findRegister(this.arch, n));
      const batch = defs.flatMap((d, i) => (readInBatch(d) ? [i] : []));
      plan = { defs, batch, ids: Int32Array.from(batch, (i) => defs[i]!.uc!), out: new Uint32Array(batch.length * 2) };
      if (this.hexPlans.size > 64) this.hexPlans.clear();
      this.hexPlans.set(key, plan);
    }
    const got = plan.batch.length ? this.lib.td_read_regs(this.uc, plan.ids, plan.batch.length, plan.out) as number : 0;
    return { plan, got };
  }

  /**
   * Registers as hex text ('0x...'), as the contract carries them. A name this
   * CPU does not have gives undefined.
   */
  readRegsHex(names: readonly string[]): (string | undefined)[] {
    const { plan, got } = this.regPlan(names);
    const out = new Array<string | undefined>(names.length);
    const w = plan.out;
    for (let k = 0; k < got; k++) {
      const i = plan.batch[k];
      const lo = w[2 * k], hi = plan.defs[i]!.bits === 32 ? 0 : w[2 * k + 1];
      out[i] = hi ? '0x' + hi.toString(16) + lo.toString(16).padStart(8, '0') : '0x' + lo.toString(16);
    }
    for (let i = 0; i < names.length; i++) {
      const d = plan.defs[i];
      if (d && out[i] === undefined) out[i] = '0x' + this.readReg(d).toString(16);
    }
    return out;
  }

  /**
   * Registers as gdb carries them: little-endian hex of each register's size.
   * The batch read leaves them as target-order bytes already (a little-endian
   * host), so one hex conversion serves them all: a stop reply has ~35.
   */
  readRegsTarget(names: readonly string[]): (string | undefined)[] {
    const { plan, got } = this.regPlan(names);
    const out = new Array<string | undefined>(names.length);
    if (got) {
      const all = Buffer.from(plan.out.buffer, plan.out.byteOffset, got * 8).toString('hex');
      for (let k = 0; k < got; k++) {
        const i = plan.batch[k];
        out[i] = all.substr(16 * k, plan.defs[i]!.bits >> 2);
      }
    }
    for (let i = 0; i < names.length; i++) {
      const d = plan.defs[i];
      if (d && out[i] === undefined) out[i] = regToHex(this.readReg(d), d.bits / 8);
    }
    return out;
  }

  /**
   * A gdb stop reply as one frame ready for the socket (`$...#cs`): `head`, then
   * `regnum:value;` for each register of `names`, read and written in one native
   * call (td_stop_frame). Undefined when one of them is not a plain register
   * (the caller builds the reply itself then).
   */
  stopFrame(head: string, names: readonly string[], regnums: readonly number[]): Buffer | undefined {
    let plan = this.framePlans.get(names);
    if (plan === undefined) {
      const defs = names.map((n) => findRegister(this.arch, n));
      const plain = defs.every(readInBatch);
      plan = plain ? { ids: Int32Array.from(defs, (d) => d!.uc!), sizes: Uint8Array.from(defs, (d) => d!.bits >> 3), nums: Int32Array.from(regnums) } : null;
      this.framePlans.set(names, plan);
    }
    if (!plan) return undefined;
    const n = Number(this.lib.td_stop_frame(this.uc, head, plan.ids, plan.sizes, plan.nums, plan.ids.length, this.frameOut, this.frameOut.length));
    return n > 0 ? Buffer.from(this.frameOut.subarray(0, n)) : undefined;
  }

  readReg(def: RegDef): bigint {
    def = this.liveBank(def);
    if (def.derive) return this.reg(def.derive.from) & def.derive.mask;
    if (def.uc !== undefined) return this.readId(def.uc, def.bits);
    if (def.cp64) return this.readCp64(def.cp64);
    if (def.cp32) return this.readCp32(def.cp32) & 0xffff_ffffn;
    if (def.bank) return this.withMode(def.bank.mode, () => this.readId(def.bank!.reg === 'sp' ? ARM_IDS.SP : def.bank!.reg === 'lr' ? ARM_IDS.LR : ARM_IDS.SPSR, 32));
    return 0n;
  }

  writeReg(def: RegDef, v: bigint): MemResult<true> {
    if (def.readonly) return { ok: false, error: `${def.name} is read-only` };
    def = this.liveBank(def);
    const mask = def.bits === 128 ? (1n << 128n) - 1n : (1n << BigInt(def.bits)) - 1n;
    v &= mask;
    let e = 0;
    if (def.uc !== undefined) {
      if (this.arch === 'arm' && def.uc === ARM_IDS.PC) v |= (this.readId(ARM_IDS.CPSR, 32) >> 5n) & 1n;
      e = this.writeId(def.uc, def.bits, v);
    } else if (def.cp64) e = this.writeCp64(def.cp64, v);
    else if (def.cp32) e = this.writeCp32(def.cp32, v);
    else if (def.bank) {
      const id = def.bank.reg === 'sp' ? ARM_IDS.SP : def.bank.reg === 'lr' ? ARM_IDS.LR : ARM_IDS.SPSR;
      this.withMode(def.bank.mode, () => this.writeId(id, 32, v));
    }
    return e ? { ok: false, error: `writing ${def.name}: ${ucError(e)}` } : { ok: true, value: true };
  }

  /** AArch32: run fn with CPSR switched to `mode` (which selects the bank), then restore. */
  private withMode<T>(mode: number, fn: () => T): T {
    const cpsr = this.readId(ARM_IDS.CPSR, 32);
    const cur = Number(cpsr & 0x1fn);
    const same = cur === mode || (mode === 0x10 && cur === 0x1f);
    if (!same) this.writeId(ARM_IDS.CPSR, 32, (cpsr & ~0x1fn) | BigInt(mode));
    try { return fn(); } finally { if (!same) this.writeId(ARM_IDS.CPSR, 32, cpsr); }
  }

  reg(name: string): bigint {
    const d = findRegister(this.arch, name);
    if (!d) throw new Error(`no register ${name}`);
    return this.readReg(d);
  }
  setReg(name: string, v: bigint): void {
    const d = findRegister(this.arch, name);
    if (!d) throw new Error(`no register ${name}`);
    const r = this.writeReg(d, v);
    if (!r.ok) throw new Error(r.error);
  }

  get pc(): bigint { return this.arch === 'aarch64' ? this.readId(ARM64_IDS.PC, 64) : this.readId(ARM_IDS.PC, 32); }
  set pc(v: bigint) { this.setReg('pc', v); }
  get thumb(): boolean { return this.arch === 'arm' && ((this.readId(ARM_IDS.CPSR, 32) >> 5n) & 1n) === 1n; }

  /** Inside the trap hook: have register n (x_n / r_n) written back when the hook returns. */
  writeBack(n: number, v: bigint) {
    this.ctl[CTL.WB + n] = this.wbValue(v);
    this.ctl[CTL.WB_MASK] |= 1n << BigInt(n);
  }

  /** A value as the native hook writes it back: the register's width, unsigned. */
  private wbValue(v: bigint): bigint {
    return BigInt.asUintN(64, this.arch === 'aarch64' ? v : v & 0xffff_ffffn);
  }

  /**
   * The ring the trap hook copies each trap's registers to (`n` slots of `words`
   * 64-bit words, shared memory), slot after slot from 0; the slot of the current
   * trap is CTL.RING_SLOT.
   */
  attachRing(ring: BigUint64Array, n: number, words: number) {
    if (!(ring.buffer instanceof SharedArrayBuffer) || ring.length < n * words) throw new Error('the record ring must be shared memory of n * words words');
    if ((this.lib.td_set_ring(this.td, ring, n, words) as number) !== 0) throw new Error(`a record ring of ${words} words a slot cannot hold the registers`);
  }

  /** The session's trap seq (flow.ts: its first 8 bytes), which the hook counts for the calls it answers itself. */
  attachSeq(shared: SharedArrayBuffer) {
    this.lib.td_set_seq(this.td, new Uint32Array(shared, 0, 2));
  }

  /**
   * Has the native hook answer, from now on and without calling JS, a call with
   * this w0 made by this instruction word (intno: SMC or HVC; thumb: the state) by
   * writing these registers (writeBackValues); `index` of `n` answers in use (n = 0
   * clears them all). False when the hook cannot take it.
   */
  setAnswer(index: number, n: number, key: { w0: number; insn: number; intno: number; thumb: boolean }, wb?: { values: bigint[]; mask: bigint }): boolean {
    const vals = new BigUint64Array(18);
    if (wb) vals.set(wb.values.slice(0, 18));
    return (this.lib.td_set_answer(this.td, index, key.w0 >>> 0, key.insn >>> 0, key.intno, key.thumb ? 1 : 0, wb?.mask ?? 0n, vals, n) as number) === 0;
  }

  /** Registers 0..values.length-1 written back as the hook returns, from values already made (see writeBackValues). */
  writeBackAll(wb: { values: bigint[]; mask: bigint }) {
    const c = this.ctl;
    for (let i = 0; i < wb.values.length; i++) c[CTL.WB + i] = wb.values[i];
    c[CTL.WB_MASK] = wb.mask;
  }

  /** What writeBack would store for these values, ready for writeBackAll (an answer given again and again). */
  writeBackValues(regs: readonly bigint[]): { values: bigint[]; mask: bigint } {
    const values = regs.map((v) => this.wbValue(v));
    return { values, mask: (1n << BigInt(values.length)) - 1n };
  }

  // ---------------------------------------------------------------- memory
  readMem(addr: bigint, len: number): MemResult<Uint8Array> {
    const direct = this.mem.read(addr, len);
    if (direct.ok) return direct;
    const b = Buffer.alloc(len);
    const e = this.lib.uc_mem_read(this.uc, addr, b, len) as number;
    return e ? { ok: false, error: `cannot read ${len} bytes at ${hex(addr)}: ${direct.error}` } : { ok: true, value: new Uint8Array(b) };
  }
  writeMem(addr: bigint, data: Uint8Array): MemResult<true> {
    const e = this.lib.uc_mem_write(this.uc, addr, data, data.length) as number;
    return e ? { ok: false, error: `cannot write ${data.length} bytes at ${hex(addr)}: ${ucError(e)}` } : { ok: true, value: true };
  }

  // ---------------------------------------------------------------- breakpoints
  // Unicorn places hook calls when it translates a block: a hook added later is not
  // seen by blocks already translated, so each change drops the affected blocks.
  private dropBlocks(addr: bigint) {
    this.lib.uc_ctl_int(this.uc, ucCtlWrite(UC_CTL_TB_REMOVE_CACHE, 2), 'uint64_t', addr, 'uint64_t', addr + 4n);
  }
  /**
   * Drops every translated block. Not with UC_CTL_TB_FLUSH when it can be helped:
   * in 2.0.1 a flush memsets the whole 1 GiB translation buffer (tcg_region_assign),
   * which commits 1 GiB of RSS per vCPU that is never given back (bug 5). Removing
   * the blocks of each RAM region by range (tb_invalidate_phys_range) costs
   * microseconds and no memory. Unicorn takes that range as an address the guest
   * runs at: right while the guest MMU is off (virtual = physical); with it on, the
   * flush is the only complete way.
   */
  private dropAllBlocks() {
    if (this.guestMmuOn()) {
      this.lib.uc_ctl_int(this.uc, ucCtlWrite(UC_CTL_TB_FLUSH, 0));
      return;
    }
    const top = 1n << (this.arch === 'aarch64' ? 64n : 32n);
    for (const r of this.mem.regions) {
      if (r.kind !== 'ram') continue;
      const end = r.base + r.size >= top ? top - 1n : r.base + r.size;
      this.lib.uc_ctl_int(this.uc, ucCtlWrite(UC_CTL_TB_REMOVE_CACHE, 2), 'uint64_t', r.base, 'uint64_t', end);
    }
  }
  private guestMmuOn(): boolean {
    const sctlr = this.arch === 'aarch64'
      ? this.readCp64({ op0: 3, op1: 0, crn: 1, crm: 0, op2: 0 })
      : this.readCp32({ cp: 15, crn: 1, crm: 0, opc1: 0, opc2: 0 });
    return (sctlr & 1n) === 1n;
  }

  /**
   * An exact stop before the instruction at addr. `thumb`: the address holds
   * Thumb code (AArch32), where Unicorn runs an IT instruction and its block as
   * one unit: no stop can happen inside, so such a breakpoint is refused.
   */
  addBreakpoint(addr: bigint, thumb = false): MemResult<true> {
    if (this.breakpoints.has(addr)) return { ok: true, value: true };
    if (thumb && this.arch === 'arm') {
      const read16 = (a: bigint) => { const m = this.readMem(a, 2); return m.ok ? m.value[0] | (m.value[1] << 8) : undefined; };
      const it = thumbItBlockOf(addr, read16);
      if (it !== undefined) {
        return { ok: false, error: `${hex(addr)} is inside the Thumb IT block of the IT instruction at ${hex(it)}; Unicorn runs an IT block as one unit and cannot stop inside it: break at ${hex(it)} instead` };
      }
    }
    const h = this.lib.td_add_breakpoint(this.td, addr) as bigint;
    if (!h) return { ok: false, error: `cannot set a breakpoint at ${hex(addr)}` };
    this.breakpoints.set(addr, h);
    this.dropBlocks(addr);
    return { ok: true, value: true };
  }
  removeBreakpoint(addr: bigint): boolean {
    const h = this.breakpoints.get(addr);
    if (h === undefined) return false;
    this.lib.td_del_hook(this.td, h);
    this.breakpoints.delete(addr);
    this.dropBlocks(addr);
    return true;
  }
  hasBreakpoint(addr: bigint): boolean { return this.breakpoints.has(addr); }

  /**
   * Arms the addresses the next run stops at as a single step's (stepper.ts). Their
   * hooks stay installed, dormant, after the step: adding or deleting a hook drops
   * the blocks holding its address, and translating them again was most of what a
   * step cost. False when the core cannot take them (the caller sets breakpoints).
   */
  armStep(at: bigint[]): boolean {
    if (at.length > STEP_MAX) return false;
    for (const a of at) {
      const h = this.stepHooks.get(a);
      this.stepHooks.delete(a); // kept in the order of last use
      if (h !== undefined) { this.stepHooks.set(a, h); continue; }
      const added = this.lib.td_add_step_hook(this.td, a) as bigint;
      if (!added) return false;
      this.stepHooks.set(a, added);
      this.dropBlocks(a);
    }
    for (const [a, h] of this.stepHooks) {
      if (this.stepHooks.size <= STEP_HOOKS_KEPT) break;
      if (!at.includes(a)) this.deleteStepHook(a, h);
    }
    const v = [...at, 0n, 0n, 0n, 0n];
    this.lib.td_arm_step(this.td, at.length, v[0], v[1], v[2], v[3]);
    this.armed = at;
    return true;
  }
  disarmStep() {
    if (!this.armed.length) return;
    this.lib.td_arm_step(this.td, 0, 0n, 0n, 0n, 0n);
    this.armed = [];
  }
  /**
   * Deletes the dormant step targets: before a run that is not a step, where each
   * would cost a call every time the guest passes its address.
   */
  dropStepHooks() {
    for (const [a, h] of this.stepHooks) this.deleteStepHook(a, h);
  }
  private deleteStepHook(a: bigint, h: bigint) {
    this.lib.td_del_hook(this.td, h);
    this.stepHooks.delete(a);
    this.dropBlocks(a);
  }

  addWatchpoint(addr: bigint, len: number, kind: 'read' | 'write' | 'access'): MemResult<true> {
    const key = `${addr}:${len}:${kind}`;
    if (this.watchpoints.has(key)) return { ok: true, value: true };
    const h = this.lib.td_add_watchpoint(this.td, addr, BigInt(len), kind === 'read' ? 1 : kind === 'write' ? 2 : 3) as bigint;
    if (!h) return { ok: false, error: `cannot set a watchpoint at ${hex(addr)}` };
    this.watchpoints.set(key, h);
    // Unicorn decides when it translates a block whether its loads and stores go
    // through the memory hooks: blocks translated before must be translated again.
    this.dropAllBlocks();
    return { ok: true, value: true };
  }
  removeWatchpoint(addr: bigint, len: number, kind: 'read' | 'write' | 'access'): boolean {
    const key = `${addr}:${len}:${kind}`;
    const h = this.watchpoints.get(key);
    if (h === undefined) return false;
    this.lib.td_del_watchpoint(this.td, h);
    this.watchpoints.delete(key);
    // Not needed to stop firing (hooks are looked up when the access happens), but
    // the blocks would keep the slow memory path.
    this.dropAllBlocks();
    return true;
  }

  // ---------------------------------------------------------------- run control
  /**
   * Runs from the current PC until an exact stop point: a trap the handler stops at,
   * a breakpoint, a pause request, the instruction deadline, or a fault.
   * count = 1 single-steps.
   */
  run(count = 0, passBreakAtPc = false): CpuStop {
    const c = this.ctl;
    c[CTL.REASON] = BigInt(STOP.NONE);
    // The native block hook compares the count with LIMIT only (one compare on its
    // fast path); 0 makes the first block work it out from the deadline and the
    // flush point as they stand now (block_stop in trapdoor.c).
    c[CTL.LIMIT] = 0n;
    const pc = this.pc;
    // Resuming from where the last run stopped executes a breakpoint there once; a
    // PC moved elsewhere (an injected exception, a register write) is not passed,
    // unless the caller says so (a step whose next address is its own).
    c[CTL.SKIP_BP] = (passBreakAtPc || pc === this.stoppedAt) && (this.breakpoints.has(pc) || this.armed.includes(pc)) ? pc + 1n : 0n;
    let begin = this.arch === 'arm' && this.thumb ? pc | 1n : pc;
    const until = this.arch === 'aarch64' ? 0xffff_ffff_ffff_fffdn : 0xffff_fffdn;
    // Counted runs use the native counter (td_count), never uc_emu_start's count:
    // Unicorn drops its whole translation cache with tb_flush when an uncounted run
    // follows a counted one, which memsets its 1 GiB code buffer (13 ms to 2 s,
    // and 1 GiB of RSS for good). Blocks translated before the counter was added
    // lack its calls and are dropped; breakpoints are added again after it so that
    // the counter runs first at each instruction, as Unicorn's own does (a
    // breakpoint on the instruction a step stops at reads as the step).
    if (count > 0) {
      const added = this.lib.td_count(this.td, BigInt(count)) as number;
      if (added < 0) return { kind: 'fault', error: 'cannot install the instruction counter for a counted run', pc };
      if (added === 1) {
        for (const [addr, h] of this.breakpoints) {
          this.lib.td_del_hook(this.td, h);
          const again = this.lib.td_add_breakpoint(this.td, addr) as bigint;
          if (again) this.breakpoints.set(addr, again);
          else this.breakpoints.delete(addr);
        }
        this.dropAllBlocks();
      }
    } else if (this.counting) this.lib.td_count(this.td, 0n);
    this.counting = count > 0;
    // A run that is not a step keeps the dormant step targets (deleting a hook drops the
    // blocks holding its address, translated again at the next pass) for its first
    // instructions only: each costs a call whenever the guest passes it. Past them, the
    // run stops unseen before a block, deletes them and goes on.
    const deadline = c[CTL.DEADLINE];
    const keep = !count && !this.armed.length && this.stepHooks.size > 0;
    if (keep && !this.countBlocks) this.dropStepHooks(); // no block hook to stop it (--no-count)
    let dropAt = keep && this.countBlocks ? c[CTL.INSNS] + STEP_HOOKS_KEPT_INSNS : 0n;
    if (deadline && dropAt >= deadline) dropAt = 0n;
    if (dropAt) c[CTL.DEADLINE] = dropAt;
    let err: number;
    let reason: number;
    for (;;) {
      c[CTL.BLOCK_STOP] = 0n;
      err = this.lib.uc_emu_start(this.uc, begin, until, 0n, 0) as number;
      reason = Number(c[CTL.REASON]);
      c[CTL.SKIP_BP] = 0n;
      // Stopped by the block hook before a block (a pause, the deadline, a flush): PC is
      // that block's start. Unicorn leaves a stale PC there while any code hook exists
      // (trapdoor.c, block_stop), and the run would resume in the wrong place.
      const blockStop = c[CTL.BLOCK_STOP];
      if (blockStop && !err) this.pc = blockStop - 1n;
      if (!dropAt) break;
      c[CTL.DEADLINE] = deadline;
      if (reason !== STOP.DEADLINE || err) break;
      // our deadline, not the caller's: nothing has run of the block ahead; go on from it
      dropAt = 0n;
      this.dropStepHooks();
      c[CTL.REASON] = BigInt(STOP.NONE);
      c[CTL.LIMIT] = 0n;
      begin = this.arch === 'arm' && this.thumb ? this.pc | 1n : this.pc;
    }
    // A flush stop is not a stop anyone sees: a breakpoint at its pc still fires.
    this.stoppedAt = reason === STOP.FLUSH && !err ? undefined : this.pc;
    // A watchpoint hit during a step is reported by that step, and a breakpoint on
    // the instruction after the access reads as the watchpoint (the earlier event).
    // Any other stop with a hit pending keeps the pause flag up, so the next run
    // reports it before executing anything. Any other pause request is answered by this stop.
    if (c[CTL.WATCH_PENDING] && reason !== STOP.WATCH && (count || reason === STOP.BREAK) && !err) {
      reason = STOP.WATCH;
      c[CTL.WATCH_PENDING] = 0n;
    }
    this.pauseRequested = Atomics.load(this.ctl32, 0) !== 0 && reason !== STOP.PAUSE && reason !== STOP.WATCH;
    if (!c[CTL.WATCH_PENDING] || reason === STOP.WATCH) Atomics.store(this.ctl32, 0, 0);
    if (c[CTL.HARD_STOPPED]) {
      return { kind: 'fault', error: 'stopped from outside with no block hook (--no-count): the run cannot be resumed', pc: this.pc, hard: true };
    }
    if (reason === STOP.FAULT || err) {
      const pcNow = this.pc;
      if (reason === STOP.FAULT) {
        const type = Number(c[CTL.STOP_AUX]);
        const access = UC_MEM_TYPES[type] ?? 'access';
        const addr = c[CTL.STOP_ADDR];
        const size = Number(c[CTL.FAULT_SIZE]);
        const error = `${access} at ${hex(addr)} (${size} bytes): ${ucError(err || UC_ERR.READ_UNMAPPED)}`;
        const isFetch = type === 21 || type === 24;
        const exactPc = isFetch ? pcNow : this.locateDataFault(pcNow, addr, size);
        if (exactPc !== undefined && exactPc !== pcNow) this.pc = exactPc;
        this.stoppedAt = this.pc;
        return { kind: 'fault', error, access, addr, size, pc: exactPc ?? pcNow, exact: exactPc !== undefined };
      }
      const what = err === UC_ERR.INSN_INVALID ? 'invalid instruction' : err === UC_ERR.EXCEPTION ? 'unhandled CPU exception' : 'emulation error';
      return { kind: 'fault', error: `${what} at ${hex(pcNow)}: ${ucError(err)}`, pc: pcNow };
    }
    switch (reason) {
      case STOP.TRAP: return { kind: 'trap' };
      case STOP.PAUSE: return { kind: 'pause' };
      case STOP.DEADLINE: return { kind: 'deadline' };
      case STOP.FLUSH: return { kind: 'flush' };
      case STOP.BREAK: return { kind: 'breakpoint', addr: c[CTL.STOP_ADDR] };
      case STOP.WATCH: return { kind: 'watchpoint', addr: c[CTL.STOP_ADDR], access: c[CTL.STOP_AUX] === 2n ? 'write' : 'read' };
      default: return count ? { kind: 'step' } : { kind: 'idle' };
    }
  }

  /** The load/store that faulted, scanning from the block start Unicorn reports (fault-locate.ts). */
  private locateDataFault(start: bigint, faultAddr: bigint, faultSize: number): bigint | undefined {
    if (this.thumb) return undefined;
    const word = (a: bigint) => {
      const r = this.readMem(a, 4);
      return r.ok ? new DataView(r.value.buffer, r.value.byteOffset, 4).getUint32(0, true) : undefined;
    };
    const names = this.arch === 'aarch64' ? (n: number) => (n === 31 ? 'sp' : `x${n}`) : (n: number) => (n === 13 ? 'sp' : n === 14 ? 'lr' : n === 15 ? 'pc' : `r${n}`);
    return locateFault(this.arch, { word, reg: (n) => this.reg(names(n)), faultAddr, faultSize, start });
  }

  get insns(): number { return Number(this.ctl[CTL.INSNS]); }
  /**
   * Asks the block hook to stop the run (as 'flush') once the guest has run about
   * n more instructions, unless a request is already out. False when no block hook
   * runs (--no-count): nothing can stop the run then.
   */
  flushIn(n: number): boolean {
    if (!this.countBlocks) return false;
    const c = this.ctl;
    if (c[CTL.FLUSH_AT] === 0n) {
      c[CTL.FLUSH_AT] = c[CTL.INSNS] + BigInt(n);
      c[CTL.LIMIT] = 0n; // the next block takes the flush point into its limit
    }
    return true;
  }
  /** The flush asked for by flushIn happened (the block hook sees a stale limit and refreshes it). */
  flushed() { this.ctl[CTL.FLUSH_AT] = 0n; }
  get deadline(): number { return Number(this.ctl[CTL.DEADLINE]); }
  set deadline(n: number) { this.ctl[CTL.DEADLINE] = BigInt(n); }


  // ---------------------------------------------------------------- exceptions
  /**
   * Injects an Undefined Instruction exception for the instruction that ends at the
   * current PC (the trapping SMC/HVC), as the architecture takes it.
   */
  injectUndef(insnAddr: bigint): { vector: bigint; esr?: bigint; elr?: bigint; lr?: bigint; spsr: bigint } {
    if (this.arch === 'aarch64') {
      const pstate = this.reg('cpsr');
      const el = Number((pstate >> 2n) & 3n);
      const spsel = Number(pstate & 1n);
      const vbar = this.readId(ARM64_IDS.VBAR_EL1, 64);
      const off = el === 0 ? 0x400n : spsel ? 0x200n : 0x000n;
      const esr = 0x02000000n; // EC 0x00 (unknown reason), IL 1
      this.writeId(ARM64_IDS.ESR_EL1, 64, esr);
      this.writeId(ARM64_IDS.ELR_EL1, 64, insnAddr);
      this.writeCp64({ op0: 3, op1: 0, crn: 4, crm: 0, op2: 0 }, pstate);
      // Writing PSTATE does not switch the SP bank: save the live SP to SP_EL0 when
      // leaving SP_EL0, then load SP_EL1 after the switch (FACTS.md).
      const fromSp0 = el === 0 || spsel === 0;
      if (fromSp0) this.writeId(ARM64_IDS.SP_EL0, 64, this.readId(ARM64_IDS.SP, 64));
      this.writeId(ARM64_IDS.PSTATE, 64, 0x3c5n);
      if (fromSp0) this.writeId(ARM64_IDS.SP, 64, this.readId(ARM64_IDS.SP_EL1, 64));
      const vector = vbar + off;
      this.writeId(ARM64_IDS.PC, 64, vector);
      return { vector, esr, elr: insnAddr, spsr: pstate };
    }
    const cpsr = this.readId(ARM_IDS.CPSR, 32);
    const wasThumb = ((cpsr >> 5n) & 1n) === 1n;
    const sctlr = this.readCp32({ cp: 15, crn: 1, crm: 0, opc1: 0, opc2: 0 });
    const te = (sctlr >> 30n) & 1n;
    const base = (sctlr >> 13n) & 1n ? 0xffff0000n : this.readCp32({ cp: 15, crn: 12, crm: 0, opc1: 0, opc2: 0 }) & ~0x1fn;
    const lr = insnAddr + (wasThumb ? 2n : 4n);
    // mode und, IRQs masked, IT/J/T cleared then T from SCTLR.TE
    const newCpsr = (cpsr & ~(0x1fn | 0x20n | 0x0600fc00n | 0x01000000n)) | 0x1bn | 0x80n | (te << 5n);
    this.writeId(ARM_IDS.CPSR, 32, newCpsr);
    this.writeId(ARM_IDS.LR, 32, lr);
    this.writeId(ARM_IDS.SPSR, 32, cpsr);
    const vector = base + 4n;
    this.writeId(ARM_IDS.PC, 32, vector | te);
    return { vector, lr, spsr: cpsr };
  }

  /** Gives everything back (idempotent). */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.lib.td_detach(this.td);
    this.lib.uc_close(this.uc);
    this.unregisterCallbacks();
  }
  private unregisterCallbacks() {
    for (const cb of this.callbacks.splice(0)) ffi().unregister(cb);
  }
}

