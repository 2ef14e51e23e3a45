// The web triage page's live side (web.ts serves it): each served session as the
// page follows it (HostView: console output so far, the pending trap, the policy
// version last told), and one browser's Server-Sent Events stream (EventStream).
// Trap events carry `id:` = seq. A stream sends the kept records from its next seq
// while its socket keeps up, and waits for 'drain' otherwise, so a slow reader
// costs the server no more than `limit` bytes; records evicted from the kept ring
// meanwhile are told as `missed`. Console output is dropped while the reader is
// behind and counted in a `lagged` event. A reader far behind even on the small
// events (pending, decided, policy) is closed: its browser reconnects and resumes
// from Last-Event-ID.
import type http from 'node:http';
import type { SessionHost } from './host.js';
import { describeTrap, trapCells } from '../session/render.js';
import type { TrapRecord } from '../session/trap-record.js';
import type { PolicyInfo, StopEvent } from '../session/contract.js';

const PING_MS = 20_000;

/** One session as the page follows it: its console output so far, its pending trap, its open event streams. */
export class HostView {
  output = '';
  pending: TrapRecord | undefined;
  ended: StopEvent | undefined;
  policyVersion = -1;
  readonly streams = new Set<EventStream>();
  private readonly unlisten: () => void;

  constructor(readonly host: SessionHost, private readonly keepOutput: number, private readonly gone: () => void) {
    const onTrap = (r: TrapRecord) => { for (const s of this.streams) s.record(r); };
    const onStop = (ev: StopEvent) => {
      if (ev.reason === 'trap' && ev.trap?.decision === 'pending') {
        this.pending = ev.trap;
        this.broadcast('pending', pendingData(ev.trap));
        void this.refreshPolicy();
      } else if (ev.reason === 'exit' || ev.reason === 'fault' || ev.reason === 'exception' || ev.final) {
        this.ended = ev;
        this.broadcast('ended', { reason: ev.reason, message: ev.message ?? ev.reason });
      } else if (ev.reason !== 'trap') {
        this.broadcast('stopped', { reason: ev.reason, pc: ev.pc });
      }
    };
    const onDecided = (d: { seq: number; by: string; record: TrapRecord }) => {
      if (this.pending?.seq === d.seq) this.pending = undefined;
      this.broadcast('decided', { seq: d.seq, by: d.by });
    };
    const onOutput = (text: string) => {
      this.output = (this.output + text).slice(-this.keepOutput);
      for (const s of this.streams) s.output(text);
    };
    const onClosed = () => { this.broadcast('closed', {}); for (const s of this.streams) s.end(); this.dispose(); this.gone(); };
    host.on('trap', onTrap).on('stop', onStop).on('decided', onDecided).on('output', onOutput).on('closed', onClosed);
    this.unlisten = () => { host.off('trap', onTrap).off('stop', onStop).off('decided', onDecided).off('output', onOutput).off('closed', onClosed); };
  }

  broadcast(event: string, data: object) { for (const s of this.streams) s.control(event, data); }

  /** The policy, and to every page when it changed since last told (someone else may have changed it). */
  async refreshPolicy(): Promise<PolicyInfo | undefined> {
    const p = await this.host.session.policy();
    if (!p.ok) return undefined;
    if (p.value.version !== this.policyVersion) {
      this.policyVersion = p.value.version;
      this.broadcast('policy', p.value);
    }
    return p.value;
  }

  dispose() { this.unlisten(); }
}

export const pendingData = (t: TrapRecord) => ({ record: t, cells: trapCells(t), lines: describeTrap(t) });

/** One browser's events stream on one session. */
export class EventStream {
  /** The next record seq to send. */
  private next: number;
  private waiting = false;
  private droppedOutput = 0;
  private ended = false;
  private readonly ping: NodeJS.Timeout;

  constructor(private readonly view: HostView, private readonly res: http.ServerResponse, from: number, private readonly limit: number) {
    this.next = from;
    this.ping = setInterval(() => { if (!this.full) this.write(': ping\n\n'); }, PING_MS);
    res.on('close', () => this.end());
  }

  private get full(): boolean { return this.res.writableLength > this.limit; }
  private write(text: string) { if (!this.ended) this.res.write(text); }
  private send(event: string, data: unknown, id?: number) {
    this.write(`event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  }

  /** Kept records from `next` on, while the reader keeps up; the rest when its socket drains. */
  pump() {
    if (this.ended || this.waiting) return;
    const host = this.view.host;
    if (this.next > host.lastSeq) return;
    let kept = host.kept(this.next);
    if (kept === 'gone') {
      const oldest = host.oldestKept;
      this.send('missed', { from: this.next, oldest, missed: oldest - this.next, message: `traps #${this.next} to #${oldest - 1} are no longer kept (the service keeps the last --keep records): not shown` });
      this.next = oldest;
      kept = host.kept(oldest) as TrapRecord[];
    }
    for (const r of kept) {
      if (this.full) {
        this.waiting = true;
        this.res.once('drain', () => { this.waiting = false; this.pump(); });
        return;
      }
      this.sendRecord(r);
    }
  }

  private sendRecord(r: TrapRecord) {
    this.send('trap', trapCells(r), r.seq);
    this.next = r.seq + 1;
  }

  record(r: TrapRecord) {
    if (r.seq === this.next && !this.waiting && !this.full) this.sendRecord(r);
    else this.pump();
  }

  /** Console output: dropped while the reader is behind, then counted in a `lagged` event. */
  output(text: string) {
    if (this.ended) return;
    if (this.full) { this.droppedOutput += text.length; return; }
    if (this.droppedOutput) {
      this.send('lagged', { output: this.droppedOutput, message: `this page fell behind: ${this.droppedOutput} characters of console output were not shown` });
      this.droppedOutput = 0;
    }
    this.send('output', { text });
  }

  /** The small events (pending, decided, policy, ended): a reader far behind even on these is closed; its browser reconnects and resumes. */
  control(event: string, data: object) {
    if (this.res.writableLength > this.limit * 4) { this.end(); return; }
    this.send(event, data);
  }

  end() {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.ping);
    this.view.streams.delete(this);
    this.view.host.attached.delete(this);
    this.res.end();
  }
}
