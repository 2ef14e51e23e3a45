// Guest output as lines for the terminal: `guest| ` before each. A line that never
// ends (a guest printing without newlines) is printed in pieces of at most
// MAX_LINE characters, so memory and time stay linear in what the guest prints.
export const MAX_LINE = 4096;

export function lineSplitter(format: (line: string) => string, maxLine = MAX_LINE) {
  let partial = '';
  return {
    /** Text in, the formatted complete lines (and full pieces) out. */
    push(text: string): string {
      let out = '';
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        out += format((partial + text.slice(start, nl)).replace(/\r$/, ''));
        partial = '';
        start = nl + 1;
      }
      partial += text.slice(start);
      while (partial.length >= maxLine) {
        out += format(partial.slice(0, maxLine));
        partial = partial.slice(maxLine);
      }
      return out;
    },
    /** What is left at the end of the run. */
    end(): string {
      const rest = partial;
      partial = '';
      return rest ? format(rest) : '';
    },
  };
}

/**
 * The progress of a long run on stderr. On a terminal: one line, redrawn in place,
 * cut to the terminal's width (a wrapped line could not be cleared) and cleared
 * before anything else is printed (`clear()`). Elsewhere (a pipe, a CI log): a
 * plain line every so often, as long builds print.
 */
export class Progress {
  private shown = false;
  constructor(private readonly stream: NodeJS.WriteStream) {}

  get live(): boolean { return !!this.stream.isTTY; }

  show(progress: string) {
    if (!this.live) { this.stream.write(`trapdoor: running: ${progress}\n`); return; }
    const text = `[trapdoor] ${progress} (Ctrl-C stops)`;
    const width = Math.max(10, (this.stream.columns || 80) - 1);
    this.stream.write(`\r\x1b[2K${text.length > width ? text.slice(0, width - 1) + '…' : text}`);
    this.shown = true;
  }

  clear() {
    if (!this.shown) return;
    this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}
