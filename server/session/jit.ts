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
import { setFlagsFromString } from 'node:v8';

const INTERRUPT_BUDGET = 1024;
let done = false;

/** Functions that start running from now on are optimized sooner (both threads). */
export function tierUpSooner(): void {
  if (done) return;
  done = true;
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}
