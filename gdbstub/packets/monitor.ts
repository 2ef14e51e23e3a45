// qRcmd: `monitor ...` commands. Trap records are rendered exactly as the CLI
// renders them (describeTrap, TrapTable); decisions and rules are parsed by the
// policy layer's own parsers, so `monitor decide return x0=5` and
// `--on 0x84000000=return(x0=5)` accept the same values.
import { fail } from '../errors.js';
import { hexToText } from '../framing.js';
import { TrapTable, describeTrap, decisionText, resultText } from '../../server/cli/table.js';
import { describeRule, formatAction, parseActionText, parseDefault, parseOnFlag, type PolicySpec, type Rule } from '../../server/policy/index.js';
import type { Decision } from '../../server/session/trap-record.js';
import type { PacketFamily, Stub, WithOutput } from '../stub.js';

/** What a command prints, and whether it failed (gdb then reports an error). */
type Out = { lines: string[]; failed?: boolean };
const ok = (...lines: string[]): Out => ({ lines });
const bad = (...lines: string[]): Out => ({ lines, failed: true });

interface MonitorCommand {
  usage: string;
  help: string;
  run(stub: Stub, args: string[], rest: string): Promise<Out> | Out;
}

const BREAK_ON_PREFIX = 'break-on-';
/** How far back `monitor trap N` looks (the core keeps a ring of recent traps). */
const KEPT_TRAPS = 2048;

async function policyOf(stub: Stub): Promise<PolicySpec | Out> {
  const p = await stub.session.getPolicy();
  return p.ok ? p.value : bad(`cannot read the policy: ${p.error}`);
}

async function setPolicy(stub: Stub, spec: PolicySpec): Promise<Out | undefined> {
  const r = await stub.session.setPolicy(spec);
  return r.ok ? undefined : bad(`the policy was not changed: ${r.error}`);
}

function nextId(rules: readonly Rule[], prefix: string): string {
  let n = 1;
  while (rules.some((r) => r.id === `${prefix}${n}`)) n++;
  return `${prefix}${n}`;
}

const isOut = (v: unknown): v is Out => typeof v === 'object' && v !== null && 'lines' in v;

// ---------------------------------------------------------------- trap / traps / decide

async function trap(stub: Stub, args: string[]): Promise<Out> {
  if (args.length) {
    const seq = Number(args[0].replace(/^#/, ''));
    const kept = await stub.session.traps(KEPT_TRAPS);
    if (!kept.ok) return bad(kept.error);
    const rec = kept.value.find((r) => r.seq === seq);
    return rec ? ok(...describeTrap(rec)) : bad(`no trap #${args[0]} among the recent traps (see monitor traps)`);
  }
  const p = await stub.session.pendingTrap();
  if (!p.ok) return bad(p.error);
  if (!p.value) {
    const last = stub.session.lastStop;
    return ok(`No trap is waiting for a decision${last ? ` (the guest stopped: ${last.reason} at ${last.pc})` : ''}.`,
      'monitor traps lists the trap log; monitor break-on stops at the next call.');
  }
  return ok(...describeTrap(p.value));
}

async function traps(stub: Stub, args: string[]): Promise<Out> {
  const n = args.length ? Number(args[0]) : 20;
  if (!Number.isInteger(n) || n <= 0) return bad(`monitor traps N: N must be a positive number, not '${args[0]}'`);
  const r = await stub.session.traps(n);
  if (!r.ok) return bad(r.error);
  if (!r.value.length) return ok('No traps yet.');
  const lines: string[] = [];
  const table = new TrapTable((l) => lines.push(l));
  for (const rec of r.value) table.row(rec);
  return ok(...lines);
}

/** `decide ACTION` or `decide return x0=5 x1=0x10` (also `return(x0=5)`). */
export function parseDecision(args: string[]): Decision | string {
  if (!args.length) return 'monitor decide needs an action: emulate, forward, undef, skip or return x0=VALUE ...';
  const [first, ...rest] = args;
  let text = first;
  if (first === 'return' && rest.length) text = `return(${rest.join(' ').split(/[\s,]+/).filter(Boolean).join(', ')})`;
  else if (rest.length && !first.startsWith('return(')) return `'${first}' takes no values (only return does)`;
  else if (first.startsWith('return(')) text = [first, ...rest].join(' ');
  const a = parseActionText(text);
  if (!a.ok) return a.error;
  if (a.value.action === 'ask') return "'ask' is not a decision: choose emulate, forward, undef, skip or return";
  return { action: a.value.action, values: a.value.values };
}

async function decide(stub: Stub, args: string[]): Promise<Out> {
  const d = parseDecision(args);
  if (typeof d === 'string') return bad(`monitor decide: ${d}`);
  const r = await stub.session.decide(d);
  if (!r.ok) return bad(`monitor decide: ${r.error}`);
  const rec = r.value;
  const result = resultText(rec);
  return ok(`Trap #${rec.seq}: ${decisionText(rec)}${result ? ` -> ${result}` : ''}`,
    'Applied now; gdb shows the new registers after the next stepi/continue, or at once with maint flush register-cache (examples/trapdoor.gdb does that after every monitor command).');
}

// ---------------------------------------------------------------- break-on

const SINGLE: Record<string, string> = { smc: 'smc', hvc: 'hvc', any: 'any', all: 'any' };
const WITH_VALUE = ['owner', 'id', 'range', 'imm', 'legacy', 'kind', 'xen'];

/** Words to `--on` selector terms: `hvc owner psci` -> ['hvc', 'owner:psci']. */
export function breakOnTerms(args: string[]): string[] | string {
  const terms: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const w = args[i];
    const lower = w.toLowerCase();
    if (lower in SINGLE) terms.push(SINGLE[lower]);
    else if (lower === 'xen') {
      const next = args[i + 1];
      if (next !== undefined && !(next.toLowerCase() in SINGLE) && !WITH_VALUE.includes(next.toLowerCase())) { terms.push(`xen:${next}`); i++; }
      else terms.push('kind:xen');
    } else if (WITH_VALUE.includes(lower)) {
      const v = args[++i];
      if (v === undefined) return `'${w}' needs a value, e.g. ${lower === 'owner' ? 'owner psci' : lower === 'range' ? 'range 0x84000000-0x8400001f' : `${lower} 0x84000003`}`;
      terms.push(`${lower}:${v}`);
    } else terms.push(w); // already a selector: 0x84000003, owner:sip, xen:17 ...
  }
  return terms.length ? terms : 'what to break on: smc, hvc, xen, owner NAME, id ID, range FIRST-LAST (or off)';
}

async function breakOn(stub: Stub, args: string[]): Promise<Out> {
  const spec = await policyOf(stub);
  if (isOut(spec)) return spec;
  const ours = spec.rules.filter((r) => r.id.startsWith(BREAK_ON_PREFIX));
  if (!args.length) {
    return ours.length ? ok(...ours.map(describeRule)) : ok('No break-on rules: the guest stops only where the policy says ask.');
  }
  if (args[0] === 'off') {
    const ids = args.slice(1);
    const gone = ours.filter((r) => !ids.length || ids.includes(r.id));
    if (ids.length && gone.length !== ids.length) return bad(`no break-on rule ${ids.filter((i) => !gone.some((r) => r.id === i)).join(', ')} (monitor break-on lists them)`);
    const failed = await setPolicy(stub, { ...spec, rules: spec.rules.filter((r) => !gone.includes(r)) });
    return failed ?? ok(gone.length ? `Removed ${gone.map((r) => r.id).join(', ')}.` : 'No break-on rules to remove.');
  }
  const terms = breakOnTerms(args);
  if (typeof terms === 'string') return bad(`monitor break-on: ${terms}`);
  const id = nextId(spec.rules, BREAK_ON_PREFIX);
  const rule = parseOnFlag(`${terms.join(',')}=ask`, id);
  if (!rule.ok) return bad(`monitor break-on: ${rule.error.replace(/^--on [^:]*: /, '')}`);
  // First, so that no earlier rule decides the call before it can stop.
  const failed = await setPolicy(stub, { ...spec, rules: [rule.value, ...spec.rules] });
  return failed ?? ok(`${describeRule(rule.value)}  (the guest stops at such calls; monitor break-on off removes it)`);
}

// ---------------------------------------------------------------- policy

async function policy(stub: Stub, args: string[], rest: string): Promise<Out> {
  const spec = await policyOf(stub);
  if (isOut(spec)) return spec;
  const sub = args[0] ?? 'list';
  const after = rest.trim().slice(sub.length).trim();
  switch (sub) {
    case 'list':
      return ok(...spec.rules.map(describeRule), `default -> ${formatAction(spec.default)}`);
    case 'add': {
      if (!after) return bad('monitor policy add MATCH=ACTION, e.g. 0x82000010=undef, owner:sip=ask, 0xc4000003=return(x0=-2)');
      const id = nextId(spec.rules, 'gdb');
      const rule = parseOnFlag(after, id);
      if (!rule.ok) return bad(`monitor policy add: ${rule.error.replace(/^--on [^:]*: /, '')}`);
      // After the break-on rules, before the rest: a rule added by hand takes effect.
      const at = spec.rules.filter((r) => r.id.startsWith(BREAK_ON_PREFIX)).length;
      const rules = [...spec.rules.slice(0, at), rule.value, ...spec.rules.slice(at)];
      return (await setPolicy(stub, { ...spec, rules })) ?? ok(`Added ${describeRule(rule.value)}`);
    }
    case 'remove': {
      const id = args[1];
      if (!id) return bad('monitor policy remove ID (monitor policy lists the ids)');
      if (!spec.rules.some((r) => r.id === id)) return bad(`no rule '${id}' (monitor policy lists the ids)`);
      return (await setPolicy(stub, { ...spec, rules: spec.rules.filter((r) => r.id !== id) })) ?? ok(`Removed ${id}.`);
    }
    case 'default': {
      const d = parseDefault(after);
      if (!d.ok) return bad(`monitor policy default: ${d.error.replace(/^--default [^:]*: /, '')}`);
      return (await setPolicy(stub, { ...spec, default: d.value })) ?? ok(`default -> ${formatAction(d.value)}`);
    }
    default:
      return bad(`monitor policy ${sub}: use list, add MATCH=ACTION, remove ID or default ACTION`);
  }
}

// ---------------------------------------------------------------- the table

const COMMANDS: Record<string, MonitorCommand> = {
  help: { usage: 'help', help: 'this list', run: () => help() },
  trap: { usage: 'trap [N]', help: 'the pending trap decoded in full (or trap #N from the log)', run: trap },
  decide: {
    usage: 'decide emulate|forward|undef|skip|return x0=V [x1=V ...]',
    help: 'answer the pending trap now; continue/stepi then resumes with it applied',
    run: decide,
  },
  'break-on': {
    usage: 'break-on smc|hvc|xen [N]|owner NAME|id ID|range A-B ... | off [ID]',
    help: 'stop at matching calls (an ask rule first in the policy, id break-on-N); several words must all match',
    run: breakOn,
  },
  traps: { usage: 'traps [N]', help: 'the last N trap records (default 20), one table row each', run: traps },
  policy: {
    usage: 'policy [list] | add MATCH=ACTION | remove ID | default ACTION',
    help: 'show or change the rules (MATCH=ACTION as in --on, e.g. owner:sip=undef)',
    run: policy,
  },
};

function help(): Out {
  return ok('Trapdoor monitor commands:',
    ...Object.values(COMMANDS).flatMap((c) => [`  monitor ${c.usage}`, `      ${c.help}`]),
    'At a trap stop, continue without a decision applies the policy default.');
}

async function runMonitor(stub: Stub, text: string): Promise<Out> {
  const trimmed = text.trim();
  const words = trimmed.split(/\s+/).filter(Boolean);
  if (!words.length) return help();
  const name = words[0].toLowerCase();
  const cmd = COMMANDS[name];
  if (!cmd) return bad(`unknown monitor command '${words[0]}'`, ...help().lines);
  return cmd.run(stub, words.slice(1), trimmed.slice(words[0].length));
}

export const monitorPackets: PacketFamily = {
  packets: {
    qRcmd: async (stub, args): Promise<WithOutput | ReturnType<typeof fail>> => {
      const text = hexToText(args);
      if (text === null) return fail('malformed', 'qRcmd: the command is not hex');
      const out = await runMonitor(stub, text);
      return { output: out.lines, reply: out.failed ? fail('invalid', out.lines[0] ?? 'monitor command failed') : 'OK' };
    },
  },
};
