// The DAP `launch` arguments: the same options as `trapdoor run`, checked by the
// CLI's own parsers (so a bad value gets the same one-line message), turned into
// SessionOptions. The attributes and their types are the table of launch-attributes.ts.
import { existsSync } from 'node:fs';
import type { SessionOptions } from '../server/session/session.js';
import { sessionOptionsFrom } from '../server/cli/run.js';
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
  const stopOnEntry = checked(args, 'stopOnEntry') === true;
  // the session as `trapdoor run` makes it from the same options (its messages say
  // --load where the launch has load: the adapter puts them in the launch's words)
  const base = await sessionOptionsFrom({
    arch: str(args, 'arch'), ram: strings(args, 'ram'), load: str(args, 'load'), entry: str(args, 'entry'), uart: str(args, 'uart'),
    policy: str(args, 'policy'), on: strings(args, 'rules'), default: str(args, 'default'), platform: str(args, 'platform'),
    forward: str(args, 'forward'), 'no-count': checked(args, 'noCount') === true,
  }, program);
  const trapLog = str(args, 'trapLog');
  if (trapLog) {
    // As trapdoor run --trap-log: the file is emptied and starts with the run's header record.
    const options = Object.entries(args).filter(([k]) => k !== 'program' && k in LAUNCH_ATTRIBUTES).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    startTrapLog(trapLog, false, program, options);
  }
  return { ...base, trapLog, interactive: true, subscribe: true, stopOnEntry };
}
