// Arm Firmware Framework for A-profile (FF-A) 1.2 (Arm DEN0077A), owner 4,
// function numbers 0x60-0x8e. FF-A passes endpoint ids as sender << 16 | receiver
// and 64-bit handles as two 32-bit halves.
import { formatHex } from './format.js';
import { OWNER_NUM, serviceRows, type ServiceFunction, type SmcccCallRow } from './smccc.js';

/** FF-A error codes (DEN0077A "Error codes"), returned in w2 of FFA_ERROR. */
export const FFA_RET = {
  NOT_SUPPORTED: -1, INVALID_PARAMETERS: -2, NO_MEMORY: -3, BUSY: -4, INTERRUPTED: -5,
  DENIED: -6, RETRY: -7, ABORTED: -8, NO_DATA: -9,
} as const;

export const FFA_ID = { ERROR: 0x84000060, SUCCESS: 0x84000061, VERSION: 0x84000063, FEATURES: 0x84000064 } as const;

const MEM_TRANSACTION = ['total_length', 'fragment_length', 'buffer_address', 'page_count'];
const DIRECT_MSG = ['endpoints', 'flags', 'arg3', 'arg4', 'arg5', 'arg6', 'arg7'];
const NOTIFICATION = ['endpoints', 'flags', 'bitmap_lo', 'bitmap_hi'];

/** w1 = sender << 16 | receiver. */
function endpoints([e]: bigint[]): Record<string, string> {
  const v = Number((e ?? 0n) & 0xffffffffn);
  return { sender: formatHex(v >>> 16), receiver: formatHex(v & 0xffff) };
}

/** An FF-A version word: bit 31 zero, major in bits 30:16, minor in 15:0. */
function version([v]: bigint[]): Record<string, string> {
  const w = Number((v ?? 0n) & 0xffffffffn);
  return { requested_version: (w & 0x80000000) !== 0 ? 'invalid (bit 31 set)' : `${(w >>> 16) & 0x7fff}.${w & 0xffff}` };
}

const FFA_FUNCTIONS: readonly ServiceFunction[] = [
  { fn: 0x60, name: 'FFA_ERROR', args: ['target_info', 'error_code'], forms: 32, since: '1.0' },
  { fn: 0x61, name: 'FFA_SUCCESS', args: ['target_info', 'arg2', 'arg3', 'arg4', 'arg5', 'arg6', 'arg7'], forms: 'both', since: '1.0' },
  { fn: 0x62, name: 'FFA_INTERRUPT', args: ['target_info', 'interrupt_id'], forms: 32, since: '1.0' },
  { fn: 0x63, name: 'FFA_VERSION', args: ['input_version'], forms: 32, since: '1.0', describe: version },
  { fn: 0x64, name: 'FFA_FEATURES', args: ['feature_id', 'input_properties'], forms: 32, since: '1.0', queries: 0 },
  { fn: 0x65, name: 'FFA_RX_RELEASE', args: ['vm_id'], forms: 32, since: '1.0' },
  { fn: 0x66, name: 'FFA_RXTX_MAP', args: ['tx_address', 'rx_address', 'page_count'], forms: 'both', since: '1.0' },
  { fn: 0x67, name: 'FFA_RXTX_UNMAP', args: ['vm_id'], forms: 32, since: '1.0' },
  { fn: 0x68, name: 'FFA_PARTITION_INFO_GET', args: ['uuid0', 'uuid1', 'uuid2', 'uuid3', 'flags'], forms: 32, since: '1.0' },
  { fn: 0x69, name: 'FFA_ID_GET', args: [], forms: 32, since: '1.0' },
  { fn: 0x6a, name: 'FFA_MSG_POLL', args: ['vcpu'], forms: 32, since: '1.0' },
  { fn: 0x6b, name: 'FFA_MSG_WAIT', args: ['reserved', 'flags'], forms: 32, since: '1.0' },
  { fn: 0x6c, name: 'FFA_YIELD', args: ['target_info', 'timeout_lo', 'timeout_hi'], forms: 32, since: '1.0' },
  { fn: 0x6d, name: 'FFA_RUN', args: ['target_info'], forms: 32, since: '1.0' },
  { fn: 0x6e, name: 'FFA_MSG_SEND', args: ['endpoints', 'reserved', 'length', 'attributes'], forms: 32, since: '1.0', describe: endpoints },
  { fn: 0x6f, name: 'FFA_MSG_SEND_DIRECT_REQ', args: DIRECT_MSG, forms: 'both', since: '1.0', describe: endpoints },
  { fn: 0x70, name: 'FFA_MSG_SEND_DIRECT_RESP', args: DIRECT_MSG, forms: 'both', since: '1.0', describe: endpoints },
  { fn: 0x71, name: 'FFA_MEM_DONATE', args: MEM_TRANSACTION, forms: 'both', since: '1.0' },
  { fn: 0x72, name: 'FFA_MEM_LEND', args: MEM_TRANSACTION, forms: 'both', since: '1.0' },
  { fn: 0x73, name: 'FFA_MEM_SHARE', args: MEM_TRANSACTION, forms: 'both', since: '1.0' },
  { fn: 0x74, name: 'FFA_MEM_RETRIEVE_REQ', args: MEM_TRANSACTION, forms: 'both', since: '1.0' },
  { fn: 0x75, name: 'FFA_MEM_RETRIEVE_RESP', args: ['total_length', 'fragment_length'], forms: 32, since: '1.0' },
  { fn: 0x76, name: 'FFA_MEM_RELINQUISH', args: [], forms: 32, since: '1.0' },
  { fn: 0x77, name: 'FFA_MEM_RECLAIM', args: ['handle_lo', 'handle_hi', 'flags'], forms: 32, since: '1.0' },
  { fn: 0x78, name: 'FFA_MEM_OP_PAUSE', args: ['handle_lo', 'handle_hi'], forms: 32, since: '1.0' },
  { fn: 0x79, name: 'FFA_MEM_OP_RESUME', args: ['handle_lo', 'handle_hi'], forms: 32, since: '1.0' },
  { fn: 0x7a, name: 'FFA_MEM_FRAG_RX', args: ['handle_lo', 'handle_hi', 'fragment_offset', 'endpoint_id'], forms: 32, since: '1.0' },
  { fn: 0x7b, name: 'FFA_MEM_FRAG_TX', args: ['handle_lo', 'handle_hi', 'fragment_length', 'endpoint_id'], forms: 32, since: '1.0' },
  { fn: 0x7c, name: 'FFA_NORMAL_WORLD_RESUME', args: [], forms: 32, since: '1.0' },
  { fn: 0x7d, name: 'FFA_NOTIFICATION_BITMAP_CREATE', args: ['vm_id', 'vcpu_count'], forms: 32, since: '1.1' },
  { fn: 0x7e, name: 'FFA_NOTIFICATION_BITMAP_DESTROY', args: ['vm_id'], forms: 32, since: '1.1' },
  { fn: 0x7f, name: 'FFA_NOTIFICATION_BIND', args: NOTIFICATION, forms: 32, since: '1.1', describe: endpoints },
  { fn: 0x80, name: 'FFA_NOTIFICATION_UNBIND', args: NOTIFICATION, forms: 32, since: '1.1', describe: endpoints },
  { fn: 0x81, name: 'FFA_NOTIFICATION_SET', args: NOTIFICATION, forms: 32, since: '1.1', describe: endpoints },
  { fn: 0x82, name: 'FFA_NOTIFICATION_GET', args: ['vcpu_receiver', 'flags'], forms: 32, since: '1.1' },
  { fn: 0x83, name: 'FFA_NOTIFICATION_INFO_GET', args: [], forms: 'both', since: '1.1' },
  { fn: 0x84, name: 'FFA_RX_ACQUIRE', args: ['vm_id'], forms: 32, since: '1.1' },
  { fn: 0x85, name: 'FFA_SPM_ID_GET', args: [], forms: 32, since: '1.1' },
  { fn: 0x86, name: 'FFA_MSG_SEND2', args: ['sender_id', 'flags'], forms: 32, since: '1.1' },
  { fn: 0x87, name: 'FFA_SECONDARY_EP_REGISTER', args: ['entry'], forms: 'both', since: '1.1' },
  { fn: 0x88, name: 'FFA_MEM_PERM_GET', args: ['base_va', 'page_count'], forms: 'both', since: '1.1' },
  { fn: 0x89, name: 'FFA_MEM_PERM_SET', args: ['base_va', 'page_count', 'attributes'], forms: 'both', since: '1.1' },
  { fn: 0x8a, name: 'FFA_CONSOLE_LOG', args: ['length', 'chars0', 'chars1', 'chars2', 'chars3', 'chars4', 'chars5'], forms: 'both', since: '1.2' },
  { fn: 0x8b, name: 'FFA_PARTITION_INFO_GET_REGS', args: ['uuid_lo', 'uuid_hi', 'start_index_tag'], forms: 64, since: '1.2' },
  { fn: 0x8c, name: 'FFA_EL3_INTR_HANDLE', args: [], forms: 32, since: '1.2' },
  {
    fn: 0x8d, name: 'FFA_MSG_SEND_DIRECT_REQ2', forms: 64, since: '1.2', describe: endpoints,
    args: ['endpoints', 'uuid_lo', 'uuid_hi', 'arg4', 'arg5', 'arg6', 'arg7', 'arg8', 'arg9', 'arg10', 'arg11', 'arg12', 'arg13', 'arg14', 'arg15', 'arg16', 'arg17'],
  },
  {
    fn: 0x8e, name: 'FFA_MSG_SEND_DIRECT_RESP2', forms: 64, since: '1.2', describe: endpoints,
    args: ['endpoints', 'reserved2', 'reserved3', 'arg4', 'arg5', 'arg6', 'arg7', 'arg8', 'arg9', 'arg10', 'arg11', 'arg12', 'arg13', 'arg14', 'arg15', 'arg16', 'arg17'],
  },
];

/** Every FF-A 1.2 function id, SMC32 and (where the spec has one) SMC64. */
export const FFA_CALLS: readonly SmcccCallRow[] = serviceRows(OWNER_NUM.stdSecure, 'FFA', FFA_FUNCTIONS);
