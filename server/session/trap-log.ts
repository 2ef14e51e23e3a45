// The trap log (--trap-log FILE): every record as one JSON line, in the kernel's
// hands before the guest runs on past the trap (a kill -9 loses nothing already
// trapped). A regular file is written through a shared mapping (native
// td_log_*): a record costs a copy, not a write() (a write() per record capped
// the log at ~90 k records/s here). Anything else (a pipe, /dev/stdout) gets a
// write() per record. A write that fails (a full disk, /dev/full) is an `io`
// error that the trap path turns into an internal stop: the run never goes on
// with records lost.
import { closeSync, openSync, writeSync } from 'node:fs';
import { ffi, unicorn, type Ptr } from '../machine/unicorn.js';
import { CoreError } from '../result.js';
import { recordsEnd, WINDOW } from './trap-log-end.js';

const PAGE = 4096;
const EMPTY = new Uint8Array(0);

export class TrapLog {
  private fd: number | undefined;
  private mapped: { fd: number; size: number; base: number; ptr: Ptr; view: Buffer } | undefined;

  constructor(readonly path: string) {
    const lib = unicorn();
    const size = [0n];
    const fd = Number(lib.td_log_open(path, size));
    if (fd >= 0) {
      this.mapped = { fd, size: recordsEnd(path, Number(size[0])), base: 0, ptr: null, view: Buffer.alloc(0) };
      if (this.remap()) return;
      lib.td_log_close(fd, size[0]);
      this.mapped = undefined;
    }
    try {
      this.fd = openSync(path, 'a');
    } catch (e) {
      throw new CoreError('io', `cannot open the trap log ${path}: ${(e as Error).message}`);
    }
  }

  /** Maps the window that holds the end of the log; false if the file cannot be mapped. */
  private remap(): boolean {
    const m = this.mapped!;
    const lib = unicorn();
    if (m.ptr) lib.td_log_unmap(m.ptr, BigInt(m.view.length));
    m.ptr = null;
    const base = m.size - (m.size % PAGE);
    const err = [0];
    const ptr = lib.td_log_map(BigInt(m.fd), BigInt(base), BigInt(WINDOW), err);
    if (!ptr) return false;
    m.ptr = ptr;
    m.base = base;
    m.view = Buffer.from(ffi().view(ptr, WINDOW));
    return true;
  }

  /**
   * Appends one record and its newline. Through the mapping the newline is stored
   * after the record, so a record is whole exactly when its newline is there (a
   * kill -9 during the copy leaves a record without one, which readers drop).
   */
  write(line: string) {
    this.writeRecord(line, EMPTY, EMPTY, '');
  }

  /**
   * Appends one record given in parts (the record path's head, its argument list and
   * decode as bytes, and its tail): through the mapping each part is copied in place,
   * so the line is never joined into one string first, and the parts that repeat
   * from trap to trap are not encoded again.
   */
  writeRecord(head: string, args: Uint8Array, decoded: Uint8Array, tail: string) {
    const m = this.mapped;
    // room for the worst case (3 bytes a character) and the newline
    const len = (head.length + tail.length) * 3 + args.length + decoded.length + 1;
    if (m && len < WINDOW - PAGE) {
      if (m.size - m.base + len > WINDOW && !this.remap()) {
        throw new CoreError('io', `writing the trap log ${this.path} failed: the file cannot be extended (disk full?)`);
      }
      const v = m.view;
      const start = m.size - m.base;
      let at = start + v.write(head, start);
      v.set(args, at);
      at += args.length;
      v.set(decoded, at);
      at += decoded.length;
      if (tail) at += v.write(tail, at);
      v[at] = 0x0a;
      m.size += at - start + 1;
      return;
    }
    const line = Buffer.concat([Buffer.from(head), args, decoded, Buffer.from(tail + '\n')]);
    if (m) {
      // a line longer than a window: append it with write() after what is mapped
      const fd = openSync(this.path, 'r+');
      try { m.size += writeSync(fd, line, 0, line.length, m.size); } finally { closeSync(fd); }
      return;
    }
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, line);
    } catch (e) {
      throw new CoreError('io', `writing the trap log ${this.path} failed: ${(e as Error).message}`);
    }
  }

  close() {
    const m = this.mapped;
    if (m) {
      const lib = unicorn();
      if (m.ptr) lib.td_log_unmap(m.ptr, BigInt(m.view.length));
      lib.td_log_close(BigInt(m.fd), BigInt(m.size));
      this.mapped = undefined;
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
