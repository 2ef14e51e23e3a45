// The threads of a process as its owner sees them (top -H): name and nice value (Linux /proc).
import { readFileSync, readdirSync } from 'node:fs';
import { expect } from 'vitest';

export interface ThreadInfo { tid: number; name: string; nice: number }

export function threadsOf(pid: number): ThreadInfo[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    // the fields after the name: state is 3rd, nice the 19th (the name may hold spaces)
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { tid: Number(tid), name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim(), nice: Number(rest[16]) };
  });
}

/**
 * What a front-end driving a session leaves in process `pid`: the main thread and
 * the `named` ones at 0, node's helpers (compiler, GC, I/O pool) behind them.
 * (A helper started later, e.g. libuv's pool on its first use, would keep 0.)
 */
export function expectHelpersLowered(threads: ThreadInfo[], pid: number, named: string[]) {
  expect(threads.filter((t) => t.tid === pid).map((t) => t.nice), 'the main thread').toEqual([0]);
  for (const n of named) expect(threads.filter((t) => t.name === n).map((t) => t.nice), n).toEqual([0]);
  const helpers = threads.filter((t) => t.tid !== pid && !t.name.startsWith('trapdoor-'));
  expect(helpers.filter((t) => t.nice === 19).length, 'helpers at nice 19').toBeGreaterThanOrEqual(4);
}
