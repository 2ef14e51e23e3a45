// Debug adapter benchmark (`npm run bench:dap`): stepping by instruction from VS
// Code's side. A DebugClient (@vscode/debugadapter-testsupport) drives
// `trapdoor debug-adapter` over stdio; each step is what VS Code does at every
// stop: stepIn with granularity 'instruction', the stopped event, then threads,
// stackTrace, scopes and the variables of the Registers scope. Against it, in
// the same run and on the same guest: gdb-multiarch -batch doing stepi round trips
// on `trapdoor run --gdb`. Rounds alternate between the two; medians are compared.
// Goal: DAP steps per second >= 1x the gdb stub's stepi. Ends with one JSON line.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { ROOT } from './root.js';
import { freePort, runGdb, stepiScript, waitForPort } from './gdb-run.js';

const STEPS = Number(process.env.BENCH_STEPS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BIN = path.join(ROOT, 'bin/trapdoor.js');
const tmp = mkdtempSync(path.join(tmpdir(), 'trapdoor-bench-dap-'));

function build(): string {
  const src = path.join(tmp, 'guest.S');
  writeFileSync(src, '.global _start\n_start:\n  mov x1, #0\nloop:\n  add x1, x1, #1\n  add x2, x2, #3\n  eor x3, x3, x1\n  b loop\n');
  execFileSync('aarch64-linux-gnu-as', ['-o', path.join(tmp, 'guest.o'), src]);
  const elf = path.join(tmp, 'guest.elf');
  execFileSync('aarch64-linux-gnu-ld', ['-Ttext=0x40200000', '-e', '_start', '-o', elf, path.join(tmp, 'guest.o')]);
  return elf;
}

/** DebugClient.start spawns `runtime executable` without arguments: connect it to our own child's pipes. */
class PipeClient extends DebugClient {
  attach(proc: ChildProcess) { this.connect(proc.stdout!, proc.stdin!); }
}

/** DAP steps per second. */
async function dap(elf: string): Promise<number> {
  const proc = spawn(process.execPath, [BIN, 'debug-adapter'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const dc = new PipeClient(process.execPath, BIN, 'trapdoor');
  dc.defaultTimeout = 60_000;
  dc.attach(proc);
  try {
    await dc.initializeRequest();
    const entry = dc.waitForEvent('stopped');
    await dc.launchRequest({ program: elf, stopOnEntry: true } as never);
    await dc.configurationDoneRequest();
    await entry;
    const threadId = 1;
    const step = async () => {
      const stopped = dc.waitForEvent('stopped');
      await dc.stepInRequest({ threadId, granularity: 'instruction' });
      await stopped;
      await dc.threadsRequest();
      const st = await dc.stackTraceRequest({ threadId, startFrame: 0, levels: 20 });
      const sc = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
      const regs = sc.body.scopes.find((s) => s.name === 'Registers');
      if (!regs) throw new Error('no Registers scope');
      const v = await dc.variablesRequest({ variablesReference: regs.variablesReference });
      if (!v.body.variables.some((x) => x.name === 'pc')) throw new Error('no pc in the Registers scope');
    };
    for (let i = 0; i < 50; i++) await step();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < STEPS; i++) await step();
    return STEPS / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    await dc.disconnectRequest({ terminateDebuggee: true }).catch(() => {});
    proc.kill();
  }
}

/** gdb stepi round trips per second on `trapdoor run --gdb`. */
async function gdbStub(elf: string): Promise<number> {
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, 'run', elf, '--gdb', `127.0.0.1:${port}`, '--wait'], { stdio: 'ignore' });
  try {
    await waitForPort(port);
    const v = await runGdb(tmp, elf, port, stepiScript(STEPS));
    return STEPS / v.stepi;
  } finally {
    proc.kill();
  }
}

async function main() {
  const elf = build();
  console.log(`debug adapter benchmark: ${STEPS} instruction steps (stepIn + threads, stackTrace, scopes, Registers variables) against ${STEPS} gdb stepi; median of ${ROUNDS} rounds`);
  const d: number[] = [];
  const g: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    g.push(await gdbStub(elf));
    d.push(await dap(elf));
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const range = (v: number[]) => `${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)}`;
  const ratio = median(d) / median(g);
  console.log(`  DAP steps          ${median(d).toFixed(0)} steps/s (${range(d)})`);
  console.log(`  gdb stub stepi     ${median(g).toFixed(0)} steps/s (${range(g)})`);
  console.log(`  ratio              ${ratio.toFixed(2)}x (goal >= 1x${ratio >= 1 ? '' : ', MISSED'})`);
  console.log(JSON.stringify({ bench: 'dap', dapStepsPerSec: median(d), gdbStepsPerSec: median(g), ratio, goal: ratio >= 1 }));
}

main().finally(() => rmSync(tmp, { recursive: true, force: true })).catch((e) => { console.error(e); process.exitCode = 1; });
