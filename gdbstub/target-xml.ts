// The documents gdb reads with qXfer, generated from the core's own tables: the
// target description from the one register table (machine/registers.ts), the
// memory map from the session's memory regions. Nothing here is per register.
import { FEATURE, type CpuArch, type RegDef, type RegGroup } from '../server/machine/registers.js';

/** Registers in g/G order: sorted by gdb regnum, packed with no gaps. */
export function registerLayout(table: readonly RegDef[]): RegDef[] {
  return [...table].sort((a, b) => a.regnum - b.regnum);
}

const attr = (v: string | number) => String(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * Types a feature defines before its registers, and which table types they
 * replace. AArch64 V registers become gdb's usual lane union (v0.d.u[1],
 * v0.s.f[2] ...), which also keeps them out of a plain `info registers`.
 */
const LANES: [string, string, number][] = [['d', '64', 2], ['s', '32', 4], ['h', '16', 8], ['b', '8', 16], ['q', '128', 1]];
const FLOATS: Record<string, string> = { '64': 'ieee_double', '32': 'ieee_single', '16': 'ieee_half' };
const FEATURE_TYPES: Record<string, { defs: string[]; replace: Record<string, string> }> = {
  [FEATURE.a64fpu]: {
    defs: [
      ...LANES.flatMap(([lane, bits, count]) => {
        const kinds: [string, string][] = [['u', `uint${bits}`], ['s', `int${bits}`]];
        if (FLOATS[bits]) kinds.unshift(['f', FLOATS[bits]]);
        return [
          ...kinds.map(([k, t]) => `<vector id="v${lane}${k}" type="${t}" count="${count}"/>`),
          `<union id="vn${lane}">${kinds.map(([k]) => `<field name="${k}" type="v${lane}${k}"/>`).join('')}</union>`,
        ];
      }),
      `<union id="aarch64v">${LANES.map(([lane]) => `<field name="${lane}" type="vn${lane}"/>`).join('')}</union>`,
    ],
    replace: { uint128: 'aarch64v' },
  },
};

/** gdb's register groups for `info registers GROUP`; core/fp registers keep gdb's own choice. */
const XML_GROUP: Partial<Record<RegGroup, string>> = { system: 'system', banked: 'system' };

export function targetXml(arch: CpuArch, table: readonly RegDef[]): string {
  const features = new Map<string, RegDef[]>();
  for (const r of registerLayout(table)) {
    const list = features.get(r.feature) ?? [];
    list.push(r);
    features.set(r.feature, list);
  }
  const out = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    `  <architecture>${arch === 'aarch64' ? 'aarch64' : 'arm'}</architecture>`,
  ];
  for (const [name, regs] of features) {
    out.push(`  <feature name="${attr(name)}">`);
    const types = FEATURE_TYPES[name];
    for (const d of types?.defs ?? []) out.push(`    ${d}`);
    for (const r of regs) {
      const group = XML_GROUP[r.group];
      const type = types?.replace[r.type] ?? r.type;
      out.push(`    <reg name="${attr(r.name)}" bitsize="${r.bits}" regnum="${r.regnum}" type="${attr(type)}"${group ? ` group="${group}"` : ''}/>`);
    }
    out.push('  </feature>');
  }
  out.push('</target>', '');
  return out.join('\n');
}

export interface MemoryRegionInfo { kind: string; name: string; base: bigint; size: bigint }

/**
 * RAM only: with a memory map gdb refuses accesses outside it, which keeps
 * `x/s` on a device register from popping a UART FIFO by accident.
 */
export function memoryMapXml(regions: readonly MemoryRegionInfo[]): string {
  const out = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" "http://sourceware.org/gdb/gdb-memory-map.dtd">',
    '<memory-map>',
  ];
  for (const r of regions) {
    if (r.kind !== 'ram') continue;
    out.push(`  <memory type="ram" start="0x${r.base.toString(16)}" length="0x${r.size.toString(16)}"/>`);
  }
  out.push('</memory-map>', '');
  return out.join('\n');
}
