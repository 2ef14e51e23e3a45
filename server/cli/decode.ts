// `trapdoor decode ID [x1 x2 ...]`: offline decode of an SMCCC function id, a Xen
// hypercall or a legacy platform call, printed as the trap table shows it.
import { argRegisters, decodeCall } from '../decode/index.js';
import type { CallContext, GuestArch } from '../decode/types.js';
import { parseNumber } from '../machine/memory.js';
import { EXIT, UsageError } from './errors.js';
import { archOption, parseCommandLine, platformOption, PLATFORM_NAMES } from './args.js';
import { XEN_HYPERCALLS } from '../policy/names.js';
import { suggest } from '../policy/values.js';

export const DECODE_HELP = `Usage: trapdoor decode ID [ARG1 ARG2 ...] [options]

Decodes a call offline: ID is x0/r0 (an SMCCC function id), ARGn are x1, x2, ...

Options:
  --hvc                 the call was made with HVC (default SMC)
  --xen NUM|NAME        a Xen hypercall (HVC #0xEA1): number or name (17, xen_version); ID is x0
  --arch NAME           calling state: aarch64 (default), aarch32 (or arm), thumb;
                        AArch32 masks to 32 bits
  --platform NAME       legacy call table (${PLATFORM_NAMES.join(', ')}); --r12 sets r12
  --r12 VALUE           r12 for legacy platform calls
  --json                print the decoded record as JSON

Examples:
  trapdoor decode 0xc4000003 0x1 0x40080000 0
  trapdoor decode 0x84000000
  trapdoor decode 0 --xen 17
  trapdoor decode 0 --xen xen_version
  trapdoor decode 1 --arch aarch32 --platform highbank --r12 0x102
`;

export function decodeCommand(argv: string[]): number {
  const { values: o, positionals } = parseCommandLine('decode', argv, {
    hvc: { type: 'boolean' }, xen: { type: 'string' }, arch: { type: 'string' }, platform: { type: 'string' }, r12: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (o.help) { process.stdout.write(DECODE_HELP); return EXIT.OK; }
  if (!positionals.length) throw new UsageError('no function id given: trapdoor decode ID [ARGS...] (see trapdoor decode --help)');
  const arch: GuestArch = o.arch !== undefined ? archOption(o.arch) : 'aarch64';
  const width = arch === 'aarch64' ? 64 : 32;
  const nums = positionals.map((p) => {
    const n = parseNumber(p) ?? (/^-\d+$/.test(p) ? BigInt(p) : undefined);
    if (n === undefined) throw new UsageError(`"${p}" is not a number (use 0x-hex or decimal, e.g. 0x84000000 or -1)`);
    // a negative value is the register holding its two's complement (-1 = all ones)
    return BigInt.asUintN(width, n);
  });
  const platform = o.platform !== undefined ? platformOption(o.platform) : undefined;
  const args = argRegisters(arch, nums);
  let conduit: CallContext['conduit'] = o.hvc ? 'hvc' : 'smc';
  let imm = 0;
  if (o.xen !== undefined) {
    const x = xenNumber(o.xen);
    conduit = 'hvc';
    imm = 0xea1;
    args[arch === 'aarch64' ? 16 : 12] = x;
  }
  if (o.r12 !== undefined) {
    const v = parseNumber(o.r12);
    if (v === undefined) throw new UsageError(`bad --r12 "${o.r12}"`);
    args[12] = v;
  }
  const d = decodeCall({ arch, conduit, imm, args, platform });
  if (o.json) { process.stdout.write(JSON.stringify(d, null, 2) + '\n'); return EXIT.OK; }
  const lines = [d.summary, `  kind ${d.kind}, owner ${d.owner}${d.service ? `, service ${d.service}` : ''}, name ${d.name}${d.id ? `, id ${d.id}` : ''}`];
  if (d.callconv) lines.push(`  ${d.fast ? 'fast' : 'yielding'} call, SMC${d.callconv}/HVC${d.callconv}`);
  for (const a of d.args) lines.push(`  ${a.name.padEnd(22)} ${a.value}`);
  for (const [k, v] of Object.entries(d.fields)) lines.push(`  ${k.padEnd(22)} ${typeof v === 'number' ? '0x' + v.toString(16) : String(v)}`);
  lines.push(`  decoded by: ${d.rule}`);
  process.stdout.write(lines.join('\n') + '\n');
  return EXIT.OK;
}

/** A hypercall number (17) or name (xen_version), as policies take them. */
function xenNumber(text: string): bigint {
  const n = parseNumber(text) ?? (Object.hasOwn(XEN_HYPERCALLS, text.toLowerCase()) ? BigInt(XEN_HYPERCALLS[text.toLowerCase()]) : undefined);
  if (n !== undefined) return n;
  const hint = suggest(text, Object.keys(XEN_HYPERCALLS));
  throw new UsageError(`bad --xen "${text}": a hypercall number such as 17 or a name such as xen_version${hint ? ` (did you mean ${hint}?)` : ''}`);
}
