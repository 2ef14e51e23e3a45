// The threads of a process as its owner sees them (top -H): name and nice value (Linux /proc).
import { readFileSync, readdirSync } from 'node:fs';
import { expect } from 'vitest';

export interface ThreadInfo { name: string; nice: number }

export function threadsOf(pid: number): ThreadInfo[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    // the fields after the name: state is 3rd, nice the 19th (the name may hold spaces)
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim(), nice: Number(rest[16]) };
  });
}

/** What a front-end driving a session leaves: `named` threads (and the main thread) at 0, node's helpers (compiler, GC, I/O pool) behind them. */
export function expectHelpersLowered(threads: ThreadInfo[], named: string[]) {
  for (const n of named) expect(threads.filter((t) => t.name === n).map((t) => t.nice), n).toEqual([0]);
  const rest = threads.filter((t) => !t.name.startsWith('trapdoor-'));
  expect(rest.filter((t) => t.nice === 0), 'the main thread only').toHaveLength(1);
  expect(rest.filter((t) => t.nice === 19).length).toBeGreaterThanOrEqual(4);
}
