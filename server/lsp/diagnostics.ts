// Diagnostics of a policy file: every problem the policy parser finds (syntax,
// unknown keys and actions, bad values: the messages `trapdoor run` prints), and
// what only a look at several rules shows: a rule no call can reach because an
// earlier one matches all its calls, a range that crosses SMCCC owners or calling
// conventions, an id that is no function (the decoder's warnings). Each at the
// exact range of the node at fault.
import type { Diagnostic, DiagnosticSeverity } from 'vscode-languageserver';
import type { Node } from 'yaml';
import { checkPolicyText, type RuleAt } from '../policy/parse.js';
import { Y } from '../policy/yaml-read.js';
import { idBounds, type RuleMatch } from '../policy/match.js';
import { XEN_HYPERCALLS } from '../policy/names.js';
import { formatId, parseSmcccId } from '../decode/index.js';
import { OWNER_DISPLAY, SERVICE_RANGES } from '../decode/smccc.js';
import { idProblem } from './calls.js';
import { LineIndex } from './text.js';

const ERROR: DiagnosticSeverity = 1;
const WARNING: DiagnosticSeverity = 2;
const UNNECESSARY = 1; // DiagnosticTag.Unnecessary
export const SOURCE = 'trapdoor';

export function policyDiagnostics(text: string, fileName: string): Diagnostic[] {
  const lines = new LineIndex(text);
  const { problems, rules, matches } = checkPolicyText(text, fileName);
  const out: Diagnostic[] = problems.map((p) => ({
    range: lines.range(p.start, p.end),
    severity: ERROR,
    source: SOURCE,
    message: p.message,
    ...(p.syntax ? { code: 'syntax' } : {}),
  }));
  for (const w of ruleWarnings(rules, matches, lines)) out.push(w);
  return out.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
}

function rangeOfNode(n: Node | undefined, fallback: Node, lines: LineIndex) {
  const r = (n ?? fallback).range ?? [0, 0];
  return lines.range(r[0], r[1]);
}

function ruleWarnings(rules: RuleAt[], matches: { match: RuleMatch; node: Node }[], lines: LineIndex): Diagnostic[] {
  const out: Diagnostic[] = [];
  const warn = (node: Node | undefined, fallback: Node, message: string, code: string, tags?: number[]) =>
    out.push({ range: rangeOfNode(node, fallback, lines), severity: WARNING, source: SOURCE, message, code, ...(tags ? { tags: tags as Diagnostic['tags'] } : {}) });
  const get = (node: Node, key: string) => (Y().isMap(node) ? (node.get(key, true) as Node | undefined) : undefined);
  for (const { match: m, node } of matches) {
    if (m.id !== undefined) {
      const bad = idProblem(m.id);
      if (bad) warn(get(node, 'id'), node, bad, 'bad-id');
    }
    if (m.range) {
      const crossing = rangeCrossing(m.range[0], m.range[1]);
      if (crossing) warn(get(node, 'range'), node, crossing, 'range-crosses-owners');
    }
  }
  for (const { rule, by } of shadowedRules(rules)) {
    const line = lines.position((by.node.range ?? [0])[0]).line + 1;
    warn(rule.match, rule.node, `this rule never applies: rule '${by.rule.id}' (line ${line}) comes first and matches every call this one matches`, 'shadowed', [UNNECESSARY]);
  }
  return out;
}

// ---------------------------------------------------------------- ranges crossing owners

function idKind(id: number): string {
  const f = parseSmcccId(id);
  return `${OWNER_DISPLAY[f.owner]} (${f.owner}) ${f.fast ? 'fast' : 'yielding'} SMC${f.callconv}`;
}

/** Why a range [first, last] crosses SMCCC owners or calling conventions (bits 31:24 differ), if it does. */
export function rangeCrossing(first: number, last: number): string | undefined {
  if (first >>> 24 === last >>> 24) return undefined;
  const a = parseSmcccId(first);
  const b = parseSmcccId(last);
  const what = a.owner !== b.owner || a.ownerNum !== b.ownerNum ? 'SMCCC owners' : a.callconv !== b.callconv ? 'calling conventions (SMC32 and SMC64)' : 'fast and yielding calls';
  return `this range crosses ${what}: first ${formatId(first)} is ${idKind(first)}, last ${formatId(last)} is ${idKind(last)}; write one rule per owner and convention (or match by owner:)`;
}

// ---------------------------------------------------------------- shadowed rules

interface Facts {
  m: RuleMatch;
  /** The id interval the rule requires (id and range intersected), if any. */
  lo: number;
  hi: number;
  /** The kind every call it matches has, when known. */
  kind: string | undefined;
}

function factsOf(m: RuleMatch): Facts {
  const [lo, hi] = idBounds(m);
  // a call with an SMCCC id is an smccc call (others have no id to match)
  const kind = m.kind ?? (m.xen !== undefined ? 'xen' : m.legacy !== undefined ? 'legacy' : lo >= 0 ? 'smccc' : undefined);
  return { m, lo, hi, kind };
}

function xenNumber(x: number | string): number {
  return typeof x === 'number' ? x : (XEN_HYPERCALLS[x.toLowerCase()] ?? -1);
}

/** Every id of [lo, hi] belongs to this owner or service. */
function idsAllOf(owner: string, lo: number, hi: number): boolean {
  if (lo < 0) return false;
  const a = parseSmcccId(lo);
  const b = parseSmcccId(hi);
  if (a.fast !== b.fast || a.callconv !== b.callconv) return false;
  if (a.owner === owner && b.owner === owner) return true; // owners are contiguous runs of owner numbers
  const service = owner.toUpperCase();
  return a.ownerNum === b.ownerNum && a.fast && SERVICE_RANGES.some((r) => r.service === service && r.owner === a.ownerNum && a.fn >= r.from && b.fn <= r.to);
}

/** Whether the service's functions all belong to this SMCCC owner. */
function serviceOfOwner(service: string, owner: string): boolean {
  const ranges = SERVICE_RANGES.filter((r) => r.service === service.toUpperCase());
  return ranges.length > 0 && ranges.every((r) => parseSmcccId((0x80000000 | (r.owner << 24)) >>> 0).owner === owner);
}

/** Whether every call that b matches is matched by a too. */
export function covers(a: Facts, b: Facts): boolean {
  const am = a.m;
  const bm = b.m;
  if (am.conduit !== undefined && am.conduit !== bm.conduit) return false;
  if (am.imm !== undefined && am.imm !== bm.imm) return false;
  if (am.firmware !== undefined && am.firmware !== bm.firmware) return false;
  if (am.kind !== undefined && am.kind !== b.kind) return false;
  if (a.lo >= 0 && (b.lo < 0 || b.lo < a.lo || b.hi > a.hi)) return false;
  if (am.owner !== undefined) {
    const o = am.owner.toLowerCase();
    const bo = bm.owner?.toLowerCase();
    if (bo !== o && !(bo !== undefined && serviceOfOwner(bo, o)) && !idsAllOf(o, b.lo, b.hi)) return false;
  }
  if (am.xen !== undefined) {
    if (bm.xen === undefined) return false;
    const x = xenNumber(am.xen);
    if (x < 0 || x !== xenNumber(bm.xen)) return false;
  }
  if (am.legacy !== undefined) {
    if (bm.legacy === undefined || String(am.legacy).toLowerCase() !== String(bm.legacy).toLowerCase()) return false;
  }
  return true;
}

/**
 * Rules no call reaches: an earlier rule matches every call they match. Rules
 * with one id are looked up by id, so a policy of thousands of id rules is
 * checked in about linear time.
 */
export function shadowedRules(rules: readonly RuleAt[]): { rule: RuleAt; by: RuleAt }[] {
  const out: { rule: RuleAt; by: RuleAt }[] = [];
  const byId = new Map<number, { r: RuleAt; f: Facts }[]>();
  const others: { r: RuleAt; f: Facts }[] = [];
  for (const r of rules) {
    const f = factsOf(r.rule.match);
    // a one-id rule covers only rules of that one id
    const single = f.lo >= 0 && f.lo === f.hi;
    const by = (single ? byId.get(f.lo)?.find((c) => covers(c.f, f)) : undefined) ?? others.find((c) => covers(c.f, f));
    if (by) out.push({ rule: r, by: by.r });
    if (single) {
      const list = byId.get(f.lo) ?? [];
      list.push({ r, f });
      byId.set(f.lo, list);
    } else others.push({ r, f });
  }
  return out;
}
