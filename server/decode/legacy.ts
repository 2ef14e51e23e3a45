// Pre-SMCCC secure monitor calls, one table per platform. These SoCs put a service
// number in r12 and the argument in r0, so the same number means different things
// on different boards: the table is chosen by `--platform`, never guessed.
//
// Sources: Linux arch/arm/mach-highbank (highbank_smc1(0x102, val) for the PL310
// control register) and arch/arm/mach-omap2/omap-secure.h (OMAP4_MON_*_INDEX,
// OMAP5_*_INDEX); 0x112 is from the Fiasco OMAP4 outer-cache code.
import { formatHex } from './format.js';
import type { CallContext, Conduit, DecodedCall } from './types.js';

export interface LegacyArg {
  name: string;
  /** Register number (r0 = 0). */
  reg: number;
  /** How the summary shows it; DecodedArg.value is always hex. */
  format?: 'dec' | 'hex';
}

export interface LegacyCallRow {
  /** Value of the selector register (r12) that names the service. */
  service: number;
  name: string;
  /** Words for the summary: `Highbank L2X0 ctrl(enable=1)`. */
  label: string;
  args: LegacyArg[];
}

export interface LegacyPlatform {
  name: string;
  display: string;
  conduit: Conduit;
  /** Register holding the service number. */
  selector: number;
  calls: LegacyCallRow[];
}

const value = (reg = 0): LegacyArg => ({ name: 'value', reg });
const enable: LegacyArg = { name: 'enable', reg: 0, format: 'dec' };

export const LEGACY_PLATFORMS: Readonly<Record<string, LegacyPlatform>> = {
  highbank: {
    name: 'highbank',
    display: 'Highbank',
    conduit: 'smc',
    selector: 12,
    calls: [{ service: 0x102, name: 'HIGHBANK_L2_CTRL', label: 'L2X0 ctrl', args: [enable] }],
  },
  omap4: {
    name: 'omap4',
    display: 'OMAP4',
    conduit: 'smc',
    selector: 12,
    calls: [
      { service: 0x100, name: 'OMAP4_L2X0_DEBUG_CTRL', label: 'L2X0 debug ctrl', args: [value()] },
      { service: 0x102, name: 'OMAP4_L2X0_CTRL', label: 'L2X0 ctrl', args: [enable] },
      { service: 0x108, name: 'OMAP4_SCU_PWR', label: 'SCU power status', args: [value()] },
      { service: 0x109, name: 'OMAP4_L2X0_AUXCTRL', label: 'L2X0 aux ctrl', args: [value()] },
      { service: 0x112, name: 'OMAP4_L2X0_RAM_LATENCY', label: 'L2X0 tag/data RAM latency', args: [value()] },
      { service: 0x113, name: 'OMAP4_L2X0_PREFETCH_CTRL', label: 'L2X0 prefetch ctrl', args: [value()] },
    ],
  },
  omap5: {
    name: 'omap5',
    display: 'OMAP5',
    conduit: 'smc',
    selector: 12,
    calls: [
      { service: 0x107, name: 'OMAP5_SET_ACR', label: 'set ACTLR', args: [value()] },
      { service: 0x108, name: 'OMAP5_AMBA_IF', label: 'AMBA interface', args: [value()] },
      { service: 0x109, name: 'OMAP5_SET_CNTFRQ', label: 'set CNTFRQ', args: [{ name: 'cntfrq', reg: 0, format: 'dec' }] },
    ],
  },
};

export function findLegacyPlatform(platform: string): LegacyPlatform | undefined {
  return LEGACY_PLATFORMS[platform.toLowerCase()];
}

/** Decode a call with a platform's table, or undefined when the table has no row for it. */
export function decodeLegacy(ctx: CallContext, p: LegacyPlatform): DecodedCall | undefined {
  if (ctx.conduit !== p.conduit) return undefined;
  const service = Number((ctx.args[p.selector] ?? 0n) & 0xffffffffn);
  const row = p.calls.find((c) => c.service === service);
  if (!row) return undefined;
  const regName = (n: number): string => (ctx.arch === 'aarch64' ? `x${n}` : `r${n}`);
  const vals = row.args.map((a) => (ctx.args[a.reg] ?? 0n) & 0xffffffffn);
  const args = row.args.map((a, i) => ({ name: a.name, value: formatHex(vals[i] ?? 0n) }));
  const shown = row.args.map((a, i) => `${a.name}=${a.format === 'dec' ? (vals[i] ?? 0n).toString() : formatHex(vals[i] ?? 0n)}`);
  return {
    kind: 'legacy',
    owner: p.name,
    name: row.name,
    args,
    fields: { service, selector: regName(p.selector) },
    rule: `legacy:${p.name}`,
    summary: `${p.display} ${row.label}(${shown.join(', ')})`,
  };
}
