// True Random Number Generator firmware interface 1.0 (Arm DEN0098), owner 4, 0x50-0x5f.
import type { SmcccCallRow } from './smccc.js';

export const TRNG_ID = {
  VERSION: 0x84000050,
  FEATURES: 0x84000051,
  GET_UUID: 0x84000052,
  RND32: 0x84000053,
  RND64: 0xc4000053,
} as const;

/** TRNG return codes (DEN0098): deliberately separate from the generic SMCCC ones. */
export const TRNG_RET = { SUCCESS: 0, NOT_SUPPORTED: -1, INVALID_PARAMETERS: -2, NO_ENTROPY: -3 } as const;

/** Largest N for TRNG_RND: three registers of 32 (SMC32) or 64 (SMC64) bits. */
export const TRNG_MAX_BITS = { 32: 96, 64: 192 } as const;

export const TRNG_CALLS: readonly SmcccCallRow[] = [
  { id: TRNG_ID.VERSION, name: 'TRNG_VERSION', service: 'TRNG', args: [], since: '1.0' },
  { id: TRNG_ID.FEATURES, name: 'TRNG_FEATURES', service: 'TRNG', args: ['func'], queries: 0, since: '1.0' },
  { id: TRNG_ID.GET_UUID, name: 'TRNG_GET_UUID', service: 'TRNG', args: [], since: '1.0' },
  { id: TRNG_ID.RND32, name: 'TRNG_RND', service: 'TRNG', args: ['bits'], since: '1.0' },
  { id: TRNG_ID.RND64, name: 'TRNG_RND', service: 'TRNG', args: ['bits'], since: '1.0' },
];
