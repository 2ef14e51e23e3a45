// Record-path benchmark (part of `npm run bench`): what `trapdoor run` does with
// a trap storm, as a user runs it, each figure against its goal:
//  - trap records/s with --trap-log (the log written before the guest runs on)
//  - table rows/s with the table written to a file
//  - traps/s headless (no record consumer)
//  - start-up overhead: `trapdoor run` of a 6-instruction guest over a bare `node -e 0`
// Rates come from the run's own summary (its wall time from start to end of the
// guest), the start-up from whole process times (median of several runs).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './root.js';
import { Session } from '../server/session/session.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const STORM = path.join(ROOT, 'examples/aarch64/trap-storm.elf');
const tmp = mkdtempSync(path.join(tmpdir(), 'trapdoor-bench-rec-'));
const REPS = Number(process.env.BENCH_REPS ?? 3);

/** Runs trapdoor; returns the traps and seconds its summary line reports. */
function run(args: string[], stdoutFile?: string): { traps: number; seconds: number } {
  const fd = stdoutFile ? openSync(stdoutFile, 'w') : 'pipe';
  const r = spawnSync(process.execPath, [BIN, 'run', ...args], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', maxBuffer: 1 << 26 });
  if (typeof fd === 'number') closeSync(fd);
  const text = (r.stderr ?? '') + (stdoutFile ? readFileSync(stdoutFile, 'utf8').slice(-2000) : r.stdout ?? '');
  const m = /\((\d+) traps?, \d+ instructions, ([\d.]+) s\)/.exec(text);
  if (r.status !== 0 || !m) throw new Error(`trapdoor ${args.join(' ')} failed (${r.status}):\n${text.slice(-2000)}`);
  return { traps: Number(m[1]), seconds: Number(m[2]) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[], f: (x: number) => string) => `${f(Math.min(...xs))}-${f(Math.max(...xs))}`;

function rate(label: string, args: () => string[], out?: string) {
  const rates: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const r = run(args(), out);
    rates.push(r.traps / r.seconds);
  }
  process.stderr.write(`bench: ${label} done\n`);
  return rates;
}

const log = path.join(tmp, 'traps.jsonl');
const table = path.join(tmp, 'table.txt');
const logged = rate('trap log', () => { rmSync(log, { force: true }); return [STORM, '--quiet', '--trap-log', log]; });
const logBytes = statSync(log).size;
const rows = rate('table to a file', () => [STORM], table);
const headless = rate('headless', () => [STORM, '--quiet']);

// Start-up: a guest of six instructions that calls SYSTEM_OFF, against `node -e 0`.
const tinyDir = mkdtempSync(path.join(tmp, 'tiny-'));
writeFileSync(path.join(tinyDir, 'tiny.S'), '.global _start\n_start:\n  ldr x0, =0x84000008\n  smc #0\n');
execFileSync('aarch64-linux-gnu-as', ['-o', path.join(tinyDir, 'tiny.o'), path.join(tinyDir, 'tiny.S')]);
execFileSync('aarch64-linux-gnu-ld', ['-Ttext=0x40000000', '-e', '_start', '-o', path.join(tinyDir, 'tiny.elf'), path.join(tinyDir, 'tiny.o')]);
// a loop to single-step through (the step bench of the channel)
writeFileSync(path.join(tinyDir, 'spin.S'), '.global _start\n_start:\n  mov x1, #0\nloop:\n  add x1, x1, #1\n  add x2, x2, #3\n  eor x3, x3, x1\n  b loop\n');
execFileSync('aarch64-linux-gnu-as', ['-o', path.join(tinyDir, 'spin.o'), path.join(tinyDir, 'spin.S')]);
execFileSync('aarch64-linux-gnu-ld', ['-Ttext=0x40000000', '-e', '_start', '-o', path.join(tinyDir, 'spin.elf'), path.join(tinyDir, 'spin.o')]);
const wall = (cmd: string[]) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, cmd, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
const nodeMs: number[] = [];
const runMs: number[] = [];
for (let i = 0; i < 7; i++) {
  nodeMs.push(wall(['-e', '0']));
  runMs.push(wall([BIN, 'run', path.join(tinyDir, 'tiny.elf'), '--quiet']));
}
const overhead = median(runMs) - median(nodeMs);

// The Session <-> worker channel, both ways it can go (mailbox.ts): a request the
// worker answers at once (writing a register: nothing on the main thread can answer
// it) with the main thread sleeping between calls
// and busy-polling (as the gdb stub does), and a single step (with the registers
// a stop reply carries), taken in turns so that machine noise falls on both.
type Channel = 'mailbox' | 'postMessage';
const CHANNELS: Channel[] = ['mailbox', 'postMessage'];
const probes = new Map<Channel, { s: Session; c: ReturnType<Session['connect']> }>();
for (const channel of CHANNELS) {
  const opened = await Session.open({ image: { path: path.join(tinyDir, 'spin.elf') }, channel });
  if (!opened.ok) throw new Error(opened.error);
  probes.set(channel, { s: opened.value, c: opened.value.connect('bench') });
}
let polling = false;
const poll = () => { if (polling) setImmediate(poll); };
const timeEach = async (n: number, f: () => Promise<unknown>) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f();
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
};
const STEP_REGS = ['pc', 'cpsr', ...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp'];
const chan = new Map<Channel, { sleeping: number[]; hot: number[]; step: number[] }>(CHANNELS.map((c) => [c, { sleeping: [], hot: [], step: [] }]));
for (let i = 0; i < REPS; i++) {
  for (const channel of CHANNELS) {
    const { c } = probes.get(channel)!;
    const m = chan.get(channel)!;
    const request = () => c.writeRegister({ name: 'x9', value: '0x1' }).then((r) => { if (!r.ok) throw new Error(r.error); });
    m.sleeping.push(await timeEach(3000, request));
    polling = true; poll();
    m.hot.push(await timeEach(3000, request));
    m.step.push(await timeEach(3000, async () => { const r = await c.step({ registers: STEP_REGS }); if (!r.ok) throw new Error(r.error); }));
    polling = false;
  }
}
for (const { s } of probes.values()) await s.close();
rmSync(tmp, { recursive: true, force: true });

const k = (x: number) => `${(x / 1e3).toFixed(0)} k`;
const goal = (x: number, g: number) => `${(x / g).toFixed(2)}x of the goal`;
console.log(`record path, trap-storm (1,000,001 traps), ${REPS} runs each (median, range):`);
console.log(`  --trap-log:          ${k(median(logged))} records/s (${range(logged, k)}), ${(logBytes / 1e6).toFixed(0)} MB   goal >= 250 k/s: ${goal(median(logged), 250e3)}`);
console.log(`  table to a file:     ${k(median(rows))} rows/s (${range(rows, k)})   goal >= 250 k/s: ${goal(median(rows), 250e3)}`);
console.log(`  headless (--quiet):  ${k(median(headless))} traps/s (${range(headless, k)})   goal >= 1.5 M/s: ${goal(median(headless), 1.5e6)}`);
console.log(`start-up: trapdoor run of a 6-instruction guest ${median(runMs).toFixed(0)} ms, node -e 0 ${median(nodeMs).toFixed(0)} ms: overhead ${overhead.toFixed(0)} ms (goal <= 150 ms)`);
const us = (x: number) => `${x.toFixed(1)} us`;
console.log('channel (Session <-> worker), median (range):');
for (const channel of CHANNELS) {
  const m = chan.get(channel)!;
  console.log(`  ${channel.padEnd(12)} request ${us(median(m.sleeping))} (${range(m.sleeping, us)}) main thread sleeping, ${us(median(m.hot))} (${range(m.hot, us)}) busy-polling; single step ${us(median(m.step))} (${range(m.step, us)})`);
}
const mb = chan.get('mailbox')!, pm = chan.get('postMessage')!;
console.log(`  mailbox vs postMessage: request ${(median(pm.sleeping) / median(mb.sleeping)).toFixed(2)}x / ${(median(pm.hot) / median(mb.hot)).toFixed(2)}x faster, single step ${(median(pm.step) / median(mb.step)).toFixed(2)}x`);
console.log(JSON.stringify({
  bench: 'records', log_records_per_s: median(logged), table_rows_per_s: median(rows), headless_traps_per_s: median(headless),
  startup_ms: median(runMs), node_ms: median(nodeMs), startup_overhead_ms: overhead,
  channel_us_sleeping: median(mb.sleeping), channel_us_polling: median(mb.hot), step_us: median(mb.step),
  post_message_us_sleeping: median(pm.sleeping), post_message_us_polling: median(pm.hot), post_message_step_us: median(pm.step),
}));
