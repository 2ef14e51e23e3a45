// What a Session operation checks of its parameters, shared by the Session and the
// gdb client served on the emulation thread (gdbstub/hosted.ts): both paths accept
// and refuse the same requests, in the same words.
import { findRegister, type CpuArch } from '../machine/registers.js';
import { parseIntegerText } from '../policy/values.js';
import { fail, ok, type Failure, type Result } from '../result.js';
import type { Capabilities, Hex, StopEvent } from './contract.js';

/** An address or value as a client writes it ('0x40000000', or a bigint), of up to `bits` bits (a 128-bit register's value). */
export function parseHex(v: Hex | bigint, what: string, bits = 64): Result<bigint> {
  if (typeof v === 'bigint') return ok(v);
  const n = parseIntegerText(String(v));
  if (n !== undefined && n >= 0n && n < 1n << BigInt(bits)) return ok(n);
  return fail('invalid', `${what} '${v}' is not ${bits > 64 ? `a value of up to ${bits} bits` : 'an address or value'} (write e.g. 0x40000000)`);
}

export function checkVcpu(vcpu: number | undefined, vcpus: number): Result<0> {
  if (vcpu === undefined || vcpu === 0) return ok(0);
  return fail('not-found', `no vCPU ${vcpu}: this session has ${vcpus} (vCPU 0)`);
}

/** The first name this guest has no register for, as a failure. */
export function unknownRegister(arch: CpuArch, names: readonly string[]): Failure | undefined {
  for (const n of names) if (!findRegister(arch, n)) return fail('no-register', `no register named ${n} on ${arch}`);
  return undefined;
}

/** A read of more than one request may carry (or of no sensible length), as a failure. */
export function badReadLength(len: number): Failure | undefined {
  return !Number.isInteger(len) || len < 0 || len > 1 << 26 ? fail('invalid', `cannot read ${len} bytes: ask for 0 .. 64 MiB at a time`) : undefined;
}

export const RUNNING = 'the guest is already running (pause it first)';
export const ended = (last: StopEvent | undefined) => `the guest has ended: ${last?.message ?? 'exited'}`;

/** A watchpoint's address and length, checked (and whether this session's watchpoints can fire at all). */
export function watchArgs(caps: Capabilities, addr: Hex | bigint, len: number): Result<bigint> {
  if (!caps.watchpoints) return fail('unsupported', `watchpoints cannot fire: ${caps.why.watchpoints}`);
  const a = parseHex(addr, 'address');
  if (!a.ok) return a;
  if (!Number.isInteger(len) || len <= 0 || len > 0x1000_0000) return fail('invalid', `watchpoint length ${len} is out of range`);
  return a;
}
