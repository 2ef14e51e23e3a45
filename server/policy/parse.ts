// Policy files (YAML or JSON: JSON is YAML) and `--on` / `--default` flags.
// Every error carries the line and column (1-based) of the node at fault and
// says what to write instead.
import { readFileSync } from 'node:fs';
import type { Node, Pair } from 'yaml';
import { readYaml, Y } from './yaml-read.js';
import type { DecodedKind } from '../decode/types.js';
import { checkSocId, type SocId } from '../firmware/soc-id.js';
import { LEGACY_PLATFORMS } from '../decode/legacy.js';
import { checkMatch, MATCH_KEYS, Policy, type Rule, type RuleInput } from './rules.js';
import type { RuleMatch } from './match.js';
import {
  checkAssignment,
  checkRegisterName,
  checkU32,
  parseActionText,
  parseU32Text,
  suggest,
  type ActionSpec,
  type Parsed,
} from './values.js';

export interface PolicyParseError {
  message: string;
  /** 1-based; 0 when the error has no position (e.g. the file is missing). */
  line: number;
  col: number;
  file: string;
}

/** A policy file's `firmware:` settings for the built-in firmware. */
export interface PolicyFirmware { socId?: SocId }

/** `platform` is the file's `platform:` key (a legacy call table name), when it has one. */
export type PolicyParseResult = { ok: true; policy: Policy; firmware?: PolicyFirmware; platform?: string } | { ok: false; error: PolicyParseError };

/** `file:line:col: message`, the form editors and terminals link. */
export function formatPolicyError(e: PolicyParseError): string {
  return e.line > 0 ? `${e.file}:${e.line}:${e.col}: ${e.message}` : `${e.file}: ${e.message}`;
}

const TOP_KEYS = ['default', 'rules', 'firmware', 'platform'];
const SOC_ID_KEYS = ['jep106', 'soc', 'revision', 'name'];
const RULE_KEYS = ['id', 'match', 'action', 'values'];

/** What to do about the YAML parser's error codes (its messages say what is wrong). */
const YAML_HINTS: Partial<Record<string, string>> = {
  DUPLICATE_KEY: 'this key appears twice in one mapping: keep one',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  MISSING_CHAR: 'check the indentation: the keys of one rule line up under each other',
  BAD_INDENT: 'check the indentation and the closing brackets',
  UNEXPECTED_TOKEN: "check the indentation and the ':' or '-' just before this point",
  BLOCK_IN_FLOW: "check for a missing ',' just before this point",
};
const JSON_HINTS: Partial<Record<string, string>> = {
  MISSING_CHAR: 'check the brackets and quotes',
  BAD_INDENT: 'check the brackets: every [ needs a ] and every { a }',
  UNEXPECTED_TOKEN: "check for a missing ',' or ':' just before this point",
  BLOCK_IN_FLOW: "check for a missing ',' just before this point",
};

/** Thrown only inside this module and turned into a PolicyParseError by parsePolicyText. */
class At extends Error {
  constructor(
    readonly node: Node | Pair | null | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** One problem of a policy text, at the offsets of the node at fault (what an editor underlines). */
export interface PolicyProblem {
  message: string;
  start: number;
  end: number;
  /** true for syntax errors (then there are no rules to check further). */
  syntax?: boolean;
}

/** A rule of the file as the policy holds it, with its node in the file. */
export interface RuleAt {
  rule: Rule;
  node: Node;
  /** The `match:` value. */
  match: Node;
}

/**
 * Collects problems instead of stopping at the first: a check that fails is
 * recorded and the parser goes on with the next key or rule (what the language
 * server reports). Without one, the first problem is thrown.
 */
class Problems {
  readonly list: PolicyProblem[] = [];
  readonly rules: RuleAt[] = [];
  /** Every well-formed `match:` (of rules with other problems too), with its node. */
  readonly matches: { match: RuleMatch; node: Node }[] = [];
  /** Runs f; a problem it throws is recorded, and the result is undefined. */
  attempt<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof At)) throw e;
      const [start, end] = rangeOf(e.node);
      this.list.push({ message: e.message, start, end });
      return undefined;
    }
  }
}

/** Runs f, recording its problem when collecting (undefined then), throwing it when not. */
function attempt<T>(sink: Problems | undefined, f: () => T): T | undefined {
  return sink ? sink.attempt(f) : f();
}

/** Start and end offsets of a node, or of a pair's key to its value. */
function rangeOf(node: Node | Pair | null | undefined): [number, number] {
  if (!node) return [0, 0];
  if ('range' in node && node.range) return [node.range[0], node.range[1]];
  if ('key' in node) {
    const k = rangeOf(node.key as Node);
    const v = node.value ? rangeOf(node.value as Node) : k;
    return [k[0] || v[0], Math.max(k[1], v[1])];
  }
  return [0, 0];
}

/**
 * Every problem of a policy text, not just the first: each one at its node's
 * offsets, and the rules that are fine with their nodes (for checks that look at
 * several rules: a rule no call can reach). The same checks as parsePolicyText.
 */
export function checkPolicyText(text: string, fileName: string): { problems: PolicyProblem[]; rules: RuleAt[]; matches: { match: RuleMatch; node: Node }[] } {
  const lineCounter = new (Y().LineCounter)();
  const read = readYaml(text, lineCounter);
  const sink = new Problems();
  const doc = read.doc;
  if (doc) {
    try {
      sink.attempt(() => platformOf(doc.contents));
      sink.attempt(() => buildPolicy(doc.contents, {}, sink));
    } catch (e) {
      // only a document the parser could not read may surprise the checks: its syntax error says what is wrong
      if (read.ok) throw e;
    }
  }
  if (read.ok) return { problems: sink.list, rules: sink.rules, matches: sink.matches };
  // A syntax error: it, and the problems wholly before the first error the parser met
  // (after it, what the parser made of the text is a guess).
  const e = syntaxError(text, fileName, read.fault);
  const firstError = Math.min(read.fault.offset, ...(doc?.errors ?? []).map((x) => x.pos[0]));
  const before = <T extends { end: number } | { node: Node }>(x: T) => ('end' in x ? x.end : (x.node.range?.[2] ?? Infinity)) <= firstError;
  return {
    problems: [{ message: e, start: read.fault.offset, end: read.fault.offset + 1, syntax: true }, ...sink.list.filter(before)],
    rules: sink.rules.filter(before),
    matches: sink.matches.filter(before),
  };
}

function syntaxError(text: string, fileName: string, fault: { message: string; code?: string }): string {
  const looksJson = /\.json$/i.test(fileName) || text.trimStart().startsWith('{');
  const hint = fault.code === undefined ? undefined : ((looksJson ? JSON_HINTS[fault.code] : undefined) ?? YAML_HINTS[fault.code]);
  return `syntax error: ${fault.message}${hint ? ` (${hint})` : ''}`;
}

export function parsePolicyFile(path: string): PolicyParseResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? 'policy file not found: check the path (a policy is a .yaml or .json file with `default:` and `rules:`)'
        : code === 'EISDIR'
          ? 'this is a directory: give the policy file itself'
          : `cannot read the policy file: ${(e as Error).message}`;
    return { ok: false, error: { message, line: 0, col: 0, file: path } };
  }
  return parsePolicyText(text, path);
}

export function parsePolicyText(text: string, fileName: string): PolicyParseResult {
  const lineCounter = new (Y().LineCounter)();
  const read = readYaml(text, lineCounter);
  const fail = (offset: number, message: string): PolicyParseResult => {
    const { line, col } = lineCounter.linePos(offset);
    return { ok: false, error: { message, line, col, file: fileName } };
  };
  if (!read.ok) return fail(read.fault.offset, syntaxError(text, fileName, read.fault));
  try {
    const firmware: PolicyFirmware = {};
    const platform = platformOf(read.doc.contents);
    const policy = buildPolicy(read.doc.contents, firmware);
    return { ok: true, policy, ...(firmware.socId ? { firmware } : {}), ...(platform ? { platform } : {}) };
  } catch (e) {
    if (!(e instanceof At)) throw e;
    return fail(offsetOf(e.node), e.message);
  }
}

function offsetOf(node: Node | Pair | null | undefined): number {
  if (!node) return 0;
  if ('range' in node && node.range) return node.range[0];
  if ('key' in node) return offsetOf(node.key as Node) || offsetOf(node.value as Node);
  return 0;
}

/** The top-level `platform: highbank`, checked against the legacy call tables. */
function platformOf(root: Node | null): string | undefined {
  if (!root || !Y().isMap(root)) return undefined;
  const v = root.get('platform', true) as Node | undefined;
  if (v === undefined) return undefined;
  const name = stringOf(v, 'platform').toLowerCase();
  if (!(name in LEGACY_PLATFORMS)) throw new At(v, `unknown platform '${name}': the legacy call tables are ${Object.keys(LEGACY_PLATFORMS).join(', ')}`);
  return name;
}

function buildPolicy(root: Node | null, firmware: PolicyFirmware, sink?: Problems): Policy {
  if (root === null) return new Policy();
  if (!Y().isMap(root)) throw new At(root, 'a policy is a mapping with `default:` and `rules:` (see examples/aarch64/tour-policy.yaml)');
  let defaultSpec: ActionSpec = { action: 'emulate' };
  let rulesNode = null as Node | null;
  for (const pair of root.items) {
    attempt(sink, () => {
      const key = keyOf(pair, TOP_KEYS, 'at the top level');
      if (key === 'default') defaultSpec = actionOf(pair.value as Node | null, undefined, pair);
      else if (key === 'firmware') firmwareOf(pair, firmware);
      else if (key === 'rules') rulesNode = pair.value as Node | null;
    });
  }
  const policy = new Policy(defaultSpec);
  if (rulesNode === null) return policy;
  const rules: Node = rulesNode;
  if (!Y().isSeq(rules)) throw new At(rules, '`rules:` must be a list: start each rule with `- match: ...`');
  for (const item of rules.items) {
    const node = item as Node;
    attempt(sink, () => {
      const rule = ruleOf(node, sink);
      if (!rule) return;
      const added = policy.add(rule);
      if (!added.ok) {
        const idNode = Y().isMap(node) ? node.get('id', true) : undefined;
        throw new At((idNode as Node | undefined) ?? node, added.error);
      }
      if (sink && Y().isMap(node)) sink.rules.push({ rule: added.value, node, match: node.get('match', true) as Node });
    });
  }
  return policy;
}

/** `firmware: { soc_id: { jep106: 0x43b, soc: 0x1234, revision: 2, name: "My SoC" } }` */
function firmwareOf(pair: Pair, firmware: PolicyFirmware): void {
  const node = pair.value as Node | null;
  if (!Y().isMap(node)) throw new At(node ?? pair, '`firmware:` must be a mapping, e.g. `{ soc_id: { jep106: 0x43b, soc: 0x1234, revision: 2 } }`');
  for (const p of node.items) {
    keyOf(p, ['soc_id'], 'in `firmware:`');
    const v = p.value as Node | null;
    if (!Y().isMap(v)) throw new At(v ?? p, '`soc_id:` must be a mapping with jep106, soc, revision and name');
    const fields: Record<string, unknown> = {};
    for (const f of v.items) fields[keyOf(f, SOC_ID_KEYS, 'in `soc_id:`')] = Y().isScalar(f.value) ? f.value.value : f.value;
    const checked = checkSocId(fields);
    if (!checked.ok) throw new At(v, checked.error);
    firmware.socId = checked.value;
  }
}

/** The rule, or (when collecting problems) undefined after recording what is wrong with it. */
function ruleOf(node: Node, sink?: Problems): RuleInput | undefined {
  if (!Y().isMap(node)) throw new At(node, 'each rule is a mapping: `- match: { id: 0x84000000 }` then `action: emulate`');
  const byKey = new Map<string, Pair>();
  let bad = false;
  for (const pair of node.items) {
    const key = attempt(sink, () => keyOf(pair, RULE_KEYS, 'in a rule'));
    if (key === undefined) bad = true;
    else byKey.set(key, pair);
  }
  const idPair = byKey.get('id');
  let id: string | undefined;
  if (idPair) {
    const v = idPair.value as Node | null;
    if (!Y().isScalar(v) || (typeof v.value !== 'string' && typeof v.value !== 'bigint')) {
      throw new At(v ?? idPair, 'rule id must be a name like undef-sip-0x10');
    }
    id = String(v.value);
  }
  const matchPair = byKey.get('match');
  const match = attempt(sink, () => {
    if (!matchPair) throw new At(node, 'this rule has no `match:`: add e.g. `match: { id: 0x84000000 }` (or `match: {}` for every call)');
    return matchOf(matchPair.value as Node | null, matchPair, sink);
  });
  const spec = attempt(sink, () => {
    const actionPair = byKey.get('action');
    if (!actionPair) throw new At(node, 'this rule has no `action:`: add e.g. `action: emulate`');
    return actionOf(actionPair.value as Node | null, byKey.get('values'), actionPair);
  });
  if (!match || !spec || bad) return undefined;
  const rule: RuleInput = { match, action: spec.action };
  if (id !== undefined) rule.id = id;
  if (spec.values) rule.values = spec.values;
  return rule;
}

/** The match, or (when collecting problems) undefined after recording each bad key. */
function matchOf(node: Node | null, pair: Pair, sink?: Problems): RuleMatch | undefined {
  if (node === null) throw new At(pair, '`match:` is empty: write e.g. `match: { id: 0x84000000 }`, or `match: {}` for every call');
  if (!Y().isMap(node)) throw new At(node, '`match:` must be a mapping, e.g. `{ id: 0x84000000 }` or `{ range: [0x84000000, 0x8400001f] }`');
  const match: RuleMatch = {};
  let bad = false;
  for (const p of node.items) if (attempt(sink, () => matchKey(p, match)) === undefined) bad = true;
  if (bad) return undefined;
  const wrong = checkMatch(match);
  if (wrong) throw new At(node, wrong);
  sink?.matches.push({ match, node });
  return match;
}

/** One `key: value` of a match into `match` (true), or a thrown problem. */
function matchKey(p: Pair, match: RuleMatch): true {
  {
    const key = keyOf(p, MATCH_KEYS as readonly string[], 'in `match:`') as keyof RuleMatch;
    const v = p.value as Node | null;
    if (v === null) throw new At(p, `\`${key}:\` has no value`);
    switch (key) {
      case 'id':
        match.id = u32Of(v, 'id');
        break;
      case 'imm': {
        const imm = u32Of(v, 'imm');
        if (imm > 0xffff) throw new At(v, `imm ${imm} is too large: SMC/HVC immediates are 0 .. 0xffff`);
        match.imm = imm;
        break;
      }
      case 'range': {
        if (!Y().isSeq(v) || v.items.length !== 2) {
          throw new At(v, 'range must be [first, last], e.g. [0x84000000, 0x8400001f]');
        }
        match.range = [u32Of(v.items[0] as Node, 'range first'), u32Of(v.items[1] as Node, 'range last')];
        break;
      }
      case 'conduit':
        match.conduit = stringOf(v, 'conduit') as RuleMatch['conduit'];
        break;
      case 'owner':
        match.owner = stringOf(v, 'owner');
        break;
      case 'kind':
        match.kind = stringOf(v, 'kind') as DecodedKind;
        break;
      case 'firmware':
        match.firmware = stringOf(v, 'firmware') as RuleMatch['firmware'];
        break;
      case 'xen':
      case 'legacy':
        match[key] = numberOrName(v, key);
        break;
    }
    const bad = checkMatch({ [key]: match[key] } as RuleMatch);
    if (bad) throw new At(v, bad);
  }
  return true;
}

/** An action: `emulate`, `"return(x0=5)"`, or `return` with a `values:` mapping beside it. */
function actionOf(node: Node | null, valuesPair: Pair | undefined, pair: Pair): ActionSpec {
  if (node === null || !Y().isScalar(node) || typeof node.value !== 'string') {
    throw new At(node ?? pair, 'action must be one of emulate, forward, undef, return(x0=..), ask, skip');
  }
  if (valuesPair && node.value.trim() === 'return') return { action: 'return', values: valuesOf(valuesPair) };
  const parsed = parseActionText(node.value);
  if (!parsed.ok) throw new At(node, parsed.error);
  if (valuesPair) {
    throw new At(
      valuesPair,
      parsed.value.action === 'return'
        ? 'values are given twice: use either `action: "return(x0=5)"` or `action: return` with `values:`'
        : `\`values:\` only goes with \`action: return\`, not '${parsed.value.action}'`,
    );
  }
  return parsed.value;
}

function valuesOf(pair: Pair): Record<string, bigint> {
  const node = pair.value as Node | null;
  if (!Y().isMap(node) || node.items.length === 0) {
    throw new At(node ?? pair, '`values:` must map registers to numbers, e.g. `{ x0: "0x5", x1: -1 }`');
  }
  const values: Record<string, bigint> = {};
  for (const p of node.items) {
    const k = p.key as Node | null;
    const v = p.value as Node | null;
    if (!Y().isScalar(k) || typeof k.value !== 'string') throw new At(k ?? p, 'register names are x0..x17, w0..w17 or r0..r14');
    const badName = checkRegisterName(k.value);
    if (badName) throw new At(k, badName);
    if (!Y().isScalar(v) || !['string', 'bigint', 'number'].includes(typeof v.value)) {
      throw new At(v ?? p, `value of ${k.value} must be a number, e.g. "0x5" or -1`);
    }
    const r = checkAssignment(k.value, v.value as string | bigint | number, values);
    if (!r.ok) throw new At(v, r.error);
  }
  return values;
}

function keyOf(pair: Pair, allowed: readonly string[], where: string): string {
  const k = pair.key as Node | null;
  if (!Y().isScalar(k) || typeof k.value !== 'string') throw new At(k ?? pair, `keys ${where} are names: ${allowed.join(', ')}`);
  if (!allowed.includes(k.value)) {
    const hint = suggest(k.value, allowed);
    throw new At(k, `unknown key '${k.value}' ${where}${hint ? ` (did you mean '${hint}'?)` : ''}: use ${allowed.join(', ')}`);
  }
  return k.value;
}

function u32Of(node: Node | null, what: string): number {
  if (!Y().isScalar(node)) throw new At(node, `${what} must be a number, e.g. 0x84000000`);
  const v = node.value;
  let r: Parsed<number>;
  if (typeof v === 'bigint') r = checkU32(v, what);
  else if (typeof v === 'string') r = parseU32Text(v, what);
  else r = { ok: false, error: `${what} ${String(v)} is not an integer: write e.g. 0x84000000 or "0x84000000"` };
  if (!r.ok) throw new At(node, r.error);
  return r.value;
}

function stringOf(node: Node, what: string): string {
  if (!Y().isScalar(node) || typeof node.value !== 'string') throw new At(node, `${what} must be a name`);
  return node.value;
}

/** Xen/legacy selectors: a number (17, 0x102, "0x102") or a name (xen_version). */
function numberOrName(node: Node, what: string): number | string {
  if (!Y().isScalar(node)) throw new At(node, `${what} must be a call number or name`);
  if (typeof node.value === 'bigint' || (typeof node.value === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(node.value))) {
    return u32Of(node, what);
  }
  return stringOf(node, what);
}

// ---------------------------------------------------------------------------
// Flags

export type FlagResult<T> = { ok: true; value: T } | { ok: false; error: string };

const FLAG_HELP =
  'write --on SELECTOR=ACTION, e.g. 0x82000010=undef, 0x84000000-0x8400001f=emulate, xen:17=undef, owner:sip=ask, hvc=ask, 0xc4000003=return(x0=-2)';

/**
 * `--on` selector terms, comma-separated, all must hold: ID, FIRST-LAST, smc, hvc,
 * xen:N|NAME, legacy:N|NAME, owner:NAME, kind:K, imm:N, id:ID, range:FIRST-LAST,
 * unimplemented (the built-in firmware would answer NOT_SUPPORTED / -ENOSYS), any.
 */
export function parseOnFlag(text: string, id: string): FlagResult<Rule> {
  const fail = (msg: string): FlagResult<Rule> => ({ ok: false, error: `--on ${text}: ${msg}` });
  const eq = text.indexOf('=');
  if (eq < 0) return fail(`no '=ACTION': ${FLAG_HELP}`);
  const selector = text.slice(0, eq).trim();
  const actionText = text.slice(eq + 1).trim();
  if (selector === '') return fail(`nothing before '=': ${FLAG_HELP}`);
  if (actionText === '') return fail(`no action after '=': use emulate, forward, undef, return(x0=..), ask or skip`);
  const match: RuleMatch = {};
  for (const rawTerm of selector.split(',')) {
    const term = rawTerm.trim();
    const r = applyTerm(term, match);
    if (r) return fail(r);
  }
  const bad = checkMatch(match);
  if (bad) return fail(bad);
  const action = parseActionText(actionText);
  if (!action.ok) return fail(action.error);
  const rule: Rule = { id, match, action: action.value.action };
  if (action.value.values) rule.values = action.value.values;
  return { ok: true, value: rule };
}

function applyTerm(term: string, match: RuleMatch): string | undefined {
  const set = <K extends keyof RuleMatch>(key: K, value: RuleMatch[K]): string | undefined => {
    if (match[key] !== undefined) return `'${key}' is given twice`;
    match[key] = value;
    return checkMatch({ [key]: value } as RuleMatch);
  };
  if (term === '') return `empty selector term: ${FLAG_HELP}`;
  if (term === 'any' || term === '*') return undefined;
  if (term === 'smc' || term === 'hvc') return set('conduit', term);
  if (term === 'implemented' || term === 'unimplemented') return set('firmware', term);
  const colon = term.indexOf(':');
  if (colon < 0) return idOrRange(term, set);
  const key = term.slice(0, colon);
  const value = term.slice(colon + 1);
  if (value === '') return `'${key}:' needs a value`;
  switch (key) {
    case 'id':
    case 'range':
      return idOrRange(value, set);
    case 'imm': {
      const n = parseU32Text(value, 'imm');
      return n.ok ? set('imm', n.value) : n.error;
    }
    case 'xen':
    case 'legacy': {
      if (/^(0x[0-9a-f]+|\d+)$/i.test(value)) {
        const n = parseU32Text(value, key);
        return n.ok ? set(key, n.value) : n.error;
      }
      return set(key, value);
    }
    case 'owner':
      return set('owner', value);
    case 'kind':
      return set('kind', value as DecodedKind);
    case 'conduit':
      return set('conduit', value as RuleMatch['conduit']);
    case 'firmware':
      return set('firmware', value as RuleMatch['firmware']);
    default: {
      const names = ['id', 'range', 'imm', 'xen', 'legacy', 'owner', 'kind', 'conduit', 'firmware'];
      const hint = suggest(key, names);
      return `unknown selector '${key}:'${hint ? ` (did you mean '${hint}:'?)` : ''}: use ${names.map((n) => `${n}:`).join(', ')}, smc, hvc or unimplemented`;
    }
  }
}

function idOrRange(
  text: string,
  set: <K extends keyof RuleMatch>(key: K, value: RuleMatch[K]) => string | undefined,
): string | undefined {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const n = parseU32Text(text, 'function id');
    return n.ok ? set('id', n.value) : `${n.error}; ${FLAG_HELP}`;
  }
  const first = parseU32Text(text.slice(0, dash), 'range first');
  if (!first.ok) return first.error;
  const last = parseU32Text(text.slice(dash + 1), 'range last');
  if (!last.ok) return last.error;
  return set('range', [first.value, last.value]);
}

/** `--default ACTION`, e.g. undef, ask, return(x0=-1). */
export function parseDefault(text: string): FlagResult<ActionSpec> {
  const r = parseActionText(text);
  return r.ok ? r : { ok: false, error: `--default ${text}: ${r.error}` };
}
