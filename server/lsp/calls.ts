// What the policy language server knows about calls, taken from the decoders'
// tables (never a list of its own): SMCCC functions by name and id, Xen
// hypercalls, owners and services, legacy platform calls, and how one of them
// reads in a hover.
import { decodeCall, SMCCC_CALLS, findSmcccCall, parseSmcccId, formatId, LEGACY_PLATFORMS, XEN_HYPERCALLS, findXenHypercall } from '../decode/index.js';
import { OWNER_DISPLAY, SERVICE_RANGES, type OwnerName } from '../decode/smccc.js';
import { OWNERS, SERVICES } from '../policy/names.js';

export interface SmcccName {
  name: string;
  id: number;
  service: string;
  owner: OwnerName;
  callconv: 32 | 64;
}

/** Every SMCCC function of the decode tables, by name then SMC32 before SMC64. */
export const SMCCC_NAMES: readonly SmcccName[] = SMCCC_CALLS.map((r) => {
  const f = parseSmcccId(r.id);
  return { name: r.name, id: r.id, service: r.service, owner: f.owner, callconv: f.callconv };
}).sort((a, b) => a.name.localeCompare(b.name) || a.callconv - b.callconv || a.id - b.id);

const BY_NAME = new Map<string, SmcccName[]>();
for (const n of SMCCC_NAMES) {
  const list = BY_NAME.get(n.name.toUpperCase()) ?? [];
  list.push(n);
  BY_NAME.set(n.name.toUpperCase(), list);
}

/** The SMCCC functions with this name (one per calling convention). */
export function smcccByName(name: string): readonly SmcccName[] {
  return BY_NAME.get(name.toUpperCase()) ?? [];
}

/** How an owner reads: "Standard secure (std-secure)". */
export function ownerText(owner: string): string {
  const display = (OWNER_DISPLAY as Record<string, string>)[owner];
  return display ? `${display} (${owner})` : owner;
}

/** What an owner or service name of a `owner:` match covers, for completion and hover. */
export function ownerDoc(name: string): string | undefined {
  const lower = name.toLowerCase();
  if ((OWNER_DISPLAY as Record<string, string>)[lower]) {
    const ids = ownerIdRange(lower);
    return `SMCCC owner ${ownerText(lower)}${ids ? `: fast call ids ${ids}` : ''}`;
  }
  if (lower === 'xen') return 'Xen hypercalls (HVC #0xEA1)';
  if (LEGACY_PLATFORMS[lower]) return `legacy platform calls of ${lower} (${LEGACY_PLATFORMS[lower].calls.map((c) => c.name).join(', ')})`;
  if (lower === 'unknown') return 'calls no decoder recognises';
  if (SERVICES.includes(lower)) {
    const ranges = SERVICE_RANGES.filter((r) => r.service.toLowerCase() === lower);
    const where = ranges.map((r) => `${OWNER_DISPLAY[ownerNameOf(r.owner)]} functions 0x${r.from.toString(16)}-0x${r.to.toString(16)}`);
    const count = SMCCC_NAMES.filter((n) => n.service.toLowerCase() === lower).length;
    return `SMCCC service ${name.toUpperCase()}${where.length ? ` (${where.join(', ')})` : ''}${count ? `: ${count} known function ids` : ''}`;
  }
  return undefined;
}

function ownerNameOf(num: number): OwnerName {
  return parseSmcccId((0x80000000 | (num << 24)) >>> 0).owner;
}

function ownerIdRange(owner: string): string | undefined {
  for (let num = 0; num < 64; num++) {
    if (ownerNameOf(num) !== owner) continue;
    let last = num;
    while (last + 1 < 64 && ownerNameOf(last + 1) === owner) last++;
    const lo = (0x80000000 | (num << 24)) >>> 0;
    const hi = (0x8000ffff | (last << 24)) >>> 0;
    return `${formatId(lo)}-${formatId(hi)} (SMC32), ${formatId((lo | 0x40000000) >>> 0)}-${formatId((hi | 0x40000000) >>> 0)} (SMC64)`;
  }
  return undefined;
}

/** Every name an `owner:` match takes. */
export const OWNER_NAMES: readonly string[] = [...new Set([...OWNERS, ...SERVICES])];

/** An SMCCC function id as a hover shows it (markdown), from the decoder itself. */
export function describeSmcccId(id: number): string {
  const d = decodeCall({ arch: 'aarch64', conduit: 'smc', imm: 0, args: [BigInt(id >>> 0)] });
  const hex = formatId(id >>> 0);
  if (d.kind !== 'smccc') {
    return `\`${hex}\` is not an SMCCC function id: bits 23:16 must be zero (a rule matching it by id never applies)`;
  }
  const f = parseSmcccId(id);
  const lines = [`**${d.name}** \`${hex}\``, ''];
  const conv = `SMC${f.callconv}/HVC${f.callconv}`;
  const kind = f.fast ? 'fast call' : 'yielding call';
  lines.push(`${conv} ${kind}, owner ${ownerText(f.owner)}${d.service ? `, service ${d.service}` : ''}, function 0x${f.fn.toString(16)}`);
  const row = findSmcccCall(id);
  if (row && f.fast) {
    lines.push('', `arguments: ${row.args.length ? row.args.map((a, i) => `x${i + 1} ${a}`).join(', ') : 'none'}`);
    if (row.since) lines.push('', `since ${row.service} ${row.since}`);
    const other = findSmcccCall((id ^ 0x40000000) >>> 0);
    if (other && other.name === row.name) lines.push('', `SMC${f.callconv === 64 ? 32 : 64} form: \`${formatId(other.id)}\``);
  }
  if (typeof d.fields.warning === 'string') lines.push('', `warning: ${d.fields.warning}`);
  return lines.join('\n');
}

/** Why an id given to `id:` cannot be a function the guest calls, if so (from the decoder's warnings). */
export function idProblem(id: number): string | undefined {
  const d = decodeCall({ arch: 'aarch64', conduit: 'smc', imm: 0, args: [BigInt(id >>> 0)] });
  if (d.kind !== 'smccc') return `${formatId(id >>> 0)} is not an SMCCC function id (bits 23:16 must be zero): this rule never applies`;
  return typeof d.fields.warning === 'string' ? `${formatId(id >>> 0)}: ${d.fields.warning}` : undefined;
}

/** The Xen hypercall named or numbered so, as markdown. */
export function describeXen(nameOrNumber: string | number): string | undefined {
  const row = typeof nameOrNumber === 'number' ? findXenHypercall(nameOrNumber) : XEN_HYPERCALLS.find((r) => r.name === nameOrNumber.toLowerCase());
  if (!row) return undefined;
  const lines = [`**${row.name}** (Xen hypercall ${row.nr}, HVC #0xEA1 with the number in x16/r12)`, '', `arguments: ${row.args.join(', ') || 'none'}`];
  if (row.subops) lines.push('', `sub-ops: ${Object.values(row.subops).slice(0, 12).join(', ')}${Object.keys(row.subops).length > 12 ? ', ...' : ''}`);
  return lines.join('\n');
}

/** An SMCCC function name (PSCI_CPU_ON) as markdown: each of its ids described. */
export function describeSmcccName(name: string): string | undefined {
  const rows = smcccByName(name);
  if (!rows.length) return undefined;
  return rows.map((r) => describeSmcccId(r.id)).join('\n\n---\n\n');
}

/** The legacy calls of every platform. */
export const LEGACY_CALLS = Object.values(LEGACY_PLATFORMS).flatMap((p) => p.calls.map((c) => ({ platform: p.name, ...c })));
