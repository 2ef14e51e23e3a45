// The `trapdoor/trap` event: new trap records for a client's live view (the VS Code
// extension's Traps tree). A storm of traps is not a storm of events: records are
// gathered and sent at most every FEED_INTERVAL_MS, only the newest FEED_MAX of
// them (the body says how many were left out; `trapdoor/traps` pages the rest).
// At a stop the feed is sent at once, with the trap waiting for a decision.
import type { TrapRecord } from '../server/session/trap-record.js';

export const FEED_INTERVAL_MS = 100;
export const FEED_MAX = 200;

export interface TrapEventBody {
  /** The newest records since the last event, oldest first. */
  traps: TrapRecord[];
  /** Records since the last event that are not in `traps` (older than those). */
  skipped: number;
  /** The trap the guest is stopped at, waiting for a decision (decision 'pending'). */
  pending?: TrapRecord;
}

export class TrapFeed {
  private queue: TrapRecord[] = [];
  private skipped = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: (body: TrapEventBody) => void) {}

  push(batch: readonly TrapRecord[]): void {
    for (const r of batch) this.queue.push(r);
    if (this.queue.length > FEED_MAX) {
      this.skipped += this.queue.length - FEED_MAX;
      this.queue = this.queue.slice(-FEED_MAX);
    }
    this.timer ??= setTimeout(() => this.flush(), FEED_INTERVAL_MS).unref();
  }

  /** Sends what is gathered now (and the pending trap, when stopped at one). */
  flush(pending?: TrapRecord): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.queue.length && !this.skipped && !pending) return;
    const body: TrapEventBody = { traps: this.queue, skipped: this.skipped };
    if (pending) body.pending = pending;
    this.queue = [];
    this.skipped = 0;
    this.send(body);
  }

  /** Drops what is gathered (the run it came from is over). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.skipped = 0;
  }
}
