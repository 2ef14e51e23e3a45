// SMC Calling Convention (Arm DEN0028) function identifiers: the bit fields of w0,
// the owning-entity ranges, and the row type every SMCCC function table uses.
import type { DecodedCall } from './types.js';

/** One SMCCC function: a row of a table that tests and the firmware iterate over. */
export interface SmcccCallRow {
  /** Full 32-bit function id, e.g. 0xc4000003. */
  id: number;
  /** e.g. 'PSCI_CPU_ON' (the same name for the SMC32 and SMC64 variants). */
  name: string;
  /** Service family, e.g. 'PSCI', 'ARCH', 'TRNG', 'SDEI', 'PV_TIME', 'KVM'. */
  service: string;
  /** Names of the arguments in x1, x2, ... */
  args: string[];
  /** Index into `args` of an argument that is itself a function id (FEATURES queries). */
  queries?: number;
  /** Spec version that introduced the call, e.g. '1.0' for PSCI_FEATURES. */
  since?: string;
  /** Extra facts derived from the (already masked) argument values x1.. */
  describe?: (args: bigint[]) => DecodedCall['fields'];
}

export type OwnerName =
  | 'arch' | 'cpu' | 'sip' | 'oem' | 'std-secure' | 'std-hyp' | 'vendor-hyp'
  | 'reserved' | 'trusted-app' | 'trusted-os';

export const OWNER_NUM = {
  arch: 0, cpu: 1, sip: 2, oem: 3, stdSecure: 4, stdHyp: 5, vendorHyp: 6,
  trustedAppFirst: 0x30, trustedAppLast: 0x31, trustedOsFirst: 0x32, trustedOsLast: 0x3f,
} as const;

export function ownerName(owner: number): OwnerName {
  switch (owner) {
    case 0: return 'arch';
    case 1: return 'cpu';
    case 2: return 'sip';
    case 3: return 'oem';
    case 4: return 'std-secure';
    case 5: return 'std-hyp';
    case 6: return 'vendor-hyp';
  }
  if (owner >= OWNER_NUM.trustedAppFirst && owner <= OWNER_NUM.trustedAppLast) return 'trusted-app';
  if (owner >= OWNER_NUM.trustedOsFirst && owner <= OWNER_NUM.trustedOsLast) return 'trusted-os';
  return 'reserved';
}

/** How an owner reads in a one-line summary ("SiP call 0x82000010(...)"). */
export const OWNER_DISPLAY: Readonly<Record<OwnerName, string>> = {
  'arch': 'Arm arch', 'cpu': 'CPU service', 'sip': 'SiP', 'oem': 'OEM',
  'std-secure': 'Standard secure', 'std-hyp': 'Standard hyp', 'vendor-hyp': 'Vendor hyp',
  'reserved': 'Reserved', 'trusted-app': 'Trusted app', 'trusted-os': 'Trusted OS',
};

/** Prefix of generated names for calls no table knows ("SIP_CALL_0x0001"). */
export const OWNER_PREFIX: Readonly<Record<OwnerName, string>> = {
  'arch': 'ARCH', 'cpu': 'CPU', 'sip': 'SIP', 'oem': 'OEM', 'std-secure': 'STD_SECURE',
  'std-hyp': 'STD_HYP', 'vendor-hyp': 'VENDOR_HYP', 'reserved': 'RESERVED',
  'trusted-app': 'TRUSTED_APP', 'trusted-os': 'TRUSTED_OS',
};

/** The fields of a function id (w0). */
export interface SmcccIdFields {
  id: number;
  /** bit 31: fast call (1) or yielding call (0). */
  fast: boolean;
  /** bit 30: SMC64/HVC64 (64) or SMC32/HVC32 (32). */
  callconv: 32 | 64;
  /** bits 29:24 */
  ownerNum: number;
  owner: OwnerName;
  /** bits 15:0 */
  fn: number;
  /** bits 23:16, which must be zero for fast calls (bit 16 is the SVE hint since SMCCC 1.3). */
  reserved: number;
}

export function parseSmcccId(id: number): SmcccIdFields {
  const w = id >>> 0;
  const ownerNum = (w >>> 24) & 0x3f;
  return {
    id: w,
    fast: (w & 0x80000000) !== 0,
    callconv: (w & 0x40000000) !== 0 ? 64 : 32,
    ownerNum,
    owner: ownerName(ownerNum),
    fn: w & 0xffff,
    reserved: (w >>> 16) & 0xff,
  };
}

export function makeSmcccId(fast: boolean, callconv: 32 | 64, owner: number, fn: number): number {
  return ((fast ? 0x80000000 : 0) | (callconv === 64 ? 0x40000000 : 0) | ((owner & 0x3f) << 24) | (fn & 0xffff)) >>> 0;
}

export const SVE_HINT_BIT = 0x10000;

/**
 * A valid SMCCC fast-call id in the strict sense used to tell SMCCC calls from
 * legacy platform calls: bit 31 set, bits 23:16 zero, owner not reserved.
 */
export function isSmcccFastId(id: number): boolean {
  const f = parseSmcccId(id);
  return f.fast && f.reserved === 0 && f.owner !== 'reserved';
}

/**
 * Looks like a fast call at all (bits 23:17 zero; bit 16 may carry the SMCCC 1.3
 * SVE hint). Reserved owners are allowed: without a platform there is no other reading.
 */
export function isFastCallShaped(id: number): boolean {
  const f = parseSmcccId(id);
  return f.fast && (f.reserved & 0xfe) === 0;
}

/**
 * A yielding call (bit 31 clear) with bits 23:16 zero. The range
 * 0x00000000-0x0100ffff is what SMCCC reserves for pre-SMCCC Trusted OS APIs.
 */
export function isYieldingShaped(id: number): boolean {
  const f = parseSmcccId(id);
  return !f.fast && f.reserved === 0;
}

/** Sub-ranges of an owner's function numbers that belong to one service. */
export interface ServiceRange {
  owner: number;
  from: number;
  to: number;
  service: string;
}

/** SMCCC 1.5 (DEN0028) table 6-4 allocation inside the standard secure and hypervisor owners. */
export const SERVICE_RANGES: readonly ServiceRange[] = [
  { owner: OWNER_NUM.stdSecure, from: 0x00, to: 0x1f, service: 'PSCI' },
  { owner: OWNER_NUM.stdSecure, from: 0x20, to: 0x3f, service: 'SDEI' },
  { owner: OWNER_NUM.stdSecure, from: 0x40, to: 0x4f, service: 'MM' },
  { owner: OWNER_NUM.stdSecure, from: 0x50, to: 0x5f, service: 'TRNG' },
  { owner: OWNER_NUM.stdSecure, from: 0x60, to: 0xef, service: 'FFA' },
  { owner: OWNER_NUM.stdSecure, from: 0xf0, to: 0x10f, service: 'EM' },
  { owner: OWNER_NUM.stdSecure, from: 0x110, to: 0x12f, service: 'DRTM' },
  { owner: OWNER_NUM.stdSecure, from: 0x130, to: 0x14f, service: 'PCI' },
  { owner: OWNER_NUM.stdSecure, from: 0x150, to: 0x18f, service: 'RMI' },
  { owner: OWNER_NUM.stdSecure, from: 0x190, to: 0x1cf, service: 'RSI' },
  { owner: OWNER_NUM.stdHyp, from: 0x20, to: 0x3f, service: 'PV_TIME' },
];

/** One function of a service table: SMC32, SMC64 or both forms share a name and arguments. */
export interface ServiceFunction {
  fn: number;
  name: string;
  args: string[];
  forms: 32 | 64 | 'both';
  since?: string;
  queries?: number;
  describe?: SmcccCallRow['describe'];
}

/** The rows (one per function id) of a service's table. */
export function serviceRows(owner: number, service: string, fns: readonly ServiceFunction[]): SmcccCallRow[] {
  const rows: SmcccCallRow[] = [];
  for (const f of fns) {
    for (const cc of f.forms === 'both' ? ([32, 64] as const) : [f.forms]) {
      const row: SmcccCallRow = { id: makeSmcccId(true, cc, owner, f.fn), name: f.name, service, args: f.args };
      if (f.since !== undefined) row.since = f.since;
      if (f.queries !== undefined) row.queries = f.queries;
      if (f.describe) row.describe = f.describe;
      rows.push(row);
    }
  }
  return rows;
}

export function serviceRangeOf(f: SmcccIdFields): ServiceRange | undefined {
  return SERVICE_RANGES.find((r) => r.owner === f.ownerNum && f.fn >= r.from && f.fn <= r.to);
}

/** How a service reads in a summary when it differs from its name ("SMCCC ARCH_FEATURES"). */
export const SERVICE_DISPLAY: Readonly<Record<string, string>> = { ARCH: 'SMCCC' };

export function serviceDisplay(service: string): string {
  return SERVICE_DISPLAY[service] ?? service;
}

/** Function name without its service prefix: PSCI_CPU_ON -> CPU_ON, SMCCC_VERSION -> VERSION. */
export function shortName(row: Pick<SmcccCallRow, 'name' | 'service'>): string {
  const prefix = `${serviceDisplay(row.service)}_`;
  return row.name.startsWith(prefix) ? row.name.slice(prefix.length) : row.name;
}

/** Function numbers every owner uses for its general queries (SMCCC "General Service Queries"). */
export const GENERAL_QUERIES = [
  { fn: 0xff00, suffix: 'CALL_COUNT' },
  { fn: 0xff01, suffix: 'CALL_UID' },
  { fn: 0xff03, suffix: 'REVISION' },
] as const;

function generalQueryRows(): SmcccCallRow[] {
  const owners = [1, 2, 3, 4, 5, 6];
  for (let o = OWNER_NUM.trustedAppFirst; o <= OWNER_NUM.trustedOsLast; o++) owners.push(o);
  const rows: SmcccCallRow[] = [];
  for (const o of owners) {
    const prefix = OWNER_PREFIX[ownerName(o)];
    for (const q of GENERAL_QUERIES) {
      rows.push({ id: makeSmcccId(true, 32, o, q.fn), name: `${prefix}_${q.suffix}`, service: prefix, args: [] });
    }
  }
  return rows;
}

/** Call Count / Call UID / Revision for every owner except the Arm architecture one. */
export const GENERAL_QUERY_CALLS: readonly SmcccCallRow[] = generalQueryRows();
