// Core benchmark (`npm run bench`): ratios from one run on this machine.
//  1. guest throughput with no traps: Trapdoor vs a raw libunicorn C program on the
//     same loop (and vs C with the same native block hook Trapdoor installs);
//  2. trap throughput with policy `emulate` vs a bare koffi callback that does
//     nothing, and vs a C hook;
//  3. start-up to the first instruction, in ms.
// Ends with one JSON line of the figures.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import koffi from 'koffi';
import { Session } from '../server/session/session.js';
import { parseElf } from '../server/machine/elf.js';
import { ROOT } from './root.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'trapdoor-bench-'));
const LOOP = path.join(ROOT, 'examples/aarch64/loop.elf');
const STORM = path.join(ROOT, 'examples/aarch64/trap-storm.elf');

function rawImage(elfPath: string) {
  const e = parseElf(readFileSync(elfPath), elfPath);
  if (!e.ok) throw new Error(e.error);
  const text = e.value.segments.find((s) => s.paddr <= e.value.entry && e.value.entry < s.paddr + s.memsz)!;
  const file = path.join(tmp, path.basename(elfPath) + '.bin');
  writeFileSync(file, text.data);
  // The baselines map RAM only: the guest's first UART write after its loop is an
  // unmapped access that ends their run, right where Trapdoor's guest prints and exits.
  return { file, load: text.paddr, entry: e.value.entry, until: 0n };
}

const baseline = path.join(tmp, 'baseline');
execFileSync('gcc', ['-O2', '-o', baseline, path.join(ROOT, 'bench/native/baseline.c'), '-lunicorn']);

function runC(mode: string, img: ReturnType<typeof rawImage>): number {
  const out = execFileSync(baseline, [mode, img.file, '0x' + img.load.toString(16), '0x' + img.entry.toString(16), '0x' + img.until.toString(16)]).toString();
  return JSON.parse(out).seconds as number;
}

async function runTrapdoor(elf: string, countBlocks = true): Promise<{ seconds: number; traps: number; insns: number }> {
  const r = await Session.open({ image: { path: elf }, countBlocks, interactive: false, subscribe: false });
  if (!r.ok) throw new Error(r.error);
  const s = r.value;
  const t0 = process.hrtime.bigint();
  const stop = await s.connect('bench').cont();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!stop.ok || stop.value.reason !== 'exit') throw new Error(`bench guest did not exit: ${JSON.stringify(stop)}`);
  const insns = s.insns;
  const traps = s.trapCount;
  await s.close();
  return { seconds: secs, traps, insns };
}

/** A bare koffi JS callback on UC_HOOK_INTR doing nothing: the cost floor of a JS trap. */
let IntrCb: ReturnType<typeof koffi.proto> | undefined;
function runKoffiBare(img: ReturnType<typeof rawImage>): number {
  const uc = koffi.load('libunicorn.so.2');
  const open = uc.func('int uc_open(int, int, _Out_ void **)');
  const map = uc.func('int uc_mem_map(void *, uint64_t, size_t, uint32_t)');
  const write = uc.func('int uc_mem_write(void *, uint64_t, const void *, size_t)');
  const start = uc.func('int uc_emu_start(void *, uint64_t, uint64_t, uint64_t, size_t)');
  IntrCb ??= koffi.proto('void intr_cb(void *uc, uint32_t intno, void *user)');
  const hookAdd = uc.func('int uc_hook_add(void *, _Out_ uint64_t *, int, intr_cb *, void *, uint64_t, uint64_t)');
  const h: unknown[] = [null];
  open(2, 0, h);
  map(h[0], img.load & ~0xfffn, 128 << 20, 7);
  const bytes = readFileSync(img.file);
  write(h[0], img.load, bytes, bytes.length);
  const cb = koffi.register(() => {}, koffi.pointer(IntrCb));
  hookAdd(h[0], [0n], 1, cb, null, 1n, 0n);
  const t0 = process.hrtime.bigint();
  start(h[0], img.entry, img.until, 0n, 0);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function startup(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await Session.open({ image: { path: LOOP }, interactive: false });
  if (!r.ok) throw new Error(r.error);
  await r.value.connect('bench').step();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await r.value.close();
  return ms;
}

const best = async <T extends number>(n: number, f: () => T | Promise<T>) => {
  let b = Infinity;
  for (let i = 0; i < n; i++) b = Math.min(b, await f());
  return b;
};

const loop = rawImage(LOOP);
const storm = rawImage(STORM);
const REPS = 3;
process.stderr.write('bench: guest loop (no traps)...\n');
const cPlain = await best(REPS, () => runC('plain', loop));
const cBlock = await best(REPS, () => runC('block', loop));
let loopInsns = 0;
const tdLoop = await best(REPS, async () => { const r = await runTrapdoor(LOOP); loopInsns = r.insns; return r.seconds; });
const tdLoopFast = await best(REPS, async () => (await runTrapdoor(LOOP, false)).seconds);
process.stderr.write('bench: trap storm...\n');
let stormTraps = 0;
const tdStorm = await best(REPS, async () => { const r = await runTrapdoor(STORM); stormTraps = r.traps; return r.seconds; });
const koffiBare = await best(REPS, () => runKoffiBare(storm));
const cStorm = await best(REPS, () => runC('trapc', storm));
process.stderr.write('bench: start-up...\n');
const startMs = await best(5, startup);

const figures = {
  loop_insns: loopInsns,
  loop_c_plain_s: cPlain, loop_c_block_s: cBlock, loop_trapdoor_s: tdLoop, loop_trapdoor_nocount_s: tdLoopFast,
  loop_ratio_vs_c: cPlain / tdLoop,
  loop_ratio_vs_c_same_hook: cBlock / tdLoop,
  loop_nocount_ratio_vs_c: cPlain / tdLoopFast,
  guest_minstr_per_s: loopInsns / tdLoop / 1e6,
  traps: stormTraps,
  trap_trapdoor_per_s: stormTraps / tdStorm,
  trap_koffi_bare_per_s: stormTraps / koffiBare,
  trap_c_per_s: stormTraps / cStorm,
  trap_ratio_vs_koffi_bare: koffiBare / tdStorm,
  trap_ratio_vs_c: cStorm / tdStorm,
  startup_ms: startMs,
};
const f2 = (x: number) => x.toFixed(2);
console.log(`guest loop, ${loopInsns} instructions, no traps (best of ${REPS}):`);
console.log(`  raw C ${f2(cPlain)} s | C + block hook ${f2(cBlock)} s | Trapdoor ${f2(tdLoop)} s | Trapdoor --no-count ${f2(tdLoopFast)} s`);
console.log(`  ratio vs raw C: ${f2(figures.loop_ratio_vs_c)}x (goal >= 0.9)   vs C with the same block hook: ${f2(figures.loop_ratio_vs_c_same_hook)}x   no-count mode vs raw C: ${f2(figures.loop_nocount_ratio_vs_c)}x`);
console.log(`trap storm, ${stormTraps} SMC PSCI_VERSION calls, policy emulate:`);
console.log(`  Trapdoor ${(figures.trap_trapdoor_per_s / 1e6).toFixed(3)} M/s | bare koffi callback ${(figures.trap_koffi_bare_per_s / 1e6).toFixed(3)} M/s | C hook ${(figures.trap_c_per_s / 1e6).toFixed(3)} M/s`);
console.log(`  ratio vs bare koffi: ${f2(figures.trap_ratio_vs_koffi_bare)}x (goal >= 0.5)   vs C: ${f2(figures.trap_ratio_vs_c)}x`);
console.log(`start-up to first instruction: ${startMs.toFixed(1)} ms`);
console.log(JSON.stringify({ bench: 'core', ...figures }));
