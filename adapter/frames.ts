// The stack as far as it is known without unwinding: frame 0 at the PC and
// frame 1 at the link register (x30 on AArch64, lr on AArch32), each named
// symbol+offset, with its source line where the line table knows it (source.ts).
// LR is the return address only until the function calls another or reuses it,
// so frame 1 says where it comes from.
//
// And stepping, the one implementation of next, stepIn and stepOut: by source
// line where the line table knows the pc, else (or with granularity
// 'instruction') by instruction. `next` runs a call (BL/BLR/BLX) to its return
// instead of entering it, `stepOut` runs to the return address LR held when it
// was asked; both with the adapter's temporary `step` point in the breakpoint
// book (breakpoints.ts), so a user's breakpoint at the same address stays and
// is reported as itself. A step ends at the first stop of any kind: a trap, a
// breakpoint or a pause that comes first is reported as itself, and the
// temporary point is gone.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { StackFrame } from '@vscode/debugadapter';
import { hex } from '../server/machine/memory.js';
import type { SessionClient, StopEvent } from '../server/session/session.js';
import { fail, type Result } from '../server/result.js';
import { thumbWide } from '../server/debuginfo/disasm.js';
import type { Host } from './host.js';
import type { Breakpoints } from './breakpoints.js';
import type { SourceSupport } from './source.js';

/** Instructions one line step runs at most before it stops where it is (a loop on one line). */
const LINE_STEP_LIMIT = 20_000;

/** The link register's name on the guest. */
export const linkRegister = (c: SessionClient) => (c.arch === 'aarch64' ? 'x30' : 'lr');

/** The CPU is in Thumb state (AArch32 CPSR.T). */
export async function cpuThumb(c: SessionClient): Promise<boolean> {
  if (c.arch !== 'arm') return false;
  const r = await c.readRegisters({ names: ['cpsr'] });
  return r.ok && r.value.cpsr !== undefined && (BigInt(r.value.cpsr) & 0x20n) !== 0n;
}

/** Puts the source line of addr on a frame, when the line table knows it. */
function placeAt(frame: DebugProtocol.StackFrame, src: SourceSupport | undefined, addr: bigint) {
  const at = src?.located(addr);
  if (at) { frame.source = at.source; frame.line = at.line; frame.column = at.column; }
}

/** Frame 0 (pc) and frame 1 (the link register) of the stopped guest, or why not. */
export async function frames(c: SessionClient, src?: SourceSupport): Promise<DebugProtocol.StackFrame[] | string> {
  const lrName = linkRegister(c);
  const r = await c.readRegisters({ names: ['pc', lrName] });
  if (!r.ok) return r.error;
  const pc = r.value.pc;
  const top = new StackFrame(0, c.symbolize(BigInt(pc)) ?? pc) as DebugProtocol.StackFrame;
  top.instructionPointerReference = pc;
  placeAt(top, src, BigInt(pc));
  const raw = BigInt(r.value[lrName]);
  const lr = c.arch === 'arm' ? raw & ~1n : raw;
  let caller: DebugProtocol.StackFrame;
  if (lr === 0n) {
    caller = new StackFrame(1, `no caller (${lrName} = 0)`) as DebugProtocol.StackFrame;
    caller.presentationHint = 'label';
  } else {
    const name = c.symbolize(lr);
    caller = new StackFrame(1, `${name ?? hex(lr)} (${lrName})`) as DebugProtocol.StackFrame;
    caller.instructionPointerReference = hex(lr);
    // the line of the call, not of the instruction after it (as gdb looks up a caller's pc - 1)
    placeAt(caller, src, lr - 1n);
    // an address no symbol names: shown dimmed (data, or not code of this image)
    if (!name) caller.presentationHint = 'subtle';
  }
  return [top, caller];
}

export async function stackTrace(host: Host, src: SourceSupport | undefined, response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments) {
  const c = host.need(response);
  if (!c) return;
  const all = await frames(c, src);
  if (typeof all === 'string') return host.fail(response, all);
  const start = args.startFrame ?? 0;
  const stackFrames = all.slice(start, args.levels ? start + args.levels : undefined);
  response.body = { stackFrames, totalFrames: all.length };
  host.sendResponse(response);
}

/** The length of the call instruction at pc (BL, BLR, BLX; the PAC forms of BLR), or undefined for any other. */
export function callLength(arch: 'aarch64' | 'arm', thumb: boolean, code: Uint8Array): number | undefined {
  if (code.length < 4 && !(thumb && code.length >= 2)) return undefined;
  if (arch === 'aarch64') {
    const w = (code[0] | (code[1] << 8) | (code[2] << 16) | (code[3] << 24)) >>> 0;
    if ((w & 0xfc00_0000) >>> 0 === 0x9400_0000) return 4; // BL
    if ((w & 0xffff_fc1f) >>> 0 === 0xd63f_0000) return 4; // BLR
    if ((w & 0xfeff_f800) >>> 0 === 0xd63f_0800) return 4; // BLRAA, BLRAB, BLRAAZ, BLRABZ
    return undefined;
  }
  if (thumb) {
    const h1 = code[0] | (code[1] << 8);
    if ((h1 & 0xff87) === 0x4780) return 2; // BLX Rm
    if (!thumbWide(h1) || code.length < 4) return undefined;
    const h2 = code[2] | (code[3] << 8);
    if ((h1 & 0xf800) === 0xf000 && ((h2 & 0xd000) === 0xd000 || (h2 & 0xd001) === 0xc000)) return 4; // BL, BLX imm
    return undefined;
  }
  const w = (code[0] | (code[1] << 8) | (code[2] << 16) | (code[3] << 24)) >>> 0;
  if ((w & 0xfe00_0000) >>> 0 === 0xfa00_0000) return 4; // BLX imm
  if (w >>> 28 !== 0xf && (w & 0x0f00_0000) === 0x0b00_0000) return 4; // BL (any condition)
  if ((w & 0x0fff_fff0) === 0x012f_ff30 && w >>> 28 !== 0xf) return 4; // BLX Rm
  return undefined;
}

interface Target { addr: bigint; thumb: boolean }

/** The return address of a call instruction at pc (in the state the CPU is in), or undefined when pc holds no call. */
async function callAt(c: SessionClient, pc: bigint): Promise<Target | undefined> {
  const thumb = await cpuThumb(c);
  const code = await c.readMemory({ addr: hex(pc), len: 4 });
  const len = code.ok ? callLength(c.arch, thumb, code.value) : undefined;
  return len === undefined ? undefined : { addr: pc + BigInt(len), thumb };
}

/** Where stepOut goes: the address in the link register now, or why there is none. */
async function returnAddress(c: SessionClient): Promise<Target | string> {
  const name = linkRegister(c);
  const r = await c.readRegisters({ names: [name] });
  if (!r.ok) return r.error;
  const raw = BigInt(r.value[name]);
  const thumb = c.arch === 'arm' && (raw & 1n) === 1n;
  const lr = thumb ? raw & ~1n : raw;
  if (lr === 0n) return `${name} is 0: there is no return address to step out to (step, or continue)`;
  if (!c.memory.find(lr)) return `${name} = ${hex(lr)} is not in guest memory: there is no return address to step out to`;
  return { addr: lr, thumb };
}

async function readPc(c: SessionClient): Promise<Result<bigint>> {
  const r = await c.readRegisters({ names: ['pc'] });
  return r.ok ? { ok: true, value: BigInt(r.value.pc) } : r;
}

/** Runs on to the step point already in the book; its stop, 'step' when it is that point's alone. */
async function runToStepPoint(c: SessionClient, points: Breakpoints): Promise<Result<StopEvent>> {
  const r = await c.cont();
  // a pause leaves the point: after a quiet pause of whileStopped the run goes on to it
  return r.ok && r.value.reason !== 'pause' ? { ok: true, value: points.endStep(c, r.value) } : r;
}

/** One instruction, or (over) a call at pc run to its return. */
async function stepOnce(c: SessionClient, points: Breakpoints, over: boolean, pc: bigint): Promise<Result<StopEvent>> {
  const call = over ? await callAt(c, pc) : undefined;
  if (!call) return c.step();
  const error = await points.stepTo(c, call.addr, call.thumb);
  if (error) return fail('invalid', `cannot stop at ${hex(call.addr)}: ${error}`);
  return runToStepPoint(c, points);
}

/**
 * next ('over'), stepIn ('into') and stepOut ('out'). The first run's temporary
 * point is set before the answer, so a point that cannot be set fails the request.
 */
export async function step(
  host: Host, points: Breakpoints, src: SourceSupport | undefined, response: DebugProtocol.Response,
  how: 'over' | 'into' | 'out', granularity: DebugProtocol.SteppingGranularity | undefined,
) {
  const c = host.stoppedClient(response);
  if (!c) return;
  const start = await readPc(c);
  if (!start.ok) return host.fail(response, start.error);
  const first = how === 'out' ? await returnAddress(c) : how === 'over' ? await callAt(c, start.value) : undefined;
  if (typeof first === 'string') return host.fail(response, first);
  if (first) {
    const error = await points.stepTo(c, first.addr, first.thumb);
    if (error) return host.fail(response, `cannot stop at ${hex(first.addr)}: ${error}`);
  }
  // stepOut ends at the return address; the others go on while the source line stays the same
  const from = how === 'out' || granularity === 'instruction' ? undefined : src?.lineAt(start.value);
  host.sendResponse(response);
  void host.resume(true, async () => {
    let r = first ? await runToStepPoint(c, points) : await c.step();
    for (let n = 1; from && n < LINE_STEP_LIMIT && r.ok && r.value.reason === 'step'; n++) {
      const pc = BigInt(r.value.pc);
      const now = src!.lineAt(pc);
      if (!now || now.file !== from.file || now.line !== from.line) break;
      r = await stepOnce(c, points, how === 'over', pc);
    }
    return r;
  });
}
