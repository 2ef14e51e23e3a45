// Run control: ?, c/C, s/S, vCont (c, C, s, S, t), D and k. Signals gdb asks us
// to deliver are dropped: a bare-metal guest has no signals. Ctrl-C is not a
// packet (the connection sees the 0x03 byte and pauses the session).
import { fail, type GdbError } from '../errors.js';
import { parseHexNumber } from '../framing.js';
import type { PacketFamily, Reply, Stub } from '../stub.js';
import { hex } from '../../server/machine/memory.js';
import { selectsOurThread } from './threads.js';

async function resumeAt(stub: Stub, how: 'continue' | 'step', addrText: string | undefined): Promise<Reply> {
  if (addrText) {
    const addr = parseHexNumber(addrText);
    if (addr === undefined) return fail('malformed', `bad resume address '${addrText}'`);
    const w = await stub.session.writeRegister({ name: 'pc', value: hex(addr) });
    if (!w.ok) return fail('register', w.error);
  }
  return { resume: how };
}

/** C sig[;addr] / S sig[;addr] */
function withSignal(stub: Stub, how: 'continue' | 'step', args: string) {
  const [sig, addr] = args.split(';');
  if (!/^[0-9a-fA-F]{1,2}$/.test(sig)) return fail('malformed', `bad signal '${sig}'`);
  return resumeAt(stub, how, addr);
}

const VCONT_ACTIONS: Record<string, 'continue' | 'step' | 'stop'> = { c: 'continue', C: 'continue', s: 'step', S: 'step', t: 'stop' };

/** vCont;action[:thread-id]...: the leftmost action that selects our thread applies. */
function vCont(_stub: Stub, args: string): Reply {
  if (args === '') return fail('malformed', 'vCont needs an action');
  let chosen: 'continue' | 'step' | 'stop' | undefined;
  for (const part of args.split(';')) {
    const [action, thread, more] = part.split(':');
    const what = VCONT_ACTIONS[action[0]];
    const sigOk = action.length === 1 ? 'cst'.includes(action) : /^[CS][0-9a-fA-F]{2}$/.test(action);
    if (!what || !sigOk || more !== undefined) return fail('malformed', `vCont: bad action '${part}'`);
    const ours = thread === undefined ? true : selectsOurThread(thread);
    if (ours === undefined) return fail('malformed', `vCont: bad thread-id in '${part}'`);
    if (ours && !chosen) chosen = what;
  }
  if (!chosen) return fail('thread', 'vCont: no action for thread 1');
  return chosen === 'stop' ? { report: 'stop' } : { resume: chosen };
}

export const runPackets: PacketFamily = {
  features: () => ['vContSupported+'],
  packets: {
    '?': () => ({ report: 'stop' }),
    c: (stub, args) => resumeAt(stub, 'continue', args || undefined),
    s: (stub, args) => resumeAt(stub, 'step', args || undefined),
    C: (stub, args) => withSignal(stub, 'continue', args),
    S: (stub, args) => withSignal(stub, 'step', args),
    'vCont?': () => 'vCont;c;C;s;S;t',
    vCont: (stub, args): Reply | GdbError => vCont(stub, args),
    D: () => ({ leave: 'detach' }),
    k: () => ({ leave: 'kill' }),
    // No extended mode (there is no program to restart), but gdb goes on in it
    // anyway and then reads a reply after `k`: remember that.
    '!': (stub) => { stub.extended = true; return ''; },
  },
};
