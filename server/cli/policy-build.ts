// The policy of a run from its options (a policy file, --on rules, --default):
// shared by `trapdoor run` and the debug adapter's launch, so both take the same
// texts and give the same one-line messages (as UsageError).
import { parsePolicyFile, parseOnFlag, parseDefault, formatPolicyError, type PolicySpec, type PolicyFirmware, type Rule } from '../policy/index.js';
import { parseEndpoint } from '../forward/protocol.js';
import { policyNeeds } from '../session/policy-needs.js';
import { platformOption } from './args.js';
import { UsageError } from './errors.js';

async function buildPolicy(file: string | undefined, on: string[] | undefined, dflt: string | undefined): Promise<PolicySpec & { firmware?: PolicyFirmware; platform?: string }> {
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

/** The options of a run that decide its calls (`trapdoor run` flags, a launch configuration's attributes). */
export interface DecisionOptions { policy?: string; on?: string[]; default?: string; platform?: string; forward?: string }

/**
 * The run's policy, legacy platform and policy-file firmware settings, checked
 * against each other: --platform and the file's `platform:` agree, the endpoint
 * parses, and no rule needs what the run lacks (policy-needs.ts).
 */
export async function buildDecisions(o: DecisionOptions): Promise<{ policy: PolicySpec; firmware?: PolicyFirmware; platform?: string }> {
  const { firmware, platform: filePlatform, ...policy } = await buildPolicy(o.policy, o.on, o.default);
  const flagPlatform = o.platform !== undefined ? platformOption(o.platform) : undefined;
  if (flagPlatform !== undefined && filePlatform && flagPlatform !== filePlatform) {
    throw new UsageError(`--platform ${o.platform} differs from the policy file's platform: ${filePlatform} (drop one of them)`);
  }
  const platform = flagPlatform ?? filePlatform;
  if (o.forward) {
    const ep = parseEndpoint(o.forward);
    if (!ep.ok) throw new UsageError(`bad --forward: ${ep.error}`);
  }
  const needs = policyNeeds(policy, { forward: !!o.forward, platform });
  if (needs) throw new UsageError(needs);
  return { policy, firmware, platform };
}
