// The built-in firmware: PSCI 1.1, SMCCC 1.2 arch calls (SOC_ID with its SMCCC 1.6
// name), TRNG 1.0, the standard secure service queries, FF-A reported absent, the
// KVM vendor hypervisor calls, a sliver of Xen, and no-op legacy platform calls.
//
// The function table is built once per instance from the config. implements(),
// PSCI_FEATURES, ARCH_FEATURES, TRNG_FEATURES and KVM_FEATURES all read that same
// table, so a discovery call can never advertise what respond() would refuse.
import { formatId } from '../decode/format.js';
import { findSmcccCall, SMCCC_CALLS } from '../decode/smccc-calls.js';
import { isFastCallShaped, SVE_HINT_BIT } from '../decode/smccc.js';
import type { CallContext, DecodedCall } from '../decode/types.js';
import { archFunctions } from './arch.js';
import { callableBy, fwCall, notSupported, type FirmwareFunction, type FirmwareHost } from './common.js';
import { hypFunctions } from './hyp.js';
import { legacyResponder } from './legacy.js';
import { psciFunctions } from './psci.js';
import { stdFunctions } from './std.js';
import { SplitMix64, trngFunctions } from './trng.js';
import type { FirmwareAnswer, FirmwareConfig, Responder } from './types.js';
import { xenAnswers, xenResponder } from './xen.js';

export type { FirmwareAnswer, FirmwareConfig, FirmwareEffect, Responder } from './types.js';
export { SMCCC_RET, uuidToRegs } from './common.js';
export { PSCI_VERSION_1_1, mpidrToCpu, psciFeaturesEligible } from './psci.js';
export { SMCCC_VERSION_1_2, archFeaturesEligible, socVersion } from './arch.js';
export { TRNG_VERSION_1_0, TRAPDOOR_TRNG_UUID, SplitMix64, placeRandomBits } from './trng.js';
export { VENDOR_HYP_REVISION, kvmFeatureBitmap } from './hyp.js';
export { STD_SECURE_UID_REGS, STD_SECURE_REVISION, stdSecureCallCount } from './std.js';
export { XEN_ENOSYS, XEN_VERSION } from './xen.js';
export { endsRun, exitMessage } from './exit.js';

export const defaultFirmwareConfig: Readonly<FirmwareConfig> = Object.freeze({
  socId: null,
  // An emulated CPU is not exposed to these side channels: "not required" (1).
  workaround1: 1,
  workaround2: 1,
  workaround3: 1,
  trngSeed: 0,
  cpus: 1,
});

/** The id to look up: the SMCCC 1.3 SVE hint (bit 16) does not change the function. */
function functionId(id: number): number {
  const w = id >>> 0;
  return isFastCallShaped(w) && (w & SVE_HINT_BIT) !== 0 ? (w & ~SVE_HINT_BIT) >>> 0 : w;
}

export class Firmware implements Responder, FirmwareHost {
  readonly config: Readonly<FirmwareConfig>;
  readonly cpuOn: boolean[];
  private readonly table = new Map<number, FirmwareFunction>();
  private readonly rng: SplitMix64;

  constructor(config: Partial<FirmwareConfig> = {}) {
    // A key present but undefined (`{ cpus: opts.cpus }`) keeps its default.
    const set = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as Partial<FirmwareConfig>;
    this.config = Object.freeze({ ...defaultFirmwareConfig, ...set });
    this.cpuOn = [];
    this.rng = new SplitMix64(this.config.trngSeed);
    this.reset();
    const services = [psciFunctions, archFunctions, trngFunctions, hypFunctions, stdFunctions];
    for (const make of services) for (const fn of make(this)) this.add(fn);
  }

  private add(fn: FirmwareFunction): void {
    const rows = SMCCC_CALLS.filter((r) => r.name === fn.name);
    if (rows.length === 0) throw new Error(`firmware function ${fn.name} is not in the decode tables`);
    for (const row of rows) {
      if (this.table.has(row.id)) throw new Error(`firmware function ${formatId(row.id)} implemented twice`);
      this.table.set(row.id, fn);
    }
  }

  /** Power-on state again (vCPU 0 on, the others off), e.g. after a system reset. The TRNG stream continues. */
  reset(): void {
    const n = Math.max(1, this.config.cpus);
    this.cpuOn.length = 0;
    for (let i = 0; i < n; i++) this.cpuOn.push(i === 0);
  }

  /** Whether respond() answers this SMCCC function id. */
  implements(id: number): boolean {
    return this.table.has(functionId(id));
  }

  /** Every implemented function id, ascending. */
  implementedIds(): number[] {
    return [...this.table.keys()].sort((a, b) => a - b);
  }

  nextRandom64(): bigint {
    return this.rng.next();
  }

  /**
   * Whether respond() gives this call the same answer every time (its function is
   * `constant`, or nothing implements it: NOT_SUPPORTED), so a repeated call may be
   * answered from a cache. SMCCC calls only.
   */
  constantAnswer(ctx: Pick<CallContext, 'arch'>, call: DecodedCall): boolean {
    if (call.kind !== 'smccc') return false;
    const t = this.smcccTarget(ctx.arch, call);
    return 'refused' in t || !t.fn || t.fn.constant === true;
  }

  /**
   * The function an SMCCC call reaches, by the checks respond() makes: its id and
   * table entry (none: not implemented), or why no function can take it (a yielding
   * call, an SMC64 id from AArch32), answered NOT_SUPPORTED with that note.
   */
  private smcccTarget(arch: CallContext['arch'], call: DecodedCall): { id: number; fn?: FirmwareFunction } | { refused: string | undefined } {
    if (call.id === undefined || call.fast === false) return { refused: undefined };
    // an SMC64/HVC64 call from AArch32 is not a call the firmware can have
    if (call.callconv === 64 && arch !== 'aarch64') return { refused: 'SMC64/HVC64 id from an AArch32 guest: NOT_SUPPORTED' };
    const id = functionId(Number(call.id));
    return { id, fn: this.table.get(id) };
  }

  /**
   * Whether respond() answers this call rather than NOT_SUPPORTED / -ENOSYS, without
   * answering it (policy rules `firmware: unimplemented` match on it). Depends on
   * the call's id and the guest's width only, for SMCCC calls.
   */
  answers(ctx: Pick<CallContext, 'arch'>, call: DecodedCall): boolean {
    switch (call.kind) {
      case 'xen': return xenAnswers(call);
      case 'legacy': return true;
      case 'smccc': return call.id !== undefined && call.fast !== false && callableBy(this, ctx.arch, Number(call.id));
      default: return false;
    }
  }

  respond(ctx: CallContext, call: DecodedCall): FirmwareAnswer {
    switch (call.kind) {
      case 'xen':
        return xenResponder.respond(ctx, call);
      case 'legacy':
        return legacyResponder.respond(ctx, call);
      case 'smccc': {
        const t = this.smcccTarget(ctx.arch, call);
        if ('refused' in t) return notSupported(t.refused);
        if (!t.fn) return notSupported(`${findSmcccCall(t.id)?.name ?? call.name} is not implemented by the built-in firmware: NOT_SUPPORTED`);
        return t.fn.respond(fwCall(ctx, call, t.id));
      }
      default:
        return notSupported();
    }
  }
}
