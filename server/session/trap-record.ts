// The trap record: the contract between the core and every front-end. One per
// SMC/HVC/hypercall, appended to the trap log (JSON Lines) and shown the same way
// by the CLI table, gdb `monitor trap`, DAP variables and the JSON-RPC service.
// 64-bit values are hex strings wherever they leave the process.
import type { Conduit, DecodedCall, GuestArch } from '../decode/types.js';

export type Action = 'emulate' | 'forward' | 'undef' | 'return' | 'ask' | 'skip';
/** A decision is an action other than 'ask', with values for 'return'. */
export interface Decision {
  action: Exclude<Action, 'ask'>;
  /** For 'return': register values by name (x0.., r0..) as bigint. */
  values?: Record<string, bigint>;
}
export type DecidedBy = 'policy' | 'user' | 'default' | 'fallback';

export interface TrapResult {
  /** Registers written back, e.g. {x0: '0x10001'}. */
  regs?: Record<string, string>;
  /** For undef: the injected exception. */
  exception?: { kind: 'undef'; vector: string; esr?: string; elr?: string; lr?: string; spsr?: string };
  /** Firmware side effect (system_off ends the run). */
  effect?: string;
  /** Why the decision could not be carried out as asked (e.g. forward endpoint dead). */
  error?: string;
  note?: string;
}

export interface TrapRecord {
  seq: number;
  insns: number;
  cpu: number;
  arch: GuestArch;
  conduit: Conduit;
  imm: number;
  pc: string;
  /** x0..x17 or r0..r14 as hex strings. */
  args: string[];
  decoded: DecodedCall;
  /** 'pending' while the trap waits for a person (the run is stopped at it). */
  decision: Decision['action'] | 'pending';
  by: DecidedBy;
  /** Rule id when by is 'policy'. */
  rule?: string;
  result: TrapResult;
  /** Wall time (ISO) the trap was taken. */
  time: string;
}
