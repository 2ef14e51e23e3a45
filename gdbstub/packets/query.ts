// Connection set-up and documents: qSupported (what we implement, nothing more),
// QStartNoAckMode, and qXfer reads of the target description and memory map.
import { fail } from '../errors.js';
import { escapeBinary } from '../framing.js';
import { memoryMapXml, targetXml } from '../target-xml.js';
import type { PacketFamily, Stub } from '../stub.js';
import { threadsXml } from './threads.js';

/** qXfer objects we serve: annex -> document (generated per request; they are small). */
const DOCUMENTS: Record<string, (stub: Stub, annex: string) => string | undefined> = {
  features: (stub, annex) => (annex === 'target.xml' ? targetXml(stub.session.arch, stub.layout) : undefined),
  'memory-map': (stub, annex) => (annex === '' ? memoryMapXml(stub.session.memory.describe()) : undefined),
  threads: (stub, annex) => (annex === '' ? threadsXml(stub) : undefined),
};

function qXfer(stub: Stub, args: string) {
  // object:read:annex:offset,length
  const m = /^([a-z-]+):read:([^:]*):([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,16})$/.exec(args);
  if (!m) return args.split(':')[0] in DOCUMENTS ? fail('malformed', `qXfer:${args}: expected OBJECT:read:ANNEX:OFFSET,LENGTH`) : '';
  const [, object, annex, offHex, lenHex] = m;
  const make = DOCUMENTS[object];
  if (!make) return '';
  const doc = make(stub, annex);
  if (doc === undefined) return fail('invalid', `qXfer:${object}: no annex '${annex}'`);
  const off = parseInt(offHex, 16);
  const len = Math.min(parseInt(lenHex, 16), stub.packetSize - 8);
  if (off > doc.length) return fail('invalid', `qXfer:${object}: offset ${off} is past the end (${doc.length})`);
  const chunk = doc.slice(off, off + len);
  return (off + chunk.length >= doc.length ? 'l' : 'm') + escapeBinary(chunk);
}

export const queryPackets: PacketFamily = {
  features: (stub) => [`PacketSize=${stub.packetSize.toString(16)}`, 'qXfer:features:read+', 'qXfer:memory-map:read+', 'qXfer:threads:read+', 'QStartNoAckMode+'],
  packets: {
    qSupported: (stub, args) => {
      stub.gdbFeatures = new Set(args.split(';').filter(Boolean));
      return stub.advertise();
    },
    QStartNoAckMode: (stub) => {
      stub.startNoAck();
      return 'OK';
    },
    qXfer,
    // We look up no symbols.
    qSymbol: () => 'OK',
  },
};
