// Threads: one vCPU today, thread 1. gdb asks which threads exist, selects one
// for registers (Hg) and resumption (Hc), and checks that one is alive (T).
import { fail } from '../errors.js';
import { textToHex } from '../framing.js';
import { THREAD } from '../stop-reply.js';
import type { PacketFamily, Stub } from '../stub.js';

/** A thread-id as gdb writes it: hex, -1 (all) or 0 (any); p-ids when multiprocess. */
function parseThread(text: string): number | undefined {
  const t = text.startsWith('p') ? text.slice(text.indexOf('.') + 1) : text;
  if (t === '-1') return -1;
  return /^[0-9a-fA-F]{1,8}$/.test(t) ? parseInt(t, 16) : undefined;
}

/** True when a thread-id selects our thread. */
export function selectsOurThread(text: string): boolean | undefined {
  const id = parseThread(text);
  return id === undefined ? undefined : id === -1 || id === 0 || id === THREAD;
}

/** What `info threads` shows for our thread. */
function threadName(stub: Stub): string {
  return `vCPU 0 (${stub.session.arch}, ${stub.session.state})`;
}

/**
 * The thread list for qXfer:threads:read: one round trip per stop instead of
 * qfThreadInfo + qsThreadInfo (gdb refreshes the list after every stop).
 */
export function threadsXml(stub: Stub): string {
  return `<?xml version="1.0"?>\n<threads>\n  <thread id="${THREAD.toString(16)}" core="0" name="${threadName(stub).replace(/[<&"]/g, '')}"/>\n</threads>\n`;
}

export const threadPackets: PacketFamily = {
  packets: {
    H: (_stub, args) => {
      const op = args[0];
      if (op !== 'g' && op !== 'c') return fail('malformed', `H${args}: expected Hg or Hc and a thread-id`);
      const ok = selectsOurThread(args.slice(1));
      if (ok === undefined) return fail('malformed', `H${args}: bad thread-id`);
      return ok ? 'OK' : fail('thread', `no thread ${args.slice(1)} (one vCPU: thread ${THREAD})`);
    },
    T: (_stub, args) => {
      const ok = selectsOurThread(args);
      if (ok === undefined) return fail('malformed', `T${args}: bad thread-id`);
      return ok ? 'OK' : fail('thread', `no thread ${args}`);
    },
    qfThreadInfo: () => `m${THREAD.toString(16)}`,
    qsThreadInfo: () => 'l',
    qC: () => `QC${THREAD.toString(16)}`,
    qAttached: () => '1',
    qThreadExtraInfo: (stub, args) => {
      const ok = selectsOurThread(args);
      if (!ok) return fail('thread', `no thread ${args}`);
      return textToHex(threadName(stub));
    },
  },
};
