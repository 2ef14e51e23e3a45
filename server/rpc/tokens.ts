// The token file of `trapdoor serve --token-file F` (and `trapdoor triage
// --token-file F`). One entry a line:
//
//     # comment
//     alice:3f9c0d...e1            a decider (the default role)
//     bob:77a1b2...90:observer     an observer: reads, never runs or decides
//
// The user name (letters, digits, `._-`) names the client in the records it
// decides; the token is at least 16 characters without spaces or colons. A
// client's token is compared with every entry in constant time (SHA-256 of both,
// then crypto.timingSafeEqual), so neither a match nor its position shows in
// the time taken. `triage` sends the token of the file's first entry.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type Role = 'observer' | 'decider';
export interface TokenEntry { user: string; role: Role; digest: Buffer; token: string }

export const MIN_TOKEN = 16;

export function parseTokenFile(text: string, source: string): { ok: true; value: TokenEntry[] } | { ok: false; error: string } {
  const entries: TokenEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const where = `${source}:${i + 1}`;
    const parts = line.split(':');
    if (parts.length < 2 || parts.length > 3) return { ok: false, error: `${where}: expected USER:TOKEN or USER:TOKEN:ROLE` };
    const [user, token, role = 'decider'] = parts;
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) return { ok: false, error: `${where}: the user name may hold letters, digits, '.', '_' and '-'` };
    if (token.length < MIN_TOKEN || /\s/.test(token)) return { ok: false, error: `${where}: the token must be at least ${MIN_TOKEN} characters without spaces (e.g. openssl rand -hex 24)` };
    if (role !== 'decider' && role !== 'observer') return { ok: false, error: `${where}: role '${role}': use decider or observer` };
    entries.push({ user, role, token, digest: digest(token) });
  }
  if (!entries.length) return { ok: false, error: `${source}: no USER:TOKEN entry` };
  return { ok: true, value: entries };
}

export function readTokenFile(path: string): { ok: true; value: TokenEntry[] } | { ok: false; error: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { ok: false, error: `${path}: cannot read the token file (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
  }
  return parseTokenFile(text, path);
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The entry whose token this is; every entry is compared, in constant time each. */
export function checkToken(entries: readonly TokenEntry[], token: unknown): TokenEntry | undefined {
  const d = digest(typeof token === 'string' ? token : '');
  let found: TokenEntry | undefined;
  for (const e of entries) if (timingSafeEqual(d, e.digest) && typeof token === 'string') found ??= e;
  return found;
}
