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

/** A `trapdoor serve` started by a test, with the addresses it announced on stderr. */
export interface ServeProcess {
  proc: import('node:child_process').ChildProcess;
  /** The JSON-RPC listener's, the web page's and the gdb stub's ports (those asked for). */
  rpc: number;
  web: number;
  gdb: number;
  /** Everything it printed on stderr so far. */
  err: () => string;
}

const ANNOUNCED = {
  rpc: /serve: listening on 127\.0\.0\.1:(\d+)/,
  web: /web triage page on https?:\/\/127\.0\.0\.1:(\d+)\//,
  gdb: /gdb stub for session \S+ on 127\.0\.0\.1:(\d+)/,
};

/**
 * `trapdoor serve ARGS` as a user starts it: resolves once it has announced every
 * address in `want` (the listener by default), rejects if it ends first. The
 * process goes into `track` (for the test file's cleanup).
 */
export function startServe(args: string[], track: import('node:child_process').ChildProcess[], want: (keyof typeof ANNOUNCED)[] = ['rpc']): Promise<ServeProcess> {
  const p = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  track.push(p);
  let err = '';
  return new Promise((resolve, reject) => {
    p.stderr!.on('data', (d) => {
      err += d;
      const ports = { rpc: 0, web: 0, gdb: 0 };
      for (const k of want) {
        const m = ANNOUNCED[k].exec(err);
        if (!m) return;
        ports[k] = Number(m[1]);
      }
      resolve({ proc: p, ...ports, err: () => err });
    });
    p.on('close', (code) => reject(new Error(`serve ended (${code}): ${err}`)));
  });
}
