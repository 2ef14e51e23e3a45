// Source-level debugging of the guest from the ELF's DWARF line table: line
// breakpoints in assembly (or any) sources, kept in the breakpoint book
// (breakpoints.ts) as kind 'source', one set per source file; breakpoint
// locations; and the source line of an address, for the frames (frames.ts, which
// also steps by line) and the disassembly (disassemble.ts). Where the line table
// says nothing (no -g, a raw binary, code outside it) there are no lines and
// stepping is by instruction.
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { hex } from '../server/machine/memory.js';
import { DebugInfo, type SourceLine } from '../server/debuginfo/index.js';
import type { Host, LineNumbers } from './host.js';
import type { Breakpoints } from './breakpoints.js';

/** The program whose line table this is. */
export interface Program { path: string; raw: boolean; arch: 'aarch64' | 'arm' }

export class SourceSupport {
  private info: DebugInfo | undefined;
  /** The client's path for each line table file it named (the tree it sees may not be where the program was built). */
  private readonly clientPaths = new Map<string, string>();

  /** previous: the support of the run before a restart, whose client paths still hold for the same program. */
  constructor(readonly program: Program, private readonly lines: LineNumbers, previous?: SourceSupport) {
    if (previous?.program.path === program.path) for (const [f, p] of previous.clientPaths) this.clientPaths.set(f, p);
  }

  /** The program's debug information, read on first use. */
  debugInfo(): DebugInfo {
    return (this.info ??= DebugInfo.load(this.program.path, this.program.raw, this.program.arch));
  }

  /** A DAP source for a line table file: the client's own path for it when it named one. */
  source(file: string): DebugProtocol.Source {
    let p = this.clientPaths.get(file);
    if (!p) {
      // built elsewhere: the same name next to the program, if it is there
      const near = path.join(path.dirname(path.resolve(this.program.path)), path.basename(file));
      p = existsSync(file) || !existsSync(near) ? file : near;
    }
    return { name: path.basename(p), path: p };
  }

  /** The line table's row for the instruction at addr, if it knows it. */
  lineAt(addr: bigint): SourceLine | undefined {
    return this.debugInfo().lineAt(addr);
  }

  /** Source and line (as the client numbers them) of a frame or a disassembled instruction at addr, when the line table knows them. */
  located(addr: bigint): { source: DebugProtocol.Source; line: number; column: number } | undefined {
    const l = this.lineAt(addr);
    if (!l) return undefined;
    return { source: this.source(l.file), line: this.lines.toClient(l.line), column: this.lines.columnToClient(Math.max(l.column, 1)) };
  }

  // ---------------------------------------------------------------- breakpoints
  /** setBreakpoints: the source's whole set of line breakpoints, each at the first statement of its line (or the next line with code). */
  async setBreakpoints(host: Host, points: Breakpoints, response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments) {
    const c = host.need(response);
    if (!c) return;
    const wantedLines = args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }));
    const clientPath = args.source.path;
    const info = this.debugInfo();
    const file = clientPath ? info.fileFor(clientPath) : undefined;
    if (clientPath && file) this.clientPaths.set(file, clientPath);
    const answers: DebugProtocol.Breakpoint[] = [];
    const wanted: { addr: bigint; thumb: boolean }[] = [];
    const where: number[] = [];
    for (const bp of wantedLines) {
      const unverified = (message: string) => answers.push({ verified: false, line: bp.line, message, reason: 'failed' } as DebugProtocol.Breakpoint);
      if (!clientPath) { unverified('the source has no path: line breakpoints need a file on disk'); continue; }
      if (!file) {
        unverified(info.lineProblem ?? `the program's line table has no ${path.basename(clientPath)} (it has ${info.files().map((f) => path.basename(f)).join(', ')})`);
        continue;
      }
      const line = this.lines.fromClient(bp.line);
      const at = info.breakpointFor(file, line);
      if (!at) { unverified(`no code at or after line ${line} of ${path.basename(clientPath)}`); continue; }
      where.push(answers.length);
      answers.push({
        verified: true, line: this.lines.toClient(at.line), source: this.source(file), instructionReference: hex(at.address),
        message: at.line !== line ? `no code on line ${line}: the breakpoint is on line ${at.line}` : undefined,
      });
      wanted.push({ addr: at.address, thumb: info.isaAt(at.address, false) === 'thumb' });
    }
    // the book replaces this source's old set; other sources' and other kinds' points stay
    const set = await host.whileStopped(c, () => points.replace(c, 'source', wanted, clientPath ?? ''));
    set.forEach((r, i) => {
      const a = answers[where[i]];
      a.id = r.id;
      if (r.error) Object.assign(a, { verified: false, message: r.error, reason: 'failed' });
    });
    response.body = { breakpoints: answers };
    host.sendResponse(response);
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
}
