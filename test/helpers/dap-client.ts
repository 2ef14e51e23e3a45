// The real adapter process driven by the real DebugClient (vscode-debugadapter-node's
// test client), over stdio or over `trapdoor debug-adapter --server 0`: what every
// test/dap*.test.ts drives it with.
import { afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { ROOT } from './asm.js';
import { parseElf } from '../../server/machine/elf.js';

export const BIN = path.join(ROOT, 'bin/trapdoor.js');
export const WAIT = 30_000;

export interface Adapter { dc: DebugClient; proc: ChildProcess }

/** A DebugClient on pipes we spawned ourselves (DebugClient.start spawns `runtime executable` with no arguments). */
class PipeClient extends DebugClient {
  attach(from: Readable, to: Writable) { this.connect(from, to); }
}

/** The adapter on stdio: `node bin/trapdoor.js debug-adapter`, with a DebugClient on its pipes. */
export function overStdio(): Adapter {
  const proc = spawn(process.execPath, [BIN, 'debug-adapter'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const dc = new PipeClient(process.execPath, BIN, 'trapdoor');
  dc.defaultTimeout = WAIT;
  dc.attach(proc.stdout!, proc.stdin!);
  return { dc, proc };
}

/** The adapter with --server 0: the port it prints on stderr, and a DebugClient connected to it. */
export async function overServer(): Promise<Adapter> {
  const proc = spawn(process.execPath, [BIN, 'debug-adapter', '--server', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', () => reject(new Error(`the adapter exited: ${err}`)));
  });
  const dc = new DebugClient(process.execPath, BIN, 'trapdoor');
  dc.defaultTimeout = WAIT;
  await dc.start(port);
  return { dc, proc };
}

/** Ends an adapter a test left running. */
export async function stopAdapter({ dc, proc }: Adapter): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  dc.defaultTimeout = 5000;
  await dc.stop().catch(() => {});
  proc.kill();
}

/** The adapters a test file starts, each ended after its test (call once, at the top of the file). */
export function startedAdapters() {
  const started: Adapter[] = [];
  afterEach(async () => { for (const a of started.splice(0)) await stopAdapter(a); });
  return {
    stdio(): Adapter { const a = overStdio(); started.push(a); return a; },
    async server(): Promise<Adapter> { const a = await overServer(); started.push(a); return a; },
  };
}

export interface Setup {
  /** Line breakpoints of one source (sent first, as VS Code does). */
  source?: DebugProtocol.SetBreakpointsArguments;
  exceptions?: DebugProtocol.SetExceptionBreakpointsArguments;
  functions?: string[];
  instructions?: DebugProtocol.InstructionBreakpoint[];
}

/** initialize, launch, the breakpoints, configurationDone; the answers, and the first stop (unless told not to wait for one). */
export async function launchAndStop(dc: DebugClient, launch: Record<string, unknown>, setup: Setup = {}, waitForStop = true) {
  const init = await dc.initializeRequest({
    adapterID: 'trapdoor', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true, supportsInvalidatedEvent: true, supportsMemoryEvent: true,
  });
  const launched = dc.launchRequest(launch as DebugProtocol.LaunchRequestArguments);
  await dc.waitForEvent('initialized');
  const source = setup.source ? await dc.setBreakpointsRequest(setup.source) : undefined;
  const exceptions = await dc.setExceptionBreakpointsRequest(setup.exceptions ?? { filters: [] });
  const functions = setup.functions ? await dc.setFunctionBreakpointsRequest({ breakpoints: setup.functions.map((name) => ({ name })) }) : undefined;
  const instructions = setup.instructions ? await setInstructionBreakpoints(dc, setup.instructions) : undefined;
  const stopped = waitForStop ? dc.waitForEvent('stopped') : undefined;
  await dc.configurationDoneRequest();
  await launched;
  return { init, source, exceptions, functions, instructions, stop: (await stopped) as DebugProtocol.StoppedEvent };
}

/** setInstructionBreakpoints (DebugClient has no method for it). */
export function setInstructionBreakpoints(dc: DebugClient, breakpoints: DebugProtocol.InstructionBreakpoint[]): Promise<DebugProtocol.SetInstructionBreakpointsResponse> {
  return dc.customRequest('setInstructionBreakpoints', { breakpoints }) as Promise<DebugProtocol.SetInstructionBreakpointsResponse>;
}

/** The variables of a scope of the top frame, by name. */
export async function variables(dc: DebugClient, scopeName: string) {
  const frames = await dc.stackTraceRequest({ threadId: 1 });
  const scopes = await dc.scopesRequest({ frameId: frames.body.stackFrames[0].id });
  const scope = scopes.body.scopes.find((s) => s.name === scopeName);
  if (!scope) throw new Error(`no scope ${scopeName} (scopes: ${scopes.body.scopes.map((s) => s.name).join(', ')})`);
  const vars = await dc.variablesRequest({ variablesReference: scope.variablesReference });
  return Object.fromEntries(vars.body.variables.map((v) => [v.name, v]));
}

/** The next event of a kind, after `action` (started once the wait is in place). */
export async function after<T extends DebugProtocol.Event>(dc: DebugClient, event: string, action: () => Promise<unknown>): Promise<T> {
  const got = dc.waitForEvent(event);
  await action();
  return (await got) as T;
}

/** The stop that `action` (a run or step request) ends in. */
export async function stoppedBy(dc: DebugClient, action: () => Promise<unknown>): Promise<DebugProtocol.StoppedEvent['body']> {
  return (await after<DebugProtocol.StoppedEvent>(dc, 'stopped', action)).body;
}

/** The stack frames of the stopped guest. */
export async function top(dc: DebugClient): Promise<DebugProtocol.StackFrame[]> {
  return (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
}

/** Frame 0: where the guest stopped. */
export async function frame0(dc: DebugClient): Promise<DebugProtocol.StackFrame> {
  return (await top(dc))[0];
}

/** The address of an ELF symbol, as the hex text DAP carries. */
export function symbolAddress(elf: string, name: string): string {
  const img = parseElf(readFileSync(elf));
  if (!img.ok) throw new Error(img.error);
  const s = img.value.symbols.find((x) => x.name === name);
  if (!s) throw new Error(`no symbol ${name} in ${elf}`);
  return '0x' + s.value.toString(16);
}

/**
 * The adapter with --server 0 and a raw socket client that stops reading once the
 * request `command` (launch or attach) is answered: a DAP client slower than the
 * guest's output. `rssAcross()` lets the adapter settle for 2 s, then gives its
 * resident memory in MB before and after 8 s more.
 */
export async function nonReadingClient(command: 'launch' | 'attach', args: object) {
  const child = spawn(process.execPath, [BIN, 'debug-adapter', '--server', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let sock: net.Socket | undefined;
  const stop = () => { sock?.destroy(); child.kill('SIGKILL'); };
  try {
    let err = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the adapter did not listen: ${err}`)), WAIT);
      child.stderr!.on('data', (b: Buffer) => {
        err += b.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
    });
    const s = sock = net.connect(port, '127.0.0.1');
    let seq = 1;
    const send = (cmd: string, a: object) => {
      const body = JSON.stringify({ seq: seq++, type: 'request', command: cmd, arguments: a });
      s.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    // read until the request is answered, then never again
    let got = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${command} response: ${got.slice(0, 2000)}`)), WAIT);
      s.on('data', (b: Buffer) => {
        got += b.toString();
        if (new RegExp(`"command":"${command}"`).test(got)) { clearTimeout(timer); s.pause(); resolve(); }
      });
      send('initialize', { adapterID: 'trapdoor', pathFormat: 'path' });
      send(command, args);
    });
    const rss = () => {
      try { return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024; } catch { return 0; }
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const rssAcross = async () => {
      await sleep(2000);
      const before = rss();
      await sleep(8000);
      return { before, after: rss() };
    };
    return { child, got, send, rssAcross, stop };
  } catch (e) {
    stop();
    throw e;
  }
}
