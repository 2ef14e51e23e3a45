// The DAP `launch` attributes, declared once: the adapter checks a launch request
// against this table (launch.ts), and the VS Code extension's package.json gets its
// `configurationAttributes` JSON schema from it (vscode-extension/scripts/sync-manifest.ts,
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
  if (value === undefined || value === null) return undefined;
  const a = attribute(name);
  const example = JSON.stringify(a.examples[0]);
  switch (a.type) {
    case 'string':
      return typeof value === 'string' ? undefined : `launch: '${name}' must be a string, e.g. ${example}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `launch: '${name}' must be true or false`;
    case 'string[]':
      // one string is taken as a list of one
      if (typeof value === 'string' || (Array.isArray(value) && value.every((s) => typeof s === 'string'))) return undefined;
      return `launch: '${name}' must be a list of strings, e.g. ${JSON.stringify(a.examples[0]).replace(/,/g, ', ')}`;
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

/** `--trap-log` -> `trapLog`: the attribute a CLI option is written as. */
export const ATTRIBUTE_OF_OPTION: Readonly<Record<string, LaunchAttributeName>> = Object.fromEntries(
  ATTRIBUTE_NAMES.flatMap((n) => {
    const o = attribute(n).option;
    return o ? [[o, n]] : [];
  }),
);
