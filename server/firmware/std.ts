// The standard secure service's own queries (SMCCC General Service Queries) and
// FF-A discovery. FF-A is not present: FFA_VERSION answers NOT_SUPPORTED as
// DEN0077A says an absent FF-A does, so Linux's FF-A driver stops probing cleanly;
// FFA_FEATURES answers FFA_ERROR(NOT_SUPPORTED).
import { FFA_ID, FFA_RET } from '../decode/ffa.js';
import { findSmcccCall } from '../decode/smccc-calls.js';
import { OWNER_NUM, parseSmcccId } from '../decode/smccc.js';
import { ok, type FirmwareFunction, type FirmwareHost } from './common.js';

/**
 * Standard Service Call UID: the registers Arm's reference firmware (TF-A) returns
 * for its standard service UUID 108d905b-f863-47e8-ae2d-c0fb5641f6e2.
 */
export const STD_SECURE_UID_REGS = [0x108d905b, 0x47e8f863, 0xfbc02dae, 0xe2f64156] as const;

/** Revision of the standard secure service (major in x0, minor in x1), as TF-A reports it. */
export const STD_SECURE_REVISION = { major: 0, minor: 1 } as const;

/** Standard secure function ids the firmware implements (FF-A's "not present" answers are not functions). */
export function stdSecureCallCount(fw: Pick<FirmwareHost, 'implementedIds'>): number {
  return fw.implementedIds().filter((id) => parseSmcccId(id).ownerNum === OWNER_NUM.stdSecure && findSmcccCall(id)?.service !== 'FFA').length;
}

export function stdFunctions(fw: FirmwareHost): FirmwareFunction[] {
  return [
    { name: 'STD_SECURE_CALL_UID', respond: () => ok(...STD_SECURE_UID_REGS), constant: true },
    { name: 'STD_SECURE_CALL_COUNT', respond: () => ok(stdSecureCallCount(fw)), constant: true },
    { name: 'STD_SECURE_REVISION', respond: () => ok(STD_SECURE_REVISION.major, STD_SECURE_REVISION.minor), constant: true },
    { name: 'FFA_VERSION', respond: () => ({ ...ok(FFA_RET.NOT_SUPPORTED), note: 'FF-A is not present' }) },
    { name: 'FFA_FEATURES', respond: () => ({ ...ok(FFA_ID.ERROR, 0, FFA_RET.NOT_SUPPORTED), note: 'FF-A is not present' }) },
  ];
}
