// What a policy needs from the session it runs in: a `forward` needs a firmware
// endpoint, a `legacy:` match needs a legacy platform table. Checked when the run
// starts (the CLI) and when a rule is added or the default changed (the engine),
// so the user hears it once, up front, instead of at every trap.
import type { ActionSpec, PolicySpec, Rule } from '../policy/index.js';
import { LEGACY_PLATFORMS } from '../decode/legacy.js';

export interface SessionHas {
  forward: boolean;
  platform?: string;
}

const ADD_FORWARD = 'give a firmware endpoint with --forward tcp://127.0.0.1:PORT, or choose another action';

export function ruleNeeds(rule: Pick<Rule, 'id' | 'match' | 'action'>, has: SessionHas): string | undefined {
  if (rule.action === 'forward' && !has.forward) return `rule ${rule.id} forwards, but there is no firmware endpoint: ${ADD_FORWARD}`;
  const owner = rule.match.owner?.toLowerCase();
  const legacy = rule.match.legacy !== undefined || rule.match.kind === 'legacy' || (owner !== undefined && Object.hasOwn(LEGACY_PLATFORMS, owner));
  if (legacy && !has.platform) {
    return `rule ${rule.id} matches legacy platform calls, but no platform is set: add --platform NAME (${Object.keys(LEGACY_PLATFORMS).join(', ')}) or \`platform: NAME\` in the policy file`;
  }
  return undefined;
}

export function defaultNeeds(d: ActionSpec, has: SessionHas): string | undefined {
  return d.action === 'forward' && !has.forward ? `the default action forwards, but there is no firmware endpoint: ${ADD_FORWARD}` : undefined;
}

export function policyNeeds(spec: PolicySpec, has: SessionHas): string | undefined {
  for (const r of spec.rules) {
    const why = ruleNeeds(r, has);
    if (why) return why;
  }
  return defaultNeeds(spec.default, has);
}
