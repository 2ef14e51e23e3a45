// The Traps view's model, without VS Code: the newest trap records of a debug
// session by seq (a pending trap replaced by its decided record), how each one
// shows (label, description, decision icon), and the rule "add a rule for this
// call" proposes (added with the adapter's `trapdoor/policy` request). extension.ts turns the items into TreeItems.
import type { TrapRecord } from '../../../server/session/trap-record.js';
import type { TrapEventBody } from '../../../adapter/trap-feed.js';
import { describeTrap, decisionText, resultText } from '../../../server/session/render.js';

export type { TrapRecord };

/** A codicon per decision (https://microsoft.github.io/vscode-codicons). */
export const DECISION_ICONS: Readonly<Record<TrapRecord['decision'], string>> = {
  pending: 'debug-pause',
  emulate: 'chip',
  forward: 'arrow-right',
  undef: 'error',
  return: 'reply',
  skip: 'debug-step-over',
};

export interface TrapItem {
  seq: number;
  /** `#7 PSCI_CPU_ON` */
  label: string;
  /** `return (user) -> x0=0x5` */
  description: string;
  tooltip: string;
  icon: string;
  /** For menus: `trap` or `trap-pending`. */
  contextValue: string;
}

export function itemOf(r: TrapRecord): TrapItem {
  const result = resultText(r);
  return {
    seq: r.seq,
    label: `#${r.seq} ${r.decoded.name}`,
    description: r.decision === 'pending' ? 'pending: decide' : `${decisionText(r)}${result ? ` -> ${result}` : ''}`,
    tooltip: `${r.decoded.summary}\n${r.conduit.toUpperCase()} #0x${r.imm.toString(16)} at ${r.pc}, cpu ${r.cpu}`,
    icon: DECISION_ICONS[r.decision] ?? 'circle-outline',
    contextValue: r.decision === 'pending' ? 'trap-pending' : 'trap',
  };
}

/** The decoded record as the "reveal" document shows it: the console's `trap` text, then the record's JSON. */
export function revealText(r: TrapRecord): string {
  return `${describeTrap(r).join('\n')}\n\n${JSON.stringify(r, null, 2)}\n`;
}

export class TrapList {
  private readonly bySeq = new Map<number, TrapRecord>();
  /** Records the adapter left out of its events (a storm); `trapdoor/traps` pages them. */
  skipped = 0;

  constructor(readonly max = 1000) {}

  get size(): number { return this.bySeq.size; }

  get(seq: number): TrapRecord | undefined { return this.bySeq.get(seq); }

  /** The trap waiting for a decision, if any. */
  get pending(): TrapRecord | undefined {
    for (const r of this.bySeq.values()) if (r.decision === 'pending') return r;
    return undefined;
  }

  /** Records in (or replacing those of the same seq); only the newest `max` are kept. */
  merge(records: readonly TrapRecord[]): void {
    for (const r of records) {
      const old = this.bySeq.get(r.seq);
      // a decided record is final: a late copy of the pending one does not undo it
      if (old && old.decision !== 'pending' && r.decision === 'pending') continue;
      this.bySeq.set(r.seq, r);
    }
    if (this.bySeq.size > this.max) {
      const seqs = [...this.bySeq.keys()].sort((a, b) => a - b);
      for (const s of seqs.slice(0, seqs.length - this.max)) this.bySeq.delete(s);
    }
  }

  /** A `trapdoor/trap` event. */
  apply(body: TrapEventBody): void {
    this.skipped += body.skipped ?? 0;
    this.merge(body.traps ?? []);
    if (body.pending) this.merge([body.pending]);
  }

  /** The guest ran on: a trap still shown as pending was decided by the default (its record follows). */
  resumed(): void {
    for (const [seq, r] of this.bySeq) if (r.decision === 'pending') this.bySeq.delete(seq);
  }

  clear(): void {
    this.bySeq.clear();
    this.skipped = 0;
  }

  /** Newest first. */
  items(): TrapItem[] {
    return [...this.bySeq.values()].sort((a, b) => b.seq - a.seq).map(itemOf);
  }
}

// ---------------------------------------------------------------- "add a rule for this call"

/** The `--on` selector that matches this call (and calls like it): its id, Xen hypercall or legacy call. */
export function selectorOf(r: TrapRecord): string {
  const d = r.decoded;
  if (d.kind === 'smccc' && d.id) return d.id;
  if (d.kind === 'xen') return `xen:${d.name}`;
  if (d.kind === 'legacy') return `legacy:${d.name}`;
  return `kind:unknown,${r.conduit},imm:0x${r.imm.toString(16)}`;
}

/** The same match as a policy file writes it. */
export function yamlMatchOf(r: TrapRecord): string {
  const d = r.decoded;
  if (d.kind === 'smccc' && d.id) return `{ id: ${d.id} }`;
  if (d.kind === 'xen') return `{ xen: ${d.name} }`;
  if (d.kind === 'legacy') return `{ legacy: ${d.name} }`;
  return `{ kind: unknown, conduit: ${r.conduit}, imm: 0x${r.imm.toString(16)} }`;
}

/** A rule for a policy file (an item of `rules:`), with the call's name as a comment. */
export function yamlRuleOf(r: TrapRecord, action: string): string {
  const quoted = /[(,]/.test(action) ? `"${action}"` : action;
  return `  - match: ${yamlMatchOf(r)}   # ${r.decoded.name}\n    action: ${quoted}\n`;
}

/** The rule in the `--on MATCH=ACTION` language. */
export function onRuleOf(r: TrapRecord, action: string): string {
  return `${selectorOf(r)}=${action}`;
}

/**
 * The adapter's `trapdoor/policy` request that adds the rule to the running session:
 * first, so it decides calls like this one before the exception filters' ask rules
 * and the policy file's rules.
 */
export function policyAddArguments(r: TrapRecord, action: string): { op: 'add'; rule: string; position: 'first' } {
  return { op: 'add', rule: onRuleOf(r, action), position: 'first' };
}
