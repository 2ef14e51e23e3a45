// Slots of the control block shared with native/trapdoor.c (keep in step with it).
export const CTL = {
  PAUSE: 0, INSNS: 1, DEADLINE: 2, REASON: 3, STOP_ADDR: 4, STOP_AUX: 5, SKIP_BP: 6, ARCH: 7,
  INTNO: 8, PC: 9, INSN: 10, PSTATE: 11, NTRAPS: 12, ACTION: 13, WB_MASK: 14, FAULT_SIZE: 15,
  REGS: 16, WB: 34, FAULT_VALUE: 52, HAS_BLOCK_HOOK: 53, WATCH_PENDING: 54, BLOCK_STOP: 55, SLOT: 56, HARD_STOPPED: 57, LIMIT: 58, FLUSH_AT: 59, TIME: 60, RING_SLOT: 61, RING_COUNT: 62, SLOTS: 64,
} as const;

export const STOP = { NONE: 0, PAUSE: 1, DEADLINE: 2, BREAK: 3, WATCH: 4, TRAP: 5, FAULT: 6, FLUSH: 7 } as const;
export const ACT = { CONTINUE: 0, STOP: 1 } as const;
