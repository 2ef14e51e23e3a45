// SMCCC_ARCH_SOC_ID settings as a person writes them: `--soc-id JEP106:SOC:REV[:NAME]`
// or a policy file's `firmware: { soc_id: { jep106, soc, revision, name } }`.
// No imports beyond types: the CLI and the policy parser load this without the firmware.
import type { FirmwareConfig } from './types.js';

/** SoC_ID_type 2: x1..x17 hold 136 bytes, the last a NUL. */
export const SOC_NAME_MAX = 135;

export type SocId = NonNullable<FirmwareConfig['socId']>;
type Checked = { ok: true; value: SocId } | { ok: false; error: string };

const EXAMPLE = 'e.g. 0x43b:0x1234:2:"My SoC" (JEP-106 bank<<8|code as Linux prints it after jep106:, SoC id, revision, name)';

function number(text: string): number | undefined {
  const t = text.trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Checks the fields, from the flag or the policy file; errors name the field. */
export function checkSocId(v: { jep106?: unknown; soc?: unknown; revision?: unknown; name?: unknown }): Checked {
  const int = (key: 'jep106' | 'soc' | 'revision', max: number, hint: string): number | string => {
    const raw = v[key];
    const n = typeof raw === 'number' ? raw : typeof raw === 'bigint' ? Number(raw) : typeof raw === 'string' ? number(raw) : undefined;
    if (n === undefined || !Number.isInteger(n) || n < 0 || n > max) return `${key} must be a number 0 .. 0x${max.toString(16)} (${hint})`;
    return n;
  };
  if (v.jep106 === undefined) return { ok: false, error: `jep106 is missing: ${EXAMPLE}` };
  const jep106 = int('jep106', 0x7f7f, 'bank << 8 | identification code, e.g. 0x43b for Arm');
  if (typeof jep106 === 'string') return { ok: false, error: jep106 };
  if (jep106 & 0x80) return { ok: false, error: 'jep106 identification code is 7 bits (drop the parity bit): e.g. 0x43b for Arm' };
  const soc = v.soc === undefined ? 0 : int('soc', 0xffff, 'the implementation-defined SoC id');
  if (typeof soc === 'string') return { ok: false, error: soc };
  const revision = v.revision === undefined ? 0 : int('revision', 0x7fffffff, 'the SoC revision');
  if (typeof revision === 'string') return { ok: false, error: revision };
  const value: SocId = { jep106, soc, revision };
  if (v.name !== undefined) {
    if (typeof v.name !== 'string') return { ok: false, error: 'name must be text, e.g. "My SoC"' };
    const bytes = new TextEncoder().encode(v.name).length;
    if (bytes > SOC_NAME_MAX) return { ok: false, error: `name is ${bytes} bytes: SMCCC allows at most ${SOC_NAME_MAX}` };
    if (v.name.includes('\0')) return { ok: false, error: 'name must not contain NUL characters' };
    value.name = v.name;
  }
  return { ok: true, value };
}

/** `JEP106:SOC:REVISION[:NAME]` (the name may itself contain ':'). */
export function parseSocIdText(text: string): Checked {
  const parts = text.split(':');
  if (parts.length < 3) return { ok: false, error: `expected JEP106:SOC:REVISION[:NAME], ${EXAMPLE}` };
  const [jep106, soc, revision, ...name] = parts;
  return checkSocId({ jep106, soc, revision, ...(name.length ? { name: name.join(':') } : {}) });
}
