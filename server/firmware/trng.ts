// TRNG firmware interface 1.0 (DEN0098) backed by a seeded generator, so that a run
// can be replayed bit for bit. This is not entropy: it is a debugging firmware.
import { MASK32, MASK64 } from '../decode/format.js';
import { parseSmcccId, serviceRangeOf } from '../decode/smccc.js';
import { TRNG_MAX_BITS, TRNG_RET } from '../decode/trng.js';
import { callableBy, ok, uuidToRegs, type FirmwareFunction, type FirmwareHost } from './common.js';

export const TRNG_VERSION_1_0 = 0x10000;

/**
 * TRNG_GET_UUID answer: this firmware's own identity (a random v4 UUID chosen once
 * for Trapdoor), returned as SMCCC packs UUIDs: w0 = 0x87c3e29d ... w3 = 0x47108128.
 */
export const TRAPDOOR_TRNG_UUID = '9de2c387-d8b3-4780-bd01-081d28811047';

/** splitmix64: tiny, full-period over 2^64 seeds, good enough to look random. */
export class SplitMix64 {
  private state: bigint;
  constructor(seed: number | bigint) {
    if (typeof seed === 'number' && !Number.isFinite(seed)) throw new RangeError(`TRNG seed must be a finite number, not ${seed}`);
    this.state = BigInt(typeof seed === 'number' ? Math.trunc(seed) : seed) & MASK64;
  }
  next(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
}

function isTrngId(id: number): boolean {
  const f = parseSmcccId(id);
  return f.fast && serviceRangeOf(f)?.service === 'TRNG';
}

/**
 * N random bits laid out as DEN0098 places them: the least significant bits in x3,
 * then x2, then x1; bits above N are zero. Registers are 64-bit for SMC64, 32 for SMC32.
 */
export function placeRandomBits(bits: number, width: 32 | 64, next: () => bigint): [bigint, bigint, bigint] {
  let r = 0n;
  for (let i = 0; i < Math.ceil(bits / 64); i++) r |= next() << BigInt(64 * i);
  r &= (1n << BigInt(bits)) - 1n;
  const w = BigInt(width);
  const mask = width === 64 ? MASK64 : MASK32;
  return [(r >> (2n * w)) & mask, (r >> w) & mask, r & mask];
}

export function trngFunctions(fw: FirmwareHost): FirmwareFunction[] {
  return [
    { name: 'TRNG_VERSION', respond: () => ok(TRNG_VERSION_1_0), constant: true },
    {
      name: 'TRNG_FEATURES',
      respond: (c) => {
        const id = Number(c.arg(1) & MASK32);
        return ok(isTrngId(id) && callableBy(fw, c.ctx.arch, id) ? TRNG_RET.SUCCESS : TRNG_RET.NOT_SUPPORTED);
      },
    },
    { name: 'TRNG_GET_UUID', respond: () => ok(...uuidToRegs(TRAPDOOR_TRNG_UUID)), constant: true },
    {
      name: 'TRNG_RND',
      respond: (c) => {
        const n = c.arg(1) & MASK32;
        if (n < 1n || n > BigInt(TRNG_MAX_BITS[c.callconv])) return ok(TRNG_RET.INVALID_PARAMETERS, 0, 0, 0);
        return ok(TRNG_RET.SUCCESS, ...placeRandomBits(Number(n), c.callconv, () => fw.nextRandom64()));
      },
    },
  ];
}
