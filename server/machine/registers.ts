// The one register table. It generates the gdb target.xml and g/p order, the DAP
// register scopes and the CLI dumps; Unicorn ids are those of 2.0.1's headers.
export type CpuArch = 'aarch64' | 'arm';
export type RegGroup = 'general' | 'fp' | 'system' | 'banked';

/** AArch64 system register through UC_ARM64_REG_CP_REG. */
export interface Cp64 { op0: number; op1: number; crn: number; crm: number; op2: number }
/** AArch32 coprocessor register through UC_ARM_REG_CP_REG (cp15, non-secure bank). */
export interface Cp32 { cp: number; crn: number; crm: number; opc1: number; opc2: number; is64?: boolean }

export interface RegDef {
  name: string;
  bits: 32 | 64 | 128;
  /** gdb register number (the g packet packs registers sorted by it). */
  regnum: number;
  group: RegGroup;
  /** target.xml feature this register belongs to. */
  feature: string;
  /** gdb type: int, code_ptr, data_ptr, uint128, ieee_double ... */
  type: string;
  uc?: number;
  cp64?: Cp64;
  cp32?: Cp32;
  /** AArch32 banked register: read/written by switching CPSR to `mode`. */
  bank?: { mode: number; reg: 'sp' | 'lr' | 'spsr' };
  readonly?: boolean;
  /** Computed from another register (Unicorn 2.0.1 aborts the process on a CP_REG
   * read of registers without storage, such as CurrentEL). */
  derive?: { from: string; mask: bigint };
  /** One-line meaning for people (DAP hover, CLI dump). */
  doc?: string;
}

export const FEATURE = {
  a64core: 'org.gnu.gdb.aarch64.core',
  a64fpu: 'org.gnu.gdb.aarch64.fpu',
  a64sys: 'org.trapdoor.aarch64.sys',
  armcore: 'org.gnu.gdb.arm.core',
  armvfp: 'org.gnu.gdb.arm.vfp',
  armsys: 'org.trapdoor.arm.sys',
} as const;

const ARM64 = { X0: 199, X29: 1, X30: 2, NZCV: 3, SP: 4, PC: 260, PSTATE: 265, Q0: 104, FPCR: 291, FPSR: 292,
  CPACR_EL1: 261, TPIDR_EL0: 262, TPIDRRO_EL0: 263, TPIDR_EL1: 264, ELR_EL1: 267, SP_EL0: 270, SP_EL1: 271,
  TTBR0_EL1: 274, TTBR1_EL1: 275, ESR_EL1: 277, FAR_EL1: 281, PAR_EL1: 284, MAIR_EL1: 285, VBAR_EL1: 287 };
export const ARM64_IDS = ARM64;
export const ARM_IDS = { CPSR: 3, SPSR: 13, LR: 10, PC: 11, SP: 12, R0: 66, D0: 14, FPSCR: 6, FPEXC: 4 };

function aarch64Table(): RegDef[] {
  const t: RegDef[] = [];
  let n = 0;
  for (let i = 0; i <= 30; i++) {
    const uc = i <= 28 ? ARM64.X0 + i : i === 29 ? ARM64.X29 : ARM64.X30;
    t.push({ name: `x${i}`, bits: 64, regnum: n++, group: 'general', feature: FEATURE.a64core, type: 'int', uc });
  }
  t.push({ name: 'sp', bits: 64, regnum: n++, group: 'general', feature: FEATURE.a64core, type: 'data_ptr', uc: ARM64.SP });
  t.push({ name: 'pc', bits: 64, regnum: n++, group: 'general', feature: FEATURE.a64core, type: 'code_ptr', uc: ARM64.PC });
  t.push({ name: 'cpsr', bits: 32, regnum: n++, group: 'general', feature: FEATURE.a64core, type: 'int', uc: ARM64.PSTATE, doc: 'PSTATE (NZCV, DAIF, EL, SPSel)' });
  for (let i = 0; i < 32; i++) t.push({ name: `v${i}`, bits: 128, regnum: n++, group: 'fp', feature: FEATURE.a64fpu, type: 'uint128', uc: ARM64.Q0 + i });
  t.push({ name: 'fpsr', bits: 32, regnum: n++, group: 'fp', feature: FEATURE.a64fpu, type: 'int', uc: ARM64.FPSR });
  t.push({ name: 'fpcr', bits: 32, regnum: n++, group: 'fp', feature: FEATURE.a64fpu, type: 'int', uc: ARM64.FPCR });
  const sys = (name: string, spec: number | Cp64, doc: string, readonly = false) => {
    const d: RegDef = { name, bits: 64, regnum: n++, group: 'system', feature: FEATURE.a64sys, type: 'int', doc, readonly };
    if (typeof spec === 'number') d.uc = spec; else d.cp64 = spec;
    t.push(d);
  };
  t.push({ name: 'CurrentEL', bits: 64, regnum: n++, group: 'system', feature: FEATURE.a64sys, type: 'int', readonly: true,
    derive: { from: 'cpsr', mask: 0xcn }, doc: 'current exception level in bits 3:2' });
  sys('SCTLR_EL1', { op0: 3, op1: 0, crn: 1, crm: 0, op2: 0 }, 'system control (M: MMU on, C, I caches)');
  sys('VBAR_EL1', ARM64.VBAR_EL1, 'vector base address');
  sys('ESR_EL1', ARM64.ESR_EL1, 'exception syndrome (EC in bits 31:26)');
  sys('ELR_EL1', ARM64.ELR_EL1, 'exception link register');
  sys('SPSR_EL1', { op0: 3, op1: 0, crn: 4, crm: 0, op2: 0 }, 'saved PSTATE at exception entry');
  sys('FAR_EL1', ARM64.FAR_EL1, 'fault address');
  sys('TTBR0_EL1', ARM64.TTBR0_EL1, 'translation table base 0');
  sys('TTBR1_EL1', ARM64.TTBR1_EL1, 'translation table base 1');
  sys('TCR_EL1', { op0: 3, op1: 0, crn: 2, crm: 0, op2: 2 }, 'translation control');
  sys('MAIR_EL1', ARM64.MAIR_EL1, 'memory attribute indirection');
  sys('SP_EL0', ARM64.SP_EL0, 'stack pointer, EL0 bank');
  sys('SP_EL1', ARM64.SP_EL1, 'stack pointer, EL1 bank');
  sys('CPACR_EL1', ARM64.CPACR_EL1, 'FP/SIMD access control');
  sys('TPIDR_EL0', ARM64.TPIDR_EL0, 'thread id, EL0');
  sys('TPIDR_EL1', ARM64.TPIDR_EL1, 'thread id, EL1');
  sys('PAR_EL1', ARM64.PAR_EL1, 'physical address of the last AT');
  sys('MIDR_EL1', { op0: 3, op1: 0, crn: 0, crm: 0, op2: 0 }, 'main id', true);
  sys('MPIDR_EL1', { op0: 3, op1: 0, crn: 0, crm: 0, op2: 5 }, 'multiprocessor affinity', true);
  sys('HCR_EL2', { op0: 3, op1: 4, crn: 1, crm: 1, op2: 0 }, 'hypervisor configuration');
  sys('SCR_EL3', { op0: 3, op1: 6, crn: 1, crm: 1, op2: 0 }, 'secure configuration (NS, HCE, RW)');
  sys('CNTFRQ_EL0', { op0: 3, op1: 3, crn: 14, crm: 0, op2: 0 }, 'generic timer frequency');
  return t;
}

const MODE = { usr: 0x10, fiq: 0x11, irq: 0x12, svc: 0x13, abt: 0x17, und: 0x1b };
export const ARM_MODES = MODE;

function armTable(): RegDef[] {
  const t: RegDef[] = [];
  for (let i = 0; i <= 12; i++) t.push({ name: `r${i}`, bits: 32, regnum: i, group: 'general', feature: FEATURE.armcore, type: 'uint32', uc: ARM_IDS.R0 + i });
  t.push({ name: 'sp', bits: 32, regnum: 13, group: 'general', feature: FEATURE.armcore, type: 'data_ptr', uc: ARM_IDS.SP });
  t.push({ name: 'lr', bits: 32, regnum: 14, group: 'general', feature: FEATURE.armcore, type: 'int', uc: ARM_IDS.LR });
  t.push({ name: 'pc', bits: 32, regnum: 15, group: 'general', feature: FEATURE.armcore, type: 'code_ptr', uc: ARM_IDS.PC });
  t.push({ name: 'cpsr', bits: 32, regnum: 25, group: 'general', feature: FEATURE.armcore, type: 'int', uc: ARM_IDS.CPSR });
  let n = 26;
  for (let i = 0; i < 32; i++) t.push({ name: `d${i}`, bits: 64, regnum: n++, group: 'fp', feature: FEATURE.armvfp, type: 'ieee_double', uc: ARM_IDS.D0 + i });
  t.push({ name: 'fpscr', bits: 32, regnum: n++, group: 'fp', feature: FEATURE.armvfp, type: 'int', uc: ARM_IDS.FPSCR });
  const sys = (name: string, cp: Cp32, doc: string, readonly = false) =>
    t.push({ name, bits: 32, regnum: n++, group: 'system', feature: FEATURE.armsys, type: 'int', cp32: cp, doc, readonly });
  const c15 = (crn: number, crm: number, opc1: number, opc2: number): Cp32 => ({ cp: 15, crn, crm, opc1, opc2 });
  sys('SCTLR', c15(1, 0, 0, 0), 'system control (M, V: high vectors, TE: Thumb exceptions)');
  sys('VBAR', c15(12, 0, 0, 0), 'vector base address');
  sys('TTBR0', c15(2, 0, 0, 0), 'translation table base 0');
  sys('TTBR1', c15(2, 0, 0, 1), 'translation table base 1');
  sys('TTBCR', c15(2, 0, 0, 2), 'translation table base control');
  sys('DACR', c15(3, 0, 0, 0), 'domain access control');
  sys('DFSR', c15(5, 0, 0, 0), 'data fault status');
  sys('IFSR', c15(5, 0, 0, 1), 'instruction fault status');
  sys('DFAR', c15(6, 0, 0, 0), 'data fault address');
  sys('IFAR', c15(6, 0, 0, 2), 'instruction fault address');
  sys('SCR', c15(1, 1, 0, 0), 'secure configuration (NS, HCE)');
  sys('MIDR', c15(0, 0, 0, 0), 'main id', true);
  sys('MPIDR', c15(0, 0, 0, 5), 'multiprocessor affinity', true);
  const banked = (m: keyof typeof MODE, reg: 'sp' | 'lr' | 'spsr') =>
    t.push({ name: `${reg}_${m}`, bits: 32, regnum: n++, group: 'banked', feature: FEATURE.armsys, type: 'int', bank: { mode: MODE[m], reg } });
  for (const m of ['svc', 'und', 'abt', 'irq', 'fiq'] as const) { banked(m, 'sp'); banked(m, 'lr'); banked(m, 'spsr'); }
  banked('usr', 'sp'); banked('usr', 'lr');
  return t;
}

const cache = new Map<CpuArch, RegDef[]>();
export function registerTable(arch: CpuArch): RegDef[] {
  let t = cache.get(arch);
  if (!t) { t = arch === 'aarch64' ? aarch64Table() : armTable(); cache.set(arch, t); }
  return t;
}

const byName = new Map<string, RegDef | undefined>();

/** The register named `name` (any case; pstate, r13-r15 as aliases), looked up once per name. */
export function findRegister(arch: CpuArch, name: string): RegDef | undefined {
  const key = `${arch}:${name}`;
  let d = byName.get(key);
  if (d === undefined && !byName.has(key)) {
    d = lookupRegister(arch, name);
    if (byName.size < 4096) byName.set(key, d);
  }
  return d;
}

function lookupRegister(arch: CpuArch, name: string): RegDef | undefined {
  const lower = name.toLowerCase();
  const t = registerTable(arch);
  return t.find((r) => r.name === name) ?? t.find((r) => r.name.toLowerCase() === lower)
    ?? (arch === 'aarch64' && lower === 'pstate' ? t.find((r) => r.name === 'cpsr') : undefined)
    ?? (arch === 'arm' && /^r1[345]$/.test(lower) ? t.find((r) => r.regnum === Number(lower.slice(1))) : undefined);
}
