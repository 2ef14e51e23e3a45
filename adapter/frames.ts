// The stack as far as it is known without unwinding: frame 0 at the PC and
// frame 1 at the link register (x30 on AArch64, lr on AArch32), each named
// symbol+offset. LR is the return address only until the function calls another
// or reuses it, so frame 1 says where it comes from. And stepping at the
// instruction level: `next` runs a call (BL/BLR/BLX) to its return instead of
// entering it, `stepOut` runs to the return address LR held when it was asked
// (the adapter's temporary breakpoint there, breakpoints.ts). Either ends at the
// first stop of any kind: a trap, a breakpoint or a pause that comes first is
// reported as itself, and the temporary breakpoint is gone.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { StackFrame } from '@vscode/debugadapter';
import { hex } from '../server/machine/memory.js';
import type { Client } from '../server/session/session.js';
import type { Host } from './host.js';
import type { Breakpoints } from './breakpoints.js';

/** The link register's name on the guest. */
export const linkRegister = (c: Client) => (c.arch === 'aarch64' ? 'x30' : 'lr');

/** Frame 0 (pc) and frame 1 (the link register) of the stopped guest, or why not. */
export async function frames(c: Client): Promise<DebugProtocol.StackFrame[] | string> {
  const lrName = linkRegister(c);
  const r = await c.readRegisters({ names: ['pc', lrName] });
  if (!r.ok) return r.error;
  const pc = r.value.pc;
  const top = new StackFrame(0, c.symbolize(BigInt(pc)) ?? pc) as DebugProtocol.StackFrame;
  top.instructionPointerReference = pc;
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
    // an address no symbol names: shown dimmed (data, or not code of this image)
    if (!name) caller.presentationHint = 'subtle';
  }
  return [top, caller];
}

export async function stackTrace(host: Host, response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments) {
  const c = host.need(response);
  if (!c) return;
  const all = await frames(c);
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
    if (code.length < 4) return undefined;
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

/** Runs to addr with the adapter's temporary breakpoint (answered first, then the run). */
async function runTo(host: Host, points: Breakpoints, c: Client, response: DebugProtocol.Response, addr: bigint, thumb: boolean) {
  const error = await points.stepTo(c, addr, thumb);
  if (error) return host.fail(response, `cannot stop at ${hex(addr)}: ${error}`);
  host.sendResponse(response);
  void host.resume(false);
}

/** `next` at the instruction level: one instruction, a call run to its return. */
export async function next(host: Host, points: Breakpoints, response: DebugProtocol.NextResponse) {
  const c = host.stoppedClient(response);
  if (!c) return;
  const r = await c.readRegisters({ names: ['pc', 'cpsr'] });
  if (!r.ok) return host.fail(response, r.error);
  const pc = BigInt(r.value.pc);
  const thumb = c.arch === 'arm' && ((BigInt(r.value.cpsr) >> 5n) & 1n) === 1n;
  const code = await c.readMemory({ addr: hex(pc), len: 4 });
  const len = code.ok ? callLength(c.arch, thumb, code.value) : undefined;
  if (len === undefined) {
    host.sendResponse(response);
    return void host.resume(true);
  }
  await runTo(host, points, c, response, pc + BigInt(len), thumb);
}

/** `stepOut` at the instruction level: run to the address in the link register now. */
export async function stepOut(host: Host, points: Breakpoints, response: DebugProtocol.StepOutResponse) {
  const c = host.stoppedClient(response);
  if (!c) return;
  const name = linkRegister(c);
  const r = await c.readRegisters({ names: [name] });
  if (!r.ok) return host.fail(response, r.error);
  const raw = BigInt(r.value[name]);
  const thumb = c.arch === 'arm' && (raw & 1n) === 1n;
  const lr = thumb ? raw & ~1n : raw;
  if (lr === 0n) return host.fail(response, `${name} is 0: there is no return address to step out to (step, or continue)`);
  if (!c.memory.find(lr)) return host.fail(response, `${name} = ${hex(lr)} is not in guest memory: there is no return address to step out to`);
  await runTo(host, points, c, response, lr, thumb);
}
