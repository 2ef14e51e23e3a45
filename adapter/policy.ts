// `trapdoor/policy` (the rules and the default, listed and changed rule by rule
// with the policy's version, as the Session contract does it) and completion of
// debug console lines (the shared console table's completeConsole).
import type { DebugProtocol } from '@vscode/debugprotocol';
import { completeConsole } from '../server/session/console.js';
import type { AddRuleParams } from '../server/session/contract.js';
import type { Result } from '../server/result.js';
import type { Host } from './host.js';

const USAGE = 'trapdoor/policy takes {op: "list"}, {op: "add", rule: "0x82000010=undef", position?: "first"|"last", version?}, {op: "remove", id, version?} or {op: "default", action, version?}';

interface PolicyArgs { op?: unknown; rule?: unknown; id?: unknown; action?: unknown; position?: unknown; version?: unknown }

export async function policyRequest(host: Host, response: DebugProtocol.Response, raw: unknown): Promise<void> {
  const c = host.need(response);
  if (!c) return;
  const a = (raw ?? {}) as PolicyArgs;
  const op = a.op ?? 'list';
  if (a.version !== undefined && !Number.isInteger(a.version)) return host.fail(response, `trapdoor/policy: version must be the number policy lists (got ${JSON.stringify(a.version)})`);
  const version = a.version as number | undefined;
  const text = (v: unknown, what: string) => (typeof v === 'string' && v.trim() ? v.trim() : undefined) ?? (host.fail(response, `trapdoor/policy ${String(op)} needs ${what}: ${USAGE}`), undefined);
  // the worker answers between runs: a running guest is paused for the change and runs on after
  let r: Result<unknown>;
  switch (op) {
    case 'list':
      r = await host.whileStopped(c, () => c.policy());
      break;
    case 'add': {
      const rule = text(a.rule, '{rule: "MATCH=ACTION"}');
      if (rule === undefined) return;
      if (a.position !== undefined && a.position !== 'first' && a.position !== 'last') return host.fail(response, `trapdoor/policy add: position is "first" or "last" (default last), not ${JSON.stringify(a.position)}`);
      const p: AddRuleParams = { rule, position: a.position as 'first' | 'last' | undefined, idPrefix: 'dap-', version };
      r = await host.whileStopped(c, () => c.addRule(p));
      break;
    }
    case 'remove': {
      const id = text(a.id, '{id} (list shows the ids)');
      if (id === undefined) return;
      r = await host.whileStopped(c, () => c.removeRule({ id, version }));
      break;
    }
    case 'default': {
      const action = text(a.action, '{action}');
      if (action === undefined) return;
      r = await host.whileStopped(c, async () => {
        const set = await c.setDefault({ action, version });
        if (!set.ok) return set;
        const pol = await c.policy();
        return pol.ok ? { ok: true as const, value: { version: set.value.version, default: pol.value.default } } : pol;
      });
      break;
    }
    default:
      return host.fail(response, `trapdoor/policy: no op ${JSON.stringify(op)}: ${USAGE}`);
  }
  if (!r.ok) return host.fail(response, `trapdoor/policy ${String(op)}: ${r.error}`, r.code === 'conflict' ? 3 : 1);
  response.body = r.value;
  host.sendResponse(response);
}

export function completions(host: Host, response: DebugProtocol.CompletionsResponse, args: DebugProtocol.CompletionsArguments, arch: 'aarch64' | 'arm' = 'aarch64') {
  // only the first line of a multi-line input is a command
  const line = args.line !== undefined && host.lines.fromClient(args.line) > 1 ? '' : args.text.split('\n')[0];
  // completeConsole counts from 0, our columns from 1
  const done = completeConsole(line, host.lines.columnFromClient(args.column) - 1, arch);
  response.body = {
    targets: done.items.map((label) => ({ label, start: host.lines.columnToClient(done.start + 1), length: done.length, type: 'keyword' as const })),
  };
  host.sendResponse(response);
}
