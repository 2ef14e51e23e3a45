// Actions, register names and integers as users write them in policy files and
// `--on` flags. Everything here returns errors as values (a message that says
// what to write instead); parse.ts attaches the line and column.
import type { Action } from './actions.js';

export const ACTIONS: readonly Action[] = ['emulate', 'forward', 'undef', 'return', 'ask', 'skip'];

const ACTION_HELP = 'use emulate, forward, undef, return(x0=..), ask or skip';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export interface ActionSpec {
  action: Action;
  /** Only for 'return'. */
  values?: Record<string, bigint>;
}

/** Register families a 'return' may write, with the highest index and the width. */
const REGISTER_FAMILIES: Record<string, { last: number; bits: 32 | 64 }> = {
  x: { last: 17, bits: 64 },
  w: { last: 17, bits: 32 },
  r: { last: 14, bits: 32 },
};

/** 'x0'..'x17', 'w0'..'w17', 'r0'..'r14' (SMCCC 1.2 result registers; AArch32 r0..r14). */
export function checkRegisterName(name: string): string | undefined {
  const m = /^([xwr])(\d{1,2})$/.exec(name);
  const family = m ? REGISTER_FAMILIES[m[1]] : undefined;
  if (!m || !family || Number(m[2]) > family.last || (m[2].length > 1 && m[2][0] === '0')) {
    return `'${name}' is not a result register: use x0..x17, w0..w17 (AArch64) or r0..r14 (AArch32)`;
  }
  return undefined;
}

/**
 * Integer text: decimal, 0x hex or 0b binary, optional leading '-', '_' between digits.
 * BigInt() alone rejects '-0x5' and accepts '' and ' 5', hence the explicit grammar.
 */
export function parseIntegerText(text: string): bigint | undefined {
  const m = /^(-)?(0x[0-9a-f]+(?:_[0-9a-f]+)*|0b[01]+(?:_[01]+)*|[0-9]+(?:_[0-9]+)*)$/i.exec(text.trim());
  if (!m) return undefined;
  const magnitude = BigInt(m[2].replaceAll('_', ''));
  return m[1] ? -magnitude : magnitude;
}

/** A register value: signed or unsigned, must fit the register width. */
export function checkRegisterValue(register: string, value: bigint): string | undefined {
  const bits = REGISTER_FAMILIES[register[0]]?.bits ?? 64;
  return widthError(register, value, bits, `${bits} bits`);
}

/** Signed or unsigned: -2 in a 32-bit register is 0xfffffffe; 0x1_0000_0000 does not fit. */
function widthError(register: string, value: bigint, bits: number, what: string): string | undefined {
  const min = -(1n << BigInt(bits - 1));
  const max = (1n << BigInt(bits)) - 1n;
  if (value >= min && value <= max) return undefined;
  return `${register}=${formatValue(value)} does not fit in ${what} (allowed ${formatValue(min)} .. ${formatValue(max)})`;
}

/** An unsigned 32-bit number (SMCCC function id, Xen/legacy call number, range bound). */
export function parseU32Text(text: string, what: string): Parsed<number> {
  const v = parseIntegerText(text);
  if (v === undefined) return { ok: false, error: `${what} '${text}' is not a number: write e.g. 0x84000000 or 17` };
  return checkU32(v, what);
}

export function checkU32(v: bigint, what: string): Parsed<number> {
  if (v < 0n || v > 0xffffffffn) {
    return { ok: false, error: `${what} ${formatValue(v)} is out of range: it must be 0 .. 0xffffffff` };
  }
  return { ok: true, value: Number(v) };
}

/** Parses `emulate`, `undef`, `return(x0=0x5, x1=-2)`, ... */
export function parseActionText(text: string): Parsed<ActionSpec> {
  const t = text.trim();
  const open = t.indexOf('(');
  const name = (open < 0 ? t : t.slice(0, open)).trim();
  if (!(ACTIONS as readonly string[]).includes(name)) {
    const hint = suggest(name, ACTIONS);
    return { ok: false, error: `unknown action '${t}'${hint ? ` (did you mean '${hint}'?)` : ''}: ${ACTION_HELP}` };
  }
  const action = name as Action;
  if (open < 0) {
    if (action === 'return') {
      return { ok: false, error: "'return' needs the values to return: write return(x0=0) or return(x0=-1, x1=0x2)" };
    }
    return { ok: true, value: { action } };
  }
  if (action !== 'return') {
    return { ok: false, error: `only 'return' takes values: write '${action}' without parentheses` };
  }
  if (!t.endsWith(')')) return { ok: false, error: `'${t}' is missing the closing ')': write return(x0=0x5)` };
  const inner = t.slice(open + 1, -1).trim();
  if (inner === '') return { ok: false, error: "return() is empty: write return(x0=0) or return(x0=-1, x1=0x2)" };
  const values: Record<string, bigint> = {};
  for (const part of inner.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return { ok: false, error: `'${part.trim()}' in return(...) is not REG=VALUE: write e.g. x0=0x5` };
    const reg = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    const checked = checkAssignment(reg, raw, values);
    if (!checked.ok) return checked;
  }
  return { ok: true, value: { action, values } };
}

/** Validates REG=VALUE (VALUE as text or already a number) and stores it into values. */
export function checkAssignment(reg: string, raw: string | number | bigint, values: Record<string, bigint>): Parsed<bigint> {
  const badReg = checkRegisterName(reg);
  if (badReg) return { ok: false, error: badReg };
  if (Object.hasOwn(values, reg)) return { ok: false, error: `${reg} is given twice: keep one value per register` };
  let v: bigint | undefined;
  if (typeof raw === 'bigint') v = raw;
  else if (typeof raw === 'number') v = Number.isSafeInteger(raw) ? BigInt(raw) : undefined;
  else v = parseIntegerText(raw);
  if (v === undefined) {
    return { ok: false, error: `value of ${reg} '${String(raw)}' is not an integer: write e.g. 0x5, 2 or -1 (large values as "0x..." strings)` };
  }
  const badValue = checkRegisterValue(reg, v);
  if (badValue) return { ok: false, error: badValue };
  values[reg] = v;
  return { ok: true, value: v };
}

/** Hex for non-negative values, signed decimal for negative ones (`-1` reads better than 0xfff..f). */
export function formatValue(v: bigint): string {
  return v < 0n ? v.toString() : `0x${v.toString(16)}`;
}

export function formatHex32(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

export function formatAction(spec: ActionSpec): string {
  if (spec.action !== 'return' || !spec.values) return spec.action;
  const parts = Object.entries(spec.values).map(([reg, v]) => `${reg}=${formatValue(v)}`);
  return `return(${parts.join(', ')})`;
}

/** The closest candidate within edit distance 2, for "did you mean" hints. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  if (lower.length >= 2) {
    const prefixed = candidates.find((c) => c.toLowerCase().startsWith(lower));
    if (prefixed) return prefixed;
  }
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance between a and b. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The guest architectures as the register table names them. */
export type GuestRegArch = 'aarch64' | 'arm';

/**
 * A result register of this guest: x0..x17 and w0..w17 on AArch64, r0..r14 on
 * AArch32 (the registers a trap's answer is written to). Any other name, x16 on
 * an AArch32 guest included, is an error saying which names this guest has.
 */
export function resultRegister(arch: GuestRegArch, name: string): Parsed<{ index: number; bits: 32 | 64 }> {
  const m = /^([xwr])(\d{1,2})$/.exec(name);
  const n = m ? Number(m[2]) : -1;
  if (arch === 'aarch64') {
    if (m && m[1] !== 'r' && n <= 17) return { ok: true, value: { index: n, bits: m[1] === 'x' ? 64 : 32 } };
    return { ok: false, error: `this AArch64 guest has no result register '${name}': use x0..x17 or w0..w17` };
  }
  if (m && m[1] === 'r' && n <= 14) return { ok: true, value: { index: n, bits: 32 } };
  return { ok: false, error: `this AArch32 guest has no register '${name}' to return in: use r0..r14` };
}

/** A `return` value as written to the guest: the result register's index and its bits (negative values in two's complement). */
export interface RegisterWrite {
  index: number;
  value: bigint;
}

export type ReturnWrites = { ok: true; value: RegisterWrite[] } | { ok: false; code: 'no-register' | 'invalid'; error: string };

/**
 * The one check of `return` values against a guest: registers it has, values
 * that fit them. Every path uses it: policy files, --on and rules added while
 * running (Policy.checkFor), and a person's or a forward endpoint's values when
 * they are written (session/apply.ts). Nothing is truncated silently.
 */
export function returnWrites(arch: GuestRegArch, values: Record<string, bigint>): ReturnWrites {
  const writes: RegisterWrite[] = [];
  for (const [name, v] of Object.entries(values)) {
    const r = resultRegister(arch, name);
    if (!r.ok) return { ok: false, code: 'no-register', error: r.error };
    const { index, bits } = r.value;
    const tooWide = widthError(name, v, bits, `the guest's ${bits}-bit ${name}`);
    if (tooWide) return { ok: false, code: 'invalid', error: tooWide };
    writes.push({ index, value: BigInt.asUintN(bits, v) });
  }
  return { ok: true, value: writes };
}

/** Checks `return` values against this guest (returnWrites); the error, if any. */
export function checkValuesFor(arch: GuestRegArch, values: Record<string, bigint> | undefined): string | undefined {
  const r = returnWrites(arch, values ?? {});
  return r.ok ? undefined : r.error;
}
