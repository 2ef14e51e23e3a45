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
/**
 * The next window is prepared (allocated, mapped, its pages made writable) on a
 * native thread while the guest fills this one (td_log_ahead): it starts this far
 * before the current window ends, where the record that does not fit begins.
 */
const AHEAD_OVERLAP = 64 << 10;
const EMPTY = new Uint8Array(0);

export class TrapLog {
  private fd: number | undefined;
  private mapped: { fd: number; size: number; base: number; ptr: Ptr; view: Buffer } | undefined;
  /** The next window being prepared, and where it starts. */
  private ahead: { handle: Ptr; base: number } | undefined;

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

  /**
   * Maps a window that holds the end of the log and `len` bytes after it (the
   * prepared one when it does), and starts preparing the next; false if the file
   * cannot be mapped.
   */
  private remap(len = 0): boolean {
    const m = this.mapped!;
    const lib = unicorn();
    let ptr: Ptr = null;
    let base = m.size - (m.size % PAGE);
    const a = this.takeAhead();
    if (a.ptr && m.size >= a.base && m.size - a.base + len <= WINDOW) {
      ptr = a.ptr;
      base = a.base;
    } else if (a.ptr) lib.td_log_unmap(a.ptr, BigInt(WINDOW));
    if (m.ptr) lib.td_log_unmap(m.ptr, BigInt(m.view.length));
    m.ptr = null;
    if (!ptr) {
      const err = [0];
      ptr = lib.td_log_map(BigInt(m.fd), BigInt(base), BigInt(WINDOW), err);
      if (!ptr) return false;
    }
    m.ptr = ptr;
    m.base = base;
    m.view = Buffer.from(ffi().view(ptr, WINDOW));
    const next = base + WINDOW - AHEAD_OVERLAP;
    const handle = lib.td_log_ahead(BigInt(m.fd), BigInt(next), BigInt(WINDOW));
    if (handle) this.ahead = { handle, base: next };
    return true;
  }

  /** The prepared window (ptr null: none, or it failed, and the caller maps synchronously). */
  private takeAhead(): { ptr: Ptr; base: number } {
    const a = this.ahead;
    this.ahead = undefined;
    if (!a) return { ptr: null, base: 0 };
    const err = [0];
    return { ptr: unicorn().td_log_take(a.handle, err), base: a.base };
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
      if (m.size - m.base + len > WINDOW && !this.remap(len)) {
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
      const a = this.takeAhead();
      if (a.ptr) lib.td_log_unmap(a.ptr, BigInt(WINDOW));
      if (m.ptr) lib.td_log_unmap(m.ptr, BigInt(m.view.length));
      lib.td_log_close(BigInt(m.fd), BigInt(m.size));
      this.mapped = undefined;
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
