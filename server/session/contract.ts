// The Session contract: every operation a front-end can ask of a session, with
// its parameter and result types, declared once. The Session implements them
// (session.ts), the JSON-RPC service exposes them under the same names, and the
// console commands call them. The emulation worker's own channel is declared
// here too (WORKER_OPS), so both sides of it compile against one definition.
//
// Wire form: everything here is plain JSON except memory bytes (Uint8Array in
// the process; base64 on a JSON wire). 64-bit numbers (addresses, register
// values, pc) are hex strings ("0x40000010"), so no value loses bits in JSON.
import type { TrapRecord } from './trap-record.js';
import type { Action } from '../policy/actions.js';
import type { ErrorCode, Result } from '../result.js';
import type { EngineConfig } from './engine-config.js';
import type { PolicySpec } from '../policy/rules.js';
import type { ElfSymbol } from '../machine/elf.js';

/** A 64-bit value as a hex string, e.g. "0xffffffffffffffff". */
export type Hex = string;

export type SessionState = 'stopped' | 'running' | 'exited';

export type StopReason =
  | 'trap' | 'breakpoint' | 'watchpoint' | 'step' | 'pause' | 'limit' | 'exit'
  | 'fault' | 'exception' | 'idle' | 'internal';

export interface StopEvent {
  reason: StopReason;
  /** The vCPU that stopped (0 while there is one). */
  vcpu: number;
  pc: Hex;
  insns: number;
  /** The pending trap (reason 'trap'): decision 'pending' until decided. */
  trap?: TrapRecord;
  addr?: Hex;
  access?: string;
  /** For fault/exception/exit/internal: what happened, said for people. */
  message?: string;
  exit?: { effect: string; detail?: Record<string, string> };
  /** For faults: pc is the faulting instruction (false: only the start of its block is known). */
  exactPc?: boolean;
  /** The run cannot go on from here (a hard stop without the block hook, an internal error). */
  final?: boolean;
  /** For 'internal': the trap being handled when it failed. */
  seq?: number;
  /** For breakpoint/watchpoint stops: the clients whose point it is. */
  owners?: string[];
  /** Registers read at the stop when the run asked for them (RunParams.registers). */
  registers?: Record<string, Hex>;
}

/** What this session can do; front-ends advertise only this (gdb qSupported, DAP initialize). */
export interface Capabilities {
  /** A pause (Ctrl-C, --timeout) stops at an exact point the guest can resume from. */
  resumablePause: boolean;
  /** Watchpoints fire (they need the native block hook). */
  watchpoints: boolean;
  /** Instruction counts and --max-insns. */
  instructionCounts: boolean;
  /** Single steps without Unicorn's counted run. */
  softStep: boolean;
  breakpoints: boolean;
  /** Number of vCPUs. */
  vcpus: number;
  /** Stage-1 MMU walk for virtual addresses. */
  mmuWalk: boolean;
  /** Why a capability is missing, said for people (keyed by capability name). */
  why: Partial<Record<'resumablePause' | 'watchpoints' | 'instructionCounts' | 'softStep' | 'mmuWalk', string>>;
}

export interface RunParams { vcpu?: number; registers?: string[] }
export interface VcpuParams { vcpu?: number }
export type WatchKind = 'read' | 'write' | 'access';

/** A decision as a front-end sends it: register values as numbers in text (hex or decimal, may be negative). */
export interface DecisionParams {
  action: Exclude<Action, 'ask'>;
  values?: Record<string, string>;
}

/** A rule as text (`MATCH=ACTION`, as --on takes it). */
export interface AddRuleParams {
  rule: string;
  /** Where: 'first', 'last' (default), or after the rules whose ids start with a prefix. */
  position?: 'first' | 'last' | { afterPrefix: string };
  /** Its id; default: the first free `<idPrefix>N` (idPrefix default 'r'). */
  id?: string;
  idPrefix?: string;
  /** Fail with 'conflict' unless the policy is still at this version. */
  version?: number;
}

export interface RuleInfo { id: string; text: string; action: Action }
export interface PolicyInfo { version: number; rules: RuleInfo[]; default: string }

export interface ConsoleResult { lines: string[]; failed: boolean }

export interface StatusInfo {
  state: SessionState;
  arch: 'aarch64' | 'arm';
  insns: number;
  traps: number;
  lastStop?: StopEvent;
}

/** A typed operation descriptor (in the style of vscode-languageserver-node's RequestType). */
export class Op<P, R> {
  declare readonly params: P;
  declare readonly result: R;
  /**
   * 'read': looks only (an observer of the JSON-RPC service may call it);
   * 'control': runs the guest, changes it, its points, its policy or decides.
   */
  constructor(readonly method: string, readonly doc: string, readonly access: 'read' | 'control' = 'control') {}
}
const op = <P, R>(method: string, doc: string, access: 'read' | 'control' = 'control') => new Op<P, R>(method, doc, access);

/** Every Session operation. A front-end (or the JSON-RPC service) may call any of these by name. */
export const OPS = {
  capabilities: op<Record<string, never>, Capabilities>('capabilities', 'what this session can do', 'read'),
  status: op<Record<string, never>, StatusInfo>('status', 'state, counters and the last stop', 'read'),
  cont: op<RunParams, StopEvent>('cont', 'run until the next stop'),
  step: op<RunParams, StopEvent>('step', 'execute one instruction'),
  pause: op<VcpuParams, SessionState>('pause', 'ask a running guest to stop (resumable)'),
  readRegisters: op<VcpuParams & { names?: string[] }, Record<string, Hex>>('readRegisters', 'register values by name', 'read'),
  writeRegister: op<VcpuParams & { name: string; value: Hex }, true>('writeRegister', 'write one register'),
  readMemory: op<VcpuParams & { addr: Hex; len: number }, Uint8Array>('readMemory', 'read guest memory', 'read'),
  writeMemory: op<VcpuParams & { addr: Hex; data: Uint8Array }, true>('writeMemory', 'write guest memory'),
  addBreakpoint: op<VcpuParams & { addr: Hex; thumb?: boolean }, true>('addBreakpoint', "add the client's breakpoint"),
  removeBreakpoint: op<VcpuParams & { addr: Hex }, boolean>('removeBreakpoint', "remove the client's breakpoint"),
  addWatchpoint: op<VcpuParams & { addr: Hex; len: number; kind: WatchKind }, true>('addWatchpoint', "add the client's watchpoint"),
  removeWatchpoint: op<VcpuParams & { addr: Hex; len: number; kind: WatchKind }, boolean>('removeWatchpoint', "remove the client's watchpoint"),
  clearPoints: op<Record<string, never>, true>('clearPoints', "remove every breakpoint and watchpoint of the client"),
  pendingTrap: op<Record<string, never>, TrapRecord | null>('pendingTrap', 'the trap waiting for a decision', 'read'),
  decide: op<{ decision: DecisionParams; seq?: number }, TrapRecord>('decide', 'decide the pending trap'),
  traps: op<{ n?: number; from?: number }, TrapRecord[]>('traps', 'kept trap records: the last n, or from a seq', 'read'),
  policy: op<Record<string, never>, PolicyInfo>('policy', 'the rules and the default, with the version', 'read'),
  addRule: op<AddRuleParams, { rule: RuleInfo; version: number }>('addRule', 'add one rule'),
  removeRule: op<{ id: string; version?: number }, { version: number }>('removeRule', 'remove one rule'),
  setDefault: op<{ action: string; version?: number }, { version: number }>('setDefault', 'set the default action'),
  console: op<{ line: string }, ConsoleResult>('console', 'run a console command (trap, traps, decide, break-on, policy, help)'),
} as const;

export type OpName = keyof typeof OPS;
export type ParamsOf<N extends OpName> = (typeof OPS)[N]['params'];
export type ResultOf<N extends OpName> = (typeof OPS)[N]['result'];
/** What implements the contract: one async method per operation, errors as values. */
export type SessionApi = { [N in OpName]: (params: ParamsOf<N>) => Promise<Result<ResultOf<N>>> };

// ---------------------------------------------------------------- the worker channel
// Between Session (main thread) and Engine (emulation worker). Values here may be
// bigints (structured clone carries them).

export const WORKER_OPS = {
  /** mailbox: the fast lane for calls while stopped (mailbox.ts). */
  init: op<EngineConfig & { mailbox?: SharedArrayBuffer }, { pc: bigint }>('init', ''),
  run: op<{ step: boolean; regs?: string[] }, { ev: StopEvent; values?: (Hex | undefined)[] }>('run', ''),
  decide: op<{ decision: { action: Exclude<Action, 'ask'>; values?: Record<string, bigint> }; client?: string; seq?: number }, TrapRecord>('decide', ''),
  pending: op<Record<string, never>, TrapRecord | undefined>('pending', ''),
  regs: op<{ names: string[] }, (Hex | undefined)[]>('regs', ''),
  writeReg: op<{ name: string; value: bigint }, true>('writeReg', ''),
  readMem: op<{ addr: bigint; len: number }, Uint8Array>('readMem', ''),
  writeMem: op<{ addr: bigint; data: Uint8Array }, true>('writeMem', ''),
  /** Points have owners (owners.ts: the table is this thread's); remove answers whether the owner had it. */
  breakpoint: op<{ op: 'add' | 'remove'; owner: string; addr: bigint; thumb?: boolean }, boolean>('breakpoint', ''),
  watchpoint: op<{ op: 'add' | 'remove'; owner: string; addr: bigint; len: number; kind: WatchKind }, boolean>('watchpoint', ''),
  clearPoints: op<{ owner: string }, true>('clearPoints', ''),
  traps: op<{ n?: number; from?: number }, TrapRecord[]>('traps', ''),
  policy: op<Record<string, never>, { spec: PolicySpec; version: number }>('policy', ''),
  addRule: op<{ rule: string; position?: AddRuleParams['position']; id?: string; idPrefix?: string; version?: number }, { rule: RuleInfo; version: number }>('addRule', ''),
  removeRule: op<{ id: string; version?: number }, { version: number }>('removeRule', ''),
  setDefault: op<{ action: string; version?: number }, { version: number }>('setDefault', ''),
  close: op<Record<string, never>, true>('close', ''),
  /** Serve a gdb client on this thread (gdbstub/hosted.ts): its socket, duplicated for this thread. */
  gdbHost: op<HostedGdb, true>('gdbHost', ''),
  /** The answer to a call a served gdb client made of the Session ('gdbCall'). */
  gdbReply: op<{ call: number; ok: boolean; value?: unknown; code?: ErrorCode; error?: string }, true>('gdbReply', ''),
  /** Drop a served gdb client (the server is closing). */
  gdbClose: op<{ host: number }, true>('gdbClose', ''),
} as const;

/** What the worker needs to serve a gdb client (gdbstub/hosted.ts). */
export interface HostedGdb {
  host: number;
  fd: number;
  /** Bytes read from the socket before it was handed over. */
  initial?: Uint8Array;
  /** Its Client's name on the main thread (the owner of its points, the decider of its decisions). */
  name: string;
  opts: { packetSize: number; trace?: boolean; guestOutput?: boolean; hotMs?: number };
  caps: Capabilities;
  /** Session.shared: decisions shown with who made them. */
  shared: boolean;
  symbols: ElfSymbol[];
  memory: { top: bigint; regions: { kind: 'ram' | 'mmio'; name: string; base: bigint; size: bigint }[] };
}

export type WorkerOpName = keyof typeof WORKER_OPS;
export type WorkerParams<N extends WorkerOpName> = (typeof WORKER_OPS)[N]['params'];
export type WorkerResult<N extends WorkerOpName> = (typeof WORKER_OPS)[N]['result'];
export type WorkerHandlers = { [N in WorkerOpName]: (p: WorkerParams<N>) => WorkerResult<N> | Promise<WorkerResult<N>> };

export type WorkerRequest = { id: number; op: WorkerOpName; args: unknown };
export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; code: ErrorCode; error: string };
export type WorkerEvent =
  | { event: 'records'; bytes: Uint8Array; count: number }
  | { event: 'output'; text: string }
  | { event: 'log'; line: string }
  /** The worker ran the guest on its own, for a gdb client it serves (FlowWorker.ownRun numbers it). */
  | { event: 'ran'; run: number; ev?: StopEvent }
  /** A served gdb client: a log line, its socket closed ('gone'), its cleanup done ('closed'). */
  | { event: 'gdb'; host: number; what: 'log'; line: string }
  | { event: 'gdb'; host: number; what: 'gone' | 'closed' }
  /** A served gdb client calls a Session operation (answered with gdbReply). */
  | { event: 'gdbCall'; host: number; call: number; op: OpName; params: unknown };
export type WorkerMessage = WorkerReply | WorkerEvent;
