// Types shared by the pure decoders. No I/O and no emulator here: numbers and
// bytes in, typed records out. Every front-end renders a DecodedCall the same way.

export type GuestArch = 'aarch64' | 'aarch32' | 'thumb';
export type Conduit = 'smc' | 'hvc';

/** What the decoder needs to know about one trapped call. */
export interface CallContext {
  arch: GuestArch;
  conduit: Conduit;
  /** SMC #imm / HVC #imm */
  imm: number;
  /**
   * x0..x17 (aarch64) or r0..r14 (aarch32/thumb), as unsigned 64-bit values. A
   * typed array on the trap hot path (no BigInt allocation per register).
   */
  args: ArrayLike<bigint>;
  /** Index of the vCPU that made the call (0 when absent). PSCI CPU_ON/OFF need it for SMP. */
  cpu?: number;
  /** Legacy platform table to consult (`--platform highbank`), if any. */
  platform?: string;
  /**
   * Reads guest memory (guest virtual address); null when unmapped. Decoders use it
   * for hypercall argument structs (e.g. PHYSDEVOP_pci_device_add).
   */
  readMem?: (addr: bigint, len: number) => Uint8Array | null;
}

/** One named argument of a decoded call, rendered as hex (64-bit safe). */
export interface DecodedArg {
  name: string;
  value: string;
}

export type DecodedKind = 'smccc' | 'xen' | 'legacy' | 'unknown';

export interface DecodedCall {
  kind: DecodedKind;
  /** 'arch' | 'cpu' | 'sip' | 'oem' | 'std-secure' | 'std-hyp' | 'vendor-hyp' | 'trusted-app' | 'trusted-os' | 'reserved' | 'xen' | platform name */
  owner: string;
  /** e.g. 'PSCI_CPU_ON', 'SMCCC_VERSION', 'xen_version', 'HIGHBANK_L2_CTRL', 'UNKNOWN' */
  name: string;
  /** SMCCC function id (w0) when kind is smccc, as "0x84000003". */
  id?: string;
  /** SMCCC fast call (bit 31). */
  fast?: boolean;
  /** SMC32/HVC32 (32) or SMC64/HVC64 (64). */
  callconv?: 32 | 64;
  /** Service family, e.g. 'PSCI', 'TRNG', 'ARCH', 'PV_TIME', 'XEN'. */
  service?: string;
  /** Named arguments, already truncated to 32 bits for SMC32/HVC32 calls. */
  args: DecodedArg[];
  /** Extra decoded facts (owner number, sub-op, struct fields read from memory, ...). */
  fields: Record<string, string | number | boolean>;
  /** Which decode rule matched, e.g. 'smccc', 'xen-hvc-0xea1', 'legacy:highbank'. */
  rule: string;
  /** One line, e.g. `PSCI CPU_ON(target_cpu=0x1, entry=0x40080000, context=0x0)`. */
  summary: string;
}
