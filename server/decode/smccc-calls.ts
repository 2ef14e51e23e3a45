// All SMCCC function tables in one registry, and the decoder that turns w0 plus
// x1..x17 into a DecodedCall.
import { ARCH_CALLS } from './arch-calls.js';
import { FFA_CALLS } from './ffa.js';
import { formatHex, formatId, MASK32 } from './format.js';
import { HYP_CALLS } from './hyp.js';
import { PSCI_CALLS } from './psci.js';
import { SDEI_CALLS } from './sdei.js';
import { DRTM_CALLS, EM_CALLS, MM_CALLS, PCI_CALLS, RMI_CALLS, RSI_CALLS } from './std-services.js';
import {
  GENERAL_QUERY_CALLS,
  OWNER_DISPLAY,
  OWNER_NUM,
  OWNER_PREFIX,
  parseSmcccId,
  serviceDisplay,
  serviceRangeOf,
  shortName,
  SVE_HINT_BIT,
  type SmcccCallRow,
} from './smccc.js';
import { TRNG_CALLS } from './trng.js';
import type { CallContext, DecodedArg, DecodedCall } from './types.js';

/** Every SMCCC function any table knows, one row per function id. */
export const SMCCC_CALLS: readonly SmcccCallRow[] = [
  ...ARCH_CALLS,
  ...PSCI_CALLS,
  ...SDEI_CALLS,
  ...MM_CALLS,
  ...TRNG_CALLS,
  ...FFA_CALLS,
  ...EM_CALLS,
  ...DRTM_CALLS,
  ...PCI_CALLS,
  ...RMI_CALLS,
  ...RSI_CALLS,
  ...HYP_CALLS,
  ...GENERAL_QUERY_CALLS,
];

const BY_ID: ReadonlyMap<number, SmcccCallRow> = (() => {
  const m = new Map<number, SmcccCallRow>();
  for (const row of SMCCC_CALLS) {
    if (m.has(row.id)) throw new Error(`duplicate SMCCC id ${formatId(row.id)} (${row.name}, ${m.get(row.id)?.name})`);
    m.set(row.id, row);
  }
  return m;
})();

export function findSmcccCall(id: number): SmcccCallRow | undefined {
  return BY_ID.get(id >>> 0);
}

/** Register names for argument lists when no table names them. */
export function regName(ctx: Pick<CallContext, 'arch'>, n: number): string {
  return ctx.arch === 'aarch64' ? `x${n}` : `r${n}`;
}

/** Register n as the call sees it: 32 bits for SMC32/HVC32 and for AArch32 guests. */
export function regValue(ctx: CallContext, n: number, width: 32 | 64): bigint {
  const v = ctx.args[n] ?? 0n;
  return width === 32 || ctx.arch !== 'aarch64' ? v & MASK32 : v;
}

function renderArgs(args: DecodedArg[], queried?: { index: number; value: bigint }): string {
  return args
    .map((a, i) => {
      if (queried && i === queried.index) {
        const target = findSmcccCall(Number(queried.value & MASK32));
        if (target) return `${a.name}=${a.value} ${target.name}`;
      }
      return `${a.name}=${a.value}`;
    })
    .join(', ');
}

const UNKNOWN_ARG_COUNT = 6;

/** Owners whose every function is defined by an Arm specification. */
const ARM_DEFINED_OWNERS = new Set([OWNER_NUM.arch, OWNER_NUM.stdSecure, OWNER_NUM.stdHyp]);

/**
 * Why a fast-call id no table knows does not exist, when the specs say so: the
 * function exists only in the other calling convention (0xc4000000: PSCI_VERSION
 * has no SMC64 form), or the number is unallocated in an Arm-defined owner or range.
 */
function missingIdWarning(id: number, service: string | undefined): string | undefined {
  const other = findSmcccCall((id ^ 0x40000000) >>> 0);
  if (other) {
    const [has, lacks] = id & 0x40000000 ? ['SMC32', 'SMC64'] : ['SMC64', 'SMC32'];
    return `no such function: ${other.name} has no ${lacks} form (its ${has} id is ${formatId(other.id)})`;
  }
  if (service) return `no such function: ${service} defines no function ${formatId(id)}`;
  const owner = parseSmcccId(id).ownerNum;
  if (ARM_DEFINED_OWNERS.has(owner as 0 | 4 | 5)) return `no such function: ${formatId(id)} is not allocated by the Arm specifications`;
  return undefined;
}

/** Decode an SMCCC call (fast or yielding). `rule` records why it was read as SMCCC. */
export function decodeSmccc(ctx: CallContext, rule = 'smccc'): DecodedCall {
  const w0 = Number((ctx.args[0] ?? 0n) & MASK32);
  const f = parseSmcccId(w0);
  const sveHint = f.fast && (f.reserved & 1) === 1;
  const lookupId = sveHint ? (w0 & ~SVE_HINT_BIT) >>> 0 : w0;
  const row = findSmcccCall(lookupId);
  const width = f.callconv;

  const fields: DecodedCall['fields'] = { owner_num: f.ownerNum, function: f.fn };
  if (sveHint) fields.sve_hint = true;
  const warnings: string[] = [];
  if (f.callconv === 64 && ctx.arch !== 'aarch64') warnings.push('SMC64/HVC64 id from an AArch32 guest');
  if (ctx.imm !== 0) {
    fields.imm = ctx.imm;
    if (ctx.conduit === 'smc') warnings.push(`SMCCC calls use SMC #0: SMC #${formatHex(ctx.imm)} is not an SMCCC call`);
  }
  // Service sub-ranges are allocations of fast-call function numbers.
  const range = f.fast ? serviceRangeOf(f) : undefined;
  if (range) fields.range = range.service;
  if (!f.fast && w0 <= 0x0100ffff) fields.range = 'pre-SMCCC Trusted OS (0x00000000-0x0100ffff)';
  if (f.fast && !row) {
    const missing = missingIdWarning(lookupId, range?.service);
    if (missing) warnings.push(missing);
  }
  if (warnings.length) fields.warning = warnings.join('; ');
  const warned = (summary: string) => (warnings.length ? `${summary} [warning: ${warnings.join('; ')}]` : summary);

  const base = {
    kind: 'smccc' as const,
    owner: f.owner,
    id: formatId(w0),
    fast: f.fast,
    callconv: f.callconv,
    rule,
  };

  if (row && f.fast) {
    const values = row.args.map((_, i) => regValue(ctx, i + 1, width));
    const args = row.args.map((name, i) => ({ name, value: formatHex(values[i] ?? 0n) }));
    if (row.describe) Object.assign(fields, row.describe(values));
    const queried = row.queries !== undefined ? { index: row.queries, value: values[row.queries] ?? 0n } : undefined;
    if (queried) {
      const target = findSmcccCall(Number(queried.value & MASK32));
      if (target) fields.queried = target.name;
    }
    return {
      ...base,
      name: row.name,
      service: row.service,
      args,
      fields,
      summary: warned(`${serviceDisplay(row.service)} ${shortName(row)}(${renderArgs(args, queried)})`),
    };
  }

  const args: DecodedArg[] = [];
  for (let n = 1; n <= UNKNOWN_ARG_COUNT; n++) args.push({ name: regName(ctx, n), value: formatHex(regValue(ctx, n, width)) });
  const who = range ? range.service : OWNER_DISPLAY[f.owner];
  const call: DecodedCall = {
    ...base,
    name: f.fast
      ? `${range ? range.service : OWNER_PREFIX[f.owner]}_CALL_0x${f.fn.toString(16).padStart(4, '0')}`
      : 'YIELDING_CALL',
    args,
    fields,
    summary: warned(`${who} ${f.fast ? 'call' : 'yielding call'} ${formatId(w0)}(${renderArgs(args)})`),
  };
  if (range) call.service = range.service;
  return call;
}
