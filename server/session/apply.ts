// Applying a decision to a trapped call: one applier, used inside the trap hook
// (registers written back by the native hook as it returns) and outside it (a
// person's decision, a forwarded answer), so both give the same registers and
// the same record.
import { hex } from '../machine/memory.js';
import type { CpuArch } from '../machine/registers.js';
import type { Cpu } from '../machine/cpu.js';
import type { CallContext, DecodedCall } from '../decode/types.js';
import { endsRun, type Firmware } from '../firmware/index.js';
import type { FirmwareAnswer } from '../firmware/types.js';
import { returnWrites } from '../policy/values.js';
import { CoreError } from '../result.js';
import type { TrapResult } from './trap-record.js';
import { emulateResult } from './records.js';

export interface ApplyEnv {
  arch: CpuArch;
  firmware: Firmware;
  /** Writes result register i (x_i / r_i); the value is already masked to the register. */
  write(i: number, v: bigint): void;
  writeMem(addr: bigint, bytes: Uint8Array): void;
}

/**
 * Where a decision is applied: inside the trap hook, registers are handed to the
 * native hook to write back as it returns; outside it, written to the vCPU at once.
 */
export function applyEnv(cpu: Cpu, firmware: Firmware, where: 'hook' | 'outside'): ApplyEnv {
  const prefix = cpu.arch === 'aarch64' ? 'x' : 'r';
  return {
    arch: cpu.arch, firmware,
    write: where === 'hook' ? (i, v) => cpu.writeBack(i, v) : (i, v) => cpu.setReg(`${prefix}${i}`, v),
    writeMem: (addr, bytes) => { cpu.writeMem(addr, bytes); },
  };
}

export type ExitEffect = { effect: string; detail?: Record<string, string> };

const MASK64 = 0xffff_ffff_ffff_ffffn;

/** The built-in firmware's answer, written to the guest. */
export function applyEmulate(env: ApplyEnv, ctx: CallContext, decoded: DecodedCall): { ans: FirmwareAnswer; effect?: ExitEffect } {
  const ans = env.firmware.respond(ctx, decoded);
  writeAnswer(env, ans);
  return { ans, effect: exitEffectOf(ans) };
}

/** A firmware answer's registers and memory, written to the guest (also a cached answer, by the trap path). */
export function writeAnswer(env: ApplyEnv, ans: FirmwareAnswer) {
  const mask = env.arch === 'aarch64' ? MASK64 : 0xffff_ffffn;
  for (let i = 0; i < ans.regs.length; i++) env.write(i, ans.regs[i] & mask);
  if (ans.memWrites) for (const mw of ans.memWrites) env.writeMem(mw.addr, mw.bytes);
}

export function emulated(env: ApplyEnv, ctx: CallContext, decoded: DecodedCall): { result: TrapResult; effect?: ExitEffect; ans: FirmwareAnswer } {
  const { ans, effect } = applyEmulate(env, ctx, decoded);
  return { result: emulateResult(ans, env.arch), effect, ans };
}

/**
 * `return` values ({x0: 5n, w1: ...}) written to the guest; returns them as the
 * record shows them. A register this guest does not have (`no-register`) or a
 * value too wide for it (`invalid`) is an error and nothing is written.
 */
export function applyReturn(env: ApplyEnv, values: Record<string, bigint>): Record<string, string> {
  const writes = returnWrites(env.arch, values);
  if (!writes.ok) throw new CoreError(writes.code, writes.error);
  const prefix = env.arch === 'aarch64' ? 'x' : 'r';
  const shown: Record<string, string> = {};
  for (const { index, value } of writes.value) {
    env.write(index, value);
    shown[`${prefix}${index}`] = hex(value);
  }
  return shown;
}

/** Calls that end the run (firmware/exit.ts): SYSTEM_OFF, SYSTEM_RESET(2), CPU_OFF, Xen shutdown. */
function exitEffectOf(ans: FirmwareAnswer): ExitEffect | undefined {
  return endsRun(ans.effect) ? { effect: ans.effect!, detail: ans.detail } : undefined;
}
