// qRcmd: `monitor ...` runs the shared console commands (server/session/console.ts)
// as this connection's client; their lines go to gdb's console as `O` packets.
import { fail } from '../errors.js';
import { hexToText } from '../framing.js';
import { runConsole } from '../../server/session/console.js';
import type { PacketFamily, WithOutput } from '../stub.js';

export const monitorPackets: PacketFamily = {
  packets: {
    qRcmd: async (stub, args): Promise<WithOutput | ReturnType<typeof fail>> => {
      const text = hexToText(args);
      if (text === null) return fail('malformed', 'qRcmd: the command is not hex');
      const out = await runConsole(stub.session, text, 'monitor ');
      return { output: out.lines, reply: out.failed ? fail('invalid', out.lines[0] ?? 'monitor command failed') : 'OK' };
    },
  },
};
