// V8 optimizes a function once it has run this much bytecode; its default (66 KiB)
// is tuned for long-lived servers. A single step is a few hundred lines of JS in
// each thread (the front-end's packet, the Session, the worker's step and stop), so
// with the default the first ~2000 steps of a session run mostly unoptimized:
// 310-460 us each from a raw RSP client (bench/gdb.ts's client, fresh processes),
// 195-275 us with this budget (4096: 250-340; 512 was erratic); from the third
// thousand on, ~130 us either way. V8 flags are the process's: this is
// set when a person starts to drive a session step by step (a gdb connection, a
// debug adapter's launch), not at start-up, where tiering up sooner only adds
// compiling (`trapdoor run` started ~40 ms slower with it).
import { readFileSync, readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setFlagsFromString } from 'node:v8';

const INTERRUPT_BUDGET = 1024;
let done = false;

/** Functions that start running from now on are optimized sooner (both threads). */
export function tierUpSooner(): void {
  if (done) return;
  done = true;
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}

/** The nice value given to the process's helper threads (see lowerBackgroundThreads). */
export const BACKGROUND_NICE = 19;
let lowered = false;

/**
 * Puts node's helper threads (V8's compiler and GC workers, libuv's pool) behind
 * the threads a person waits on: the main thread, the emulation thread and the
 * gdb watchers (named trapdoor-*: td_thread_name). On a 2-core machine a gdb
 * session already keeps both cores busy (the emulation thread spins for gdb's
 * next packet, gdb thinks on the other), and V8 tiering up the step path (~100
 * functions, ~0.5 s of compiling in the first few hundred steps) took its CPU
 * from them: the first 2000 raw steps took 154 us each (median of six runs),
 * 102 us with the helpers lowered (fresh processes, taking turns; bench/gdb.ts
 * measures it).
 * Linux only (a thread's nice value is its own there); elsewhere nothing happens.
 * Once per process, when a front-end starts to drive a session step by step.
 */
export function lowerBackgroundThreads(): void {
  if (lowered) return;
  lowered = true;
  let tids: string[];
  try { tids = readdirSync('/proc/self/task'); } catch { return; }
  for (const tid of tids) {
    if (Number(tid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').startsWith('trapdoor')) continue;
      setPriority(Number(tid), BACKGROUND_NICE);
    } catch { /* gone meanwhile, or not ours to change */ }
  }
}
