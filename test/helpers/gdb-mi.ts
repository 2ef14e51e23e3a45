// gdb-multiarch kept running on its machine interface (MI), for tests where gdb
// stays attached while other clients act: each command waits for its own result
// record, and the console output (monitor commands) is collected with it.
import { spawn, type ChildProcess } from 'node:child_process';

const unquote = (s: string) => s.replace(/\\(n|t|"|\\)/g, (_, c: string) => ({ n: '\n', t: '\t', '"': '"', '\\': '\\' })[c]!);

export class GdbMi {
  private readonly proc: ChildProcess;
  /** Every line gdb printed. */
  readonly lines: string[] = [];
  private token = 100;
  private wake: (() => void) | undefined;
  private partial = '';

  constructor(elf: string) {
    this.proc = spawn('gdb-multiarch', ['--interpreter=mi2', '-q', '-nx', elf], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => {
      const parts = (this.partial + d.toString()).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts.map((l) => l.replace(/\r$/, '')));
      this.wake?.();
    });
    this.proc.stderr!.on('data', (d: Buffer) => { this.lines.push(`stderr: ${d}`); this.wake?.(); });
  }

  /** The first line from index `from` on that matches, waiting for it. */
  async line(re: RegExp, from = 0, ms = 30_000): Promise<{ line: string; index: number }> {
    const until = Date.now() + ms;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i])) return { line: this.lines[i], index: i };
      if (Date.now() > until) throw new Error(`gdb printed no line like ${re} in ${ms} ms:\n${this.lines.slice(-30).join('\n')}`);
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, 200); });
    }
  }

  /** Runs one MI command: its result record (^done, ^running, ^connected, ^error) and the console text printed before it. */
  async cmd(text: string, ms = 30_000): Promise<{ result: string; console: string; index: number }> {
    const t = ++this.token;
    const from = this.lines.length;
    this.proc.stdin!.write(`${t}${text}\n`);
    const { line, index } = await this.line(new RegExp(`^${t}\\^`), from, ms);
    const console = this.lines.slice(from, index).filter((l) => /^[~@]"/.test(l)).map((l) => unquote(l.slice(2, -1))).join('');
    return { result: line, console, index };
  }

  /** A console command (`monitor trap`, `info breakpoints`): what it printed. */
  async console(text: string): Promise<string> {
    const r = await this.cmd(`-interpreter-exec console "${text.replace(/["\\]/g, '\\$&')}"`);
    if (!r.result.includes('^done')) throw new Error(`gdb: ${text}: ${r.result}`);
    return r.console;
  }

  /** Resumes (-exec-continue) and waits for the stop: the *stopped record and the console text until it. */
  async cont(ms = 30_000): Promise<{ stopped: string; console: string }> {
    const r = await this.cmd('-exec-continue', ms);
    if (!r.result.includes('^running')) throw new Error(`gdb: continue: ${r.result}`);
    const s = await this.line(/^\*stopped/, r.index, ms);
    const console = this.lines.slice(r.index, s.index).filter((l) => /^[~@]"/.test(l)).map((l) => unquote(l.slice(2, -1))).join('');
    return { stopped: s.line, console };
  }

  /** Ends gdb at once (a vanished client: the session stays as it is). */
  kill() { this.proc.kill('SIGKILL'); }
}
