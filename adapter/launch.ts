// The DAP `launch` arguments: the same options as `trapdoor run`, checked by the
// CLI's own parsers (so a bad value gets the same one-line message), turned into
// SessionOptions. The attributes and their types are the table of launch-attributes.ts.
import { existsSync } from 'node:fs';
import type { SessionOptions } from '../server/session/session.js';
import { parseRamSpec } from '../server/machine/memory.js';
import { archOption, numberOption as num } from '../server/cli/args.js';
import { buildDecisions } from '../server/cli/policy-build.js';
import { UsageError } from '../server/cli/errors.js';
import { startTrapLog } from '../server/cli/trap-log-start.js';
import { ATTRIBUTE_OF_OPTION, LAUNCH_ATTRIBUTES, attributeTypeError, type LaunchArgs, type LaunchAttributeName } from './launch-attributes.js';

export type { LaunchArgs } from './launch-attributes.js';

/** The attribute's value, checked against its type in the table (a wrong type is a UsageError with an example). */
function checked(args: LaunchArgs, key: LaunchAttributeName): unknown {
  const bad = attributeTypeError(key, args[key]);
  if (bad) throw new UsageError(bad);
  return args[key] ?? undefined;
}

function str(args: LaunchArgs, key: LaunchAttributeName): string | undefined {
  return checked(args, key) as string | undefined;
}

function strings(args: LaunchArgs, key: LaunchAttributeName): string[] | undefined {
  const v = checked(args, key) as string | string[] | undefined;
  return typeof v === 'string' ? [v] : v;
}

/** A message of the CLI's parsers in the launch configuration's words ("bad arch", not "bad --arch"). */
export function inLaunchWords(message: string): string {
  return message.replace(OPTION_WORDS, (m) => ATTRIBUTE_OF_OPTION[m] ?? m);
}

const OPTION_WORDS = new RegExp(`(?:${Object.keys(ATTRIBUTE_OF_OPTION).join('|')})\\b(?![-\\w])`, 'g');

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
  const stopOnEntry = checked(args, 'stopOnEntry') === true;
  const noCount = checked(args, 'noCount') === true;
  const trapLog = str(args, 'trapLog');
  if (trapLog) {
    // As trapdoor run --trap-log: the file is emptied and starts with the run's header record.
    const options = Object.entries(args).filter(([k]) => k !== 'program' && k in LAUNCH_ATTRIBUTES).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
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
    stopOnEntry,
    ...(noCount ? { countBlocks: false } : {}),
  };
}
