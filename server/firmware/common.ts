// What every built-in service shares: the row type of the firmware function table,
// the view of the Firmware a service may use, and small answer builders.
import { regValue } from '../decode/smccc-calls.js';
import type { CallContext, DecodedCall, GuestArch } from '../decode/types.js';
import type { FirmwareAnswer, FirmwareConfig } from './types.js';

/** Generic SMCCC return codes (DEN0028). PSCI and TRNG have their own tables. */
export const SMCCC_RET = { SUCCESS: 0, NOT_SUPPORTED: -1, NOT_REQUIRED: -2, INVALID_PARAMETER: -3 } as const;

/** One call being answered, with its arguments already masked to the call's width. */
export interface FwCall {
  ctx: CallContext;
  call: DecodedCall;
  id: number;
  callconv: 32 | 64;
  /** vCPU making the call. */
  cpu: number;
  /** Register n (x1 = 1) as the callee sees it: low 32 bits for SMC32/HVC32. */
  arg(n: number): bigint;
}

/**
 * One implemented function. `name` is the decode table's name; the Firmware resolves
 * it to every id with that name (PSCI_CPU_ON -> 0x84000003 and 0xc4000003), so the
 * decode tables stay the one list of ids.
 */
export interface FirmwareFunction {
  name: string;
  respond(c: FwCall): FirmwareAnswer;
  /**
   * The answer is the same every time (it reads no argument, no memory, no state
   * that changes while the session lives, and has no effect): the trap path may
   * answer a repeated call from its cache (e.g. the ARCH_WORKAROUND_1 a Linux
   * guest makes at every context switch) without calling respond again.
   */
  constant?: true;
}

/** The part of a Firmware a service may use while answering. */
export interface FirmwareHost {
  readonly config: Readonly<FirmwareConfig>;
  /** Whether the firmware answers this function id (after config). */
  implements(id: number): boolean;
  /** Every implemented function id, ascending. */
  implementedIds(): number[];
  /** Power state per vCPU (PSCI). */
  readonly cpuOn: boolean[];
  /** Next 64 bits of the seeded TRNG stream. */
  nextRandom64(): bigint;
}

/**
 * Whether a guest in `arch` state could call `id` and get an answer: implemented,
 * and not an SMC64/HVC64 id from AArch32 (which the firmware refuses).
 */
export function callableBy(fw: Pick<FirmwareHost, 'implements'>, arch: GuestArch, id: number): boolean {
  return fw.implements(id) && !((id & 0x40000000) !== 0 && arch !== 'aarch64');
}

export function ok(...regs: (bigint | number)[]): FirmwareAnswer {
  return { handled: true, regs: regs.map((r) => BigInt(r)) };
}

export const NOT_SUPPORTED: Readonly<FirmwareAnswer> = Object.freeze({ handled: false, regs: [-1n] });

export function notSupported(note?: string): FirmwareAnswer {
  return note ? { handled: false, regs: [-1n], note } : { handled: false, regs: [-1n] };
}

export function fwCall(ctx: CallContext, call: DecodedCall, id: number): FwCall {
  const callconv: 32 | 64 = (id & 0x40000000) !== 0 ? 64 : 32;
  return { ctx, call, id, callconv, cpu: ctx.cpu ?? 0, arg: (n) => regValue(ctx, n, callconv) };
}

/**
 * A UUID as the four registers SMCCC returns it in (Call UID, TRNG_GET_UUID): bytes
 * 0..3 in w0, 4..7 in w1 and so on, each word little-endian, as Linux reads them.
 */
export function uuidToRegs(uuid: string): [bigint, bigint, bigint, bigint] {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  const bytes = Buffer.from(hex, 'hex');
  return [0, 4, 8, 12].map((o) => BigInt(bytes.readUInt32LE(o))) as [bigint, bigint, bigint, bigint];
}

