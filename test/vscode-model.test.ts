// The VS Code extension's logic without VS Code: the Traps list (fed by the
// adapter's real `trapdoor/trap` events here), the decision choices and return
// values, which trapdoor it runs, the debugger contribution made from the launch
// attribute table (the committed package.json must be what the table makes), and
// the packaged .vsix.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { TrapList, itemOf, revealText, selectorOf, yamlRuleOf, policyAddArguments, DECISION_ICONS, type TrapRecord } from '../vscode-extension/src/model/traps.js';
import { decisionChoices, parseReturnValues, checkReturnValue, decideArguments, returnRegister } from '../vscode-extension/src/model/decisions.js';
import { trapdoorCommand } from '../vscode-extension/src/model/command.js';
import { debuggerContribution, syncManifest } from '../vscode-extension/src/model/manifest.js';
import { ATTACH_ATTRIBUTES, LAUNCH_ATTRIBUTES, attachAttributeTypeError, attachSchema, attributeTypeError, launchSchema } from '../adapter/launch-attributes.js';
import { parseOnFlag, parsePolicyText } from '../server/policy/index.js';
import type { TrapEventBody } from '../adapter/trap-feed.js';
import { ROOT } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');
const TOUR = path.join(ROOT, 'examples/aarch64/smccc-tour.elf');

function record(seq: number, over: Partial<TrapRecord> = {}): TrapRecord {
  return {
    seq, insns: 100 * seq, cpu: 0, arch: 'aarch64', conduit: 'smc', imm: 0, pc: '0x40000014', args: ['0xc4000003', '0x1', '0x40000120', '0x0'],
    decoded: {
      kind: 'smccc', owner: 'std-secure', name: 'PSCI_CPU_ON', id: '0xc4000003', fast: true, callconv: 64, service: 'PSCI',
      args: [{ name: 'target_cpu', value: '0x1' }, { name: 'entry', value: '0x40000120' }, { name: 'context', value: '0x0' }],
      fields: {}, rule: 'smccc', summary: 'PSCI CPU_ON(target_cpu=0x1, entry=0x40000120, context=0x0)',
    },
    decision: 'emulate', by: 'policy', rule: 'psci', result: { regs: { x0: '0xfffffffffffffffe' } }, time: '2026-12-01T00:00:00.000Z',
    ...over,
  };
}

describe('Traps view model', () => {
  it('keeps the newest records by seq, newest first; a pending trap is replaced by its decided record', () => {
    const list = new TrapList(3);
    list.apply({ traps: [record(1), record(2)], skipped: 0, pending: record(3, { decision: 'pending', by: 'policy', result: {} }) });
    expect(list.items().map((i) => i.label)).toEqual(['#3 PSCI_CPU_ON', '#2 PSCI_CPU_ON', '#1 PSCI_CPU_ON']);
    expect(list.pending?.seq).toBe(3);
    const pending = list.items()[0];
    expect(pending).toMatchObject({ description: 'pending: decide', icon: DECISION_ICONS.pending, contextValue: 'trap-pending' });
    list.merge([record(3, { decision: 'return', by: 'user', client: 'dap', result: { regs: { x0: '0x0' } } })]);
    expect(list.pending).toBeUndefined();
    expect(list.items()[0]).toMatchObject({ description: 'return (user) -> x0=0x0', icon: 'reply', contextValue: 'trap' });
    // a late copy of the pending record does not undo the decision
    list.merge([record(3, { decision: 'pending' })]);
    expect(list.get(3)?.decision).toBe('return');
    // only the newest 3
    list.apply({ traps: [record(4, { decision: 'undef', result: { exception: { kind: 'undef', vector: '0x40000a00', esr: '0x2000000' } } })], skipped: 10 });
    expect(list.items().map((i) => i.seq)).toEqual([4, 3, 2]);
    expect(list.items()[0]).toMatchObject({ icon: 'error', description: 'undef (rule psci) -> undef -> 0x40000a00 ESR=0x2000000' });
    expect(list.skipped).toBe(10);
    list.resumed();
    list.clear();
    expect(list.size).toBe(0);
  });

  it('every decision has an icon; the reveal text is the decoded record and its JSON', () => {
    for (const d of ['pending', 'emulate', 'forward', 'undef', 'return', 'skip'] as const) expect(DECISION_ICONS[d]).toMatch(/^[a-z-]+$/);
    const text = revealText(record(7));
    expect(text).toMatch(/^Trap #7: SMC #0x0 at 0x40000014 .*\n  call: +PSCI CPU_ON\(target_cpu=0x1/);
    expect(JSON.parse(text.slice(text.indexOf('\n{')))).toMatchObject({ seq: 7, decoded: { name: 'PSCI_CPU_ON' } });
    expect(itemOf(record(7)).tooltip).toMatch(/^PSCI CPU_ON\(.*\)\nSMC #0x0 at 0x40000014, cpu 0$/);
  });

  it('"add a rule for this call": the trapdoor/policy rule and the YAML rule both parse and match that call', () => {
    const xen = record(2, { conduit: 'hvc', imm: 0xea1, decoded: { kind: 'xen', owner: 'xen', name: 'xen_version', args: [], fields: { nr: 17 }, rule: 'xen', summary: 'XEN xen_version()' } });
    const unknown = record(3, { conduit: 'hvc', imm: 0x42, decoded: { kind: 'unknown', owner: 'unknown', name: 'UNKNOWN', args: [], fields: {}, rule: 'none', summary: 'UNKNOWN' } });
    expect([record(1), xen, unknown].map(selectorOf)).toEqual(['0xc4000003', 'xen:xen_version', 'kind:unknown,hvc,imm:0x42']);
    for (const r of [record(1), xen, unknown]) {
      const add = policyAddArguments(r, 'return(x0=0)');
      expect(add).toMatchObject({ op: 'add', position: 'first' });
      const on = parseOnFlag(add.rule, 't');
      expect(on.ok).toBe(true);
      const file = parsePolicyText(`rules:\n${yamlRuleOf(r, 'return(x0=0)')}${yamlRuleOf(r, 'undef')}`, 'p.yaml');
      expect(file.ok).toBe(true);
      if (!file.ok || !on.ok) continue;
      const input = { conduit: r.conduit, imm: r.imm, decoded: r.decoded };
      expect(file.policy.decide(input)).toMatchObject({ action: 'return', values: { x0: 0n } });
    }
    expect(yamlRuleOf(record(1), 'undef')).toBe('  - match: { id: 0xc4000003 }   # PSCI_CPU_ON\n    action: undef\n');
  });
});

describe('decision choices', () => {
  it('offers the five decisions; forward only with an endpoint', () => {
    const without = decisionChoices({ forward: false });
    expect(without.map((c) => c.label)).toEqual(['Emulate', 'Forward', 'Inject UNDEF', 'Return values…', 'Skip']);
    expect(without.find((c) => c.action === 'forward')?.disabled).toMatch(/no forward endpoint/);
    expect(decisionChoices({ forward: true }).every((c) => !c.disabled)).toBe(true);
    expect(without.filter((c) => c.needsValues).map((c) => c.action)).toEqual(['return']);
    expect(decideArguments('undef')).toEqual({ action: 'undef' });
    expect(decideArguments('return', { x0: '-2' })).toEqual({ action: 'return', values: { x0: '-2' } });
  });

  it('return values are checked with the policy\'s parsers, for the guest\'s registers', () => {
    expect(parseReturnValues('-2', 'aarch64')).toEqual({ values: { x0: '-2' } });
    expect(parseReturnValues('x0=-2, x1=0x5 w2=7', 'aarch64')).toEqual({ values: { x0: '-2', x1: '0x5', w2: '7' } });
    expect(parseReturnValues('r0=0xfffffffe', 'aarch32')).toEqual({ values: { r0: '0xfffffffe' } });
    expect(parseReturnValues('-1', 'thumb')).toEqual({ values: { r0: '-1' } });
    expect(parseReturnValues('x0=1', 'aarch32')).toEqual({ error: 'x0: an AArch32 guest returns in r0..r14' });
    expect(parseReturnValues('r0=1', 'aarch64')).toEqual({ error: 'r0: an AArch64 guest returns in x0..x17 or w0..w17' });
    expect(parseReturnValues('x18=1', 'aarch64')).toMatchObject({ error: expect.stringMatching(/'x18' is not a result register/) });
    expect(parseReturnValues('w0=0x100000000', 'aarch64')).toMatchObject({ error: expect.stringMatching(/does not fit in 32 bits/) });
    expect(parseReturnValues('x0=1 x0=2', 'aarch64')).toEqual({ error: 'x0 is given twice' });
    expect(parseReturnValues('', 'aarch64')).toMatchObject({ error: expect.stringMatching(/at least one value/) });
    expect(checkReturnValue('x0', 'abc')).toMatch(/not a number/);
    expect(checkReturnValue('x0', '0x10')).toBeUndefined();
    expect([returnRegister('aarch64', 1), returnRegister('aarch32', 2)]).toEqual(['x1', 'r2']);
  });
});

describe('which trapdoor the extension runs', () => {
  const ws = '/home/me/trapdoor/examples';
  it('the setting, then bin/trapdoor.js in or above the workspace folder, then PATH', () => {
    expect(trapdoorCommand('/opt/td/bin/trapdoor.js', [ws], () => false)).toEqual({ command: 'node', args: ['/opt/td/bin/trapdoor.js'], from: 'setting' });
    expect(trapdoorCommand('${workspaceFolder}/../bin/trapdoor.js', [ws], () => false).args).toEqual([`${ws}/../bin/trapdoor.js`]);
    expect(trapdoorCommand('/usr/local/bin/trapdoor', [ws], () => false)).toEqual({ command: '/usr/local/bin/trapdoor', args: [], from: 'setting' });
    expect(trapdoorCommand('', [ws], (f) => f === '/home/me/trapdoor/bin/trapdoor.js')).toEqual({ command: 'node', args: ['/home/me/trapdoor/bin/trapdoor.js'], from: 'workspace' });
    expect(trapdoorCommand(undefined, [ws], () => false)).toEqual({ command: 'trapdoor', args: [], from: 'PATH' });
  });
});

describe('the debugger contribution comes from the launch attribute table', () => {
  it('the committed vscode-extension/package.json is what the table makes (run make when this fails)', () => {
    const text = readFileSync(path.join(ROOT, 'vscode-extension/package.json'), 'utf8');
    expect(syncManifest(text)).toBe(text);
    const pkg = JSON.parse(text);
    expect(pkg.contributes.debuggers).toEqual([debuggerContribution()]);
    expect(pkg.main).toBe('./out/extension.cjs');
    expect(pkg.engines.vscode).toBe('^1.91.0');
  });

  it('every attribute is in the schema with its type, and the adapter checks the same types', () => {
    const schema = launchSchema();
    expect(Object.keys(schema.properties)).toEqual(Object.keys(LAUNCH_ATTRIBUTES));
    expect(schema.required).toEqual(['program']);
    expect(schema.properties.stopOnEntry).toMatchObject({ type: 'boolean', default: false });
    expect(schema.properties.rules).toMatchObject({ type: ['array', 'string'], items: { type: 'string' } });
    expect(schema.properties.platform.enum).toEqual(['highbank', 'omap4', 'omap5']);
    expect(attributeTypeError('ram', 7)).toBe("launch: 'ram' must be a list of strings, e.g. [\"0x40000000:128M\"]");
    expect(attributeTypeError('rules', 'hvc=ask')).toBeUndefined();
    expect(attributeTypeError('stopOnEntry', 'yes')).toBe("launch: 'stopOnEntry' must be true or false");
    expect(schema.properties.noCount).toMatchObject({ type: 'boolean', default: false, description: expect.stringMatching(/--no-count/) });
    expect(attributeTypeError('noCount', 1)).toBe("launch: 'noCount' must be true or false");
    expect(attributeTypeError('entry', 0x40000000)).toBe('launch: \'entry\' must be a string, e.g. "0x40000000"');
    // the snippets and the initial configuration use only attributes of their request's table
    const c = debuggerContribution() as { configurationSnippets: { body: Record<string, unknown> }[]; initialConfigurations: Record<string, unknown>[]; configurationAttributes: Record<string, unknown> };
    for (const body of [...c.configurationSnippets.map((s) => s.body), ...c.initialConfigurations]) {
      const table = body.request === 'attach' ? ATTACH_ATTRIBUTES : LAUNCH_ATTRIBUTES;
      for (const k of Object.keys(body)) expect(['type', 'request', 'name', ...Object.keys(table)]).toContain(k);
    }
    expect(c.configurationSnippets.map((s) => s.body.request)).toContain('attach');
  });

  it('attach has its own schema: address required, the token file, the session, the role', () => {
    const schema = attachSchema();
    expect(schema.required).toEqual(['address']);
    expect(Object.keys(schema.properties)).toEqual(Object.keys(ATTACH_ATTRIBUTES));
    expect(schema.properties.role).toMatchObject({ type: 'string', enum: ['decider', 'observer'], default: 'decider' });
    expect(schema.properties.tokenFile).toMatchObject({ type: 'string', description: expect.stringMatching(/USER:TOKEN/) });
    expect((debuggerContribution() as { configurationAttributes: Record<string, unknown> }).configurationAttributes).toEqual({ launch: launchSchema(), attach: schema });
    expect(attachAttributeTypeError('address', 7000)).toBe('attach: \'address\' must be a string, e.g. "127.0.0.1:7000"');
    expect(attachAttributeTypeError('tls', 'yes')).toBe("attach: 'tls' must be true or false");
  });

  it('the examples folder has a launch.json of the trapdoor debugger', () => {
    const text = readFileSync(path.join(ROOT, 'examples/.vscode/launch.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '');
    const configs = JSON.parse(text).configurations as Record<string, unknown>[];
    expect(configs.length).toBeGreaterThan(0);
    for (const c of configs) {
      expect(c.type).toBe('trapdoor');
      const attach = c.request === 'attach';
      const table = attach ? ATTACH_ATTRIBUTES : LAUNCH_ATTRIBUTES;
      for (const k of Object.keys(c)) {
        if (['type', 'request', 'name'].includes(k)) continue;
        expect(Object.keys(table), `${c.name}: ${k}`).toContain(k);
        expect(attach ? attachAttributeTypeError(k as keyof typeof ATTACH_ATTRIBUTES, c[k]) : attributeTypeError(k as keyof typeof LAUNCH_ATTRIBUTES, c[k])).toBeUndefined();
      }
    }
    expect(configs.map((c) => c.request)).toEqual(expect.arrayContaining(['launch', 'attach']));
  });
});

/** The entries of a zip file (name -> uncompressed bytes), from its central directory. */
function readZip(buf: Buffer): Map<string, Buffer> {
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('not a zip file');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extra = buf.readUInt16LE(p + 30);
    const comment = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + size);
    out.set(name, method === 8 ? inflateRawSync(data) : Buffer.from(data));
    p += 46 + nameLen + extra + comment;
  }
  return out;
}

describe('the packaged extension', () => {
  it('make build made build/trapdoor.vsix with the trapdoor debugger and the bundled extension', () => {
    const vsix = path.join(ROOT, 'build/trapdoor.vsix');
    expect(existsSync(vsix), 'build/trapdoor.vsix (make build or make vsix makes it)').toBe(true);
    const files = readZip(readFileSync(vsix));
    expect([...files.keys()]).toEqual(expect.arrayContaining(['extension.vsixmanifest', 'extension/package.json', 'extension/out/extension.cjs', 'extension/readme.md']));
    const pkg = JSON.parse(files.get('extension/package.json')!.toString('utf8'));
    expect(pkg.contributes.debuggers[0]).toMatchObject({ type: 'trapdoor', configurationAttributes: { launch: { required: ['program'] } } });
    expect(pkg.contributes.views.debug[0].id).toBe('trapdoor.traps');
    // no sources, no node_modules: the bundle has what it needs (vscode is the editor's)
    expect([...files.keys()].filter((f) => /\.ts$|node_modules/.test(f))).toEqual([]);
    const bundle = files.get('extension/out/extension.cjs')!.toString('utf8');
    expect(bundle).toMatch(/require\("vscode"\)/);
    expect(bundle).toMatch(/trapdoor\/decide/);
    expect(bundle).toMatch(/trapdoor\/policy/);
  });
});

// ---------------------------------------------------------------- the model fed by the real adapter

const running: { dc: DebugClient; proc: ChildProcess }[] = [];
afterEach(async () => {
  for (const { dc, proc } of running.splice(0)) {
    if (proc.exitCode === null && proc.signalCode === null) {
      await dc.stop().catch(() => {});
      proc.kill();
    }
  }
});

class PipeClient extends DebugClient {
  attach(from: Readable, to: Writable) { this.connect(from, to); }
}

describe('the Traps model on the adapter\'s trapdoor/trap events', () => {
  it('shows the trap the guest waits at, and its decided record after trapdoor/decide', async () => {
    const proc = spawn(process.execPath, [BIN, 'debug-adapter'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const dc = new PipeClient(process.execPath, BIN, 'trapdoor');
    dc.defaultTimeout = 30_000;
    dc.attach(proc.stdout!, proc.stdin!);
    running.push({ dc, proc });
    const list = new TrapList();
    const events: TrapEventBody[] = [];
    dc.on('trapdoor/trap', (e: DebugProtocol.Event) => { events.push(e.body); list.apply(e.body); });

    await dc.initializeRequest({ adapterID: 'trapdoor', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true, supportsInvalidatedEvent: true });
    const launched = dc.launchRequest({ program: TOUR, policy: path.join(ROOT, 'examples/aarch64/tour-policy.yaml'), rules: ['0xc4000003=ask'] } as DebugProtocol.LaunchRequestArguments);
    await dc.waitForEvent('initialized');
    const stopped = dc.waitForEvent('stopped');
    await dc.configurationDoneRequest();
    await launched;
    expect(((await stopped) as DebugProtocol.StoppedEvent).body.text).toBe('PSCI_CPU_ON');
    // the event came before the stop: the 8 traps before it, and the one waiting
    expect(list.pending).toMatchObject({ seq: 9, decoded: { name: 'PSCI_CPU_ON', id: '0xc4000003' } });
    expect(list.items().map((i) => i.seq)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(list.items()[1]).toMatchObject({ label: '#8 SIP_CALL_0x0010', icon: 'error' });

    const decided = await dc.customRequest('trapdoor/decide', decideArguments('return', { x0: '0' }));
    list.merge([decided.body.trap]);
    expect(list.pending).toBeUndefined();
    expect(list.items()[0]).toMatchObject({ seq: 9, description: 'return (user) -> x0=0x0', icon: 'reply' });

    const exited = dc.waitForEvent('exited');
    await dc.continueRequest({ threadId: 1 });
    await exited;
    // the rest of the tour's records came as events too (the last batch at the end of the run)
    expect(list.get(10)).toMatchObject({ decoded: { name: 'PSCI_SYSTEM_OFF' } });
    expect(list.get(9)?.decision).toBe('return');
    expect(events.every((e) => Array.isArray(e.traps) && e.skipped === 0)).toBe(true);
  });
});
