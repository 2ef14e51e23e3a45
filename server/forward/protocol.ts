// The forward protocol (docs/forward-protocol.md), shared by the client and the
// reference stub so both compile against one definition: JSON-RPC 2.0 over TCP
// with LSP-style Content-Length framing, one request method.
import type { DecodedCall } from '../decode/types.js';
import type { TrapRecord } from '../session/trap-record.js';

/** What the endpoint is told of a trap: the trap record's call site and a trimmed decode. */
export type ForwardCallParams = Pick<TrapRecord, 'seq' | 'cpu' | 'arch' | 'conduit' | 'imm' | 'pc' | 'args'> & {
  decoded: Pick<DecodedCall, 'kind' | 'owner' | 'name' | 'id' | 'summary'>;
};

export interface ForwardCallResult {
  /** Register values to write back, e.g. { x0: "0x10001" } or { r0: -1 }. */
  regs: Record<string, string | number>;
}

/** JSON-RPC error code the stub uses when its table has no answer for a call. */
export const NO_ANSWER = -32001;

/** The fields of a trap that the protocol sends; `decoded` is trimmed to its summary. */
export function toForwardParams(trap: Pick<TrapRecord, 'seq' | 'cpu' | 'arch' | 'conduit' | 'imm' | 'pc' | 'args' | 'decoded'>): ForwardCallParams {
  const d = trap.decoded;
  const decoded: ForwardCallParams['decoded'] = { kind: d.kind, owner: d.owner, name: d.name, summary: d.summary };
  if (d.id !== undefined) decoded.id = d.id;
  return { seq: trap.seq, cpu: trap.cpu, arch: trap.arch, conduit: trap.conduit, imm: trap.imm, pc: trap.pc, args: trap.args, decoded };
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

export interface Endpoint {
  host: string;
  port: number;
}

/** `tcp://HOST:PORT` (IPv6 hosts in brackets). Nothing else is accepted. */
export function parseEndpoint(text: string): Checked<Endpoint> {
  const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(text.trim());
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) {
    return { ok: false, error: `forward endpoint '${text}' is not tcp://HOST:PORT: write e.g. tcp://127.0.0.1:9000` };
  }
  return { ok: true, value: { host: m[1].replace(/^\[|\]$/g, ''), port } };
}

const FAMILIES: Record<string, { last: number; bits: number }> = {
  x: { last: 17, bits: 64 },
  w: { last: 17, bits: 32 },
  r: { last: 14, bits: 32 },
};

/**
 * A register value from the wire: number (safe integer) or string (decimal or 0x
 * hex, optional '-'). Checked against the register's width; negative allowed.
 */
export function regValue(reg: string, v: unknown): Checked<bigint> {
  const m = /^([xwr])(\d{1,2})$/.exec(reg);
  const family = m ? FAMILIES[m[1]] : undefined;
  if (!m || !family || Number(m[2]) > family.last) {
    return { ok: false, error: `'${reg}' is not a result register (x0..x17, w0..w17, r0..r14)` };
  }
  let n: bigint | undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === 'string') {
    const s = /^(-)?(0x[0-9a-f]+|[0-9]+)$/i.exec(v.trim());
    if (s) n = s[1] ? -BigInt(s[2]) : BigInt(s[2]);
  }
  if (n === undefined) return { ok: false, error: `${reg} = ${JSON.stringify(v)} is not an integer (write "0x10001", "-1" or 5)` };
  if (n < -(1n << BigInt(family.bits - 1)) || n >= 1n << BigInt(family.bits)) {
    return { ok: false, error: `${reg} = ${String(v)} does not fit in ${family.bits} bits` };
  }
  return { ok: true, value: n };
}

/** Checks a whole `regs` object. */
export function regsOf(regs: unknown): Checked<Record<string, bigint>> {
  if (typeof regs !== 'object' || regs === null || Array.isArray(regs)) {
    return { ok: false, error: 'regs must be an object like {"x0": "0x0"}' };
  }
  const out: Record<string, bigint> = {};
  for (const [reg, v] of Object.entries(regs)) {
    const r = regValue(reg, v);
    if (!r.ok) return r;
    out[reg] = r.value;
  }
  return { ok: true, value: out };
}
