// Xen hypercalls on Arm: `HVC #0xEA1`, number in x16 (AArch64) or r12 (AArch32),
// arguments in x0..x4 / r0..r4 (xen/include/public/arch-arm.h). Numbers and sub-ops
// from xen/include/public/{xen,version,memory,vcpu,event_channel,grant_table,sched,
// physdev,argo,hypfs,kexec,nmi,callback}.h and hvm/{hvm_op,params}.h.
import { escapeText, formatHex, hex2, hex4, MASK32 } from './format.js';
import type { CallContext, DecodedArg, DecodedCall } from './types.js';

export const XEN_HYPERCALL_TAG = 0xea1;

type Names = Readonly<Record<number, string>>;

export const XENVER: Names = {
  0: 'XENVER_version', 1: 'XENVER_extraversion', 2: 'XENVER_compile_info', 3: 'XENVER_capabilities',
  4: 'XENVER_changeset', 5: 'XENVER_platform_parameters', 6: 'XENVER_get_features', 7: 'XENVER_pagesize',
  8: 'XENVER_guest_handle', 9: 'XENVER_commandline', 10: 'XENVER_build_id', 11: 'XENVER_extraversion2',
  12: 'XENVER_capabilities2', 13: 'XENVER_changeset2', 14: 'XENVER_commandline2',
};

export const XENMEM: Names = {
  0: 'XENMEM_increase_reservation', 1: 'XENMEM_decrease_reservation', 2: 'XENMEM_maximum_ram_page',
  3: 'XENMEM_current_reservation', 4: 'XENMEM_maximum_reservation', 5: 'XENMEM_machphys_mfn_list',
  6: 'XENMEM_populate_physmap', 7: 'XENMEM_add_to_physmap', 9: 'XENMEM_memory_map',
  10: 'XENMEM_machine_memory_map', 11: 'XENMEM_exchange', 12: 'XENMEM_machphys_mapping',
  13: 'XENMEM_set_memory_map', 14: 'XENMEM_maximum_gpfn', 15: 'XENMEM_remove_from_physmap',
  16: 'XENMEM_set_pod_target', 17: 'XENMEM_get_pod_target', 18: 'XENMEM_get_sharing_freed_pages',
  19: 'XENMEM_get_sharing_shared_pages', 20: 'XENMEM_paging_op', 21: 'XENMEM_access_op',
  22: 'XENMEM_sharing_op', 23: 'XENMEM_add_to_physmap_batch', 24: 'XENMEM_claim_pages',
  25: 'XENMEM_machphys_compat_mfn_list', 26: 'XENMEM_get_vnumainfo',
  27: 'XENMEM_reserved_device_memory_map', 28: 'XENMEM_acquire_resource',
};

export const VCPUOP: Names = {
  0: 'VCPUOP_initialise', 1: 'VCPUOP_up', 2: 'VCPUOP_down', 3: 'VCPUOP_is_up',
  4: 'VCPUOP_get_runstate_info', 5: 'VCPUOP_register_runstate_memory_area',
  6: 'VCPUOP_set_periodic_timer', 7: 'VCPUOP_stop_periodic_timer', 8: 'VCPUOP_set_singleshot_timer',
  9: 'VCPUOP_stop_singleshot_timer', 10: 'VCPUOP_register_vcpu_info', 11: 'VCPUOP_send_nmi',
  12: 'VCPUOP_get_physid', 13: 'VCPUOP_register_vcpu_time_memory_area',
  14: 'VCPUOP_register_runstate_phys_area', 15: 'VCPUOP_register_vcpu_time_phys_area',
};

export const EVTCHNOP: Names = {
  0: 'EVTCHNOP_bind_interdomain', 1: 'EVTCHNOP_bind_virq', 2: 'EVTCHNOP_bind_pirq', 3: 'EVTCHNOP_close',
  4: 'EVTCHNOP_send', 5: 'EVTCHNOP_status', 6: 'EVTCHNOP_alloc_unbound', 7: 'EVTCHNOP_bind_ipi',
  8: 'EVTCHNOP_bind_vcpu', 9: 'EVTCHNOP_unmask', 10: 'EVTCHNOP_reset', 11: 'EVTCHNOP_init_control',
  12: 'EVTCHNOP_expand_array', 13: 'EVTCHNOP_set_priority', 14: 'EVTCHNOP_reset_cont',
};

export const GNTTABOP: Names = {
  0: 'GNTTABOP_map_grant_ref', 1: 'GNTTABOP_unmap_grant_ref', 2: 'GNTTABOP_setup_table',
  3: 'GNTTABOP_dump_table', 4: 'GNTTABOP_transfer', 5: 'GNTTABOP_copy', 6: 'GNTTABOP_query_size',
  7: 'GNTTABOP_unmap_and_replace', 8: 'GNTTABOP_set_version', 9: 'GNTTABOP_get_status_frames',
  10: 'GNTTABOP_get_version', 11: 'GNTTABOP_swap_grant_ref', 12: 'GNTTABOP_cache_flush',
};

export const HVMOP: Names = {
  0: 'HVMOP_set_param', 1: 'HVMOP_get_param', 2: 'HVMOP_set_pci_intx_level', 3: 'HVMOP_set_isa_irq_level',
  4: 'HVMOP_set_pci_link_route', 5: 'HVMOP_flush_tlbs', 9: 'HVMOP_pagetable_dying', 10: 'HVMOP_get_time',
  11: 'HVMOP_xentrace', 12: 'HVMOP_set_mem_access', 13: 'HVMOP_get_mem_access', 15: 'HVMOP_get_mem_type',
  23: 'HVMOP_set_evtchn_upcall_vector', 24: 'HVMOP_guest_request_vm_event', 25: 'HVMOP_altp2m',
};

export const SCHEDOP: Names = {
  0: 'SCHEDOP_yield', 1: 'SCHEDOP_block', 2: 'SCHEDOP_shutdown', 3: 'SCHEDOP_poll',
  4: 'SCHEDOP_remote_shutdown', 5: 'SCHEDOP_shutdown_code', 6: 'SCHEDOP_watchdog', 7: 'SCHEDOP_pin_override',
};

/** sched_shutdown.reason */
export const SHUTDOWN_REASON: Names = {
  0: 'poweroff', 1: 'reboot', 2: 'suspend', 3: 'crash', 4: 'watchdog', 5: 'soft_reset',
};

export const CONSOLEIO: Names = { 0: 'CONSOLEIO_write', 1: 'CONSOLEIO_read' };

export const PHYSDEVOP: Names = {
  4: 'PHYSDEVOP_IRQ_UNMASK_NOTIFY', 5: 'PHYSDEVOP_irq_status_query', 6: 'PHYSDEVOP_set_iopl',
  7: 'PHYSDEVOP_set_iobitmap', 8: 'PHYSDEVOP_apic_read', 9: 'PHYSDEVOP_apic_write',
  10: 'PHYSDEVOP_alloc_irq_vector', 11: 'PHYSDEVOP_free_irq_vector', 12: 'PHYSDEVOP_eoi',
  13: 'PHYSDEVOP_map_pirq', 14: 'PHYSDEVOP_unmap_pirq', 15: 'PHYSDEVOP_manage_pci_add',
  16: 'PHYSDEVOP_manage_pci_remove', 17: 'PHYSDEVOP_pirq_eoi_gmfn_v1', 19: 'PHYSDEVOP_restore_msi',
  20: 'PHYSDEVOP_manage_pci_add_ext', 21: 'PHYSDEVOP_setup_gsi', 23: 'PHYSDEVOP_get_free_pirq',
  24: 'PHYSDEVOP_pci_mmcfg_reserved', 25: 'PHYSDEVOP_pci_device_add', 26: 'PHYSDEVOP_pci_device_remove',
  27: 'PHYSDEVOP_restore_msi_ext', 28: 'PHYSDEVOP_pirq_eoi_gmfn_v2', 29: 'PHYSDEVOP_dbgp_op',
  30: 'PHYSDEVOP_prepare_msix', 31: 'PHYSDEVOP_release_msix', 32: 'PHYSDEVOP_pci_device_reset',
};

/** struct physdev_pci_device_add flags */
export const XEN_PCI_DEV = { EXTFN: 0x1, VIRTFN: 0x2, PXM: 0x4 } as const;

export const PCI_DEVICE_RESET: Names = { 0: 'cold', 1: 'warm', 2: 'hot', 3: 'flr' };

export const ARGO_OP: Names = {
  1: 'XEN_ARGO_OP_register_ring', 2: 'XEN_ARGO_OP_unregister_ring', 3: 'XEN_ARGO_OP_sendv', 4: 'XEN_ARGO_OP_notify',
};

export const HYPFS_OP: Names = { 0: 'XEN_HYPFS_OP_get_version', 1: 'XEN_HYPFS_OP_read', 2: 'XEN_HYPFS_OP_write_contents' };

export const VMASST_CMD: Names = { 0: 'VMASST_CMD_enable', 1: 'VMASST_CMD_disable' };
export const XENNMI: Names = { 0: 'XENNMI_register_callback', 1: 'XENNMI_unregister_callback' };
export const CALLBACKOP: Names = { 0: 'CALLBACKOP_register', 1: 'CALLBACKOP_unregister' };
export const KEXEC_CMD: Names = {
  0: 'KEXEC_CMD_kexec', 1: 'KEXEC_CMD_kexec_load_v1', 2: 'KEXEC_CMD_kexec_unload_v1',
  3: 'KEXEC_CMD_kexec_get_range', 4: 'KEXEC_CMD_kexec_load', 5: 'KEXEC_CMD_kexec_unload', 6: 'KEXEC_CMD_kexec_status',
};

export const HVM_PARAM: Names = {
  0: 'HVM_PARAM_CALLBACK_IRQ', 1: 'HVM_PARAM_STORE_PFN', 2: 'HVM_PARAM_STORE_EVTCHN', 4: 'HVM_PARAM_PAE_ENABLED',
  5: 'HVM_PARAM_IOREQ_PFN', 6: 'HVM_PARAM_BUFIOREQ_PFN', 9: 'HVM_PARAM_VIRIDIAN', 10: 'HVM_PARAM_TIMER_MODE',
  11: 'HVM_PARAM_HPET_ENABLED', 12: 'HVM_PARAM_IDENT_PT', 13: 'HVM_PARAM_DM_DOMAIN', 14: 'HVM_PARAM_ACPI_S_STATE',
  15: 'HVM_PARAM_VM86_TSS', 16: 'HVM_PARAM_VPT_ALIGN', 17: 'HVM_PARAM_CONSOLE_PFN', 18: 'HVM_PARAM_CONSOLE_EVTCHN',
  19: 'HVM_PARAM_ACPI_IOPORTS_LOCATION', 26: 'HVM_PARAM_BUFIOREQ_EVTCHN', 27: 'HVM_PARAM_PAGING_RING_PFN',
  28: 'HVM_PARAM_MONITOR_RING_PFN', 29: 'HVM_PARAM_SHARING_RING_PFN', 31: 'HVM_PARAM_TRIPLE_FAULT_REASON',
  32: 'HVM_PARAM_IOREQ_SERVER_PFN', 33: 'HVM_PARAM_NR_IOREQ_SERVER_PAGES', 34: 'HVM_PARAM_VM_GENERATION_ID_ADDR',
  35: 'HVM_PARAM_ALTP2M', 36: 'HVM_PARAM_X87_FIP_WIDTH', 37: 'HVM_PARAM_VM86_TSS_SIZED', 38: 'HVM_PARAM_MCA_CAP',
};

export const VIRQ: Names = {
  0: 'VIRQ_TIMER', 1: 'VIRQ_DEBUG', 2: 'VIRQ_CONSOLE', 3: 'VIRQ_DOM_EXC', 4: 'VIRQ_TBUF', 6: 'VIRQ_DEBUGGER',
  7: 'VIRQ_XENOPROF', 8: 'VIRQ_CON_RING', 9: 'VIRQ_PCPU_STATE', 10: 'VIRQ_MEM_EVENT', 11: 'VIRQ_ARGO',
  12: 'VIRQ_ENOMEM', 13: 'VIRQ_XENPMU',
};

export const XENMAPSPACE: Names = {
  0: 'shared_info', 1: 'grant_table', 2: 'gmfn', 3: 'gmfn_range', 4: 'gmfn_foreign', 5: 'dev_mmio',
};

/** One hypercall: a row of the table tests and policies iterate over. */
export interface XenHypercallRow {
  nr: number;
  name: string;
  /** Names of the arguments in x0..x4 / r0..r4. */
  args: string[];
  /** Sub-op names, keyed by the value of the first argument (masked with cmdMask). */
  subops?: Names;
  /**
   * Bits of the command that name the sub-op. Xen folds continuation state into the
   * upper bits and, on Arm, the guest re-issues the HVC with that modified command.
   */
  cmdMask?: number;
}

const SUBOP = ['cmd', 'arg'];

export const XEN_HYPERCALLS: readonly XenHypercallRow[] = [
  { nr: 0, name: 'set_trap_table', args: ['table'] },
  { nr: 1, name: 'mmu_update', args: ['req', 'count', 'success_count', 'foreigndom'] },
  { nr: 2, name: 'set_gdt', args: ['frame_list', 'entries'] },
  { nr: 3, name: 'stack_switch', args: ['ss', 'esp'] },
  { nr: 4, name: 'set_callbacks', args: ['event_selector', 'event_address', 'failsafe_selector', 'failsafe_address'] },
  { nr: 5, name: 'fpu_taskswitch', args: ['set'] },
  { nr: 6, name: 'sched_op_compat', args: SUBOP, subops: SCHEDOP },
  { nr: 7, name: 'platform_op', args: ['op'] },
  { nr: 8, name: 'set_debugreg', args: ['reg', 'value'] },
  { nr: 9, name: 'get_debugreg', args: ['reg'] },
  { nr: 10, name: 'update_descriptor', args: ['ma', 'desc'] },
  { nr: 12, name: 'memory_op', args: SUBOP, subops: XENMEM, cmdMask: 0x3f },
  { nr: 13, name: 'multicall', args: ['call_list', 'nr_calls'] },
  { nr: 14, name: 'update_va_mapping', args: ['va', 'val', 'flags'] },
  { nr: 15, name: 'set_timer_op', args: ['timeout'] },
  { nr: 16, name: 'event_channel_op_compat', args: ['op'] },
  { nr: 17, name: 'xen_version', args: SUBOP, subops: XENVER },
  { nr: 18, name: 'console_io', args: ['cmd', 'count', 'buffer'], subops: CONSOLEIO },
  { nr: 19, name: 'physdev_op_compat', args: ['op'] },
  { nr: 20, name: 'grant_table_op', args: ['cmd', 'uop', 'count'], subops: GNTTABOP, cmdMask: 0xfff },
  { nr: 21, name: 'vm_assist', args: ['cmd', 'type'], subops: VMASST_CMD },
  { nr: 22, name: 'update_va_mapping_otherdomain', args: ['va', 'val', 'flags', 'domid'] },
  { nr: 23, name: 'iret', args: [] },
  { nr: 24, name: 'vcpu_op', args: ['cmd', 'vcpuid', 'arg'], subops: VCPUOP },
  { nr: 25, name: 'set_segment_base', args: ['which', 'base'] },
  { nr: 26, name: 'mmuext_op', args: ['op', 'count', 'success_count', 'foreigndom'] },
  { nr: 27, name: 'xsm_op', args: ['op'] },
  { nr: 28, name: 'nmi_op', args: SUBOP, subops: XENNMI },
  { nr: 29, name: 'sched_op', args: SUBOP, subops: SCHEDOP },
  { nr: 30, name: 'callback_op', args: SUBOP, subops: CALLBACKOP },
  { nr: 31, name: 'xenoprof_op', args: ['op', 'arg'] },
  { nr: 32, name: 'event_channel_op', args: SUBOP, subops: EVTCHNOP },
  { nr: 33, name: 'physdev_op', args: SUBOP, subops: PHYSDEVOP },
  { nr: 34, name: 'hvm_op', args: ['op', 'arg'], subops: HVMOP },
  { nr: 35, name: 'sysctl', args: ['u_sysctl'] },
  { nr: 36, name: 'domctl', args: ['u_domctl'] },
  { nr: 37, name: 'kexec_op', args: ['op', 'arg'], subops: KEXEC_CMD },
  { nr: 38, name: 'tmem_op', args: ['ops'] },
  { nr: 39, name: 'argo_op', args: ['cmd', 'arg1', 'arg2', 'arg3', 'arg4'], subops: ARGO_OP },
  { nr: 40, name: 'xenpmu_op', args: ['op', 'arg'] },
  { nr: 41, name: 'dm_op', args: ['domid', 'nr_bufs', 'bufs'] },
  { nr: 42, name: 'hypfs_op', args: ['cmd', 'arg1', 'arg2', 'arg3', 'arg4'], subops: HYPFS_OP },
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ nr: 48 + i, name: `arch_${i}`, args: ['a0', 'a1', 'a2', 'a3', 'a4'] })),
];

const BY_NR: ReadonlyMap<number, XenHypercallRow> = new Map(XEN_HYPERCALLS.map((r) => [r.nr, r]));

export function findXenHypercall(nr: number): XenHypercallRow | undefined {
  return BY_NR.get(nr);
}

// ---------------------------------------------------------------------------
// Argument structs read from guest memory

type Detail = { text: string; fields: DecodedCall['fields'] };
type Detailer = (ctx: CallContext, a: bigint[]) => Detail;

/** Reads `len` bytes at `addr`, or says why it could not. Never throws. */
function readStruct(ctx: CallContext, addr: bigint, len: number, what: string): DataView | string {
  if (!ctx.readMem) return `no guest memory access to read ${what} at ${formatHex(addr)}`;
  let bytes: Uint8Array | null;
  try {
    bytes = ctx.readMem(addr, len);
  } catch (e) {
    return `reading ${what} at ${formatHex(addr)} failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (!bytes || bytes.length < len) return `cannot read ${what} at ${formatHex(addr)}`;
  return new DataView(bytes.buffer, bytes.byteOffset, len);
}

function unreadable(error: string, addr: bigint): Detail {
  return { text: `<unreadable ${formatHex(addr)}>`, fields: { error } };
}

function pciSbdf(seg: number, bus: number, devfn: number): string {
  return `${hex4(seg)}:${hex2(bus)}:${hex2(devfn >> 3)}.${devfn & 7}`;
}
function pciBdf(bus: number, devfn: number): string {
  return `${hex2(bus)}:${hex2(devfn >> 3)}.${devfn & 7}`;
}

function pciFlags(flags: number): string {
  const names: string[] = Object.entries(XEN_PCI_DEV).filter(([, bit]) => (flags & bit) !== 0).map(([k]) => k);
  const rest = flags & ~(XEN_PCI_DEV.EXTFN | XEN_PCI_DEV.VIRTFN | XEN_PCI_DEV.PXM);
  if (rest) names.push(formatHex(rest));
  return names.length ? names.join('|') : '0';
}

/** struct physdev_pci_device_add { u16 seg; u8 bus, devfn; u32 flags; {u8 bus, devfn} physfn; u32 optarr[]; } */
const pciDeviceAdd: Detailer = (ctx, a) => {
  const addr = a[1] ?? 0n;
  const v = readStruct(ctx, addr, 12, 'physdev_pci_device_add');
  if (typeof v === 'string') return unreadable(v, addr);
  const seg = v.getUint16(0, true);
  const bus = v.getUint8(2);
  const devfn = v.getUint8(3);
  const flags = v.getUint32(4, true);
  const sbdf = pciSbdf(seg, bus, devfn);
  const fields: DecodedCall['fields'] = { pci: sbdf, seg, bus, devfn, flags: pciFlags(flags) };
  let text = `${sbdf} flags=${pciFlags(flags)}`;
  if (flags & XEN_PCI_DEV.VIRTFN) {
    const physfn = pciBdf(v.getUint8(8), v.getUint8(9));
    fields.physfn = physfn;
    text += ` physfn=${physfn}`;
  }
  if (flags & XEN_PCI_DEV.PXM) {
    const p = readStruct(ctx, addr + 12n, 4, 'physdev_pci_device_add.optarr[0]');
    if (typeof p === 'string') fields.error = p;
    else {
      fields.pxm = p.getUint32(0, true);
      text += ` pxm=${fields.pxm}`;
    }
  }
  return { text, fields };
};

/** struct physdev_pci_device { u16 seg; u8 bus, devfn; } (+ u32 flags for pci_device_reset) */
function pciDevice(withResetFlags: boolean): Detailer {
  return (ctx, a) => {
    const addr = a[1] ?? 0n;
    const v = readStruct(ctx, addr, withResetFlags ? 8 : 4, withResetFlags ? 'pci_device_reset' : 'physdev_pci_device');
    if (typeof v === 'string') return unreadable(v, addr);
    const sbdf = pciSbdf(v.getUint16(0, true), v.getUint8(2), v.getUint8(3));
    const fields: DecodedCall['fields'] = { pci: sbdf };
    let text = sbdf;
    if (withResetFlags) {
      const kind = v.getUint32(4, true) & 3;
      fields.reset = PCI_DEVICE_RESET[kind] ?? String(kind);
      text += ` reset=${fields.reset}`;
    }
    return { text, fields };
  };
}

/** struct physdev_manage_pci { u8 bus, devfn; } / _ext { ...; u32 is_extfn, is_virtfn; {u8 bus, devfn} physfn; } */
function managePci(ext: boolean): Detailer {
  return (ctx, a) => {
    const addr = a[1] ?? 0n;
    const v = readStruct(ctx, addr, ext ? 14 : 2, ext ? 'physdev_manage_pci_ext' : 'physdev_manage_pci');
    if (typeof v === 'string') return unreadable(v, addr);
    const sbdf = pciSbdf(0, v.getUint8(0), v.getUint8(1));
    const fields: DecodedCall['fields'] = { pci: sbdf };
    let text = sbdf;
    if (ext) {
      const isExt = v.getUint32(4, true) !== 0;
      const isVirt = v.getUint32(8, true) !== 0;
      const flags = (isExt ? XEN_PCI_DEV.EXTFN : 0) | (isVirt ? XEN_PCI_DEV.VIRTFN : 0);
      fields.flags = pciFlags(flags);
      text += ` flags=${fields.flags}`;
      if (isVirt) {
        fields.physfn = pciBdf(v.getUint8(12), v.getUint8(13));
        text += ` physfn=${fields.physfn}`;
      }
    }
    return { text, fields };
  };
}

const CONSOLE_TEXT_MAX = 80;

/** console_io(CONSOLEIO_write, count, buffer) */
const consoleWrite: Detailer = (ctx, a) => {
  const count = Number((a[1] ?? 0n) & MASK32);
  const addr = a[2] ?? 0n;
  const len = Math.min(count, CONSOLE_TEXT_MAX);
  const fields: DecodedCall['fields'] = { count };
  if (len === 0) return { text: `count=${count} ""`, fields: { ...fields, text: '' } };
  const v = readStruct(ctx, addr, len, 'console buffer');
  if (typeof v === 'string') return { text: `count=${count} <unreadable ${formatHex(addr)}>`, fields: { ...fields, error: v } };
  const text = escapeText(new Uint8Array(v.buffer, v.byteOffset, len));
  fields.text = text;
  if (count > len) fields.truncated = true;
  return { text: `count=${count} "${text}"${count > len ? '...' : ''}`, fields };
};

/** struct sched_shutdown { unsigned int reason; } (remote: { domid_t domain_id; unsigned int reason; }) */
function shutdownReason(remote: boolean): Detailer {
  return (ctx, a) => {
    const addr = a[1] ?? 0n;
    const v = readStruct(ctx, addr, remote ? 8 : 4, remote ? 'sched_remote_shutdown' : 'sched_shutdown');
    if (typeof v === 'string') return unreadable(v, addr);
    const code = v.getUint32(remote ? 4 : 0, true);
    const reason = SHUTDOWN_REASON[code] ?? String(code);
    const fields: DecodedCall['fields'] = { reason };
    let text = `reason=${reason}`;
    if (remote) {
      fields.domid = v.getUint16(0, true);
      text = `domid=${fields.domid} ${text}`;
    }
    return { text, fields };
  };
}

/** struct sched_watchdog { u32 id; u32 timeout; } */
const watchdog: Detailer = (ctx, a) => {
  const addr = a[1] ?? 0n;
  const v = readStruct(ctx, addr, 8, 'sched_watchdog');
  if (typeof v === 'string') return unreadable(v, addr);
  const id = v.getUint32(0, true);
  const timeout = v.getUint32(4, true);
  return { text: `id=${id} timeout=${timeout}`, fields: { watchdog_id: id, timeout } };
};

/** struct evtchn_send / evtchn_unmask / evtchn_close { evtchn_port_t port; } */
const evtchnPort: Detailer = (ctx, a) => {
  const addr = a[1] ?? 0n;
  const v = readStruct(ctx, addr, 4, 'event channel port');
  if (typeof v === 'string') return unreadable(v, addr);
  const port = v.getUint32(0, true);
  return { text: `port=${port}`, fields: { port } };
};

/** struct evtchn_bind_virq { u32 virq; u32 vcpu; evtchn_port_t port (OUT); } */
const bindVirq: Detailer = (ctx, a) => {
  const addr = a[1] ?? 0n;
  const v = readStruct(ctx, addr, 8, 'evtchn_bind_virq');
  if (typeof v === 'string') return unreadable(v, addr);
  const virqNum = v.getUint32(0, true);
  const virq = VIRQ[virqNum] ?? String(virqNum);
  const vcpu = v.getUint32(4, true);
  return { text: `${virq} vcpu=${vcpu}`, fields: { virq, vcpu } };
};

/** struct xen_hvm_param { domid_t domid; u16 pad; u32 index; u64 value; } */
function hvmParam(set: boolean): Detailer {
  return (ctx, a) => {
    const addr = a[1] ?? 0n;
    const v = readStruct(ctx, addr, 16, 'xen_hvm_param');
    if (typeof v === 'string') return unreadable(v, addr);
    const index = v.getUint32(4, true);
    const param = HVM_PARAM[index] ?? `param ${index}`;
    const fields: DecodedCall['fields'] = { domid: v.getUint16(0, true), param };
    let text = param;
    if (set) {
      fields.value = formatHex(v.getBigUint64(8, true));
      text += `=${fields.value}`;
    }
    return { text, fields };
  };
}

/** struct xen_add_to_physmap { domid_t domid; u16 size; u32 space; xen_ulong_t idx; xen_pfn_t gpfn; } (64-bit on Arm) */
const addToPhysmap: Detailer = (ctx, a) => {
  const addr = a[1] ?? 0n;
  const v = readStruct(ctx, addr, 24, 'xen_add_to_physmap');
  if (typeof v === 'string') return unreadable(v, addr);
  const spaceNum = v.getUint32(4, true);
  const space = XENMAPSPACE[spaceNum] ?? String(spaceNum);
  const idx = formatHex(v.getBigUint64(8, true));
  const gpfn = formatHex(v.getBigUint64(16, true));
  return { text: `space=${space} idx=${idx} gpfn=${gpfn}`, fields: { domid: v.getUint16(0, true), space, idx, gpfn } };
};

/** Counts and vCPU numbers that sit in registers. */
const vcpuArg: Detailer = (_ctx, a) => {
  const vcpu = Number((a[1] ?? 0n) & MASK32);
  return { text: `vcpu=${vcpu}`, fields: { vcpu } };
};
const gnttabCount: Detailer = (_ctx, a) => {
  const count = Number((a[2] ?? 0n) & MASK32);
  return { text: `count=${count}`, fields: { count } };
};

/** Detail decoders keyed by "hypercall:subop". */
const DETAILERS: ReadonlyMap<string, Detailer> = new Map<string, Detailer>([
  ['12:7', addToPhysmap],
  ['18:0', consoleWrite],
  ['29:2', shutdownReason(false)],
  ['29:4', shutdownReason(true)],
  ['29:5', shutdownReason(false)],
  ['29:6', watchdog],
  ['32:1', bindVirq],
  ['32:3', evtchnPort],
  ['32:4', evtchnPort],
  ['32:9', evtchnPort],
  ['33:15', managePci(false)],
  ['33:16', managePci(false)],
  ['33:20', managePci(true)],
  ['33:25', pciDeviceAdd],
  ['33:26', pciDevice(false)],
  ['33:27', pciDevice(false)],
  ['33:30', pciDevice(false)],
  ['33:31', pciDevice(false)],
  ['33:32', pciDevice(true)],
  ['34:0', hvmParam(true)],
  ['34:1', hvmParam(false)],
  ...Object.keys(VCPUOP).map((k): [string, Detailer] => [`24:${k}`, vcpuArg]),
  ...Object.keys(GNTTABOP).map((k): [string, Detailer] => [`20:${k}`, gnttabCount]),
]);

/** The hypercall number register: x16 on AArch64, r12 on AArch32. */
export function xenHypercallNumber(ctx: CallContext): number {
  const reg = ctx.arch === 'aarch64' ? ctx.args[16] : ctx.args[12];
  const v = (reg ?? 0n) & MASK32;
  return Number(v);
}

export function decodeXen(ctx: CallContext): DecodedCall {
  const nr = xenHypercallNumber(ctx);
  const row = findXenHypercall(nr);
  const a: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    const v = ctx.args[i] ?? 0n;
    a.push(ctx.arch === 'aarch64' ? v : v & MASK32);
  }
  const fields: DecodedCall['fields'] = { nr };
  const base = { kind: 'xen' as const, owner: 'xen', service: 'XEN', rule: 'xen-hvc-0xea1', fields };

  if (!row) {
    const args = a.map((v, i) => ({ name: `a${i}`, value: formatHex(v) }));
    return {
      ...base,
      name: `hypercall_${nr}`,
      args,
      summary: `XEN hypercall_${nr}(${args.map((x) => `${x.name}=${x.value}`).join(', ')})`,
    };
  }

  const args: DecodedArg[] = row.args.map((name, i) => ({ name, value: formatHex(a[i] ?? 0n) }));
  if (!row.subops) {
    return { ...base, name: row.name, args, summary: `XEN ${row.name}(${args.map((x) => `${x.name}=${x.value}`).join(', ')})` };
  }

  const rawCmd = Number((a[0] ?? 0n) & MASK32);
  const cmd = row.cmdMask !== undefined ? rawCmd & row.cmdMask : rawCmd;
  if (cmd !== rawCmd) fields.continuation = formatHex((rawCmd - cmd) >>> 0);
  fields.subop = cmd;
  const subopName = row.subops[cmd];
  if (subopName) fields.subop_name = subopName;
  let inner = subopName ?? `cmd=${cmd}`;
  const detailer = DETAILERS.get(`${nr}:${cmd}`);
  if (detailer) {
    const d = detailer(ctx, a);
    Object.assign(fields, d.fields);
    if (d.text) inner += ` ${d.text}`;
  }
  return { ...base, name: row.name, args, summary: `XEN ${row.name}(${inner})` };
}
