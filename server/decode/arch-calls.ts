// Arm Architecture Service calls (owner 0), SMCCC 1.1-1.4 (DEN0028).
import type { SmcccCallRow } from './smccc.js';

export const ARCH_ID = {
  SMCCC_VERSION: 0x80000000,
  ARCH_FEATURES: 0x80000001,
  ARCH_SOC_ID: 0x80000002,
  ARCH_WORKAROUND_1: 0x80008000,
  ARCH_WORKAROUND_2: 0x80007fff,
  ARCH_WORKAROUND_3: 0x80003fff,
} as const;

const SOC_ID_TYPES: Readonly<Record<number, string>> = { 0: 'version', 1: 'revision', 2: 'name' };

export const ARCH_CALLS: readonly SmcccCallRow[] = [
  { id: ARCH_ID.SMCCC_VERSION, name: 'SMCCC_VERSION', service: 'ARCH', args: [], since: '1.1' },
  { id: ARCH_ID.ARCH_FEATURES, name: 'ARCH_FEATURES', service: 'ARCH', args: ['func_id'], queries: 0, since: '1.1' },
  {
    id: ARCH_ID.ARCH_SOC_ID, name: 'ARCH_SOC_ID', service: 'ARCH', args: ['soc_id_type'], since: '1.2',
    describe: ([t]) => ({ soc_id_type: SOC_ID_TYPES[Number(t ?? 0n)] ?? 'invalid' }),
  },
  { id: ARCH_ID.ARCH_WORKAROUND_1, name: 'ARCH_WORKAROUND_1', service: 'ARCH', args: [], since: '1.1' },
  { id: ARCH_ID.ARCH_WORKAROUND_2, name: 'ARCH_WORKAROUND_2', service: 'ARCH', args: ['enable'], since: '1.1' },
  { id: ARCH_ID.ARCH_WORKAROUND_3, name: 'ARCH_WORKAROUND_3', service: 'ARCH', args: [], since: '1.4' },
];
