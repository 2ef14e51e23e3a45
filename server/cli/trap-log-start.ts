// `--trap-log FILE` at the start of a run: the file is emptied (or, with --append,
// cut back to the end of its last whole record) and this run's header record is
// written first, so runs in one file can be told apart (each record has `seq`; the
// header has `trapdoor`, the version). The engine's TrapLog then goes on after it.
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { recordsEnd } from '../session/trap-log-end.js';
import { RunError, UsageError } from './errors.js';
import { version } from './version.js';

export interface TrapLogHeader {
  trapdoor: string;
  image: string;
  options: string[];
  started: string;
}

/** Starts the log of a run of `image` (any path) made with `options` (as the user gave them). */
export function startTrapLog(file: string, append: boolean, image: string, options: string[]): void {
  const header: TrapLogHeader = { trapdoor: version(), image: path.resolve(image), options, started: new Date().toISOString() };
  let fd: number;
  try {
    fd = openSync(file, append ? 'a+' : 'w');
  } catch (e) {
    throw new UsageError(openError(file, e as NodeJS.ErrnoException));
  }
  try {
    const st = fstatSync(fd);
    let at: number | null = null;
    if (append && st.isFile()) {
      // a run killed with -9 may have left a partial record and zero bytes: write over them
      at = recordsEnd(file, st.size);
      ftruncateSync(fd, at);
    }
    writeSync(fd, JSON.stringify(header) + '\n', at);
  } catch (e) {
    throw new RunError(`writing the trap log ${file} failed: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

function openError(file: string, e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT': return `cannot create the trap log ${file}: the folder ${path.dirname(path.resolve(file))} does not exist (create it first, or give another path)`;
    case 'EISDIR': return `--trap-log ${file} is a folder: give a file in it, e.g. ${path.join(file, 'traps.jsonl')}`;
    case 'EACCES': case 'EPERM': return `cannot write the trap log ${file}: permission denied (give a path you can write)`;
    case 'EROFS': return `cannot write the trap log ${file}: the file system is read-only (give another path)`;
    default: return `cannot open the trap log ${file}: ${e.message}`;
  }
}
