// The JSON-RPC service's wire: its own methods beside the Session contract's
// (every `OPS` operation under its own name), the notifications, and the error
// codes. Shared by the service (service.ts) and its clients (`trapdoor triage`,
// tests), so both sides read one definition.
import { ERROR_CODES, type ErrorCode } from '../result.js';
import type { Capabilities, SessionState, StopEvent } from '../session/contract.js';
import type { RegGroup } from '../machine/registers.js';
import type { ElfSymbol } from '../machine/elf.js';
import type { TrapRecord } from '../session/trap-record.js';
import type { Role } from './tokens.js';

/**
 * Error codes on the wire. The core's codes (result.ts) are -31001 minus their
 * position in ERROR_CODES: busy -31001, not-stopped -31002, no-register -31003,
 * unmapped -31004, closed -31005, exited -31006, invalid -31007, unsupported
 * -31008, not-found -31009, conflict -31010, io -31011, internal -31012. The
 * service's own are -31100 and below. All lie outside the ranges JSON-RPC
 * (-32768..-32000) and LSP (-32899..-32800) reserve. The error's `data` holds
 * the code's name (`{code: 'conflict'}`) and, for a decision that came second,
 * who came first (`decidedBy`).
 */
export const CORE_ERROR_BASE = -31001;
export const SERVICE_ERRORS = {
  /** The first request was not a valid `auth`: the connection is closed after this answer. */
  unauthenticated: -31100,
  /** traps/subscribe from a seq older than the records kept (as a Kubernetes watch's 410 Gone). */
  gone: -31101,
  /** A message over --max-message (answered with id null; the connection goes on). */
  'too-large': -31102,
  /** An observer asked for something only a decider may do. */
  forbidden: -31103,
  /** No such session, or the connection has none. */
  'no-session': -31104,
} as const;
export type ServiceError = keyof typeof SERVICE_ERRORS;

export function wireCode(code: ErrorCode | ServiceError): number {
  if (Object.hasOwn(SERVICE_ERRORS, code)) return SERVICE_ERRORS[code as ServiceError];
  return CORE_ERROR_BASE - ERROR_CODES.indexOf(code as ErrorCode);
}

/** The name of a wire code (either kind), or undefined. */
export function codeName(wire: number): ErrorCode | ServiceError | undefined {
  const i = CORE_ERROR_BASE - wire;
  if (i >= 0 && i < ERROR_CODES.length) return ERROR_CODES[i];
  return (Object.keys(SERVICE_ERRORS) as ServiceError[]).find((k) => SERVICE_ERRORS[k] === wire);
}

export interface SessionInfo {
  id: string;
  image: string;
  state: string;
  /** Traps taken so far; the seq of the newest record seen, and the oldest one kept for replay. */
  traps: number;
  lastSeq: number;
  oldestKept: number;
  /** The trap waiting for a decision, if any. */
  pending: number | null;
  clients: { name: string; role: Role }[];
}

/**
 * `session/describe`: what a client reads once when it joins, to work as an
 * in-process Client does (the debug adapter's attach): the guest's registers,
 * memory map and symbols, 64-bit values as hex strings.
 */
export interface SessionFacts {
  id: string;
  image: string;
  arch: 'aarch64' | 'arm';
  state: SessionState;
  lastStop?: StopEvent;
  capabilities: Capabilities;
  registers: { name: string; bits: 32 | 64 | 128; regnum: number; group: RegGroup; feature: string; type: string; readonly?: boolean; doc?: string }[];
  memory: { top: string; regions: { kind: 'ram' | 'mmio'; name: string; base: string; size: string }[] };
  symbols: { name: string; value: string; size: string; type: ElfSymbol['type'] }[];
}

export interface AuthParams { token?: string; role?: Role }
export interface AuthResult { client: string; user?: string; role: Role; sessions: SessionInfo[] }

export interface OpenParams {
  /** A guest image on the server. */
  path?: string;
  /** Or the image's bytes, base64 (at most what fits in --max-message). */
  image?: string;
  /** A name for an uploaded image (shown in session/list). */
  name?: string;
  /** `--on` rules, `--default`, `--platform` as `trapdoor run` takes them. */
  on?: string[];
  default?: string;
  platform?: string;
  /** Run at once (default true): the session runs like `trapdoor run`, stopping where a person decides. */
  run?: boolean;
  /** Join it as (default: the connection's role). */
  role?: Role;
}

/** Notifications from the service. */
export interface TrapNotification { session: string; record: TrapRecord }
export interface StopNotification { session: string; event: StopEvent }
export interface DecidedNotification { session: string; seq: number; by: string; record: TrapRecord }
export interface OutputNotification { session: string; text: string }
export interface LaggedNotification { session: string; missed: number; from: number; output: number }

/** `running`: the guest started running (a run or step of any client, gdb's too); `stop` ends it. */
export interface RunningNotification { session: string }

export const NOTIFICATIONS = { trap: 'trap', stop: 'stop', running: 'running', decided: 'decided', output: 'output', lagged: 'lagged', closed: 'session/closed' } as const;

export interface SubscribeParams { session?: string; from?: number }
export interface SubscribeResult { replayed: number; next: number; pending: TrapRecord | null }
export interface DecodeParams { id: string; args?: string[]; conduit?: 'smc' | 'hvc'; imm?: number; arch?: 'aarch64' | 'aarch32'; platform?: string }
