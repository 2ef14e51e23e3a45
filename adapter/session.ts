// The debug adapter: the Debug Adapter Protocol mapped onto the Session contract,
// as vscode-mock-debug's session maps onto its runtime. One DAP connection is one
// guest: a Session it opens at `launch` with one Client named 'dap', or a session
// served by `trapdoor serve` that it joins at `attach` (a RemoteClient: the same
// surface, a SessionClient, over JSON-RPC; other clients run and decide it too,
// and their stops and decisions are reported as they come). Traps are
// exceptions (filters.ts): a trap stop is a `stopped` event with reason
// 'exception'; the debug console runs the console commands every front-end shares.
// The requests' handlers live in their own modules (host.ts says what they need
// of this session): memory.ts, breakpoints.ts (every kind of breakpoint in one
// book), frames.ts (the stack and stepping), source.ts (the line table),
// disassemble.ts and policy.ts.
import { HotWindow, cpuYield } from '../server/session/hot.js';
import {
  DebugSession, Event, InitializedEvent, InvalidatedEvent, MemoryEvent, StoppedEvent, OutputEvent, ExitedEvent, TerminatedEvent, Thread, Scope, CapabilitiesEvent,
  ContinuedEvent,
} from '@vscode/debugadapter';
import { randomBytes } from 'node:crypto';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { Session, type SessionClient, type StopEvent } from '../server/session/session.js';
import { parseDecision } from '../server/session/console.js';
import { RemoteClient } from '../server/rpc/remote-client.js';
import { attachOptions, type AttachArgs } from './attach.js';
import { decidedText, decisionText, describeTrap } from '../server/session/render.js';
import type { TrapRecord } from '../server/session/trap-record.js';
import type { Result } from '../server/result.js';
import { RunError, UsageError } from '../server/cli/errors.js';
import { inLaunchWords, launchOptions, type LaunchArgs } from './launch.js';
import { exceptionFilters, filterRule } from './filters.js';
import { THREAD, type Host, type LineNumbers, type MemoryChange } from './host.js';
import { readMemory, writeMemory } from './memory.js';
import { Breakpoints } from './breakpoints.js';
import * as frames from './frames.js';
import { completions, policyRequest } from './policy.js';
import { hex } from '../server/machine/memory.js';
import { SourceSupport } from './source.js';
import { disassemble } from './disassemble.js';
import { TrapFeed } from './trap-feed.js';
import { lowerBackgroundThreads, tierUpSooner } from '../server/session/jit.js';

const REF = { trap: 1, registers: 2, system: 3, trapArgs: 4, trapRaw: 5, fp: 6 } as const;
/** The ids of the ask rules this adapter adds for exception filters. */
const FILTER_PREFIX = 'dap-exc-';

/** `smccc/sip/fast/SMC32`: kind, owner, fast or yielding, conduit and width. */
export function fullTypeName(t: TrapRecord): string {
  const d = t.decoded;
  const parts: string[] = [d.kind, d.owner];
  if (d.fast !== undefined) parts.push(d.fast ? 'fast' : 'yielding');
  // SMCCC says SMC32/SMC64; other calls take the width of the guest's registers
  parts.push(`${t.conduit.toUpperCase()}${d.callconv ?? (t.arch === 'aarch64' ? 64 : 32)}`);
  return parts.join('/');
}

/** Output events a client has not read yet beyond which the guest is held back. */
const OUTPUT_BACKLOG = 1 << 20;

/** How long the adapter busy-polls after an answer (ms). */
const HOT_MS = 1;

export class TrapdoorDebugSession extends DebugSession implements Host {
  /** `out`: the stream the protocol is written to (stdout or the socket), watched for a slow client. */
  constructor(private readonly out: NodeJS.WritableStream & { writableLength: number }) {
    super();
    // the line table's lines and columns start at 1 (the client says how its own start at initialize)
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  /**
   * At every stop the client asks for threads, the stack, the scopes and the
   * registers, one after the other: this thread busy-polls for a moment after each
   * answer and stop (server/session/hot.ts) so that the next request is read
   * without a wake-up. The adapter runs in its own process (`trapdoor debug-adapter`).
   */
  private readonly hotWindow = new HotWindow(HOT_MS, { over: () => this.ended, turn: () => this.yieldCpu?.() });
  /** Bound at launch or attach (cpuYield): each turn of the window gives the CPU to a client waiting for it. */
  private yieldCpu: (() => number) | undefined;

  override sendResponse(response: DebugProtocol.Response): void {
    super.sendResponse(response);
    this.hotWindow.touch();
  }
  override sendEvent(event: DebugProtocol.Event): void {
    super.sendEvent(event);
    if (event.event === 'stopped') this.hotWindow.touch();
  }

  private session: Session | undefined;
  private client: SessionClient | undefined;
  /** The served session joined at attach (the client, when attached). */
  private remote: RemoteClient | undefined;
  /** This debug session attached (it stays so after it detached). */
  private attached = false;
  /** Runs of this adapter under way: a stop meanwhile is theirs (reported by resume), any other is another client's. */
  private ownRuns = 0;
  /** The ids of the ask rules the exception filters added (the policy may be shared: only these are this adapter's). */
  private filterRules: string[] = [];
  /** Their id prefix: in a served session, one of this adapter's own. */
  private filterPrefix = FILTER_PREFIX;
  private stopOnEntry = false;
  private configured = false;
  private launched = false;
  private ended = false;
  /** A pause of ours (to change the policy while the guest runs): not reported, the run goes on after. */
  private quietPause = false;
  /** The client redraws variables on an `invalidated` event (it said so at initialize). */
  private invalidates = false;
  /** The client re-reads memory on a `memory` event. */
  private memoryEvents = false;
  readonly lines: LineNumbers = {
    toClient: (n) => this.convertDebuggerLineToClient(n),
    fromClient: (n) => this.convertClientLineToDebugger(n),
    columnToClient: (n) => this.convertDebuggerColumnToClient(n),
    columnFromClient: (n) => this.convertClientColumnToDebugger(n),
  };
  /** The launch configuration, for restart. */
  private launchArgs: LaunchArgs | undefined;
  /** The last exception filters, for restart. */
  private filterArgs: DebugProtocol.SetExceptionBreakpointsArguments | undefined;
  /** Instruction, function, source and data breakpoints, and the adapter's step breakpoints. */
  private readonly points = new Breakpoints();
  /** Changes made with the guest stopped (whileStopped), one at a time. */
  private stoppedWork: Promise<unknown> = Promise.resolve();
  /** The program's line table, and its line breakpoints' answers (source.ts); made at launch. */
  private src: SourceSupport | undefined;
  /** New trap records as `trapdoor/trap` events (the extension's Traps view). */
  private readonly feed = new TrapFeed((body) => this.sendEvent(new Event('trapdoor/trap', body)));

  // ---------------------------------------------------------------- helpers
  fail(response: DebugProtocol.Response, message: string, id = 1) {
    response.success = false;
    response.message = message;
    response.body = { error: { id, format: message.replace(/[{}]/g, ''), showUser: true } };
    this.sendResponse(response);
  }

  /** The client, or an error response saying the guest is not launched. */
  need(response: DebugProtocol.Response): SessionClient | undefined {
    if (this.client && !this.ended) return this.client;
    this.fail(response, this.ended ? 'the guest has ended (start a new debug session)' : 'no guest yet: send launch (or attach) first');
    return undefined;
  }

  private answer<T>(response: DebugProtocol.Response, r: Result<T>, body?: (v: T) => unknown) {
    if (!r.ok) return this.fail(response, r.error);
    if (body) response.body = body(r.value);
    this.sendResponse(response);
  }

  // ---------------------------------------------------------------- start-up
  protected override initializeRequest(response: DebugProtocol.InitializeResponse, args: DebugProtocol.InitializeRequestArguments): void {
    // linesStartAt1 and columnsStartAt1: DebugSession reads them itself (this.lines converts with them)
    this.invalidates = args?.supportsInvalidatedEvent === true;
    this.memoryEvents = args?.supportsMemoryEvent === true;
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsEvaluateForHovers: false,
      supportsSetVariable: true,
      supportsExceptionInfoRequest: true,
      supportsExceptionFilterOptions: true,
      supportsTerminateRequest: true,
      supportsSteppingGranularity: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsInstructionBreakpoints: true,
      supportsFunctionBreakpoints: true,
      supportsDataBreakpoints: true,
      supportsDataBreakpointBytes: true,
      supportsRestartRequest: true,
      supportsCompletionsRequest: true,
      completionTriggerCharacters: [' '],
      supportsDisassembleRequest: true,
      supportsBreakpointLocationsRequest: true,
      exceptionBreakpointFilters: exceptionFilters(),
    };
    this.sendResponse(response);
  }

  protected override async launchRequest(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments & LaunchArgs): Promise<void> {
    if (this.client) return this.fail(response, 'this debug session already runs a guest');
    const failed = await this.open(args ?? {});
    if (failed) return this.fail(response, failed.message, failed.id);
    this.launched = true;
    this.sendResponse(response);
    // Ready for the configuration (exception filters) now that the session exists.
    this.sendEvent(new InitializedEvent());
    if (this.configured) this.startGuest();
  }

  /** Opens the guest of a launch configuration and connects this adapter's client; what went wrong, if anything. */
  private async open(args: LaunchArgs): Promise<{ message: string; id: number } | undefined> {
    let opts;
    try {
      opts = await launchOptions(args);
    } catch (e) {
      if (e instanceof UsageError || e instanceof RunError) return { message: inLaunchWords(e.message), id: 2 };
      return { message: `internal error: ${(e as Error).message} (please report this with the launch configuration)`, id: 1 };
    }
    tierUpSooner(); // steps from VS Code: see server/session/jit.ts
    const opened = await Session.open(opts);
    if (!opened.ok) return { message: opened.error, id: 2 };
    lowerBackgroundThreads(); // the emulation thread is named now: it keeps its priority
    this.yieldCpu = cpuYield();
    this.launchArgs = args;
    this.session = opened.value;
    this.stopOnEntry = opts.stopOnEntry;
    const c = this.client = this.session.connect('dap');
    const img = this.session.options.image;
    // read again at a restart (the program may have been rebuilt); the client's paths for its files stay
    this.src = new SourceSupport({ path: img.path, raw: img.load !== undefined, arch: c.arch }, this.lines, this.src);
    this.listen(c);
    return undefined;
  }

  /** What the adapter hears of its client: output, log lines, trap records, and the stops and runs of other clients. */
  private listen(c: SessionClient) {
    // what VS Code shows at every stop (frames, the Registers view) comes with the stop
    c.stopRegisters = c.registers.filter((r) => r.group === 'general').map((r) => r.name);
    c.on('output', (text) => {
      this.sendEvent(new OutputEvent(text, 'stdout'));
      // the client reads slower than the guest prints: hold the guest back (flow control), not our memory
      if (this.out.writableLength > OUTPUT_BACKLOG) {
        c.hold(new Promise((r) => { this.out.once('drain', r); this.out.once('close', r); }));
      }
    });
    c.on('log', (line) => this.sendEvent(new OutputEvent(`trapdoor: ${line}\n`, 'console')));
    // new trap records for the `trapdoor/trap` feed (a restart's new client subscribes again)
    c.on('traps', (batch) => this.feed.push(batch));
    // another client's run (a served session: its runner after a decision, gdb, a script) and where it stopped
    c.on('running', () => {
      if (c === this.client && this.configured && !this.ownRuns && !this.quietPause) this.sendEvent(new ContinuedEvent(THREAD, true));
    });
    c.on('stop', (ev) => {
      if (c !== this.client || !this.configured || this.ownRuns || (this.quietPause && ev.reason === 'pause')) return;
      this.report(ev);
    });
    // no watchpoints in this mode (--no-count): the client hides data breakpoints
    if (!c.caps.watchpoints) this.sendEvent(new CapabilitiesEvent({ supportsDataBreakpoints: false }));
  }

  /**
   * Joins a session served by `trapdoor serve` (its address, token, session and
   * role): after it, the adapter works as after a launch, with the served guest.
   */
  protected override async attachRequest(response: DebugProtocol.AttachResponse, args: DebugProtocol.AttachRequestArguments & AttachArgs): Promise<void> {
    if (this.client) return this.fail(response, 'this debug session already has a guest');
    let opts;
    try {
      opts = attachOptions(args ?? {});
    } catch (e) {
      if (e instanceof UsageError) return this.fail(response, e.message, 2);
      throw e;
    }
    let c: RemoteClient;
    try {
      c = await RemoteClient.attach(opts);
    } catch (e) {
      return this.fail(response, `attach: ${(e as Error).message}`, 2);
    }
    this.remote = c;
    this.client = c;
    this.attached = true;
    this.yieldCpu = cpuYield();
    this.filterPrefix = `${FILTER_PREFIX}${randomBytes(3).toString('hex')}-`;
    // the line table of a local copy of the program, or of the served image when it is on this machine
    this.src = new SourceSupport({ path: opts.program ?? c.image, raw: false, arch: c.arch }, this.lines);
    this.listen(c);
    c.on('decided', (d) => {
      if (c !== this.client || d.by === c.name) return;
      this.sendEvent(new OutputEvent(`trapdoor: trap #${d.seq} decided by ${d.by}: ${decidedText(d.record)}\n`, 'console'));
      this.changed(this.memoryOf(d.record));
    });
    c.on('gone', (why) => {
      if (c !== this.client) return;
      this.sendEvent(new OutputEvent(`trapdoor: ${why}\n`, 'console'));
      void this.end(0);
    });
    this.launched = true;
    this.sendResponse(response);
    this.sendEvent(new OutputEvent(`trapdoor: attached to session ${c.id} (${c.image}) as ${c.name}, ${c.role}\n`, 'console'));
    this.sendEvent(new InitializedEvent());
    if (this.configured) this.startGuest();
  }

  /** Relaunches the configuration (or the one the client sends) with the breakpoints and exception filters as they are. */
  protected override async restartRequest(response: DebugProtocol.RestartResponse, args: DebugProtocol.RestartArguments): Promise<void> {
    if (this.remote) return this.fail(response, 'attached to a served session: it is restarted on the service (session/close, session/open), then attach again');
    if (!this.launchArgs) return this.fail(response, 'nothing to restart: send launch first');
    const launch = (args?.arguments as LaunchArgs | undefined) ?? this.launchArgs;
    await this.shut();
    // the old run's records not yet sent are dropped: a client starts its list again at a restart
    this.feed.stop();
    const failed = await this.open(launch);
    if (failed) {
      this.fail(response, failed.message, failed.id);
      return void this.end(1);
    }
    this.ended = false;
    const c = this.client!;
    const filters = this.filterArgs ? await this.applyFilters(c, this.filterArgs) : [];
    await this.points.reinstall(c);
    this.sendResponse(response);
    const lost = typeof filters === 'string' ? [filters] : filters.filter((b) => !b.verified).map((b) => b.message);
    for (const m of lost) this.sendEvent(new OutputEvent(`trapdoor: exception filter not set again: ${m}\n`, 'stderr'));
    if (this.invalidates) this.sendEvent(new InvalidatedEvent(['all']));
    this.startGuest();
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.configured = true;
    this.sendResponse(response);
    if (this.launched) this.startGuest();
  }

  private startGuest() {
    if (this.remote) void this.joinServed(this.remote);
    else if (this.stopOnEntry) this.sendEvent(new StoppedEvent('entry', THREAD));
    else void this.resume(false);
  }

  /** Attached and configured: the records so far (the Traps view), and the served guest as it is now. */
  private async joinServed(c: RemoteClient) {
    const sub = await c.follow();
    if (c !== this.client) return;
    if (!sub.ok) this.sendEvent(new OutputEvent(`trapdoor: the trap records: ${sub.error}\n`, 'stderr'));
    if (c.state === 'running') return; // its next stop is reported as it comes
    const pending = sub.ok ? sub.value.pending : null;
    const last = c.lastStop;
    if (pending) this.report({ reason: 'trap', vcpu: 0, pc: pending.pc, insns: pending.insns, trap: pending });
    else if (c.state === 'exited' || (last && last.reason !== 'trap')) this.report(last ?? { reason: 'exit', vcpu: 0, pc: '0x0', insns: 0 });
    else {
      const stopped = new StoppedEvent(last ? 'pause' : 'entry', THREAD) as DebugProtocol.StoppedEvent;
      stopped.body.description = 'the served guest waits for a client to continue it';
      this.sendEvent(stopped);
    }
  }

  // ---------------------------------------------------------------- run control
  /** Runs (or steps) the guest and reports how it stopped. At a trap with no decision the run applies the policy default. */
  async resume(step: boolean, run?: () => Promise<Result<StopEvent>>): Promise<void> {
    const c = this.client;
    if (!c || this.ended) return;
    this.ownRuns++;
    let r: Result<StopEvent>;
    try {
      r = run ? await run() : step ? await c.step() : await c.cont();
    } finally {
      this.ownRuns--;
    }
    if (c !== this.client) return; // the guest was restarted meanwhile
    // a served guest another client runs already: its stop is reported when it comes
    if (!r.ok && r.code === 'busy' && this.remote && !step && !run) return;
    if (!r.ok) {
      // a served guest another client ran to its end while this run was asked for:
      // its last stop (heard while this run was in flight, so not reported) says how it ended
      const last = c.lastStop;
      if (r.code === 'exited' && this.remote && last && last.reason !== 'trap') return this.report({ ...last, final: true });
      this.sendEvent(new OutputEvent(`trapdoor: ${r.error}\n`, 'stderr'));
      if (r.code === 'exited' || r.code === 'closed') void this.end(0);
      return;
    }
    if (r.value.reason === 'pause' && this.quietPause) return;
    this.report(r.value);
  }

  private report(stop: StopEvent) {
    this.feed.flush(stop.reason === 'trap' ? stop.trap : undefined);
    const c = this.client;
    // the adapter's step points go at any stop reported
    const ev = c ? this.points.endStep(c, stop) : stop;
    const hit = c && this.points.stopped(c, ev);
    if (hit) return this.sendEvent(hit);
    switch (ev.reason) {
      case 'trap': {
        const t = ev.trap;
        const stopped = new StoppedEvent('exception', THREAD, t?.decoded.name ?? 'trap') as DebugProtocol.StoppedEvent;
        stopped.body.description = t ? `trap #${t.seq}: ${t.decoded.summary}` : ev.message;
        stopped.body.allThreadsStopped = true;
        this.sendEvent(stopped);
        return;
      }
      case 'breakpoint': case 'step': case 'pause':
        this.sendEvent(new StoppedEvent(ev.reason, THREAD));
        return;
      case 'exit':
        this.sendEvent(new OutputEvent(`run ended: ${ev.message ?? 'the guest ended'}\n`, 'console'));
        void this.end(0);
        return;
      default: {
        // fault, exception, idle, limit, internal: say what happened; a final stop ends the run
        const text = `${ev.reason} at ${ev.pc}: ${ev.message ?? ev.reason}`;
        if (ev.final || this.client?.state === 'exited') {
          this.sendEvent(new OutputEvent(`run stopped: ${text}\n`, 'stderr'));
          void this.end(1);
          return;
        }
        const stopped = new StoppedEvent('exception', THREAD, ev.reason) as DebugProtocol.StoppedEvent;
        stopped.body.description = text;
        this.sendEvent(stopped);
      }
    }
  }

  /** The run is over: the session closes (the trap log is cut to its records) before the client hears so. */
  private async end(code: number) {
    if (this.ended) return;
    this.ended = true;
    await this.shut();
    this.feed.flush();
    this.sendEvent(new ExitedEvent(code));
    this.sendEvent(new TerminatedEvent());
  }

  /** A decision or a register write changed what the variables and the stack show (and the given memory). */
  changed(memory: MemoryChange[] = []) {
    if (this.invalidates) this.sendEvent(new InvalidatedEvent(['variables', 'stacks'], THREAD));
    if (this.memoryEvents) for (const m of memory) this.sendEvent(new MemoryEvent(hex(m.addr), 0, m.len));
  }

  /** The guest memory a trap's answer wrote. */
  private memoryOf(t: TrapRecord): MemoryChange[] {
    return (t.result.memory ?? []).map((m) => ({ addr: BigInt(m.addr), len: m.len }));
  }

  /**
   * Runs fn with the guest stopped, one change at a time: a running guest is
   * paused for it (quietly: no stop is reported) and runs on after. Every request
   * that changes the worker's rules, breakpoints or watchpoints goes through it.
   */
  whileStopped<T>(c: SessionClient, fn: () => Promise<T>): Promise<T> {
    const run = this.stoppedWork.then(() => this.pausedFor(c, fn));
    this.stoppedWork = run.catch(() => {});
    return run;
  }

  private async pausedFor<T>(c: SessionClient, fn: () => Promise<T>): Promise<T> {
    let runOn = false;
    // a served guest may run without this adapter knowing yet (another client ran it): its status says
    // (a pause of a stopped served guest would take it from the service's runner: only a running one is paused)
    const running = c.state === 'running' || (this.remote !== undefined && await c.status().then((st) => st.ok && st.value.state === 'running'));
    if (running) {
      this.quietPause = true;
      // (the stop comes after the pause's answer: it needs the guest to reach a block boundary)
      const was = await c.pause();
      if (was.ok && was.value === 'running') runOn = (await c.nextStop()).reason === 'pause';
      if (!runOn) this.quietPause = false;
    }
    try {
      return await fn();
    } finally {
      if (runOn) { this.quietPause = false; void this.resume(false); }
    }
  }

  /** The client, when the guest is stopped (a run or step needs that). */
  stoppedClient(response: DebugProtocol.Response): SessionClient | undefined {
    const c = this.need(response);
    if (c && c.state === 'running') { this.fail(response, 'the guest is running (pause it first)'); return undefined; }
    return c;
  }

  protected override continueRequest(response: DebugProtocol.ContinueResponse): void {
    // a served guest already running on (the service's runner after a decision, another client), or run to its
    // end meanwhile (terminated is on its way): nothing to do
    if (this.attached && (this.ended || this.remote?.state === 'running')) {
      response.body = { allThreadsContinued: true };
      return this.sendResponse(response);
    }
    if (!this.stoppedClient(response)) return;
    response.body = { allThreadsContinued: true };
    this.sendResponse(response);
    void this.resume(false);
  }

  /** next, stepIn, stepOut (frames.ts): by source line where the line table knows the pc, else (or with granularity 'instruction') by instruction. */
  protected override nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    void frames.step(this, this.points, this.src, response, 'over', args?.granularity);
  }

  protected override stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    void frames.step(this, this.points, this.src, response, 'into', args?.granularity);
  }

  protected override stepOutRequest(response: DebugProtocol.StepOutResponse, args: DebugProtocol.StepOutArguments): void {
    void frames.step(this, this.points, this.src, response, 'out', args?.granularity);
  }

  protected override async pauseRequest(response: DebugProtocol.PauseResponse): Promise<void> {
    const c = this.need(response);
    if (!c) return;
    const wasRunning = c.state === 'running';
    this.answer(response, await c.pause());
    // Already stopped: say so, so that the client does not wait for a stop that never comes.
    if (!wasRunning) this.sendEvent(new StoppedEvent('pause', THREAD));
  }

  /** Ends the guest (the connection went away, or disconnect/terminate). */
  async shut() {
    const r = this.remote;
    if (r) {
      // detach: this adapter's exception-filter rules and breakpoints go; the served session stays for the others
      if (this.filterRules.length && r === this.client && !this.ended) await this.whileStopped(r, () => this.removeFilterRules(r));
      this.remote = undefined;
      this.client = undefined;
      await r.close();
      return;
    }
    const s = this.session;
    const c = this.client;
    this.session = undefined;
    // a run still under way ends without a report (resume sees another client)
    this.client = undefined;
    if (!s) return;
    s.pause();
    await c?.close();
    await s.close();
  }

  /** Launched: ends the guest. Attached: detaches, and the served session goes on (terminateDebuggee does not end it either). */
  protected override async disconnectRequest(response: DebugProtocol.DisconnectResponse): Promise<void> {
    await this.shut();
    this.sendResponse(response);
    this.shutdown();
  }

  /** Launched: ends the guest. Attached: only detaches (the response says so), as a served session belongs to all its clients. */
  protected override async terminateRequest(response: DebugProtocol.TerminateResponse): Promise<void> {
    const attached = this.remote !== undefined;
    await this.shut();
    if (attached) {
      response.message = 'detached: terminate does not end a served session (its other clients still use it); it goes on';
      this.sendResponse(response);
      this.ended = true;
      this.sendEvent(new OutputEvent(`trapdoor: ${response.message}\n`, 'console'));
      this.sendEvent(new TerminatedEvent());
      return;
    }
    this.sendResponse(response);
    await this.end(0);
  }

  // ---------------------------------------------------------------- traps as exceptions
  protected override async setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): Promise<void> {
    const c = this.need(response);
    if (!c) return;
    if (!args.filters?.length && !args.filterOptions?.length && !this.filterRules.length) {
      // nothing to add or remove: a served guest others run is not paused for it
      this.filterArgs = args;
      response.body = { breakpoints: [] };
      return this.sendResponse(response);
    }
    // The policy is changed while the guest is stopped: a running guest is paused for it and runs on after.
    const r = await this.whileStopped(c, () => this.applyFilters(c, args));
    if (typeof r === 'string') return this.fail(response, r);
    this.filterArgs = args;
    response.body = { breakpoints: r };
    this.sendResponse(response);
  }

  /** This adapter's ask rules for a set of exception filters (replacing the last set); an answer for each, or why none was set. */
  private async applyFilters(c: SessionClient, args: DebugProtocol.SetExceptionBreakpointsArguments): Promise<DebugProtocol.Breakpoint[] | string> {
    const wanted = [
      ...(args.filters ?? []).map((filterId) => ({ filterId, condition: undefined as string | undefined })),
      ...(args.filterOptions ?? []).map((o) => ({ filterId: o.filterId, condition: o.condition })),
    ];
    // Replace this adapter's rules with the new set (DAP sends the whole set each time).
    const removed = await this.removeFilterRules(c);
    if (removed) return removed;
    const breakpoints: DebugProtocol.Breakpoint[] = [];
    for (const w of wanted) {
      const r = filterRule(w.filterId, w.condition);
      if ('error' in r) { breakpoints.push({ verified: false, message: r.error }); continue; }
      const added = await c.addRule({ rule: r.rule, position: 'first', idPrefix: this.filterPrefix });
      if (added.ok) this.filterRules.push(added.value.rule.id);
      breakpoints.push(added.ok ? { verified: true, message: added.value.rule.text } : { verified: false, message: added.error });
    }
    return breakpoints;
  }

  /** Removes the ask rules of the exception filters (gone already is fine: a restart's new session, or the console's policy remove); what failed, if anything. */
  private async removeFilterRules(c: SessionClient): Promise<string | undefined> {
    for (const id of this.filterRules.splice(0)) {
      const gone = await c.removeRule({ id });
      if (!gone.ok && gone.code !== 'not-found') return gone.error;
    }
    return undefined;
  }

  private async pending(): Promise<TrapRecord | undefined> {
    const p = await this.client?.pendingTrap();
    return p?.ok && p.value ? p.value : undefined;
  }

  protected override async exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): Promise<void> {
    if (!this.need(response)) return;
    const t = await this.pending();
    const ev = this.client!.lastStop;
    if (!t) {
      if (!ev) return this.fail(response, 'the guest has not stopped yet');
      response.body = { exceptionId: ev.reason, description: ev.message ?? `${ev.reason} at ${ev.pc}`, breakMode: 'always' };
      return this.sendResponse(response);
    }
    const d = t.decoded;
    response.body = {
      exceptionId: d.name,
      description: `trap #${t.seq}: ${d.summary}`,
      breakMode: 'always',
      details: {
        // the full decoded record, as the console's `trap` command shows it
        message: describeTrap(t).join('\n'),
        typeName: d.name,
        fullTypeName: fullTypeName(t),
        evaluateName: d.id,
        stackTrace: `${t.conduit.toUpperCase()} #${t.imm} at ${t.pc}`,
      },
    };
    this.sendResponse(response);
  }

  // ---------------------------------------------------------------- threads, frames, variables
  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD, 'vCPU 0')] };
    this.sendResponse(response);
  }

  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    void frames.stackTrace(this, this.src, response, args);
  }

  protected override async scopesRequest(response: DebugProtocol.ScopesResponse): Promise<void> {
    if (!this.need(response)) return;
    const scopes: DebugProtocol.Scope[] = [];
    if (await this.pending()) scopes.push(new Scope('Trap', REF.trap, false));
    const regs = new Scope('Registers', REF.registers, false) as DebugProtocol.Scope;
    regs.presentationHint = 'registers';
    scopes.push(regs, new Scope('SIMD/FP', REF.fp, true), new Scope('System registers', REF.system, true));
    response.body = { scopes };
    this.sendResponse(response);
  }

  protected override async variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): Promise<void> {
    const c = this.need(response);
    if (!c) return;
    const v = (name: string, value: string, ref = 0): DebugProtocol.Variable => ({ name, value, variablesReference: ref });
    if (args.variablesReference === REF.registers || args.variablesReference === REF.system || args.variablesReference === REF.fp) {
      const group = args.variablesReference === REF.system ? 'system' : args.variablesReference === REF.fp ? 'fp' : 'general';
      const names = c.registers.filter((r) => r.group === group).map((r) => r.name);
      const r = await c.readRegisters({ names });
      // a general register may hold an address: the memory view opens there
      const withRef = (x: DebugProtocol.Variable) => (group === 'general' ? { ...x, memoryReference: x.value } : x);
      return this.answer(response, r, (regs) => ({ variables: names.filter((n) => n in regs).map((n) => withRef(v(n, regs[n]))) }));
    }
    const t = await this.pending();
    if (!t) return this.fail(response, 'no trap is waiting for a decision');
    const d = t.decoded;
    let variables: DebugProtocol.Variable[];
    if (args.variablesReference === REF.trap) {
      variables = [
        v('call', d.summary),
        v('function', d.name),
        ...(d.id ? [v('id', d.id)] : []),
        v('type', fullTypeName(t)),
        v('arguments', d.args.map((a) => `${a.name}=${a.value}`).join(', '), REF.trapArgs),
        v('registers', `${t.args.length} argument registers`, REF.trapRaw),
        v('decision', t.decision === 'pending' ? 'pending (trapdoor/decide, or decide ... in the debug console)' : decisionText(t)),
        v('trap', `#${t.seq} at ${t.pc}`),
      ];
    } else if (args.variablesReference === REF.trapArgs) {
      variables = d.args.map((a) => v(a.name, a.value));
    } else if (args.variablesReference === REF.trapRaw) {
      const prefix = t.arch === 'aarch64' ? 'x' : 'r';
      variables = t.args.map((val, i) => v(`${prefix}${i}`, val));
    } else return this.fail(response, `no variables ${args.variablesReference}`);
    response.body = { variables };
    this.sendResponse(response);
  }

  protected override async setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): Promise<void> {
    const c = this.need(response);
    if (!c) return;
    if (args.variablesReference !== REF.registers && args.variablesReference !== REF.system && args.variablesReference !== REF.fp) {
      return this.fail(response, 'only registers can be set (the trap is changed by deciding it)');
    }
    const w = await c.writeRegister({ name: args.name, value: args.value.trim() });
    if (!w.ok) return this.fail(response, w.error);
    const r = await c.readRegisters({ names: [args.name] });
    this.answer(response, r, (regs) => ({ value: regs[args.name] }));
    this.changed();
  }

  // ---------------------------------------------------------------- deciding and the console
  protected override async evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): Promise<void> {
    const c = this.need(response);
    if (!c) return;
    if (args.context !== 'repl') return this.fail(response, 'only debug console commands can be evaluated (type help there)');
    const ran = await c.console({ line: args.expression });
    if (!ran.ok) return this.fail(response, ran.error);
    const r = ran.value;
    if (r.failed) return this.fail(response, r.lines.join('\n'));
    if (/^\s*decide\b/i.test(args.expression)) {
      // the trap just decided is the newest record
      const last = await c.traps({ n: 1 });
      this.changed(last.ok && last.value.length ? this.memoryOf(last.value[0]) : []);
    }
    response.body = { result: r.lines.join('\n'), variablesReference: 0 };
    this.sendResponse(response);
  }

  protected override async customRequest(command: string, response: DebugProtocol.Response, args: unknown): Promise<void> {
    if (command === 'trapdoor/decide') {
      const c = this.need(response);
      if (!c) return;
      const a = (args ?? {}) as { action?: unknown; values?: unknown };
      if (typeof a.action !== 'string') return this.fail(response, 'trapdoor/decide needs {action}: emulate, forward, undef, skip or return (with values {x0: "-2"})');
      const values = a.values && typeof a.values === 'object' ? Object.entries(a.values as Record<string, unknown>).map(([k, val]) => `${k}=${String(val)}`) : [];
      const d = parseDecision([a.action, ...values]);
      if (typeof d === 'string') return this.fail(response, `decide: ${d}`);
      const r = await c.decide({ decision: d });
      if (r.ok) this.changed(this.memoryOf(r.value));
      return this.answer(response, r, (rec) => ({ trap: rec, text: decidedText(rec) }));
    }
    if (command === 'trapdoor/traps') {
      const c = this.need(response);
      if (!c) return;
      const a = (args ?? {}) as { n?: unknown; from?: unknown };
      const n = a.n === undefined ? 100 : Number(a.n);
      const from = a.from === undefined ? undefined : Number(a.from);
      if (!Number.isInteger(n) || n <= 0 || (from !== undefined && (!Number.isInteger(from) || from <= 0))) {
        return this.fail(response, 'trapdoor/traps takes {n, from}: positive whole numbers (n records from trap #from, or the last n)');
      }
      const r = await c.traps({ n, from });
      return this.answer(response, r, (traps) => ({ traps, next: traps.length ? traps[traps.length - 1].seq + 1 : from }));
    }
    if (command === 'trapdoor/policy') return policyRequest(this, response, args);
    this.fail(response, `unknown request ${command}`);
  }

  protected override completionsRequest(response: DebugProtocol.CompletionsResponse, args: DebugProtocol.CompletionsArguments): void {
    completions(this, response, args, this.client?.arch);
  }

  // ---------------------------------------------------------------- memory and breakpoints (memory.ts, breakpoints.ts)
  protected override readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    void readMemory(this, response, args);
  }

  protected override writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    void writeMemory(this, response, args);
  }

  protected override setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): void {
    void this.points.setInstruction(this, response, args);
  }

  protected override setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    void this.points.setFunction(this, response, args);
  }

  protected override dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    void this.points.dataInfo(this, response, args);
  }

  protected override setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    void this.points.setData(this, response, args);
  }

  // ---------------------------------------------------------------- source lines (source.ts) and disassembly (disassemble.ts)
  protected override setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    if (this.need(response)) void this.src!.setBreakpoints(this, this.points, response, args);
  }

  protected override breakpointLocationsRequest(response: DebugProtocol.BreakpointLocationsResponse, args: DebugProtocol.BreakpointLocationsArguments): void {
    if (!this.need(response)) return;
    response.body = { breakpoints: this.src!.breakpointLocations(args) };
    this.sendResponse(response);
  }

  protected override async disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): Promise<void> {
    const c = this.need(response);
    if (!c) return;
    const r = await disassemble(c, this.src!, args);
    if (typeof r === 'string') return this.fail(response, r);
    response.body = { instructions: r };
    this.sendResponse(response);
  }
}
