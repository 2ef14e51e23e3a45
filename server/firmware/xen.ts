// The few Xen hypercalls a guest needs answered to believe it runs on Xen 4.17:
// xen_version, console_io(CONSOLEIO_write) (the text is guest output) and
// sched_op(SCHEDOP_shutdown) (the run ends with the reason). Everything else gets
// what Xen gives an unknown hypercall: -ENOSYS.
import { CONSOLEIO, SCHEDOP, XENVER } from '../decode/xen-hypercalls.js';
import type { CallContext, DecodedCall } from '../decode/types.js';
import type { FirmwareAnswer, Responder } from './types.js';

export const XEN_ENOSYS = -38;
export const XEN_EFAULT = -14;
export const XEN_VERSION = { major: 4, minor: 17 } as const;
const XEN_PAGE_SIZE = 4096;
const HYPERCALL = { console_io: 18, xen_version: 17, sched_op: 29 } as const;
/** Largest console write read in one call (Xen itself writes in pieces and continues). */
const CONSOLE_WRITE_MAX = 1 << 20;

const opNumber = (ops: Readonly<Record<number, string>>, name: string): number => {
  const n = Object.entries(ops).find(([, v]) => v === name)?.[0];
  if (n === undefined) throw new Error(`unknown ${name}`);
  return Number(n);
};
const XENVER_version = opNumber(XENVER, 'XENVER_version');
const XENVER_get_features = opNumber(XENVER, 'XENVER_get_features');
const XENVER_pagesize = opNumber(XENVER, 'XENVER_pagesize');
const CONSOLEIO_write = opNumber(CONSOLEIO, 'CONSOLEIO_write');
const SCHEDOP_shutdown = opNumber(SCHEDOP, 'SCHEDOP_shutdown');

/** Hypercall argument n as the hypervisor reads it (32 bits on AArch32). */
function xenArg(ctx: CallContext, n: number): bigint {
  const v = ctx.args[n] ?? 0n;
  return ctx.arch === 'aarch64' ? v : v & 0xffffffffn;
}

/** console_io(CONSOLEIO_write, count, buffer): the bytes become guest output; 0 = written. */
function consoleWrite(ctx: CallContext): FirmwareAnswer {
  const count = Math.min(Number(xenArg(ctx, 1) & 0xffffffffn), CONSOLE_WRITE_MAX);
  if (count === 0) return { handled: true, regs: [0n] };
  const bytes = ctx.readMem?.(xenArg(ctx, 2), count) ?? null;
  if (!bytes || bytes.length < count) return { handled: true, regs: [BigInt(XEN_EFAULT)], note: 'console buffer not readable: -EFAULT' };
  return { handled: true, regs: [0n], output: bytes.slice(0, count) };
}

/** sched_op(SCHEDOP_shutdown, &reason): does not return; the run ends with the reason. */
function shutdown(call: DecodedCall): FirmwareAnswer {
  const reason = call.fields.reason;
  if (reason === undefined) return { handled: true, regs: [BigInt(XEN_EFAULT)], note: 'sched_shutdown not readable: -EFAULT' };
  return { handled: true, regs: [], effect: 'xen_shutdown', detail: { reason: String(reason) } };
}

export function xenNotImplemented(): FirmwareAnswer {
  return { handled: false, regs: [BigInt(XEN_ENOSYS)], note: 'not implemented by the built-in firmware: -ENOSYS' };
}

/** Whether respond() answers this hypercall (otherwise -ENOSYS), without answering it. */
export function xenAnswers(call: DecodedCall): boolean {
  if (call.kind !== 'xen') return false;
  const { nr, subop } = call.fields;
  return (nr === HYPERCALL.console_io && subop === CONSOLEIO_write) || (nr === HYPERCALL.sched_op && subop === SCHEDOP_shutdown)
    || (nr === HYPERCALL.xen_version && (subop === XENVER_version || subop === XENVER_pagesize || subop === XENVER_get_features));
}

export const xenResponder = {
  respond(ctx: CallContext, call: DecodedCall): FirmwareAnswer {
    if (call.kind !== 'xen') return xenNotImplemented();
    if (call.fields.nr === HYPERCALL.console_io && call.fields.subop === CONSOLEIO_write) return consoleWrite(ctx);
    if (call.fields.nr === HYPERCALL.sched_op && call.fields.subop === SCHEDOP_shutdown) return shutdown(call);
    if (call.fields.nr !== HYPERCALL.xen_version) return xenNotImplemented();
    switch (call.fields.subop) {
      case XENVER_version:
        return { handled: true, regs: [BigInt((XEN_VERSION.major << 16) | XEN_VERSION.minor)], note: 'Xen 4.17' };
      case XENVER_pagesize:
        return { handled: true, regs: [BigInt(XEN_PAGE_SIZE)] };
      case XENVER_get_features: {
        // struct xen_feature_info { unsigned int submap_idx; uint32_t submap; }: no features in any submap.
        return { handled: true, regs: [0n], memWrites: [{ addr: xenArg(ctx, 1) + 4n, bytes: new Uint8Array(4) }] };
      }
      default:
        return xenNotImplemented();
    }
  },
} satisfies Responder;
