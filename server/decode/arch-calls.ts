// Arm Architecture Service calls (owner 0), SMCCC 1.1-1.6 (DEN0028).
import type { SmcccCallRow } from './smccc.js';

export const ARCH_ID = {
  SMCCC_VERSION: 0x80000000,
  ARCH_FEATURES: 0x80000001,
  ARCH_SOC_ID: 0x80000002,
  /** SMC64 form, SMCCC 1.6: the only one that can return the SoC name (type 2) in x1..x17. */
  ARCH_SOC_ID64: 0xc0000002,
  ARCH_FEATURE_AVAILABILITY: 0x80000003,
  ARCH_WORKAROUND_4: 0x80000004,
  ARCH_WORKAROUND_1: 0x80008000,
  ARCH_WORKAROUND_2: 0x80007fff,
  ARCH_WORKAROUND_3: 0x80003fff,
} as const;

/** SoC_ID_type: 0 SoC version, 1 SoC revision (SMCCC 1.2), 2 SoC name (SMCCC 1.6, SMC64 only). */
export const SOC_ID_TYPE = { VERSION: 0, REVISION: 1, NAME: 2 } as const;
const SOC_ID_TYPES: Readonly<Record<number, string>> = { 0: 'version', 1: 'revision', 2: 'name' };
const socIdType: SmcccCallRow['describe'] = ([t]) => ({ soc_id_type: SOC_ID_TYPES[Number(t ?? 0n)] ?? 'invalid' });

export const ARCH_CALLS: readonly SmcccCallRow[] = [
  { id: ARCH_ID.SMCCC_VERSION, name: 'SMCCC_VERSION', service: 'ARCH', args: [], since: '1.1' },
  { id: ARCH_ID.ARCH_FEATURES, name: 'ARCH_FEATURES', service: 'ARCH', args: ['func_id'], queries: 0, since: '1.1' },
  { id: ARCH_ID.ARCH_SOC_ID, name: 'ARCH_SOC_ID', service: 'ARCH', args: ['soc_id_type'], since: '1.2', describe: socIdType },
  { id: ARCH_ID.ARCH_SOC_ID64, name: 'ARCH_SOC_ID', service: 'ARCH', args: ['soc_id_type'], since: '1.6', describe: socIdType },
  { id: ARCH_ID.ARCH_FEATURE_AVAILABILITY, name: 'ARCH_FEATURE_AVAILABILITY', service: 'ARCH', args: ['register'], since: '1.5' },
  { id: ARCH_ID.ARCH_WORKAROUND_4, name: 'ARCH_WORKAROUND_4', service: 'ARCH', args: [], since: '1.5' },
  { id: ARCH_ID.ARCH_WORKAROUND_1, name: 'ARCH_WORKAROUND_1', service: 'ARCH', args: [], since: '1.1' },
  { id: ARCH_ID.ARCH_WORKAROUND_2, name: 'ARCH_WORKAROUND_2', service: 'ARCH', args: ['enable'], since: '1.1' },
  { id: ARCH_ID.ARCH_WORKAROUND_3, name: 'ARCH_WORKAROUND_3', service: 'ARCH', args: [], since: '1.4' },
];
