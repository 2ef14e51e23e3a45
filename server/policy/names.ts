// Names a rule may use for owners, services, call kinds and Xen hypercalls, so a
// typo in a policy is an error at load time instead of a rule that never matches.
import type { DecodedKind } from '../decode/types.js';
import { OWNER_DISPLAY, SERVICE_RANGES, type OwnerName } from '../decode/smccc.js';
import { SMCCC_CALLS } from '../decode/smccc-calls.js';
import { LEGACY_PLATFORMS } from '../decode/legacy.js';
import { XEN_HYPERCALLS as XEN_HYPERCALL_ROWS } from '../decode/xen-hypercalls.js';

/**
 * DecodedCall.owner values: SMCCC owners, Xen, the legacy platforms of
 * decode/legacy.ts, and 'unknown' (calls no rule could decode). Taken from the
 * decode tables, so a platform or service added there is known here too.
 */
export const OWNERS: readonly string[] = [
  ...(Object.keys(OWNER_DISPLAY) as OwnerName[]), 'xen', ...Object.keys(LEGACY_PLATFORMS), 'unknown',
];

/** Service families matched against DecodedCall.service (case-insensitive). */
export const SERVICES: readonly string[] = [
  ...new Set([...SMCCC_CALLS.map((r) => r.service), ...SERVICE_RANGES.map((r) => r.service), 'XEN'].map((x) => x.toLowerCase())),
];

export const KINDS: readonly DecodedKind[] = ['smccc', 'xen', 'legacy', 'unknown'];

/** Xen hypercall numbers by name (xen/include/public/xen.h, as decode/ has them). */
export const XEN_HYPERCALLS: Readonly<Record<string, number>> = Object.fromEntries(XEN_HYPERCALL_ROWS.map((r) => [r.name, r.nr]));

export function xenHypercallName(nr: number): string | undefined {
  return XEN_HYPERCALL_ROWS.find((r) => r.nr === nr)?.name;
}
