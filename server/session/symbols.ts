// Names for code addresses from the image's symbols (`name+0x10`), for every
// front-end and the worker alike.
import { hex } from '../machine/memory.js';
import type { CpuArch } from '../machine/registers.js';
import type { ElfSymbol } from '../machine/elf.js';

/** Nearest code symbol at or below addr, as `name+0x10` (within 64 KiB), or undefined. */
export function symbolizeIn(symbols: readonly ElfSymbol[], arch: CpuArch, addr: bigint): string | undefined {
  let best: { name: string; value: bigint } | undefined;
  for (const s of symbols) {
    // an AArch32 Thumb function's value has bit 0 set: its code starts one byte lower
    const value = arch === 'arm' && s.type === 'func' ? s.value & ~1n : s.value;
    if (namesCode(s) && value <= addr && (!best || value > best.value)) best = { name: s.name, value };
  }
  if (!best || addr - best.value > 0x10000n) return undefined;
  return addr === best.value ? best.name : `${best.name}+${hex(addr - best.value)}`;
}

/** Symbols the GNU linker defines for section bounds (`_bss_end__`, `_edata`, `end`): they mark data, not code. */
const LINKER_SYMBOL = /^_*(bss_start|bss_end|edata|etext|end|data_start|exidx_start|exidx_end)_*$/;

/** A symbol that can name a code address: a function or a label, not a data object or a linker bound. */
function namesCode(s: ElfSymbol): boolean {
  return s.type !== 'object' && !LINKER_SYMBOL.test(s.name);
}
