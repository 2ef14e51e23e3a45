// Finds the instruction that made a data access fault.
//
// Unicorn 2.0.1 reports a faulting load/store with PC at the start of its
// translated block, although the instructions before it in the block have run.
// Scanning the block from there, the first load/store whose effective address
// (computed from the registers as they are now, which is how that instruction saw
// them) covers the faulting address is the culprit; setting PC to it makes the
// CPU state consistent again: everything before it ran, it did not.
// Pure: bytes and register values in, an address out (undefined: not found).

export interface FaultScan {
  /** Reads a 32-bit instruction word at a guest address (undefined if unreadable). */
  word(addr: bigint): number | undefined;
  /** Register n as now (AArch64: 31 = SP; AArch32: 13 SP, 14 LR, 15 PC handled here). */
  reg(n: number): bigint;
  faultAddr: bigint;
  faultSize: number;
  /** The PC Unicorn reports (start of the block). */
  start: bigint;
}

const MAX_SCAN = 256;
const M64 = (1n << 64n) - 1n;

function sext(v: number, bits: number): bigint {
  const s = BigInt(v);
  return s & (1n << BigInt(bits - 1)) ? s - (1n << BigInt(bits)) : s;
}

function covers(ea: bigint, bytes: number, f: FaultScan): boolean {
  const lo = ea & M64;
  return f.faultAddr < lo + BigInt(bytes) && lo < f.faultAddr + BigInt(Math.max(f.faultSize, 1));
}

/** AArch64: the effective address and access size of a load/store, or null. */
function a64Access(insn: number, pc: bigint, reg: (n: number) => bigint): { ea: bigint; bytes: number } | null {
  const rn = (insn >>> 5) & 31;
  const base = () => reg(rn); // 31 is SP for loads/stores
  const size = insn >>> 30;
  // load register (literal): opc 00 011 V 00 imm19 Rt
  if ((insn & 0x3b000000) === 0x18000000) return { ea: pc + sext((insn >>> 5) & 0x7ffff, 19) * 4n, bytes: 4 << (size & 1) };
  // load/store pair (post, offset, pre): opc 101 V 0xx L imm7 Rt2 Rn Rt
  if ((insn & 0x3a000000) === 0x28000000) {
    const v = (insn >>> 26) & 1;
    const scale = v ? 2 + size : 2 + (size >>> 1);
    const off = sext((insn >>> 15) & 0x7f, 7) << BigInt(scale);
    const post = ((insn >>> 23) & 3) === 1;
    return { ea: post ? base() : base() + off, bytes: 2 << scale };
  }
  // load/store register: size 111 V 0x opc ...
  if ((insn & 0x3a000000) === 0x38000000) {
    const v = (insn >>> 26) & 1;
    const opc = (insn >>> 22) & 3;
    const scale = v && opc >= 2 && size === 0 ? 4 : size;
    const bytes = 1 << scale;
    if (insn & 0x01000000) return { ea: base() + (BigInt((insn >>> 10) & 0xfff) << BigInt(scale)), bytes }; // unsigned imm12
    if ((insn & 0x00200c00) === 0x00200800) { // register offset
      const rm = (insn >>> 16) & 31;
      const option = (insn >>> 13) & 7;
      let off = rm === 31 ? 0n : reg(rm);
      if (option === 2) off &= 0xffff_ffffn; // UXTW
      else if (option === 6) off = BigInt.asIntN(32, off); // SXTW
      if ((insn >>> 12) & 1) off <<= BigInt(scale);
      return { ea: base() + off, bytes };
    }
    if ((insn & 0x00200000) === 0) { // imm9: unscaled, post-index, pre-index, unprivileged
      const post = ((insn >>> 10) & 3) === 1;
      return { ea: post ? base() : base() + sext((insn >>> 12) & 0x1ff, 9), bytes };
    }
    return { ea: base(), bytes }; // atomics
  }
  // load/store exclusive and ordered: size 001000 ...
  if ((insn & 0x3f000000) === 0x08000000) return { ea: base(), bytes: 1 << size };
  return null;
}

/** AArch64: true for branches, exception generation and system instructions (a block ends). */
function a64EndsBlock(insn: number): boolean {
  return (insn & 0x1c000000) === 0x14000000;
}

/** AArch32 (ARM state): single data transfer and halfword forms; null for anything else. */
function a32Access(insn: number, pc: bigint, reg: (n: number) => bigint): { ea: bigint; bytes: number } | null {
  const rn = (insn >>> 16) & 15;
  const base = rn === 15 ? pc + 8n : reg(rn);
  const p = (insn >>> 24) & 1;
  const u = (insn >>> 23) & 1;
  if ((insn & 0x0c000000) === 0x04000000) { // LDR/STR/LDRB/STRB
    const bytes = (insn >>> 22) & 1 ? 1 : 4;
    let off: bigint;
    if (insn & 0x02000000) {
      const rm = insn & 15;
      const shift = (insn >>> 7) & 31;
      const type = (insn >>> 5) & 3;
      if (type !== 0) return null;
      off = (rm === 15 ? pc + 8n : reg(rm)) << BigInt(shift);
    } else off = BigInt(insn & 0xfff);
    const ea = p ? (u ? base + off : base - off) : base;
    return { ea: ea & 0xffff_ffffn, bytes };
  }
  if ((insn & 0x0e000090) === 0x00000090 && (insn & 0x60) !== 0) { // LDRH/STRH/LDRSB/LDRSH/LDRD/STRD
    const off = (insn >>> 22) & 1 ? BigInt(((insn >>> 4) & 0xf0) | (insn & 15)) : reg(insn & 15);
    const ea = p ? (u ? base + off : base - off) : base;
    const doubleword = ((insn >>> 20) & 1) === 0 && (insn & 0x40) !== 0; // LDRD/STRD
    return { ea: ea & 0xffff_ffffn, bytes: doubleword ? 8 : 2 };
  }
  return null;
}

export function locateFault(arch: 'aarch64' | 'arm', f: FaultScan): bigint | undefined {
  let pc = f.start;
  for (let i = 0; i < MAX_SCAN; i++, pc += 4n) {
    const insn = f.word(pc);
    if (insn === undefined) return undefined;
    const acc = arch === 'aarch64' ? a64Access(insn, pc, f.reg) : a32Access(insn, pc, f.reg);
    if (acc && covers(acc.ea, acc.bytes, f)) return pc;
    if (arch === 'aarch64' ? a64EndsBlock(insn) : ((insn >>> 25) & 7) === 5 || (insn & 0x0ffffff0) === 0x012fff10) return undefined;
  }
  return undefined;
}
