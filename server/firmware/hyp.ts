// Vendor hypervisor service, answered the way KVM does so that Linux guests take
// the KVM paths they know. PV time (DEN0057) is not implemented: there is no
// stolen time to report, so PV_TIME_FEATURES is NOT_SUPPORTED and ARCH_FEATURES
// says so too.
import { HYP_ID, KVM_UID } from '../decode/hyp.js';
import { ok, uuidToRegs, type FirmwareFunction, type FirmwareHost } from './common.js';

/** Revision of this firmware's vendor hypervisor service (major in x0, minor in x1). */
export const VENDOR_HYP_REVISION = { major: 1, minor: 0 } as const;

/** KVM_FEATURES: bit n of x0 set when function 0x86000000 + n is implemented (n < 32). */
export function kvmFeatureBitmap(fw: Pick<FirmwareHost, 'implements'>): bigint {
  let bits = 0n;
  for (let n = 0; n < 32; n++) if (fw.implements(HYP_ID.KVM_FEATURES + n)) bits |= 1n << BigInt(n);
  return bits;
}

export function hypFunctions(fw: FirmwareHost): FirmwareFunction[] {
  return [
    { name: 'VENDOR_HYP_CALL_UID', respond: () => ok(...uuidToRegs(KVM_UID)), constant: true },
    { name: 'VENDOR_HYP_REVISION', respond: () => ok(VENDOR_HYP_REVISION.major, VENDOR_HYP_REVISION.minor), constant: true },
    { name: 'KVM_FEATURES', respond: () => ok(kvmFeatureBitmap(fw), 0, 0, 0), constant: true },
  ];
}
