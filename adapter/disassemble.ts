// DAP `disassemble`: exactly `instructionCount` instructions around a memory
// reference (`offset` bytes from it, then `instructionOffset` instructions, back
// when negative), A64, A32 or Thumb by the mapping symbols and the CPU state,
// `$d` data as .word. Unreadable memory and encodings Capstone rejects are entries
// with presentationHint 'invalid'; addresses are unsigned 64-bit hex.
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { SessionClient } from '../server/session/session.js';
import { decoder, Lister, MASK64, wrap64 } from '../server/debuginfo/disasm.js';
import { hex } from '../server/machine/memory.js';
import { parseAddress } from './host.js';
import { cpuThumb } from './frames.js';
import type { SourceSupport } from './source.js';

/** More than any disassembly view asks for at once; a bigger request is refused rather than run for minutes. */
const MAX_COUNT = 10_000;

export async function disassemble(c: SessionClient, src: SourceSupport, args: DebugProtocol.DisassembleArguments): Promise<DebugProtocol.DisassembledInstruction[] | string> {
  const ref = parseAddress(args.memoryReference);
  if (ref === undefined || ref > MASK64) return `bad memoryReference "${args.memoryReference}": expected an address such as 0x40000000`;
  const count = args.instructionCount;
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) return `instructionCount ${count} is out of range (0 .. ${MAX_COUNT})`;
  const offset = args.offset ?? 0, insnOffset = args.instructionOffset ?? 0;
  if (!Number.isInteger(offset) || !Number.isInteger(insnOffset) || Math.abs(insnOffset) > MAX_COUNT) return 'offset and instructionOffset must be whole numbers (instructionOffset within ±10000)';
  const info = src.debugInfo();
  const lister = new Lister(await decoder(), info, async (addr, len) => {
    const r = await c.readMemory({ addr: hex(addr), len });
    return r.ok && r.value.length === len ? r.value : undefined;
  }, await cpuThumb(c));
  const items = await lister.list(wrap64(ref + BigInt(offset)), insnOffset, count);
  const digits = c.arch === 'aarch64' ? 16 : 8;
  return items.map((it) => {
    const d: DebugProtocol.DisassembledInstruction = {
      address: '0x' + it.address.toString(16).padStart(digits, '0'),
      instruction: it.text,
    };
    if (it.bytes) d.instructionBytes = it.bytes;
    if (it.invalid) d.presentationHint = 'invalid';
    const sym = args.resolveSymbols === false ? undefined : info.symbolAt(it.address);
    if (sym) d.symbol = sym;
    const at = src.located(it.address);
    if (at) { d.location = at.source; d.line = at.line; }
    return d;
  });
}
