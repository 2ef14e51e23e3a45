// Where an existing trap log's records end: shared by the log writer (in the
// worker) and the CLI's `--append`/header handling (main thread), without the
// native bindings the writer needs (the CLI starts without loading koffi).
import { closeSync, openSync, readSync } from 'node:fs';

/** The file grows a window at a time (trap-log.ts). */
export const WINDOW = 1 << 20;
/**
 * After a kill -9 the file may end in zero bytes: the rest of the window being
 * written and the next window, prepared ahead.
 */
export const ZERO_TAIL_MAX = 2 * WINDOW;

/**
 * Where the records of an existing log end: after its last newline. A run killed
 * with -9 leaves its last window's zero bytes, and maybe the record it was
 * writing, after that (up to ZERO_TAIL_MAX); this run's records go where they begin.
 */
export function recordsEnd(path: string, size: number): number {
  if (size === 0) return 0;
  const fd = openSync(path, 'r');
  try {
    const tail = Buffer.alloc(Math.min(size, ZERO_TAIL_MAX));
    readSync(fd, tail, 0, tail.length, size - tail.length);
    const nl = tail.lastIndexOf(0x0a);
    if (nl < 0) return size === tail.length ? 0 : size;
    return size - tail.length + nl + 1;
  } finally {
    closeSync(fd);
  }
}
