// What can be done with a trapped call, and who chose it. The policy decides with
// these, the core applies them, and every trap record names them.

export type Action = 'emulate' | 'forward' | 'undef' | 'return' | 'ask' | 'skip';
/** A decision is an action other than 'ask', with values for 'return'. */
export interface Decision {
  action: Exclude<Action, 'ask'>;
  /** For 'return': register values by name (x0.., w0.., r0..) as bigint. */
  values?: Record<string, bigint>;
}
/**
 * policy: a rule; user: a person through a front-end (the record names the client);
 * default: the policy default (nobody could answer, or continue without a decision);
 * fallback: forwarding failed and the fallback answered.
 */
export type DecidedBy = 'policy' | 'user' | 'default' | 'fallback';
