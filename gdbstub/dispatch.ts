// The packet table: every packet family's handlers in one map, looked up by the
// packet's name. q/Q/v packets are named by their word (`qXfer`, `vCont?`), the
// others by their first character; what follows the name is the handler's text.
import type { Handler, PacketFamily, Stub } from './stub.js';
import { queryPackets } from './packets/query.js';
import { threadPackets } from './packets/threads.js';
import { registerPackets } from './packets/registers.js';
import { memoryPackets } from './packets/memory.js';
import { runPackets } from './packets/run.js';
import { breakpointPackets } from './packets/breakpoints.js';
import { monitorPackets } from './packets/monitor.js';

export const FAMILIES: readonly PacketFamily[] = [queryPackets, threadPackets, registerPackets, memoryPackets, runPackets, breakpointPackets, monitorPackets];

const TABLE = new Map<string, Handler>();
for (const f of FAMILIES) {
  for (const [name, h] of Object.entries(f.packets)) {
    if (TABLE.has(name)) throw new Error(`gdbstub: packet ${name} is handled twice`);
    TABLE.set(name, h);
  }
}

/** The names the stub answers (tests iterate over them). */
export const PACKET_NAMES: readonly string[] = [...TABLE.keys()];

/** Splits a packet into its name and the rest (one leading separator dropped). */
export function splitPacket(data: string): { name: string; args: string } {
  const word = /^[qQv][A-Za-z][A-Za-z0-9]*\??/.exec(data);
  if (!word) return { name: data.slice(0, 1), args: data.slice(1) };
  const name = word[0];
  let args = data.slice(name.length);
  if (args[0] === ':' || args[0] === ',' || args[0] === ';') args = args.slice(1);
  return { name, args };
}

export function lookup(data: string): { handler: Handler | undefined; name: string; args: string } {
  const { name, args } = splitPacket(data);
  return { handler: TABLE.get(name), name, args };
}

/** qSupported reply: exactly the features the families implement. */
export function advertise(stub: Stub): string {
  return FAMILIES.flatMap((f) => f.features?.(stub) ?? []).join(';');
}
