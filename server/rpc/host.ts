// One served session: the Session, the records kept for replay, who is
// attached, and the runner that drives the guest as `trapdoor run` does (it
// runs on after each decision; a client's pause, step or breakpoint stop hands
// the guest to the clients until one of them continues).
import { EventEmitter } from 'node:events';
import type { Session, Client } from '../session/session.js';
import type { StopEvent } from '../session/contract.js';
import type { TrapRecord } from '../session/trap-record.js';
import { parseActionText } from '../policy/values.js';
import type { Role } from './tokens.js';
import type { SessionFacts, SessionInfo } from './protocol.js';
import { hex } from '../machine/memory.js';

export interface HostEvents {
  trap: [TrapRecord];
  stop: [StopEvent];
  /** The guest started running (a run or a step, whoever asked). */
  running: [];
  decided: [{ seq: number; by: string; record: TrapRecord }];
  output: [string];
  closed: [];
}

export interface HostOptions {
  /** Records kept for replay (traps/subscribe from a seq). */
  keep: number;
  /** Seconds a trap waits for a person before the default applies (undefined: forever). */
  decideTimeout?: number;
  /** Drive the guest (run at once, run on after each decision). */
  run: boolean;
  log: (line: string) => void;
}

export class SessionHost extends EventEmitter<HostEvents> {
  private readonly ring: TrapRecord[] = [];
  private ringStart = 0;
  /** The newest seq seen. */
  lastSeq = 0;
  /** The trap waiting for a person. */
  pendingSeq: number | undefined;
  /** The runner goes on after each decision. */
  auto: boolean;
  private driving = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly runner: Client;
  readonly attached = new Map<object, { name: string; role: Role }>();

  constructor(readonly id: string, readonly session: Session, readonly image: string, private readonly opts: HostOptions) {
    super();
    this.auto = opts.run;
    session.shared = true;
    this.runner = session.connect('runner');
    this.runner.on('traps', (batch) => { for (const r of batch) this.onRecord(r); });
    this.runner.on('stop', (ev) => this.onStop(ev));
    this.runner.on('running', () => this.emit('running'));
    this.runner.on('output', (t) => this.emit('output', t));
    this.runner.on('log', (l) => opts.log(`session ${id}: ${l}`));
  }

  start() { if (this.opts.run) void this.drive(); }

  /** The kept records with seq >= from (all of them: undefined), or 'gone' when `from` is older than the oldest kept. */
  kept(from: number | undefined): TrapRecord[] | 'gone' {
    const recs = this.ring.slice(this.ringStart);
    if (from === undefined) return recs;
    const oldest = recs.length ? recs[0].seq : this.lastSeq + 1;
    if (from < oldest && from <= this.lastSeq) return 'gone';
    return recs.filter((r) => r.seq >= from);
  }

  /** The kept record of trap #seq when it has been decided (by someone: its client, or what decided it). */
  decidedRecord(seq: unknown): TrapRecord | undefined {
    if (typeof seq !== 'number') return undefined;
    const rec = this.ring.slice(this.ringStart).find((x) => x.seq === seq);
    return rec && (rec.client ?? rec.by) ? rec : undefined;
  }

  get oldestKept(): number { return this.ring.length > this.ringStart ? this.ring[this.ringStart].seq : this.lastSeq + 1; }

  info(): SessionInfo {
    return {
      id: this.id, image: this.image, state: this.session.state, traps: this.session.trapCount,
      lastSeq: this.lastSeq, oldestKept: this.oldestKept, pending: this.pendingSeq ?? null,
      clients: [...this.attached.values()],
    };
  }

  /** What a client reads once when it joins (the remote client's arch, registers, memory map, symbols, capabilities). */
  describe(): SessionFacts {
    const s = this.session;
    return {
      id: this.id, image: this.image, arch: s.arch, state: s.state, lastStop: s.lastStop, capabilities: s.capabilities,
      registers: s.registers.map((r) => ({ name: r.name, bits: r.bits, regnum: r.regnum, group: r.group, feature: r.feature, type: r.type, readonly: r.readonly, doc: r.doc })),
      memory: { top: hex(s.memory.top), regions: s.memory.regions.map((r) => ({ kind: r.kind, name: r.name, base: hex(r.base), size: hex(r.size) })) },
      symbols: s.symbols.map((x) => ({ name: x.name, value: hex(x.value), size: hex(x.size), type: x.type })),
    };
  }

  private onRecord(r: TrapRecord) {
    this.ring.push(r);
    if (this.ring.length - this.ringStart > this.opts.keep) {
      this.ringStart++;
      if (this.ringStart > this.opts.keep) { this.ring.splice(0, this.ringStart); this.ringStart = 0; }
    }
    if (r.seq > this.lastSeq) this.lastSeq = r.seq;
    this.emit('trap', r);
    if (r.seq === this.pendingSeq) {
      this.pendingSeq = undefined;
      clearTimeout(this.timer);
      this.emit('decided', { seq: r.seq, by: r.client ?? r.by, record: r });
      if (this.auto && !(r.client !== undefined && this.holders.has(r.client))) setImmediate(() => void this.drive());
    }
  }

  private onStop(ev: StopEvent) {
    if (ev.reason === 'trap' && ev.trap && ev.trap.decision === 'pending') {
      this.pendingSeq = ev.trap.seq;
      this.armTimeout(ev.trap.seq);
    } else if (ev.reason !== 'trap') {
      // a client's pause, step, breakpoint; or the end: the clients have the guest now
      this.auto = false;
    }
    this.emit('stop', ev);
  }

  private armTimeout(seq: number) {
    clearTimeout(this.timer);
    const s = this.opts.decideTimeout;
    if (s === undefined) return;
    this.timer = setTimeout(() => void this.timeout(seq, s), s * 1000);
  }

  /** Nobody decided in time: the policy default applies, decided by a client named for it. */
  private async timeout(seq: number, s: number) {
    if (this.pendingSeq !== seq || this.closed) return;
    const pol = await this.runner.policy();
    const dflt = pol.ok ? parseActionText(pol.value.default) : undefined;
    const action = dflt?.ok && dflt.value.action !== 'ask' ? dflt.value : { action: 'emulate' as const, values: undefined };
    const values = action.values ? Object.fromEntries(Object.entries(action.values).map(([k, v]) => [k, v.toString()])) : undefined;
    const c = this.session.connect(`decide-timeout (nobody decided in ${s} s: the default applies)`);
    const r = await c.decide({ decision: { action: action.action as 'emulate', values }, seq });
    if (!r.ok && r.code !== 'conflict') this.opts.log(`session ${this.id}: trap #${seq}: the decide timeout could not apply the default: ${r.error}`);
    await c.close();
  }

  /** A client asked to continue: the runner drives again after decisions. */
  resumeDriving() { this.auto = true; }
  /**
   * Clients whose decisions leave the guest at the trap for them to continue (gdb:
   * it believes the guest stopped until its own continue); anyone else's decision
   * runs the guest on.
   */
  private readonly holders = new Set<string>();
  hold(client: string) { this.holders.add(client); }
  /** A holder has gone: the runner drives on from a trap it left decided. */
  release(client: string) { this.holders.delete(client); void this.drive(); }
  /** A client paused or stepped: the clients drive. */
  stopDriving() { this.auto = false; }

  /** Runs the guest until it stops where a person decides, or ends. */
  private async drive() {
    if (this.driving || this.closed) return;
    this.driving = true;
    try {
      while (this.auto && !this.closed && this.session.state === 'stopped' && this.pendingSeq === undefined) {
        const r = await this.runner.cont();
        if (!r.ok) { if (r.code !== 'busy') this.opts.log(`session ${this.id}: ${r.error}`); break; }
        if (r.value.reason !== 'trap') break;
      }
    } finally {
      this.driving = false;
    }
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    await this.runner.close();
    await this.session.close();
    this.emit('closed');
  }
}
