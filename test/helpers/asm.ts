// Assembles a small guest from source text with Debian's binutils, for tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const TOOLS = {
  aarch64: { as: 'aarch64-linux-gnu-as', ld: 'aarch64-linux-gnu-ld' },
  arm: { as: 'arm-linux-gnueabihf-as', ld: 'arm-linux-gnueabihf-ld' },
} as const;

/** The run's scratch folder (test/helpers/global-setup.ts removes it), or the system one. */
export function scratchDir(): string {
  return process.env.TRAPDOOR_TEST_TMP ?? tmpdir();
}

let counter = 0;
/** Returns the path of an ELF linked at 0x40000000 with entry `_start`. */
export function assemble(arch: 'aarch64' | 'arm', source: string, name = 'guest'): string {
  const dir = mkdtempSync(path.join(scratchDir(), `${name}-${counter++}-`));
  const src = path.join(dir, `${name}.S`);
  const obj = path.join(dir, `${name}.o`);
  const elf = path.join(dir, `${name}.elf`);
  writeFileSync(src, source);
  const t = TOOLS[arch];
  execFileSync(t.as, [arch === 'arm' ? '-march=armv7-a+sec+virt' : '-march=armv8-a', '-o', obj, src]);
  execFileSync(t.ld, ['-Ttext=0x40000000', '-e', '_start', '-o', elf, obj]);
  return elf;
}

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** An AArch32 vector table (`vectors`, 32-byte aligned) whose undef entry branches to `handler`. */
export function armVectors(handler: string): string {
  return `.balign 32\nvectors:\n  b .\n  b ${handler}\n${'  b .\n'.repeat(6)}`;
}
