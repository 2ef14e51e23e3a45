// Names a rule may use for owners, services, call kinds and Xen hypercalls, so a
// typo in a policy is an error at load time instead of a rule that never matches.
import type { DecodedKind } from '../decode/types.js';

/**
 * DecodedCall.owner values: SMCCC owners, Xen, the legacy platforms of
 * decode/legacy.ts, and 'unknown' (calls no rule could decode).
 */
export const OWNERS: readonly string[] = [
  'arch', 'cpu', 'sip', 'oem', 'std-secure', 'std-hyp', 'vendor-hyp',
  'trusted-app', 'trusted-os', 'reserved', 'xen', 'highbank', 'omap4', 'omap5', 'unknown',
];

/** Service families matched against DecodedCall.service (case-insensitive). */
export const SERVICES: readonly string[] = ['psci', 'sdei', 'mm', 'trng', 'ffa', 'pci', 'pv_time', 'arch', 'kvm', 'xen'];

export const KINDS: readonly DecodedKind[] = ['smccc', 'xen', 'legacy', 'unknown'];

/** Xen hypercall numbers (xen/include/public/xen.h). */
export const XEN_HYPERCALLS: Readonly<Record<string, number>> = {
  set_trap_table: 0, mmu_update: 1, set_gdt: 2, stack_switch: 3, set_callbacks: 4,
  fpu_taskswitch: 5, sched_op_compat: 6, platform_op: 7, set_debugreg: 8, get_debugreg: 9,
  update_descriptor: 10, memory_op: 12, multicall: 13, update_va_mapping: 14,
  set_timer_op: 15, event_channel_op_compat: 16, xen_version: 17, console_io: 18,
  physdev_op_compat: 19, grant_table_op: 20, vm_assist: 21, update_va_mapping_otherdomain: 22,
  iret: 23, vcpu_op: 24, set_segment_base: 25, mmuext_op: 26, xsm_op: 27, nmi_op: 28,
  sched_op: 29, callback_op: 30, xenoprof_op: 31, event_channel_op: 32, physdev_op: 33,
  hvm_op: 34, sysctl: 35, domctl: 36, kexec_op: 37, tmem_op: 38, argo_op: 39,
  xenpmu_op: 40, dm_op: 41, hypfs_op: 42,
};

export function xenHypercallName(nr: number): string | undefined {
  for (const [name, n] of Object.entries(XEN_HYPERCALLS)) if (n === nr) return name;
  return undefined;
}
