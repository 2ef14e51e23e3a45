// Legacy platform monitor calls: the cache-controller services the secure monitor
// of these boards offers have nothing to do in an emulator, so they succeed as
// no-ops and leave every register as it was.
import type { CallContext, DecodedCall } from '../decode/types.js';
import type { FirmwareAnswer, Responder } from './types.js';

export const legacyResponder = {
  respond(_ctx: CallContext, call: DecodedCall): FirmwareAnswer {
    if (call.kind !== 'legacy') return { handled: false, regs: [-1n] };
    return { handled: true, regs: [], note: `${call.name}: no-op` };
  },
} satisfies Responder;
