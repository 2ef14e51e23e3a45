// The firmware calls that end a run, and the sentence that says which one and why.
import type { FirmwareEffect } from './types.js';

/** Effects after which the guest cannot go on: the run ends with reason 'exit'. */
const RUN_ENDING: ReadonlySet<string> = new Set<FirmwareEffect>(['system_off', 'system_reset', 'system_reset2', 'cpu_off', 'xen_shutdown']);

export function endsRun(effect: string | undefined): boolean {
  return effect !== undefined && RUN_ENDING.has(effect);
}

/** How the end of a run reads: what the guest asked for, with its arguments. */
export function exitMessage(exit: { effect: string; detail?: Record<string, string> }): string {
  const d = exit.detail ?? {};
  switch (exit.effect) {
    case 'system_reset2':
      return `guest called PSCI SYSTEM_RESET2 (${d.kind ?? 'reset'}, reset_type=${d.reset_type ?? '?'}, cookie=${d.cookie ?? '?'})`;
    case 'cpu_off':
      return d.last === 'yes'
        ? `guest called PSCI CPU_OFF on its last running CPU (vCPU ${d.cpu ?? 0}): no CPU is left to run`
        : `guest called PSCI CPU_OFF on vCPU ${d.cpu ?? 0}; the vCPUs it turned on do not run (Trapdoor runs one vCPU)`;
    case 'xen_shutdown':
      return `guest called Xen sched_op(SCHEDOP_shutdown, reason=${d.reason ?? '?'})`;
    default:
      return `guest called PSCI ${exit.effect.toUpperCase()}`;
  }
}
