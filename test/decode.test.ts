import { describe, expect, it } from 'vitest';
import {
  ARCH_CALLS,
  decodeCall,
  decodeId,
  formatHex,
  LEGACY_PLATFORMS,
  PSCI_CALLS,
  SMCCC_CALLS,
  TRNG_CALLS,
  XEN_HYPERCALLS,
  findXenHypercall,
} from '../server/decode/index.js';
import { XENVER, EVTCHNOP, GNTTABOP, VCPUOP, SCHEDOP, PHYSDEVOP, ARGO_OP, XENMEM, HVMOP } from '../server/decode/xen-hypercalls.js';
import type { CallContext, GuestArch } from '../server/decode/types.js';

// ---------------------------------------------------------------------------
// helpers

function smc(args: bigint[], extra: Partial<CallContext> = {}): CallContext {
  return { arch: 'aarch64', conduit: 'smc', imm: 0, args, ...extra };
}

/** Registers for a Xen hypercall: number in x16 (aarch64) or r12 (aarch32). */
function xen(nr: number, a: bigint[], extra: Partial<CallContext> = {}, arch: GuestArch = 'aarch64'): CallContext {
  const regs = new Array<bigint>(arch === 'aarch64' ? 18 : 15).fill(0n);
  a.forEach((v, i) => (regs[i] = v));
  regs[arch === 'aarch64' ? 16 : 12] = BigInt(nr);
  return { arch, conduit: 'hvc', imm: 0xea1, args: regs, ...extra };
}

/** AArch32 registers r0..r14 with r12 set. */
function r32(r0: bigint, r12: bigint, rest: bigint[] = []): bigint[] {
  const regs = new Array<bigint>(15).fill(0n);
  regs[0] = r0;
  rest.forEach((v, i) => (regs[i + 1] = v));
  regs[12] = r12;
  return regs;
}

/** A sparse guest memory for readMem. */
function memory(regions: Array<[bigint, Uint8Array]>): (addr: bigint, len: number) => Uint8Array | null {
  return (addr, len) => {
    for (const [base, bytes] of regions) {
      const end = base + BigInt(bytes.length);
      if (addr >= base && addr + BigInt(len) <= end) {
        const off = Number(addr - base);
        return bytes.slice(off, off + len);
      }
    }
    return null;
  };
}

function pciDeviceAdd(seg: number, bus: number, devfn: number, flags: number, physBus = 0, physDevfn = 0, pxm?: number): Uint8Array {
  const b = new Uint8Array(pxm === undefined ? 12 : 16);
  const v = new DataView(b.buffer);
  v.setUint16(0, seg, true);
  v.setUint8(2, bus);
  v.setUint8(3, devfn);
  v.setUint32(4, flags, true);
  v.setUint8(8, physBus);
  v.setUint8(9, physDevfn);
  if (pxm !== undefined) v.setUint32(12, pxm, true);
  return b;
}

const SMC64_PSCI = [
  'PSCI_CPU_SUSPEND', 'PSCI_CPU_ON', 'PSCI_AFFINITY_INFO', 'PSCI_MIGRATE', 'PSCI_MIGRATE_INFO_UP_CPU',
  'PSCI_CPU_DEFAULT_SUSPEND', 'PSCI_NODE_HW_STATE', 'PSCI_SYSTEM_SUSPEND', 'PSCI_STAT_RESIDENCY',
  'PSCI_STAT_COUNT', 'PSCI_SYSTEM_RESET2', 'PSCI_MEM_PROTECT_CHECK_RANGE', 'PSCI_SYSTEM_OFF2',
];

// ---------------------------------------------------------------------------

describe('SMCCC function tables', () => {
  it('every row decodes back to its own name, owner and calling convention', () => {
    for (const row of SMCCC_CALLS) {
      const d = decodeId(row.id);
      expect(d.kind, row.name).toBe('smccc');
      expect(d.name, formatHex(row.id)).toBe(row.name);
      expect(d.service).toBe(row.service);
      expect(d.fast).toBe(true);
      expect(d.callconv).toBe(row.id & 0x40000000 ? 64 : 32);
      expect(d.id).toBe(`0x${row.id.toString(16).padStart(8, '0')}`);
      expect(d.args.map((a) => a.name)).toEqual(row.args);
    }
  });

  it('has one row per id', () => {
    const ids = SMCCC_CALLS.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lists PSCI 0.2-1.3 in SMC32, and in SMC64 exactly where the spec has a variant', () => {
    const names = [...new Set(PSCI_CALLS.map((r) => r.name))];
    expect(names).toHaveLength(22); // function numbers 0x00-0x15
    for (const [n, name] of names.entries()) {
      const d32 = decodeId(0x84000000 + n);
      expect(d32.name).toBe(name);
      expect(d32.owner).toBe('std-secure');
      expect(d32.callconv).toBe(32);
      const d64 = decodeId(0xc4000000 + n);
      expect(d64.callconv).toBe(64);
      expect(d64.owner).toBe('std-secure');
      if (SMC64_PSCI.includes(name)) expect(d64.name).toBe(name);
      else expect(d64.name).toBe(`PSCI_CALL_0x${n.toString(16).padStart(4, '0')}`);
    }
    expect(PSCI_CALLS.filter((r) => r.id & 0x40000000).map((r) => r.name)).toEqual(SMC64_PSCI);
  });

  it('names the arguments of the PSCI calls that take any', () => {
    const args = (id: number): string[] => decodeId(id).args.map((a) => a.name);
    expect(args(0xc4000003)).toEqual(['target_cpu', 'entry', 'context']);
    expect(args(0x84000001)).toEqual(['power_state', 'entry', 'context']);
    expect(args(0xc4000004)).toEqual(['target_affinity', 'lowest_affinity_level']);
    expect(args(0x8400000a)).toEqual(['func']);
    expect(args(0xc4000012)).toEqual(['reset_type', 'cookie']);
    expect(args(0x84000000)).toEqual([]);
  });

  it('covers the Arm architecture calls and TRNG', () => {
    expect(ARCH_CALLS.map((r) => [r.id, r.name])).toEqual([
      [0x80000000, 'SMCCC_VERSION'], [0x80000001, 'ARCH_FEATURES'], [0x80000002, 'ARCH_SOC_ID'],
      [0xc0000002, 'ARCH_SOC_ID'], [0x80000003, 'ARCH_FEATURE_AVAILABILITY'], [0x80000004, 'ARCH_WORKAROUND_4'],
      [0x80008000, 'ARCH_WORKAROUND_1'], [0x80007fff, 'ARCH_WORKAROUND_2'], [0x80003fff, 'ARCH_WORKAROUND_3'],
    ]);
    expect(TRNG_CALLS.map((r) => r.id)).toEqual([0x84000050, 0x84000051, 0x84000052, 0x84000053, 0xc4000053]);
    expect(decodeId(0xc5000020).name).toBe('PV_TIME_FEATURES');
    expect(decodeId(0xc5000021).name).toBe('PV_TIME_ST');
    expect(decodeId(0x8600ff01).name).toBe('VENDOR_HYP_CALL_UID');
    expect(decodeId(0x8600ff03).name).toBe('VENDOR_HYP_REVISION');
    expect(decodeId(0x86000000).name).toBe('KVM_FEATURES');
    expect(decodeId(0x86000001).name).toBe('KVM_PTP');
  });
});

describe('SMCCC id fields', () => {
  it.each([
    [0x80000000, 'arch'], [0x81000000, 'cpu'], [0x82000000, 'sip'], [0x83000000, 'oem'],
    [0x84000000, 'std-secure'], [0x85000000, 'std-hyp'], [0x86000000, 'vendor-hyp'],
    [0x87000000, 'reserved'], [0xaf000000, 'reserved'], [0xb0000000, 'trusted-app'], [0xb1000000, 'trusted-app'],
    [0xb2000000, 'trusted-os'], [0xbf000000, 'trusted-os'], [0xc2000001, 'sip'], [0xf0000000, 'trusted-app'],
    [0xff00ff00, 'trusted-os'],
  ])('id %i belongs to %s', (id, owner) => {
    const d = decodeId(id);
    expect(d.kind).toBe('smccc');
    expect(d.owner).toBe(owner);
    expect(d.fields.owner_num).toBe((id >>> 24) & 0x3f);
    expect(d.fields.function).toBe(id & 0xffff);
  });

  it('decodes calls no table knows by owner, with x1..x6', () => {
    const d = decodeId(0x82000010, [0n, 0x1234n]);
    expect(d.name).toBe('SIP_CALL_0x0010');
    expect(d.args.map((a) => a.name)).toEqual(['x1', 'x2', 'x3', 'x4', 'x5', 'x6']);
    expect(d.summary).toBe('SiP call 0x82000010(x1=0x0, x2=0x1234, x3=0x0, x4=0x0, x5=0x0, x6=0x0)');
    expect(decodeId(0x83000001).name).toBe('OEM_CALL_0x0001');
    expect(decodeId(0xbf000007).name).toBe('TRUSTED_OS_CALL_0x0007');
    // a hole in the standard secure range is named after the service that owns it
    expect(decodeId(0xc400003f).name).toBe('SDEI_CALL_0x003f');
    expect(decodeId(0x84000016).name).toBe('PSCI_CALL_0x0016');
  });

  it('masks SMC32 arguments to 32 bits and keeps SMC64 ones whole', () => {
    const d32 = decodeId(0x84000003, [0xffffffff00000001n, 0xdead00004008_0000n, 0n]);
    expect(d32.args.map((a) => a.value)).toEqual(['0x1', '0x40080000', '0x0']);
    const d64 = decodeId(0xc4000003, [0xffffffff00000001n, 0x40080000n, 0n]);
    expect(d64.args[0]?.value).toBe('0xffffffff00000001');
    // the upper half of x0 does not change the function either
    expect(decodeCall(smc([0xffffffff84000000n])).name).toBe('PSCI_VERSION');
    // unknown SMC32 calls too
    expect(decodeId(0x82000001, [0xabcd00000002n]).args[0]?.value).toBe('0x2');
  });

  it('masks AArch32 registers and warns about SMC64 ids from AArch32', () => {
    const d = decodeCall({ arch: 'aarch32', conduit: 'smc', imm: 0, args: r32(0x84000003n, 0n, [1n, 0x8000n, 0n]) });
    expect(d.summary).toBe('PSCI CPU_ON(target_cpu=0x1, entry=0x8000, context=0x0)');
    const d64 = decodeCall({ arch: 'thumb', conduit: 'hvc', imm: 0, args: r32(0xc4000003n, 0n, [0x1_0000_0001n]) });
    expect(d64.args[0]?.value).toBe('0x1');
    expect(d64.fields.warning).toMatch(/AArch32/);
  });

  it('decodes yielding calls by owner as YIELDING_CALL, only for SMC', () => {
    const d = decodeCall(smc([0x32000004n, 1n]));
    expect(d).toMatchObject({ kind: 'smccc', name: 'YIELDING_CALL', fast: false, owner: 'trusted-os', callconv: 32 });
    expect(d.summary).toMatch(/^Trusted OS yielding call 0x32000004\(x1=0x1, /);
    expect(decodeCall({ ...smc([0x32000004n]), conduit: 'hvc' }).kind).toBe('unknown');
    // fast-call service ranges do not apply to yielding calls
    const y = decodeCall(smc([0x44000050n]));
    expect(y.name).toBe('YIELDING_CALL');
    expect(y.service).toBeUndefined();
    expect(y.summary).toMatch(/^Standard secure yielding call 0x44000050\(/);
  });

  it('reads bit 16 as the SMCCC 1.3 SVE hint and other bits 23:16 as not SMCCC', () => {
    const hinted = decodeId(0x84010000);
    expect(hinted.name).toBe('PSCI_VERSION');
    expect(hinted.fields.sve_hint).toBe(true);
    const d = decodeCall({ arch: 'aarch64', conduit: 'hvc', imm: 0, args: [0x84020000n, 5n, 6n, 7n, 8n] });
    expect(d.kind).toBe('unknown');
    expect(d.name).toBe('UNKNOWN');
    expect(d.args).toEqual([
      { name: 'x0', value: '0x84020000' }, { name: 'x1', value: '0x5' }, { name: 'x2', value: '0x6' }, { name: 'x3', value: '0x7' },
    ]);
  });
});

describe('summaries', () => {
  it.each([
    [0xc4000003, [1n, 0x40080000n, 0n], 'PSCI CPU_ON(target_cpu=0x1, entry=0x40080000, context=0x0)'],
    [0x8400000a, [0x80000000n], 'PSCI FEATURES(func=0x80000000 SMCCC_VERSION)'],
    [0x8400000a, [0xc4000003n], 'PSCI FEATURES(func=0xc4000003 PSCI_CPU_ON)'],
    [0x8400000a, [0x84001234n], 'PSCI FEATURES(func=0x84001234)'],
    [0x80000001, [0x80008000n], 'SMCCC ARCH_FEATURES(func_id=0x80008000 ARCH_WORKAROUND_1)'],
    [0x80000000, [], 'SMCCC VERSION()'],
    [0x80007fff, [1n], 'SMCCC ARCH_WORKAROUND_2(enable=0x1)'],
    [0xc4000053, [64n], 'TRNG RND(bits=0x40)'],
    [0x84000051, [0x84000053n], 'TRNG FEATURES(func=0x84000053 TRNG_RND)'],
    [0x84000000, [], 'PSCI VERSION()'],
    [0x8600ff01, [], 'VENDOR_HYP CALL_UID()'],
    [0xc5000020, [0xc5000021n], 'PV_TIME FEATURES(func=0xc5000021 PV_TIME_ST)'],
  ])('%s', (id, args, summary) => {
    expect(decodeId(id, args).summary).toBe(summary);
  });

  it('adds decoded facts as fields', () => {
    expect(decodeId(0x84000012, [0x80000001n, 0n]).fields.reset_kind).toBe('vendor 0x1');
    expect(decodeId(0x84000012, [0n, 0n]).fields.reset_kind).toBe('SYSTEM_WARM_RESET');
    expect(decodeId(0x84000001, [0x0101_0003n]).fields).toMatchObject({ state_type: 'powerdown', state_id: 3, power_level: 1 });
    expect(decodeId(0x80000002, [1n]).fields.soc_id_type).toBe('revision');
    expect(decodeId(0x8400000a, [0x84000050n]).fields.queried).toBe('TRNG_VERSION');
  });

  it('decodeId is decodeCall for an AArch64 SMC #0', () => {
    const args = [1n, 0x40080000n, 0n];
    expect(decodeId(0xc4000003, args)).toEqual(decodeCall(smc([0xc4000003n, ...args])));
  });

  it('reaches Arm calls through HVC #0 as well', () => {
    expect(decodeCall({ arch: 'aarch64', conduit: 'hvc', imm: 0, args: [0x84000000n] }).name).toBe('PSCI_VERSION');
  });
});

describe('Xen hypercalls', () => {
  it('uses HVC #0xEA1 with the number in x16, and nothing else', () => {
    const d = decodeCall(xen(17, [0n, 0n]));
    expect(d).toMatchObject({ kind: 'xen', owner: 'xen', name: 'xen_version', rule: 'xen-hvc-0xea1', summary: 'XEN xen_version(XENVER_version)' });
    expect(d.fields.nr).toBe(17);
    expect(decodeCall({ ...xen(17, [0x84000000n]), imm: 0 }).name).toBe('PSCI_VERSION');
    expect(decodeCall({ ...xen(17, [0n]), conduit: 'smc' }).kind).not.toBe('xen');
  });

  it('takes the number from r12 and 32-bit arguments on AArch32', () => {
    const d = decodeCall(xen(24, [0xffffffff0000000an, 0x1_0000_0002n], {}, 'aarch32'));
    expect(d.name).toBe('vcpu_op');
    expect(d.fields.subop_name).toBe('VCPUOP_register_vcpu_info');
    expect(d.args[1]?.value).toBe('0x2');
    expect(d.summary).toBe('XEN vcpu_op(VCPUOP_register_vcpu_info vcpu=2)');
  });

  it('knows the numbers of xen.h', () => {
    const expected: Record<string, number> = {
      set_trap_table: 0, mmu_update: 1, memory_op: 12, xen_version: 17, console_io: 18, grant_table_op: 20,
      vcpu_op: 24, xsm_op: 27, sched_op: 29, event_channel_op: 32, physdev_op: 33, hvm_op: 34, sysctl: 35,
      domctl: 36, argo_op: 39, dm_op: 41, hypfs_op: 42,
    };
    for (const [name, nr] of Object.entries(expected)) expect(findXenHypercall(nr)?.name).toBe(name);
    for (let nr = 0; nr <= 42; nr++) if (nr !== 11) expect(findXenHypercall(nr), `hypercall ${nr}`).toBeDefined();
    for (const row of XEN_HYPERCALLS) expect(decodeCall(xen(row.nr, [])).name).toBe(row.name);
    const unknown = decodeCall(xen(99, [1n]));
    expect(unknown.name).toBe('hypercall_99');
    expect(unknown.summary).toMatch(/^XEN hypercall_99\(a0=0x1, /);
  });

  it.each([
    [17, XENVER, { 0: 'XENVER_version', 7: 'XENVER_pagesize', 10: 'XENVER_build_id' }],
    [12, XENMEM, { 0: 'XENMEM_increase_reservation', 6: 'XENMEM_populate_physmap', 7: 'XENMEM_add_to_physmap', 5: 'XENMEM_machphys_mfn_list', 14: 'XENMEM_maximum_gpfn' }],
    [24, VCPUOP, { 0: 'VCPUOP_initialise', 5: 'VCPUOP_register_runstate_memory_area', 10: 'VCPUOP_register_vcpu_info' }],
    [32, EVTCHNOP, { 0: 'EVTCHNOP_bind_interdomain', 4: 'EVTCHNOP_send', 13: 'EVTCHNOP_set_priority' }],
    [20, GNTTABOP, { 2: 'GNTTABOP_setup_table', 12: 'GNTTABOP_cache_flush' }],
    [29, SCHEDOP, { 0: 'SCHEDOP_yield', 7: 'SCHEDOP_pin_override' }],
    [33, PHYSDEVOP, { 25: 'PHYSDEVOP_pci_device_add', 26: 'PHYSDEVOP_pci_device_remove', 24: 'PHYSDEVOP_pci_mmcfg_reserved' }],
    [39, ARGO_OP, { 1: 'XEN_ARGO_OP_register_ring', 3: 'XEN_ARGO_OP_sendv', 4: 'XEN_ARGO_OP_notify' }],
    [34, HVMOP, { 0: 'HVMOP_set_param', 1: 'HVMOP_get_param', 24: 'HVMOP_guest_request_vm_event' }],
  ])('hypercall %i names its sub-ops', (nr, table, samples) => {
    for (const [cmd, name] of Object.entries(samples)) expect(table[Number(cmd)]).toBe(name);
    for (const [cmd, name] of Object.entries(table)) {
      const d = decodeCall(xen(nr, [BigInt(cmd)]));
      expect(d.fields.subop_name).toBe(name);
      expect(d.summary.startsWith(`XEN ${d.name}(${name}`)).toBe(true);
    }
    const missing = [...Array(64).keys()].find((k) => table[k] === undefined) ?? 64;
    expect(decodeCall(xen(nr, [BigInt(missing)])).fields.subop_name).toBeUndefined();
  });

  it('strips continuation bits from memory_op and grant_table_op commands', () => {
    const mem = decodeCall(xen(12, [6n | (3n << 6n)]));
    expect(mem.fields.subop_name).toBe('XENMEM_populate_physmap');
    expect(mem.fields.continuation).toBe('0xc0');
    expect(decodeCall(xen(20, [5n | (2n << 12n), 0n, 4n])).summary).toBe('XEN grant_table_op(GNTTABOP_copy count=4)');
  });

  it('shows an unknown sub-op by number', () => {
    expect(decodeCall(xen(17, [200n])).summary).toBe('XEN xen_version(cmd=200)');
  });
});

describe('Xen argument structs in guest memory', () => {
  it('decodes PHYSDEVOP_pci_device_add with a virtual function', () => {
    const readMem = memory([[0x4000_1000n, pciDeviceAdd(0, 3, 0x01, 0x2, 3, 0x00)]]);
    const d = decodeCall(xen(33, [25n, 0x4000_1000n], { readMem }));
    expect(d.summary).toBe('XEN physdev_op(PHYSDEVOP_pci_device_add 0000:03:00.1 flags=VIRTFN physfn=03:00.0)');
    expect(d.fields).toMatchObject({ pci: '0000:03:00.1', flags: 'VIRTFN', physfn: '03:00.0' });
  });

  it('decodes segment, device/function, EXTFN and the PXM from optarr[0]', () => {
    const readMem = memory([[0x9000n, pciDeviceAdd(0x10, 0x80, (0x1f << 3) | 7, 0x1 | 0x4, 0, 0, 3)]]);
    const d = decodeCall(xen(33, [25n, 0x9000n], { readMem }));
    expect(d.summary).toBe('XEN physdev_op(PHYSDEVOP_pci_device_add 0010:80:1f.7 flags=EXTFN|PXM pxm=3)');
    expect(d.fields.physfn).toBeUndefined();
  });

  it('decodes pci_device_remove and pci_device_reset', () => {
    const dev = new Uint8Array([0x00, 0x00, 0x05, 0x10, 0x03, 0, 0, 0]); // 0000:05:02.0, FLR
    const readMem = memory([[0x100n, dev]]);
    expect(decodeCall(xen(33, [26n, 0x100n], { readMem })).summary).toBe('XEN physdev_op(PHYSDEVOP_pci_device_remove 0000:05:02.0)');
    expect(decodeCall(xen(33, [32n, 0x100n], { readMem })).summary).toBe('XEN physdev_op(PHYSDEVOP_pci_device_reset 0000:05:02.0 reset=flr)');
  });

  it('reports an unreadable buffer instead of throwing', () => {
    const cases: Array<CallContext['readMem']> = [
      undefined,
      () => null,
      () => new Uint8Array(2),
      () => {
        throw new Error('page fault');
      },
    ];
    for (const readMem of cases) {
      const ctx = xen(33, [25n, 0xdead0000n]);
      if (readMem) ctx.readMem = readMem;
      const d = decodeCall(ctx);
      expect(d.name).toBe('physdev_op');
      expect(d.summary).toBe('XEN physdev_op(PHYSDEVOP_pci_device_add <unreadable 0xdead0000>)');
      expect(String(d.fields.error)).toMatch(/0xdead0000/);
    }
  });

  it('includes console output, escaped and truncated', () => {
    const text = new TextEncoder().encode('Hello from Xen\n\x01');
    const readMem = memory([[0x2000n, text]]);
    const d = decodeCall(xen(18, [0n, BigInt(text.length), 0x2000n], { readMem }));
    expect(d.fields.text).toBe('Hello from Xen\\n\\x01');
    expect(d.summary).toBe('XEN console_io(CONSOLEIO_write count=16 "Hello from Xen\\n\\x01")');

    const long = new TextEncoder().encode('x'.repeat(200));
    const big = decodeCall(xen(18, [0n, 200n, 0x5000n], { readMem: memory([[0x5000n, long]]) }));
    expect(String(big.fields.text)).toHaveLength(80);
    expect(big.fields.truncated).toBe(true);

    const lost = decodeCall(xen(18, [0n, 5n, 0x7000n]));
    expect(lost.fields.error).toBeDefined();
    expect(lost.fields.text).toBeUndefined();
  });

  it('reads the shutdown reason', () => {
    const reasons = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'];
    for (const [code, reason] of reasons.entries()) {
      const readMem = memory([[0x3000n, new Uint8Array([code, 0, 0, 0])]]);
      expect(decodeCall(xen(29, [2n, 0x3000n], { readMem })).summary).toBe(`XEN sched_op(SCHEDOP_shutdown reason=${reason})`);
    }
  });

  it('names HVM params and add_to_physmap spaces', () => {
    const p = new Uint8Array(16);
    new DataView(p.buffer).setUint32(4, 1, true); // HVM_PARAM_STORE_PFN
    expect(decodeCall(xen(34, [1n, 0x10n], { readMem: memory([[0x10n, p]]) })).summary).toBe('XEN hvm_op(HVMOP_get_param HVM_PARAM_STORE_PFN)');
    const m = new Uint8Array(24);
    const v = new DataView(m.buffer);
    v.setUint16(0, 0x7ff0, true);
    v.setUint32(4, 0, true); // shared_info
    v.setBigUint64(16, 0x38000n, true);
    expect(decodeCall(xen(12, [7n, 0x20n], { readMem: memory([[0x20n, m]]) })).summary).toBe(
      'XEN memory_op(XENMEM_add_to_physmap space=shared_info idx=0x0 gpfn=0x38000)',
    );
  });
});

describe('legacy platform calls', () => {
  const highbank = (r0: bigint, r12: bigint): CallContext => ({ arch: 'aarch32', conduit: 'smc', imm: 0, args: r32(r0, r12), platform: 'highbank' });

  it('decodes Highbank r12 = 0x102 as the L2 controller switch', () => {
    const on = decodeCall(highbank(1n, 0x102n));
    expect(on).toMatchObject({ kind: 'legacy', owner: 'highbank', name: 'HIGHBANK_L2_CTRL', rule: 'legacy:highbank', summary: 'Highbank L2X0 ctrl(enable=1)' });
    expect(on.fields.service).toBe(0x102);
    expect(decodeCall(highbank(0n, 0x102n)).summary).toBe('Highbank L2X0 ctrl(enable=0)');
  });

  it('lets a valid SMCCC fast-call id in r0 win over a stale r12', () => {
    const d = decodeCall(highbank(0x84000000n, 0x102n));
    expect(d).toMatchObject({ kind: 'smccc', name: 'PSCI_VERSION', rule: 'smccc' });
    // a reserved owner is not a valid SMCCC id: the legacy table still applies
    expect(decodeCall(highbank(0x87000000n, 0x102n)).kind).toBe('legacy');
  });

  it('falls back to the generic rules for services the table does not know', () => {
    const d = decodeCall(highbank(0x00ff1234n, 0x999n));
    expect(d.kind).toBe('unknown');
    expect(d.fields.platform).toMatch(/highbank/);
  });

  it('does not guess a platform', () => {
    const d = decodeCall({ arch: 'aarch32', conduit: 'smc', imm: 0, args: r32(1n, 0x102n) });
    expect(d.kind).not.toBe('legacy');
    expect(decodeCall({ ...highbank(1n, 0x102n), platform: 'nonesuch' }).fields.platform).toMatch(/no legacy table/);
  });

  it('keys the tables by platform: the same r12 means different things', () => {
    const on = (platform: string, r12: bigint, r0: bigint): string =>
      decodeCall({ arch: 'aarch32', conduit: 'smc', imm: 0, args: r32(r0, r12), platform }).summary;
    expect(on('omap4', 0x109n, 0x0e470000n)).toBe('OMAP4 L2X0 aux ctrl(value=0xe470000)');
    expect(on('omap5', 0x109n, 6144000n)).toBe('OMAP5 set CNTFRQ(cntfrq=6144000)');
    expect(on('omap4', 0x102n, 1n)).toBe('OMAP4 L2X0 ctrl(enable=1)');
    for (const p of Object.values(LEGACY_PLATFORMS)) {
      for (const row of p.calls) {
        const d = decodeCall({ arch: 'aarch32', conduit: 'smc', imm: 0, args: r32(0n, BigInt(row.service)), platform: p.name });
        expect(d.name).toBe(row.name);
      }
    }
  });
});

describe('formatHex', () => {
  it('renders 64-bit values, and negatives as two’s complement', () => {
    expect(formatHex(0)).toBe('0x0');
    expect(formatHex(0xffffffffffffffffn)).toBe('0xffffffffffffffff');
    expect(formatHex(-1n)).toBe('0xffffffffffffffff');
    expect(formatHex(0x84000000)).toBe('0x84000000');
  });
});
