// Messages between the Session (main thread) and the emulation worker.
import type { TrapRecord } from './trap-record.js';

export type WorkerRequest = { id: number; op: string; args?: unknown };
export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string };
export type WorkerEvent =
  | { event: 'records'; batch: TrapRecord[] }
  | { event: 'output'; text: string }
  | { event: 'log'; line: string };
export type WorkerMessage = WorkerReply | WorkerEvent;
