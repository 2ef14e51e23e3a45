// Errors are values until the edge: handlers return a GdbError, and this is the
// one place that turns it into the `Exx` reply gdb understands. The numbers are
// the POSIX errno values gdbserver uses, so `Exx` means the same from both.

export type ErrorKind =
  | 'malformed'   // the packet does not parse
  | 'invalid'     // it parses, but a value is out of range or unknown
  | 'memory'      // an address is not readable/writable
  | 'register'    // a register cannot be read or written
  | 'thread'      // no such thread
  | 'busy'        // the guest must be stopped first
  | 'too-big'     // more than a packet can carry
  | 'session';    // the core refused (message says why)

export interface GdbError {
  error: ErrorKind;
  /** For people: logged, and shown by `monitor` commands. */
  why: string;
}

const ERRNO: Record<ErrorKind, number> = {
  malformed: 0x16,  // EINVAL
  invalid: 0x16,    // EINVAL
  memory: 0x0e,     // EFAULT (E14)
  register: 0x05,   // EIO
  thread: 0x03,     // ESRCH
  busy: 0x10,       // EBUSY
  'too-big': 0x07,  // E2BIG
  session: 0x05,    // EIO
};

export function fail(error: ErrorKind, why: string): GdbError {
  return { error, why };
}

export function isError(v: unknown): v is GdbError {
  return typeof v === 'object' && v !== null && 'error' in v && 'why' in v;
}

/** The one mapping from an error value to its reply packet. */
export function errorPacket(e: GdbError): string {
  return 'E' + ERRNO[e.error].toString(16).padStart(2, '0');
}
