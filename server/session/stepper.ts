// Single step as a run: exact breakpoints on the addresses one instruction can go
// to, and/or the block hook's deadline one past the block at pc
// (server/machine/step-plan.ts): blocks stay translated and no instruction-count
// hook is needed. A counted run (Cpu.run with count 1, our own native counter) is
// used only where nothing can be predicted (WFI, IT blocks, MMU on).
import type { Cpu } from '../machine/cpu.js';
import { a32Successors, a64Successors, type StepPlan } from '../machine/step-plan.js';
import type { StopEvent } from './contract.js';

/** Where one instruction from pc can go (undefined: only a counted step can tell). */
export function stepPlan(cpu: Cpu): StepPlan | undefined {
  // read on demand: a prediction needs pc, the state and at most a register or two
  const regs = { get: (n: string) => cpu.reg(n) };
  const code = cpu.readMem(cpu.pc, 4);
  if (!code.ok) return undefined;
  const b = code.value;
  if (cpu.arch === 'aarch64') return a64Successors((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0, regs);
  const read32 = (addr: bigint) => {
    const m = cpu.readMem(addr, 4);
    return m.ok ? BigInt((m.value[0] | (m.value[1] << 8) | (m.value[2] << 16) | (m.value[3] << 24)) >>> 0) : undefined;
  };
  return a32Successors(b, regs, read32);
}

/**
 * Runs one planned step: `run(passBreakAtPc)` runs the guest to its next stop.
 * Stops at the plan's addresses, or at the planned deadline, read as 'step'.
 */
export async function runPlannedStep(cpu: Cpu, plan: StepPlan, run: (passBreakAtPc: boolean) => Promise<StopEvent>,
  stepped: () => StopEvent): Promise<StopEvent> {
  const pc = cpu.pc;
  // A breakpoint at a target stops the step anyway; the others are step targets,
  // whose hooks stay (dormant) for the next step that goes there.
  const targets = [...new Set(plan.at)].filter((a) => !cpu.hasBreakpoint(a));
  const armed = cpu.armStep(targets);
  const temps = armed ? [] : targets;
  for (const a of temps) cpu.addBreakpoint(a);
  const deadline = cpu.deadline;
  if (plan.blockInsns !== undefined) cpu.deadline = cpu.insns + plan.blockInsns + 1;
  let ev: StopEvent;
  try {
    ev = await run(plan.at.includes(pc));
  } finally {
    if (armed) cpu.disarmStep();
    for (const a of temps) cpu.removeBreakpoint(a);
    cpu.deadline = deadline;
  }
  const limitReached = deadline !== 0 && cpu.insns >= deadline;
  if ((ev.reason === 'breakpoint' && ev.addr !== undefined && plan.at.includes(BigInt(ev.addr)))
    || (ev.reason === 'limit' && plan.blockInsns !== undefined && !limitReached)) {
    return stepped();
  }
  return ev;
}
