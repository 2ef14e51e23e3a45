// The policy of a run from its options (a policy file, --on rules, --default):
// shared by `trapdoor run` and the debug adapter's launch, so both take the same
// texts and give the same one-line messages (as UsageError).
import { parsePolicyFile, parseOnFlag, parseDefault, formatPolicyError, type PolicySpec, type PolicyFirmware, type Rule } from '../policy/index.js';
import { UsageError } from './errors.js';

export async function buildPolicy(file: string | undefined, on: string[] | undefined, dflt: string | undefined): Promise<PolicySpec & { firmware?: PolicyFirmware; platform?: string }> {
  const rules: Rule[] = [];
  (on ?? []).forEach((text, i) => {
    const r = parseOnFlag(text, `on${i + 1}`);
    if (!r.ok) throw new UsageError(`bad --on "${text}": ${r.error.replace(/^--on [^:]*: /, '')}`);
    rules.push(r.value);
  });
  let spec: PolicySpec = { default: { action: 'emulate' }, rules: [] };
  let firmware: PolicyFirmware | undefined;
  let platform: string | undefined;
  if (file) {
    const p = parsePolicyFile(file);
    if (!p.ok) throw new UsageError(formatPolicyError(p.error));
    spec = p.policy.toSpec();
    firmware = p.firmware;
    platform = p.platform;
  }
  spec = { default: spec.default, rules: [...rules, ...spec.rules] };
  if (dflt) {
    const d = parseDefault(dflt);
    if (!d.ok) throw new UsageError(`bad --default "${dflt}": ${d.error}`);
    spec.default = d.value;
  }
  return { ...spec, ...(firmware ? { firmware } : {}), ...(platform ? { platform } : {}) };
}
