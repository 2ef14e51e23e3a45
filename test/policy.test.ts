import { scratchDir } from './helpers/asm.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Conduit, DecodedCall } from '../server/decode/types.js';
import {
  Policy,
  formatPolicyError,
  parseDefault,
  parseOnFlag,
  parsePolicyFile,
  parsePolicyText,
  type Rule,
} from '../server/policy/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function smccc(id: number, owner: string, name: string, service?: string): DecodedCall {
  const call: DecodedCall = {
    kind: 'smccc',
    owner,
    name,
    id: `0x${id.toString(16).padStart(8, '0')}`,
    args: [],
    fields: {},
    rule: 'smccc',
    summary: name,
  };
  if (service) call.service = service;
  return call;
}

const PSCI_VERSION = smccc(0x84000000, 'std-secure', 'PSCI_VERSION', 'PSCI');
const PSCI_CPU_ON64 = smccc(0xc4000003, 'std-secure', 'PSCI_CPU_ON', 'PSCI');
const TRNG_RND64 = smccc(0xc4000053, 'std-secure', 'TRNG_RND', 'TRNG');
const SIP_10 = smccc(0x82000010, 'sip', 'UNKNOWN');
const SIP_01 = smccc(0x82000001, 'sip', 'UNKNOWN');
const VENDOR_UID = smccc(0x8600ff01, 'vendor-hyp', 'VENDOR_HYP_CALL_UID');
const XEN_VERSION: DecodedCall = {
  kind: 'xen', owner: 'xen', name: 'xen_version', args: [], fields: { nr: 17 }, rule: 'xen-hvc-0xea1', summary: 'xen_version(XENVER_version)',
};
const XEN_CONSOLE: DecodedCall = {
  kind: 'xen', owner: 'xen', name: 'console_io', args: [], fields: { nr: 18 }, rule: 'xen-hvc-0xea1', summary: 'console_io',
};
const HIGHBANK: DecodedCall = {
  kind: 'legacy', owner: 'highbank', name: 'HIGHBANK_L2_CTRL', args: [], fields: { service: 0x102 }, rule: 'legacy:highbank', summary: 'L2 enable',
};

function parse(text: string, file = 'test.yaml'): Policy {
  const r = parsePolicyText(text, file);
  if (!r.ok) throw new Error(formatPolicyError(r.error));
  return r.policy;
}

function decide(p: Policy, decoded: DecodedCall, conduit: Conduit = 'smc', imm = 0) {
  return p.decide({ conduit, imm, decoded });
}

function parseError(text: string, file = 'bad.yaml') {
  const r = parsePolicyText(text, file);
  if (r.ok) throw new Error('expected a parse error');
  return r.error;
}

describe('Policy.decide', () => {
  const p = parse(`
default: emulate
rules:
  - id: undef-sip-0x10
    match: { id: 0x82000010 }
    action: undef
  - match: { owner: sip }
    action: "return(x0=-1)"
  - match: { range: [0x84000000, 0x8400001f] }
    action: forward
  - match: { owner: psci }
    action: ask
  - match: { xen: xen_version }
    action: "return(x0=0x40011)"
  - match: { xen: 18 }
    action: skip
  - match: { legacy: 0x102 }
    action: undef
  - match: { conduit: hvc }
    action: ask
`);

  it('takes the first matching rule, in file order', () => {
    expect(decide(p, SIP_10)).toEqual({ action: 'undef', by: 'policy', rule: 'undef-sip-0x10' });
    expect(decide(p, SIP_01)).toEqual({ action: 'return', values: { x0: -1n }, by: 'policy', rule: 'r2' });
  });

  it('matches id ranges inclusively', () => {
    expect(decide(p, PSCI_VERSION).rule).toBe('r3');
    expect(decide(p, smccc(0x8400001f, 'std-secure', 'X', 'PSCI')).rule).toBe('r3');
    // outside the range, still PSCI by service
    expect(decide(p, PSCI_CPU_ON64)).toEqual({ action: 'ask', by: 'policy', rule: 'r4' });
  });

  it('matches owners and services', () => {
    expect(decide(p, TRNG_RND64)).toEqual({ action: 'emulate', by: 'default' });
    const trng = parse('rules: [{ match: { owner: trng }, action: undef }]');
    expect(decide(trng, TRNG_RND64).action).toBe('undef');
    expect(decide(trng, PSCI_VERSION).by).toBe('default');
    const std = parse('rules: [{ match: { owner: std-secure }, action: undef }]');
    expect(decide(std, TRNG_RND64).action).toBe('undef');
  });

  it('matches Xen hypercalls by name and by number', () => {
    expect(decide(p, XEN_VERSION, 'hvc', 0xea1)).toEqual({ action: 'return', values: { x0: 0x40011n }, by: 'policy', rule: 'r5' });
    expect(decide(p, XEN_CONSOLE, 'hvc', 0xea1).rule).toBe('r6');
    // a number finds the call through the name table even without a number field
    const byNumber = parse('rules: [{ match: { xen: 17 }, action: undef }]');
    expect(decide(byNumber, { ...XEN_VERSION, fields: {} }, 'hvc', 0xea1).action).toBe('undef');
    // xen implies kind xen: an SMCCC call named alike does not match
    expect(decide(byNumber, { ...PSCI_VERSION, name: 'xen_version' }).by).toBe('default');
  });

  it('matches legacy calls by number and name', () => {
    expect(decide(p, HIGHBANK).rule).toBe('r7');
    const byName = parse('rules: [{ match: { legacy: highbank_l2_ctrl }, action: skip }]');
    expect(decide(byName, HIGHBANK).action).toBe('skip');
    expect(decide(byName, PSCI_VERSION).by).toBe('default');
  });

  it('falls back to conduit rules and the default', () => {
    expect(decide(p, VENDOR_UID, 'hvc')).toEqual({ action: 'ask', by: 'policy', rule: 'r8' });
    expect(decide(p, VENDOR_UID, 'smc')).toEqual({ action: 'emulate', by: 'default' });
    const undefDefault = parse('default: undef');
    expect(decide(undefDefault, PSCI_VERSION)).toEqual({ action: 'undef', by: 'default' });
    expect(decide(parse(''), PSCI_VERSION)).toEqual({ action: 'emulate', by: 'default' });
  });

  it('combines fields with AND and matches kind and imm', () => {
    const q = parse(`
rules:
  - match: { kind: unknown }
    action: undef
  - match: { conduit: hvc, imm: 0xea1, kind: xen }
    action: forward
  - match: { id: 0x84000000, range: [0x84000000, 0x84000001], conduit: smc }
    action: skip
`);
    const unknown: DecodedCall = { kind: 'unknown', owner: 'reserved', name: 'UNKNOWN', args: [], fields: {}, rule: 'none', summary: '' };
    expect(decide(q, unknown).rule).toBe('r1');
    expect(decide(q, XEN_VERSION, 'hvc', 0xea1).rule).toBe('r2');
    expect(decide(q, XEN_VERSION, 'hvc', 0).by).toBe('default');
    expect(decide(q, PSCI_VERSION, 'smc').rule).toBe('r3');
    expect(decide(q, PSCI_VERSION, 'hvc').by).toBe('default');
  });

  it('returns the same frozen verdict object every time (no allocation per trap)', () => {
    const a = decide(p, SIP_10);
    expect(decide(p, SIP_10)).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('decides over a million calls per second with a handful of rules', () => {
    const calls = [PSCI_VERSION, SIP_01, TRNG_RND64, VENDOR_UID];
    const n = 200_000;
    // The best of a few batches: a loaded machine slows some batches, never speeds one up.
    let best = Infinity;
    for (let batch = 0; batch < 5; batch++) {
      const start = performance.now();
      for (let i = 0; i < n; i++) decide(p, calls[i & 3]);
      best = Math.min(best, performance.now() - start);
    }
    expect(n / (best / 1000)).toBeGreaterThan(1_000_000);
  });
});

describe('Policy rule list', () => {
  it('adds at an index, removes by id and lists in order', () => {
    const p = new Policy();
    const a = p.add({ match: { id: 0x84000000 }, action: 'undef' });
    const b = p.add({ match: { owner: 'sip' }, action: 'skip' });
    expect(a.ok && a.value.id).toBe('r1');
    expect(b.ok && b.value.id).toBe('r2');
    const front = p.add({ id: 'first', match: {}, action: 'ask' }, 0);
    expect(front.ok).toBe(true);
    expect(p.list().map((r) => r.id)).toEqual(['first', 'r1', 'r2']);
    expect(decide(p, PSCI_VERSION).rule).toBe('first');
    expect(p.remove('first')).toBe(true);
    expect(p.remove('first')).toBe(false);
    expect(decide(p, PSCI_VERSION).rule).toBe('r1');
    const c = p.add({ match: { id: 1 }, action: 'emulate' });
    expect(c.ok && c.value.id).toBe('r4');
  });

  it('rejects duplicate ids, bad indexes and invalid rules', () => {
    const p = new Policy();
    p.add({ id: 'x', match: {}, action: 'undef' });
    expect(p.add({ id: 'x', match: {}, action: 'undef' })).toEqual({ ok: false, error: "rule id 'x' is already used: give each rule its own id" });
    expect(p.add({ match: {}, action: 'undef' }, 5)).toMatchObject({ ok: false, error: 'index 5 is out of range: use 0 .. 1' });
    expect(p.add({ match: { range: [2, 1] }, action: 'undef' })).toMatchObject({ ok: false, error: expect.stringContaining('first > last') });
    expect(p.add({ match: {}, action: 'return' })).toMatchObject({ ok: false, error: expect.stringContaining('needs values') });
    expect(p.add({ match: {}, action: 'undef', values: { x0: 1n } })).toMatchObject({ ok: false, error: expect.stringContaining("only 'return'") });
    expect(p.add({ match: { owner: 'sipp' }, action: 'undef' })).toMatchObject({ ok: false, error: expect.stringContaining("did you mean 'sip'") });
    expect(p.list()).toHaveLength(1);
  });

  it('auto ids skip ids already taken', () => {
    const p = new Policy();
    p.add({ id: 'r2', match: {}, action: 'undef' });
    const r = p.add({ match: {}, action: 'undef' });
    expect(r.ok && r.value.id).toBe('r3');
  });

  it('describes rules on one line', () => {
    const p = parse(`
default: "return(x0=-1)"
rules:
  - match: { range: [0x84000000, 0x8400001f], conduit: smc }
    action: emulate
  - match: { xen: xen_version }
    action: return
    values: { x0: "0x40011", x1: -2 }
  - match: {}
    action: ask
`);
    const [r1, r2, r3] = p.list();
    expect(p.describe(r1)).toBe('r1: id 0x84000000-0x8400001f smc -> emulate');
    expect(p.describe(r2)).toBe('r2: xen xen_version -> return(x0=0x40011, x1=-2)');
    expect(p.describe(r3)).toBe('r3: any -> ask');
    expect(p.describeAll().split('\n').at(-1)).toBe('default -> return(x0=-1)');
  });

  it('survives structured cloning as plain data (for the worker thread)', () => {
    const p = parse(`
default: undef
rules:
  - match: { id: 0x82000010 }
    action: "return(x0=0xffffffffffffffff)"
`);
    const copy = Policy.fromSpec(structuredClone(p.toSpec()));
    expect(copy.ok).toBe(true);
    if (!copy.ok) return;
    expect(decide(copy.value, SIP_10)).toEqual({ action: 'return', values: { x0: 0xffffffffffffffffn }, by: 'policy', rule: 'r1' });
    expect(decide(copy.value, PSCI_VERSION)).toEqual({ action: 'undef', by: 'default' });
  });
});

describe('policy files', () => {
  it('parses the example policies', () => {
    for (const f of ['examples/aarch64/tour-policy.yaml', 'examples/aarch32/legacy-policy.yaml']) {
      const r = parsePolicyFile(join(root, f));
      if (!r.ok) throw new Error(formatPolicyError(r.error));
      expect(decide(r.policy, SIP_10).action).toBe('undef');
      expect(decide(r.policy, PSCI_VERSION).action).toBe('emulate');
    }
  });

  it('accepts JSON with ids as strings and return values as a mapping', () => {
    const p = parse(
      JSON.stringify({
        default: 'emulate',
        rules: [
          { id: 'sip', match: { id: '0x82000010' }, action: 'undef' },
          { match: { range: ['0x84000000', 2214592543] }, action: 'return', values: { x0: '0x10001', w1: -1 } },
        ],
      }),
      'policy.json',
    );
    expect(decide(p, SIP_10).action).toBe('undef');
    expect(decide(p, PSCI_VERSION)).toEqual({ action: 'return', values: { x0: 0x10001n, w1: -1n }, by: 'policy', rule: 'r2' });
  });

  it('reports the line and column of a bad YAML node', () => {
    const text = ['default: emulate', 'rules:', '  - match: { id: 0x82000010 }', '    action: undeff', ''].join('\n');
    expect(parseError(text)).toEqual({
      file: 'bad.yaml',
      line: 4,
      col: 13,
      message: "unknown action 'undeff' (did you mean 'undef'?): use emulate, forward, undef, return(x0=..), ask or skip",
    });
  });

  it('reports the line and column of a bad JSON value', () => {
    const text = ['{', '  "default": "emulate",', '  "rules": [', '    { "match": { "id": "0x8400000g" }, "action": "undef" }', '  ]', '}'].join('\n');
    const e = parseError(text, 'bad.json');
    expect(e).toMatchObject({ file: 'bad.json', line: 4, col: 24 });
    expect(e.message).toBe("id '0x8400000g' is not a number: write e.g. 0x84000000 or 17");
    expect(formatPolicyError(e)).toBe(`bad.json:4:24: ${e.message}`);
  });

  it('reports JSON syntax errors at the offending token', () => {
    const text = ['{', '  "default": "emulate",', '  "rules": [', '    { "match": { "id": 1 } "action": "undef" }', '  ]', '}'].join('\n');
    const e = parseError(text, 'bad.json');
    expect(e).toMatchObject({ line: 4, col: 28 });
    expect(e.message).toMatch(/^syntax error: .*missing ','/);
  });

  it.each([
    ['unknown top-level key', 'default: emulate\nrule:\n  - match: {}\n    action: ask\n', 2, 1, /unknown key 'rule' at the top level \(did you mean 'rules'\?\)/],
    ['unknown rule key', 'rules:\n  - match: { id: 1 }\n    acton: undef\n', 3, 5, /unknown key 'acton' in a rule \(did you mean 'action'\?\): use id, match, action, values/],
    ['unknown match key', 'rules:\n  - match: { idd: 1 }\n    action: undef\n', 2, 14, /unknown key 'idd' in `match:`/],
    ['range with first > last', 'rules:\n  - match: { range: [0x8400001f, 0x84000000] }\n    action: emulate\n', 2, 21, /first > last: swap them/],
    ['id outside range', 'rules:\n  - match: { id: 1, range: [2, 3] }\n    action: emulate\n', 2, 12, /outside range .* could never match/],
    ['range with one bound', 'rules:\n  - match: { range: [1] }\n    action: emulate\n', 2, 21, /range must be \[first, last\]/],
    ['id too large', 'rules:\n  - match: { id: 0x100000000 }\n    action: emulate\n', 2, 18, /out of range: it must be 0 \.\. 0xffffffff/],
    ['float id', 'rules:\n  - match: { id: 1.5 }\n    action: emulate\n', 2, 18, /not an integer/],
    ['bad conduit', 'rules:\n  - match: { conduit: svc }\n    action: emulate\n', 2, 23, /conduit 'svc' is not smc or hvc/],
    ['unknown Xen name', 'rules:\n  - match: { xen: xen_versoin }\n    action: emulate\n', 2, 19, /did you mean 'xen_version'/],
    ['missing action', 'rules:\n  - match: { id: 1 }\n', 2, 5, /no `action:`: add e.g. `action: emulate`/],
    ['missing match', 'rules:\n  - action: undef\n', 2, 5, /no `match:`/],
    ['bad register', 'rules:\n  - match: { id: 1 }\n    action: "return(x18=1)"\n', 3, 13, /'x18' is not a result register/],
    ['bad register in values', 'rules:\n  - match: { id: 1 }\n    action: return\n    values: { x0: 1, q1: 2 }\n', 4, 22, /'q1' is not a result register/],
    ['value too wide', 'rules:\n  - match: { id: 1 }\n    action: return\n    values: { w0: 0x100000000 }\n', 4, 19, /does not fit in 32 bits/],
    ['values with undef', 'rules:\n  - match: { id: 1 }\n    action: undef\n    values: { x0: 1 }\n', 4, 5, /only goes with `action: return`/],
    ['duplicate rule id', 'rules:\n  - id: a\n    match: {}\n    action: ask\n  - id: a\n    match: {}\n    action: ask\n', 5, 9, /already used/],
    ['duplicate key', 'default: emulate\ndefault: undef\n', 2, 1, /syntax error: Map keys must be unique/],
    ['bad indentation', 'rules:\n  - match: { id: 1 }\n   action: undef\n', 3, 1, /syntax error: .*indentation/],
    ['rules not a list', 'rules: { match: {} }\n', 1, 8, /`rules:` must be a list/],
  ])('rejects %s with its position', (_name, text, line, col, message) => {
    const e = parseError(text);
    expect(e.message).toMatch(message);
    expect([e.line, e.col]).toEqual([line, col]);
  });

  it('reports a missing file clearly', () => {
    const r = parsePolicyFile('/nonexistent/policy.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message).toMatch(/policy file not found/);
    expect(formatPolicyError(r.error)).toMatch(/^\/nonexistent\/policy\.yaml: policy file not found/);
  });

  it('reads a file from disk', () => {
    const dir = mkdtempSync(join(scratchDir(), 'policy-'));
    const f = join(dir, 'p.yaml');
    writeFileSync(f, 'default: skip\n');
    const r = parsePolicyFile(f);
    expect(r.ok && decide(r.policy, PSCI_VERSION)).toEqual({ action: 'skip', by: 'default' });
  });
});

describe('the firmware: key of a policy file', () => {
  it('reads soc_id for the built-in firmware', () => {
    const r = parsePolicyText('firmware:\n  soc_id: { jep106: 0x43b, soc: 0x1234, revision: 2, name: "My SoC" }\n', 'fw.yaml');
    expect(r.ok && r.firmware).toEqual({ socId: { jep106: 0x43b, soc: 0x1234, revision: 2, name: 'My SoC' } });
    expect(parsePolicyText('default: emulate\n', 'fw.yaml')).not.toHaveProperty('firmware');
  });

  it('says where a bad entry is and what to write', () => {
    expect(parseError('firmware:\n  soc_id: { jep106: 0x43b, revison: 2 }\n')).toMatchObject({
      line: 2, col: 28, message: expect.stringMatching(/unknown key 'revison' in `soc_id:` \(did you mean 'revision'\?\)/),
    });
    expect(parseError('firmware:\n  soc_id: { soc: 1 }\n')).toMatchObject({ line: 2, message: expect.stringMatching(/jep106 is missing/) });
    expect(parseError('firmware:\n  soc_id: { jep106: 0x43b, soc: 0x10000 }\n').message).toMatch(/soc must be a number 0 .. 0xffff/);
    expect(parseError('firmware:\n  soc_id: { jep106: 0x43b, name: "' + 'x'.repeat(136) + '" }\n').message).toMatch(/136 bytes: SMCCC allows at most 135/);
    expect(parseError('firmware: 5\n')).toMatchObject({ line: 1, col: 11, message: expect.stringMatching(/`firmware:` must be a mapping/) });
    expect(parseError('firmware:\n  soc: {}\n').message).toMatch(/unknown key 'soc' in `firmware:`/);
  });
});

describe('--on and --default flags', () => {
  const rule = (text: string): Rule => {
    const r = parseOnFlag(text, 'on1');
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it.each<[string, Partial<Rule>]>([
    ['0x84000000-0x8400001f=emulate', { match: { range: [0x84000000, 0x8400001f] }, action: 'emulate' }],
    ['0x82000010=undef', { match: { id: 0x82000010 }, action: 'undef' }],
    ['0xc4000003=return(x0=-2)', { match: { id: 0xc4000003 }, action: 'return', values: { x0: -2n } }],
    ['0x84000000=return(x0=0x5, x1=2)', { match: { id: 0x84000000 }, action: 'return', values: { x0: 5n, x1: 2n } }],
    ['xen:17=undef', { match: { xen: 17 }, action: 'undef' }],
    ['xen:xen_version=skip', { match: { xen: 'xen_version' }, action: 'skip' }],
    ['owner:sip=ask', { match: { owner: 'sip' }, action: 'ask' }],
    ['hvc=ask', { match: { conduit: 'hvc' }, action: 'ask' }],
    ['legacy:0x102=skip', { match: { legacy: 0x102 }, action: 'skip' }],
    ['smc,owner:psci,imm:0=forward', { match: { conduit: 'smc', owner: 'psci', imm: 0 }, action: 'forward' }],
  ])('parses --on %s', (text, expected) => {
    expect(rule(text)).toEqual({ id: 'on1', ...expected });
  });

  it('gives a rule that decides like the file form', () => {
    const p = new Policy();
    p.add(rule('0x82000010=undef'));
    expect(decide(p, SIP_10)).toEqual({ action: 'undef', by: 'policy', rule: 'on1' });
  });

  it.each([
    ['0x82000010', /--on 0x82000010: no '=ACTION': write --on SELECTOR=ACTION, e\.g\./],
    ['=undef', /nothing before '='/],
    ['0x82000010=', /no action after '='/],
    ['0x82000010=undeff', /unknown action 'undeff' \(did you mean 'undef'\?\)/],
    ['0x82000010=return', /'return' needs the values/],
    ['0x82000010=return(x0)', /'x0' in return\(\.\.\.\) is not REG=VALUE/],
    ['0x82000010=return(x0=zz)', /value of x0 'zz' is not an integer/],
    ['0x82000010=undef(x0=1)', /only 'return' takes values/],
    ['0x8400001f-0x84000000=emulate', /first > last: swap them/],
    ['0x84000000-=emulate', /range last '' is not a number/],
    ['foo=undef', /function id 'foo' is not a number/],
    ['own:sip=ask', /unknown selector 'own:' \(did you mean 'owner:'\?\)/],
    ['owner:sipp=ask', /unknown owner 'sipp'/],
    ['xen:nope=undef', /unknown Xen hypercall 'nope'/],
    ['smc,hvc=undef', /'conduit' is given twice/],
    ['0x100000000=undef', /out of range/],
  ])('rejects --on %s clearly', (text, message) => {
    const r = parseOnFlag(text, 'x');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it('parses --default', () => {
    expect(parseDefault('undef')).toEqual({ ok: true, value: { action: 'undef' } });
    expect(parseDefault('return(x0=-1)')).toEqual({ ok: true, value: { action: 'return', values: { x0: -1n } } });
    expect(parseDefault('nope')).toMatchObject({ ok: false, error: expect.stringMatching(/^--default nope: unknown action/) });
  });
});
