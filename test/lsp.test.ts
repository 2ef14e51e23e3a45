// `trapdoor lsp --stdio` as an editor drives it: a real LSP client
// (vscode-languageserver-protocol over vscode-jsonrpc) on the pipes of the real
// process, opening policy files and asking for diagnostics, hovers and completions.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import {
  createProtocolConnection, InitializeRequest, InitializedNotification, DidOpenTextDocumentNotification, DidChangeTextDocumentNotification,
  PublishDiagnosticsNotification, HoverRequest, CompletionRequest, ShutdownRequest, ExitNotification,
  type ProtocolConnection, type Diagnostic, type PublishDiagnosticsParams, type CompletionItem, type CompletionList, type MarkupContent, type TextEdit,
} from 'vscode-languageserver-protocol';
import { ROOT } from './helpers/asm.js';

const BIN = path.join(ROOT, 'bin/trapdoor.js');

let proc: ChildProcess;
let conn: ProtocolConnection;
const published = new Map<string, PublishDiagnosticsParams[]>();
const waiters: (() => void)[] = [];

beforeAll(async () => {
  proc = spawn(process.execPath, [BIN, 'lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  conn = createProtocolConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
    published.set(p.uri, [...(published.get(p.uri) ?? []), p]);
    for (const w of waiters.splice(0)) w();
  });
  conn.listen();
  const init = await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: {} });
  expect(init.capabilities.hoverProvider).toBe(true);
  expect(init.capabilities.completionProvider).toBeTruthy();
  await conn.sendNotification(InitializedNotification.type, {});
});

afterAll(async () => {
  await conn.sendRequest(ShutdownRequest.type);
  await conn.sendNotification(ExitNotification.type);
  await new Promise((r) => (proc.exitCode !== null ? r(0) : proc.once('exit', r)));
  conn.dispose();
});

/** Opens (or changes) a document and waits for the diagnostics of that version. */
async function diagnose(uri: string, text: string, version = 1): Promise<Diagnostic[]> {
  const got = () => published.get(uri)?.find((p) => p.version === version);
  if (version === 1) await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: uri.endsWith('.json') ? 'json' : 'yaml', version, text } });
  else await conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges: [{ text }] });
  while (!got()) await new Promise<void>((r) => waiters.push(r));
  return got()!.diagnostics;
}

/** The 0-based position of the first `needle` in text (plus `delta` characters). */
function at(text: string, needle: string, delta = 0) {
  const offset = text.indexOf(needle) + delta;
  if (offset < delta) throw new Error(`no ${needle}`);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length - 1, character: before[before.length - 1].length };
}

function items(r: CompletionItem[] | CompletionList | null): CompletionItem[] {
  return Array.isArray(r) ? r : (r?.items ?? []);
}

const BROKEN = `default: emulate
rules:
  - id: psci
    match: { range: [0x84000000, 0x8400001f] }
    action: emulate
  - id: cpu-on
    match: { id: 0x84000003 }
    action: undef
  - match: { id: 0xc4000000 }
    action: emulate
  - match: { idd: 0x82000001 }
    action: explode
  - match: { range: [0x84000000, 0xc400001f] }
    action: ask
  - match: { range: [0x82000000, 0x8300ffff] }
    action: skip
`;

describe('trapdoor lsp --stdio', () => {
  it('reports every problem of a policy, each at its exact range', async () => {
    const d = await diagnose('file:///ws/broken.trapdoor.yaml', BROKEN);
    const summary = d.map((x) => ({ line: x.range.start.line, from: x.range.start.character, to: x.range.end.character, severity: x.severity, code: x.code }));
    expect(summary).toEqual([
      // rule cpu-on: the psci range above already matches 0x84000003
      { line: 6, from: 11, to: 29, severity: 2, code: 'shadowed' },
      // an id that is no function
      { line: 8, from: 17, to: 27, severity: 2, code: 'bad-id' },
      // an unknown match key and an unknown action in the same rule: both
      { line: 10, from: 13, to: 16, severity: 1, code: undefined },
      { line: 11, from: 12, to: 19, severity: 1, code: undefined },
      // ranges crossing calling conventions, and SMCCC owners
      { line: 12, from: 20, to: 44, severity: 2, code: 'range-crosses-owners' },
      { line: 14, from: 20, to: 44, severity: 2, code: 'range-crosses-owners' },
    ]);
    expect(d[0].message).toMatch(/never applies: rule 'psci' \(line 3\)/);
    expect(d[0].tags).toEqual([1]);
    expect(d[1].message).toMatch(/PSCI_VERSION has no SMC64 form/);
    expect(d[2].message).toMatch(/unknown key 'idd' in `match:` \(did you mean 'id'\?\)/);
    expect(d[3].message).toMatch(/unknown action 'explode'/);
    expect(d[4].message).toMatch(/crosses calling conventions/);
    expect(d[5].message).toMatch(/crosses SMCCC owners: first 0x82000000 is SiP \(sip\) fast SMC32, last 0x8300ffff is OEM \(oem\)/);
    expect(d.every((x) => x.source === 'trapdoor')).toBe(true);
  });

  it('a syntax error is reported where it is; fixing the file clears the diagnostics', async () => {
    const uri = 'file:///ws/trapdoor-policy.json';
    const text = '{\n  "default": "emulate",\n  "rules": [\n    { "match": { "id": "0x82000010" }, "action": "undef" }}\n  ]\n}\n';
    const d = await diagnose(uri, text);
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ severity: 1, code: 'syntax', range: { start: at(text, '}}'), end: at(text, '}}', 1) } });
    expect(d[0].message).toMatch(/syntax error: this '}' closes the '\{' opened at line 4, column 5, and the '}' at line 4, column 59 closes it again/);
    const fixed = text.replace('}}', '}');
    expect(await diagnose(uri, fixed, 2)).toEqual([]);
  });

  it('a syntax error does not hide the problems before it', async () => {
    const text = 'default: emulate\nrules:\n  - match: { id: 0x82000010 }\n    action: explode\n  - match: { id: "0x8200\n';
    const d = await diagnose('file:///ws/unclosed.trapdoor.yaml', text);
    expect(d.map((x) => [x.range.start, x.code, String(x.message).slice(0, 40)])).toEqual([
      [at(text, 'explode'), undefined, "unknown action 'explode': use emulate, f"],
      [at(text, '"0x8200'), 'syntax', 'syntax error: this " starts a string tha'],
    ]);
  });

  it('the example policies have no problems', async () => {
    const { readFileSync } = await import('node:fs');
    for (const f of ['examples/aarch64/tour-policy.yaml', 'examples/aarch32/legacy-policy.yaml']) {
      expect(await diagnose(`file:///ws/${path.basename(f)}`, readFileSync(path.join(ROOT, f), 'utf8'))).toEqual([]);
    }
  });

  it('hover on an id or a call name shows the decoded call', async () => {
    const uri = 'file:///ws/hover.trapdoor.yaml';
    const text = 'rules:\n  - match: { id: 0xc4000003 }   # PSCI_CPU_ON\n    action: ask\n  - match: { xen: xen_version }\n    action: emulate\n';
    await diagnose(uri, text);
    const h = await conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: at(text, '0xc4000003', 4) });
    const value = (h!.contents as MarkupContent).value;
    expect(value).toMatch(/\*\*PSCI_CPU_ON\*\* `0xc4000003`/);
    expect(value).toMatch(/SMC64\/HVC64 fast call, owner Standard secure \(std-secure\), service PSCI, function 0x3/);
    expect(value).toMatch(/arguments: x1 target_cpu, x2 entry, x3 context/);
    expect(value).toMatch(/SMC32 form: `0x84000003`/);
    expect(h!.range).toEqual({ start: at(text, '0xc4000003'), end: at(text, '0xc4000003', 10) });
    // the name (in a comment here) shows both of its ids
    const byName = await conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: at(text, 'PSCI_CPU_ON', 3) });
    expect((byName!.contents as MarkupContent).value).toMatch(/0x84000003[\s\S]*0xc4000003/);
    const xen = await conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: at(text, 'xen_version', 2) });
    expect((xen!.contents as MarkupContent).value).toMatch(/\*\*xen_version\*\* \(Xen hypercall 17/);
    const action = await conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: at(text, 'ask', 1) });
    expect((action!.contents as MarkupContent).value).toMatch(/\*\*ask\*\*: stop and ask/);
  });

  it('completion: call names insert their ids; Xen hypercalls, owners, actions and keys', async () => {
    const uri = 'file:///ws/complete.trapdoor.yaml';
    const text = 'default: \nrules:\n  - match: { id: PSCI_CPU }\n    action: \n  - match: { xen: xen, owner: ps }\n    action: emulate\n  - match: { id: 1, }\n    action: emulate\n';
    await diagnose(uri, text);
    const complete = async (needle: string, delta: number) => items(await conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: at(text, needle, delta) }));

    const ids = await complete('PSCI_CPU', 8);
    const cpuOn = ids.filter((c) => c.label === 'PSCI_CPU_ON');
    expect(cpuOn.map((c) => (c.textEdit as TextEdit).newText)).toEqual(['0x84000003', '0xc4000003']);
    expect(cpuOn[1].detail).toBe('0xc4000003 SMC64 PSCI');
    // the edit replaces what was typed
    expect((cpuOn[1].textEdit as TextEdit).range).toEqual({ start: at(text, 'PSCI_CPU'), end: at(text, 'PSCI_CPU', 8) });

    const actions = (await complete('action: \n', 8)).map((c) => c.label);
    expect(actions).toEqual(['emulate', 'forward', 'undef', 'return', 'ask', 'skip']);
    expect((await complete('default: ', 9)).map((c) => c.label)).toContain('undef');

    const xen = await complete('xen: xen', 8);
    expect(xen.find((c) => c.label === 'xen_version')).toMatchObject({ detail: 'Xen hypercall 17' });
    const owners = (await complete('owner: ps', 9)).map((c) => c.label);
    expect(owners).toEqual(expect.arrayContaining(['sip', 'std-secure', 'vendor-hyp', 'psci', 'trng']));

    const keys = (await complete('{ id: 1, ', 9)).map((c) => c.label);
    expect(keys).toEqual(['conduit', 'imm', 'id', 'range', 'owner', 'xen', 'legacy', 'kind', 'firmware']);
  });

  it('in a JSON policy a completed id is a quoted string', async () => {
    const uri = 'file:///ws/trapdoor-policy.json';
    const text = '{ "rules": [ { "match": { "id": PSCI_VER';
    await diagnose(uri, text, 3);
    const r = items(await conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: at(text, 'PSCI_VER', 8) }));
    expect(r.filter((c) => c.label === 'PSCI_VERSION').map((c) => (c.textEdit as TextEdit).newText)).toEqual(['"0x84000000"']);
    // keys of a match, after the quote that opens one
    const keysText = '{ "rules": [ { "match": { "ra';
    await diagnose(uri, keysText, 4);
    const keys = items(await conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: at(keysText, '"ra', 3) }));
    expect(keys.find((c) => c.label === 'range')?.textEdit).toMatchObject({ newText: 'range": ' });
  });

  it('--help, and no --stdio is a usage error', () => {
    expect(spawnSync(process.execPath, [BIN, 'lsp', '--help'], { encoding: 'utf8' }).stdout).toMatch(/Usage: trapdoor lsp --stdio/);
    const r = spawnSync(process.execPath, [BIN, 'lsp'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/lsp needs --stdio/);
  });
});
