// Source-level debugging of the guest from the ELF's DWARF line table: line
// breakpoints in assembly (or any) sources, the source line of the current
// frame, and stepping by line. Where the line table says nothing (no -g, a raw
// binary, code outside it), stepping is by instruction.
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Client, StopEvent } from '../server/session/session.js';
import type { Result } from '../server/result.js';
import { DebugInfo, type SourceLine } from '../server/debuginfo/index.js';
import { thumbWide } from '../server/debuginfo/disasm.js';

/** Line numbers between the client's numbering and ours (1-based), as DebugSession converts them. */
export interface LineNumbers { toClient(n: number): number; fromClient(n: number): number; columnToClient(n: number): number }

/** Instructions one line step runs at most before it stops where it is (a loop on one line). */
const LINE_STEP_LIMIT = 20_000;

const hex = (a: bigint) => '0x' + a.toString(16);

export class SourceSupport {
  private info: DebugInfo | undefined;
  /** The client's path for each line table file it named (the tree it sees may not be where the program was built). */
  private readonly clientPaths = new Map<string, string>();
  /** Addresses of the line breakpoints of each client source path. */
  private readonly bySource = new Map<string, bigint[]>();
  /** How many line breakpoints use an address (two lines can move to the same code). */
  private readonly uses = new Map<bigint, number>();
  private nextId = 1;
  /** A client of our own for the temporary breakpoint of a step over a call: never one of the user's. */
  private stepClient: Client | undefined;

  constructor(private readonly client: Client, private readonly lines: LineNumbers) {}

  /** The program's debug information, read on first use. */
  debugInfo(): DebugInfo {
    if (!this.info) {
      const img = this.client.session.options.image;
      this.info = DebugInfo.load(img.path, img.load !== undefined, this.client.arch);
    }
    return this.info;
  }

  /** A DAP source for a line table file: the client's own path for it when it named one. */
  source(file: string): DebugProtocol.Source {
    let p = this.clientPaths.get(file);
    if (!p) {
      // built elsewhere: the same name next to the program, if it is there
      const near = path.join(path.dirname(path.resolve(this.client.session.options.image.path)), path.basename(file));
      p = existsSync(file) || !existsSync(near) ? file : near;
    }
    return { name: path.basename(p), path: p };
  }

  /** Source and line of a frame or a disassembled instruction at addr, when the line table knows them. */
  located(addr: bigint): { source: DebugProtocol.Source; line: number; column: number; at: SourceLine } | undefined {
    const l = this.debugInfo().lineAt(addr);
    if (!l) return undefined;
    return { source: this.source(l.file), line: this.lines.toClient(l.line), column: this.lines.columnToClient(Math.max(l.column, 1)), at: l };
  }

  // ---------------------------------------------------------------- breakpoints
  /** setBreakpoints: the source's whole set of line breakpoints, each at the first statement of its line. */
  async setBreakpoints(args: DebugProtocol.SetBreakpointsArguments): Promise<DebugProtocol.Breakpoint[]> {
    const wanted = args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }));
    const clientPath = args.source.path;
    const result: DebugProtocol.Breakpoint[] = [];
    const addrs: bigint[] = [];
    const unverified = (line: number, message: string) => result.push({ id: this.nextId++, verified: false, line, message });
    const info = this.debugInfo();
    const file = clientPath ? info.fileFor(clientPath) : undefined;
    if (clientPath && file) this.clientPaths.set(file, clientPath);
    for (const bp of wanted) {
      if (!clientPath) { unverified(bp.line, 'the source has no path: line breakpoints need a file on disk'); continue; }
      if (!file) {
        unverified(bp.line, info.lineProblem ?? `the program's line table has no ${path.basename(clientPath)} (it has ${info.files().map((f) => path.basename(f)).join(', ')})`);
        continue;
      }
      const line = this.lines.fromClient(bp.line);
      const at = info.breakpointFor(file, line);
      if (!at) { unverified(bp.line, `no code at or after line ${line} of ${path.basename(clientPath)}`); continue; }
      const thumb = info.isaAt(at.address, false) === 'thumb';
      const added = addrs.includes(at.address) || (this.bySource.get(clientPath) ?? []).includes(at.address)
        ? { ok: true as const }
        : await this.client.addBreakpoint({ addr: hex(at.address), thumb });
      if (!added.ok) { unverified(bp.line, added.error); continue; }
      if (!addrs.includes(at.address)) addrs.push(at.address);
      result.push({
        id: this.nextId++, verified: true, line: this.lines.toClient(at.line), source: this.source(file),
        instructionReference: hex(at.address),
        message: at.line !== line ? `no code on line ${line}: the breakpoint is on line ${at.line}` : undefined,
      });
    }
    // the source's old set goes, except what the new one keeps
    const old = this.bySource.get(clientPath ?? '') ?? [];
    for (const a of addrs) if (!old.includes(a)) this.uses.set(a, (this.uses.get(a) ?? 0) + 1);
    for (const a of old) {
      if (addrs.includes(a)) continue;
      const n = (this.uses.get(a) ?? 1) - 1;
      if (n > 0) { this.uses.set(a, n); continue; }
      this.uses.delete(a);
      await this.client.removeBreakpoint({ addr: hex(a) });
    }
    if (clientPath) this.bySource.set(clientPath, addrs);
    return result;
  }

  /** breakpointLocations: the lines of [line, endLine] that have code. */
  breakpointLocations(args: DebugProtocol.BreakpointLocationsArguments): DebugProtocol.BreakpointLocation[] {
    const p = args.source.path;
    const info = this.debugInfo();
    const file = p ? info.fileFor(p) : undefined;
    if (!p || !file) return [];
    this.clientPaths.set(file, p);
    const from = this.lines.fromClient(args.line), to = this.lines.fromClient(args.endLine ?? args.line);
    return [...info.linesOf(file).keys()].filter((l) => l >= from && l <= to).sort((a, b) => a - b).map((l) => ({ line: this.lines.toClient(l) }));
  }

  // ---------------------------------------------------------------- stepping
  /**
   * One step as DAP asks it: `instruction` granularity, or no line information at the
   * pc, is one instruction; else instructions until the source line changes, over
   * calls for `next` (over) and into them for `stepIn`. A stop for anything else on
   * the way (a trap, a breakpoint, the end) ends the step with that stop.
   */
  async step(kind: 'over' | 'into', granularity: DebugProtocol.SteppingGranularity | undefined): Promise<Result<StopEvent>> {
    const c = this.client;
    const info = this.debugInfo();
    const start = await this.pc();
    if (!start.ok) return start;
    const from = info.lineAt(start.value);
    if (granularity === 'instruction' || !from) return c.step();
    let last: StopEvent | undefined;
    let pc = start.value;
    for (let n = 0; n < LINE_STEP_LIMIT; n++) {
      const call = kind === 'over' ? await this.callAt(pc) : undefined;
      const r = call !== undefined ? await this.runTo(call.ret, call.thumb) : await c.step();
      if (!r.ok) return r;
      const ev = last = r.value;
      if (ev.reason !== 'step') return r;
      pc = BigInt(ev.pc);
      const now = info.lineAt(pc);
      if (!now || now.file !== from.file || now.line !== from.line) return r;
    }
    return { ok: true, value: last! };
  }

  /** stepOut: on to the return address in the link register (x30/lr) when it is readable code; else a step as stepIn. */
  async stepOut(granularity: DebugProtocol.SteppingGranularity | undefined): Promise<Result<StopEvent>> {
    if (granularity === 'instruction') return this.client.step();
    const lrName = this.client.arch === 'aarch64' ? 'x30' : 'lr';
    const r = await this.client.readRegisters({ names: [lrName] });
    const lr = r.ok && r.value[lrName] ? BigInt(r.value[lrName]) : undefined;
    if (lr === undefined || lr === 0n || !(await this.client.readMemory({ addr: hex(lr & ~1n), len: 2 })).ok) return this.step('into', granularity);
    return this.runTo(lr & ~1n, this.client.arch === 'arm' && (lr & 1n) === 1n);
  }

  private async pc(): Promise<Result<bigint>> {
    const r = await this.client.readRegisters({ names: ['pc'] });
    return r.ok ? { ok: true, value: BigInt(r.value.pc) } : r;
  }

  /** Runs to `addr` with a temporary breakpoint of our own; reaching it is a 'step' stop, anything else is that stop. */
  private async runTo(addr: bigint, thumb: boolean): Promise<Result<StopEvent>> {
    const s = this.stepClient ??= this.client.session.connect('dap-step');
    const added = await s.addBreakpoint({ addr: hex(addr), thumb });
    if (!added.ok) return added;
    const r = await this.client.cont();
    await s.removeBreakpoint({ addr: hex(addr) });
    if (!r.ok) return r;
    const ev = r.value;
    if (ev.reason === 'breakpoint' && BigInt(ev.pc) === addr && !(ev.owners ?? []).includes(this.client.name)) {
      return { ok: true, value: { ...ev, reason: 'step', owners: undefined } };
    }
    return r;
  }

  /** A call instruction (BL, BLR, BLX) at pc, with the address it returns to. */
  private async callAt(pc: bigint): Promise<{ ret: bigint; thumb: boolean } | undefined> {
    const isa = this.debugInfo().isaAt(pc, await this.cpuThumb());
    const m = await this.client.readMemory({ addr: hex(pc), len: isa === 'thumb' ? 2 : 4 });
    if (!m.ok) return undefined;
    const b = m.value;
    if (isa === 'thumb') {
      const hw = b[0] | (b[1] << 8);
      if ((hw & 0xff87) === 0x4780) return { ret: pc + 2n, thumb: true }; // BLX Rm
      if (!thumbWide(hw)) return undefined;
      const m2 = await this.client.readMemory({ addr: hex(pc + 2n), len: 2 });
      if (!m2.ok) return undefined;
      const hw2 = m2.value[0] | (m2.value[1] << 8);
      const bl = (hw & 0xf800) === 0xf000 && ((hw2 & 0xd000) === 0xd000 || (hw2 & 0xd001) === 0xc000);
      return bl ? { ret: pc + 4n, thumb: true } : undefined;
    }
    const w = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    if (isa === 'a64') {
      const call = (w & 0xfc000000) >>> 0 === 0x94000000 || (w & 0xfffffc1f) >>> 0 === 0xd63f0000; // BL, BLR
      return call ? { ret: pc + 4n, thumb: false } : undefined;
    }
    if (isa === 'a32') {
      const cond = w >>> 28;
      const call = (cond !== 0xf && (w & 0x0f000000) === 0x0b000000) // BL
        || (w & 0xfe000000) >>> 0 === 0xfa000000 // BLX imm
        || (cond !== 0xf && (w & 0x0ffffff0) === 0x012fff30); // BLX Rm
      return call ? { ret: pc + 4n, thumb: false } : undefined;
    }
    return undefined;
  }

  /** The CPU is in Thumb state (AArch32 CPSR.T). */
  async cpuThumb(): Promise<boolean> {
    if (this.client.arch !== 'arm') return false;
    const r = await this.client.readRegisters({ names: ['cpsr'] });
    return r.ok && r.value.cpsr !== undefined && (BigInt(r.value.cpsr) & 0x20n) !== 0n;
  }
}
