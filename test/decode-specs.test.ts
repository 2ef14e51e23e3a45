// The decode tables checked id by id against the specifications that define them.
// The expected ids are written out here as the specs (and the Linux / TF-A headers
// that implement them) give them, not computed from the tables under test.
import { describe, expect, it } from 'vitest';
import { decodeCall, decodeId, SMCCC_CALLS } from '../server/decode/index.js';

function names(pairs: Array<[number, string]>): void {
  for (const [id, name] of pairs) {
    const d = decodeId(id);
    expect(d.name, `0x${id.toString(16)}`).toBe(name);
    expect(d.fields.warning, `0x${id.toString(16)} has no warning`).toBeUndefined();
  }
}

const argNames = (id: number): string[] => decodeId(id).args.map((a) => a.name);

describe('FF-A 1.2 (DEN0077A) function ids', () => {
  it('names every SMC32 function', () => {
    names([
      [0x84000060, 'FFA_ERROR'], [0x84000061, 'FFA_SUCCESS'], [0x84000062, 'FFA_INTERRUPT'],
      [0x84000063, 'FFA_VERSION'], [0x84000064, 'FFA_FEATURES'], [0x84000065, 'FFA_RX_RELEASE'],
      [0x84000066, 'FFA_RXTX_MAP'], [0x84000067, 'FFA_RXTX_UNMAP'], [0x84000068, 'FFA_PARTITION_INFO_GET'],
      [0x84000069, 'FFA_ID_GET'], [0x8400006a, 'FFA_MSG_POLL'], [0x8400006b, 'FFA_MSG_WAIT'],
      [0x8400006c, 'FFA_YIELD'], [0x8400006d, 'FFA_RUN'], [0x8400006e, 'FFA_MSG_SEND'],
      [0x8400006f, 'FFA_MSG_SEND_DIRECT_REQ'], [0x84000070, 'FFA_MSG_SEND_DIRECT_RESP'],
      [0x84000071, 'FFA_MEM_DONATE'], [0x84000072, 'FFA_MEM_LEND'], [0x84000073, 'FFA_MEM_SHARE'],
      [0x84000074, 'FFA_MEM_RETRIEVE_REQ'], [0x84000075, 'FFA_MEM_RETRIEVE_RESP'],
      [0x84000076, 'FFA_MEM_RELINQUISH'], [0x84000077, 'FFA_MEM_RECLAIM'],
      [0x8400007a, 'FFA_MEM_FRAG_RX'], [0x8400007b, 'FFA_MEM_FRAG_TX'], [0x8400007c, 'FFA_NORMAL_WORLD_RESUME'],
      [0x8400007d, 'FFA_NOTIFICATION_BITMAP_CREATE'], [0x8400007e, 'FFA_NOTIFICATION_BITMAP_DESTROY'],
      [0x8400007f, 'FFA_NOTIFICATION_BIND'], [0x84000080, 'FFA_NOTIFICATION_UNBIND'],
      [0x84000081, 'FFA_NOTIFICATION_SET'], [0x84000082, 'FFA_NOTIFICATION_GET'],
      [0x84000083, 'FFA_NOTIFICATION_INFO_GET'], [0x84000084, 'FFA_RX_ACQUIRE'], [0x84000085, 'FFA_SPM_ID_GET'],
      [0x84000086, 'FFA_MSG_SEND2'], [0x84000087, 'FFA_SECONDARY_EP_REGISTER'],
      [0x84000088, 'FFA_MEM_PERM_GET'], [0x84000089, 'FFA_MEM_PERM_SET'], [0x8400008a, 'FFA_CONSOLE_LOG'],
      [0x8400008c, 'FFA_EL3_INTR_HANDLE'],
    ]);
  });

  it('names the SMC64 forms, and the FF-A 1.2 calls that exist only as SMC64', () => {
    names([
      [0xc4000061, 'FFA_SUCCESS'], [0xc4000066, 'FFA_RXTX_MAP'], [0xc400006f, 'FFA_MSG_SEND_DIRECT_REQ'],
      [0xc4000070, 'FFA_MSG_SEND_DIRECT_RESP'], [0xc4000071, 'FFA_MEM_DONATE'], [0xc4000072, 'FFA_MEM_LEND'],
      [0xc4000073, 'FFA_MEM_SHARE'], [0xc4000074, 'FFA_MEM_RETRIEVE_REQ'], [0xc4000083, 'FFA_NOTIFICATION_INFO_GET'],
      [0xc4000087, 'FFA_SECONDARY_EP_REGISTER'], [0xc4000088, 'FFA_MEM_PERM_GET'], [0xc4000089, 'FFA_MEM_PERM_SET'],
      [0xc400008a, 'FFA_CONSOLE_LOG'], [0xc400008b, 'FFA_PARTITION_INFO_GET_REGS'],
      [0xc400008d, 'FFA_MSG_SEND_DIRECT_REQ2'], [0xc400008e, 'FFA_MSG_SEND_DIRECT_RESP2'],
    ]);
    // FFA_VERSION and FFA_FEATURES have no SMC64 form; DIRECT_REQ2 no SMC32 one
    expect(decodeId(0xc4000063).fields.warning).toBe('no such function: FFA_VERSION has no SMC64 form (its SMC32 id is 0x84000063)');
    expect(decodeId(0x8400008d).fields.warning).toMatch(/FFA_MSG_SEND_DIRECT_REQ2 has no SMC32 form/);
  });

  it('names the arguments: version, endpoints, memory transactions, RX/TX buffers', () => {
    const v = decodeId(0x84000063, [0x10002n]);
    expect(v.summary).toBe('FFA VERSION(input_version=0x10002)');
    expect(v.fields.requested_version).toBe('1.2');
    const req = decodeId(0xc400006f, [0x80010002n, 0n, 0x11n]);
    expect(req.args.map((a) => a.name)).toEqual(['endpoints', 'flags', 'arg3', 'arg4', 'arg5', 'arg6', 'arg7']);
    expect(req.fields).toMatchObject({ sender: '0x8001', receiver: '0x2' });
    expect(argNames(0x84000073)).toEqual(['total_length', 'fragment_length', 'buffer_address', 'page_count']);
    expect(argNames(0xc4000066)).toEqual(['tx_address', 'rx_address', 'page_count']);
    expect(argNames(0x84000077)).toEqual(['handle_lo', 'handle_hi', 'flags']);
    expect(decodeId(0x84000064, [0x84000063n]).summary).toBe('FFA FEATURES(feature_id=0x84000063 FFA_VERSION, input_properties=0x0)');
    expect(argNames(0xc400008d).slice(0, 3)).toEqual(['endpoints', 'uuid_lo', 'uuid_hi']);
  });
});

describe('PSCI 1.3 (DEN0022F) function ids', () => {
  it('names SYSTEM_OFF2 in both forms with its type and cookie', () => {
    names([[0x84000015, 'PSCI_SYSTEM_OFF2'], [0xc4000015, 'PSCI_SYSTEM_OFF2']]);
    const d = decodeId(0xc4000015, [1n, 0n]);
    expect(d.summary).toBe('PSCI SYSTEM_OFF2(type=0x1, cookie=0x0)');
    expect(d.fields.off_type).toBe('HIBERNATE_OFF');
  });

  it('says 0xC4000000 does not exist: PSCI_VERSION has no SMC64 form', () => {
    const d = decodeId(0xc4000000);
    expect(d.name).toBe('PSCI_CALL_0x0000');
    expect(d.fields.warning).toBe('no such function: PSCI_VERSION has no SMC64 form (its SMC32 id is 0x84000000)');
    expect(d.summary).toMatch(/\[warning: no such function: PSCI_VERSION has no SMC64 form/);
  });

  it('says an unallocated PSCI number does not exist', () => {
    expect(decodeId(0x8400001f).fields.warning).toBe('no such function: PSCI defines no function 0x8400001f');
  });
});

describe('SMCCC 1.6 (DEN0028) Arm Architecture Calls, chapter 7', () => {
  it('names FEATURE_AVAILABILITY, WORKAROUND_4 and both SOC_ID forms', () => {
    names([
      [0x80000000, 'SMCCC_VERSION'], [0x80000001, 'ARCH_FEATURES'], [0x80000002, 'ARCH_SOC_ID'],
      [0xc0000002, 'ARCH_SOC_ID'], [0x80000003, 'ARCH_FEATURE_AVAILABILITY'], [0x80000004, 'ARCH_WORKAROUND_4'],
      [0x80008000, 'ARCH_WORKAROUND_1'], [0x80007fff, 'ARCH_WORKAROUND_2'], [0x80003fff, 'ARCH_WORKAROUND_3'],
    ]);
    expect(argNames(0x80000003)).toEqual(['register']);
  });

  it('names the SoC_ID types: version, revision, name', () => {
    expect(decodeId(0x80000002, [0n]).fields.soc_id_type).toBe('version');
    expect(decodeId(0x80000002, [1n]).fields.soc_id_type).toBe('revision');
    expect(decodeId(0xc0000002, [2n]).fields.soc_id_type).toBe('name');
    expect(decodeId(0x80000002, [7n]).fields.soc_id_type).toBe('invalid');
  });

  it('says an unallocated architecture call does not exist', () => {
    expect(decodeId(0x80000010).fields.warning).toBe('no such function: 0x80000010 is not allocated by the Arm specifications');
  });

  it('says an SMCCC call made with a non-zero SMC immediate is not an SMCCC call (SMCCC DEN0028: SMCCC calls are SMC #0)', () => {
    const d = decodeCall({ arch: 'aarch64', conduit: 'smc', imm: 1, args: [0x84000000n] });
    expect(d.name).toBe('PSCI_VERSION');
    expect(d.fields.warning).toBe('SMCCC calls use SMC #0: SMC #0x1 is not an SMCCC call');
    expect(d.summary).toBe('PSCI VERSION() [warning: SMCCC calls use SMC #0: SMC #0x1 is not an SMCCC call]');
    expect(decodeCall({ arch: 'aarch64', conduit: 'smc', imm: 0, args: [0x84000000n] }).fields.warning).toBeUndefined();
  });
});

describe('Arm MM 1.0 (DEN0060), Errata management 1.0 (DEN0100), DRTM 1.0 (DEN0113), PCI config access 1.0 (DEN0115)', () => {
  it('names MM_VERSION and both MM_COMMUNICATE forms', () => {
    names([[0x84000040, 'MM_VERSION'], [0x84000041, 'MM_COMMUNICATE'], [0xc4000041, 'MM_COMMUNICATE']]);
    expect(argNames(0xc4000041)).toEqual(['comm_buffer', 'comm_size_address', 'reserved']);
  });

  it('names the errata management ABI (EM_VERSION 0x840000F0 ...)', () => {
    names([[0x840000f0, 'EM_VERSION'], [0x840000f1, 'EM_FEATURES'], [0x840000f2, 'EM_CPU_ERRATUM_FEATURES']]);
    expect(argNames(0x840000f2)).toEqual(['erratum_id', 'forward_flag']);
  });

  it('names the DRTM calls (all SMC64, 0xC4000110-0xC4000119 without 0x112)', () => {
    names([
      [0xc4000110, 'DRTM_VERSION'], [0xc4000111, 'DRTM_FEATURES'], [0xc4000113, 'DRTM_UNPROTECT_MEMORY'],
      [0xc4000114, 'DRTM_DYNAMIC_LAUNCH'], [0xc4000115, 'DRTM_CLOSE_LOCALITY'], [0xc4000116, 'DRTM_GET_ERROR'],
      [0xc4000117, 'DRTM_SET_ERROR'], [0xc4000118, 'DRTM_SET_TCB_HASH'], [0xc4000119, 'DRTM_LOCK_TCB_HASHES'],
    ]);
    expect(decodeId(0xc4000112).fields.warning).toBe('no such function: DRTM defines no function 0xc4000112');
  });

  it('names the PCI configuration access calls 0x84000130-0x84000134 and reads the address', () => {
    names([
      [0x84000130, 'PCI_VERSION'], [0x84000131, 'PCI_FEATURES'], [0x84000132, 'PCI_READ'],
      [0x84000133, 'PCI_WRITE'], [0x84000134, 'PCI_SEG_INFO'],
    ]);
    const d = decodeId(0x84000132, [0x0001_0a11n, 0x10n, 4n]);
    expect(d.summary).toBe('PCI READ(sbdf=0x10a11, offset=0x10, access_size=0x4)');
    expect(d.fields).toMatchObject({ sbdf: '0001:0a:02.1', access: '32-bit' });
  });
});

describe('Arm CCA: RMM 1.0 (DEN0137) RMI and RSI command ids', () => {
  it('names the RMI commands (host to RMM, SMC64)', () => {
    names([
      [0xc4000150, 'RMI_VERSION'], [0xc4000151, 'RMI_GRANULE_DELEGATE'], [0xc4000152, 'RMI_GRANULE_UNDELEGATE'],
      [0xc4000153, 'RMI_DATA_CREATE'], [0xc4000154, 'RMI_DATA_CREATE_UNKNOWN'], [0xc4000155, 'RMI_DATA_DESTROY'],
      [0xc4000157, 'RMI_REALM_ACTIVATE'], [0xc4000158, 'RMI_REALM_CREATE'], [0xc4000159, 'RMI_REALM_DESTROY'],
      [0xc400015a, 'RMI_REC_CREATE'], [0xc400015b, 'RMI_REC_DESTROY'], [0xc400015c, 'RMI_REC_ENTER'],
      [0xc400015d, 'RMI_RTT_CREATE'], [0xc400015e, 'RMI_RTT_DESTROY'], [0xc400015f, 'RMI_RTT_MAP_UNPROTECTED'],
      [0xc4000161, 'RMI_RTT_READ_ENTRY'], [0xc4000162, 'RMI_RTT_UNMAP_UNPROTECTED'], [0xc4000164, 'RMI_PSCI_COMPLETE'],
      [0xc4000165, 'RMI_FEATURES'], [0xc4000166, 'RMI_RTT_FOLD'], [0xc4000167, 'RMI_REC_AUX_COUNT'],
      [0xc4000168, 'RMI_RTT_INIT_RIPAS'], [0xc4000169, 'RMI_RTT_SET_RIPAS'],
    ]);
    expect(argNames(0xc400015c)).toEqual(['rec', 'run']);
  });

  it('names the RSI commands a realm (Linux arch/arm64/include/asm/rsi_smc.h) makes', () => {
    names([
      [0xc4000190, 'RSI_VERSION'], [0xc4000191, 'RSI_FEATURES'], [0xc4000192, 'RSI_MEASUREMENT_READ'],
      [0xc4000193, 'RSI_MEASUREMENT_EXTEND'], [0xc4000194, 'RSI_ATTESTATION_TOKEN_INIT'],
      [0xc4000195, 'RSI_ATTESTATION_TOKEN_CONTINUE'], [0xc4000196, 'RSI_REALM_CONFIG'],
      [0xc4000197, 'RSI_IPA_STATE_SET'], [0xc4000198, 'RSI_IPA_STATE_GET'], [0xc4000199, 'RSI_HOST_CALL'],
    ]);
    expect(argNames(0xc4000197)).toEqual(['base', 'top', 'ripas', 'flags']);
  });
});

describe('KVM vendor hypervisor calls Linux makes (include/linux/arm-smccc.h, ARM_SMCCC_KVM_FUNC_*)', () => {
  it('names features, PTP, pKVM memory sharing and MMIO guard, and the implementation discovery calls', () => {
    names([
      [0x86000000, 'KVM_FEATURES'], [0x86000001, 'KVM_PTP'], [0xc6000002, 'KVM_HYP_MEMINFO'],
      [0xc6000003, 'KVM_MEM_SHARE'], [0xc6000004, 'KVM_MEM_UNSHARE'], [0xc6000007, 'KVM_MMIO_GUARD'],
      [0xc6000040, 'KVM_DISCOVER_IMPL_VER'], [0xc6000041, 'KVM_DISCOVER_IMPL_CPUS'],
      [0x8600ff01, 'VENDOR_HYP_CALL_UID'], [0x8600ff03, 'VENDOR_HYP_REVISION'],
    ]);
    expect(argNames(0xc6000007)).toEqual(['ipa']);
  });
});

describe('SMCCC 1.6 (DEN0028) General Service Queries of the standard services', () => {
  it('names CALL_COUNT, CALL_UID and REVISION of the standard secure and hypervisor services', () => {
    names([
      [0x8400ff00, 'STD_SECURE_CALL_COUNT'], [0x8400ff01, 'STD_SECURE_CALL_UID'], [0x8400ff03, 'STD_SECURE_REVISION'],
      [0x8500ff00, 'STD_HYP_CALL_COUNT'], [0x8500ff01, 'STD_HYP_CALL_UID'], [0x8500ff03, 'STD_HYP_REVISION'],
    ]);
  });

  it('every named id decodes without a warning', () => {
    for (const row of SMCCC_CALLS) expect(decodeId(row.id).fields.warning, row.name).toBeUndefined();
  });
});
