// The `trapdoor` debugger contribution of the extension's package.json, made from
// the adapter's launch and attach attribute tables (adapter/launch-attributes.ts) so the two
// cannot drift: `make` writes it (scripts/sync-manifest.ts) and a test fails when
// the committed package.json differs from what this makes.
import { ATTACH_ATTRIBUTES, LAUNCH_ATTRIBUTES, attachSchema, launchSchema, type AttachArgs, type LaunchArgs } from '../../../adapter/launch-attributes.js';

type Value = string | boolean | string[];
type Config =
  | ({ [K in keyof LaunchArgs]?: Value } & { type: 'trapdoor'; request: 'launch'; name: string })
  | ({ [K in keyof AttachArgs]?: Value } & { type: 'trapdoor'; request: 'attach'; name: string });

/** The configuration a new launch.json starts with. */
const INITIAL: Config[] = [
  {
    type: 'trapdoor', request: 'launch', name: 'Trapdoor: run the guest',
    program: '${workspaceFolder}/guest.elf',
    rules: ['hvc=ask'],
    stopOnEntry: false,
  },
];

/** Snippets for "Add Configuration..." (a `^"..."` value is inserted as is, VS Code's way to keep ${workspaceFolder}). */
const SNIPPETS: { label: string; description: string; body: Config }[] = [
  {
    label: 'Trapdoor: Launch a guest',
    description: 'Run an ELF guest under Trapdoor; stop at the calls the rules ask about',
    body: { type: 'trapdoor', request: 'launch', name: 'Trapdoor: ${1:guest}', program: '^"\\${workspaceFolder}/${2:guest.elf}"', rules: ['${3:hvc=ask}'], stopOnEntry: false },
  },
  {
    label: 'Trapdoor: Launch with a policy file',
    description: 'Rules from a YAML/JSON policy file; every other call asks',
    body: { type: 'trapdoor', request: 'launch', name: 'Trapdoor: ${1:guest} with policy', program: '^"\\${workspaceFolder}/${2:guest.elf}"', policy: '^"\\${workspaceFolder}/${3:guest.trapdoor.yaml}"', default: 'ask', trapLog: '^"\\${workspaceFolder}/traps.jsonl"' },
  },
  {
    label: 'Trapdoor: Launch a raw binary',
    description: 'A raw image at a load address, with its calling state',
    body: { type: 'trapdoor', request: 'launch', name: 'Trapdoor: ${1:raw image}', program: '^"\\${workspaceFolder}/${2:guest.bin}"', arch: '${3|aarch64,aarch32,thumb|}', load: '${4:0x40000000}', rules: ['smc=ask'] },
  },
  {
    label: 'Trapdoor: Forward to firmware',
    description: 'Send SiP calls to an external firmware endpoint (trapdoor firmware-stub or your own)',
    body: { type: 'trapdoor', request: 'launch', name: 'Trapdoor: ${1:guest} forwarding SiP', program: '^"\\${workspaceFolder}/${2:guest.elf}"', forward: '${3:tcp://127.0.0.1:9000}', rules: ['owner:sip=forward'] },
  },
  {
    label: 'Trapdoor: Attach to trapdoor serve',
    description: 'Join a guest served by trapdoor serve (its traps, decisions and breakpoints shared with gdb, triage and other editors)',
    body: { type: 'trapdoor', request: 'attach', name: 'Trapdoor: attach to ${1:127.0.0.1:7000}', address: '${1:127.0.0.1:7000}', tokenFile: '^"\\${workspaceFolder}/${2:tokens}"' },
  },
];

// keep the snippets honest: every key is an attribute of its request (the type says so; this says it at run time too)
for (const s of [...INITIAL, ...SNIPPETS.map((x) => x.body)]) {
  const table = s.request === 'attach' ? ATTACH_ATTRIBUTES : LAUNCH_ATTRIBUTES;
  for (const k of Object.keys(s)) if (!['type', 'request', 'name'].includes(k) && !(k in table)) throw new Error(`snippet attribute ${k} is not a ${s.request} attribute`);
}

export function debuggerContribution(): Record<string, unknown> {
  return {
    type: 'trapdoor',
    label: 'Trapdoor',
    configurationAttributes: { launch: launchSchema(), attach: attachSchema() },
    initialConfigurations: INITIAL,
    configurationSnippets: SNIPPETS,
  };
}

/** The package.json text with its `contributes.debuggers` made from the table (2-space JSON, a final newline). */
export function syncManifest(packageJsonText: string): string {
  const pkg = JSON.parse(packageJsonText) as { contributes?: Record<string, unknown> };
  pkg.contributes = { ...(pkg.contributes ?? {}), debuggers: [debuggerContribution()] };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}
