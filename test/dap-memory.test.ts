// The debug adapter's memory, breakpoints, stepping and run control as a DAP
// client sees them: the real adapter process and the real DebugClient, over
// stdio and over --server.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { assemble, ROOT } from './helpers/asm.js';
import { startedAdapters, launchAndStop, variables, stoppedBy, top, symbolAddress, setInstructionBreakpoints } from './helpers/dap-client.js';

const TOUR = path.join(ROOT, 'examples/aarch64/smccc-tour.elf');
const LOOP = path.join(ROOT, 'examples/aarch64/loop.elf');
const at = (sym: string, offset = 0) => '0x' + (BigInt(symbolAddress(TOUR, sym)) + BigInt(offset)).toString(16);

const { stdio, server } = startedAdapters();

const le64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b.toString('base64'); };
const fromLe64 = (b64: string) => Buffer.from(b64, 'base64').readBigUInt64LE();
/** Everything the guest printed so far. */
function guestOutput(dc: DebugClient) {
  let text = '';
  dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stdout') text += e.body.output; });
  return () => text;
}

describe('debug adapter: memory', () => {
  it('writeMemory changes what the guest loads; readMemory stops at unmapped bytes; a spinning guest pauses and the adapter disconnects cleanly', async () => {
    const { dc, proc } = stdio();
    const { init, stop } = await launchAndStop(dc, { program: LOOP, stopOnEntry: true });
    expect(init.body).toMatchObject({ supportsReadMemoryRequest: true, supportsWriteMemoryRequest: true, supportsRestartRequest: true });
    expect(stop.body.reason).toBe('entry');
    const iterations = symbolAddress(LOOP, 'iterations');

    const read = await dc.customRequest('readMemory', { memoryReference: iterations, count: 8 });
    expect(read.body).toMatchObject({ address: iterations });
    expect(fromLe64(read.body.data)).toBe(100_000_000n);
    expect(read.body.unreadableBytes).toBeUndefined();

    // the loop would end in under a second; with 2^62 iterations it spins until paused
    const memory = dc.waitForEvent('memory');
    const invalidated = dc.waitForEvent('invalidated');
    const wrote = await dc.customRequest('writeMemory', { memoryReference: iterations, data: le64(1n << 62n) });
    expect(wrote.body.bytesWritten).toBe(8);
    expect((await memory).body).toEqual({ memoryReference: iterations, offset: 0, count: 8 });
    expect((await invalidated).body.areas).toEqual(['variables', 'stacks']);
    const back = await dc.customRequest('readMemory', { memoryReference: '0x' + (BigInt(iterations) - 8n).toString(16), offset: 8, count: 8 });
    expect(fromLe64(back.body.data)).toBe(1n << 62n);

    // nothing at 0x1000; RAM (128 MiB at 0x40000000) ends inside the second read
    const hole = await dc.customRequest('readMemory', { memoryReference: '0x1000', count: 16 });
    expect(hole.body).toMatchObject({ address: '0x1000', data: '', unreadableBytes: 16 });
    const edge = await dc.customRequest('readMemory', { memoryReference: '0x47fffff8', count: 16 });
    expect(Buffer.from(edge.body.data, 'base64')).toHaveLength(8);
    expect(edge.body.unreadableBytes).toBe(8);
    await expect(dc.customRequest('readMemory', { memoryReference: '0xfffffffffffffff8', count: 16 })).rejects.toThrow(/past the top of the 64-bit address space.*do not wrap/);
    await expect(dc.customRequest('readMemory', { memoryReference: '0x10', offset: -32, count: 4 })).rejects.toThrow(/below address 0/);
    await expect(dc.customRequest('writeMemory', { memoryReference: '0x47fffffc', data: le64(0n) })).rejects.toThrow(/0x48000000 is not mapped: nothing was written \(allowPartial/);
    const partial = await dc.customRequest('writeMemory', { memoryReference: '0x47fffffc', data: le64(0n), allowPartial: true });
    expect(partial.body.bytesWritten).toBe(4);

    await dc.continueRequest({ threadId: 1 });
    await new Promise((r) => setTimeout(r, 300));
    await expect(dc.customRequest('writeMemory', { memoryReference: iterations, data: le64(1n) })).rejects.toThrow(/running \(pause it first\)/);
    // reading RAM while the guest runs is fine
    expect(fromLe64((await dc.customRequest('readMemory', { memoryReference: iterations, count: 8 })).body.data)).toBe(1n << 62n);
    const paused = await stoppedBy(dc, () => dc.pauseRequest({ threadId: 1 }));
    expect(paused.reason).toBe('pause');
    const regs = await variables(dc, 'Registers');
    // the guest counts down from what we wrote
    expect(BigInt(regs.x1.value)).toBeGreaterThan(1n << 61n);
    expect(regs.x1.memoryReference).toBe(regs.x1.value);
    expect((await top(dc))[0].name).toMatch(/^_start\+0x(8|c)$/);
    const fp = await variables(dc, 'SIMD/FP');
    expect(fp.v0.value).toBe('0x0');
    expect(fp.fpcr.value).toMatch(/^0x/);

    const gone = new Promise<number | null>((resolve) => proc.on('exit', resolve));
    await dc.disconnectRequest({});
    expect(await gone).toBe(0);
  });

  it('a decision that writes guest memory sends a memory event for it', async () => {
    // XENVER_get_features: the firmware writes the feature bits (0) at x1 + 4
    const elf = assemble('aarch64', `.global _start\n_start:\n  ldr x1, =buf\n  mov x0, #6\n  mov x16, #17\n  hvc #0xea1\n  ldr w2, [x1, #4]\n1:\n  b 1b\n.balign 8\nbuf:\n  .quad 0xffffffffffffffff\n`, 'dap-xen-features');
    const { dc } = stdio();
    const { stop } = await launchAndStop(dc, { program: elf }, { exceptions: { filters: ['xen'] } });
    expect(stop.body.text).toBe('xen_version');
    const buf = BigInt((await variables(dc, 'Registers')).x1.value);
    const memory = dc.waitForEvent('memory');
    await dc.customRequest('trapdoor/decide', { action: 'emulate' });
    expect((await memory).body).toEqual({ memoryReference: '0x' + (buf + 4n).toString(16), offset: 0, count: 4 });
    const now = await dc.customRequest('readMemory', { memoryReference: '0x' + buf.toString(16), count: 8 });
    expect(Buffer.from(now.body.data, 'base64').toString('hex')).toBe('ffffffff00000000');
  });
});

describe('debug adapter: breakpoints and stepping', () => {
  it('instruction breakpoint, the link-register frame, stepOut to the caller, next over a call (over --server)', async () => {
    const { dc } = await server();
    const printed = guestOutput(dc);
    const { instructions, stop } = await launchAndStop(dc, { program: TOUR }, {
      instructions: [{ instructionReference: at('print_result') }, { instructionReference: '0x1000' }, { instructionReference: at('_start'), offset: 0x1c }],
    });
    const [bp, unmapped, call] = instructions!.body.breakpoints;
    expect(bp).toMatchObject({ verified: true, instructionReference: at('print_result') });
    expect(unmapped).toMatchObject({ verified: false, message: '0x1000 is not in guest memory' });
    expect(call).toMatchObject({ verified: true, instructionReference: at('_start', 0x1c) });
    // _start+0x1c is `bl print_result`, after PSCI_VERSION
    expect(stop.body).toMatchObject({ reason: 'instruction breakpoint', hitBreakpointIds: [call.id] });
    expect((await top(dc))[0].name).toBe('_start+0x1c');

    const inside = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(inside).toMatchObject({ reason: 'instruction breakpoint', hitBreakpointIds: [bp.id] });
    const frames = await dc.stackTraceRequest({ threadId: 1 });
    expect(frames.body.totalFrames).toBe(2);
    expect(frames.body.stackFrames.map((f) => [f.name, f.instructionPointerReference])).toEqual([
      ['print_result', at('print_result')],
      ['_start+0x20 (x30)', at('_start', 0x20)],
    ]);
    expect(printed()).not.toMatch(/PSCI_VERSION ->/);

    const out = await stoppedBy(dc, () => dc.stepOutRequest({ threadId: 1, granularity: 'instruction' }));
    expect(out.reason).toBe('step');
    expect((await top(dc))[0]).toMatchObject({ name: '_start+0x20', instructionPointerReference: at('_start', 0x20) });
    expect(printed()).toMatch(/PSCI_VERSION -> 0x10001\n/);

    // next at the instruction level: ldr, smc, adr, then `bl print_result` at +0x2c, where the breakpoint inside comes first
    for (const pc of [0x24, 0x28, 0x2c]) {
      expect((await stoppedBy(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }))).reason).toBe('step');
      expect((await top(dc))[0].name).toBe(`_start+0x${pc.toString(16)}`);
    }
    expect((await stoppedBy(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }))).reason).toBe('instruction breakpoint');
    expect((await top(dc))[0].name).toBe('print_result');
    // without the breakpoint, next runs the whole call
    await setInstructionBreakpoints(dc, []);
    await stoppedBy(dc, () => dc.stepOutRequest({ threadId: 1 }));
    expect((await top(dc))[0].name).toBe('_start+0x30');
    for (let i = 0; i < 4; i++) await stoppedBy(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    expect((await top(dc))[0].name).toBe('_start+0x40'); // bl print_result for ARCH_FEATURES
    const over = await stoppedBy(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    expect(over.reason).toBe('step');
    expect((await top(dc))[0].name).toBe('_start+0x44');
    expect(printed()).toMatch(/SMCCC_ARCH_FEATURES\(ARCH_WORKAROUND_1\) \[hvc\] -> 0x/);
  });

  it('function breakpoints on ELF symbols, symbol+offset, and an unknown name with a suggestion', async () => {
    const { dc } = stdio();
    const { functions, stop } = await launchAndStop(dc, { program: TOUR }, { functions: ['puthex', 'puthexx', 'print_result+0x8'] });
    const [puthex, unknown, offset] = functions!.body.breakpoints;
    expect(puthex).toMatchObject({ verified: true, instructionReference: at('puthex') });
    expect(unknown).toMatchObject({ verified: false, message: 'no symbol named puthexx (did you mean puthex)' });
    expect(offset).toMatchObject({ verified: true, instructionReference: at('print_result', 8) });
    expect(stop.body).toMatchObject({ reason: 'function breakpoint', hitBreakpointIds: [offset.id] });
    expect((await top(dc))[0].name).toBe('print_result+0x8');
    const next = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(next).toMatchObject({ reason: 'function breakpoint', hitBreakpointIds: [puthex.id] });
    const frames = await top(dc);
    expect(frames[0].name).toBe('puthex');
    expect(frames[1].name).toMatch(/^print_result\+0x[0-9a-f]+ \(x30\)$/);
    // the set is replaced: print_result+0x8 goes, puthex stays with its id
    const again = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'puthex' }] });
    expect(again.body.breakpoints[0].id).toBe(puthex.id);
    const third = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(third.hitBreakpointIds).toEqual([puthex.id]);
  });

  it('AArch32: a function breakpoint on a Thumb function, the lr frame, and stepOut back to ARM code', async () => {
    const elf = path.join(ROOT, 'examples/aarch32/legacy-thumb.elf');
    const { dc } = stdio();
    const { functions, stop } = await launchAndStop(dc, {
      program: elf, platform: 'highbank', policy: path.join(ROOT, 'examples/aarch32/legacy-policy.yaml'),
    }, { functions: ['thumb_psci_version'] });
    const thumbFn = BigInt(symbolAddress(elf, 'thumb_psci_version')) & ~1n; // the symbol's value has the Thumb bit
    expect(functions!.body.breakpoints[0]).toMatchObject({ verified: true, instructionReference: '0x' + thumbFn.toString(16) });
    expect(stop.body.reason).toBe('function breakpoint');
    const frames = await top(dc);
    expect(frames[0].name).toBe('thumb_psci_version');
    expect(frames[1].name).toMatch(/^_start\+0x[0-9a-f]+ \(lr\)$/);
    const back = await stoppedBy(dc, () => dc.stepOutRequest({ threadId: 1 }));
    expect(back.reason).toBe('step');
    expect((await top(dc))[0].name).toBe(frames[1].name.replace(' (lr)', ''));
    expect(BigInt((await variables(dc, 'Registers')).cpsr.value) & 0x20n).toBe(0n); // ARM state again
  });

  it('data breakpoints on a symbol and on the address a register holds stop at the access', async () => {
    const { dc } = stdio();
    await launchAndStop(dc, { program: TOUR, stopOnEntry: true });
    const info = await dc.customRequest('dataBreakpointInfo', { name: 'msg_hello' });
    expect(info.body).toMatchObject({ dataId: `${at('msg_hello')}:8`, accessTypes: expect.arrayContaining(['read', 'write', 'readWrite']) });
    const typo = await dc.customRequest('dataBreakpointInfo', { name: 'msg_helo' });
    expect(typo.body).toMatchObject({ dataId: null, description: 'no symbol named msg_helo (did you mean msg_hello)' });
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId, accessType: 'read' }] });
    expect(set.body.breakpoints[0].verified).toBe(true);
    const hit = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(hit).toMatchObject({ reason: 'data breakpoint', hitBreakpointIds: [set.body.breakpoints[0].id] });
    expect(hit.description).toMatch(new RegExp(`^read of ${at('msg_hello')} \\(msg_hello\\)`));
    expect((await top(dc))[0].name).toMatch(/^puts\+0x/);

    // the name print_result is given in x1: watch the memory x1 points at
    await dc.setDataBreakpointsRequest({ breakpoints: [] });
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'print_result' }] });
    await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    const frame = (await top(dc))[0];
    const scopes = await dc.scopesRequest({ frameId: frame.id });
    const registers = scopes.body.scopes.find((s) => s.name === 'Registers')!.variablesReference;
    const x1 = await dc.customRequest('dataBreakpointInfo', { variablesReference: registers, name: 'x1' });
    expect(x1.body).toMatchObject({ dataId: `${at('name_psci_version')}:8`, canPersist: false });
    expect(x1.body.description).toMatch(/the address in x1/);
    const notRegister = await dc.customRequest('dataBreakpointInfo', { variablesReference: registers, name: 'x99' });
    expect(notRegister.body.dataId).toBeNull();
    await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    const watch = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: x1.body.dataId, accessType: 'readWrite' }] });
    const read = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(read).toMatchObject({ reason: 'data breakpoint', hitBreakpointIds: [watch.body.breakpoints[0].id] });
    expect((await top(dc))[0].name).toMatch(/^puts\+0x/);
  });

  it('without the block hook (noCount) data breakpoints are refused with the reason', async () => {
    const { dc } = stdio();
    const capabilities = dc.waitForEvent('capabilities');
    await launchAndStop(dc, { program: TOUR, stopOnEntry: true, noCount: true });
    expect((await capabilities).body.capabilities).toEqual({ supportsDataBreakpoints: false });
    const info = await dc.customRequest('dataBreakpointInfo', { name: 'msg_hello' });
    expect(info.body.dataId).toBeNull();
    expect(info.body.description).toMatch(/^data breakpoints cannot fire: --no-count runs without the native block hook/);
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: `${at('msg_hello')}:8`, accessType: 'read' }] });
    expect(set.body.breakpoints[0]).toMatchObject({ verified: false, message: expect.stringMatching(/--no-count/) });
  });
});

describe('debug adapter: decisions and run control', () => {
  it('a step at an undecided trap applies the policy default; decide return changes what the guest prints', async () => {
    const { dc } = stdio();
    const printed = guestOutput(dc);
    await launchAndStop(dc, { program: TOUR }, { exceptions: { filters: ['owner-std-secure'] } });
    // PSCI_VERSION, not decided: the step emulates it (the default), as gdb's stepi does
    await stoppedBy(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    expect((await variables(dc, 'Registers')).x0.value).toBe('0x10001');
    const traps = await dc.customRequest('trapdoor/traps', { n: 1 });
    expect(traps.body.traps[0]).toMatchObject({ seq: 1, decision: 'emulate' });
    // PSCI_FEATURES(SMCCC_VERSION) is the next std-secure call: answer 0x77 and the guest prints it
    const stop = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(stop.text).toBe('PSCI_FEATURES');
    const invalidated = dc.waitForEvent('invalidated');
    await dc.evaluateRequest({ expression: 'decide return x0=0x77', context: 'repl' });
    expect((await invalidated).body.areas).toEqual(['variables', 'stacks']);
    await dc.setExceptionBreakpointsRequest({ filters: [] });
    const exited = dc.waitForEvent('exited');
    await dc.continueRequest({ threadId: 1 });
    await exited;
    expect(printed()).toMatch(/PSCI_VERSION -> 0x10001\n/);
    expect(printed()).toMatch(/PSCI_FEATURES\(SMCCC_VERSION\) -> 0x77\n/);
  });

  it('decide undef: the next stop is in the guest\'s vector, with ESR_EL1 (EC 0, unknown reason) in the system registers', async () => {
    const { dc } = stdio();
    await launchAndStop(dc, { program: TOUR }, { exceptions: { filters: [], filterOptions: [{ filterId: 'owner-sip', condition: '0x82000010' }] } });
    const vector = at('vectors', 0x200);
    await setInstructionBreakpoints(dc, [{ instructionReference: vector }]);
    const decided = await dc.customRequest('trapdoor/decide', { action: 'undef' });
    const exception = decided.body.trap.result.exception;
    // the core moved the PC into the vector: the run stops at the breakpoint there before running anything
    const stop = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(stop.reason).toBe('instruction breakpoint');
    expect((await top(dc))[0]).toMatchObject({ name: 'vectors+0x200', instructionPointerReference: vector });
    const sys = await variables(dc, 'System registers');
    expect(sys.ESR_EL1.value).toBe(exception.esr);
    expect(BigInt(exception.esr) >> 26n).toBe(0n);
    expect(sys.ELR_EL1.value).toBe(decided.body.trap.pc);
  });

  it('restart relaunches with the breakpoints and exception filters, and the trapdoor/trap feed goes on; terminate ends it', async () => {
    const { dc } = stdio();
    const fed: { traps: { seq: number; decision: string }[]; pending?: { seq: number; decoded: { name: string } } }[] = [];
    const decided = () => fed.flatMap((b) => b.traps).filter((r) => r.decision !== 'pending').map((r) => r.seq);
    dc.on('trapdoor/trap', (e: DebugProtocol.Event) => fed.push(e.body));
    const { stop, functions } = await launchAndStop(dc, { program: TOUR, stopOnEntry: true }, { functions: ['puthex'], exceptions: { filters: ['owner-std-secure'] } });
    expect(stop.body.reason).toBe('entry');
    const first = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(first.text).toBe('PSCI_VERSION');
    expect(fed.at(-1)?.pending).toMatchObject({ seq: 1, decoded: { name: 'PSCI_VERSION' } });
    expect((await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }))).reason).toBe('function breakpoint');
    expect(decided()).toEqual([1]);
    expect((await dc.customRequest('trapdoor/traps', {})).body.traps).toHaveLength(1);

    const entry = await stoppedBy(dc, () => dc.customRequest('restart', {}));
    expect(entry.reason).toBe('entry');
    expect((await top(dc))[0].name).toBe('_start');
    expect((await dc.customRequest('trapdoor/traps', {})).body.traps).toEqual([]);
    fed.length = 0;
    const again = await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }));
    expect(again).toMatchObject({ reason: 'exception', text: 'PSCI_VERSION' });
    expect(fed.at(-1)?.pending).toMatchObject({ seq: 1, decoded: { name: 'PSCI_VERSION' } });
    expect(await stoppedBy(dc, () => dc.continueRequest({ threadId: 1 }))).toMatchObject({ reason: 'function breakpoint', hitBreakpointIds: [functions!.body.breakpoints[0].id] });
    // the new run's Client feeds the events too (it subscribed again): its decided records, from #1 again
    expect(decided()).toEqual([1]);
    expect((await dc.customRequest('trapdoor/traps', {})).body.traps[0].seq).toBe(1);

    const terminated = dc.waitForEvent('terminated');
    await dc.terminateRequest({});
    await terminated;
  });

  it('trapdoor/policy lists and changes rules with versions, also while the guest runs; the console completes commands (over --server)', async () => {
    const spin = assemble('aarch64', '.global _start\n_start:\n  b _start\n', 'dap-policy-spin');
    const { dc } = await server();
    await launchAndStop(dc, { program: spin, rules: ['hvc=ask'] }, {}, false);
    await new Promise((r) => setTimeout(r, 200));
    const list = await dc.customRequest('trapdoor/policy', {});
    expect(list.body).toMatchObject({ default: 'emulate', rules: [{ action: 'ask' }] });
    const added = await dc.customRequest('trapdoor/policy', { op: 'add', rule: '0x82000010=undef', version: list.body.version });
    expect(added.body.rule).toMatchObject({ id: 'dap-1', action: 'undef' });
    expect(added.body.version).toBeGreaterThan(list.body.version);
    await expect(dc.customRequest('trapdoor/policy', { op: 'remove', id: 'dap-1', version: list.body.version })).rejects.toThrow(/trapdoor\/policy remove: .*(changed|version)/);
    await dc.customRequest('trapdoor/policy', { op: 'remove', id: 'dap-1' });
    const def = await dc.customRequest('trapdoor/policy', { op: 'default', action: 'undef' });
    expect(def.body.default).toBe('undef');
    expect((await dc.customRequest('trapdoor/policy', { op: 'list' })).body.rules.map((r: { id: string }) => r.id)).not.toContain('dap-1');
    await expect(dc.customRequest('trapdoor/policy', { op: 'add' })).rejects.toThrow(/needs \{rule/);
    // the guest ran on through all of this: the next stop is our pause
    expect((await stoppedBy(dc, () => dc.pauseRequest({ threadId: 1 }))).reason).toBe('pause');
    // restarted while it runs: the old run ends without a word, the new one runs (and the policy is the launch's again)
    const ended: string[] = [];
    for (const e of ['exited', 'terminated', 'stopped']) dc.on(e, () => ended.push(e));
    await dc.continueRequest({ threadId: 1 });
    await dc.customRequest('restart', {});
    await new Promise((r) => setTimeout(r, 300));
    expect(ended).toEqual([]);
    expect((await dc.customRequest('trapdoor/policy', {})).body.default).toBe('emulate');
    expect((await stoppedBy(dc, () => dc.pauseRequest({ threadId: 1 }))).reason).toBe('pause');

    const complete = async (text: string) => (await dc.completionsRequest({ text, column: text.length + 1 })).body.targets;
    expect(await complete('dec')).toEqual([{ label: 'decide', start: 1, length: 3, type: 'keyword' }]);
    expect((await complete('decide ')).map((t) => t.label)).toEqual(['emulate', 'forward', 'undef', 'skip', 'return']);
    expect(await complete('decide re')).toEqual([{ label: 'return', start: 8, length: 2, type: 'keyword' }]);
    expect((await complete('decide return x1')).map((t) => t.label)).toEqual(['x1=', 'x10=', 'x11=', 'x12=', 'x13=', 'x14=', 'x15=', 'x16=', 'x17=']);
    expect((await complete('policy d')).map((t) => t.label)).toEqual(['default']);
    expect((await complete('break-on owner s')).map((t) => t.label)).toEqual(['sip', 'std-secure', 'std-hyp']);
  });
});
