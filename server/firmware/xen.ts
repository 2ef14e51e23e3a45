// The few Xen hypercalls a guest needs answered to believe it runs on Xen 4.17.
// Everything else gets what Xen gives an unknown hypercall: -ENOSYS.
import { XENVER } from '../decode/xen-hypercalls.js';
import type { CallContext, DecodedCall } from '../decode/types.js';
import type { FirmwareAnswer, Responder } from './types.js';

export const XEN_ENOSYS = -38;
export const XEN_VERSION = { major: 4, minor: 17 } as const;
const XEN_PAGE_SIZE = 4096;
const HYPERCALL_XEN_VERSION = 17;

const xenVersionOp = (name: string): number => {
  const n = Object.entries(XENVER).find(([, v]) => v === name)?.[0];
  if (n === undefined) throw new Error(`unknown ${name}`);
  return Number(n);
};
const XENVER_version = xenVersionOp('XENVER_version');
const XENVER_get_features = xenVersionOp('XENVER_get_features');
const XENVER_pagesize = xenVersionOp('XENVER_pagesize');

export function xenNotImplemented(): FirmwareAnswer {
  return { handled: false, regs: [BigInt(XEN_ENOSYS)] };
}

export const xenResponder = {
  respond(ctx: CallContext, call: DecodedCall): FirmwareAnswer {
    if (call.kind !== 'xen' || call.fields.nr !== HYPERCALL_XEN_VERSION) return xenNotImplemented();
    switch (call.fields.subop) {
      case XENVER_version:
        return { handled: true, regs: [BigInt((XEN_VERSION.major << 16) | XEN_VERSION.minor)], note: 'Xen 4.17' };
      case XENVER_pagesize:
        return { handled: true, regs: [BigInt(XEN_PAGE_SIZE)] };
      case XENVER_get_features: {
        // struct xen_feature_info { unsigned int submap_idx; uint32_t submap; }: no features in any submap.
        const arg = ctx.args[1] ?? 0n;
        const addr = ctx.arch === 'aarch64' ? arg : arg & 0xffffffffn;
        return { handled: true, regs: [0n], memWrites: [{ addr: addr + 4n, bytes: new Uint8Array(4) }] };
      }
      default:
        return xenNotImplemented();
    }
  },
} satisfies Responder;
