// `trapdoor decode ID [x1 x2 ...]`: offline decode of an SMCCC function id, a Xen
// hypercall or a legacy platform call, printed as the trap table shows it.
import { parseArgs } from 'node:util';
import { decodeCall } from '../decode/index.js';
import type { CallContext, GuestArch } from '../decode/types.js';
import { parseNumber } from '../machine/memory.js';
import { EXIT, UsageError } from './errors.js';

export const DECODE_HELP = `Usage: trapdoor decode ID [ARG1 ARG2 ...] [options]

Decodes a call offline: ID is x0/r0 (an SMCCC function id), ARGn are x1, x2, ...

Options:
  --hvc                 the call was made with HVC (default SMC)
  --xen NUM             a Xen hypercall (HVC #0xEA1) with hypercall number NUM; ID is x0
  --arch aarch64|aarch32|thumb   calling state (default aarch64; aarch32 masks to 32 bits)
  --platform NAME       legacy call table (highbank, omap4); --r12 sets r12
  --r12 VALUE           r12 for legacy platform calls
  --json                print the decoded record as JSON

Examples:
  trapdoor decode 0xc4000003 0x1 0x40080000 0
  trapdoor decode 0x84000000
  trapdoor decode 0 --xen 17
  trapdoor decode 1 --arch aarch32 --platform highbank --r12 0x102
`;

export function decodeCommand(argv: string[]): number {
  const { values: o, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { hvc: { type: 'boolean' }, xen: { type: 'string' }, arch: { type: 'string' }, platform: { type: 'string' }, r12: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (o.help) { process.stdout.write(DECODE_HELP); return EXIT.OK; }
  if (!positionals.length) throw new UsageError('no function id given: trapdoor decode ID [ARGS...] (see trapdoor decode --help)');
  const nums = positionals.map((p) => {
    const n = parseNumber(p);
    if (n === undefined) throw new UsageError(`"${p}" is not a number (use 0x-hex or decimal)`);
    return n;
  });
  const arch = (o.arch ?? 'aarch64') as GuestArch;
  if (!['aarch64', 'aarch32', 'thumb'].includes(arch)) throw new UsageError(`bad --arch "${o.arch}": use aarch64, aarch32 or thumb`);
  const n = arch === 'aarch64' ? 18 : 15;
  const args = new Array<bigint>(n).fill(0n);
  nums.slice(0, n).forEach((v, i) => { args[i] = v; });
  let conduit: CallContext['conduit'] = o.hvc ? 'hvc' : 'smc';
  let imm = 0;
  if (o.xen !== undefined) {
    const x = parseNumber(o.xen);
    if (x === undefined) throw new UsageError(`bad --xen "${o.xen}": a hypercall number such as 17`);
    conduit = 'hvc';
    imm = 0xea1;
    args[arch === 'aarch64' ? 16 : 12] = x;
  }
  if (o.r12 !== undefined) {
    const v = parseNumber(o.r12);
    if (v === undefined) throw new UsageError(`bad --r12 "${o.r12}"`);
    args[12] = v;
  }
  const d = decodeCall({ arch, conduit, imm, args, platform: o.platform });
  if (o.json) { process.stdout.write(JSON.stringify(d, null, 2) + '\n'); return EXIT.OK; }
  const lines = [d.summary, `  kind ${d.kind}, owner ${d.owner}${d.service ? `, service ${d.service}` : ''}, name ${d.name}${d.id ? `, id ${d.id}` : ''}`];
  if (d.callconv) lines.push(`  ${d.fast ? 'fast' : 'yielding'} call, SMC${d.callconv}/HVC${d.callconv}`);
  for (const a of d.args) lines.push(`  ${a.name.padEnd(22)} ${a.value}`);
  for (const [k, v] of Object.entries(d.fields)) lines.push(`  ${k.padEnd(22)} ${typeof v === 'number' ? '0x' + v.toString(16) : String(v)}`);
  lines.push(`  decoded by: ${d.rule}`);
  process.stdout.write(lines.join('\n') + '\n');
  return EXIT.OK;
}
