// The console commands every front-end shares: gdb `monitor ...`, the debug
// console of the VS Code adapter, the triage CLI and the web page call this one
// table and print the same text. Trap records are rendered by render.ts; rules
// and decisions are parsed by the policy layer's own parsers, so
// `decide return x0=5` and `--on 0x84000000=return(x0=5)` take the same values.
// Policy changes are made rule by rule (addRule/removeRule/setDefault): two
// clients changing rules at once never lose each other's.
import { TrapTable, describeTrap, decidedText } from './render.js';
import { parseActionText } from '../policy/values.js';
import { OWNER_DISPLAY } from '../decode/smccc.js';
import type { DecisionParams, ConsoleResult } from './contract.js';
import type { SessionClient as Client } from './client.js';
import type { CpuArch } from '../machine/registers.js';

const ok = (...lines: string[]): ConsoleResult => ({ lines, failed: false });
const bad = (...lines: string[]): ConsoleResult => ({ lines, failed: true });

export interface ConsoleCommand {
  usage: string;
  help: string;
  run(c: Client, args: string[], rest: string): Promise<ConsoleResult> | ConsoleResult;
  /** The words that may follow `args` (for completion), on a guest of `arch`. */
  next?(args: string[], arch: CpuArch): readonly string[];
}

export const BREAK_ON_PREFIX = 'break-on-';
/** How far back `trap N` looks (the core keeps a ring of recent traps). */
const KEPT_TRAPS = 2048;

// ---------------------------------------------------------------- trap / traps / decide

async function trap(c: Client, args: string[]): Promise<ConsoleResult> {
  if (args.length) {
    const seq = Number(args[0].replace(/^#/, ''));
    if (!Number.isInteger(seq) || seq <= 0) return bad(`trap N: N is a trap number such as 3 or #3, not '${args[0]}'`);
    const kept = await c.traps({ from: seq, n: 1 });
    if (!kept.ok) return bad(kept.error);
    const rec = kept.value.find((r) => r.seq === seq);
    return rec ? ok(...describeTrap(rec)) : bad(`no trap #${seq} among the ${KEPT_TRAPS} most recent traps (see traps)`);
  }
  const p = await c.pendingTrap();
  if (!p.ok) return bad(p.error);
  if (!p.value) {
    const last = c.lastStop;
    return ok(`No trap is waiting for a decision${last ? ` (the guest stopped: ${last.reason} at ${last.pc})` : ''}.`,
      'traps lists the trap log; break-on stops at the next call.');
  }
  return ok(...describeTrap(p.value));
}

async function traps(c: Client, args: string[]): Promise<ConsoleResult> {
  const n = args.length ? Number(args[0]) : 20;
  if (!Number.isInteger(n) || n <= 0) return bad(`traps N: N must be a positive number, not '${args[0]}'`);
  const r = await c.traps({ n });
  if (!r.ok) return bad(r.error);
  if (!r.value.length) return ok('No traps yet.');
  const lines: string[] = [];
  const table = new TrapTable((l) => lines.push(l), { names: c.shared ?? false });
  for (const rec of r.value) table.row(rec);
  return ok(...lines);
}

/** `decide ACTION` or `decide return x0=5 x1=0x10` (also `return(x0=5)`). */
export function parseDecision(args: string[]): DecisionParams | string {
  if (!args.length) return 'decide needs an action: emulate, forward, undef, skip or return x0=VALUE ...';
  const [first, ...rest] = args;
  let text = first;
  if (first === 'return' && rest.length) text = `return(${rest.join(' ').split(/[\s,]+/).filter(Boolean).join(', ')})`;
  else if (rest.length && !first.startsWith('return(')) return `'${first}' takes no values (only return does)`;
  else if (first.startsWith('return(')) text = [first, ...rest].join(' ');
  const a = parseActionText(text);
  if (!a.ok) return a.error;
  if (a.value.action === 'ask') return "'ask' is not a decision: choose emulate, forward, undef, skip or return";
  const values = a.value.values ? Object.fromEntries(Object.entries(a.value.values).map(([k, v]) => [k, v.toString()])) : undefined;
  return { action: a.value.action, values };
}

async function decide(c: Client, args: string[]): Promise<ConsoleResult> {
  const d = parseDecision(args);
  if (typeof d === 'string') return bad(`decide: ${d}`);
  const r = await c.decide({ decision: d });
  if (!r.ok) return bad(`decide: ${r.error}`);
  return ok(decidedText(r.value, c.shared ?? false),
    'Applied now; the registers show the answer at once (gdb: after the next stepi/continue, or with maint flush register-cache).');
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

async function breakOn(c: Client, args: string[]): Promise<ConsoleResult> {
  const pol = await c.policy();
  if (!pol.ok) return bad(`cannot read the policy: ${pol.error}`);
  const ours = pol.value.rules.filter((r) => r.id.startsWith(BREAK_ON_PREFIX));
  if (!args.length) return ours.length ? ok(...ours.map((r) => r.text)) : ok('No break-on rules: the guest stops only where the policy says ask.');
  if (args[0] === 'off') {
    const ids = args.slice(1);
    const gone = ours.filter((r) => !ids.length || ids.includes(r.id));
    if (ids.length && gone.length !== ids.length) return bad(`no break-on rule ${ids.filter((i) => !gone.some((r) => r.id === i)).join(', ')} (break-on lists them)`);
    for (const r of gone) {
      const removed = await c.removeRule({ id: r.id });
      if (!removed.ok && removed.code !== 'not-found') return bad(`the policy was not changed: ${removed.error}`);
    }
    return ok(gone.length ? `Removed ${gone.map((r) => r.id).join(', ')}.` : 'No break-on rules to remove.');
  }
  const terms = breakOnTerms(args);
  if (typeof terms === 'string') return bad(`break-on: ${terms}`);
  // First, so that no earlier rule decides the call before it can stop.
  const r = await c.addRule({ rule: `${terms.join(',')}=ask`, position: 'first', idPrefix: BREAK_ON_PREFIX });
  if (!r.ok) return bad(`break-on: ${r.error}`);
  return ok(`${r.value.rule.text}  (the guest stops at such calls; break-on off removes it)`);
}

// ---------------------------------------------------------------- policy

async function policy(c: Client, args: string[], rest: string): Promise<ConsoleResult> {
  const sub = args[0] ?? 'list';
  const after = rest.trim().slice(sub.length).trim();
  switch (sub) {
    case 'list': {
      const pol = await c.policy();
      if (!pol.ok) return bad(`cannot read the policy: ${pol.error}`);
      return ok(...pol.value.rules.map((r) => r.text), `default -> ${pol.value.default}`);
    }
    case 'add': {
      if (!after) return bad('policy add MATCH=ACTION, e.g. 0x82000010=undef, owner:sip=ask, 0xc4000003=return(x0=-2)');
      // After the break-on rules, before the rest: a rule added by hand takes effect.
      const r = await c.addRule({ rule: after, position: { afterPrefix: BREAK_ON_PREFIX }, idPrefix: c.name.split(/\s/)[0] || 'rule' });
      return r.ok ? ok(`Added ${r.value.rule.text}`) : bad(`policy add: ${r.error}`);
    }
    case 'remove': {
      const id = args[1];
      if (!id) return bad('policy remove ID (policy lists the ids)');
      const r = await c.removeRule({ id });
      return r.ok ? ok(`Removed ${id}.`) : bad(r.code === 'not-found' ? `no rule '${id}' (policy lists the ids)` : `the policy was not changed: ${r.error}`);
    }
    case 'default': {
      const r = await c.setDefault({ action: after });
      if (!r.ok) return bad(`policy default: ${r.error}`);
      const pol = await c.policy();
      return ok(`default -> ${pol.ok ? pol.value.default : after}`);
    }
    default:
      return bad(`policy ${sub}: use list, add MATCH=ACTION, remove ID or default ACTION`);
  }
}

// ---------------------------------------------------------------- the table

export const CONSOLE_COMMANDS: Readonly<Record<string, ConsoleCommand>> = {
  help: { usage: 'help', help: 'this list', run: () => help() },
  trap: { usage: 'trap [N]', help: 'the pending trap decoded in full (or trap #N from the log)', run: trap },
  decide: {
    usage: 'decide emulate|forward|undef|skip|return x0=V [x1=V ...]',
    help: 'answer the pending trap now; continue/stepi then resumes with it applied',
    run: decide,
    next: (args, arch) => (!args.length ? DECISIONS : args[0] === 'return' ? returnRegisters(arch).filter((r) => !args.some((a) => a.startsWith(r))) : []),
  },
  'break-on': {
    usage: 'break-on smc|hvc|xen [N]|owner NAME|id ID|range A-B ... | off [ID]',
    help: 'stop at matching calls (an ask rule first in the policy, id break-on-N); several words must all match',
    run: breakOn,
    next: (args) => (args[args.length - 1]?.toLowerCase() === 'owner' ? OWNERS : args[args.length - 1]?.toLowerCase() === 'off' ? [] : BREAK_ON_WORDS),
  },
  traps: { usage: 'traps [N]', help: 'the last N trap records (default 20), one table row each', run: traps },
  policy: {
    usage: 'policy [list] | add MATCH=ACTION | remove ID | default ACTION',
    help: 'show or change the rules (MATCH=ACTION as in --on, e.g. owner:sip=undef)',
    run: policy,
    next: (args) => (!args.length ? ['list', 'add', 'remove', 'default'] : args.length === 1 && args[0] === 'default' ? [...DECISIONS.filter((d) => d !== 'return'), 'ask', 'return('] : []),
  },
};

// ---------------------------------------------------------------- completion

const DECISIONS = ['emulate', 'forward', 'undef', 'skip', 'return'] as const;
const BREAK_ON_WORDS = ['smc', 'hvc', 'xen', 'owner', 'id', 'range', 'imm', 'off'];
const OWNERS = Object.keys(OWNER_DISPLAY).filter((o) => o !== 'reserved');
/** `x0=` .. `x17=` (or `r0=` .. `r14=`): the registers a return decision may set. */
const returnRegisters = (arch: CpuArch) => Array.from({ length: arch === 'arm' ? 15 : 18 }, (_, i) => `${arch === 'arm' ? 'r' : 'x'}${i}=`);

export interface ConsoleCompletion {
  /** Where the word being completed starts in the line (0-based), and its length up to the cursor. */
  start: number;
  length: number;
  /** What the word may become, in the table's order. */
  items: string[];
}

/**
 * Completions of a console line at `cursor` (0-based, default its end): command
 * names for the first word, then what each command takes next (decide's actions
 * and return registers, policy's subcommands, break-on's words). Every front-end
 * with completion (the debug console, later the web page) calls this one.
 */
export function completeConsole(line: string, cursor = line.length, arch: CpuArch = 'aarch64'): ConsoleCompletion {
  const before = line.slice(0, Math.max(0, Math.min(cursor, line.length)));
  const start = before.search(/\S*$/);
  const word = before.slice(start);
  const done = before.slice(0, start).trim().split(/\s+/).filter(Boolean);
  let choices: readonly string[];
  if (!done.length) choices = Object.keys(CONSOLE_COMMANDS);
  else choices = CONSOLE_COMMANDS[done[0].toLowerCase()]?.next?.(done.slice(1), arch) ?? [];
  const w = word.toLowerCase();
  return { start, length: word.length, items: choices.filter((c) => c.toLowerCase().startsWith(w)) };
}

function help(prefix = ''): ConsoleResult {
  return ok(`Trapdoor ${prefix ? prefix.trim() + ' ' : 'console '}commands:`,
    ...Object.values(CONSOLE_COMMANDS).flatMap((c) => [`  ${prefix}${c.usage}`, `      ${c.help}`]),
    'At a trap stop, continue without a decision applies the policy default.');
}

/** A line that only looks (help, trap, traps, policy list, break-on with no words): what an observer may run. */
export function consoleLineReadOnly(text: string): boolean {
  const [cmd, ...args] = text.trim().split(/\s+/).filter(Boolean).map((w) => w.toLowerCase());
  if (cmd === undefined || cmd === 'help' || cmd === 'trap' || cmd === 'traps') return true;
  if (cmd === 'policy') return !args.length || (args[0] === 'list' && args.length === 1);
  if (cmd === 'break-on') return !args.length;
  return false;
}

/**
 * Runs one console line for a client. `prefix` is how the front-end's users type
 * these commands (gdb: 'monitor '), for help and errors.
 */
export async function runConsole(c: Client, text: string, prefix = ''): Promise<ConsoleResult> {
  const trimmed = text.trim();
  const words = trimmed.split(/\s+/).filter(Boolean);
  if (!words.length || words[0].toLowerCase() === 'help') return help(prefix);
  const cmd = CONSOLE_COMMANDS[words[0].toLowerCase()];
  if (!cmd) return bad(`unknown ${prefix ? prefix.trim() + ' ' : ''}command '${words[0]}'`, ...help(prefix).lines);
  return cmd.run(c, words.slice(1), trimmed.slice(words[0].length));
}
