// Power State Coordination Interface 0.2-1.3 (Arm DEN0022): 0x84000000 + n (SMC32)
// and 0xc4000000 + n (SMC64) for the functions the spec gives an SMC64 variant.
import { formatHex } from './format.js';
import { makeSmcccId, OWNER_NUM, type SmcccCallRow } from './smccc.js';

interface PsciFunction {
  fn: number;
  name: string;
  args: string[];
  /** The spec defines an SMC64 variant (all take an address or an MPIDR). */
  smc64: boolean;
  since: string;
  queries?: number;
  describe?: SmcccCallRow['describe'];
}

/** PSCI return codes (DEN0022 table "Return error codes"). */
export const PSCI_RET = {
  SUCCESS: 0,
  NOT_SUPPORTED: -1,
  INVALID_PARAMS: -2,
  DENIED: -3,
  ALREADY_ON: -4,
  ON_PENDING: -5,
  INTERNAL_FAILURE: -6,
  NOT_PRESENT: -7,
  DISABLED: -8,
  INVALID_ADDRESS: -9,
} as const;

/** AFFINITY_INFO results. */
export const PSCI_AFFINITY = { ON: 0, OFF: 1, ON_PENDING: 2 } as const;

/** MIGRATE_INFO_TYPE results. */
export const PSCI_MIGRATE_TYPE = { UP_MIGRATE_CAPABLE: 0, UP_NOT_MIGRATE_CAPABLE: 1, NOT_PRESENT_OR_NOT_REQUIRED: 2 } as const;

/** SYSTEM_RESET2 reset_type: bit 31 set = vendor-specific; architectural type 0 is the only one defined. */
export const PSCI_RESET2 = { SYSTEM_WARM_RESET: 0, VENDOR_BIT: 0x80000000 } as const;

export function describeResetType(resetType: bigint): string {
  const t = Number(resetType & 0xffffffffn);
  if ((t & PSCI_RESET2.VENDOR_BIT) !== 0) return `vendor ${formatHex(t & 0x7fffffff)}`;
  return t === PSCI_RESET2.SYSTEM_WARM_RESET ? 'SYSTEM_WARM_RESET' : 'invalid';
}

/** SYSTEM_OFF2 type (PSCI 1.3): bit 31 set = vendor-specific; HIBERNATE_OFF (0x1) is the only architectural one. */
export const PSCI_OFF2 = { HIBERNATE_OFF: 0x1, VENDOR_BIT: 0x80000000 } as const;

export function describeOffType(type: bigint): string {
  const t = Number(type & 0xffffffffn);
  if ((t & PSCI_OFF2.VENDOR_BIT) !== 0) return `vendor ${formatHex(t & 0x7fffffff)}`;
  return t === PSCI_OFF2.HIBERNATE_OFF ? 'HIBERNATE_OFF' : 'invalid';
}

/** power_state in the original (not extended) StateID format. */
function describePowerState([ps]: bigint[]): Record<string, string | number> {
  const v = Number((ps ?? 0n) & 0xffffffffn);
  return {
    state_type: (v >>> 16) & 1 ? 'powerdown' : 'standby',
    state_id: v & 0xffff,
    power_level: (v >>> 24) & 3,
  };
}

const PSCI_FUNCTIONS: readonly PsciFunction[] = [
  { fn: 0x00, name: 'PSCI_VERSION', args: [], smc64: false, since: '0.2' },
  { fn: 0x01, name: 'PSCI_CPU_SUSPEND', args: ['power_state', 'entry', 'context'], smc64: true, since: '0.2', describe: describePowerState },
  { fn: 0x02, name: 'PSCI_CPU_OFF', args: [], smc64: false, since: '0.2' },
  { fn: 0x03, name: 'PSCI_CPU_ON', args: ['target_cpu', 'entry', 'context'], smc64: true, since: '0.2' },
  { fn: 0x04, name: 'PSCI_AFFINITY_INFO', args: ['target_affinity', 'lowest_affinity_level'], smc64: true, since: '0.2' },
  { fn: 0x05, name: 'PSCI_MIGRATE', args: ['target_cpu'], smc64: true, since: '0.2' },
  { fn: 0x06, name: 'PSCI_MIGRATE_INFO_TYPE', args: [], smc64: false, since: '0.2' },
  { fn: 0x07, name: 'PSCI_MIGRATE_INFO_UP_CPU', args: [], smc64: true, since: '0.2' },
  { fn: 0x08, name: 'PSCI_SYSTEM_OFF', args: [], smc64: false, since: '0.2' },
  { fn: 0x09, name: 'PSCI_SYSTEM_RESET', args: [], smc64: false, since: '0.2' },
  { fn: 0x0a, name: 'PSCI_FEATURES', args: ['func'], smc64: false, since: '1.0', queries: 0 },
  { fn: 0x0b, name: 'PSCI_CPU_FREEZE', args: [], smc64: false, since: '1.0' },
  { fn: 0x0c, name: 'PSCI_CPU_DEFAULT_SUSPEND', args: ['entry', 'context'], smc64: true, since: '1.0' },
  { fn: 0x0d, name: 'PSCI_NODE_HW_STATE', args: ['target_cpu', 'power_level'], smc64: true, since: '1.0' },
  { fn: 0x0e, name: 'PSCI_SYSTEM_SUSPEND', args: ['entry', 'context'], smc64: true, since: '1.0' },
  { fn: 0x0f, name: 'PSCI_SET_SUSPEND_MODE', args: ['mode'], smc64: false, since: '1.0' },
  { fn: 0x10, name: 'PSCI_STAT_RESIDENCY', args: ['target_cpu', 'power_state'], smc64: true, since: '1.0' },
  { fn: 0x11, name: 'PSCI_STAT_COUNT', args: ['target_cpu', 'power_state'], smc64: true, since: '1.0' },
  {
    fn: 0x12, name: 'PSCI_SYSTEM_RESET2', args: ['reset_type', 'cookie'], smc64: true, since: '1.1',
    describe: ([t]) => ({ reset_kind: describeResetType(t ?? 0n) }),
  },
  { fn: 0x13, name: 'PSCI_MEM_PROTECT', args: ['enable'], smc64: false, since: '1.1' },
  { fn: 0x14, name: 'PSCI_MEM_PROTECT_CHECK_RANGE', args: ['base', 'length'], smc64: true, since: '1.1' },
  {
    fn: 0x15, name: 'PSCI_SYSTEM_OFF2', args: ['type', 'cookie'], smc64: true, since: '1.3',
    describe: ([t]) => ({ off_type: describeOffType(t ?? 0n) }),
  },
];

function psciRows(): SmcccCallRow[] {
  const rows: SmcccCallRow[] = [];
  for (const f of PSCI_FUNCTIONS) {
    for (const cc of f.smc64 ? ([32, 64] as const) : ([32] as const)) {
      const row: SmcccCallRow = {
        id: makeSmcccId(true, cc, OWNER_NUM.stdSecure, f.fn),
        name: f.name,
        service: 'PSCI',
        args: f.args,
        since: f.since,
      };
      if (f.queries !== undefined) row.queries = f.queries;
      if (f.describe) row.describe = f.describe;
      rows.push(row);
    }
  }
  return rows;
}

/** Every PSCI 0.2-1.3 function id, SMC32 and (where defined) SMC64. */
export const PSCI_CALLS: readonly SmcccCallRow[] = psciRows();

/** The PSCI function id of `name` for a calling convention (SMC32 when it has no SMC64 variant). */
export function psciId(name: string, callconv: 32 | 64 = 32): number {
  const f = PSCI_FUNCTIONS.find((p) => p.name === name);
  if (!f) throw new Error(`unknown PSCI function ${name}`);
  return makeSmcccId(true, f.smc64 ? callconv : 32, OWNER_NUM.stdSecure, f.fn);
}
