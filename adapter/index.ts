// `trapdoor debug-adapter`: the Debug Adapter Protocol on stdin/stdout (how VS
// Code starts an adapter), or with `--server PORT` on 127.0.0.1:PORT, one debug
// session per connection (port 0 picks a free one; the port is printed on stderr).
// A debug session launches a guest or attaches to one `trapdoor serve` serves.
import net from 'node:net';
import { TrapdoorDebugSession } from './session.js';
import { parseCommandLine, intOption } from '../server/cli/args.js';
import { UsageError } from '../server/cli/errors.js';
import { ATTACH_ATTRIBUTE_NAMES, ATTRIBUTE_NAMES } from './launch-attributes.js';

export const ADAPTER_HELP = `Usage: trapdoor debug-adapter [--server PORT]

Speaks the Debug Adapter Protocol (VS Code and other DAP clients) on stdin/stdout,
or with --server PORT on 127.0.0.1:PORT (0 picks a free port; it is printed on
stderr). The launch request takes the options of trapdoor run:
${wrapped(`${ATTRIBUTE_NAMES.join(', ')} (rules are --on texts, noCount is --no-count).`, '  ', 80)}
The attach request joins a session served by 'trapdoor serve' (as triage does):
${wrapped(`${ATTACH_ATTRIBUTE_NAMES.join(', ')} (address is HOST:PORT or unix:PATH).`, '  ', 80)}
`;

/** Words in lines of at most width characters, each after indent. */
function wrapped(text: string, indent: string, width: number): string {
  const lines: string[] = [];
  let line = indent;
  for (const w of text.split(' ')) {
    if (line.length + w.length + 1 > width && line.trim()) { lines.push(line.trimEnd()); line = indent; }
    line += `${w} `;
  }
  lines.push(line.trimEnd());
  return lines.join('\n');
}

const OPTIONS = { server: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export async function debugAdapterCommand(argv: string[]): Promise<number> {
  // A failure inside one request is reported on stderr; it does not end the adapter.
  process.on('unhandledRejection', (e) => process.stderr.write(`trapdoor debug-adapter: internal error: ${(e as Error)?.stack ?? String(e)}\n`));
  const { values: o, positionals } = parseCommandLine('debug-adapter', argv, OPTIONS);
  if (o.help) { process.stdout.write(ADAPTER_HELP); return 0; }
  if (positionals.length) throw new UsageError(`debug-adapter takes no arguments (got ${positionals.join(' ')}; see trapdoor debug-adapter --help)`);
  if (o.server === undefined) {
    const s = new TrapdoorDebugSession(process.stdout);
    s.setRunAsServer(false);
    s.start(process.stdin, process.stdout);
    process.stdin.once('end', () => void s.shut().then(() => process.exit(0)));
    // The process ends when the client disconnects (shutdown) or closes stdin.
    return new Promise<number>(() => {});
  }
  const port = intOption('--server', o.server, 0, 65535, 'a port');
  const server = net.createServer((socket) => {
    const s = new TrapdoorDebugSession(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => void s.shut());
    s.setRunAsServer(true);
    s.start(socket, socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new UsageError(`--server ${port}: ${(e as Error).message}`)));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  process.stderr.write(`trapdoor debug adapter listening on 127.0.0.1:${addr.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => { server.close(); resolve(); };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  return 0;
}
