// One result type for the whole core: a value, or an error with a stable code and
// a message for people. Errors stay values until a front-end's edge, which maps
// the code once (gdb `Exx`, DAP error response, JSON-RPC error object, CLI exit).

/**
 * Stable error codes. Front-ends map these, never the message text.
 * - busy: the guest is running (pause it first) or another operation holds it
 * - not-stopped: the operation needs a stop of a particular kind (e.g. a pending trap)
 * - no-register: the guest has no register of that name
 * - unmapped: no memory at that address
 * - closed: the session is closed
 * - exited: the guest has ended; nothing more can run
 * - invalid: a parameter is malformed or out of range
 * - unsupported: this session (its mode) cannot do it; capabilities() says why
 * - not-found: no such rule, trap, breakpoint, vCPU
 * - conflict: someone else changed it first (a decision, a policy version)
 * - io: a file or endpoint failed
 * - internal: a bug in Trapdoor; the message says what failed
 */
export const ERROR_CODES = [
  'busy', 'not-stopped', 'no-register', 'unmapped', 'closed', 'exited', 'invalid',
  'unsupported', 'not-found', 'conflict', 'io', 'internal',
] as const;
/** The codes, in a fixed order (new ones go last: the JSON-RPC service numbers them by position). */
export type ErrorCode = (typeof ERROR_CODES)[number];


export interface Failure { ok: false; code: ErrorCode; error: string }
export type Result<T> = { ok: true; value: T } | Failure;

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (code: ErrorCode, error: string): Failure => ({ ok: false, code, error });

/** Thrown inside the worker so that a request's failure keeps its code across the channel. */
export class CoreError extends Error {
  constructor(readonly code: ErrorCode, message: string) { super(message); }
}

/** The Failure for anything caught: a CoreError keeps its code, anything else is internal. */
export function failureOf(e: unknown): Failure {
  if (e instanceof CoreError) return fail(e.code, e.message);
  return fail('internal', e instanceof Error ? e.message : String(e));
}
