// The trap renderer every front-end shares: one table row per trap (the CLI, the
// console's traps), and the full record (console trap, the ask prompt, faults).
import type { TrapRecord } from './trap-record.js';

export const TABLE_COLUMNS = ['seq', 'insns', 'call site', 'decoded call', 'decision', 'result'] as const;

function pad(s: string, n: number) { return s.length >= n ? s : s + ' '.repeat(n - s.length); }

/**
 * What decided: `rule ID`, `default (ask:ID)`, `user`, `fallback`. With `names` (a
 * session several people share: the service, its triage CLI and web page), a
 * person's decision names who made it: `alice` (the client's name without its
 * address: `alice (127.0.0.1:40312)` is alice).
 */
function deciderText(r: TrapRecord, names = false): string {
  return r.by === 'policy' && r.rule ? `rule ${r.rule}` : r.by === 'default' && r.rule ? `default (${r.rule})`
    : r.by === 'user' && names && r.client ? r.client.split(' (')[0] : r.by;
}

/** `return (rule r1)`, `emulate (default)`, `return (user)`; with `names`, `return (alice)`. */
export function decisionText(r: TrapRecord, names = false): string {
  return `${r.decision} (${deciderText(r, names)})`;
}

/** One trap as the cells of a table that is not text (the web page): the table row's texts, with who decided. */
export interface TrapCells {
  seq: number; insns: number; site: string; call: string; owner: string; args: string; summary: string;
  decision: string; result: string; by: string;
}
export function trapCells(r: TrapRecord): TrapCells {
  const d = r.decoded;
  return {
    seq: r.seq, insns: r.insns, site: callSite(r), call: d.name, owner: d.service ? `${d.owner}/${d.service}` : d.owner,
    args: d.args.map((a) => `${a.name}=${a.value}`).join(', '), summary: d.summary,
    decision: r.decision === 'pending' ? 'pending' : decisionText(r, true), result: resultText(r), by: r.client ?? deciderText(r),
  };
}

/** `Trap #7: return (user) -> x0=0x5`: a decision as the console and the debug adapter report it. */
export function decidedText(r: TrapRecord, names = false): string {
  const result = resultText(r);
  return `Trap #${r.seq}: ${decisionText(r, names)}${result ? ` -> ${result}` : ''}`;
}

export function resultText(r: TrapRecord): string {
  const res = r.result;
  const parts: string[] = [];
  if (res.exception) parts.push(`undef -> ${res.exception.vector}` + (res.exception.esr ? ` ESR=${res.exception.esr}` : '') + (res.exception.lr ? ` LR=${res.exception.lr}` : ''));
  if (res.regs && Object.keys(res.regs).length) {
    const regs = Object.entries(res.regs);
    // Show the registers that carry the answer: x0 always, more when they were set.
    const shown = regs.length > 1 && regs.slice(1).every(([, v]) => v === '0x0') ? regs.slice(0, 1) : regs;
    parts.push(shown.map(([k, v]) => `${k}=${signedHint(v)}`).join(' '));
  }
  if (res.effect) parts.push(res.effect.toUpperCase());
  if (res.error) parts.push(`error: ${res.error}`);
  return parts.join('; ') || (res.note ?? '');
}

/** 0xffffffffffffffff -> "-1", small negative SMCCC error codes read better signed. */
function signedHint(v: string): string {
  const n = BigInt(v);
  const s64 = BigInt.asIntN(64, n);
  if (s64 < 0n && s64 >= -64n) return String(s64);
  const s32 = BigInt.asIntN(32, n);
  if (n <= 0xffff_ffffn && s32 < 0n && s32 >= -64n) return String(s32);
  return v;
}

export function callSite(r: TrapRecord): string {
  return `${r.conduit.toUpperCase()} #0x${r.imm.toString(16)} @${r.pc}`;
}

/** Column widths of the table; the defaults fit 32-bit addresses and short rule ids. */
export interface TableWidths {
  /** `HVC #0xea1 @0x40000038`: 15 characters and the address's hex digits. */
  callSite: number;
  /** The decoded call; longer ones wrap onto continuation lines (at most 3, then cut with …). */
  call: number;
  /** `undef (rule undef-sip-0x10)`; longer ones are cut with … when fitting. */
  decision: number;
  /**
   * Keep every row in its columns: long decoded calls wrap onto continuation lines,
   * long decisions are cut (the CLI). Without it (gdb's `monitor traps`: one line a
   * trap) a long cell pushes the rest of its row right.
   */
  fit: boolean;
  /** Name who decided a person's decisions (decisionText's `names`). */
  names: boolean;
}

export const DEFAULT_WIDTHS: TableWidths = { callSite: 23, call: 40, decision: 20, fit: false, names: false };
const SEQ = 5;
/** 10-digit instruction counts and a space. */
const INSNS = 11;
const MAX_CALL_LINES = 3;

/** The call-site width for addresses up to `top`. */
export function callSiteWidth(top: bigint): number {
  return 15 + Math.max(8, top.toString(16).length);
}

/**
 * The decision width that fits every rule of a policy: `forward (rule ID)`, or for an
 * ask rule nobody can answer `emulate (default (ask:ID))`; within reason.
 */
export function decisionWidth(rules: readonly { id: string; action: string }[]): number {
  const widest = rules.map((r) => (r.action === 'ask' ? `emulate (default (ask:${r.id}))` : `forward (rule ${r.id})`).length);
  return Math.min(40, Math.max(DEFAULT_WIDTHS.decision, ...widest));
}

/** s, or its first n-1 characters and … when longer than n. */
export function cut(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

/** Lines of at most `width`, broken after a space or comma where there is one. */
export function wrap(text: string, width: number, maxLines = MAX_CALL_LINES): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width && lines.length < maxLines - 1) {
    const room = rest.slice(0, width + 1);
    const at = Math.max(room.lastIndexOf(' '), room.lastIndexOf(',') + 1, room.lastIndexOf('(') + 1);
    const end = at > width / 3 ? at : width;
    lines.push(rest.slice(0, end).trimEnd());
    rest = rest.slice(end).trimStart();
  }
  lines.push(cut(rest, width));
  return lines;
}

export class TrapTable {
  private printedHeader = false;
  private readonly w: TableWidths;
  constructor(private readonly write: (line: string) => void, widths: Partial<TableWidths> = {}) {
    this.w = { ...DEFAULT_WIDTHS, ...widths };
  }

  header() {
    if (this.printedHeader) return;
    this.printedHeader = true;
    const { callSite, call, decision } = this.w;
    this.write(`${pad('seq', SEQ)} ${pad('insns', INSNS)} ${pad('call site', callSite)} ${pad('decoded call', call)}  ${pad('decision', decision)} result`);
    this.write('-'.repeat(SEQ + 1 + INSNS + 1 + callSite + 1 + call + 2 + decision + 1 + 24));
  }

  row(r: TrapRecord) {
    this.header();
    const { callSite: siteW, call, decision, fit, names } = this.w;
    const [first, ...more] = fit ? wrap(r.decoded.summary, call) : [r.decoded.summary];
    const text = decisionText(r, names);
    const dec = fit ? cut(text, decision) : text;
    this.write(`${pad(String(r.seq), SEQ)} ${pad(String(r.insns), INSNS)} ${pad(callSite(r), siteW)} ${pad(first, call)}  ${pad(dec, decision)} ${resultText(r)}`.trimEnd());
    const indent = ' '.repeat(SEQ + 1 + INSNS + 1 + siteW + 1);
    for (const line of more) this.write(indent + line);
  }
}

/** The full decoded record, several lines (gdb `monitor trap`, the ask prompt). */
export function describeTrap(r: TrapRecord): string[] {
  const d = r.decoded;
  const lines = [`Trap #${r.seq}: ${r.conduit.toUpperCase()} #0x${r.imm.toString(16)} at ${r.pc} (${r.arch}, cpu ${r.cpu}, after ${plural(r.insns, 'instruction')})`];
  lines.push(`  call:     ${d.summary}`);
  const idBits = d.id ? `id ${d.id}, ` : '';
  const conv = d.callconv ? `SMC${d.callconv}/HVC${d.callconv}, ` : '';
  const fast = d.fast === undefined ? '' : d.fast ? 'fast, ' : 'yielding, ';
  lines.push(`  kind:     ${d.kind} (${idBits}${fast}${conv}owner ${d.owner}${d.service ? `, service ${d.service}` : ''}; decoded by ${d.rule})`);
  if (d.args.length) lines.push(`  args:     ${d.args.map((a) => `${a.name}=${a.value}`).join(', ')}`);
  const extra = Object.entries(d.fields);
  if (extra.length) lines.push(`  fields:   ${extra.map(([k, v]) => `${k}=${typeof v === 'number' ? '0x' + v.toString(16) : String(v)}`).join(', ')}`);
  lines.push(`  regs:     ${r.args.slice(0, 8).map((v, i) => `${r.arch === 'aarch64' ? 'x' : 'r'}${i}=${v}`).join(' ')}`);
  if (r.decision === 'pending') lines.push(`  decision: pending (emulate | forward | undef | return ${r.arch === 'aarch64' ? 'x' : 'r'}0=... | skip)`);
  else {
    lines.push(`  decision: ${decisionText(r)}`);
    const res = resultText(r);
    if (res) lines.push(`  result:   ${res}`);
  }
  return lines;
}

/** "1 trap", "2 traps", "0 instructions". */
export function plural(n: number | bigint, noun: string): string {
  return `${n} ${noun}${n === 1 || n === 1n ? '' : 's'}`;
}
