// Single-stepping without a counted run. Unicorn's own counted run (uc_emu_start
// with a count) drops every translated block when it switches (13 ms to 2 s, and
// 1 GiB of memory touched); Cpu.run counts with a native hook instead, which is
// still slower than a plain run, so the engine's step is a normal run that stops
// exactly one instruction later:
//  - for an instruction whose successors we can name, at exact breakpoints
//    (bound code hooks) on them;
//  - for one that ends a translated block by itself (SMC, HVC, SVC, BRK, ERET),
//    at the start of the next block, with the core's instruction deadline: the
//    block at the resume address is that one instruction, so a deadline one
//    past it stops wherever the CPU goes next (after the call, the vector an
//    undef decision enters, the ELR an ERET returns to), before running it. A
//    trap that waits for a decision stops the run by itself.
// Anything we cannot predict for sure (WFI, a Thumb IT block, TBB/TBH and
// Thumb loads of pc, the MMU on) is left to the counted step.

const MASK64 = (1n << 64n) - 1n;

/** The registers a prediction reads (a Map works; the engine reads them on demand). */
export interface RegisterView { get(name: string): bigint | undefined }

function sext(v: number, bits: number): bigint {
  const b = BigInt(v);
  const sign = 1n << BigInt(bits - 1);
  return (b ^ sign) - sign;
}

/** Registers the prediction may need: pc, cpsr, SCTLR_EL1 and x0..x30. */
export const A64_STEP_REGS = ['pc', 'cpsr', 'SCTLR_EL1', ...Array.from({ length: 31 }, (_, i) => `x${i}`)];

/**
 * How to stop one instruction later: exact breakpoints on `at`, and/or (when
 * `blockInsns` is set) the instruction deadline one past the block at pc, which
 * the core's block hook counts as `blockInsns` instructions (size / 4).
 */
export interface StepPlan { at: bigint[]; blockInsns?: number }
const exactly = (...at: bigint[]): StepPlan => ({ at });
const NEXT_BLOCK: StepPlan = { at: [], blockInsns: 1 };

/**
 * How to stop after the AArch64 instruction at pc: the addresses it can go to,
 * the next block for one that ends its block and may go anywhere, or undefined
 * when the core must step it (it waits, or the address we read is not what the
 * CPU fetches).
 */
export function a64Successors(insn: number, regs: RegisterView): StepPlan | undefined {
  const pc = regs.get('pc');
  const cpsr = regs.get('cpsr');
  const sctlr = regs.get('SCTLR_EL1');
  if (pc === undefined || cpsr === undefined || sctlr === undefined) return undefined;
  if (cpsr & 0x10n) return undefined;  // AArch32 state at a lower EL
  if (sctlr & 1n) return undefined;     // MMU on: memory reads are physical, pc is virtual
  const next = (pc + 4n) & MASK64;
  // JS bit operations are signed 32-bit: compare as unsigned
  const is = (mask: number, value: number) => ((insn & mask) >>> 0) === value;
  const rel = (off: bigint) => (pc + off) & MASK64;
  if (is(0x7c000000, 0x14000000)) return exactly(rel(sext(insn & 0x3ffffff, 26) << 2n));             // B, BL
  if (is(0xff000000, 0x54000000)) return exactly(next, rel(sext((insn >>> 5) & 0x7ffff, 19) << 2n)); // B.cond, BC.cond
  if (is(0x7e000000, 0x34000000)) return exactly(next, rel(sext((insn >>> 5) & 0x7ffff, 19) << 2n)); // CBZ, CBNZ
  if (is(0x7e000000, 0x36000000)) return exactly(next, rel(sext((insn >>> 5) & 0x3fff, 14) << 2n));  // TBZ, TBNZ
  if (is(0xfe000000, 0xd6000000)) {
    // BR, BLR, RET Xn; ERET, DRPS and the pointer-authenticated forms end the block
    const opc = (insn >>> 21) & 0xf;
    const rn = (insn >>> 5) & 0x1f;
    const plain = ((insn >>> 16) & 0x1f) === 0x1f && ((insn >>> 10) & 0x3f) === 0 && (insn & 0x1f) === 0;
    const target = regs.get(`x${rn}`);
    return plain && opc <= 2 && rn !== 31 && target !== undefined ? exactly(target) : NEXT_BLOCK;
  }
  if (is(0xff000000, 0xd4000000)) return NEXT_BLOCK;               // SVC, HVC, SMC, BRK, HLT
  if (is(0xffffff1f, 0xd503201f) && ((insn >>> 5) & 0x7) >= 2 && ((insn >>> 5) & 0x7) <= 3 && ((insn >>> 8) & 0xf) === 0) {
    return undefined;                                                        // WFE, WFI: the run returns
  }
  if (is(0xfffff0c0, 0xd5031000)) return undefined;                // WFET, WFIT
  return exactly(next);
}

/** Registers the AArch32 prediction needs. */
export const A32_STEP_REGS = ['pc', 'cpsr', 'SCTLR', 'sp', 'lr', ...Array.from({ length: 13 }, (_, i) => `r${i}`)];

/**
 * The same for AArch32. `code` holds the 4 bytes at pc; `read32` reads guest
 * RAM (for a POP of pc). ARM instructions that may write pc all end their
 * block, and the core counts an ARM block right, so they stop at the next
 * block. Thumb blocks are counted size / 4 (a 2-byte block counts 0): Thumb
 * branches get exact breakpoints on their targets; a Thumb exception
 * instruction gets both (the next instruction, and the next block for the
 * vector an undef decision enters).
 */
export function a32Successors(code: Uint8Array, regs: RegisterView, read32: (addr: bigint) => bigint | undefined): StepPlan | undefined {
  const pc = regs.get('pc');
  const cpsr = regs.get('cpsr');
  const sctlr = regs.get('SCTLR');
  if (pc === undefined || cpsr === undefined || sctlr === undefined || code.length < 4) return undefined;
  if (sctlr & 1n) return undefined; // MMU on
  const u32 = (v: bigint) => v & 0xffff_ffffn;
  if (!(cpsr & 0x20n)) {
    const insn = (code[0] | (code[1] << 8) | (code[2] << 16) | (code[3] << 24)) >>> 0;
    const w = arm(insn);
    return w === 'pc' ? NEXT_BLOCK : w === 'unsure' ? undefined : exactly(u32(pc + 4n));
  }
  const hw1 = code[0] | (code[1] << 8);
  const hw2 = code[2] | (code[3] << 8);
  // IT blocks: Unicorn runs the IT instruction and its block as one step, with
  // no code hook inside it; only the core can step them.
  if (cpsr & 0x0600fc00n || ((hw1 & 0xff00) === 0xbf00 && hw1 & 0xf)) return undefined;
  const reg = (n: number) => (n === 15 ? u32(pc + 4n) : regs.get(n === 13 ? 'sp' : n === 14 ? 'lr' : `r${n}`));
  const to = (target: bigint | undefined) => (target === undefined ? undefined : exactly(u32(target) & ~1n));
  if (hw1 >>> 11 < 0x1d) {
    const next = u32(pc + 2n);
    const t = thumb16(hw1);
    switch (t.kind) {
      case 'next': return exactly(next);
      case 'rel': return exactly(...(t.cond ? [next] : []), u32(pc + 4n + t.off));
      case 'reg': return to(reg(t.reg));
      case 'pop': {
        const sp = regs.get('sp');
        return sp === undefined ? undefined : to(read32(sp + 4n * BigInt(t.before)));
      }
      case 'exception': return { at: [next], blockInsns: 0 };
      default: return undefined;
    }
  }
  const next = u32(pc + 4n);
  if ((hw1 & 0xf800) === 0xf000 && hw2 & 0x8000) {
    const s = (hw1 >>> 10) & 1;
    const j1 = (hw2 >>> 13) & 1;
    const j2 = (hw2 >>> 11) & 1;
    if (hw2 & 0x5000) {                                          // B.W, BL, BLX
      const i1 = ~(j1 ^ s) & 1;
      const i2 = ~(j2 ^ s) & 1;
      const off = sext((s << 24) | (i1 << 23) | (i2 << 22) | ((hw1 & 0x3ff) << 12) | ((hw2 & 0x7ff) << 1), 25);
      const blx = (hw2 & 0x5000) === 0x4000;
      return exactly(u32((blx ? next & ~3n : next) + off));
    }
    const op = (hw1 >>> 4) & 0x7f;
    if ((op & 0x38) !== 0x38) {                                  // B<c>.W
      const off = sext((s << 20) | (j2 << 19) | (j1 << 18) | ((hw1 & 0x3f) << 12) | ((hw2 & 0x7ff) << 1), 21);
      return exactly(next, u32(next + off));
    }
    if (op >= 0x7e) return { at: [next], blockInsns: 1 };        // HVC, SMC, UDF
    return op === 0x3c || op === 0x3d ? undefined : exactly(next); // BXJ, ERET: to the core; MSR, MRS, hints
  }
  if ((hw1 & 0xfff0) === 0xe8d0 && (hw2 & 0xffe0) === 0xf000) return undefined;        // TBB, TBH
  if ((hw1 & 0xfe40) === 0xe800 && hw1 & 0x10 && hw2 & 0x8000) return undefined;      // LDM / POP.W with pc, RFE
  if ((hw1 & 0xff70) === 0xf850 && hw2 >>> 12 === 15) return undefined;                // LDR.W pc
  return exactly(next);
}

type Thumb16 =
  | { kind: 'next' }
  | { kind: 'rel'; off: bigint; cond: boolean }
  | { kind: 'reg'; reg: number }
  | { kind: 'pop'; before: number }
  | { kind: 'exception' }
  | { kind: 'unsure' };

/** Where a 16-bit Thumb instruction goes. */
function thumb16(hw: number): Thumb16 {
  if ((hw & 0xf000) === 0xd000) {
    const cond = (hw >>> 8) & 0xf;
    return cond >= 0xe ? { kind: 'exception' } : { kind: 'rel', off: sext(hw & 0xff, 8) << 1n, cond: true }; // UDF, SVC; B<c>
  }
  if ((hw & 0xf800) === 0xe000) return { kind: 'rel', off: sext(hw & 0x7ff, 11) << 1n, cond: false };    // B
  if ((hw & 0xf500) === 0xb100) return { kind: 'rel', off: BigInt((((hw >>> 9) & 1) << 6) | (((hw >>> 3) & 0x1f) << 1)), cond: true }; // CBZ, CBNZ
  if ((hw & 0xff00) === 0x4700) return { kind: 'reg', reg: (hw >>> 3) & 0xf };                          // BX, BLX
  if ((hw & 0xff00) === 0xbd00) {                                                                         // POP {..., pc}
    let n = 0;
    for (let b = hw & 0xff; b; b &= b - 1) n++;
    return { kind: 'pop', before: n };
  }
  if ((hw & 0xff00) === 0xbe00) return { kind: 'exception' };                                              // BKPT
  if ((hw & 0xfc00) === 0x4400 && ((hw & 7) | ((hw >>> 4) & 8)) === 15) {                                // ADD, CMP, MOV into pc
    const op = (hw >>> 8) & 3;
    return op === 1 ? { kind: 'next' } : op === 2 ? { kind: 'reg', reg: (hw >>> 3) & 0xf } : { kind: 'unsure' };
  }
  return { kind: 'next' };
}

/** Does this ARM instruction write pc ('pc'), surely not ('no'), or is it not worth deciding ('unsure')? */
function arm(insn: number): 'pc' | 'no' | 'unsure' {
  const cond = insn >>> 28;
  const rd = (insn >>> 12) & 0xf;
  if (cond === 0xf) {
    const op = (insn >>> 25) & 7;
    return op === 4 || op === 5 ? 'pc' : op === 2 || op === 3 ? 'no' : 'unsure'; // RFE/SRS, BLX imm; PLD/PLI
  }
  const eq = (mask: number, value: number) => ((insn & mask) >>> 0) === value;
  if (eq(0x0e000000, 0x0a000000)) return 'pc';                                    // B, BL
  if (eq(0x0ffffff0, 0x012fff10) || eq(0x0ffffff0, 0x012fff30) || eq(0x0ffffff0, 0x012fff20)) return 'pc'; // BX, BLX, BXJ
  if (eq(0x0ff000f0, 0x01200070) || eq(0x0ff000f0, 0x01400070) || eq(0x0ff000f0, 0x01600070)) return 'pc'; // BKPT, HVC, SMC
  if (eq(0x0fffffff, 0x0160006e)) return 'pc';                                    // ERET
  if (eq(0x0f000000, 0x0f000000)) return 'pc';                                    // SVC
  if (eq(0x0ff000f0, 0x07f000f0)) return 'pc';                                    // UDF
  if (eq(0x0c000000, 0x00000000)) {
    const misc = eq(0x0f900000, 0x01000000);                 // MRS, MSR, CLZ, saturating, ...: opcode 10xx with S=0
    const mulOrExtra = eq(0x0e000090, 0x00000090);           // multiplies, LDRH/STRD/...
    if (rd !== 15) return 'no';
    if (misc || mulOrExtra) return 'unsure';
    const opcode = (insn >>> 21) & 0xf;
    return opcode >= 8 && opcode <= 11 ? 'no' : 'pc';        // TST/TEQ/CMP/CMN write no register
  }
  if (eq(0x0c000000, 0x04000000)) {                          // LDR/STR (and media instructions)
    if (eq(0x0e000010, 0x06000010)) return rd === 15 ? 'unsure' : 'no'; // media
    return eq(0x00500000, 0x00100000) && rd === 15 ? 'pc' : 'no';      // LDR pc (not LDRB)
  }
  if (eq(0x0e000000, 0x08000000)) return eq(0x00108000, 0x00108000) ? 'pc' : 'no'; // LDM with pc
  return 'no';                                               // coprocessor, VFP, SIMD
}

/** A 32-bit Thumb instruction starts with this halfword. */
const isThumb32 = (hw: number) => hw >>> 11 >= 0x1d;

/**
 * The IT instruction whose block holds the Thumb instruction at addr (not the IT
 * itself), or undefined. An IT covers up to 4 instructions, so it is at most 16
 * bytes back; a halfword that follows the first half of a 32-bit instruction is
 * not taken for one.
 */
export function thumbItBlockOf(addr: bigint, read16: (addr: bigint) => number | undefined): bigint | undefined {
  for (let back = 2n; back <= 16n; back += 2n) {
    const at = addr - back;
    const hw = read16(at);
    if (hw === undefined || (hw & 0xff00) !== 0xbf00 || !(hw & 0xf)) continue;
    const before = read16(at - 2n);
    if (before !== undefined && isThumb32(before)) continue;
    const mask = hw & 0xf;
    const count = 4 - Math.log2(mask & -mask); // the lowest set bit ends the block
    let pc = at + 2n;
    for (let i = 0; i < count; i++) {
      if (pc === addr) return at;
      const h = read16(pc);
      if (h === undefined) break;
      pc += isThumb32(h) ? 4n : 2n;
    }
  }
  return undefined;
}
