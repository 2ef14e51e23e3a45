// Policy: ordered rules (first match wins) and a default, consulted on every trap.
// Rules are plain data (structured-cloneable, bigint values included), so the
// worker thread can rebuild the same Policy from `toSpec()`; the matchers are
// compiled per instance.
import type { Conduit, DecodedCall } from '../decode/types.js';
import type { Action, DecidedBy } from './actions.js';
import { CompiledMatch, functionIdOf, type RuleMatch } from './match.js';
import { KINDS, OWNERS, SERVICES, XEN_HYPERCALLS } from './names.js';
import {
  ACTIONS,
  checkRegisterName,
  checkRegisterValue,
  checkValuesFor,
  type GuestRegArch,
  formatAction,
  formatHex32,
  suggest,
  type ActionSpec,
} from './values.js';

export type { RuleMatch } from './match.js';
export type { ActionSpec } from './values.js';

export interface Rule {
  id: string;
  match: RuleMatch;
  action: Action;
  /** Register values for 'return' (x0.., w0.., r0..). */
  values?: Record<string, bigint>;
}

/** A rule before it has an id (the policy assigns r1, r2, ...). */
export type RuleInput = Omit<Rule, 'id'> & { id?: string };

export interface DecideInput {
  conduit: Conduit;
  imm: number;
  decoded: DecodedCall;
  /** Whether the built-in firmware answers this call (Firmware.answers; absent: it does); matched by `firmware:` rules. */
  implemented?: boolean;
}

export interface Verdict {
  action: Action;
  values?: Record<string, bigint>;
  by: DecidedBy;
  /** The matching rule's id when by is 'policy'. */
  rule?: string;
}

/** Everything needed to rebuild a Policy (e.g. inside the worker thread). */
export interface PolicySpec {
  default: ActionSpec;
  rules: Rule[];
}

export type PolicyResult<T> = { ok: true; value: T } | { ok: false; error: string };

export const MATCH_KEYS: readonly (keyof RuleMatch)[] = ['conduit', 'imm', 'id', 'range', 'owner', 'xen', 'legacy', 'kind', 'firmware'];

const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

interface Entry {
  rule: Rule;
  match: CompiledMatch;
  /** Returned as is by decide(): frozen, shared, no allocation per trap. */
  verdict: Verdict;
}

export class Policy {
  private entries: Entry[] = [];
  /** The same entries by rule id: id checks stay O(1), so loading n rules is O(n). */
  private byId = new Map<string, Entry>();
  private defaultVerdict: Verdict;
  private needsId = false;
  private added = 0;

  constructor(defaultAction: ActionSpec = { action: 'emulate' }) {
    const bad = checkActionSpec(defaultAction);
    if (bad) throw new Error(`bad default action: ${bad}`);
    this.defaultVerdict = makeVerdict(defaultAction, 'default');
  }

  /** Rebuilds a policy from plain data; fails on the first invalid rule. */
  static fromSpec(spec: PolicySpec): PolicyResult<Policy> {
    const bad = checkActionSpec(spec.default);
    if (bad) return { ok: false, error: `bad default action: ${bad}` };
    const policy = new Policy(spec.default);
    for (const rule of spec.rules) {
      const added = policy.add(rule);
      if (!added.ok) return added;
    }
    return { ok: true, value: policy };
  }

  toSpec(): PolicySpec {
    return { default: this.getDefault(), rules: this.list() };
  }

  decide(input: DecideInput): Verdict {
    const d = input.decoded;
    const id = this.needsId ? functionIdOf(d) : -1;
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].match.test(input.conduit, input.imm, d, id, input.implemented !== false)) return entries[i].verdict;
    }
    return this.defaultVerdict;
  }

  /** Inserts a rule at index (default: at the end). Returns the rule with its id. */
  add(input: RuleInput, index?: number): PolicyResult<Rule> {
    let id = input.id;
    if (id === undefined) {
      for (let n = this.added + 1; id === undefined || this.has(id); n++) id = `r${n}`;
    } else if (!RULE_ID.test(id)) {
      return { ok: false, error: `rule id '${id}' is not valid: use letters, digits, '_', '-', '.' or ':' (e.g. undef-sip-0x10)` };
    } else if (this.has(id)) {
      return { ok: false, error: `rule id '${id}' is already used: give each rule its own id` };
    }
    const at = index ?? this.entries.length;
    if (!Number.isInteger(at) || at < 0 || at > this.entries.length) {
      return { ok: false, error: `index ${at} is out of range: use 0 .. ${this.entries.length}` };
    }
    const bad = checkRule(input);
    if (bad) return { ok: false, error: `rule ${id}: ${bad}` };
    this.added++;
    const rule = freezeRule({ ...input, id });
    const entry: Entry = {
      rule,
      match: new CompiledMatch(rule.match),
      verdict: makeVerdict(rule, 'policy', rule.id),
    };
    if (at === this.entries.length) this.entries.push(entry);
    else this.entries.splice(at, 0, entry);
    this.byId.set(rule.id, entry);
    this.needsId ||= entry.match.usesId;
    return { ok: true, value: rule };
  }

  /** Removes the rule with this id; false when there is none. */
  remove(id: string): boolean {
    const entry = this.byId.get(id);
    if (!entry) return false;
    this.byId.delete(id);
    this.entries.splice(this.entries.indexOf(entry), 1);
    this.needsId = this.entries.some((e) => e.match.usesId);
    return true;
  }

  /** The rules in match order (frozen objects). */
  list(): Rule[] {
    return this.entries.map((e) => e.rule);
  }

  get(id: string): Rule | undefined {
    return this.byId.get(id)?.rule;
  }

  getDefault(): ActionSpec {
    const { action, values } = this.defaultVerdict;
    return values ? { action, values } : { action };
  }

  setDefault(spec: ActionSpec): PolicyResult<ActionSpec> {
    const bad = checkActionSpec(spec);
    if (bad) return { ok: false, error: `bad default action: ${bad}` };
    this.defaultVerdict = makeVerdict(spec, 'default');
    return { ok: true, value: this.getDefault() };
  }

  /** One line, e.g. `r1: id 0x84000000-0x8400001f smc -> emulate`. */
  describe(rule: Rule): string {
    return describeRule(rule);
  }

  /** All rules, one per line, then the default. */
  describeAll(): string {
    const lines = this.entries.map((e) => describeRule(e.rule));
    lines.push(`default -> ${formatAction(this.getDefault())}`);
    return lines.join('\n');
  }

  /** The first free id `<prefix>N` (N from 1). */
  freeId(prefix: string): string {
    let n = 1;
    while (this.has(`${prefix}${n}`)) n++;
    return `${prefix}${n}`;
  }

  /** Why this policy cannot answer this guest (a return register it lacks, a value too wide), if so. */
  checkFor(arch: GuestRegArch): string | undefined {
    for (const e of this.entries) {
      const bad = checkValuesFor(arch, e.rule.values);
      if (bad) return `rule ${e.rule.id}: ${bad}`;
    }
    const bad = checkValuesFor(arch, this.defaultVerdict.values);
    return bad ? `default: ${bad}` : undefined;
  }

  private has(id: string): boolean {
    return this.byId.has(id);
  }
}

export function describeRule(rule: Rule): string {
  const m = rule.match;
  const parts: string[] = [];
  if (m.kind !== undefined) parts.push(`kind ${m.kind}`);
  if (m.owner !== undefined) parts.push(`owner ${m.owner}`);
  if (m.id !== undefined) parts.push(`id ${formatHex32(m.id)}`);
  if (m.range !== undefined) parts.push(`id ${formatHex32(m.range[0])}-${formatHex32(m.range[1])}`);
  if (m.xen !== undefined) parts.push(`xen ${m.xen}`);
  if (m.legacy !== undefined) parts.push(`legacy ${typeof m.legacy === 'number' ? `0x${m.legacy.toString(16)}` : m.legacy}`);
  if (m.conduit !== undefined) parts.push(m.conduit);
  if (m.imm !== undefined) parts.push(`#0x${m.imm.toString(16)}`);
  if (m.firmware !== undefined) parts.push(`firmware ${m.firmware}`);
  if (parts.length === 0) parts.push('any');
  return `${rule.id}: ${parts.join(' ')} -> ${formatAction(rule)}`;
}

/** Checks a rule built in code (files and flags are checked while parsing, with positions). */
export function checkRule(rule: RuleInput): string | undefined {
  const m = rule.match as Record<string, unknown>;
  if (typeof m !== 'object' || m === null) return 'match must be an object';
  for (const key of Object.keys(m)) {
    if (!(MATCH_KEYS as readonly string[]).includes(key) && m[key] !== undefined) {
      return `unknown match key '${key}': use ${MATCH_KEYS.join(', ')}`;
    }
  }
  return checkMatch(rule.match) ?? checkActionSpec(rule);
}

export function checkMatch(m: RuleMatch): string | undefined {
  if (m.conduit !== undefined && m.conduit !== 'smc' && m.conduit !== 'hvc') {
    return `conduit '${String(m.conduit)}' is not smc or hvc`;
  }
  if (m.imm !== undefined && !isIntIn(m.imm, 0, 0xffff)) return `imm ${String(m.imm)} must be an integer 0 .. 0xffff`;
  if (m.id !== undefined && !isIntIn(m.id, 0, 0xffffffff)) return `id ${String(m.id)} must be an integer 0 .. 0xffffffff`;
  if (m.range !== undefined) {
    const r = m.range;
    if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => isIntIn(v, 0, 0xffffffff))) {
      return 'range must be [first, last] with ids 0 .. 0xffffffff';
    }
    if (r[0] > r[1]) return `range [${formatHex32(r[0])}, ${formatHex32(r[1])}] has first > last: swap them`;
    if (typeof m.id === 'number' && (m.id < r[0] || m.id > r[1])) {
      return `id ${formatHex32(m.id)} is outside range [${formatHex32(r[0])}, ${formatHex32(r[1])}]: the rule could never match; keep one of them`;
    }
  }
  if (m.owner !== undefined) {
    const owner = String(m.owner).toLowerCase();
    if (!OWNERS.includes(owner) && !SERVICES.includes(owner)) {
      const hint = suggest(owner, [...OWNERS, ...SERVICES]);
      return `unknown owner '${String(m.owner)}'${hint ? ` (did you mean '${hint}'?)` : ''}: use one of ${OWNERS.join(', ')} or a service ${SERVICES.join(', ')}`;
    }
  }
  if (m.kind !== undefined && !KINDS.includes(m.kind)) return `kind '${String(m.kind)}' is not one of ${KINDS.join(', ')}`;
  if (m.firmware !== undefined && m.firmware !== 'implemented' && m.firmware !== 'unimplemented') {
    return `firmware '${String(m.firmware)}' is not implemented or unimplemented (whether the built-in firmware answers the call)`;
  }
  if (m.xen !== undefined) {
    if (typeof m.xen === 'number') {
      if (!isIntIn(m.xen, 0, 0xffffffff)) return `xen hypercall number ${m.xen} must be an integer >= 0`;
    } else if (typeof m.xen !== 'string' || !(m.xen.toLowerCase() in XEN_HYPERCALLS)) {
      const hint = suggest(String(m.xen), Object.keys(XEN_HYPERCALLS));
      return `unknown Xen hypercall '${String(m.xen)}'${hint ? ` (did you mean '${hint}'?)` : ''}: use a name like xen_version or a number like 17`;
    }
    if (m.kind !== undefined && m.kind !== 'xen') return `'xen' matches only kind xen, not kind ${m.kind}`;
  }
  if (m.legacy !== undefined) {
    if (typeof m.legacy === 'number' ? !isIntIn(m.legacy, 0, 0xffffffff) : typeof m.legacy !== 'string' || m.legacy === '') {
      return `legacy must be a call number (e.g. 0x102) or a name (e.g. HIGHBANK_L2_CTRL)`;
    }
    if (m.kind !== undefined && m.kind !== 'legacy') return `'legacy' matches only kind legacy, not kind ${m.kind}`;
    if (m.xen !== undefined) return "a rule cannot match both 'xen' and 'legacy'";
  }
  return undefined;
}

export function checkActionSpec(spec: ActionSpec): string | undefined {
  if (!(ACTIONS as readonly string[]).includes(spec.action)) {
    return `unknown action '${String(spec.action)}': use ${ACTIONS.join(', ')}`;
  }
  if (spec.action === 'return') {
    if (!spec.values || Object.keys(spec.values).length === 0) return "'return' needs values, e.g. return(x0=0)";
    for (const [reg, v] of Object.entries(spec.values)) {
      const bad = checkRegisterName(reg) ?? (typeof v === 'bigint' ? checkRegisterValue(reg, v) : `${reg} must be a bigint`);
      if (bad) return bad;
    }
  } else if (spec.values !== undefined) {
    return `only 'return' takes values, not '${spec.action}'`;
  }
  return undefined;
}

function isIntIn(v: unknown, lo: number, hi: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function makeVerdict(spec: ActionSpec, by: DecidedBy, rule?: string): Verdict {
  const v: Verdict = { action: spec.action, by };
  if (spec.values) v.values = Object.freeze({ ...spec.values });
  if (rule !== undefined) v.rule = rule;
  return Object.freeze(v);
}

function freezeRule(r: Rule): Rule {
  const match: RuleMatch = {};
  for (const key of MATCH_KEYS) {
    if (r.match[key] !== undefined) (match as Record<string, unknown>)[key] = r.match[key];
  }
  if (match.range) match.range = Object.freeze([match.range[0], match.range[1]]) as unknown as [number, number];
  const rule: Rule = { id: r.id, match: Object.freeze(match), action: r.action };
  if (r.values) rule.values = Object.freeze({ ...r.values });
  return Object.freeze(rule);
}
