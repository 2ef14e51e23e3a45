// The trap renderer every front-end shares: one table row per trap (the CLI, the
// console's traps), and the full record (console trap, the ask prompt, faults).
import type { TrapRecord } from './trap-record.js';

export const TABLE_COLUMNS = ['seq', 'insns', 'call site', 'decoded call', 'decision', 'result'] as const;

function pad(s: string, n: number) { return s.length >= n ? s : s + ' '.repeat(n - s.length); }

export function decisionText(r: TrapRecord): string {
  const who = r.by === 'policy' && r.rule ? `rule ${r.rule}` : r.by === 'default' && r.rule ? `default (${r.rule})` : r.by;
  return `${r.decision} (${who})`;
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

export class TrapTable {
  private printedHeader = false;
  constructor(private readonly write: (line: string) => void, private readonly width = 38) {}

  header() {
    if (this.printedHeader) return;
    this.printedHeader = true;
    this.write(`${pad('seq', 5)} ${pad('insns', 9)} ${pad('call site', 26)} ${pad('decoded call', this.width)}  ${pad('decision', 22)} result`);
    this.write('-'.repeat(5 + 1 + 9 + 1 + 26 + 1 + this.width + 2 + 22 + 1 + 24));
  }

  row(r: TrapRecord) {
    this.header();
    const summary = r.decoded.summary;
    const call = summary.length > this.width ? summary : pad(summary, this.width);
    this.write(`${pad(String(r.seq), 5)} ${pad(String(r.insns), 9)} ${pad(callSite(r), 26)} ${call}  ${pad(decisionText(r), 22)} ${resultText(r)}`);
  }
}

/** The full decoded record, several lines (gdb `monitor trap`, the ask prompt). */
export function describeTrap(r: TrapRecord): string[] {
  const d = r.decoded;
  const lines = [`Trap #${r.seq}: ${r.conduit.toUpperCase()} #0x${r.imm.toString(16)} at ${r.pc} (${r.arch}, cpu ${r.cpu}, after ${r.insns} instructions)`];
  lines.push(`  call:     ${d.summary}`);
  const idBits = d.id ? `id ${d.id}, ` : '';
  const conv = d.callconv ? `SMC${d.callconv}/HVC${d.callconv}, ` : '';
  const fast = d.fast === undefined ? '' : d.fast ? 'fast, ' : 'yielding, ';
  lines.push(`  kind:     ${d.kind} (${idBits}${fast}${conv}owner ${d.owner}${d.service ? `, service ${d.service}` : ''}; decoded by ${d.rule})`);
  if (d.args.length) lines.push(`  args:     ${d.args.map((a) => `${a.name}=${a.value}`).join(', ')}`);
  const extra = Object.entries(d.fields);
  if (extra.length) lines.push(`  fields:   ${extra.map(([k, v]) => `${k}=${typeof v === 'number' ? '0x' + v.toString(16) : String(v)}`).join(', ')}`);
  lines.push(`  regs:     ${r.args.slice(0, 8).map((v, i) => `${r.arch === 'aarch64' ? 'x' : 'r'}${i}=${v}`).join(' ')}`);
  if (r.decision === 'pending') lines.push('  decision: pending (emulate | forward | undef | return x0=... | skip)');
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
