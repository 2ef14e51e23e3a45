// The trap log (--trap-log FILE): every record as one JSON line, written to the
// file before the guest runs on past the trap (a kill -9 loses nothing already
// trapped). A write that fails (a full disk, /dev/full) is an `io` error that the
// trap path turns into an internal stop: the run never goes on with records lost.
import { closeSync, openSync, writeSync } from 'node:fs';
import { CoreError } from '../result.js';

export class TrapLog {
  private fd: number | undefined;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'a');
    } catch (e) {
      throw new CoreError('io', `cannot open the trap log ${path}: ${(e as Error).message}`);
    }
  }

  write(line: string) {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, line);
    } catch (e) {
      throw new CoreError('io', `writing the trap log ${this.path} failed: ${(e as Error).message}`);
    }
  }

  close() {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
