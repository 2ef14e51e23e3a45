// What a packet handler sees and what it may answer. Handlers translate one
// packet family to Session calls; they never touch the socket: the connection
// (connection.ts) frames replies, maps errors to `Exx` and runs the guest.
import type { SessionClient } from '../server/session/client.js';
import type { AddressSpace, MemResult } from '../server/machine/memory.js';
import type { RegDef } from '../server/machine/registers.js';
import type { GdbError } from './errors.js';
import type { Points } from './points.js';

/** The guest runs; the stop reply is sent when it stops. */
export interface Resume { resume: 'continue' | 'step' }
/** `vCont;t` and `?`: answer with the current stop, running nothing. */
export interface ReportStop { report: 'stop' }
/** The client leaves: `D` (OK, then gdb closes) or `k` (no reply is read). */
export interface Leave { leave: 'detach' | 'kill' }
/** Console lines (sent as `O` packets) before the reply: `qRcmd`. */
export interface WithOutput { output: string[]; reply: string | GdbError }

/** A packet's answer: '' means "not supported", as the protocol says. */
export type Reply = string | GdbError | Resume | ReportStop | Leave | WithOutput;

export type Handler = (stub: Stub, args: string) => Reply | Promise<Reply>;

/** One packet family: its packets and the qSupported features it implements. */
export interface PacketFamily {
  packets: Record<string, Handler>;
  /** Advertised in the qSupported reply: only what this family really does. */
  features?: (stub: Stub) => string[];
}

/** The memory map, with RAM readable at once (shared memory). */
export interface GdbMemory extends AddressSpace {
  read(addr: bigint, len: number): MemResult<Uint8Array>;
  describe(): { kind: 'ram' | 'mmio'; name: string; base: bigint; size: bigint }[];
}

/**
 * What a gdb connection holds of the session: a SessionClient served on the
 * emulation thread (hosted.ts), with what only a connection there needs.
 */
export interface GdbSession extends SessionClient {
  readonly memory: GdbMemory;
  /**
   * Registers as gdb carries them (little-endian hex of each one's size), read
   * now on this thread; undefined for a name the CPU does not have. The guest is
   * stopped whenever gdb asks (a run has this thread until it stops).
   */
  targetRegisters(names: readonly string[]): (string | undefined)[];
  /**
   * A stop reply as one frame (`$...#cs`): `head`, then `regnum:value;` for each
   * register, read now; undefined when it cannot be built so (the connection
   * builds it from targetRegisters then).
   */
  stopFrame(head: string, names: readonly string[], regnums: readonly number[]): Buffer | undefined;
  /** The connection busy-polls its event loop (true) or no longer does. */
  busyPolling(on: boolean): void;
  /** The guest runs on without this client (it detached): nobody waits for the stop. */
  runOn(): void;
}

export interface Stub {
  /** This connection's client of the session (its breakpoints, its decisions). */
  readonly session: GdbSession;
  /** Registers in g/G order (sorted by regnum). */
  readonly layout: readonly RegDef[];
  readonly byRegnum: ReadonlyMap<number, RegDef>;
  /** The largest packet we accept and send (advertised as PacketSize). */
  readonly packetSize: number;
  /** Features gdb announced in its qSupported (e.g. swbreak+). */
  gdbFeatures: Set<string>;
  /** Breakpoints and watchpoints this client set. */
  readonly points: Points;
  /** `!` received: gdb reads replies after `k`. */
  extended: boolean;
  /** The qSupported reply: every family's features. */
  advertise(): string;
  /** Turn acks off after the reply to QStartNoAckMode has gone out. */
  startNoAck(): void;
  log(line: string): void;
}
