// Entry point of the pure decoders: one trapped call in, one DecodedCall out.
//
// Order of the rules (FACTS.md, "Guests as users build them"):
//  1. `HVC #0xEA1` is a Xen hypercall.
//  2. With `--platform`, a valid SMCCC fast-call id in w0 is SMCCC whatever r12
//     holds (r12 is scratch and may be stale); otherwise the platform's legacy table.
//  3. A fast-call-shaped w0 is SMCCC; on SMC a yielding-call-shaped w0 too.
//  4. Anything else is 'unknown', with its first four registers listed.
import { formatHex, MASK32 } from './format.js';
import { decodeLegacy, findLegacyPlatform } from './legacy.js';
import { isFastCallShaped, isSmcccFastId, isYieldingShaped } from './smccc.js';
import { decodeSmccc, regName, regValue } from './smccc-calls.js';
import type { CallContext, DecodedArg, DecodedCall, GuestArch } from './types.js';
import { decodeXen, XEN_HYPERCALL_TAG } from './xen-hypercalls.js';

export { formatHex, formatId } from './format.js';
export { ARCH_CALLS, ARCH_ID } from './arch-calls.js';
export { HYP_CALLS, HYP_ID, KVM_UID } from './hyp.js';
export { PSCI_CALLS, PSCI_RET, PSCI_AFFINITY, PSCI_MIGRATE_TYPE, PSCI_RESET2, psciId } from './psci.js';
export { SDEI_CALLS } from './sdei.js';
export { TRNG_CALLS, TRNG_ID, TRNG_RET, TRNG_MAX_BITS } from './trng.js';
export {
  GENERAL_QUERY_CALLS,
  isFastCallShaped,
  isSmcccFastId,
  isYieldingShaped,
  makeSmcccId,
  ownerName,
  parseSmcccId,
  type OwnerName,
  type SmcccCallRow,
  type SmcccIdFields,
} from './smccc.js';
export { SMCCC_CALLS, findSmcccCall } from './smccc-calls.js';
export { XEN_HYPERCALLS, XEN_HYPERCALL_TAG, findXenHypercall, type XenHypercallRow } from './xen-hypercalls.js';
export { LEGACY_PLATFORMS, findLegacyPlatform, type LegacyPlatform, type LegacyCallRow } from './legacy.js';
export type { CallContext, DecodedArg, DecodedCall, DecodedKind, GuestArch, Conduit } from './types.js';

function decodeUnknown(ctx: CallContext, fields: DecodedCall['fields']): DecodedCall {
  const args: DecodedArg[] = [];
  for (let n = 0; n < 4; n++) args.push({ name: regName(ctx, n), value: formatHex(regValue(ctx, n, 64)) });
  return {
    kind: 'unknown',
    owner: 'unknown',
    name: 'UNKNOWN',
    args,
    fields,
    rule: 'none',
    summary: `UNKNOWN ${ctx.conduit} #${formatHex(ctx.imm)}(${args.map((a) => `${a.name}=${a.value}`).join(', ')})`,
  };
}

/** Decode one trapped SMC/HVC. Pure: reads guest memory only through ctx.readMem. */
/** The argument registers a call is decoded from (x0..x17, r0..r14): zeros, the first ones set to values. */
export function argRegisters(arch: GuestArch, values: readonly bigint[] = []): bigint[] {
  const args = new Array<bigint>(arch === 'aarch64' ? 18 : 15).fill(0n);
  values.slice(0, args.length).forEach((v, i) => { args[i] = v; });
  return args;
}

export function decodeCall(ctx: CallContext): DecodedCall {
  if (ctx.conduit === 'hvc' && ctx.imm === XEN_HYPERCALL_TAG) return decodeXen(ctx);

  const w0 = Number((ctx.args[0] ?? 0n) & MASK32);
  const fields: DecodedCall['fields'] = {};
  if (ctx.platform !== undefined && ctx.platform !== '') {
    const platform = findLegacyPlatform(ctx.platform);
    if (platform) {
      if (isSmcccFastId(w0)) return decodeSmccc(ctx, 'smccc');
      const legacy = decodeLegacy(ctx, platform);
      if (legacy) return legacy;
      fields.platform = `${platform.name}: no table entry`;
    } else {
      fields.platform = `${ctx.platform}: no legacy table`;
    }
  }

  if (isFastCallShaped(w0)) return withFields(decodeSmccc(ctx, 'smccc'), fields);
  if (ctx.conduit === 'smc' && isYieldingShaped(w0)) return withFields(decodeSmccc(ctx, 'smccc'), fields);
  return decodeUnknown(ctx, fields);
}

/**
 * Whether decodeCall's answer for ctx depends only on (arch, conduit, imm, w0), so
 * that a trap path may reuse it for every later call with the same four: true for
 * SMCCC calls, unless a legacy platform table is consulted (then r12 matters too,
 * and only a valid SMCCC fast-call id is decided by w0 alone).
 */
export function decodeDependsOnIdOnly(ctx: Pick<CallContext, 'platform'>, decoded: DecodedCall, w0: number): boolean {
  if (decoded.kind !== 'smccc') return false;
  if (ctx.platform !== undefined && ctx.platform !== '') return isSmcccFastId(w0 >>> 0);
  return true;
}

function withFields(call: DecodedCall, extra: DecodedCall['fields']): DecodedCall {
  if (Object.keys(extra).length) Object.assign(call.fields, extra);
  return call;
}

/**
 * Offline decode of a function id and its arguments x1, x2, ... (`trapdoor decode
 * 0xc4000003 0x1 0x40080000`): the same record decodeCall gives an AArch64 `SMC #0`.
 */
export function decodeId(id: number, args: bigint[] = []): DecodedCall {
  return decodeCall({ arch: 'aarch64', conduit: 'smc', imm: 0, args: [BigInt(id >>> 0), ...args] });
}
