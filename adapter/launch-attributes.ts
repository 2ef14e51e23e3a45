// The DAP `launch` and `attach` attributes, declared once: the adapter checks a
// request against its table (launch.ts, attach.ts), and the VS Code extension's
// package.json gets its `configurationAttributes` JSON schemas from them (vscode-extension/scripts/sync-manifest.ts,
// run by make; test/vscode-model.test.ts fails when the committed file differs).
// The fixed sets (arch, platform) are the CLI's own lists.
import { ARCH_NAMES, PLATFORM_NAMES } from '../server/cli/args.js';

export type AttributeType = 'string' | 'string[]' | 'boolean';

export interface LaunchAttribute {
  type: AttributeType;
  description: string;
  /** What an unset attribute means (shown by the editor; never written into a request). */
  default?: string | boolean | string[];
  /** Values an editor offers; the first is quoted in the adapter's messages. */
  examples: readonly (string | boolean | readonly string[])[];
  /** The only values allowed, when there is a fixed set. */
  enum?: readonly string[];
  /** The `trapdoor run` option the attribute is parsed as (the CLI's parsers check it and name it in messages). */
  option?: string;
}

export const LAUNCH_ATTRIBUTES = {
  program: {
    type: 'string',
    description: 'The guest image: an ELF file, or a raw binary with `load` and `arch`.',
    examples: ['${workspaceFolder}/aarch64/smccc-tour.elf'],
  },
  arch: {
    type: 'string',
    description: 'Calling state of a raw binary: aarch64, aarch32 (or arm), thumb (an ELF says its own).',
    examples: ['aarch64'],
    enum: ARCH_NAMES,
    option: '--arch',
  },
  ram: {
    type: 'string[]',
    description: 'Guest RAM regions BASE:SIZE (default 0x40000000:128M); ELF segments outside them get RAM of their own.',
    default: ['0x40000000:128M'],
    examples: [['0x40000000:128M']],
    option: '--ram',
  },
  load: {
    type: 'string',
    description: 'Load address of a raw binary (with `arch`).',
    examples: ['0x40000000'],
    option: '--load',
  },
  entry: {
    type: 'string',
    description: 'Entry point (default: the ELF entry, or `load` for a raw binary).',
    examples: ['0x40000000'],
    option: '--entry',
  },
  uart: {
    type: 'string',
    description: 'Base address of the PL011 UART whose output is the debug console\'s stdout, or "none".',
    default: '0x09000000',
    examples: ['0x09000000', 'none'],
    option: '--uart',
  },
  policy: {
    type: 'string',
    description: 'Policy file (YAML or JSON rules, see the README); errors name the line and column.',
    examples: ['${workspaceFolder}/aarch64/tour-policy.yaml'],
    option: '--policy',
  },
  rules: {
    type: 'string[]',
    description: 'Rules in the `--on MATCH=ACTION` language, tried before the policy file\'s.',
    examples: [['0x82000010=undef', 'hvc=ask']],
    option: '--on',
  },
  default: {
    type: 'string',
    description: 'What to do when no rule matches: emulate, forward, undef, return(x0=..), ask or skip.',
    default: 'emulate',
    examples: ['emulate', 'ask', 'undef', 'return(x0=-1)'],
    option: '--default',
  },
  platform: {
    type: 'string',
    description: 'Legacy (pre-SMCCC) platform call table.',
    examples: ['highbank'],
    enum: PLATFORM_NAMES,
    option: '--platform',
  },
  forward: {
    type: 'string',
    description: 'Firmware endpoint for the `forward` action (docs/forward-protocol.md).',
    examples: ['tcp://127.0.0.1:9000'],
    option: '--forward',
  },
  trapLog: {
    type: 'string',
    description: 'Write every trap record as a JSON line to this file (emptied first, a header record first).',
    examples: ['${workspaceFolder}/traps.jsonl'],
    option: '--trap-log',
  },
  stopOnEntry: {
    type: 'boolean',
    description: 'Stop at the entry point before the guest runs.',
    default: false,
    examples: [true],
  },
  noCount: {
    type: 'boolean',
    description: 'As `trapdoor run --no-count`: no native block hook, so tight loops run about twice as fast, but there are no data breakpoints (watchpoints) and a pause ends the run.',
    default: false,
    examples: [true],
  },
} as const satisfies Record<string, LaunchAttribute>;

export type LaunchAttributeName = keyof typeof LAUNCH_ATTRIBUTES;

/** `attach`: join a session served by `trapdoor serve` (as `trapdoor triage --connect` does). */
export const ATTACH_ATTRIBUTES = {
  address: {
    type: 'string',
    description: 'Where `trapdoor serve` listens: HOST:PORT or unix:PATH (its --listen).',
    examples: ['127.0.0.1:7000', 'unix:/run/trapdoor.sock'],
  },
  tokenFile: {
    type: 'string',
    description: "The token file (USER:TOKEN lines, as serve's --token-file): its first entry's token is sent.",
    examples: ['${workspaceFolder}/tokens'],
  },
  token: {
    type: 'string',
    description: 'The token itself (tokenFile keeps it out of launch.json).',
    examples: ['${env:TRAPDOOR_TOKEN}'],
  },
  session: {
    type: 'string',
    description: 'The served session to attach to (default: the first one served).',
    default: '1',
    examples: ['1'],
  },
  role: {
    type: 'string',
    description: 'decider (the default) decides traps and runs the guest; observer only looks.',
    default: 'decider',
    examples: ['observer'],
    enum: ['decider', 'observer'],
  },
  program: {
    type: 'string',
    description: "A local copy of the guest's ELF, for source lines and line breakpoints (default: the served image's path, when it is on this machine).",
    examples: ['${workspaceFolder}/aarch64/smccc-tour.elf'],
  },
  tls: {
    type: 'boolean',
    description: 'Connect with TLS (trusting the system CAs, or tlsCa).',
    default: false,
    examples: [true],
  },
  tlsCa: {
    type: 'string',
    description: "Trust this CA (PEM) for the service's certificate; implies tls.",
    examples: ['${workspaceFolder}/ca.pem'],
  },
  tlsCert: {
    type: 'string',
    description: 'Present this client certificate (PEM, with tlsKey) to a service started with --tls-ca.',
    examples: ['${workspaceFolder}/client.pem'],
  },
  tlsKey: {
    type: 'string',
    description: "The client certificate's key (PEM).",
    examples: ['${workspaceFolder}/client.key'],
  },
} as const satisfies Record<string, LaunchAttribute>;

export type AttachAttributeName = keyof typeof ATTACH_ATTRIBUTES;
export type AttachArgs = { [K in AttachAttributeName]?: unknown };
export const REQUIRED_ATTACH_ATTRIBUTES: readonly AttachAttributeName[] = ['address'];
export const ATTACH_ATTRIBUTE_NAMES = Object.keys(ATTACH_ATTRIBUTES) as AttachAttributeName[];

/** The launch arguments as they arrive: each attribute may be anything until checked. */
export type LaunchArgs = { [K in LaunchAttributeName]?: unknown };

/** Attributes a launch must have. */
export const REQUIRED_ATTRIBUTES: readonly LaunchAttributeName[] = ['program'];

export const ATTRIBUTE_NAMES = Object.keys(LAUNCH_ATTRIBUTES) as LaunchAttributeName[];

function attribute(name: LaunchAttributeName): LaunchAttribute {
  return LAUNCH_ATTRIBUTES[name];
}

/** Why a launch attribute's value has the wrong JSON type (with an example), or undefined. Absent and null are fine. */
export function attributeTypeError(name: LaunchAttributeName, value: unknown): string | undefined {
  return typeError('launch', name, attribute(name), value);
}

/** The same for an attach attribute. */
export function attachAttributeTypeError(name: AttachAttributeName, value: unknown): string | undefined {
  return typeError('attach', name, ATTACH_ATTRIBUTES[name], value);
}

function typeError(request: 'launch' | 'attach', name: string, a: LaunchAttribute, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const example = JSON.stringify(a.examples[0]);
  switch (a.type) {
    case 'string':
      return typeof value === 'string' ? undefined : `${request}: '${name}' must be a string, e.g. ${example}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${request}: '${name}' must be true or false`;
    case 'string[]':
      // one string is taken as a list of one
      if (typeof value === 'string' || (Array.isArray(value) && value.every((s) => typeof s === 'string'))) return undefined;
      return `${request}: '${name}' must be a list of strings, e.g. ${JSON.stringify(a.examples[0]).replace(/,/g, ', ')}`;
  }
}

/** One attribute as JSON schema (what VS Code validates and completes in launch.json). */
function schemaOf(a: LaunchAttribute): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  if (a.type === 'string[]') {
    s.type = ['array', 'string'];
    s.items = { type: 'string' };
  } else s.type = a.type;
  s.description = a.description;
  if (a.enum) s.enum = [...a.enum];
  if (a.default !== undefined) s.default = a.default;
  s.examples = a.examples.map((e) => (Array.isArray(e) ? [...e] : e));
  return s;
}

/** The `configurationAttributes.launch` schema of the `trapdoor` debugger. */
export function launchSchema(): { required: string[]; properties: Record<string, Record<string, unknown>> } {
  return {
    required: [...REQUIRED_ATTRIBUTES],
    properties: Object.fromEntries(ATTRIBUTE_NAMES.map((n) => [n, schemaOf(attribute(n))])),
  };
}

/** The `configurationAttributes.attach` schema. */
export function attachSchema(): { required: string[]; properties: Record<string, Record<string, unknown>> } {
  return {
    required: [...REQUIRED_ATTACH_ATTRIBUTES],
    properties: Object.fromEntries(ATTACH_ATTRIBUTE_NAMES.map((n) => [n, schemaOf(ATTACH_ATTRIBUTES[n])])),
  };
}

/** `--trap-log` -> `trapLog`: the attribute a CLI option is written as. */
export const ATTRIBUTE_OF_OPTION: Readonly<Record<string, LaunchAttributeName>> = Object.fromEntries(
  ATTRIBUTE_NAMES.flatMap((n) => {
    const o = attribute(n).option;
    return o ? [[o, n]] : [];
  }),
);
