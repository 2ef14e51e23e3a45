// Reading a policy file's YAML (JSON is YAML) into a document, or the one fault
// to report. The `yaml` package's parser is fed one token at a time so that
// nesting deeper than any policy needs is refused before its composer recurses
// into a stack overflow, and the tokens are checked for a ']' or '}' that closes
// the wrong bracket and for a string never closed: for those the parser's first
// error points elsewhere (at the '{' on line 1 of a JSON file, at the end of the
// file).
import { createRequire } from 'node:module';
import type { CST, Document, LineCounter } from 'yaml';

/** The YAML parser, loaded when a policy file is read (a run without one starts faster). */
let yaml: typeof import('yaml') | undefined;
export const Y = () => (yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));

/** Far above what a policy needs (about 6 levels: rules, a rule, match, range). */
export const MAX_DEPTH = 64;

export interface YamlFault {
  /** Offset into the text; the caller turns it into line and column. */
  offset: number;
  message: string;
  /** The yaml package's error code, when the fault is one of its errors. */
  code?: string;
}

/** On a syntax error, `doc` is what the parser made of the text anyway (the language server checks the part before the error). */
export type YamlRead = { ok: true; doc: Document.Parsed } | { ok: false; fault: YamlFault; doc?: Document.Parsed };

export function readYaml(text: string, lineCounter: LineCounter): YamlRead {
  const { Composer, Lexer, Parser } = Y();
  const parser = new Parser(lineCounter.addNewLine);
  const check = new TokenCheck();
  const tokens: CST.Token[] = [];
  lineCounter.addNewLine(0); // as Parser.parse() does before its first token
  for (const lexeme of new Lexer().lex(text)) {
    const at = parser.offset;
    check.see(lexeme, at);
    for (const t of parser.next(lexeme)) tokens.push(t);
    if (parser.stack.length > MAX_DEPTH) {
      return fault(at, `nesting is deeper than ${MAX_DEPTH} levels here: a policy needs only a few; check for a '[' or '{' that is never closed`);
    }
  }
  for (const t of parser.end()) tokens.push(t);
  const docs = [...new Composer({ intAsBigInt: true, uniqueKeys: true }).compose(tokens, true, text.length)];
  const doc = docs[0];
  if (docs.length > 1) return fault(docs[1].range[0], "a policy is one YAML document: remove this second one (and the '---' before it)");
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const first = syntaxFault(text, e.pos[0], e.message, e.code, check.unclosedQuote);
    const stray = check.stray;
    // A stray bracket explains the parser's errors up to it (the first one is
    // often at the '{' it closes); an error between the two is a fault of its own.
    if (stray && !(first.offset > (stray.opener?.offset ?? -1) && first.offset < stray.offset)) {
      return { ok: false, fault: strayFault(stray, lineCounter), doc };
    }
    return { ok: false, fault: first, doc };
  }
  return { ok: true, doc };
}

/**
 * The parser's error, at the fault where it reports a consequence further on: a
 * missing ',' right after a ']' or '}' is reported at that bracket (the ',' is
 * missing or the bracket closed its list too early), a missing closing quote at
 * the opening one (the parser reports it at the end of the file).
 */
function syntaxFault(text: string, offset: number, message: string, code: string, unclosedQuote: number | undefined): YamlFault {
  if (code === 'MISSING_CHAR' && message.startsWith('Missing ,')) {
    let i = offset - 1;
    while (i >= 0 && /\s/.test(text[i])) i--;
    if (text[i] === ']' || text[i] === '}') {
      return { offset: i, message: `add a ',' after this '${text[i]}', or remove it if it closes its list too early` };
    }
  }
  if (code === 'MISSING_CHAR' && message.startsWith('Missing closing') && unclosedQuote !== undefined) {
    const q = text[unclosedQuote];
    return { offset: unclosedQuote, message: `this ${q} starts a string that is never closed: add the closing ${q}` };
  }
  return { offset, message: message.replace(/\s+/g, ' ').trim(), code };
}

function fault(offset: number, message: string): YamlRead {
  return { ok: false, fault: { offset, message } };
}

const CLOSES: Record<string, string> = { ']': '[', '}': '{' };
const CLOSES_WITH: Record<string, string> = { '[': ']', '{': '}' };

interface Bracket {
  ch: string;
  offset: number;
}

interface Open extends Bracket {
  /** The last '[' and the last '{' closed directly inside this one. */
  lastInner?: Partial<Record<string, { opener: Bracket; closedAt: number }>>;
}

interface Stray extends Bracket {
  /** The bracket this one closes instead of its own kind; none when nothing is open. */
  opener?: Open;
}

function strayFault(stray: Stray, lineCounter: LineCounter): YamlFault {
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const { ch, opener } = stray;
  if (!opener) return { offset: stray.offset, message: `this '${ch}' has no '${CLOSES[ch]}' to close: remove it` };
  const inner = opener.lastInner?.[CLOSES[ch]];
  if (inner) {
    // e.g. `"rules": [ ... }], { ... } ]`: the list was closed once too early.
    return {
      offset: inner.closedAt,
      message: `this '${ch}' closes the '${inner.opener.ch}' opened at ${at(inner.opener.offset)}, and the '${ch}' at ${at(stray.offset)} closes it again: remove the one too many`,
    };
  }
  return {
    offset: stray.offset,
    message: `this '${ch}' closes the '${opener.ch}' opened at ${at(opener.offset)}: close that '${opener.ch}' with '${CLOSES_WITH[opener.ch]}' first, or remove this '${ch}'`,
  };
}

/** Whether a quoted scalar's source ends with its closing quote (not an escaped one: \\" or ''). */
function isClosed(quoted: string): boolean {
  const q = quoted[0];
  if (quoted.length < 2 || !quoted.endsWith(q)) return false;
  const escape = q === '"' ? '\\' : "'";
  let n = 0;
  for (let i = quoted.length - 2; i > 0 && quoted[i] === escape; i--) n++;
  return n % 2 === 0;
}

/** Tracks the open '[' and '{' of flow collections and keeps the first closer that does not match, and the first string never closed. */
class TokenCheck {
  private open: Open[] = [];
  private stopped = false;
  /** The first ']' or '}' that closes nothing or the other kind of bracket. */
  stray: Stray | undefined;
  /** Where a quoted string that runs to the end of the text starts. */
  unclosedQuote: number | undefined;

  see(lexeme: string, offset: number): void {
    if ((lexeme[0] === '"' || lexeme[0] === "'") && this.unclosedQuote === undefined && !isClosed(lexeme)) this.unclosedQuote = offset;
    if (this.stopped) return;
    if (lexeme === '[' || lexeme === '{') this.open.push({ ch: lexeme, offset });
    else if (lexeme === ']' || lexeme === '}') {
      const opener = this.open.pop();
      if (opener?.ch === CLOSES[lexeme]) {
        const parent = this.open.at(-1);
        if (parent) (parent.lastInner ??= {})[opener.ch] = { opener: { ch: opener.ch, offset: opener.offset }, closedAt: offset };
        return;
      }
      this.stopped = true;
      this.stray = { ch: lexeme, offset, opener };
    } else if (lexeme === '\u0018' || lexeme === '---') {
      // The lexer ended the flow collections (a line indented too little, a new
      // document): the parser's own error says what is wrong there.
      this.stopped = true;
    }
  }
}
