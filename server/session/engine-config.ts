// How the Session configures the engine in its worker (sent once, at init).
import type { CpuArch } from '../machine/registers.js';
import type { RamRegion } from '../machine/memory.js';
import type { FirmwareConfig } from '../firmware/types.js';
import type { PolicySpec } from '../policy/rules.js';

export type ForwardFallback = 'error' | 'undef' | 'stop';

export interface EngineConfig {
  arch: CpuArch;
  /** Index of this vCPU. */
  vcpu: number;
  ram: Pick<RamRegion, 'name' | 'base' | 'size' | 'buf'>[];
  /** This vCPU's control block (shared with native/trapdoor.c). */
  ctl: SharedArrayBuffer;
  /** The session's shared block (flow.ts): global trap seq, output flow control. */
  shared: SharedArrayBuffer;
  entry: bigint;
  /** PL011 UART base for guest output (null: none). */
  uart: bigint | null;
  platform?: string;
  policy: PolicySpec;
  firmware: Partial<FirmwareConfig>;
  forward?: { endpoint: string; timeoutMs: number; fallback: ForwardFallback };
  trapLog?: string;
  /** false: an `ask` decision takes the policy default at once (no one to ask). */
  interactive: boolean;
  countBlocks: boolean;
  /** Keep this many records for `traps` queries. */
  keep?: number;
  /** Send every record to the Session as it happens (default true). */
  subscribed?: boolean;
  /**
   * Single steps as runs to breakpoints on the next possible PCs (default true);
   * false uses Unicorn's counted run, which drops the translation cache at every
   * switch between stepping and running.
   */
  softStep?: boolean;
}
