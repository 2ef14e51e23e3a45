// The DAP `launch` arguments: the same options as `trapdoor run`, checked by the
// CLI's own parsers (so a bad value gets the same one-line message), turned into
// SessionOptions.
import { existsSync } from 'node:fs';
import type { SessionOptions } from '../server/session/session.js';
import { parseRamSpec } from '../server/machine/memory.js';
import { archOption, numberOption as num } from '../server/cli/args.js';
import { buildDecisions } from '../server/cli/policy-build.js';
import { UsageError } from '../server/cli/errors.js';
import { startTrapLog } from '../server/cli/trap-log-start.js';

export interface LaunchArgs {
  program?: unknown;
  arch?: unknown;
  ram?: unknown;
  load?: unknown;
  entry?: unknown;
  uart?: unknown;
  policy?: unknown;
  /** `--on` texts, e.g. ["0x82000010=undef", "hvc=ask"]. */
  rules?: unknown;
  default?: unknown;
  platform?: unknown;
  forward?: unknown;
  trapLog?: unknown;
  stopOnEntry?: unknown;
  /** As --no-count: no native block hook (faster loops; no watchpoints, and a pause ends the run). */
  noCount?: unknown;
}

/** The launch options Trapdoor reads (VS Code adds its own: type, request, name, __sessionId ...). */
const KNOWN: Record<keyof LaunchArgs, true> = {
  program: true, arch: true, ram: true, load: true, entry: true, uart: true, policy: true, rules: true,
  default: true, platform: true, forward: true, trapLog: true, stopOnEntry: true, noCount: true,
};

function str(args: LaunchArgs, key: keyof LaunchArgs): string | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new UsageError(`launch: '${key}' must be a string, e.g. "${key === 'arch' ? 'aarch64' : '0x40000000'}"`);
  return v;
}

function strings(args: LaunchArgs, key: 'ram' | 'rules'): string[] | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    throw new UsageError(`launch: '${key}' must be a list of strings, e.g. ${key === 'ram' ? '["0x40000000:128M"]' : '["0x82000010=undef", "hvc=ask"]'}`);
  }
  return list as string[];
}

/** The CLI option each launch attribute is parsed as (its messages name the option). */
const ATTRIBUTE_OF: Record<string, string> = {
  '--arch': 'arch', '--ram': 'ram', '--load': 'load', '--entry': 'entry', '--uart': 'uart', '--policy': 'policy',
  '--on': 'rules', '--default': 'default', '--platform': 'platform', '--forward': 'forward', '--trap-log': 'trapLog',
};

/** A message of the CLI's parsers in the launch configuration's words ("bad arch", not "bad --arch"). */
export function inLaunchWords(message: string): string {
  return message.replace(/--(arch|ram|load|entry|uart|policy|on|default|platform|forward|trap-log)\b(?![-\w])/g, (m) => ATTRIBUTE_OF[m] ?? m);
}

/** SessionOptions for a launch request, or a UsageError saying what to fix. */
export async function launchOptions(args: LaunchArgs): Promise<SessionOptions & { stopOnEntry: boolean }> {
  const program = str(args, 'program');
  if (!program) throw new UsageError("launch: no 'program': give the guest image, e.g. \"program\": \"examples/aarch64/smccc-tour.elf\"");
  if (!existsSync(program)) throw new UsageError(`launch: program ${program} does not exist (check the path; relative paths are from the adapter's folder)`);
  const archText = str(args, 'arch');
  const arch = archText !== undefined ? archOption(archText) : undefined;
  const ram = (strings(args, 'ram') ?? []).map((s) => {
    const r = parseRamSpec(s);
    if (!r.ok) throw new UsageError(r.error);
    return r.value;
  });
  const load = str(args, 'load');
  const entry = str(args, 'entry');
  const uart = str(args, 'uart');
  const forward = str(args, 'forward');
  const { policy, firmware, platform } = await buildDecisions({
    policy: str(args, 'policy'), on: strings(args, 'rules'), default: str(args, 'default'), platform: str(args, 'platform'), forward,
  });
  if (args.noCount !== undefined && typeof args.noCount !== 'boolean') throw new UsageError("launch: 'noCount' must be true or false");
  const trapLog = str(args, 'trapLog');
  if (trapLog) {
    // As trapdoor run --trap-log: the file is emptied and starts with the run's header record.
    const options = Object.entries(args).filter(([k]) => k !== 'program' && k in KNOWN).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    startTrapLog(trapLog, false, program, options);
  }
  return {
    image: {
      path: program,
      load: load !== undefined ? num('load', load) : undefined,
      entry: entry !== undefined ? num('entry', entry) | (arch === 'thumb' ? 1n : 0n) : arch === 'thumb' && load !== undefined ? num('load', load) | 1n : undefined,
      arch: arch === undefined ? undefined : arch === 'aarch64' ? 'aarch64' : 'arm',
    },
    ram: ram.length ? ram : undefined,
    uart: uart === 'none' ? null : uart ? num('uart', uart) : undefined,
    platform,
    policy,
    firmware: firmware ?? {},
    forward: forward ? { endpoint: forward } : undefined,
    trapLog,
    interactive: true,
    subscribe: true,
    stopOnEntry: args.stopOnEntry === true,
    ...(args.noCount === true ? { countBlocks: false } : {}),
  };
}
