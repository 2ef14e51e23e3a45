// The DAP `attach` arguments: where `trapdoor serve` listens, the token (or the
// token file, as `trapdoor triage --token-file`), the session, the role and TLS,
// checked against the table of launch-attributes.ts and turned into the
// RemoteClient's options (server/rpc/remote-client.ts).
import { readTokenFile } from '../server/rpc/tokens.js';
import { parseListen } from '../server/rpc/listen.js';
import type { AttachOptions } from '../server/rpc/remote-client.js';
import { UsageError } from '../server/cli/errors.js';
import { ATTACH_ATTRIBUTES, attachAttributeTypeError, type AttachArgs, type AttachAttributeName } from './launch-attributes.js';

export type { AttachArgs } from './launch-attributes.js';

function str(args: AttachArgs, key: AttachAttributeName): string | undefined {
  const bad = attachAttributeTypeError(key, args[key]);
  if (bad) throw new UsageError(bad);
  const v = args[key] as string | undefined | null;
  return v ?? undefined;
}

/** The RemoteClient's options for an attach request (and the local program for source lines), or a UsageError saying what to fix. */
export function attachOptions(args: AttachArgs): AttachOptions & { program?: string } {
  const address = str(args, 'address');
  if (!address) throw new UsageError("attach: no 'address': give where trapdoor serve listens, e.g. \"address\": \"127.0.0.1:7000\"");
  const at = parseListen(address);
  if (typeof at === 'string' || at.kind === 'stdio') throw new UsageError(`attach: address: ${typeof at === 'string' ? at : 'stdio is not an address to connect to'}`);
  const role = str(args, 'role');
  if (role !== undefined && role !== 'decider' && role !== 'observer') throw new UsageError(`attach: 'role' is ${ATTACH_ATTRIBUTES.role.enum.join(' or ')}, not ${JSON.stringify(role)}`);
  let token = str(args, 'token');
  const tokenFile = str(args, 'tokenFile');
  if (token !== undefined && tokenFile !== undefined) throw new UsageError("attach: give 'token' or 'tokenFile', not both");
  if (tokenFile !== undefined) {
    const t = readTokenFile(tokenFile);
    if (!t.ok) throw new UsageError(`attach: tokenFile: ${t.error}`);
    token = t.value[0].token;
  }
  const tlsBad = attachAttributeTypeError('tls', args.tls);
  if (tlsBad) throw new UsageError(tlsBad);
  const ca = str(args, 'tlsCa'), cert = str(args, 'tlsCert'), key = str(args, 'tlsKey');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("attach: 'tlsCert' and 'tlsKey' go together");
  const tls = args.tls === true || ca !== undefined || cert !== undefined ? { ca, cert, key } : undefined;
  return { connect: address, token, role, session: str(args, 'session'), tls, program: str(args, 'program') };
}
