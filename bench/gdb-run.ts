// gdb-multiarch driven by a script, shared by the gdb and DAP benches: the script
// prints `BENCH name seconds` lines (timed()), which runGdb collects.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const GDB = 'gdb-multiarch';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

export async function waitForPort(port: number, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs gdb with a script (written into dir); returns the values it printed as `BENCH name value`. */
export function runGdb(dir: string, elf: string, port: number, script: string): Promise<Record<string, number>> {
  const file = path.join(dir, `script-${port}-${Math.random().toString(36).slice(2)}.gdb`);
  writeFileSync(file, script);
  const args = ['-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', 'set architecture aarch64',
    '-ex', `file ${elf}`, '-ex', `target remote 127.0.0.1:${port}`, '-x', file];
  return new Promise((resolve, reject) => {
    const child = spawn(GDB, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    child.on('exit', () => {
      const values: Record<string, number> = {};
      for (const m of out.matchAll(/^BENCH (\w+) ([\d.e+-]+)$/gm)) values[m[1]] = Number(m[2]);
      if (!Object.keys(values).length) reject(new Error(`gdb printed no figures:\n${out.slice(-2000)}`));
      else resolve(values);
    });
  });
}

/** Times body in gdb's Python; the figure is printed once output is no longer redirected. */
export const timed = (name: string, body: string, quiet = false) => `python import time; _t0 = time.perf_counter()
${quiet ? 'set logging redirect on\nset logging file /dev/null\nset logging enabled on\n' : ''}${body}
${quiet ? 'set logging enabled off\n' : ''}python print("BENCH ${name} %.6f" % (time.perf_counter() - _t0))
`;

/** A gdb script of n stepi round trips, timed as `stepi`. */
export const stepiScript = (n: number) => `${timed('stepi', `set $i = 0\nwhile $i < ${n}\n  stepi\n  set $i = $i + 1\nend`, true)}
detach
`;
