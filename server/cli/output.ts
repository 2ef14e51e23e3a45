// Guest output for the terminal: `guest| ` before each line. Text is printed as it
// arrives, so a prompt without a newline ("login: ") is on the screen while the
// guest waits; a line that never ends is broken every MAX_LINE characters, so
// memory and time stay linear in what the guest prints. When something else is
// printed on the same stream (a table row), `breakLine` ends the open line first
// and the rest of it continues after a new prefix.
import { cut } from '../session/render.js';

export const MAX_LINE = 4096;

export function guestLines(prefix: string, maxLine = MAX_LINE) {
  /** Characters on the open line (0: at the start of a line). */
  let col = 0;
  /** A '\r' at the end of the last text: dropped if a '\n' follows. */
  let cr = false;
  return {
    /** Text in, what to print out. */
    push(text: string): string {
      if (cr) { text = '\r' + text; cr = false; }
      if (text.endsWith('\r')) { cr = true; text = text.slice(0, -1); }
      let out = '';
      let start = 0;
      while (start < text.length) {
        const nl = text.indexOf('\n', start);
        const stop = nl < 0 ? text.length : nl;
        // the rest of this line, in pieces that fit
        while (start < stop) {
          if (col === maxLine) { out += '\n'; col = 0; }
          const n = Math.min(stop - start, maxLine - col);
          if (col === 0) out += prefix;
          out += text.slice(start, start + n);
          col += n;
          start += n;
        }
        if (nl < 0) break;
        if (out.endsWith('\r')) out = out.slice(0, -1);
        if (col === 0) out += prefix.trimEnd();
        out += '\n';
        col = 0;
        start = nl + 1;
      }
      return out;
    },
    /** Ends the open line, if any (before other output, and at the end of the run). */
    breakLine(): string {
      if (!col) return '';
      col = 0;
      return '\n';
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
    this.stream.write(`\r\x1b[2K${cut(text, width)}`);
    this.shown = true;
  }

  clear() {
    if (!this.shown) return;
    this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}
