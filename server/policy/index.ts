// The policy layer: rules, their parser, and the per-trap decision.
export { Policy, describeRule, checkRule, checkMatch, checkActionSpec, MATCH_KEYS } from './rules.js';
export type { Rule, RuleInput, RuleMatch, DecideInput, Verdict, PolicySpec, PolicyResult, ActionSpec } from './rules.js';
export { parsePolicyText, parsePolicyFile, parseOnFlag, parseDefault, formatPolicyError } from './parse.js';
export type { PolicyParseError, PolicyParseResult, PolicyFirmware, FlagResult } from './parse.js';
export { parseActionText, formatAction, formatValue, ACTIONS } from './values.js';
export type { Action, Decision, DecidedBy } from './actions.js';
