// The debug adapter at the source and instruction level, as VS Code drives it
// (the real DebugClient against `trapdoor debug-adapter` over stdio): the
// disassembly view around the pc (A64 and Thumb, compared with objdump), line
// breakpoints in an example's assembly source, the frame's source line, and
// stepping by line and by instruction.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { ROOT, scratchDir } from './helpers/asm.js';
import { WAIT, startedAdapters, launchAndStop, stoppedBy, top, frame0, symbolAddress, setInstructionBreakpoints } from './helpers/dap-client.js';

const TOUR = path.join(ROOT, 'examples/aarch64/smccc-tour.elf');
const TOUR_SRC = path.join(ROOT, 'examples/aarch64/smccc-tour.S');
const THUMB = path.join(ROOT, 'examples/aarch32/legacy-thumb.elf');
const LOOP = path.join(ROOT, 'examples/aarch64/loop.elf');
const LOOP_SRC = path.join(ROOT, 'examples/aarch64/loop.S');
const { stdio } = startedAdapters();

/** objdump -d: address -> the instruction text it prints. */
function objdump(tool: string, elf: string): Map<bigint, string> {
  const out = new Map<bigint, string>();
  for (const l of execFileSync(tool, ['-d', elf], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*([0-9a-f]+):\t[0-9a-f ]+\t(.*)$/.exec(l);
    if (m) out.set(BigInt('0x' + m[1]), m[2]);
  }
  return out;
}

/**
 * An instruction's text with objdump's and Capstone's spellings made one: no
 * whitespace, no comments, `40000300 <sym>` as 0x40000300, numbers by value (#0x0 = #0).
 */
function norm(text: string, fromObjdump: boolean): string {
  let s = text.toLowerCase();
  if (fromObjdump) s = s.replace(/\b([0-9a-f]+) <[^>]*>/g, '0x$1').replace(/\s(\/\/|@|;).*$/, '');
  s = s.replace(/(?<![\w.])#?(-?)(0x[0-9a-f]+|\d+)\b/g, (_m, sign: string, n: string) => `${sign === '-' ? -BigInt(n) : BigInt(n)}`);
  return s.replace(/\s+/g, '');
}

describe('debug adapter: disassembly', () => {
  it('disassemble around pc (A64): exactly N entries, objdump\'s instructions, back from the pc, invalid where nothing is mapped', async () => {
    const { dc } = stdio();
    const { init } = await launchAndStop(dc, { program: TOUR, stopOnEntry: true });
    expect(init.body?.supportsDisassembleRequest).toBe(true);
    const pc = (await frame0(dc)).instructionPointerReference!;
    expect(BigInt(pc)).toBe(0x40000000n);
    const want = objdump('aarch64-linux-gnu-objdump', TOUR);

    const r = await dc.customRequest('disassemble', { memoryReference: pc, instructionOffset: -4, instructionCount: 16 }) as DebugProtocol.DisassembleResponse;
    const list = r.body!.instructions;
    expect(list).toHaveLength(16);
    expect(list.map((i) => BigInt(i.address))).toEqual(Array.from({ length: 16 }, (_, i) => 0x40000000n + BigInt((i - 4) * 4)));
    // below the image nothing is mapped: four invalid entries, then _start
    expect(list.slice(0, 4).every((i) => i.presentationHint === 'invalid')).toBe(true);
    expect(list[4]).toMatchObject({ address: '0x0000000040000000', symbol: '_start', instructionBytes: '58001800', line: 39 });
    expect(list[4].location?.path).toMatch(/smccc-tour\.S$/);
    for (const i of list.slice(4)) {
      expect(i.presentationHint).toBeUndefined();
      expect(norm(i.instruction, false), `at ${i.address}: ${i.instruction} vs objdump ${want.get(BigInt(i.address))}`).toBe(norm(want.get(BigInt(i.address))!, true));
    }
    expect(list[9].instruction).toBe('smc #0');

    // the literal pool after the code ($d) is data, as objdump shows it
    const pool = await dc.customRequest('disassemble', { memoryReference: '0x400002d0', instructionCount: 3 }) as DebugProtocol.DisassembleResponse;
    expect(pool.body!.instructions.map((i) => i.instruction)).toEqual(['b #0x40000118', '.word 0x84000000', '.word 0x80000000']);

    // offset in bytes, then instructions; addresses wrap at 2^64 both ways and stay unsigned
    const top = await dc.customRequest('disassemble', { memoryReference: '0xfffffffffffffff0', offset: 8, instructionOffset: 1, instructionCount: 3 }) as DebugProtocol.DisassembleResponse;
    expect(top.body!.instructions.map((i) => i.address)).toEqual(['0xfffffffffffffffc', '0x0000000000000000', '0x0000000000000004']);
    expect(top.body!.instructions.every((i) => i.presentationHint === 'invalid')).toBe(true);
    const back = await dc.customRequest('disassemble', { memoryReference: '0x4', instructionOffset: -3, instructionCount: 2 }) as DebugProtocol.DisassembleResponse;
    expect(back.body!.instructions.map((i) => i.address)).toEqual(['0xfffffffffffffff8', '0xfffffffffffffffc']);
    await expect(dc.customRequest('disassemble', { memoryReference: 'pc', instructionCount: 1 })).rejects.toThrow(/bad memoryReference "pc"/);
  });

  it('disassemble around pc (Thumb): the mapping symbols choose Thumb, back from an instruction lands on instruction starts', async () => {
    const { dc } = stdio();
    await launchAndStop(dc, { program: THUMB, stopOnEntry: true });
    const want = objdump('arm-linux-gnueabihf-objdump', THUMB);
    // the entry is ARM code
    const arm = await dc.customRequest('disassemble', { memoryReference: (await frame0(dc)).instructionPointerReference, instructionCount: 2 }) as DebugProtocol.DisassembleResponse;
    expect(arm.body!.instructions.map((i) => i.instructionBytes)).toEqual(['e59fd1a4', 'f102001b']);
    // thumb_psci_version: 16- and 32-bit Thumb instructions, then the literal pool
    const r = await dc.customRequest('disassemble', { memoryReference: '0x40000262', instructionOffset: -3, instructionCount: 8 }) as DebugProtocol.DisassembleResponse;
    const list = r.body!.instructions;
    expect(list.map((i) => i.address)).toEqual(['0x40000258', '0x4000025a', '0x4000025e', '0x40000262', '0x40000264', '0x40000268', '0x4000026a', '0x4000026c']);
    expect(list[0].symbol).toBe('thumb_psci_version');
    expect(list[1]).toMatchObject({ instruction: 'mov.w r0, #0x84000000', instructionBytes: 'f04f 4004' });
    expect(list[2].instruction).toBe('smc #0');
    for (const i of list) {
      expect(norm(i.instruction, false), `at ${i.address}: ${i.instruction}`).toBe(norm(want.get(BigInt(i.address))!, true));
    }
    expect(list.slice(6).map((i) => i.instruction)).toEqual(['.short 0x0000', '.word 0x400003a4']);
  });
});

describe('debug adapter: source lines', () => {
  it('line breakpoint in an example\'s assembly source: verified at its line, the stop shows the source line, next and stepIn move by line', async () => {
    const { dc } = stdio();
    const { init, source: set, stop } = await launchAndStop(dc, { program: TOUR }, {
      source: {
        source: { path: TOUR_SRC },
        // 42: bl puts; 49 is blank (the next code is on 51); 900 is past the end
        breakpoints: [{ line: 42 }, { line: 49 }, { line: 900 }],
      },
    });
    expect(init.body?.supportsBreakpointLocationsRequest).toBe(true);
    const bps = set!.body.breakpoints;
    expect(bps[0]).toMatchObject({ verified: true, line: 42 });
    expect(bps[0].source?.path).toBe(TOUR_SRC);
    expect(bps[1]).toMatchObject({ verified: true, line: 51 });
    expect(bps[1].message).toMatch(/no code on line 49: the breakpoint is on line 51/);
    expect(bps[2].verified).toBe(false);
    expect(bps[2].message).toMatch(/no code at or after line 900/);

    expect(stop.body.reason).toBe('breakpoint');
    let f = await frame0(dc);
    expect(f).toMatchObject({ name: '_start+0xc', line: 42 });
    expect(f.source?.path).toBe(TOUR_SRC);

    // next steps over the call to puts (its output arrives), to the next line with code
    const hello = dc.assertOutput('stdout', 'smccc-tour', WAIT);
    expect((await stoppedBy(dc, () => dc.nextRequest({ threadId: 1 }))).reason).toBe('step');
    await hello;
    f = await frame0(dc);
    expect(f).toMatchObject({ name: '_start+0x10', line: 45 });
    expect(f.source?.path).toBe(TOUR_SRC);
    // two lines on (the SMC is answered by the firmware on the way), to `bl print_result`
    await stoppedBy(dc, () => dc.nextRequest({ threadId: 1 }));
    await stoppedBy(dc, () => dc.nextRequest({ threadId: 1 }));
    expect((await frame0(dc)).line).toBe(47);
    await stoppedBy(dc, () => dc.nextRequest({ threadId: 1 }));
    expect(await frame0(dc)).toMatchObject({ name: '_start+0x1c', line: 48 });
    // stepIn goes into print_result, to its first line
    await stoppedBy(dc, () => dc.stepInRequest({ threadId: 1 }));
    expect(await frame0(dc)).toMatchObject({ name: 'print_result', line: 155 });
    // the link-register frame has the line of the call (bl print_result, 48), not of the return address
    const caller = (await top(dc))[1];
    expect(caller).toMatchObject({ name: '_start+0x20 (x30)', line: 48, instructionPointerReference: '0x40000020' });
    expect(caller.source?.path).toBe(TOUR_SRC);
    // one instruction at instruction granularity
    await stoppedBy(dc, () => dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
    expect(await frame0(dc)).toMatchObject({ name: 'print_result+0x4', line: 156 });
    // stepOut runs to the return address
    await stoppedBy(dc, () => dc.stepOutRequest({ threadId: 1 }));
    expect(await frame0(dc)).toMatchObject({ name: '_start+0x20', line: 51 });

    // the moved breakpoint: remove 42, keep 51; continue stops at the next one only
    const again = await dc.setBreakpointsRequest({ source: { path: TOUR_SRC }, breakpoints: [{ line: 52 }] });
    expect(again.body.breakpoints[0]).toMatchObject({ verified: true, line: 52 });
    const s = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(s.reason).toBe('breakpoint');
    expect(await frame0(dc)).toMatchObject({ name: '_start+0x24', line: 52 });

    // where the lines are
    const locs = await dc.customRequest('breakpointLocations', { source: { path: TOUR_SRC }, line: 43, endLine: 47 });
    expect(locs.body.breakpoints).toEqual([{ line: 45 }, { line: 46 }, { line: 47 }]);
    // a source the program has no lines of
    const other = await dc.setBreakpointsRequest({ source: { path: path.join(ROOT, 'examples/aarch64/loop.S') }, breakpoints: [{ line: 10 }] });
    expect(other.body.breakpoints[0].verified).toBe(false);
    expect(other.body.breakpoints[0].message).toMatch(/line table has no loop\.S \(it has smccc-tour\.S\)/);
  });

  it('a line breakpoint and an instruction breakpoint at one address: both hit, removing either keeps the other; a line breakpoint set while the guest runs stops it', async () => {
    const { dc } = stdio();
    // loop.S line 15 is `1: subs x1, x1, #1`, the loop's first instruction (_start+8)
    const addr = '0x' + (BigInt(symbolAddress(LOOP, '_start')) + 8n).toString(16);
    const line15 = { source: { path: LOOP_SRC }, breakpoints: [{ line: 15 }] };
    const { source, instructions, stop } = await launchAndStop(dc, { program: LOOP, stopOnEntry: true }, {
      source: line15, instructions: [{ instructionReference: addr }],
    });
    expect(stop.body.reason).toBe('entry');
    const line = source!.body.breakpoints[0];
    const insn = instructions!.body.breakpoints[0];
    expect(line).toMatchObject({ verified: true, line: 15, instructionReference: addr });
    expect(insn).toMatchObject({ verified: true, instructionReference: addr });
    expect(line.id).not.toBe(insn.id);
    // the loop runs 2^62 times instead of 10^8: it spins until stopped, however slow the machine
    const iterations = symbolAddress(LOOP, 'iterations');
    const quad = Buffer.alloc(8);
    quad.writeBigUInt64LE(1n << 62n);
    await dc.customRequest('writeMemory', { memoryReference: iterations, data: quad.toString('base64') });

    const both = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(both.reason).toBe('instruction breakpoint');
    expect([...both.hitBreakpointIds!].sort()).toEqual([line.id, insn.id].sort());
    expect(await frame0(dc)).toMatchObject({ name: '_start+0x8', line: 15, instructionPointerReference: addr });

    // the instruction breakpoint goes: the line breakpoint still stops the guest there
    await setInstructionBreakpoints(dc, []);
    const byLine = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(byLine).toMatchObject({ reason: 'breakpoint', hitBreakpointIds: [line.id] });
    expect((await frame0(dc)).instructionPointerReference).toBe(addr);

    // and the other way round: the line breakpoint goes, the instruction breakpoint stays
    const again = (await setInstructionBreakpoints(dc, [{ instructionReference: addr }])).body.breakpoints[0];
    expect((await dc.setBreakpointsRequest({ source: { path: LOOP_SRC }, breakpoints: [] })).body.breakpoints).toEqual([]);
    const byInsn = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(byInsn).toMatchObject({ reason: 'instruction breakpoint', hitBreakpointIds: [again.id] });

    // none left: the guest spins; a line breakpoint set now pauses it quietly, goes in, and stops it there
    await setInstructionBreakpoints(dc, []);
    await dc.continueRequest({ threadId: 1 });
    const stopped = stoppedBy(dc, async () => {
      const set = await dc.setBreakpointsRequest({ source: { path: LOOP_SRC }, breakpoints: [{ line: 16 }] });
      expect(set.body.breakpoints[0]).toMatchObject({ verified: true, line: 16 });
    });
    expect((await stopped).reason).toBe('breakpoint');
    expect(await frame0(dc)).toMatchObject({ name: '_start+0xc', line: 16 });
  });

  it('without line information a next is one instruction and the frame has no source', async () => {
    const elf = path.join(scratchDir(), `loop-nodebug-${process.pid}.elf`);
    execFileSync('aarch64-linux-gnu-objcopy', ['--strip-debug', path.join(ROOT, 'examples/aarch64/loop.elf'), elf]);
    const { dc } = stdio();
    const { source: set } = await launchAndStop(dc, { program: elf, stopOnEntry: true }, { source: { source: { path: path.join(ROOT, 'examples/aarch64/loop.S') }, breakpoints: [{ line: 20 }] } });
    expect(set!.body.breakpoints[0].verified).toBe(false);
    expect(set!.body.breakpoints[0].message).toMatch(/no line information .*-g/);
    const f = await frame0(dc);
    expect(f.source).toBeUndefined();
    expect(f.name).toBe('_start');
    await stoppedBy(dc, () => dc.nextRequest({ threadId: 1 }));
    expect(BigInt((await frame0(dc)).instructionPointerReference!)).toBe(BigInt(f.instructionPointerReference!) + 4n);
  });
});
