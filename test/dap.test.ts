// `trapdoor debug-adapter` as VS Code drives it: the real DebugClient (the DAP
// test client of vscode-debugadapter-node) against the real adapter process, over
// stdio and over --server.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { readFileSync, writeFileSync } from 'node:fs';
import { assemble, ROOT, scratchDir } from './helpers/asm.js';
import { expectHelpersLowered, threadsOf } from './helpers/threads.js';
import { BIN, WAIT, startedAdapters, launchAndStop, variables, nonReadingClient } from './helpers/dap-client.js';

const TOUR = path.join(ROOT, 'examples/aarch64/smccc-tour.elf');
const { stdio, server } = startedAdapters();

describe('trapdoor debug-adapter', () => {
  it('stops at a PSCI trap through the SMCCC std-secure filter, shows it, and a return decision reaches the guest', async () => {
    const { dc } = stdio();
    const { init, exceptions: set, stop } = await launchAndStop(dc, { program: TOUR }, { exceptions: { filters: ['owner-std-secure'] } });
    const filters = init.body!.exceptionBreakpointFilters!;
    expect(filters.map((f) => f.filter)).toEqual(expect.arrayContaining(['smc', 'hvc', 'xen', 'owner-sip', 'owner-std-secure', 'owner-trusted-os', 'legacy']));
    expect(filters.every((f) => f.supportsCondition && f.conditionDescription)).toBe(true);
    expect(set.body?.breakpoints?.[0].verified).toBe(true);
    expect(stop.body.reason).toBe('exception');
    expect(stop.body.text).toBe('PSCI_VERSION');
    expect((stop.body as { description?: string }).description).toMatch(/PSCI VERSION\(\)/);

    const threads = await dc.threadsRequest();
    expect(threads.body.threads).toEqual([{ id: 1, name: 'vCPU 0' }]);
    const frames = await dc.stackTraceRequest({ threadId: 1 });
    expect(frames.body.stackFrames[0].name).toMatch(/^_start\+0x/);
    const info = await dc.customRequest('exceptionInfo', { threadId: 1 });
    expect(info.body.exceptionId).toBe('PSCI_VERSION');
    expect(info.body.details.fullTypeName).toBe('smccc/std-secure/fast/SMC32');
    expect(info.body.details.message).toMatch(/^Trap #1: SMC #0x0 at 0x[0-9a-f]+ .*\n  call: +PSCI VERSION\(\)\n  kind: +smccc \(id 0x84000000, fast, SMC32\/HVC32, owner std-secure, service PSCI; decoded by smccc\)/);

    const trap = await variables(dc, 'Trap');
    expect(trap.function.value).toBe('PSCI_VERSION');
    expect(trap.id.value).toBe('0x84000000');
    expect(trap.decision.value).toMatch(/pending/);
    const raw = await dc.variablesRequest({ variablesReference: trap.registers.variablesReference });
    expect(raw.body.variables[0]).toMatchObject({ name: 'x0', value: '0x84000000' });

    const invalidated = dc.waitForEvent('invalidated');
    const decided = await dc.customRequest('trapdoor/decide', { action: 'return', values: { x0: '0x1234' } });
    await invalidated;
    expect(decided.body.text).toMatch(/Trap #1: return/);
    // the answer is in the guest's x0 at once, and after the next instruction
    expect((await variables(dc, 'Registers')).x0.value).toBe('0x1234');
    const stepped = dc.waitForEvent('stopped');
    await dc.nextRequest({ threadId: 1 });
    expect(((await stepped) as DebugProtocol.StoppedEvent).body.reason).toBe('step');
    expect((await variables(dc, 'Registers')).x0.value).toBe('0x1234');
    // the log has it, and the rest of the tour runs to SYSTEM_OFF once the filter is gone
    const traps = await dc.customRequest('trapdoor/traps', { n: 5 });
    expect(traps.body.traps[0]).toMatchObject({ seq: 1, decision: 'return', by: 'user', client: 'dap' });
    await dc.setExceptionBreakpointsRequest({ filters: [] });
    const exited = dc.waitForEvent('exited');
    const terminated = dc.waitForEvent('terminated');
    const output = dc.assertOutput('stdout', 'PSCI_VERSION', WAIT);
    await dc.continueRequest({ threadId: 1 });
    expect(((await exited) as DebugProtocol.ExitedEvent).body.exitCode).toBe(0);
    await terminated;
    await output;
  });

  it('a filter condition stops at one call only; a bad condition is answered unverified with the reason', async () => {
    const { dc } = await server();
    const { exceptions: set, stop } = await launchAndStop(dc, { program: TOUR }, {
      exceptions: { filters: [], filterOptions: [{ filterId: 'smc', condition: '0xc4000053' }, { filterId: 'hvc', condition: '0x8400zz' }] },
    });
    expect(set.body?.breakpoints?.[0].verified).toBe(true);
    expect(set.body?.breakpoints?.[1].verified).toBe(false);
    expect(set.body?.breakpoints?.[1].message).toMatch(/0x8400zz/);
    expect(stop.body.text).toBe('TRNG_RND');
    const traps = await dc.customRequest('trapdoor/traps', {});
    // the four calls before it were emulated without stopping
    expect(traps.body.traps.map((t: { decision: string }) => t.decision)).toEqual(['emulate', 'emulate', 'emulate', 'emulate']);
    expect((await variables(dc, 'Trap')).trap.value).toMatch(/^#5 at/);
  });

  it('the "calls the firmware does not implement" filter stops at those calls only', async () => {
    const { dc } = stdio();
    const { stop } = await launchAndStop(dc, { program: TOUR }, { exceptions: { filters: ['unimplemented'] } });
    // the tour's first five calls (PSCI, SMCCC, TRNG) are answered by the built-in firmware
    expect(stop.body.text).toBe('SIP_CALL_0x0001');
    expect((await variables(dc, 'Trap')).trap.value).toMatch(/^#6 at/);
    const next = dc.waitForEvent('stopped');
    await dc.continueRequest({ threadId: 1 });
    expect((await next).body.text).toBe('SIP_CALL_0x0010'); // past xen_version, which the firmware answers
  });

  it('the Xen filter with a hypercall name stops at that hypercall; the console changes the policy', async () => {
    const { dc } = stdio();
    const { stop } = await launchAndStop(dc, { program: TOUR }, { exceptions: { filters: [], filterOptions: [{ filterId: 'xen', condition: 'xen:xen_version' }] } });
    expect(stop.body.text).toBe('xen_version');
    const info = await dc.customRequest('exceptionInfo', { threadId: 1 });
    expect(info.body.details.fullTypeName).toBe('xen/xen/HVC64');
    const added = await dc.evaluateRequest({ expression: 'policy add 0x82000010=skip', context: 'repl' });
    expect(added.body.result).toMatch(/Added .*0x82000010.*skip/);
    const listed = await dc.evaluateRequest({ expression: 'policy', context: 'repl' });
    expect(listed.body.result).toMatch(/dap-exc-\d+.*xen.*ask/);
  });

  it('decide undef from the debug console: the next step is in the guest\'s vector', async () => {
    const { dc } = stdio();
    const { stop } = await launchAndStop(dc, { program: TOUR }, { exceptions: { filters: [], filterOptions: [{ filterId: 'owner-sip', condition: '0x82000010' }] } });
    expect(stop.body.text).toBe('SIP_CALL_0x0010');
    const said = await dc.evaluateRequest({ expression: 'decide undef', context: 'repl' });
    expect(said.body.result).toMatch(/Trap #\d+: undef/);
    const frames = await dc.stackTraceRequest({ threadId: 1 });
    expect(frames.body.stackFrames[0].name).toBe('vectors+0x200');
    const table = await dc.evaluateRequest({ expression: 'traps 1', context: 'repl' });
    expect(table.body.result).toMatch(/undef/);
    await expect(dc.evaluateRequest({ expression: 'decide sideways', context: 'repl' })).rejects.toThrow(/sideways/);
  });

  it('pauses a spinning guest and disconnects cleanly', async () => {
    const elf = assemble('aarch64', '.global _start\n_start:\n  b _start\n', 'dap-spin');
    const { dc, proc } = stdio();
    await launchAndStop(dc, { program: elf }, {}, false);
    await new Promise((r) => setTimeout(r, 200));
    await expect(dc.stepInRequest({ threadId: 1 })).rejects.toThrow(/running \(pause it first\)/);
    const stopped = dc.waitForEvent('stopped');
    await dc.pauseRequest({ threadId: 1 });
    expect(((await stopped) as DebugProtocol.StoppedEvent).body.reason).toBe('pause');
    // stopped already: a second pause is answered with a stop, not silence
    const again = dc.waitForEvent('stopped');
    await dc.pauseRequest({ threadId: 1 });
    expect(((await again) as DebugProtocol.StoppedEvent).body.reason).toBe('pause');
    expect((await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0].name).toBe('_start');
    const gone = new Promise<number | null>((resolve) => proc.on('exit', resolve));
    await dc.disconnectRequest({});
    expect(await gone).toBe(0);
  });

  it('an exception filter turned on while the guest runs stops it at the next matching call', async () => {
    const elf = assemble('aarch64', '.global _start\n_start:\n  ldr x0, =0x84000000\n  hvc #0\n  b _start\n', 'dap-hvc-loop');
    const { dc } = await server();
    await launchAndStop(dc, { program: elf }, {}, false);
    const stopped = dc.waitForEvent('stopped');
    const set = await dc.setExceptionBreakpointsRequest({ filters: ['hvc'] });
    expect(set.body?.breakpoints?.[0].verified).toBe(true);
    const stop = (await stopped) as DebugProtocol.StoppedEvent;
    expect(stop.body.reason).toBe('exception');
    expect(stop.body.text).toBe('PSCI_VERSION');
  });

  it('once launched, node\'s helper threads (compiler, GC, I/O pool) run behind the adapter\'s thread and the emulation thread', async () => {
    const elf = assemble('aarch64', '.global _start\n_start:\n  add x1, x19, #1\n  ldr x0, =0x84000008\n  smc #0\n', 'dap-nice');
    const { dc, proc } = stdio();
    await launchAndStop(dc, { program: elf, stopOnEntry: true });
    expectHelpersLowered(threadsOf(proc.pid!), proc.pid!, ['trapdoor-emu']);
  });

  it('stops on entry; registers can be set, the system registers read, and stepIn runs one instruction', async () => {
    const elf = assemble('aarch64', '.global _start\n_start:\n  add x1, x19, #1\n  ldr x0, =0x84000008\n  smc #0\n', 'dap-entry');
    const { dc } = stdio();
    const { stop } = await launchAndStop(dc, { program: elf, stopOnEntry: true });
    expect(stop.body.reason).toBe('entry');
    const frames = await dc.stackTraceRequest({ threadId: 1 });
    const scopes = await dc.scopesRequest({ frameId: frames.body.stackFrames[0].id });
    expect(scopes.body.scopes.map((sc) => sc.name)).toEqual(['Registers', 'SIMD/FP', 'System registers']);
    expect(scopes.body.scopes.filter((sc) => sc.presentationHint === 'registers')).toHaveLength(1);
    expect((await variables(dc, 'System registers')).VBAR_EL1.value).toMatch(/^0x/);
    const set = await dc.setVariableRequest({ variablesReference: scopes.body.scopes[0].variablesReference, name: 'x19', value: '0x41' });
    expect(set.body.value).toBe('0x41');
    await expect(dc.setVariableRequest({ variablesReference: scopes.body.scopes[0].variablesReference, name: 'x99', value: '1' })).rejects.toThrow(/x99/);
    const stepped = dc.waitForEvent('stopped');
    await dc.stepInRequest({ threadId: 1, granularity: 'instruction' });
    expect(((await stepped) as DebugProtocol.StoppedEvent).body.reason).toBe('step');
    expect((await variables(dc, 'Registers')).x1.value).toBe('0x42');
    const exited = dc.waitForEvent('exited');
    await dc.continueRequest({ threadId: 1 });
    await exited;
  });

  it('trapLog: the file starts with the header record, then one record per trap, as with trapdoor run --trap-log', async () => {
    const log = path.join(scratchDir(), `dap-traps-${process.pid}.jsonl`);
    writeFileSync(log, 'old contents\n');
    const { dc } = stdio();
    const exited = dc.waitForEvent('exited');
    await launchAndStop(dc, { program: TOUR, trapLog: log, rules: ['0x82000010=undef'] }, {}, false);
    await exited;
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ image: TOUR, options: [`trapLog=${JSON.stringify(log)}`, 'rules=["0x82000010=undef"]'] });
    expect(lines[0].trapdoor).toMatch(/\d/);
    expect(lines.slice(1).map((r) => r.seq)).toEqual(lines.slice(1).map((_, i) => i + 1));
    expect(lines.slice(1).find((r) => r.decoded.id === '0x82000010')?.decision).toBe('undef');
    expect(lines[lines.length - 1].decoded.name).toBe('PSCI_SYSTEM_OFF');
  });

  it('bad launch configurations get one clear error each', async () => {
    const badPolicy = path.join(scratchDir(), `dap-bad-policy-${process.pid}.yaml`);
    writeFileSync(badPolicy, 'default: emulate\nrules:\n  - match: {id: 0x82000010}\n    action: explode\n');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /no 'program'/],
      [{ program: TOUR, arch: 'mips' }, /bad arch "mips": use aarch64, aarch32 \(or arm\) or thumb/],
      [{ program: path.join(ROOT, 'no-such.elf') }, /does not exist/],
      [{ program: TOUR, rules: ['0x82000010=explode'] }, /bad rules "0x82000010=explode"/],
      [{ program: TOUR, policy: path.join(ROOT, 'test/fixtures-missing.yaml') }, /fixtures-missing\.yaml/],
      [{ program: TOUR, policy: badPolicy }, /dap-bad-policy-\d+\.yaml:4:\d+: .*explode/],
      [{ program: TOUR, rules: 'hvc=ask', ram: 7 }, /'ram' must be a list of strings/],
      [{ program: TOUR, trapLog: path.join(ROOT, 'no-such-folder/traps.jsonl') }, /no-such-folder does not exist/],
    ];
    const { dc } = await server();
    await dc.initializeRequest();
    for (const [args, message] of cases) {
      await expect(dc.launchRequest(args as DebugProtocol.LaunchRequestArguments)).rejects.toThrow(message);
    }
  });

  it('a bad --server port is refused with one line and exit code 2', () => {
    const r = spawnSync(process.execPath, [BIN, 'debug-adapter', '--server', 'abc'], { encoding: 'utf8', timeout: WAIT });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('trapdoor: bad --server "abc": expected a port from 0 to 65535\n');
  });
});

describe('debug adapter: a client that does not read', () => {
  it('a guest printing without end: the guest is held back and the adapter\'s memory stays bounded', async () => {
    const printer = assemble('aarch64', `.global _start\n_start:\n  ldr x1, =0x09000000\n  mov w2, #'x'\n1:\n  strb w2, [x1]\n  b 1b\n`, 'dap-printer');
    // over a socket (stdout to a pipe blocks the adapter by itself; a socket never does)
    const a = await nonReadingClient('launch', { program: printer });
    try {
      expect(a.got).toMatch(/"command":"launch","success":true/);
      a.send('configurationDone', {});
      // the guest prints a few MB/s through its UART: held back, the adapter stops growing
      const { before, after } = await a.rssAcross();
      expect(a.child.exitCode).toBeNull(); // still serving
      // before: output events piled up in the adapter's memory (~65 MB in these 8 s here, without end)
      expect(after - before).toBeLessThan(12);
      expect(after).toBeLessThan(400);
    } finally {
      a.stop();
    }
  });
});
