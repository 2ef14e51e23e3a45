// `trapdoor lsp --stdio`: the policy language server (vscode-languageserver) the
// VS Code extension starts for `*.trapdoor.yaml` and `trapdoor-policy.json` files.
// Diagnostics (diagnostics.ts), hover and completion (assist.ts) are plain
// functions of the text; this module only keeps the open documents and answers.
import { createConnection, StreamMessageReader, StreamMessageWriter, TextDocumentSyncKind } from 'vscode-languageserver/node';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../cli/args.js';
import { UsageError } from '../cli/errors.js';
import { policyDiagnostics } from './diagnostics.js';
import { completionsAt, hoverAt } from './assist.js';
import { LineIndex } from './text.js';

export const LSP_HELP = `Usage: trapdoor lsp --stdio

The policy language server (Language Server Protocol on stdin/stdout): diagnostics
for every problem of a policy file with its exact range (syntax, unknown keys and
actions, bad ids, rules an earlier rule shadows, ranges crossing SMCCC owners),
hover on ids and call names (the decoded call), completion of call names, Xen
hypercalls, owners and actions. The VS Code extension starts it.
`;

function fileNameOf(uri: string): string {
  try {
    return uri.startsWith('file:') ? fileURLToPath(uri) : uri;
  } catch {
    return uri;
  }
}

export async function lspCommand(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseCommandLine('lsp', argv, { stdio: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (o.help) { process.stdout.write(LSP_HELP); return 0; }
  if (positionals.length) throw new UsageError(`lsp takes no arguments (got ${positionals.join(' ')}; see trapdoor lsp --help)`);
  if (!o.stdio) throw new UsageError('lsp needs --stdio: the protocol runs on stdin/stdout (see trapdoor lsp --help)');

  const connection = createConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
  const docs = new Map<string, { text: string; version: number }>();

  const validate = (uri: string) => {
    const d = docs.get(uri);
    if (!d) return;
    void connection.sendDiagnostics({ uri, version: d.version, diagnostics: policyDiagnostics(d.text, fileNameOf(uri)) });
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Full },
      hoverProvider: true,
      completionProvider: { triggerCharacters: [':', ' ', '"', '[', ',', '{'] },
    },
    serverInfo: { name: 'trapdoor-policy' },
  }));
  connection.onDidOpenTextDocument(({ textDocument: t }) => {
    docs.set(t.uri, { text: t.text, version: t.version });
    validate(t.uri);
  });
  connection.onDidChangeTextDocument(({ textDocument: t, contentChanges }) => {
    const last = contentChanges.at(-1);
    if (!last) return;
    docs.set(t.uri, { text: last.text, version: t.version });
    validate(t.uri);
  });
  connection.onDidCloseTextDocument(({ textDocument: t }) => {
    docs.delete(t.uri);
    void connection.sendDiagnostics({ uri: t.uri, diagnostics: [] });
  });
  connection.onHover(({ textDocument, position }) => {
    const d = docs.get(textDocument.uri);
    if (!d) return null;
    return hoverAt(d.text, new LineIndex(d.text).offset(position), fileNameOf(textDocument.uri)) ?? null;
  });
  connection.onCompletion(({ textDocument, position }) => {
    const d = docs.get(textDocument.uri);
    if (!d) return [];
    return completionsAt(d.text, new LineIndex(d.text).offset(position), fileNameOf(textDocument.uri));
  });

  return new Promise<number>((resolve) => {
    connection.onExit(() => resolve(0));
    process.stdin.once('end', () => resolve(0));
    connection.listen();
  });
}
