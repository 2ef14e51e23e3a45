// The Trapdoor extension: the thin layer that imports `vscode`. The logic lives in
// plain modules (model/: the Traps list, the decision choices, which trapdoor to
// run, the manifest), tested without VS Code. This file wires them to VS Code:
// the `trapdoor` debugger (`trapdoor debug-adapter` on stdio), the Traps view fed
// by the adapter's `trapdoor/trap` events, deciding a trap (status bar,
// notification, commands -> `trapdoor/decide`), and the policy language server
// (`trapdoor lsp --stdio`).
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { TrapList, itemOf, revealText, policyAddArguments, yamlRuleOf, type TrapRecord } from './model/traps.js';
import { decisionChoices, decideArguments, parseReturnValues, checkReturnValue, returnRegister, returnRegisterCount, type DecisionAction } from './model/decisions.js';
import { trapdoorCommand, expandWorkspaceFolder, type TrapdoorCommand } from './model/command.js';
import type { TrapEventBody } from '../../adapter/trap-feed.js';

const TYPE = 'trapdoor';
const REVEAL_SCHEME = 'trapdoor-trap';

function folders(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
}

function command(): TrapdoorCommand {
  return trapdoorCommand(vscode.workspace.getConfiguration('trapdoor').get<string>('path'), folders(), existsSync);
}

let log: vscode.LogOutputChannel;

export function activate(context: vscode.ExtensionContext): void {
  log = vscode.window.createOutputChannel('Trapdoor', { log: true });
  const traps = new TrapsView(context);
  context.subscriptions.push(
    log,
    vscode.debug.registerDebugAdapterDescriptorFactory(TYPE, {
      createDebugAdapterDescriptor(session) {
        const c = command();
        log.info(`starting ${c.command} ${[...c.args, 'debug-adapter'].join(' ')} (trapdoor from ${c.from})`);
        const cwd = session.workspaceFolder?.uri.fsPath ?? folders()[0];
        return new vscode.DebugAdapterExecutable(c.command, [...c.args, 'debug-adapter'], cwd ? { cwd } : {});
      },
    }),
    vscode.debug.registerDebugConfigurationProvider(TYPE, {
      resolveDebugConfiguration(_folder, config) {
        // F5 without a launch.json: run the guest of the active editor's folder... if the user says which
        if (!config.type && !config.request) {
          return vscode.window.showInformationMessage('Add a launch.json with a "trapdoor" configuration (Run > Add Configuration...).').then(() => undefined);
        }
        return config;
      },
    }),
    vscode.debug.registerDebugAdapterTrackerFactory(TYPE, {
      createDebugAdapterTracker: (session) => traps.tracker(session),
    }),
  );
  startPolicyServer(context);
}

export function deactivate(): Thenable<void> | undefined {
  return client?.stop();
}

// ---------------------------------------------------------------- the Traps view and deciding

class TrapsView implements vscode.TreeDataProvider<number> {
  private list = new TrapList();
  private session: vscode.DebugSession | undefined;
  private readonly changed = new vscode.EventEmitter<number | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 100);
  private readonly revealed = new vscode.EventEmitter<vscode.Uri>();
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(context: vscode.ExtensionContext) {
    const view = vscode.window.createTreeView('trapdoor.traps', { treeDataProvider: this });
    const cmd = (name: string, f: (...args: never[]) => unknown) => vscode.commands.registerCommand(name, f);
    context.subscriptions.push(
      view, this.status, this.changed, this.revealed,
      vscode.workspace.registerTextDocumentContentProvider(REVEAL_SCHEME, {
        onDidChange: this.revealed.event,
        provideTextDocumentContent: (uri) => {
          const seq = Number(/(\d+)/.exec(uri.path)?.[1]);
          const r = this.list.get(seq);
          return r ? revealText(r) : `trap #${seq} is no longer in the Traps view (it keeps the newest ${this.list.max})\n`;
        },
      }),
      cmd('trapdoor.decide', (seq?: number) => this.decide(undefined, seq)),
      cmd('trapdoor.decideEmulate', () => this.decide('emulate')),
      cmd('trapdoor.decideForward', () => this.decide('forward')),
      cmd('trapdoor.decideUndef', () => this.decide('undef')),
      cmd('trapdoor.decideReturn', () => this.decide('return')),
      cmd('trapdoor.decideSkip', () => this.decide('skip')),
      cmd('trapdoor.revealTrap', (seq: number) => this.reveal(seq)),
      cmd('trapdoor.addRule', (seq: number) => this.addRule(seq)),
      cmd('trapdoor.openTrapLog', () => this.openTrapLog()),
      cmd('trapdoor.clearTraps', () => { this.list.clear(); this.update(); }),
      vscode.debug.onDidStartDebugSession((s) => {
        if (s.type !== TYPE) return;
        this.session = s;
        this.list = new TrapList(vscode.workspace.getConfiguration('trapdoor').get<number>('maxTraps') ?? 1000);
        this.update();
      }),
      vscode.debug.onDidTerminateDebugSession((s) => {
        if (s === this.session) this.setPending(undefined);
      }),
    );
  }

  // ---- TreeDataProvider (elements are trap seqs)
  getChildren(element?: number): number[] {
    if (element !== undefined) return [];
    return this.list.items().map((i) => i.seq);
  }

  getTreeItem(seq: number): vscode.TreeItem {
    const r = this.list.get(seq);
    if (!r) return new vscode.TreeItem(`#${seq}`);
    const i = itemOf(r);
    const t = new vscode.TreeItem(i.label, vscode.TreeItemCollapsibleState.None);
    t.description = i.description;
    t.tooltip = i.tooltip;
    t.iconPath = new vscode.ThemeIcon(i.icon);
    t.contextValue = i.contextValue;
    t.id = String(seq);
    t.command = { command: 'trapdoor.revealTrap', title: 'Show the decoded record', arguments: [seq] };
    return t;
  }

  private update() {
    void vscode.commands.executeCommand('setContext', 'trapdoor.hasTraps', this.list.size > 0);
    this.changed.fire(undefined);
  }

  // ---- what the adapter says
  tracker(session: vscode.DebugSession): vscode.DebugAdapterTracker {
    return {
      onWillReceiveMessage: (m: { type?: string; command?: string }) => {
        if (m.type === 'request' && m.command === 'restart') {
          // a new run in the same debug session: its traps count from #1 again
          this.list.clear();
          this.setPending(undefined);
          this.update();
        } else if (m.type === 'request' && ['continue', 'next', 'stepIn', 'stepOut'].includes(m.command ?? '')) {
          this.list.resumed();
          this.setPending(undefined);
          this.update();
        }
      },
      onDidSendMessage: (m: { type?: string; event?: string; body?: unknown }) => {
        if (m.type !== 'event' || session !== this.session) return;
        if (m.event === 'trapdoor/trap') {
          const body = m.body as TrapEventBody;
          this.list.apply(body);
          if (body.pending) this.setPending(body.pending);
          this.update();
        } else if (m.event === 'stopped') {
          this.refreshSoon();
        } else if (m.event === 'terminated' || m.event === 'exited') {
          this.setPending(undefined);
        }
      },
    };
  }

  /** At a stop, the last records from the session (events may have left some out). */
  private refreshSoon() {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      const s = this.session;
      if (!s) return;
      s.customRequest('trapdoor/traps', { n: Math.min(this.list.max, 200) }).then(
        (b: { traps?: TrapRecord[] }) => { this.list.merge(b.traps ?? []); this.update(); },
        () => {},
      );
    }, 50);
  }

  private setPending(r: TrapRecord | undefined) {
    void vscode.commands.executeCommand('setContext', 'trapdoor.trapPending', !!r);
    if (!r) { this.status.hide(); return; }
    this.status.text = `$(debug-pause) Trap #${r.seq} ${r.decoded.name}: decide…`;
    this.status.tooltip = `${r.decoded.summary}\nClick to decide (Emulate, Forward, Inject UNDEF, Return values…, Skip)`;
    this.status.command = 'trapdoor.decide';
    this.status.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    this.status.show();
    if (vscode.workspace.getConfiguration('trapdoor').get<boolean>('notifyOnTrap') !== false) void this.notify(r);
  }

  private async notify(r: TrapRecord) {
    const choices = decisionChoices(this.context()).filter((c) => !c.disabled);
    const picked = await vscode.window.showInformationMessage(`Trap #${r.seq}: ${r.decoded.summary}`, ...choices.map((c) => c.label));
    const choice = choices.find((c) => c.label === picked);
    if (choice && this.list.pending?.seq === r.seq) await this.decide(choice.action);
  }

  private context() {
    const forward: unknown = this.session?.configuration.forward;
    return { forward: typeof forward === 'string' && forward !== '' };
  }

  // ---- deciding
  private async decide(action?: DecisionAction, _seq?: number) {
    const s = this.session;
    const r = this.list.pending;
    if (!s || !r) { void vscode.window.showWarningMessage('Trapdoor: no trap is waiting for a decision.'); return; }
    const choices = decisionChoices(this.context());
    let choice = choices.find((c) => c.action === action);
    if (!choice) {
      const picked = await vscode.window.showQuickPick(
        choices.map((c) => ({ label: c.label, detail: c.disabled ?? c.detail, choice: c })),
        { title: `Trap #${r.seq}: ${r.decoded.summary}`, placeHolder: 'Decide the trap' },
      );
      if (!picked) return;
      choice = picked.choice;
    }
    if (choice.disabled) { void vscode.window.showWarningMessage(`Trapdoor: cannot ${choice.label.toLowerCase()}: ${choice.disabled}`); return; }
    let values: Record<string, string> | undefined;
    if (choice.needsValues) {
      values = await this.askValues(r);
      if (!values) return;
    }
    try {
      const res = (await s.customRequest('trapdoor/decide', decideArguments(choice.action, values))) as { trap?: TrapRecord; text?: string };
      if (res.trap) this.list.merge([res.trap]);
      this.setPending(undefined);
      this.update();
      if (res.text) log.info(res.text);
      if (vscode.workspace.getConfiguration('trapdoor').get<boolean>('continueAfterDecide') !== false) {
        await vscode.commands.executeCommand('workbench.action.debug.continue');
      }
    } catch (e) {
      void vscode.window.showErrorMessage(`Trapdoor: ${(e as Error).message}`);
    }
  }

  /** One input box per result register: x0 first, then x1... until one is left empty. */
  private async askValues(r: TrapRecord): Promise<Record<string, string> | undefined> {
    const values: Record<string, string> = {};
    for (let n = 0; n < returnRegisterCount(r.arch); n++) {
      const reg = returnRegister(r.arch, n);
      const text = await vscode.window.showInputBox({
        title: `Trap #${r.seq} ${r.decoded.name}: return values`,
        prompt: n === 0 ? `${reg} (or several: x0=-2, x1=0x5)` : `${reg} (leave empty to finish)`,
        placeHolder: n === 0 ? '-2' : '',
        validateInput: (t) => {
          if (!t.trim()) return n === 0 ? 'give a value for ' + reg : undefined;
          if (t.includes('=')) { const p = parseReturnValues(t, r.arch); return 'error' in p ? p.error : undefined; }
          return checkReturnValue(reg, t.trim());
        },
      });
      if (text === undefined) return n === 0 ? undefined : values;
      if (!text.trim()) return values;
      const p = parseReturnValues(text.includes('=') ? text : `${reg}=${text}`, r.arch);
      if ('error' in p) return undefined;
      Object.assign(values, p.values);
      if (text.includes('=')) return values;
    }
    return values;
  }

  // ---- the tree's actions
  private async reveal(seq: number) {
    const uri = vscode.Uri.from({ scheme: REVEAL_SCHEME, path: `/trap-${seq}.txt` });
    this.revealed.fire(uri);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri), { preview: true });
  }

  private async addRule(seq: number) {
    const r = this.list.get(seq);
    if (!r) return;
    const actions = ['ask', 'emulate', 'undef', 'skip', 'forward', 'return(x0=0)'];
    const action = await vscode.window.showQuickPick(actions, { title: `A rule for ${r.decoded.name} (${r.decoded.id ?? r.decoded.kind})`, placeHolder: 'Action for calls like this one' });
    if (!action) return;
    const yaml = yamlRuleOf(r, action);
    await vscode.env.clipboard.writeText(yaml);
    const s = this.session;
    if (s) {
      try {
        const res = (await s.customRequest('trapdoor/policy', policyAddArguments(r, action))) as { rule?: { id: string; text: string } };
        const added = res.rule ? `added rule ${res.rule.id}: ${res.rule.text}` : 'rule added';
        void vscode.window.showInformationMessage(`Trapdoor: ${added} (this session, first in the policy). The YAML rule for your policy file is on the clipboard.`);
        return;
      } catch (e) {
        void vscode.window.showWarningMessage(`Trapdoor: ${(e as Error).message}. The YAML rule is on the clipboard.`);
        return;
      }
    }
    void vscode.window.showInformationMessage('Trapdoor: the YAML rule for your policy file is on the clipboard.');
  }

  private async openTrapLog() {
    const cfg = this.session?.configuration;
    const file = typeof cfg?.trapLog === 'string' ? expandWorkspaceFolder(cfg.trapLog, folders()) : undefined;
    if (file && existsSync(file)) {
      await vscode.window.showTextDocument(vscode.Uri.file(file));
      return;
    }
    // no trapLog in the launch configuration: the session's records, as JSON lines
    const s = this.session;
    let records = [...this.list.items()].reverse().map((i) => this.list.get(i.seq)!);
    if (s) {
      try {
        records = ((await s.customRequest('trapdoor/traps', { n: 1000 })) as { traps: TrapRecord[] }).traps;
      } catch { /* the session ended: what the view holds */ }
    }
    const doc = await vscode.workspace.openTextDocument({ language: 'jsonl', content: records.map((x) => JSON.stringify(x)).join('\n') + '\n' });
    await vscode.window.showTextDocument(doc);
  }
}

// ---------------------------------------------------------------- the policy language server

let client: LanguageClient | undefined;

function startPolicyServer(context: vscode.ExtensionContext) {
  const patterns = vscode.workspace.getConfiguration('trapdoor').get<string[]>('policyFiles') ?? ['**/*.trapdoor.yaml', '**/*.trapdoor.yml', '**/trapdoor-policy.json'];
  const selector = patterns.map((pattern) => ({ scheme: 'file', pattern }));
  const matches = (d: vscode.TextDocument) => vscode.languages.match(selector, d) > 0;
  const start = () => {
    if (client) return;
    const c = command();
    const exe = { command: c.command, args: [...c.args, 'lsp'], transport: TransportKind.stdio, options: { cwd: folders()[0] } };
    const serverOptions: ServerOptions = { run: exe, debug: exe };
    const clientOptions: LanguageClientOptions = { documentSelector: selector, outputChannel: log };
    client = new LanguageClient('trapdoor.policy', 'Trapdoor policy', serverOptions, clientOptions);
    log.info(`starting ${c.command} ${[...c.args, 'lsp', '--stdio'].join(' ')} (trapdoor from ${c.from})`);
    client.start().catch((e: Error) => log.info(`the policy language server did not start: ${e.message} (set trapdoor.path)`));
  };
  // started when the first policy file is open, not at every activation
  if (vscode.workspace.textDocuments.some(matches)) start();
  else {
    const sub = vscode.workspace.onDidOpenTextDocument((d) => {
      if (matches(d)) { sub.dispose(); start(); }
    });
    context.subscriptions.push(sub);
  }
}
