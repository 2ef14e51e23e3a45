// A busy-poll window: after each message a front-end answers, its thread keeps its
// event loop turning for a moment (an immediate that re-arms itself keeps libuv
// from sleeping in epoll), so the client's next message, usually tens of
// microseconds away, is taken without a wake-up. On this 2-core VM a wake-up costs
// more than answering a small message. It spins only while the client talks: an
// idle client costs nothing. Used by the gdb connection (on the emulation thread)
// and the debug adapter (whose client asks four things at every stop).

import { ffi } from '../machine/unicorn.js';

let yieldFn: (() => number) | null | undefined;
/**
 * sched_yield(2) (libc, through koffi; undefined where it cannot be bound): for a
 * window's turns on a thread that has no native read to make (the debug adapter).
 * A client woken by our answer is often queued on the spinning thread's own CPU
 * (a pipe's or socket's wake-up expects the writer to sleep next); yielding lets
 * it run at once. The bench's DAP client waited 141-220 us per step for a CPU
 * without it, 81-141 us with it. Loads koffi (tens of ms) the first time: call
 * it before the first window opens.
 */
export function cpuYield(): (() => number) | undefined {
  if (yieldFn === undefined) {
    try { yieldFn = ffi().load('libc.so.6').func('int sched_yield()') as () => number; } catch { yieldFn = null; }
  }
  return yieldFn ?? undefined;
}

export interface HotWindowHooks {
  /** The window opens (true) or closes (false). */
  changed?: (hot: boolean) => void;
  /** Called at each turn while open: e.g. a native read of the client's next bytes. */
  turn?: () => void;
  /** The window stays shut from now on (the client has gone). */
  over?: () => boolean;
}

export class HotWindow {
  private hot = false;
  private until = 0;

  constructor(private readonly ms: number, private readonly hooks: HotWindowHooks = {}) {}

  /** Opens the window, or makes it last `ms` from now. */
  touch() {
    if (this.ms <= 0) return;
    this.until = performance.now() + this.ms;
    if (this.hot) return;
    this.hot = true;
    this.hooks.changed?.(true);
    const spin = () => {
      if (!this.hooks.over?.() && performance.now() < this.until) {
        this.hooks.turn?.();
        setImmediate(spin);
      } else {
        this.hot = false;
        this.hooks.changed?.(false);
      }
    };
    setImmediate(spin);
  }
}
