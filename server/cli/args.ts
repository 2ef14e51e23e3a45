// Command-line parsing shared by the commands: node:util parseArgs underneath, with
// our own one-line messages instead of its raw ones (unknown option, missing value),
// negative numbers accepted as values (`--timeout -1` is then refused by the number
// check, with a message that says what is allowed) and as positionals (`decode -1`),
// and the number checks every option uses.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseNumber } from '../machine/memory.js';
import { suggest } from '../policy/values.js';
import { LEGACY_PLATFORMS, findLegacyPlatform } from '../decode/legacy.js';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Marks a positional negative number (`decode -1`) so that parseArgs does not take it for an option. */
const NEGATIVE = '\u0000';

export function parseCommandLine<O extends Options>(command: string, argv: string[], options: O) {
  const see = `see trapdoor ${command} --help`;
  const byShort = new Map(Object.entries(options).filter(([, o]) => o.short).map(([n, o]) => [o.short!, n]));
  const takesValue = (arg: string) => {
    const name = arg.startsWith('--') ? arg.slice(2) : byShort.get(arg.slice(1));
    return !arg.includes('=') && name !== undefined && options[name]?.type === 'string';
  };
  const marked: string[] = [];
  let rest = false;
  for (const [i, a] of argv.entries()) {
    if (a === '--') rest = true;
    marked.push(!rest && /^-\d/.test(a) && !(i > 0 && takesValue(argv[i - 1])) ? NEGATIVE + a : a);
  }
  const { tokens } = parseArgs({ args: marked, options, strict: false, allowPositionals: true, tokens: true });
  const clean: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') { clean.push(t.value); continue; }
    if (t.kind === 'option-terminator') { clean.push('--'); continue; }
    const spec = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (!spec) {
      const hint = suggest(t.name, Object.keys(options));
      throw new UsageError(`unknown option ${t.rawName}${hint ? ` (did you mean --${hint}?)` : ''} (${see})`);
    }
    if (spec.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`--${t.name} takes no value (${see})`);
      clean.push(`--${t.name}`);
    } else {
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))) throw new UsageError(`--${t.name} needs a value (${see})`);
      clean.push(`--${t.name}=${t.value}`);
    }
  }
  const { values, positionals } = parseArgs({ args: clean, options, strict: true, allowPositionals: true });
  return { values, positionals: positionals.map((p) => (p.startsWith(NEGATIVE) ? p.slice(1) : p)) };
}

/** A whole number within [min, max] (hex or decimal), or one clear line saying what is allowed. */
export function intOption(flag: string, text: string, min: number, max: number, what: string): number {
  const n = parseNumber(text);
  if (n === undefined || n < BigInt(min) || n > BigInt(max)) throw new UsageError(`bad ${flag} "${text}": expected ${what} from ${min} to ${max}`);
  return Number(n);
}

/** A number (hex or decimal) such as an address, or one clear line saying what is expected. */
export function numberOption(flag: string, v: string): bigint {
  const n = parseNumber(v);
  if (n === undefined) throw new UsageError(`bad ${flag} "${v}": expected a number such as 0x40000000 or 4096`);
  return n;
}

/** A decimal number of seconds, more than 0 and at most max. */
export function secondsOption(flag: string, text: string, max: number): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!(n > 0 && n <= max)) throw new UsageError(`bad ${flag} "${text}": expected seconds, more than 0 and at most ${max} (e.g. 10 or 0.5)`);
  return n;
}

/** The architecture names both commands take: aarch64, aarch32 (or arm), thumb. */
export const ARCH_NAMES = ['aarch64', 'aarch32', 'arm', 'thumb'] as const;
export type ArchName = 'aarch64' | 'aarch32' | 'thumb';

export function archOption(text: string): ArchName {
  const a = text.toLowerCase();
  if (a === 'arm' || a === 'aarch32') return 'aarch32';
  if (a === 'aarch64' || a === 'thumb') return a;
  throw new UsageError(`bad --arch "${text}": use aarch64, aarch32 (or arm) or thumb`);
}

export const PLATFORM_NAMES: readonly string[] = Object.keys(LEGACY_PLATFORMS);

/** A legacy platform table name, or one line listing the known ones. */
export function platformOption(text: string, where = '--platform'): string {
  if (findLegacyPlatform(text)) return text.toLowerCase();
  throw new UsageError(`unknown ${where} "${text}": the legacy call tables are ${PLATFORM_NAMES.join(', ')}`);
}

/** Seconds as secondsOption takes them, or 0 for "off". */
export function secondsOrOff(flag: string, text: string): number {
  return /^\s*0+(\.0*)?\s*$/.test(text) ? 0 : secondsOption(flag, text, 24 * 3600);
}
