// The trapdoor command as a user runs it: `node bin/trapdoor.js ...` in a child process.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './asm.js';

export const BIN = path.join(ROOT, 'bin/trapdoor.js');

/** Runs trapdoor with args to its end: exit code, stdout and stderr. */
export function trapdoorAsync(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ code, out, err }));
  });
}
