// The trap record: the contract between the core and every front-end. One per
// SMC/HVC/hypercall, appended to the trap log (JSON Lines) and shown the same way
// by the CLI table, gdb `monitor trap`, DAP variables and the JSON-RPC service.
// 64-bit values are hex strings wherever they leave the process.
import type { Conduit, DecodedCall, GuestArch } from '../decode/types.js';

import type { Decision, DecidedBy } from '../policy/actions.js';

export type { Action, Decision, DecidedBy } from '../policy/actions.js';

export interface TrapResult {
  /** Registers written back, e.g. {x0: '0x10001'}. */
  regs?: Record<string, string>;
  /** For undef: the injected exception. */
  exception?: { kind: 'undef'; vector: string; esr?: string; elr?: string; lr?: string; spsr?: string };
  /** Guest memory the answer wrote (e.g. the OUT half of a Xen call's argument struct). */
  memory?: { addr: string; len: number }[];
  /** Firmware side effect (system_off ends the run). */
  effect?: string;
  /** Why the decision could not be carried out as asked (e.g. forward endpoint dead). */
  error?: string;
  note?: string;
}

export interface TrapRecord {
  seq: number;
  insns: number;
  /** The vCPU that made the call. */
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
  /** Rule id when by is 'policy' (ask:RULE when the default answered an ask rule). */
  rule?: string;
  /** The client that decided, when by is 'user' (e.g. `gdb 127.0.0.1:40312`, `cli`). */
  client?: string;
  result: TrapResult;
  /** Wall time (ISO) the trap was taken. */
  time: string;
}
