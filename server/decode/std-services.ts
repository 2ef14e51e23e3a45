// The smaller standard secure services (owner 4): Arm MM 1.0 (DEN0060), Errata
// management 1.0 (DEN0100), DRTM 1.0 (DEN0113), PCI configuration access 1.0
// (DEN0115), and Arm CCA: RMM 1.0 (DEN0137) RMI and RSI.
import { OWNER_NUM, serviceRows, type ServiceFunction, type SmcccCallRow } from './smccc.js';

const MM: readonly ServiceFunction[] = [
  { fn: 0x40, name: 'MM_VERSION', args: [], forms: 32, since: '1.0' },
  { fn: 0x41, name: 'MM_COMMUNICATE', args: ['comm_buffer', 'comm_size_address', 'reserved'], forms: 'both', since: '1.0' },
];

const EM: readonly ServiceFunction[] = [
  { fn: 0xf0, name: 'EM_VERSION', args: [], forms: 32, since: '1.0' },
  { fn: 0xf1, name: 'EM_FEATURES', args: ['func'], forms: 32, since: '1.0', queries: 0 },
  { fn: 0xf2, name: 'EM_CPU_ERRATUM_FEATURES', args: ['erratum_id', 'forward_flag'], forms: 32, since: '1.0' },
];

/** DRTM: every function is SMC64; 0x112 is unused. */
const DRTM: readonly ServiceFunction[] = [
  { fn: 0x110, name: 'DRTM_VERSION', args: [], forms: 64, since: '1.0' },
  { fn: 0x111, name: 'DRTM_FEATURES', args: ['feature'], forms: 64, since: '1.0' },
  { fn: 0x113, name: 'DRTM_UNPROTECT_MEMORY', args: [], forms: 64, since: '1.0' },
  { fn: 0x114, name: 'DRTM_DYNAMIC_LAUNCH', args: ['launch_params'], forms: 64, since: '1.0' },
  { fn: 0x115, name: 'DRTM_CLOSE_LOCALITY', args: ['locality'], forms: 64, since: '1.0' },
  { fn: 0x116, name: 'DRTM_GET_ERROR', args: [], forms: 64, since: '1.0' },
  { fn: 0x117, name: 'DRTM_SET_ERROR', args: ['error_code'], forms: 64, since: '1.0' },
  { fn: 0x118, name: 'DRTM_SET_TCB_HASH', args: ['hash_table'], forms: 64, since: '1.0' },
  { fn: 0x119, name: 'DRTM_LOCK_TCB_HASHES', args: [], forms: 64, since: '1.0' },
];

const PCI_SIZES: Readonly<Record<number, string>> = { 1: '8-bit', 2: '16-bit', 4: '32-bit' };
/** x1 = segment << 16 | bus << 8 | device << 3 | function. */
function sbdf([a, , size]: bigint[]): Record<string, string> {
  const v = Number((a ?? 0n) & 0xffffffffn);
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return { sbdf: `${h(v >>> 16, 4)}:${h((v >>> 8) & 0xff, 2)}:${h((v >>> 3) & 0x1f, 2)}.${v & 7}`, access: PCI_SIZES[Number(size ?? 0n)] ?? 'invalid' };
}

const PCI: readonly ServiceFunction[] = [
  { fn: 0x130, name: 'PCI_VERSION', args: [], forms: 32, since: '1.0' },
  { fn: 0x131, name: 'PCI_FEATURES', args: ['func'], forms: 32, since: '1.0', queries: 0 },
  { fn: 0x132, name: 'PCI_READ', args: ['sbdf', 'offset', 'access_size'], forms: 32, since: '1.0', describe: sbdf },
  { fn: 0x133, name: 'PCI_WRITE', args: ['sbdf', 'offset', 'access_size', 'value'], forms: 32, since: '1.0', describe: sbdf },
  { fn: 0x134, name: 'PCI_SEG_INFO', args: ['segment'], forms: 32, since: '1.0' },
];

/** Realm Management Interface (host to RMM), all SMC64; 0x156, 0x160 and 0x163 are unused. */
const RMI: readonly ServiceFunction[] = [
  { fn: 0x150, name: 'RMI_VERSION', args: ['requested_version'], forms: 64 },
  { fn: 0x151, name: 'RMI_GRANULE_DELEGATE', args: ['addr'], forms: 64 },
  { fn: 0x152, name: 'RMI_GRANULE_UNDELEGATE', args: ['addr'], forms: 64 },
  { fn: 0x153, name: 'RMI_DATA_CREATE', args: ['rd', 'data', 'ipa', 'src', 'flags'], forms: 64 },
  { fn: 0x154, name: 'RMI_DATA_CREATE_UNKNOWN', args: ['rd', 'data', 'ipa'], forms: 64 },
  { fn: 0x155, name: 'RMI_DATA_DESTROY', args: ['rd', 'ipa'], forms: 64 },
  { fn: 0x157, name: 'RMI_REALM_ACTIVATE', args: ['rd'], forms: 64 },
  { fn: 0x158, name: 'RMI_REALM_CREATE', args: ['rd', 'params'], forms: 64 },
  { fn: 0x159, name: 'RMI_REALM_DESTROY', args: ['rd'], forms: 64 },
  { fn: 0x15a, name: 'RMI_REC_CREATE', args: ['rd', 'rec', 'params'], forms: 64 },
  { fn: 0x15b, name: 'RMI_REC_DESTROY', args: ['rec'], forms: 64 },
  { fn: 0x15c, name: 'RMI_REC_ENTER', args: ['rec', 'run'], forms: 64 },
  { fn: 0x15d, name: 'RMI_RTT_CREATE', args: ['rd', 'rtt', 'ipa', 'level'], forms: 64 },
  { fn: 0x15e, name: 'RMI_RTT_DESTROY', args: ['rd', 'ipa', 'level'], forms: 64 },
  { fn: 0x15f, name: 'RMI_RTT_MAP_UNPROTECTED', args: ['rd', 'ipa', 'level', 'desc'], forms: 64 },
  { fn: 0x161, name: 'RMI_RTT_READ_ENTRY', args: ['rd', 'ipa', 'level'], forms: 64 },
  { fn: 0x162, name: 'RMI_RTT_UNMAP_UNPROTECTED', args: ['rd', 'ipa', 'level'], forms: 64 },
  { fn: 0x164, name: 'RMI_PSCI_COMPLETE', args: ['calling_rec', 'target_rec', 'status'], forms: 64 },
  { fn: 0x165, name: 'RMI_FEATURES', args: ['index'], forms: 64 },
  { fn: 0x166, name: 'RMI_RTT_FOLD', args: ['rd', 'ipa', 'level'], forms: 64 },
  { fn: 0x167, name: 'RMI_REC_AUX_COUNT', args: ['rd'], forms: 64 },
  { fn: 0x168, name: 'RMI_RTT_INIT_RIPAS', args: ['rd', 'base', 'top'], forms: 64 },
  { fn: 0x169, name: 'RMI_RTT_SET_RIPAS', args: ['rd', 'rec', 'base', 'top'], forms: 64 },
];

/** Realm Services Interface (realm to RMM), all SMC64. */
const RSI: readonly ServiceFunction[] = [
  { fn: 0x190, name: 'RSI_VERSION', args: ['requested_version'], forms: 64 },
  { fn: 0x191, name: 'RSI_FEATURES', args: ['index'], forms: 64 },
  { fn: 0x192, name: 'RSI_MEASUREMENT_READ', args: ['index'], forms: 64 },
  { fn: 0x193, name: 'RSI_MEASUREMENT_EXTEND', args: ['index', 'size', 'value0', 'value1', 'value2', 'value3', 'value4', 'value5', 'value6', 'value7'], forms: 64 },
  { fn: 0x194, name: 'RSI_ATTESTATION_TOKEN_INIT', args: ['challenge0', 'challenge1', 'challenge2', 'challenge3', 'challenge4', 'challenge5', 'challenge6', 'challenge7'], forms: 64 },
  { fn: 0x195, name: 'RSI_ATTESTATION_TOKEN_CONTINUE', args: ['buffer', 'offset', 'size'], forms: 64 },
  { fn: 0x196, name: 'RSI_REALM_CONFIG', args: ['config'], forms: 64 },
  { fn: 0x197, name: 'RSI_IPA_STATE_SET', args: ['base', 'top', 'ripas', 'flags'], forms: 64 },
  { fn: 0x198, name: 'RSI_IPA_STATE_GET', args: ['base', 'top'], forms: 64 },
  { fn: 0x199, name: 'RSI_HOST_CALL', args: ['host_call'], forms: 64 },
];

const S = OWNER_NUM.stdSecure;
export const MM_CALLS: readonly SmcccCallRow[] = serviceRows(S, 'MM', MM);
export const EM_CALLS: readonly SmcccCallRow[] = serviceRows(S, 'EM', EM);
export const DRTM_CALLS: readonly SmcccCallRow[] = serviceRows(S, 'DRTM', DRTM);
export const PCI_CALLS: readonly SmcccCallRow[] = serviceRows(S, 'PCI', PCI);
export const RMI_CALLS: readonly SmcccCallRow[] = serviceRows(S, 'RMI', RMI);
export const RSI_CALLS: readonly SmcccCallRow[] = serviceRows(S, 'RSI', RSI);
