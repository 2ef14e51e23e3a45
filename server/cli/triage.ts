// `trapdoor triage --connect HOST:PORT --token-file F`: a client of `trapdoor
// serve`. Follows a session's traps live as the table `run` prints, decides
// pending calls at the same prompt as `run`, changes the policy; --json prints
// the traps so far as JSON Lines, --decide ACTION decides the pending trap (for
// scripts: exit 0 when this decision applied, 6 when another client's came first).
import { ResponseError, type MessageConnection } from 'vscode-jsonrpc/node';
import { connectService, type RpcClient } from '../rpc/connect.js';
import { readTokenFile } from '../rpc/tokens.js';
import { codeName, NOTIFICATIONS, type SessionInfo, type SubscribeResult, type TrapNotification, type StopNotification, type DecidedNotification, type LaggedNotification, type OutputNotification } from '../rpc/protocol.js';
import { parseDecision } from '../session/console.js';
import { TrapTable, decidedText, decisionWidth, plural } from '../session/render.js';
import type { TrapRecord } from '../session/trap-record.js';
import type { ConsoleResult, DecisionParams, PolicyInfo, StopEvent } from '../session/contract.js';
import { EXIT, UsageError, RunError } from './errors.js';
import { intOption, parseCommandLine } from './args.js';

export const TRIAGE_HELP = `Usage: trapdoor triage --connect ADDR [--token-file F] [options]

A client of 'trapdoor serve': follows a session's traps live as the table
'trapdoor run' prints, and on a terminal decides each pending call with the keys
of run's prompt (e, f, u, r, s; q leaves triage, the trap stays pending).

  --connect ADDR          HOST:PORT or unix:PATH of the service
  --token-file F          the token file (USER:TOKEN lines): the first entry's token is sent
  --session ID            the session to follow (default: the only one served)
  --observer              join read-only (never decide)
  --from SEQ              replay kept records from trap #SEQ (default: all kept)
  --json                  print the traps so far as JSON Lines and exit
  --decide ACTION         decide the pending trap (waiting for one) and exit, e.g.
                            --decide emulate   --decide 'return x0=0x77'
                          exit 0: this decision applied; 6: another client decided
                          first (the message names who)
  --seq N                 with --decide: decide trap #N (waiting for it; 6 when it
                          was decided already)
  --on MATCH=ACTION       add a policy rule first (repeatable), as 'policy add'
  --default ACTION        set the policy default first
  --console LINE          run a console command (trap, traps, policy, break-on, decide)
                          and exit
  --tls                   connect with TLS (trusting the system CAs, or --tls-ca)
  --tls-ca F              trust this CA; implies --tls
  --tls-cert F --tls-key F
                          present this client certificate (for a server with --tls-ca)

Examples:
  trapdoor triage --connect 127.0.0.1:7000 --token-file tokens
  trapdoor triage --connect 127.0.0.1:7000 --token-file tokens --decide 'return x0=0x77'
`;

const OPTIONS = {
  connect: { type: 'string' },
  'token-file': { type: 'string' },
  session: { type: 'string' },
  observer: { type: 'boolean' },
  from: { type: 'string' },
  json: { type: 'boolean' },
  decide: { type: 'string' },
  seq: { type: 'string' },
  on: { type: 'string', multiple: true },
  default: { type: 'string' },
  console: { type: 'string', multiple: true },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A failed request: its message, and the name of its code. */
function why(e: unknown): { code?: string; message: string; data?: Record<string, unknown> } {
  if (e instanceof ResponseError) return { code: codeName(e.code) ?? String(e.code), message: e.message, data: e.data as Record<string, unknown> | undefined };
  return { message: (e as Error).message };
}

export async function triageCommand(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseCommandLine('triage', argv, OPTIONS);
  if (o.help) { process.stdout.write(TRIAGE_HELP); return EXIT.OK; }
  if (positionals.length) throw new UsageError(`triage takes no positional arguments (got ${positionals.join(' ')})`);
  if (!o.connect) throw new UsageError('--connect HOST:PORT (or unix:PATH) is needed (see trapdoor triage --help)');
  let decision: DecisionParams | undefined;
  if (o.decide !== undefined) {
    const d = parseDecision(o.decide.trim().split(/\s+/).filter(Boolean));
    if (typeof d === 'string') throw new UsageError(`bad --decide "${o.decide}": ${d}`);
    decision = d;
  }
  if (o.observer && (decision || o.on || o.default)) throw new UsageError('--observer never decides or changes the policy');
  const from = o.from !== undefined ? intOption('--from', o.from, 1, Number.MAX_SAFE_INTEGER, 'a trap number') : undefined;
  let token: string | undefined;
  if (o['token-file'] !== undefined) {
    const t = readTokenFile(o['token-file']);
    if (!t.ok) throw new UsageError(t.error);
    token = t.value[0].token;
  }
  if ((o['tls-cert'] === undefined) !== (o['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const useTls = !!(o.tls || o['tls-ca'] || o['tls-cert']);
  let client: RpcClient;
  try {
    client = await connectService({
      connect: o.connect, token, role: o.observer ? 'observer' : undefined,
      tls: useTls ? { ca: o['tls-ca'], cert: o['tls-cert'], key: o['tls-key'] } : undefined,
    });
  } catch (e) {
    throw new RunError((e as Error).message);
  }
  const conn = client.conn;
  const err = (line: string) => process.stderr.write(`trapdoor: ${line}\n`);
  try {
    const sessions = await conn.sendRequest<SessionInfo[]>('session/list', {});
    const sid = o.session ?? (sessions.length === 1 ? sessions[0].id : undefined);
    if (sid === undefined) {
      err(sessions.length ? `the service has ${sessions.length} sessions: pick one with --session (${sessions.map((s) => `${s.id} ${s.image}`).join(', ')})` : 'the service has no session');
      return EXIT.USAGE;
    }
    const info = await conn.sendRequest<SessionInfo>('session/attach', { session: sid, role: o.observer ? 'observer' : undefined });
    for (const [i, rule] of (o.on ?? []).entries()) {
      const r = await conn.sendRequest<ConsoleResult>('console', { line: `policy add ${rule}` });
      if (r.failed) { err(`--on ${rule} (${i + 1}): ${r.lines.join(' ')}`); return EXIT.USAGE; }
    }
    if (o.default !== undefined) {
      const r = await conn.sendRequest<ConsoleResult>('console', { line: `policy default ${o.default}` });
      if (r.failed) { err(`--default: ${r.lines.join(' ')}`); return EXIT.USAGE; }
    }
    if (o.console?.length) {
      let failed = false;
      for (const line of o.console) {
        const r = await conn.sendRequest<ConsoleResult>('console', { line });
        process.stdout.write(r.lines.join('\n') + '\n');
        failed ||= r.failed;
      }
      return failed ? EXIT.ERROR : EXIT.OK;
    }
    if (o.json) return await printJson(conn, from ?? info.oldestKept);
    if (decision) return await decideOnce(conn, decision, o.seq !== undefined ? intOption('--seq', o.seq, 1, Number.MAX_SAFE_INTEGER, 'a trap number') : undefined);
    return await follow(conn, info, from, !o.observer);
  } catch (e) {
    const w = why(e);
    err(w.message);
    return w.code === 'gone' || w.code === 'invalid' ? EXIT.USAGE : EXIT.ERROR;
  } finally {
    client.close();
  }
}

/** The kept records from `from` on, as JSON Lines. */
async function printJson(conn: MessageConnection, from: number): Promise<number> {
  const recs: TrapRecord[] = [];
  const sub = conn.onNotification(NOTIFICATIONS.trap, (n: TrapNotification) => { recs.push(n.record); });
  await conn.sendRequest<SubscribeResult>('traps/subscribe', { from });
  sub.dispose();
  await conn.sendRequest('traps/unsubscribe', {});
  await write(recs.map((r) => JSON.stringify(r) + '\n').join(''));
  return EXIT.OK;
}

const write = (text: string) => new Promise<void>((r) => { if (!text) r(); else process.stdout.write(text, () => r()); });

/** Decides the pending trap (waiting for one if none is); 0 when this decision applied, CONFLICT when another came first. */
async function decideOnce(conn: MessageConnection, decision: DecisionParams, want: number | undefined): Promise<number> {
  // the trap to decide: `want`, or the pending one
  const fits = (t: TrapRecord | null | undefined): t is TrapRecord => !!t && t.decision === 'pending' && (want === undefined || t.seq >= want);
  const next = new Promise<TrapRecord>((resolve) => {
    conn.onNotification(NOTIFICATIONS.stop, (n: StopNotification) => { if (fits(n.event.trap)) resolve(n.event.trap); });
  });
  const st = await conn.sendRequest<{ traps: number }>('status', {});
  const now = await conn.sendRequest<TrapRecord | null>('pendingTrap', {});
  // a trap already passed (or decided) is decided anyway: the answer says who came first
  const passed = want !== undefined && (now ? now.seq > want : st.traps >= want);
  const seq = passed ? want : fits(now) ? now.seq : (process.stderr.write(`trapdoor: waiting for ${want !== undefined ? `trap #${want}` : 'a trap that waits for a decision'} (Ctrl-C ends)\n`), (await next).seq);
  try {
    const rec = await conn.sendRequest<TrapRecord>('decide', { decision, seq: want ?? seq });
    process.stdout.write(decidedText(rec, true) + '\n');
    return EXIT.OK;
  } catch (e) {
    const w = why(e);
    process.stderr.write(`trapdoor: ${w.message}\n`);
    return w.code === 'conflict' ? EXIT.CONFLICT : EXIT.ERROR;
  }
}

/** Follows the session: rows as they come, the prompt at each pending trap (on a terminal). */
async function follow(conn: MessageConnection, info: SessionInfo, from: number | undefined, decider: boolean): Promise<number> {
  const pol = await conn.sendRequest<PolicyInfo>('policy', {});
  const table = new TrapTable((line) => process.stdout.write(line + '\n'), { decision: decisionWidth(pol.rules.map((r) => ({ id: r.id, action: r.action }))), fit: true, names: true });
  const terminal = !!process.stdin.isTTY && decider;
  let prompting = false;
  const queue: TrapRecord[] = [];
  let asked = 0;
  /** Ends the prompt when someone else decides the trap it asks about. */
  let cancel: { seq: number; ac: AbortController } | undefined;
  return await new Promise<number>((resolve) => {
    const done = (code: number) => resolve(code);
    conn.onNotification(NOTIFICATIONS.trap, (n: TrapNotification) => { if (prompting) queue.push(n.record); else table.row(n.record); });
    conn.onNotification(NOTIFICATIONS.output, (n: OutputNotification) => { if (!prompting) process.stdout.write(n.text.replace(/^/gm, 'guest| ').replace(/guest\| $/, '')); });
    conn.onNotification(NOTIFICATIONS.lagged, (n: LaggedNotification) => void process.stderr.write(`trapdoor: this client fell behind: ${plural(n.missed, 'record')} from #${n.from} not shown (trapdoor triage --json --from ${n.from} lists them)\n`));
    conn.onNotification(NOTIFICATIONS.decided, (n: DecidedNotification) => {
      if (cancel?.seq === n.seq) {
        // another client (gdb, the web page, another triage) decided what this prompt asks
        cancel.ac.abort();
        process.stdout.write(`trap #${n.seq} decided by ${n.by}: ${decidedText(n.record, true)}\n`);
      } else if (!prompting) process.stdout.write(`trap #${n.seq} decided by ${n.by}\n`);
    });
    conn.onNotification(NOTIFICATIONS.closed, () => { process.stdout.write('the session was closed\n'); done(EXIT.OK); });
    conn.onClose(() => done(EXIT.ERROR));
    const onStop = async (ev: StopEvent) => {
      if (ev.reason === 'trap' && ev.trap?.decision === 'pending') {
        const t = ev.trap;
        if (!terminal || prompting || t.seq === asked) { if (!terminal) process.stdout.write(`trap #${t.seq} waits for a decision (trapdoor triage --decide ACTION)\n`); return; }
        asked = t.seq;
        prompting = true;
        const { askUser } = await import('./prompt.js');
        cancel = { seq: t.seq, ac: new AbortController() };
        const d = await askUser(t, { forward: false, signal: cancel.ac.signal });
        cancel = undefined;
        prompting = false;
        for (const r of queue.splice(0)) table.row(r);
        if (d === 'cancelled') return;
        if (d === 'quit') { process.stdout.write(`left triage; trap #${t.seq} stays pending for the others\n`); done(EXIT.OK); return; }
        try {
          const rec = await conn.sendRequest<TrapRecord>('decide', { decision: d, seq: t.seq });
          process.stdout.write(decidedText(rec, true) + '\n');
        } catch (e) {
          process.stdout.write(`${why(e).message}\n`);
        }
      } else if (ev.reason === 'exit' || ev.reason === 'fault' || ev.reason === 'exception' || ev.final) {
        process.stdout.write(`run ended: ${ev.message ?? ev.reason}\n`);
        done(ev.reason === 'exit' ? EXIT.OK : EXIT.FAULT);
      } else if (ev.reason !== 'trap') {
        process.stdout.write(`guest stopped: ${ev.reason} at ${ev.pc}\n`);
      }
    };
    conn.onNotification(NOTIFICATIONS.stop, (n: StopNotification) => void onStop(n.event));
    void (async () => {
      const sub = await conn.sendRequest<SubscribeResult>('traps/subscribe', { from: from ?? info.oldestKept });
      if (sub.pending) void onStop({ reason: 'trap', vcpu: 0, pc: sub.pending.pc, insns: sub.pending.insns, trap: sub.pending });
      else if (info.state === 'exited') {
        const st = await conn.sendRequest<{ lastStop?: StopEvent }>('status', {});
        process.stdout.write(`run ended: ${st.lastStop?.message ?? 'the guest has ended'}\n`);
        done(EXIT.OK);
      }
    })().catch((e) => { process.stderr.write(`trapdoor: ${why(e).message}\n`); done(why(e).code === 'gone' ? EXIT.USAGE : EXIT.ERROR); });
  });
}
