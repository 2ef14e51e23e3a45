// trapdoor: the command line. Each command is a thin caller of the Session or of
// the pure decoders; bad input ends with one clear line and exit code 2.
import { runCommand, RUN_HELP } from './run.js';
import { decodeCommand } from './decode.js';
import { version } from './version.js';
import { EXIT, RunError, UsageError } from './errors.js';

const HELP = `trapdoor: stop at every SMC/HVC/Xen hypercall a guest makes, see what it means, choose the answer.

Commands:
  trapdoor run IMAGE [options]      run a guest headless, print the decoded trap table
  trapdoor decode ID [ARGS...]      decode a function id / hypercall offline
  trapdoor firmware-stub --listen PORT --table answers.json
                                    a reference firmware endpoint for --forward
  trapdoor debug-adapter [--server PORT]
                                    the Debug Adapter Protocol (VS Code) on stdio or a port
  trapdoor lsp --stdio              the policy language server (VS Code) on stdio
  trapdoor serve [IMAGE [options]] [--listen ADDR]
                                    serve sessions over JSON-RPC (stdio, unix socket, TCP, TLS)
  trapdoor triage --connect ADDR    follow and decide a served session's traps

Run 'trapdoor COMMAND --help' for the options of a command, 'trapdoor --version' for the version.

Examples:
  trapdoor run examples/aarch64/smccc-tour.elf --policy examples/aarch64/tour-policy.yaml
  trapdoor decode 0xc4000003 0x1 0x40080000 0
  trapdoor firmware-stub --listen 9000 --table examples/answers.json &
  trapdoor run guest.elf --on 0x82000000-0x8200ffff=forward --forward tcp://127.0.0.1:9000
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run': return await runCommand(rest);
      case 'decode': return decodeCommand(rest);
      case '--version': case '-V': case 'version':
        process.stdout.write(`trapdoor ${version()}\n`);
        return EXIT.OK;
      case 'debug-adapter': return await (await import('../../adapter/index.js')).debugAdapterCommand(rest);
      case 'lsp': return await (await import('../lsp/server.js')).lspCommand(rest);
      case 'serve': return await (await import('./serve.js')).serveCommand(rest);
      case 'triage': return await (await import('./triage.js')).triageCommand(rest);
      case 'firmware-stub': return await (await import('../forward/index.js')).runFirmwareStubCli(rest);
      case undefined: case 'help': case '--help': case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? EXIT.USAGE : EXIT.OK;
      default:
        throw new UsageError(`unknown command "${cmd}" (commands: run, decode, serve, triage, firmware-stub, debug-adapter, lsp; see trapdoor --help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`trapdoor: ${e.message}\n`); return EXIT.USAGE; }
    if (e instanceof RunError) { process.stderr.write(`trapdoor: ${e.message}\n`); return EXIT.ERROR; }
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`trapdoor: ${(e as Error).message} (see trapdoor ${cmd} --help)\n`);
      return EXIT.USAGE;
    }
    process.stderr.write(`trapdoor: internal error: ${(e as Error).stack ?? String(e)}\nPlease report this with the command you ran.\n`);
    return EXIT.ERROR;
  }
}

export { RUN_HELP };

