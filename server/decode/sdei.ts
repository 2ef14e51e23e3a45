// Software Delegated Exception Interface (Arm DEN0054), owner 4, 0x20-0x3f. All SMC64.
import { makeSmcccId, OWNER_NUM, type SmcccCallRow } from './smccc.js';

const SDEI_FUNCTIONS: ReadonlyArray<[number, string, string[], string]> = [
  [0x20, 'SDEI_VERSION', [], '1.0'],
  [0x21, 'SDEI_EVENT_REGISTER', ['event', 'entry', 'arg', 'flags', 'affinity'], '1.0'],
  [0x22, 'SDEI_EVENT_ENABLE', ['event'], '1.0'],
  [0x23, 'SDEI_EVENT_DISABLE', ['event'], '1.0'],
  [0x24, 'SDEI_EVENT_CONTEXT', ['param_id'], '1.0'],
  [0x25, 'SDEI_EVENT_COMPLETE', ['status'], '1.0'],
  [0x26, 'SDEI_EVENT_COMPLETE_AND_RESUME', ['resume_addr'], '1.0'],
  [0x27, 'SDEI_EVENT_UNREGISTER', ['event'], '1.0'],
  [0x28, 'SDEI_EVENT_STATUS', ['event'], '1.0'],
  [0x29, 'SDEI_EVENT_GET_INFO', ['event', 'info'], '1.0'],
  [0x2a, 'SDEI_EVENT_ROUTING_SET', ['event', 'routing_mode', 'affinity'], '1.0'],
  [0x2b, 'SDEI_PE_MASK', [], '1.0'],
  [0x2c, 'SDEI_PE_UNMASK', [], '1.0'],
  [0x2d, 'SDEI_INTERRUPT_BIND', ['intid'], '1.0'],
  [0x2e, 'SDEI_INTERRUPT_RELEASE', ['event'], '1.0'],
  [0x2f, 'SDEI_EVENT_SIGNAL', ['event', 'target_pe'], '1.1'],
  [0x30, 'SDEI_FEATURES', ['feature'], '1.1'],
  [0x31, 'SDEI_PRIVATE_RESET', [], '1.0'],
  [0x32, 'SDEI_SHARED_RESET', [], '1.0'],
];

export const SDEI_CALLS: readonly SmcccCallRow[] = SDEI_FUNCTIONS.map(([fn, name, args, since]) => ({
  id: makeSmcccId(true, 64, OWNER_NUM.stdSecure, fn),
  name,
  service: 'SDEI',
  args,
  since,
}));
