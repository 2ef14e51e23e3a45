// What the request handlers of adapter/*.ts need of the debug session
// (session.ts): its client, its error responses, its run control. The handlers
// live in their own modules (memory.ts, breakpoints.ts, frames.ts, source.ts,
// disassemble.ts, policy.ts) and session.ts dispatches to them.
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { SessionClient, StopEvent } from '../server/session/session.js';
import type { Result } from '../server/result.js';

/** DAP thread ids are vCPU + 1 (some clients take thread 0 for "none"). */
export const THREAD = 1;

/** Lines and columns between the client's numbering and ours (1-based), as DebugSession converts them. */
export interface LineNumbers {
  toClient(n: number): number;
  fromClient(n: number): number;
  columnToClient(n: number): number;
  columnFromClient(n: number): number;
}

/** Guest memory that changed, for `memory` events. */
export interface MemoryChange { addr: bigint; len: number }

export interface Host {
  /** The client, or an error response saying the guest is not launched (or has ended). */
  need(response: DebugProtocol.Response): SessionClient | undefined;
  /** The client when the guest is stopped, or an error response. */
  stoppedClient(response: DebugProtocol.Response): SessionClient | undefined;
  fail(response: DebugProtocol.Response, message: string, id?: number): void;
  sendResponse(response: DebugProtocol.Response): void;
  sendEvent(event: DebugProtocol.Event): void;
  /** Registers, and the given memory, changed: `invalidated` (and `memory`) events. */
  changed(memory?: MemoryChange[]): void;
  /** Runs (step: one instruction; run: a run of the caller's, such as a line step) and reports the stop. */
  resume(step: boolean, run?: () => Promise<Result<StopEvent>>): Promise<void>;
  /** Runs fn with the guest stopped: a running guest is paused for it (not reported) and runs on after. */
  whileStopped<T>(c: SessionClient, fn: () => Promise<T>): Promise<T>;
  /** The client's line and column numbering. */
  readonly lines: LineNumbers;
}

/** A DAP address (memoryReference, instructionReference): hex with 0x, or decimal. */
export function parseAddress(text: unknown): bigint | undefined {
  if (typeof text !== 'string') return undefined;
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t) || /^[0-9]+$/.test(t)) return BigInt(t);
  return undefined;
}
