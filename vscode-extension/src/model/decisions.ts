// The decisions a person can make at a trap, without VS Code: the choices the
// status bar, the notification and the quick pick offer, the return values typed
// into input boxes (checked with the policy's own parsers), and the arguments of
// the adapter's `trapdoor/decide` request.
import { checkRegisterName, checkRegisterValue, parseIntegerText } from '../../../server/policy/values.js';
import type { GuestArch } from '../../../server/decode/types.js';

export type DecisionAction = 'emulate' | 'forward' | 'undef' | 'return' | 'skip';

export interface DecisionChoice {
  action: DecisionAction;
  /** The button / quick pick label. */
  label: string;
  detail: string;
  /** Asks for register values first (input boxes). */
  needsValues: boolean;
  /** Why it cannot be chosen here, if so (e.g. no forward endpoint). */
  disabled?: string;
}

export interface DecideContext {
  /** The launch configuration has a `forward` endpoint. */
  forward: boolean;
}

export function decisionChoices(ctx: DecideContext): DecisionChoice[] {
  return [
    { action: 'emulate', label: 'Emulate', detail: 'answer with the built-in firmware', needsValues: false },
    {
      action: 'forward', label: 'Forward', detail: 'send the call to the firmware endpoint', needsValues: false,
      ...(ctx.forward ? {} : { disabled: "no forward endpoint: add \"forward\": \"tcp://HOST:PORT\" to the launch configuration" }),
    },
    { action: 'undef', label: 'Inject UNDEF', detail: 'an Undefined Instruction exception, as the architecture takes it', needsValues: false },
    { action: 'return', label: 'Return values…', detail: 'write chosen result registers (x0, x1, ...)', needsValues: true },
    { action: 'skip', label: 'Skip', detail: 'leave the registers alone and go on after the call', needsValues: false },
  ];
}

/** The result register the n-th input box asks for (x0.. on AArch64, r0.. on AArch32). */
export function returnRegister(arch: GuestArch, n: number): string {
  return `${arch === 'aarch64' ? 'x' : 'r'}${n}`;
}

/** How many result registers a guest has: x0..x17, r0..r14. */
export function returnRegisterCount(arch: GuestArch): number {
  return arch === 'aarch64' ? 18 : 15;
}

/** Why `text` is not a value for `register` (an input box's validation), or undefined. */
export function checkReturnValue(register: string, text: string): string | undefined {
  const v = parseIntegerText(text);
  if (v === undefined) return `'${text}' is not a number: write e.g. -2, 0x10 or 0b101`;
  return checkRegisterValue(register, v);
}

/**
 * Values typed as `x0=-2, x1=0x5` (or one number, for the first result register),
 * checked for this guest: {values} for trapdoor/decide, or what to fix.
 */
export function parseReturnValues(text: string, arch: GuestArch): { values: Record<string, string> } | { error: string } {
  const t = text.trim();
  if (!t) return { error: 'give at least one value, e.g. x0=-2' };
  const values: Record<string, string> = {};
  const parts = /=/.test(t) ? t.split(/[\s,]+/).filter(Boolean) : [`${returnRegister(arch, 0)}=${t}`];
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) return { error: `'${p}' is not REGISTER=VALUE (e.g. x0=-2)` };
    const reg = p.slice(0, eq).trim().toLowerCase();
    const val = p.slice(eq + 1).trim();
    const badName = checkRegisterName(reg);
    if (badName) return { error: badName };
    if ((arch === 'aarch64') !== (reg[0] !== 'r')) return { error: `${reg}: ${arch === 'aarch64' ? 'an AArch64 guest returns in x0..x17 or w0..w17' : 'an AArch32 guest returns in r0..r14'}` };
    if (reg in values) return { error: `${reg} is given twice` };
    const bad = checkReturnValue(reg, val);
    if (bad) return { error: bad };
    values[reg] = val;
  }
  return { values };
}

/** The `trapdoor/decide` request's arguments. */
export function decideArguments(action: DecisionAction, values?: Record<string, string>): { action: DecisionAction; values?: Record<string, string> } {
  return action === 'return' ? { action, values: values ?? {} } : { action };
}
