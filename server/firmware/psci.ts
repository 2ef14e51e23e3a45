// PSCI 1.1 as a single- or multi-vCPU firmware would answer it.
//
// vCPU n has MPIDR affinity Aff0 = n (Aff1..Aff3 = 0); any other target is
// INVALID_PARAMS. CPU_SUSPEND returns SUCCESS at once, as if a wake-up event were
// already pending (the spec allows an early return for both state types).
// Not implemented, so PSCI_FEATURES reports NOT_SUPPORTED for them: MIGRATE and
// MIGRATE_INFO_UP_CPU (MIGRATE_INFO_TYPE says no Trusted OS needs migrating),
// CPU_FREEZE, CPU_DEFAULT_SUSPEND, NODE_HW_STATE, SYSTEM_SUSPEND, SET_SUSPEND_MODE,
// STAT_*, MEM_PROTECT*.
import { ARCH_ID } from '../decode/arch-calls.js';
import { formatHex, MASK32 } from '../decode/format.js';
import { describeResetType, PSCI_AFFINITY, PSCI_MIGRATE_TYPE, PSCI_RESET2, PSCI_RET } from '../decode/psci.js';
import { findSmcccCall } from '../decode/smccc-calls.js';
import { callableBy, ok, type FirmwareFunction, type FirmwareHost } from './common.js';

export const PSCI_VERSION_1_1 = 0x10001;

/** vCPU index for a PSCI target_cpu / target_affinity value, or undefined if no vCPU has it. */
export function mpidrToCpu(mpidr: bigint, cpus: number): number | undefined {
  if ((mpidr & ~0xffn) !== 0n) return undefined;
  const n = Number(mpidr);
  return n < cpus ? n : undefined;
}

/** PSCI_FEATURES answers for PSCI functions and SMCCC_VERSION only (DEN0022 5.1.14). */
export function psciFeaturesEligible(id: number): boolean {
  return id === ARCH_ID.SMCCC_VERSION || findSmcccCall(id)?.service === 'PSCI';
}

export function psciFunctions(fw: FirmwareHost): FirmwareFunction[] {
  const cpus = Math.max(1, fw.config.cpus);
  return [
    { name: 'PSCI_VERSION', respond: () => ok(PSCI_VERSION_1_1), constant: true },
    { name: 'PSCI_CPU_SUSPEND', respond: () => ({ ...ok(PSCI_RET.SUCCESS), note: 'returned at once (wake-up pending)' }) },
    {
      name: 'PSCI_CPU_OFF',
      respond: (c) => {
        fw.cpuOn[c.cpu] = false;
        // CPU_OFF does not return on success: no register is written. With no CPU
        // left on, nothing can run again: the run loop ends the run.
        const last = !fw.cpuOn.some(Boolean);
        return { handled: true, regs: [], effect: 'cpu_off', detail: { cpu: String(c.cpu), last: last ? 'yes' : 'no' }, note: 'CPU_OFF does not return' };
      },
    },
    {
      name: 'PSCI_CPU_ON',
      respond: (c) => {
        const target = mpidrToCpu(c.arg(1), cpus);
        if (target === undefined) return { ...ok(PSCI_RET.INVALID_PARAMS), note: `no vCPU with MPIDR ${formatHex(c.arg(1))}` };
        if (fw.cpuOn[target]) return { ...ok(PSCI_RET.ALREADY_ON), note: `vCPU ${target} is already on` };
        fw.cpuOn[target] = true;
        return {
          ...ok(PSCI_RET.SUCCESS),
          effect: 'cpu_on',
          detail: { target: String(target), mpidr: formatHex(c.arg(1)), entry: formatHex(c.arg(2)), context: formatHex(c.arg(3)) },
        };
      },
    },
    {
      name: 'PSCI_AFFINITY_INFO',
      respond: (c) => {
        const target = mpidrToCpu(c.arg(1), cpus);
        // PSCI 1.0 and later only require lowest_affinity_level 0.
        if (target === undefined || (c.arg(2) & MASK32) !== 0n) return ok(PSCI_RET.INVALID_PARAMS);
        return ok(fw.cpuOn[target] ? PSCI_AFFINITY.ON : PSCI_AFFINITY.OFF);
      },
    },
    { name: 'PSCI_MIGRATE_INFO_TYPE', respond: () => ok(PSCI_MIGRATE_TYPE.NOT_PRESENT_OR_NOT_REQUIRED), constant: true },
    { name: 'PSCI_SYSTEM_OFF', respond: () => ({ handled: true, regs: [], effect: 'system_off' }) },
    { name: 'PSCI_SYSTEM_RESET', respond: () => ({ handled: true, regs: [], effect: 'system_reset', detail: { kind: 'cold' } }) },
    {
      name: 'PSCI_SYSTEM_RESET2',
      respond: (c) => {
        const type = c.arg(1) & MASK32;
        if ((Number(type) & PSCI_RESET2.VENDOR_BIT) === 0 && type !== BigInt(PSCI_RESET2.SYSTEM_WARM_RESET)) {
          return { ...ok(PSCI_RET.INVALID_PARAMS), note: `undefined architectural reset type ${formatHex(type)}` };
        }
        return {
          handled: true,
          regs: [],
          effect: 'system_reset2',
          detail: { kind: describeResetType(type), reset_type: formatHex(type), cookie: formatHex(c.arg(2)) },
        };
      },
    },
    {
      name: 'PSCI_FEATURES',
      respond: (c) => {
        const id = Number(c.arg(1) & MASK32);
        // CPU_SUSPEND's feature flags are 0: original power_state format, no OS-initiated mode.
        return ok(psciFeaturesEligible(id) && callableBy(fw, c.ctx.arch, id) ? PSCI_RET.SUCCESS : PSCI_RET.NOT_SUPPORTED);
      },
    },
  ];
}
