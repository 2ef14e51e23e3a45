// Exit codes and the error type every CLI command throws for bad input.
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, LIMIT: 3, FAULT: 4, TRAP_STOP: 5, CONFLICT: 6, INTERRUPTED: 130, TERMINATED: 143 } as const;

/** Bad input from the user: printed as one clear line, exit code 2, no stack trace. */
export class UsageError extends Error {}

/** Trapdoor cannot do its part (e.g. the trap log cannot be written): one clear line, exit code 1. */
export class RunError extends Error {}
