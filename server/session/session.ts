// Session: the one interface every front-end drives (CLI, gdb stub, debug adapter,
// JSON-RPC service). It lives on the main thread; the guest runs in a worker.
// Errors are values ({ok:false, error}); each front-end maps them at its edge.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CTL } from '../machine/ctl.js';
import { unicorn } from '../machine/unicorn.js';
import { hex, type MemoryMap, type MemResult } from '../machine/memory.js';
import { registerTable, findRegister, type CpuArch, type RegDef } from '../machine/registers.js';
import type { ElfSymbol } from '../machine/elf.js';
import type { FirmwareConfig } from '../firmware/types.js';
import type { PolicySpec } from '../policy/index.js';
import { loadImage, writeRam, type ImageSpec } from './loader.js';
import type { EngineConfig, ForwardFallback, StopEvent } from './engine.js';
import type { WorkerMessage, WorkerRequest } from './protocol.js';
import type { Decision, TrapRecord } from './trap-record.js';

export type { StopEvent } from './engine.js';
export type Result<T> = MemResult<T>;

export interface SessionOptions {
  image: ImageSpec;
  /** RAM regions (default 0x40000000:128M). */
  ram?: { base: bigint; size: bigint }[];
  /** PL011 base for guest output; null for none (default 0x09000000). */
  uart?: bigint | null;
  platform?: string;
  policy?: PolicySpec;
  firmware?: Partial<FirmwareConfig>;
  forward?: { endpoint: string; timeoutMs?: number; fallback?: ForwardFallback };
  trapLog?: string;
  /** Someone can answer `ask` (a terminal, gdb, VS Code). Default true. */
  interactive?: boolean;
  /** Native block hook: exact pauses and instruction counts (default true). */
  countBlocks?: boolean;
  /** Stop when this many instructions have run. */
  maxInsns?: number;
  /**
   * Deliver every trap record as a 'trap' event (default true). Off, records are
   * made only when asked for (traps(n)), which is what lets a headless run take
   * over a million traps a second.
   */
  subscribe?: boolean;
  /** Single steps without Unicorn's counted run (default true; see engine.ts). */
  softStep?: boolean;
}

export type SessionState = 'stopped' | 'running' | 'exited';

export interface RunOptions {
  /** Registers to read at the stop, returned in StopEvent.registers (not for an exit). */
  registers?: string[];
}

export interface SessionEvents {
  trap: [TrapRecord];
  output: [string];
  log: [string];
  stop: [StopEvent];
}

function toMap(names: string[], values: (bigint | undefined)[]): Map<string, bigint> {
  const m = new Map<string, bigint>();
  names.forEach((n, i) => { const v = values[i]; if (v !== undefined) m.set(n, v); });
  return m;
}

/** file URL of tsx's ESM API (the worker bootstrap registers it when running from source). */
function tsxApi(from: string): string {
  const pkg = createRequire(from).resolve('tsx/package.json');
  return pathToFileURL(path.join(path.dirname(pkg), 'dist/esm/api/index.mjs')).href;
}

export const DEFAULT_RAM = { base: 0x4000_0000n, size: 128n << 20n };
export const DEFAULT_UART = 0x0900_0000n;

export class Session extends EventEmitter<SessionEvents> {
  state: SessionState = 'stopped';
  lastStop: StopEvent | undefined;
  private nextId = 1;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ctl32: Int32Array;
  private readonly ctl: BigUint64Array;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    ctl: SharedArrayBuffer,
    readonly arch: CpuArch,
    readonly entry: bigint,
    readonly symbols: ElfSymbol[],
    readonly memory: MemoryMap,
    readonly options: SessionOptions,
  ) {
    super();
    this.ctl32 = new Int32Array(ctl);
    this.ctl = new BigUint64Array(ctl);
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', () => this.failAll(new Error('the emulation worker stopped')));
  }

  /** Loads the image, starts the worker and the vCPU at the entry point. */
  static async open(opts: SessionOptions): Promise<Result<Session>> {
    const ram = opts.ram ?? [DEFAULT_RAM];
    const img = loadImage(opts.image, ram);
    if (!img.ok) return img;
    const { arch, entry, symbols, mem } = img.value;
    const ctl = new SharedArrayBuffer(CTL.SLOTS * 8);
    const here = import.meta.url;
    const fromSource = here.endsWith('.ts');
    const workerUrl = new URL(fromSource ? './worker.ts' : './worker.js', here);
    // Running from TypeScript source (tests, tsx): the worker registers tsx first.
    const worker = fromSource
      ? new Worker(`import(${JSON.stringify(tsxApi(here))})` +
          `.then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); })`, { eval: true })
      : new Worker(fileURLToPath(workerUrl));
    const s = new Session(worker, ctl, arch, entry, symbols, mem, opts);
    const cfg: EngineConfig = {
      arch, ctl, entry,
      ram: mem.regions.flatMap((r) => (r.kind === 'ram' ? [{ name: r.name, base: r.base, size: r.size, buf: r.buf }] : [])),
      uart: opts.uart === undefined ? DEFAULT_UART : opts.uart,
      platform: opts.platform,
      policy: opts.policy ?? { default: { action: 'emulate' }, rules: [] },
      firmware: opts.firmware ?? {},
      forward: opts.forward ? { endpoint: opts.forward.endpoint, timeoutMs: opts.forward.timeoutMs ?? 2000, fallback: opts.forward.fallback ?? 'error' } : undefined,
      trapLog: opts.trapLog,
      interactive: opts.interactive ?? true,
      countBlocks: opts.countBlocks ?? true,
      subscribed: opts.subscribe ?? true,
      softStep: opts.softStep,
    };
    const init = await s.call('init', cfg);
    if (!init.ok) { await s.close(); return init; }
    if (opts.maxInsns) s.ctl[CTL.DEADLINE] = BigInt(opts.maxInsns);
    return { ok: true, value: s };
  }

  // ------------------------------------------------------------------ plumbing
  private call<T = unknown>(op: string, args?: unknown): Promise<Result<T>> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'the session is closed' });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.calls.set(id, {
        resolve: (v) => resolve({ ok: true, value: v as T }),
        reject: (e) => resolve({ ok: false, error: e.message }),
      });
      this.worker.postMessage({ id, op, args } satisfies WorkerRequest);
    });
  }

  private onMessage(m: WorkerMessage) {
    if ('event' in m) {
      if (m.event === 'records') for (const r of m.batch) this.emit('trap', r);
      else if (m.event === 'output') this.emit('output', m.text);
      else this.emit('log', m.line);
      return;
    }
    const c = this.calls.get(m.id);
    if (!c) return;
    this.calls.delete(m.id);
    if (m.ok) c.resolve(m.value); else c.reject(new Error(m.error));
  }

  private failAll(e: Error) {
    this.closed = true;
    for (const c of this.calls.values()) c.reject(e);
    this.calls.clear();
  }

  // ------------------------------------------------------------------ run control
  private async runOnce(step: boolean, opts: RunOptions): Promise<Result<StopEvent>> {
    if (this.state === 'running') return { ok: false, error: 'the guest is already running (pause it first)' };
    if (this.state === 'exited') return { ok: false, error: `the guest has ended: ${this.lastStop?.message ?? 'exited'}` };
    this.state = 'running';
    const r = await this.call<{ ev: StopEvent; values?: (bigint | undefined)[] }>('run', { step, regs: opts.registers });
    if (!r.ok) { this.state = 'stopped'; return r; }
    const { ev, values } = r.value;
    if (values) ev.registers = toMap(opts.registers!, values);
    this.lastStop = ev;
    this.state = ev.reason === 'exit' || ev.final ? 'exited' : 'stopped';
    this.emit('stop', ev);
    return { ok: true, value: ev };
  }

  /** Runs until the next stop (trap waiting for a decision, breakpoint, pause, end...). */
  cont(opts: RunOptions = {}): Promise<Result<StopEvent>> { return this.runOnce(false, opts); }
  /** Executes one instruction (a trap on it is taken and decided as when running). */
  step(opts: RunOptions = {}): Promise<Result<StopEvent>> { return this.runOnce(true, opts); }
  /** Asks a running guest to stop at the next block boundary (resumable). */
  pause(): void {
    if (this.state !== 'running') return;
    if (this.options.countBlocks === false) unicorn().td_hard_stop(Number(this.ctl[CTL.SLOT]));
    else Atomics.store(this.ctl32, 0, 1);
  }
  get insns(): number { return Number(this.ctl[CTL.INSNS]); }
  /** SMC/HVC exceptions taken so far (every trap, recorded or not). */
  get trapCount(): number { return Number(this.ctl[CTL.NTRAPS]); }
  /** The instruction deadline (0: none); a front-end may move it, e.g. to bound a step. */
  get maxInsns(): number { return Number(this.ctl[CTL.DEADLINE]); }
  set maxInsns(n: number) { this.ctl[CTL.DEADLINE] = BigInt(n); }

  // ------------------------------------------------------------------ traps
  /** The trap waiting for a decision, if the last stop was one. */
  pendingTrap(): Promise<Result<TrapRecord | undefined>> { return this.call('pending'); }
  /** Decides the pending trap; the record comes back (and is logged) at once. */
  async decide(d: Decision): Promise<Result<TrapRecord>> {
    if (this.state !== 'stopped') return { ok: false, error: 'no trap is waiting: the guest is not stopped at one' };
    return this.call('decide', { decision: d });
  }
  traps(n = 20): Promise<Result<TrapRecord[]>> { return this.call('traps', { n }); }
  getPolicy(): Promise<Result<PolicySpec>> { return this.call('getPolicy'); }
  setPolicy(spec: PolicySpec): Promise<Result<true>> { return this.call('setPolicy', { spec }); }

  // ------------------------------------------------------------------ registers
  get registers(): RegDef[] { return registerTable(this.arch); }
  async readRegisters(names: string[] = this.registers.map((r) => r.name)): Promise<Result<Map<string, bigint>>> {
    const r = await this.call<(bigint | undefined)[]>('regs', { names });
    return r.ok ? { ok: true, value: toMap(names, r.value) } : r;
  }
  async readRegister(name: string): Promise<Result<bigint>> {
    if (!findRegister(this.arch, name)) return { ok: false, error: `no register named ${name} on ${this.arch}` };
    const r = await this.call<(bigint | undefined)[]>('regs', { names: [name] });
    return r.ok ? { ok: true, value: r.value[0]! } : r;
  }
  writeRegister(name: string, value: bigint): Promise<Result<true>> {
    if (this.state === 'running') return Promise.resolve({ ok: false, error: 'pause the guest before writing registers' });
    return this.call('writeReg', { name, value });
  }

  // ------------------------------------------------------------------ memory
  /** Reads guest memory: RAM directly from shared memory, anything else via the vCPU. */
  async readMemory(addr: bigint, len: number): Promise<Result<Uint8Array>> {
    const direct = this.memory.read(addr, len);
    if (direct.ok) return direct;
    if (this.state === 'running') return direct;
    return this.call('readMem', { addr, len });
  }
  writeMemory(addr: bigint, data: Uint8Array): Promise<Result<true>> {
    if (this.state === 'running') return Promise.resolve({ ok: false, error: 'pause the guest before writing memory' });
    return this.call('writeMem', { addr, data });
  }
  /** Host-side write before the guest starts (e.g. patching a parameter block). */
  poke(addr: bigint, data: Uint8Array): Result<true> { return writeRam(this.memory, addr, data); }

  // ------------------------------------------------------------------ breakpoints
  /** `thumb`: the address holds Thumb code (AArch32); see Cpu.addBreakpoint. */
  addBreakpoint(addr: bigint, opts: { thumb?: boolean } = {}): Promise<Result<boolean>> {
    return this.call('breakpoint', { op: 'add', addr, thumb: opts.thumb });
  }
  removeBreakpoint(addr: bigint): Promise<Result<boolean>> { return this.call('breakpoint', { op: 'remove', addr }); }
  addWatchpoint(addr: bigint, len: number, kind: 'read' | 'write' | 'access'): Promise<Result<boolean>> {
    return this.call('watchpoint', { op: 'add', addr, len, kind });
  }
  removeWatchpoint(addr: bigint, len: number, kind: 'read' | 'write' | 'access'): Promise<Result<boolean>> {
    return this.call('watchpoint', { op: 'remove', addr, len, kind });
  }

  symbol(name: string): ElfSymbol | undefined { return this.symbols.find((s) => s.name === name); }
  /** Nearest symbol at or below addr, as `name+0x10`. */
  symbolize(addr: bigint): string | undefined {
    let best: ElfSymbol | undefined;
    for (const s of this.symbols) if (s.value <= addr && (!best || s.value > best.value)) best = s;
    if (!best || addr - best.value > 0x10000n) return undefined;
    return addr === best.value ? best.name : `${best.name}+${hex(addr - best.value)}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.state === 'running') this.pause();
    await this.call('close').catch(() => undefined);
    this.closed = true;
    await this.worker.terminate();
  }
}
