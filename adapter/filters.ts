// Traps as DAP exceptions: each exception breakpoint filter is a selector of the
// policy's match language (the `--on` selectors); turning one on adds an `ask`
// rule (this client's, first in the policy) so the run stops at matching calls.
// A condition is more selector terms in the same language (`0xc4000003`,
// `0x84000000-0x8400001f`, `xen:memory_op`, `imm:0x42`), checked by the policy's
// own parser.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { parseOnFlag } from '../server/policy/index.js';

const OWNERS = ['arch', 'cpu', 'sip', 'oem', 'std-secure', 'std-hyp', 'vendor-hyp', 'trusted-app', 'trusted-os'] as const;

export interface TrapFilter { id: string; label: string; selector: string; description: string }

export const TRAP_FILTERS: readonly TrapFilter[] = [
  { id: 'smc', label: 'All SMC calls', selector: 'smc', description: 'every SMC the guest makes' },
  { id: 'hvc', label: 'All HVC calls', selector: 'hvc', description: 'every HVC the guest makes (Xen hypercalls too)' },
  { id: 'xen', label: 'Xen hypercalls', selector: 'kind:xen', description: 'HVC #0xEA1 hypercalls' },
  ...OWNERS.map((o) => ({ id: `owner-${o}`, label: `SMCCC owner: ${o}`, selector: `owner:${o}`, description: `SMCCC calls of the ${o} owner range` })),
  { id: 'legacy', label: 'Legacy platform calls', selector: 'kind:legacy', description: 'pre-SMCCC calls of the launch platform table' },
  { id: 'unimplemented', label: 'Calls the firmware does not implement', selector: 'unimplemented', description: 'calls the built-in firmware would answer NOT_SUPPORTED (or -ENOSYS for Xen)' },
];

const CONDITION_HELP = 'more selector terms, all must hold: 0xc4000003, 0x84000000-0x8400001f, xen:memory_op, imm:0x42, owner:psci';

export function exceptionFilters(): DebugProtocol.ExceptionBreakpointsFilter[] {
  return TRAP_FILTERS.map((f) => ({
    filter: f.id, label: f.label, description: f.description, default: false,
    supportsCondition: true, conditionDescription: CONDITION_HELP,
  }));
}

/** The `ask` rule text for a filter with an optional condition, or why it cannot be one. */
export function filterRule(id: string, condition: string | undefined): { rule: string } | { error: string } {
  const f = TRAP_FILTERS.find((x) => x.id === id);
  if (!f) return { error: `no exception filter '${id}' (the filters are ${TRAP_FILTERS.map((x) => x.id).join(', ')})` };
  const cond = condition?.trim();
  const rule = `${f.selector}${cond ? `,${cond}` : ''}=ask`;
  const checked = parseOnFlag(rule, 'check');
  if (!checked.ok) return { error: `condition '${cond}': ${checked.error.replace(/^--on [^:]*: /, '')}` };
  return { rule };
}
