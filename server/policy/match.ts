// A rule's match, compiled once into plain fields so that testing it on every
// trap is a handful of comparisons with no allocation.
import type { Conduit, DecodedCall, DecodedKind } from '../decode/types.js';
import { XEN_HYPERCALLS, xenHypercallName } from './names.js';

/** All given fields must hold; an empty match matches every call. */
export interface RuleMatch {
  conduit?: Conduit;
  /** SMC #imm / HVC #imm. */
  imm?: number;
  /** SMCCC function id (DecodedCall.id). */
  id?: number;
  /** Inclusive [first, last] of SMCCC function ids, like KVM's SMCCC filter {base, nr}. */
  range?: [number, number];
  /** DecodedCall.owner ('sip', 'std-secure', 'vendor-hyp', ...) or service ('psci', 'trng', ...). */
  owner?: string;
  /** Xen hypercall number or name; implies kind 'xen'. */
  xen?: number | string;
  /** Legacy call number (e.g. Highbank r12 = 0x102) or name; implies kind 'legacy'. */
  legacy?: number | string;
  kind?: DecodedKind;
  /** Whether the built-in firmware answers the call (`unimplemented`: it would say NOT_SUPPORTED / -ENOSYS). */
  firmware?: 'implemented' | 'unimplemented';
}

/**
 * The call number a decoder puts in DecodedCall.fields: `nr` for Xen hypercalls
 * (x16/r12), `service` for legacy platform calls (r12). Names are compared first.
 */
function callNumber(d: DecodedCall, key: 'nr' | 'service'): number {
  const v = d.fields[key];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)) return Number(v);
  return -1;
}

function sameName(actual: string, wantedLower: string): boolean {
  return actual === wantedLower || (actual.length === wantedLower.length && actual.toLowerCase() === wantedLower);
}

/** The function ids a match takes: [lo, hi], or [-1, -1] for any (id and range together: the intersection). */
export function idBounds(m: RuleMatch): [number, number] {
  let lo = -1;
  let hi = -1;
  if (m.id !== undefined) [lo, hi] = [m.id, m.id];
  if (m.range) {
    lo = Math.max(lo, m.range[0]);
    hi = hi < 0 ? m.range[1] : Math.min(hi, m.range[1]);
  }
  return [lo, hi];
}

export class CompiledMatch {
  // '' / -1 mean "any"; the same field types on every instance keep V8 monomorphic.
  private readonly kind: string;
  private readonly conduit: string;
  private readonly imm: number;
  private readonly idLo: number;
  private readonly idHi: number;
  private readonly owner: string;
  private readonly serviceUpper: string;
  private readonly xenName: string;
  private readonly xenNr: number;
  private readonly legacyName: string;
  private readonly legacyNr: number;
  /** 1: the firmware must implement the call, 0: must not, -1: either. */
  private readonly implemented: number;
  /** Whether test() needs the numeric function id. */
  readonly usesId: boolean;

  constructor(m: RuleMatch) {
    this.kind = m.kind ?? (m.xen !== undefined ? 'xen' : m.legacy !== undefined ? 'legacy' : '');
    this.conduit = m.conduit ?? '';
    this.imm = m.imm ?? -1;
    const [lo, hi] = idBounds(m);
    this.idLo = lo;
    this.idHi = hi;
    this.usesId = lo >= 0;
    this.owner = m.owner ?? '';
    this.serviceUpper = this.owner.toUpperCase();
    if (typeof m.xen === 'number') {
      this.xenNr = m.xen;
      this.xenName = xenHypercallName(m.xen) ?? '';
    } else {
      this.xenName = m.xen?.toLowerCase() ?? '';
      this.xenNr = m.xen !== undefined ? (XEN_HYPERCALLS[this.xenName] ?? -1) : -1;
    }
    this.legacyNr = typeof m.legacy === 'number' ? m.legacy : -1;
    this.legacyName = typeof m.legacy === 'string' ? m.legacy.toLowerCase() : '';
    this.implemented = m.firmware === undefined ? -1 : m.firmware === 'implemented' ? 1 : 0;
  }

  /** id: the numeric SMCCC function id, or -1 when the call has none; implemented: the built-in firmware answers it. */
  test(conduit: Conduit, imm: number, d: DecodedCall, id: number, implemented: boolean): boolean {
    if (this.kind !== '' && d.kind !== this.kind) return false;
    if (this.implemented >= 0 && (this.implemented === 1) !== implemented) return false;
    if (this.conduit !== '' && conduit !== this.conduit) return false;
    if (this.imm >= 0 && imm !== this.imm) return false;
    if (this.idLo >= 0 && (id < this.idLo || id > this.idHi)) return false;
    if (this.owner !== '' && d.owner !== this.owner) {
      const s = d.service;
      if (s === undefined || (s !== this.serviceUpper && !sameName(s, this.owner))) return false;
    }
    if (this.xenName !== '' || this.xenNr >= 0) {
      if (!(this.xenName !== '' && sameName(d.name, this.xenName)) && !(this.xenNr >= 0 && callNumber(d, 'nr') === this.xenNr)) {
        return false;
      }
    }
    if (this.legacyName !== '' && !sameName(d.name, this.legacyName)) return false;
    if (this.legacyNr >= 0 && callNumber(d, 'service') !== this.legacyNr) return false;
    return true;
  }
}

/** DecodedCall.id ("0x84000003") as a number, -1 when absent or not hex. */
export function functionIdOf(d: DecodedCall): number {
  if (d.id === undefined) return -1;
  const n = Number.parseInt(d.id, 16);
  return Number.isNaN(n) ? -1 : n;
}
