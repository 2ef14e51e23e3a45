// Sessions on guests assembled from source, for tests that drive the Session
// contract directly; each is closed after its test.
import { afterEach } from 'vitest';
import { Session, type SessionOptions } from '../../server/session/session.js';
import { parseOnFlag, type PolicySpec } from '../../server/policy/index.js';
import { assemble } from './asm.js';

/** `session(arch, source, options)` opens a Session on the assembled guest (registers an afterEach that closes it). */
export function sessionFixture(name: string) {
  const open: Session[] = [];
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });
  return async (arch: 'aarch64' | 'arm', src: string, opts: Partial<SessionOptions> = {}) => {
    const r = await Session.open({ image: { path: assemble(arch, src, name) }, ...opts });
    if (!r.ok) throw new Error(r.error);
    open.push(r.value);
    return r.value;
  };
}

/** A policy of `--on` rules (ids t0, t1, ...) with default emulate. */
export function policy(...on: string[]): PolicySpec {
  return {
    default: { action: 'emulate' },
    rules: on.map((t, i) => { const r = parseOnFlag(t, `t${i}`); if (!r.ok) throw new Error(r.error); return r.value; }),
  };
}
