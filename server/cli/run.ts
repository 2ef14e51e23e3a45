// `trapdoor run IMAGE`: run a guest headless, print every trap as a table row (or
// JSON lines), append each record to --trap-log, end on SYSTEM_OFF/RESET, a limit
// or a fault, each with its own exit code.
import { existsSync } from 'node:fs';
import { Session, capabilitiesOf, prewarm, type StopEvent, type Client, type SessionOptions } from '../session/session.js';
import type { PolicySpec } from '../policy/rules.js';
import { parseRamSpec } from '../machine/memory.js';
import { buildDecisions } from './policy-build.js';
import { parseSocIdText } from '../firmware/soc-id.js';
import type { ForwardFallback } from '../session/engine-config.js';
import type { TrapRecord } from '../session/trap-record.js';
import { TrapTable, callSiteWidth, decisionWidth, plural } from '../session/render.js';
import { guestLines, Progress } from './output.js';
import { askUser } from './prompt.js';
import { startTrapLog } from './trap-log-start.js';
import { EXIT, UsageError } from './errors.js';
import { archOption, intOption, numberOption as num, secondsOrOff, parseCommandLine, secondsOption, PLATFORM_NAMES } from './args.js';
import type { GdbServer } from '../../gdbstub/index.js';

export const RUN_HELP = `Usage: trapdoor run IMAGE [options]

Runs a guest (AArch64 or AArch32 ELF, or a raw binary with --load) headless and
stops on every SMC/HVC/Xen hypercall: each is decoded, decided (emulate, forward,
undef, return values, ask) and printed as one table row.

Memory and image:
  --ram BASE:SIZE         guest RAM (repeatable; default 0x40000000:128M)
  --load ADDR             IMAGE is a raw binary loaded at ADDR (needs --arch)
  --entry ADDR            start here instead of the ELF entry / load address
  --arch NAME             architecture of a raw binary: aarch64, aarch32 (or arm),
                          thumb (AArch32 starting in Thumb state)
  --uart ADDR|none        PL011 UART for guest output (default 0x09000000)
Decisions:
  --policy FILE           policy file (YAML or JSON): ordered rules and a default
  --on MATCH=ACTION       add a rule (repeatable; before the file's rules), e.g.
                            --on 0x84000000-0x8400001f=emulate  --on 0x82000010=undef
                            --on 0xc4000003=return(x0=-2)  --on xen:17=ask  --on hvc=ask
  --default ACTION        action when no rule matches (default: emulate)
  --platform NAME         legacy pre-SMCCC call table (${PLATFORM_NAMES.join(', ')});
                          a policy file can name it too (platform: NAME)
  --forward URL           firmware endpoint for 'forward' (tcp://127.0.0.1:PORT)
  --forward-timeout MS    give up on the endpoint after MS (1 or more; default 2000)
  --forward-fallback F    when forwarding fails: error (x0=-1, Xen -ENOSYS), undef, stop
                          (default error)
  --trng-seed N           seed of the built-in TRNG (default 0)
  --soc-id J:S:R[:NAME]   SMCCC SOC_ID answers: JEP-106 code, SoC id, revision, name
Debugging:
  --gdb [HOST]:PORT       serve gdb-multiarch (loopback only; port 0 picks one); gdb
                          takes over the run when it attaches
  --wait                  with --gdb: do not start the guest until gdb says so
Output and limits:
  --trap-log FILE         every trap record as one JSON line, on disk before the guest
                          runs on; the file starts with a header record (version,
                          image, options, start time) and is emptied first
  --append                with --trap-log: add this run (its header, then its records)
                          after what the file holds
  --json                  print trap records as JSON lines instead of the table
  --quiet                 no table rows (summary and guest output only)
  --progress SECONDS      how often a long run reports its progress on stderr:
                          a line redrawn every second on a terminal, a line every
                          30 s elsewhere (0 turns it off)
  --max-insns N           stop after N instructions (exit code 3)
  --timeout SECONDS       stop after SECONDS of wall time (exit code 3)
  --no-count              no native block hook: full guest speed (tight loops ~2x),
                          but no instruction counts, no --max-insns, and a stop
                          (--timeout, Ctrl-C) ends the run

Exit codes: 0 the guest ended the run (PSCI SYSTEM_OFF, SYSTEM_RESET(2), CPU_OFF of its
last CPU, Xen SCHEDOP_shutdown), 2 bad input, 3 limit reached
(or the guest waits in WFI with nothing to wake it), 4 guest fault (unmapped memory, invalid instruction, unexpected exception), 1 other.

Examples:
  trapdoor run examples/aarch64/smccc-tour.elf --policy examples/aarch64/tour-policy.yaml
  trapdoor run guest.elf --on 0x82000000-0x8200ffff=undef --trap-log traps.jsonl
  trapdoor run fw.bin --load 0x40000000 --arch aarch64 --json --max-insns 1000000
  trapdoor run guest.elf --on hvc=ask          # decide each HVC at a prompt
  trapdoor run guest.elf --on hvc=ask --gdb 127.0.0.1:1234 --wait   # decide from gdb
`;

const OPTIONS = {
  ram: { type: 'string', multiple: true },
  load: { type: 'string' },
  entry: { type: 'string' },
  arch: { type: 'string' },
  uart: { type: 'string' },
  policy: { type: 'string' },
  on: { type: 'string', multiple: true },
  default: { type: 'string' },
  platform: { type: 'string' },
  forward: { type: 'string' },
  'forward-timeout': { type: 'string' },
  'forward-fallback': { type: 'string' },
  'trng-seed': { type: 'string' },
  'soc-id': { type: 'string' },
  'trap-log': { type: 'string' },
  append: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'max-insns': { type: 'string' },
  timeout: { type: 'string' },
  'no-count': { type: 'boolean' },
  progress: { type: 'string' },
  gdb: { type: 'string' },
  wait: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Node timers hold at most 2^31-1 ms: the largest --timeout / --forward-timeout. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export async function runCommand(argv: string[]): Promise<number> {
  // --timeout counts from here: loading a large policy and starting the session are part of the run
  const commandStart = Date.now();
  const { values: o, positionals } = parseCommandLine('run', argv, OPTIONS);
  if (o.help) { process.stdout.write(RUN_HELP); return EXIT.OK; }
  prewarm();
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one image at a time (got ${positionals.join(', ')})` : 'no image given: trapdoor run IMAGE (see trapdoor run --help)');
  const timeoutS = o.timeout !== undefined ? secondsOption('--timeout', o.timeout, MAX_TIMER_MS / 1000) : undefined;
  const maxInsns = o['max-insns'] !== undefined ? intOption('--max-insns', o['max-insns'], 1, Number.MAX_SAFE_INTEGER, 'a number of instructions') : undefined;
  if (o.wait && !o.gdb) throw new UsageError('--wait goes with --gdb HOST:PORT (it waits for gdb to start the guest)');
  const gdbAt = o.gdb !== undefined ? parseGdbAddress(o.gdb) : undefined;
  if (o['no-count']) {
    // What this mode cannot do is refused here, with the reason capabilities() gives.
    const caps = capabilitiesOf({ countBlocks: false });
    if (o['max-insns']) throw new UsageError(`--max-insns needs instruction counts: ${caps.why.instructionCounts}`);
    if (o.gdb !== undefined) throw new UsageError(`--gdb needs a pause the guest can resume from: ${caps.why.resumablePause}`);
  }
  const base = await sessionOptionsFrom(o, positionals[0]);
  const policy = base.policy;
  const json = !!o.json;
  // Long runs show progress on stderr, cleared before anything else is printed.
  const progressEvery = o.progress !== undefined ? secondsOrOff('--progress', o.progress) : undefined;
  const status = new Progress(process.stderr);
  const clearProgress = () => status.clear();
  // Guest output and our own lines share a stream (stderr with --json, where stdout is records only).
  const infoStream = json ? process.stderr : process.stdout;
  const guest = guestLines('guest| ');
  const info = (line: string) => { clearProgress(); infoStream.write(guest.breakLine() + line + '\n'); };
  const warn = (line: string) => { clearProgress(); process.stderr.write(`trapdoor: ${line}\n`); };
  let session: Session | undefined;
  // The reader went away (`| head`): stop the run and end quietly, as Unix tools do.
  let readerGone = false;
  const onPipeError = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    readerGone = true;
    session?.pause();
  };
  process.stdout.on('error', onPipeError);
  /** Writes text; when the reader is behind, the guest is held back (flow control) until it drains. */
  const emitText = (stream: NodeJS.WriteStream, text: string) => {
    if (!text || readerGone) return;
    if (!stream.write(text) && session) session.hold(new Promise((r) => stream.once('drain', r)));
  };
  // Someone can answer `ask`: a terminal, or gdb (monitor decide) when --gdb is given.
  const terminal = !!process.stdin.isTTY && !json;
  const interactive = terminal || o.gdb !== undefined;
  const usesAsk = policy.default.action === 'ask' || policy.rules.some((r) => r.action === 'ask');
  if (usesAsk && !interactive) {
    const d = policy.default.action === 'ask' ? 'emulate' : policy.default.action;
    info(`note: the policy asks on some calls but there is no terminal to ask on: applying the default (${d}) to them`);
  }
  if (o.append && !o['trap-log']) throw new UsageError('--append goes with --trap-log FILE (it adds this run to the file instead of emptying it)');
  // (not for an image that is not there: the run would end at once, and the log stays as it was)
  if (o['trap-log'] && existsSync(positionals[0])) {
    startTrapLog(o['trap-log'], !!o.append, positionals[0], argv.filter((a) => a !== positionals[0]));
  }
  const opened = await Session.open({
    ...base,
    trapLog: o['trap-log'],
    interactive,
    maxInsns,
    subscribe: json || !o.quiet,
  });
  if (!opened.ok) throw new UsageError(opened.error);
  session = opened.value;
  const s = session;
  const cli = s.connect('cli');
  // Rows are written a batch at a time: one write for up to 512 records.
  let rows: string[] = [];
  // columns sized to what they will hold: the highest guest address, the longest rule id
  const top = s.memory.regions.reduce((m, r) => (r.base + r.size - 1n > m ? r.base + r.size - 1n : m), 0n);
  const table = new TrapTable((line) => rows.push(line), { callSite: callSiteWidth(top), decision: decisionWidth(policy.rules), fit: true });
  cli.on('traps', (batch) => {
    if (json) for (const r of batch) rows.push(JSON.stringify(r));
    else if (!o.quiet) for (const r of batch) table.row(r);
    if (!rows.length) return;
    clearProgress();
    rows.push('');
    emitText(process.stdout, (json ? '' : guest.breakLine()) + rows.join('\n'));
    rows = [];
  });
  cli.on('output', (text) => {
    clearProgress();
    emitText(infoStream, guest.push(text));
  });
  cli.on('log', warn);

  let timedOut = false;
  const timer = timeoutS !== undefined ? setTimeout(() => { timedOut = true; s.pause(); }, Math.max(0, timeoutS * 1000 - (Date.now() - commandStart))) : undefined;
  // Ctrl-C and SIGTERM (kill, timeout(1), CI cancelling) end the run the same way:
  // the guest pauses, the rows so far and the summary are printed. 'quit': q at the prompt.
  let interrupted: 'SIGINT' | 'SIGTERM' | 'quit' | undefined;
  // A second signal while the first is being answered ends the process at once.
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (interrupted === 'SIGINT' || interrupted === 'SIGTERM') process.exit(sig === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED);
    interrupted ??= sig;
    s.pause();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let gdb: GdbServer | undefined;
  if (gdbAt) {
    try {
      const { startGdbServer } = await import('../../gdbstub/index.js');
      gdb = await startGdbServer(s, { host: gdbAt.host, port: gdbAt.port, log: warn });
    } catch (e) {
      await s.close();
      throw new UsageError((e as Error).message);
    }
    info(`gdb stub on ${gdbAt.host}:${gdb.port}: gdb-multiarch ${positionals[0]} -ex 'target remote ${gdbAt.host}:${gdb.port}'`);
  }
  const started = Date.now();
  // a terminal's line is redrawn every second; elsewhere a line every 30 s (--progress sets it, 0 turns it off)
  const every = progressEvery ?? (status.live ? 1 : 30);
  const progress = every > 0 ? setInterval(() => {
    if (s.state !== 'running') return;
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    status.show(`${secs} s, ${fmtCount(s.insns)} instructions, ${plural(s.trapCount, 'trap')}`);
  }, every * 1000) : undefined;
  let code: number = EXIT.OK;
  let stop: StopEvent | undefined;
  let waitForGdb = false;
  try {
    for (;;) {
      if (gdb && (o.wait || waitForGdb || gdb.clients() > 0)) {
        // gdb drives the guest now: wait for its end (or Ctrl-C / --timeout here).
        info(o.wait && !gdb.clients() ? 'waiting for gdb to attach and continue (Ctrl-C ends)' : 'gdb attached: it drives the guest now');
        let announced = 0;
        stop = await untilEnd(cli, () => !!interrupted || timedOut, () => {
          // gdb detached and the guest ran on into a trap that waits for a decision
          const ev = s.lastStop;
          if (s.state !== 'stopped' || ev?.reason !== 'trap' || !ev.trap || gdb!.clients() > 0 || ev.trap.seq === announced) return;
          announced = ev.trap.seq;
          info(`trap #${ev.trap.seq} waits for a decision: attach gdb and use 'monitor decide'`);
        });
        break;
      }
      const r = await cli.cont();
      if (!r.ok) { warn(r.error); code = EXIT.ERROR; break; }
      stop = r.value;
      if (stop.reason === 'trap' && stop.trap && gdb && !terminal) {
        info(`trap #${stop.trap.seq} waits for a decision: attach gdb and use 'monitor decide'`);
        waitForGdb = true;
        continue;
      }
      if (stop.reason === 'trap' && stop.trap && terminal) {
        clearProgress();
        const d = await askUser(stop.trap, { forward: !!o.forward });
        if (d === 'quit') { interrupted = 'quit'; break; }
        if (d === 'cancelled') continue; // (no signal given: not here)
        const res = await cli.decide({ decision: d });
        if (!res.ok) warn(res.error);
        continue;
      }
      if (stop.reason === 'pause' && !timedOut && !interrupted && !readerGone) continue;
      break;
    }
  } finally {
    // Let an attached gdb read the final stop (W00) and go before the stub closes.
    for (let i = 0; i < 20 && gdb && gdb.clients() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await gdb?.close();
    clearTimeout(timer);
    clearInterval(progress);
    clearProgress();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  emitText(infoStream, guest.breakLine());
  const secs = (Date.now() - started) / 1000;
  const n = s.trapCount;
  const tail = `${plural(n, 'trap')}, ${plural(s.insns, 'instruction')}, ${secs.toFixed(2)} s`;
  if (stop) {
    switch (stop.reason) {
      case 'exit': info(`run ended: ${stop.message} (${tail})`); code = EXIT.OK; break;
      case 'limit': case 'idle': info(`run stopped: ${stop.message} at pc ${stop.pc}${sym(s, stop.pc)} (${tail})`); code = EXIT.LIMIT; break;
      case 'pause':
        if (readerGone) { code = EXIT.INTERRUPTED; break; }
        info(`run stopped: ${timedOut ? `timeout after ${o.timeout} s` : 'interrupted'} at pc ${stop.pc} (${tail})`);
        code = timedOut ? EXIT.LIMIT : interrupted === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED;
        break;
      case 'trap':
        if (interrupted === 'quit') {
          const at = stop.trap?.pc ?? stop.pc;
          info(`run stopped: quit at trap #${stop.trap?.seq} (pc ${at}${sym(s, at)}), before it was decided (${tail})`);
          code = EXIT.INTERRUPTED;
          break;
        }
        // a trap that needs a person (a forward that failed with --forward-fallback stop) and nobody to ask
        warn(`${stop.message ?? `trap #${stop.trap?.seq} waits for a decision`}\n` +
          `  (run with a terminal to decide it at the prompt, or with --gdb and 'monitor decide')`);
        info(`run stopped at trap #${stop.trap?.seq} (${tail})`);
        code = EXIT.TRAP_STOP;
        break;
      case 'internal':
        process.stderr.write(`trapdoor: the run stopped: ${stop.message}\n  (nothing after this trap ran; the records before it are complete)\n`);
        info(`run ended by an internal error (${tail})`);
        code = EXIT.ERROR;
        break;
      case 'fault': case 'exception':
        // an exception's address is the instruction that raised it (the pc has moved past an SVC)
        const faultPc = stop.reason === 'exception' && stop.addr ? stop.addr : stop.pc;
        process.stderr.write(`trapdoor: guest fault: ${stop.message}\n  pc ${faultPc}${sym(s, faultPc)}${stop.reason === 'fault' && stop.access && !stop.exactPc ? ' (start of the block that faulted)' : ''}` +
          (stop.addr && stop.reason !== 'exception' ? `, address ${stop.addr}` : '') + (stop.access ? `, access ${stop.access}` : '') + `\n`);
        const last = await cli.traps({ n: 3 });
        if (last.ok && last.value.length) {
          const why = await unmappedVector(s, stop, last.value[last.value.length - 1]);
          if (why) process.stderr.write(`  ${why}\n`);
          process.stderr.write('  last traps:\n');
          for (const t of last.value) process.stderr.write(`    #${t.seq} ${t.pc} ${t.decoded.summary} -> ${t.decision}\n`);
        }
        info(`run ended by a guest fault (${tail})`);
        code = EXIT.FAULT;
        break;
      default:
        info(`run stopped: ${stop.reason} at pc ${stop.pc} (${tail})`);
        code = EXIT.ERROR;
    }
  }
  await cli.close();
  await s.close();
  // A limit holds even when nobody reads our output (a stalled pipe): give it a moment, then go.
  if (timedOut && process.stdout.writableLength > 0) {
    await new Promise((r) => { process.stdout.once('drain', r); setTimeout(r, 1000).unref(); });
    if (process.stdout.writableLength > 0) process.exit(code);
  }
  return code;
}

/** The options of `run` that make its session: `trapdoor serve IMAGE` takes them too. */
export const SESSION_FLAGS = {
  ram: OPTIONS.ram, load: OPTIONS.load, entry: OPTIONS.entry, arch: OPTIONS.arch, uart: OPTIONS.uart,
  policy: OPTIONS.policy, on: OPTIONS.on, default: OPTIONS.default, platform: OPTIONS.platform,
  forward: OPTIONS.forward, 'forward-timeout': OPTIONS['forward-timeout'], 'forward-fallback': OPTIONS['forward-fallback'],
  'trng-seed': OPTIONS['trng-seed'], 'soc-id': OPTIONS['soc-id'], 'no-count': OPTIONS['no-count'],
} as const;

type SessionFlagValues = { ram?: string[]; on?: string[]; 'no-count'?: boolean } &
  Partial<Record<'load' | 'entry' | 'arch' | 'uart' | 'policy' | 'default' | 'platform' | 'forward' | 'forward-timeout' | 'forward-fallback' | 'trng-seed' | 'soc-id', string>>;

/** The session of IMAGE as these flags describe it (memory, image, decisions, forward, firmware), or a UsageError. */
export async function sessionOptionsFrom(o: SessionFlagValues, image: string): Promise<SessionOptions & { policy: PolicySpec }> {
  const ram = (o.ram ?? []).map((s) => {
    const r = parseRamSpec(s);
    if (!r.ok) throw new UsageError(r.error);
    return r.value;
  });
  const arch = o.arch !== undefined ? archOption(o.arch) : undefined;
  const forwardMs = o['forward-timeout'] !== undefined ? intOption('--forward-timeout', o['forward-timeout'], 1, MAX_TIMER_MS, 'milliseconds') : 2000;
  const trngSeed = o['trng-seed'] !== undefined ? intOption('--trng-seed', o['trng-seed'], 0, Number.MAX_SAFE_INTEGER, 'a seed') : undefined;
  const fallback = (o['forward-fallback'] ?? 'error') as ForwardFallback;
  if (!['error', 'undef', 'stop'].includes(fallback)) throw new UsageError(`bad --forward-fallback "${fallback}": use error, undef or stop`);
  const { policy, firmware: fileFirmware, platform } = await buildDecisions(o);
  const socId = o['soc-id'] !== undefined ? parseSocIdText(o['soc-id']) : undefined;
  if (socId && !socId.ok) throw new UsageError(`bad --soc-id "${o['soc-id']}": ${socId.error}`);
  return {
    image: {
      path: image,
      load: o.load !== undefined ? num('--load', o.load) : undefined,
      // Thumb code starts with the entry's bit 0 set
      entry: o.entry !== undefined ? num('--entry', o.entry) | (arch === 'thumb' ? 1n : 0n) : arch === 'thumb' && o.load !== undefined ? num('--load', o.load) | 1n : undefined,
      arch: arch === undefined ? undefined : arch === 'aarch64' ? 'aarch64' : 'arm',
    },
    ram: ram.length ? ram : undefined,
    uart: o.uart === 'none' ? null : o.uart ? num('--uart', o.uart) : undefined,
    platform,
    policy,
    firmware: { ...fileFirmware, ...(socId?.ok ? { socId: socId.value } : {}), ...(trngSeed !== undefined ? { trngSeed } : {}) },
    forward: o.forward ? { endpoint: o.forward, timeoutMs: forwardMs, fallback } : undefined,
    countBlocks: !o['no-count'],
  };
}

/** Resolves with the stop that ends the run (exit, fault), or a pause asked here; `tick` runs every 100 ms meanwhile. */
function untilEnd(s: Client, askedToStop: () => boolean, tick: () => void): Promise<StopEvent> {
  return new Promise((resolve) => {
    const check = () => {
      const ev = s.lastStop;
      if (s.state === 'exited' && ev) return finish(ev);
      if (askedToStop()) return finish(ev ?? { reason: 'pause', vcpu: 0, pc: '0x0', insns: s.insns });
      tick();
    };
    const onStop = (ev: StopEvent) => {
      if (ev.reason === 'exit' || ev.reason === 'fault' || ev.reason === 'exception' || ev.final) finish(ev);
    };
    const timer = setInterval(check, 100);
    const finish = (ev: StopEvent) => { clearInterval(timer); s.off('stop', onStop); resolve(ev); };
    s.on('stop', onStop);
    check();
  });
}

export function parseGdbAddress(text: string): { host: string; port: number } {
  const m = /^(?:([A-Za-z0-9.:-]*|\[[0-9a-fA-F:]+\]):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535) throw new UsageError(`bad --gdb "${text}": expected HOST:PORT, e.g. 127.0.0.1:1234 (port 0 picks a free one)`);
  const host = (m[1] || '127.0.0.1').replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', 'localhost', '::1'].includes(host) && !host.startsWith('127.')) {
    throw new UsageError(`--gdb ${host}: the gdb protocol has no authentication, so the stub listens on loopback only (reach it from elsewhere through an SSH tunnel)`);
  }
  return { host, port };
}

function fmtCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : String(n);
}

function sym(s: Session, pc: string): string {
  const name = s.symbolize(BigInt(pc));
  return name ? ` <${name}>` : '';
}

/** Why a fetch fault right after an injected undef happened: its vector is not mapped (most often: the guest never set VBAR). */
async function unmappedVector(s: Session, stop: StopEvent, t: TrapRecord): Promise<string | undefined> {
  const vector = t.result.exception?.vector;
  if (stop.reason !== 'fault' || vector === undefined || BigInt(stop.addr ?? stop.pc) !== BigInt(vector)) return undefined;
  const reg = s.arch === 'aarch64' ? 'VBAR_EL1' : 'VBAR';
  const r = await s.readRegisters([reg]);
  const vbar = r.ok ? r.value[reg] : undefined;
  const what = `the undef injected at trap #${t.seq} went to its vector at ${vector}, which is not mapped`;
  if (vbar !== undefined && BigInt(vbar) === 0n) return `${what}: ${reg} is not set (the guest has no vector table yet); set ${reg} before this call, or answer it with another action than undef`;
  return `${what}: the vector table (${reg} = ${vbar ?? '?'}) is not in guest memory`;
}
