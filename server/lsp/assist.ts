// Hover and completion in a policy file. Both read the line around the cursor
// rather than the parsed document, so they work while the file is half written
// (and the same way in YAML and JSON): the word under the cursor and the key
// whose value it is (`id: 0xc4|`, `"owner": "ps|"`, `range: [0x84000000, |`).
import type { CompletionItem, Hover, MarkupContent, Range } from 'vscode-languageserver';
import { ACTIONS } from '../policy/values.js';
import { KINDS } from '../policy/names.js';
import { MATCH_KEYS } from '../policy/rules.js';
import { formatId, LEGACY_PLATFORMS, XEN_HYPERCALLS as XEN_ROWS } from '../decode/index.js';
import { describeSmcccId, describeSmcccName, describeXen, LEGACY_CALLS, OWNER_NAMES, ownerDoc, SMCCC_NAMES } from './calls.js';
import { LineIndex } from './text.js';

// CompletionItemKind / InsertTextFormat values (the protocol's numbers)
const KIND = { value: 12, constant: 21, enumMember: 20, property: 10, function: 3, keyword: 14 } as const;
const SNIPPET = 2;

const TOP_KEYS = ['default', 'rules', 'firmware', 'platform'];
const RULE_KEYS = ['id', 'match', 'action', 'values'];

export const ACTION_DOCS: Readonly<Record<string, string>> = {
  emulate: 'answer with the built-in firmware (PSCI 1.1, SMCCC 1.2, TRNG, minimal Xen; anything else NOT_SUPPORTED)',
  forward: 'send the call to the firmware endpoint of --forward (JSON-RPC trapdoor/call)',
  undef: 'inject an Undefined Instruction exception, as the architecture takes it',
  return: 'return chosen register values: return(x0=-2, x1=0x5)',
  ask: 'stop and ask a person (terminal prompt, gdb monitor decide, VS Code)',
  skip: 'leave the registers alone and go on after the SMC/HVC',
};

const MATCH_DOCS: Readonly<Record<string, string>> = {
  conduit: 'smc or hvc',
  imm: 'the SMC/HVC immediate, 0 .. 0xffff',
  id: 'an SMCCC function id, e.g. 0xc4000003 (PSCI_CPU_ON)',
  range: '[first, last] SMCCC function ids, inclusive (like KVM\'s SMCCC filter)',
  owner: 'an SMCCC owner (arch, sip, std-secure, ...) or a service (psci, trng, ...)',
  xen: 'a Xen hypercall number or name (xen_version, 17)',
  legacy: 'a legacy platform call number or name (needs platform:)',
  kind: 'smccc, xen, legacy or unknown',
  firmware: 'implemented or unimplemented: whether the built-in firmware answers the call',
};

export interface CursorContext {
  /** The key whose value the cursor is in, when it is in one. */
  key?: string;
  /** The cursor is where a key goes; `keys` are the ones that fit there. */
  keys?: readonly string[];
  /** The partial word before the cursor, and where it starts. */
  word: string;
  wordStart: number;
  /** A quote opens the value before the word (JSON, or a quoted YAML scalar). */
  quoted: boolean;
  json: boolean;
}

const WORD_CHAR = /[A-Za-z0-9_.-]/;

/** The word under or before the cursor: its text and offsets. */
export function wordAt(text: string, offset: number): { word: string; start: number; end: number } {
  let start = offset;
  while (start > 0 && WORD_CHAR.test(text[start - 1])) start--;
  let end = offset;
  while (end < text.length && WORD_CHAR.test(text[end])) end++;
  return { word: text.slice(start, end), start, end };
}

export function contextAt(text: string, offset: number, fileName: string): CursorContext {
  const lines = new LineIndex(text);
  const prefix = lines.linePrefix(offset);
  const word = /[A-Za-z0-9_.-]*$/.exec(prefix)![0];
  let rest = prefix.slice(0, prefix.length - word.length);
  const quoted = /["']$/.test(rest);
  if (quoted) rest = rest.slice(0, -1);
  const json = /\.json$/i.test(fileName) || text.trimStart().startsWith('{');
  const base: CursorContext = { word, wordStart: offset - word.length, quoted, json };
  // `key: |` or `"key": |`
  let m = /["']?([A-Za-z_]+)["']?\s*:\s*$/.exec(rest);
  if (m) return { ...base, key: m[1] };
  // inside a list value: `range: [0x84000000, |`
  m = /["']?([A-Za-z_]+)["']?\s*:\s*\[[^\]\[]*$/.exec(rest);
  if (m && /(\[|,)\s*$/.test(rest)) return { ...base, key: m[1] };
  // where a key goes: line start, after `- `, `{` or `,`
  if (/(^\s*(-\s+)?|[{,]\s*)$/.test(rest)) return { ...base, keys: keysAt(lines, offset, rest) };
  return base;
}

/** The keys that fit at the cursor: of a match mapping, a rule, or the top level. */
function keysAt(lines: LineIndex, offset: number, rest: string): readonly string[] {
  const flow = /["']?([A-Za-z_]+)["']?\s*:\s*\{[^{}]*$/.exec(rest);
  if (flow) return flow[1] === 'match' ? MATCH_KEYS : flow[1] === 'firmware' ? ['soc_id'] : RULE_KEYS;
  if (/^\s*-\s+$/.test(rest)) return RULE_KEYS;
  const indent = rest.length - rest.trimStart().length;
  if (indent === 0 && !rest.includes('{')) return TOP_KEYS;
  // the nearest line above indented less: its key is the parent
  for (let line = lines.position(offset).line - 1; line >= 0; line--) {
    const t = lines.lineText(line);
    if (!t.trim() || t.trimStart().startsWith('#')) continue;
    const ind = t.length - t.trimStart().length;
    const dash = /^(\s*)-\s+/.exec(t);
    if (dash && dash[0].length <= indent) return RULE_KEYS;
    if (ind < indent) {
      const k = /^\s*["']?([A-Za-z_]+)["']?\s*:/.exec(t)?.[1];
      return k === 'match' ? MATCH_KEYS : k === 'rules' ? RULE_KEYS : k === 'firmware' ? ['soc_id'] : RULE_KEYS;
    }
  }
  return TOP_KEYS;
}

// ---------------------------------------------------------------- hover

function md(value: string): MarkupContent {
  return { kind: 'markdown', value };
}

/** A number as written in a policy (0x hex, decimal, `_` between digits), or undefined. */
function numberOf(word: string): number | undefined {
  const m = /^(0x[0-9a-f_]+|[0-9][0-9_]*)$/i.exec(word);
  if (!m) return undefined;
  const n = Number(m[1].replaceAll('_', ''));
  return Number.isSafeInteger(n) && n >= 0 && n <= 0xffffffff ? n : undefined;
}

export function hoverAt(text: string, offset: number, fileName: string): Hover | undefined {
  const w = wordAt(text, offset);
  if (!w.word) return undefined;
  const lines = new LineIndex(text);
  const ctx = contextAt(text, w.start, fileName);
  const range: Range = lines.range(w.start, w.end);
  const key = ctx.key;
  const n = numberOf(w.word);
  let value: string | undefined;
  if (n !== undefined) {
    if (key === 'xen') value = describeXen(n);
    else if (key === 'imm') value = `SMC/HVC immediate ${formatId(n)}${n === 0xea1 ? ' (HVC #0xEA1: Xen hypercalls)' : ''}`;
    else if (key === 'id' || key === 'range' || n >= 0x1000000 || key === undefined) value = describeSmcccId(n);
  } else if (key === 'action' || key === 'default') {
    const a = w.word.toLowerCase();
    value = ACTION_DOCS[a] ? `**${a}**: ${ACTION_DOCS[a]}` : undefined;
  } else if (key === 'xen') value = describeXen(w.word);
  else if (key === 'owner') value = ownerDoc(w.word);
  else if (ctx.keys || (MATCH_DOCS[w.word] && /^\s*:/.test(text.slice(w.end).replace(/^["']/, '')))) {
    value = MATCH_DOCS[w.word] ? `**${w.word}** (match key): ${MATCH_DOCS[w.word]}` : undefined;
  }
  value ??= describeSmcccName(w.word) ?? describeXen(w.word) ?? (ACTION_DOCS[w.word] ? `**${w.word}**: ${ACTION_DOCS[w.word]}` : undefined);
  return value ? { contents: md(value), range } : undefined;
}

// ---------------------------------------------------------------- completion

export function completionsAt(text: string, offset: number, fileName: string): CompletionItem[] {
  const ctx = contextAt(text, offset, fileName);
  const lines = new LineIndex(text);
  const range = lines.range(ctx.wordStart, offset);
  // JSON values are strings ("0xc4000003"): add the quotes unless one is open
  const q = ctx.json && !ctx.quoted ? '"' : '';
  const item = (label: string, kind: number, detail: string, insert = label, doc?: string, filter?: string): CompletionItem => ({
    label, kind: kind as CompletionItem['kind'], detail,
    textEdit: { range, newText: `${q}${insert}${q}` },
    ...(filter ? { filterText: filter } : {}),
    ...(doc ? { documentation: md(doc) } : {}),
  });
  if (ctx.keys) {
    // JSON keys are quoted: `"id": ` (or `id": ` after a quote already typed)
    const key = (k: string) => (ctx.json ? `${ctx.quoted ? '' : '"'}${k}": ` : `${k}: `);
    return ctx.keys.map((k) => ({
      label: k, kind: KIND.property as CompletionItem['kind'], detail: MATCH_DOCS[k] ?? 'key',
      textEdit: { range, newText: key(k) },
    }));
  }
  switch (ctx.key) {
    case 'id':
    case 'range': {
      const byNumber = /^\d/.test(ctx.word);
      return SMCCC_NAMES.map((c) => {
        const hex = formatId(c.id);
        const it = item(c.name, KIND.function, `${hex} SMC${c.callconv} ${c.service}`, hex, undefined, byNumber ? `${hex} ${c.name}` : `${c.name} ${hex}`);
        it.labelDetails = { detail: ` SMC${c.callconv}`, description: hex };
        it.data = { id: c.id };
        it.sortText = `${c.name}:${c.callconv}`;
        return it;
      });
    }
    case 'xen':
      return XEN_ROWS.map((r) => item(r.name, KIND.function, `Xen hypercall ${r.nr}`, r.name, describeXen(r.nr)));
    case 'owner':
      return OWNER_NAMES.map((o) => item(o, KIND.enumMember, ownerDoc(o) ?? 'owner', o));
    case 'action':
    case 'default':
      return ACTIONS.map((a) => {
        if (a !== 'return') return item(a, KIND.keyword, ACTION_DOCS[a], a);
        const it = item(a, KIND.keyword, ACTION_DOCS[a], a);
        it.textEdit = { range, newText: `${q}return(x0=\${1:0})${q}` };
        it.insertTextFormat = SNIPPET;
        return it;
      });
    case 'conduit':
      return ['smc', 'hvc'].map((c) => item(c, KIND.enumMember, c === 'smc' ? 'SMC calls' : 'HVC calls (Xen hypercalls too)'));
    case 'kind':
      return KINDS.map((k) => item(k, KIND.enumMember, 'decoded call kind'));
    case 'firmware':
      return [item('implemented', KIND.enumMember, 'calls the built-in firmware answers'), item('unimplemented', KIND.enumMember, 'calls it would answer NOT_SUPPORTED / -ENOSYS')];
    case 'platform':
      return Object.keys(LEGACY_PLATFORMS).map((p) => item(p, KIND.enumMember, `legacy call table: ${LEGACY_PLATFORMS[p].calls.map((c) => c.name).join(', ')}`));
    case 'legacy':
      return LEGACY_CALLS.map((c) => item(c.name, KIND.function, `${c.platform} r12 = 0x${c.service.toString(16)}`));
    default:
      return [];
  }
}
