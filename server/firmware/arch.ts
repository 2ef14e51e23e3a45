// SMCCC 1.2 Arm Architecture Service calls.
import { ARCH_ID, SOC_ID_TYPE } from '../decode/arch-calls.js';
import { MASK32 } from '../decode/format.js';
import { HYP_ID } from '../decode/hyp.js';
import { parseSmcccId } from '../decode/smccc.js';
import { callableBy, ok, SMCCC_RET, type FirmwareFunction, type FirmwareHost } from './common.js';
import { SOC_NAME_MAX } from './soc-id.js';
import type { FirmwareConfig } from './types.js';

export const SMCCC_VERSION_1_2 = 0x10002;

const WORKAROUNDS: ReadonlyArray<[number, string, keyof FirmwareConfig]> = [
  [ARCH_ID.ARCH_WORKAROUND_1, 'ARCH_WORKAROUND_1', 'workaround1'],
  [ARCH_ID.ARCH_WORKAROUND_2, 'ARCH_WORKAROUND_2', 'workaround2'],
  [ARCH_ID.ARCH_WORKAROUND_3, 'ARCH_WORKAROUND_3', 'workaround3'],
];

/**
 * Which ids ARCH_FEATURES answers for: Arm Architecture Service calls, plus
 * PV_TIME_FEATURES, whose presence DEN0057 says to discover this way.
 */
export function archFeaturesEligible(id: number): boolean {
  return parseSmcccId(id).ownerNum === 0 || id === HYP_ID.PV_TIME_FEATURES;
}

/** SoC_ID_type 0: bit 31 zero, bits[30:24] JEP-106 bank index, [23:16] identification code, [15:0] SoC id. */
export function socVersion(soc: NonNullable<FirmwareConfig['socId']>): number {
  const bank = (soc.jep106 >> 8) & 0x7f;
  const code = soc.jep106 & 0x7f;
  return ((bank << 24) | (code << 16) | ((soc.soc ?? 0) & 0xffff)) >>> 0;
}

/** The SoC name's bytes, NUL-padded to 136, as x1..x17 (8 bytes a register, first byte lowest), as Linux reads them. */
export function socNameRegs(name: string): bigint[] {
  const bytes = new Uint8Array(SOC_NAME_MAX + 1);
  const text = new TextEncoder().encode(name);
  if (text.length > SOC_NAME_MAX) throw new RangeError(`SoC name is ${text.length} bytes: at most ${SOC_NAME_MAX}`);
  bytes.set(text);
  const view = new DataView(bytes.buffer);
  return Array.from({ length: 17 }, (_, i) => view.getBigUint64(i * 8, true));
}

export function archFunctions(fw: FirmwareHost): FirmwareFunction[] {
  const { config } = fw;
  const fns: FirmwareFunction[] = [
    { name: 'SMCCC_VERSION', respond: () => ok(SMCCC_VERSION_1_2), constant: true },
    {
      name: 'ARCH_FEATURES',
      respond: (c) => {
        const id = Number(c.arg(1) & MASK32);
        if (!archFeaturesEligible(id) || !callableBy(fw, c.ctx.arch, id)) return ok(SMCCC_RET.NOT_SUPPORTED);
        const wa = WORKAROUNDS.find(([waId]) => waId === id);
        return ok(wa ? (config[wa[2]] as number) : SMCCC_RET.SUCCESS);
      },
    },
  ];
  const soc = config.socId;
  if (soc) {
    const name = soc.name !== undefined ? socNameRegs(soc.name) : undefined;
    fns.push({
      name: 'ARCH_SOC_ID',
      respond: (c) => {
        const type = c.arg(1) & MASK32;
        if (type === BigInt(SOC_ID_TYPE.VERSION)) return ok(socVersion(soc));
        if (type === BigInt(SOC_ID_TYPE.REVISION)) return ok(soc.revision & 0x7fffffff);
        // The name fills x1..x17: only the SMC64 form (0xc0000002) can return it.
        if (type === BigInt(SOC_ID_TYPE.NAME) && c.callconv === 64) {
          return name ? ok(SMCCC_RET.SUCCESS, ...name) : { ...ok(SMCCC_RET.NOT_SUPPORTED), note: 'no SoC name configured' };
        }
        return ok(SMCCC_RET.INVALID_PARAMETER);
      },
    });
  }
  for (const [, name, key] of WORKAROUNDS) {
    // A workaround the firmware reports as NOT_SUPPORTED is not callable either.
    if ((config[key] as number) >= 0) fns.push({ name, respond: () => ok(SMCCC_RET.SUCCESS), constant: true });
  }
  return fns;
}
