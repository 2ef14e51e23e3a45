// g/G/p/P: registers in the order of the register table (sorted by regnum,
// packed), little-endian hex, `xx` for a register the core could not read.
import { fail } from '../errors.js';
import { hexToReg } from '../framing.js';
import type { PacketFamily, Stub } from '../stub.js';
import { hex } from '../../server/machine/memory.js';

/** The layout's register names, in g order (one list per layout: Cpu plans its reads by list). */
function layoutNames(stub: Stub): string[] {
  let names = NAMES.get(stub.layout);
  if (!names) NAMES.set(stub.layout, (names = stub.layout.map((d) => d.name)));
  return names;
}
const NAMES = new WeakMap<readonly unknown[], string[]>();

function regnumOf(stub: Stub, text: string) {
  if (!/^[0-9a-fA-F]{1,4}$/.test(text)) return fail('malformed', `bad register number '${text}'`);
  const def = stub.byRegnum.get(parseInt(text, 16));
  return def ?? fail('invalid', `no register number ${text} (see target.xml)`);
}

export const registerPackets: PacketFamily = {
  packets: {
    g: (stub) => {
      const values = stub.session.targetRegisters(layoutNames(stub));
      let out = '';
      stub.layout.forEach((d, i) => { out += values[i] ?? 'xx'.repeat(d.bits / 8); });
      return out;
    },
    G: async (stub, args) => {
      const total = stub.layout.reduce((n, d) => n + d.bits / 4, 0);
      if (args.length !== total) return fail('malformed', `G: expected ${total} hex digits, got ${args.length}`);
      const current = await stub.session.readRegisters({ names: stub.layout.map((d) => d.name) });
      if (!current.ok) return fail('register', current.error);
      let at = 0;
      for (const d of stub.layout) {
        const text = args.slice(at, at + d.bits / 4);
        at += d.bits / 4;
        if (/^x+$/i.test(text)) continue; // gdb does not know it either
        const v = hexToReg(text, d.bits / 8);
        if (v === undefined) return fail('malformed', `G: bad value for ${d.name}`);
        if (d.readonly || hex(v) === current.value[d.name]) continue;
        const w = await stub.session.writeRegister({ name: d.name, value: hex(v) });
        if (!w.ok) return fail('register', w.error);
      }
      return 'OK';
    },
    p: (stub, args) => {
      const def = regnumOf(stub, args);
      if ('error' in def) return def;
      return stub.session.targetRegisters([def.name])[0] ?? 'xx'.repeat(def.bits / 8);
    },
    P: async (stub, args) => {
      const eq = args.indexOf('=');
      if (eq < 0) return fail('malformed', 'P: expected N=VALUE');
      const def = regnumOf(stub, args.slice(0, eq));
      if ('error' in def) return def;
      const v = hexToReg(args.slice(eq + 1), def.bits / 8);
      if (v === undefined) return fail('malformed', `P: ${def.name} takes ${def.bits / 4} hex digits`);
      if (def.readonly) return fail('register', `${def.name} is read-only`);
      const w = await stub.session.writeRegister({ name: def.name, value: hex(v) });
      return w.ok ? 'OK' : fail('register', w.error);
    },
  },
};
