// The `ask` prompt on a terminal: the decoded trap, then one key per action
// (node:readline's keypress events, so Ctrl-C and arrow keys are keys, not bytes).
// `r` reads the return values as a line and asks again until they parse (an empty
// line goes back to the keys); Ctrl-C or q quits the run.
import { emitKeypressEvents } from 'node:readline';
import { createInterface } from 'node:readline/promises';
import { parseDecision } from '../session/console.js';
import { describeTrap } from '../session/render.js';
import type { TrapRecord } from '../session/trap-record.js';
import type { DecisionParams } from '../session/contract.js';

export interface PromptOptions {
  /** A firmware endpoint is configured: offer [f]orward. */
  forward: boolean;
  /** Ends the prompt (answer 'cancelled'): someone else decided the trap (trapdoor triage). */
  signal?: AbortSignal;
}

const out = (text: string) => process.stdout.write(text);

/**
 * The user's decision for a pending trap, or 'quit' (q, Ctrl-C, end of input): stop
 * the run; 'cancelled' when opts.signal ended the prompt.
 */
export async function askUser(t: TrapRecord, opts: PromptOptions): Promise<DecisionParams | 'quit' | 'cancelled'> {
  for (const l of describeTrap(t)) out(l + '\n');
  const reg = t.arch === 'aarch64' ? 'x' : 'r';
  const keys = ['[e]mulate', ...(opts.forward ? ['[f]orward'] : []), '[u]ndef', '[r]eturn values', '[s]kip', '[q]uit'];
  for (;;) {
    out(`  decide: ${keys.join(' ')} > `);
    const key = await readKey(opts.signal);
    if (key === 'cancel') { out('\n'); return 'cancelled'; }
    out((key === 'quit' ? '^C' : key === '\r' ? '' : key) + '\n');
    if (key === 'quit' || key === 'q') return 'quit';
    if (key === 'e' || key === '\r') return { action: 'emulate' };
    if (key === 'f' && opts.forward) return { action: 'forward' };
    if (key === 'u') return { action: 'undef' };
    if (key === 's') return { action: 'skip' };
    if (key === 'r') {
      const values = await askValues(reg, opts.signal);
      if (values === 'quit' || values === 'cancelled') return values;
      if (values) return { action: 'return', values };
      continue;
    }
    out(`  press ${['e', ...(opts.forward ? ['f'] : []), 'u', 'r', 's'].join(', ')} or q (Enter emulates)\n`);
  }
}

/** Return values as `x0=0 x1=5`, asked again until they parse; undefined: back to the keys. */
async function askValues(reg: string, signal: AbortSignal | undefined): Promise<Record<string, string> | undefined | 'quit' | 'cancelled'> {
  for (;;) {
    const line = await question(`  values (e.g. ${reg}0=0 ${reg}1=5; empty goes back): `, signal);
    if (signal?.aborted) return 'cancelled';
    if (line === undefined) return 'quit';
    if (!line.trim()) return undefined;
    // as the console's `decide return x0=0 x1=5`
    const d = parseDecision(['return', line.trim()]);
    if (typeof d !== 'string') return d.values ?? {};
    out(`  ${d}\n`);
  }
}

/** One key from the terminal: a letter (lower case), '\r' for Enter, 'quit' for Ctrl-C / Ctrl-D, 'cancel' when signal ends it. */
function readKey(signal?: AbortSignal): Promise<string> {
  const stdin = process.stdin;
  emitKeypressEvents(stdin);
  const raw = typeof stdin.setRawMode === 'function';
  return new Promise((resolve) => {
    if (raw) stdin.setRawMode(true);
    stdin.resume();
    const done = (key: string) => {
      stdin.off('keypress', onKey);
      stdin.off('end', onEnd);
      signal?.removeEventListener('abort', onAbort);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      resolve(key);
    };
    const onKey = (str: string | undefined, key: { name?: string; ctrl?: boolean; meta?: boolean } | undefined) => {
      if (key?.ctrl && (key.name === 'c' || key.name === 'd')) return done('quit');
      if (key?.name === 'return' || key?.name === 'enter') return done('\r');
      if (str && str.length === 1 && !key?.ctrl && !key?.meta) return done(str.toLowerCase());
      done('?');
    };
    const onEnd = () => done('quit');
    const onAbort = () => done('cancel');
    if (signal?.aborted) return done('cancel');
    stdin.on('keypress', onKey);
    stdin.once('end', onEnd);
    signal?.addEventListener('abort', onAbort);
  });
}

/** One line from the terminal; undefined on Ctrl-C or Ctrl-D. */
async function question(prompt: string, signal?: AbortSignal): Promise<string | undefined> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const ac = new AbortController();
  rl.on('SIGINT', () => ac.abort());
  rl.on('close', () => ac.abort());
  const onAbort = () => ac.abort();
  signal?.addEventListener('abort', onAbort);
  try {
    return await rl.question(prompt, { signal: ac.signal });
  } catch {
    out(signal?.aborted ? '\n' : '^C\n');
    return undefined;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    rl.close();
  }
}
