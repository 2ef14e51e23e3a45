import type { CallContext, DecodedCall } from '../decode/types.js';

/** How the built-in firmware answers configurable questions. */
export interface FirmwareConfig {
  /** SMCCC_ARCH_FEATURES(SOC_ID): null = NOT_SUPPORTED, else the SoC id answers. */
  socId: {
    /** JEP-106 bank index << 8 | identification code, as Linux prints it ("jep106:043b" = Arm). */
    jep106: number;
    revision: number;
    /** Implementation-defined SoC id, bits[15:0] of the SoC version (0 when absent). */
    soc?: number;
    /** SoC name (SoC_ID_type 2, SMCCC 1.6: SMC64 only), at most 135 bytes of UTF-8. */
    name?: string;
  } | null;
  /**
   * ARCH_FEATURES answers for the Spectre workarounds (x0 as a signed number):
   * 0 = implemented and needed, 1 = not needed (WORKAROUND_2/3 semantics), -1 = NOT_SUPPORTED.
   */
  workaround1: number;
  workaround2: number;
  workaround3: number;
  /** Seed of the TRNG_RND generator, so runs are reproducible. */
  trngSeed: number;
  /** Number of vCPUs (1 until SMP exists). */
  cpus: number;
}

/**
 * Side effect of a firmware call that the run loop must act on, named after what
 * the guest asked for (SYSTEM_RESET2 is not SYSTEM_RESET).
 */
export type FirmwareEffect = 'system_off' | 'system_reset' | 'system_reset2' | 'cpu_off' | 'cpu_on' | 'xen_shutdown';

export interface FirmwareAnswer {
  /** false when no responder implements the call (then regs is [-1]: NOT_SUPPORTED). */
  handled: boolean;
  /** Values for x0, x1, ... (signed allowed; the machine masks to register width). */
  regs: bigint[];
  effect?: FirmwareEffect;
  /** For effects: e.g. reset type, or CPU_ON target/entry. */
  detail?: Record<string, string>;
  /** Bytes the guest wrote through the firmware (Xen console_io), shown as guest output. */
  output?: Uint8Array;
  /** Short note for the log, e.g. 'PSCI 1.1'. */
  note?: string;
  /**
   * Guest memory the run loop must write (guest address as for CallContext.readMem)
   * before resuming, e.g. the OUT half of a hypercall's argument struct.
   */
  memWrites?: { addr: bigint; bytes: Uint8Array }[];
}

export interface Responder {
  /** Answer the call, or return undefined if this responder does not implement it. */
  respond(ctx: CallContext, call: DecodedCall): FirmwareAnswer | undefined;
}
