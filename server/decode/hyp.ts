// Hypervisor services: standard hypervisor PV time (Arm DEN0057, SMC64 only) and the
// KVM calls in the vendor hypervisor range that Linux guests make (include/linux/arm-smccc.h).
// The vendor hypervisor Call UID / Revision rows come from GENERAL_QUERY_CALLS.
import type { SmcccCallRow } from './smccc.js';

export const HYP_ID = {
  PV_TIME_FEATURES: 0xc5000020,
  PV_TIME_ST: 0xc5000021,
  VENDOR_HYP_CALL_UID: 0x8600ff01,
  VENDOR_HYP_REVISION: 0x8600ff03,
  KVM_FEATURES: 0x86000000,
  KVM_PTP: 0x86000001,
  KVM_HYP_MEMINFO: 0xc6000002,
  KVM_MEM_SHARE: 0xc6000003,
  KVM_MEM_UNSHARE: 0xc6000004,
  KVM_MMIO_GUARD: 0xc6000007,
  KVM_DISCOVER_IMPL_VER: 0xc6000040,
  KVM_DISCOVER_IMPL_CPUS: 0xc6000041,
} as const;

/** KVM's vendor hypervisor UID, as Linux checks it (arch/arm64/kvm/hypercalls.c). */
export const KVM_UID = '28b46fb6-2ec5-11e9-a9ca-4b564d003a74';

const PTP_COUNTERS: Readonly<Record<number, string>> = { 0: 'virtual', 1: 'physical' };

export const HYP_CALLS: readonly SmcccCallRow[] = [
  { id: HYP_ID.PV_TIME_FEATURES, name: 'PV_TIME_FEATURES', service: 'PV_TIME', args: ['func'], queries: 0, since: '1.0' },
  { id: HYP_ID.PV_TIME_ST, name: 'PV_TIME_ST', service: 'PV_TIME', args: ['vcpu'], since: '1.0' },
  { id: HYP_ID.KVM_FEATURES, name: 'KVM_FEATURES', service: 'KVM', args: [] },
  {
    id: HYP_ID.KVM_PTP, name: 'KVM_PTP', service: 'KVM', args: ['counter'],
    describe: ([c]) => ({ counter: PTP_COUNTERS[Number(c ?? 0n)] ?? 'invalid' }),
  },
  // pKVM protected guests (Linux drivers/virt/coco/pkvm-guest): memory sharing and MMIO guard
  { id: HYP_ID.KVM_HYP_MEMINFO, name: 'KVM_HYP_MEMINFO', service: 'KVM', args: [] },
  { id: HYP_ID.KVM_MEM_SHARE, name: 'KVM_MEM_SHARE', service: 'KVM', args: ['ipa'] },
  { id: HYP_ID.KVM_MEM_UNSHARE, name: 'KVM_MEM_UNSHARE', service: 'KVM', args: ['ipa'] },
  { id: HYP_ID.KVM_MMIO_GUARD, name: 'KVM_MMIO_GUARD', service: 'KVM', args: ['ipa'] },
  // the CPU implementations a guest may be migrated across (errata workarounds)
  { id: HYP_ID.KVM_DISCOVER_IMPL_VER, name: 'KVM_DISCOVER_IMPL_VER', service: 'KVM', args: [] },
  { id: HYP_ID.KVM_DISCOVER_IMPL_CPUS, name: 'KVM_DISCOVER_IMPL_CPUS', service: 'KVM', args: ['index'] },
];
