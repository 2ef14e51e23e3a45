// Native hooks for Trapdoor, loaded with koffi next to libunicorn.so.2.
//
// Why C: a pause that can be resumed must stop at a block boundary (a block hook
// calling uc_emu_stop), and a JS callback per block costs far too much. The trap
// hook is here too so that one trap costs one JS call: registers are gathered in
// a batch into a shared control block, JS decides, C writes the answer back.
//
// The control block is an array of 64-bit slots shared with JS (a
// SharedArrayBuffer); the slot numbers are mirrored in server/machine/ctl.ts
// (test/native.test.ts compiles this file and compares CTL_*, STOP_*, ACT_* with it).
#define _GNU_SOURCE // fallocate (the trap log)
#include <unicorn/unicorn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sched.h>
#include <stdbool.h>
#include <time.h>

enum {
  CTL_PAUSE = 0,       // int32 at byte 0, set from any thread
  CTL_INSNS = 1,       // instructions counted by the block hook
  CTL_DEADLINE = 2,    // stop when INSNS >= DEADLINE (0: none)
  CTL_REASON = 3,      // why the last uc_emu_start returned (STOP_*)
  CTL_STOP_ADDR = 4,   // breakpoint pc / watchpoint data address / fault address
  CTL_STOP_AUX = 5,    // watchpoint kind (1 read, 2 write) / fault kind (uc_mem_type)
  CTL_SKIP_BP = 6,     // breakpoint address to pass once (resuming from it)
  CTL_ARCH = 7,        // 0 aarch64, 1 arm
  CTL_INTNO = 8,
  CTL_PC = 9,
  CTL_INSN = 10,       // the 4 bytes before PC (the trapping instruction)
  CTL_PSTATE = 11,     // PSTATE / CPSR at the trap
  CTL_NTRAPS = 12,
  CTL_ACTION = 13,     // what JS asked for (ACT_*)
  CTL_WB_MASK = 14,    // bit n: write back register n from CTL_WB
  CTL_FAULT_SIZE = 15,
  CTL_REGS = 16,       // 18 slots: x0..x17 / r0..r14
  CTL_WB = 34,         // 18 slots
  CTL_FAULT_VALUE = 52,
  CTL_HAS_BLOCK_HOOK = 53,
  CTL_WATCH_PENDING = 54,
  CTL_BLOCK_STOP = 55,   // the block hook stopped the run before the block at this address + 1 (0: it did not)
  CTL_SLOT = 56,         // index of this vCPU in the process-wide table (for td_hard_stop)
  CTL_HARD_STOPPED = 57, // set by td_hard_stop: the run cannot be resumed exactly
  CTL_LIMIT = 58,        // the lower of DEADLINE and FLUSH_AT (~0 for none); JS writes 0 (refresh at the next block)
  CTL_FLUSH_AT = 59,     // stop (STOP_FLUSH) when INSNS >= FLUSH_AT (0: none): records wait to be posted
  CTL_TIME = 60,         // the trap's wall-clock time: ms since 1970 as a double (what Date.now() gives)
  CTL_RING_SLOT = 61,    // the record-ring slot this trap's registers went to (td_set_ring)
  CTL_RING_COUNT = 62,   // slots written to the record ring so far (slot i is i % n)
  CTL_SLOTS = 64
};

enum { STOP_NONE = 0, STOP_PAUSE = 1, STOP_DEADLINE = 2, STOP_BREAK = 3, STOP_WATCH = 4,
       STOP_TRAP = 5, STOP_FAULT = 6, STOP_FLUSH = 7 };
enum { ACT_CONTINUE = 0, ACT_STOP = 1 };

typedef int (*td_trap_cb)(void);

#define TD_STEP_MAX 4
#define TD_ANSWERS 8

// Words of a record-ring slot: the registers, then what a record needs of a trap
// answered here without JS (RING_* in server/session/records.ts).
enum { RING_SEQ = 18, RING_INSNS = 19, RING_TIME = 20, RING_PC = 21, RING_ANSWER = 22, RING_WORDS = 24 };
enum { INTNO_HVC = 11, INTNO_SMC = 13 };

typedef struct td_state {
  uc_engine *uc;
  volatile uint64_t *ctl;
  td_trap_cb trap_cb;
  int nregs;
  int regids[18];
  int slot;
  int nhooks;
  uc_hook hooks[3]; // the hooks td_attach added, deleted by td_detach
  uc_hook count_hook; // counted runs (td_count)
  uint64_t count_limit, counted;
  uc_hook watch_guard; // while watchpoints exist (nwatch > 0): stops after the accessing instruction
  int nwatch;
  int nstep;          // how many of step_at the current step stops at (td_arm_step)
  uint64_t step_at[TD_STEP_MAX];
  uint64_t *ring;     // the record ring (td_set_ring): ring_n slots of ring_words words
  int ring_n, ring_words, ring_next;
  volatile uint32_t *seq; // the session's trap seq (two 32-bit halves, low first), shared by its vCPUs
  int nanswers;       // calls answered here without JS (td_set_answer)
  struct td_answer {
    uint32_t w0, insn, intno, thumb;
    uint64_t mask;
    uint64_t vals[18];
  } answers[TD_ANSWERS];
} td_state;

// Register ids straight from the headers (JS reads x0..x17 / r0..r14 at CTL_REGS in
// this order, and writes them back by the same index).
_Static_assert(UC_ARM64_REG_X17 == UC_ARM64_REG_X0 + 17, "x0..x17 have consecutive ids");
_Static_assert(UC_ARM_REG_R12 == UC_ARM_REG_R0 + 12, "r0..r12 have consecutive ids");

static inline int pause_requested(volatile uint64_t *c) {
  return __atomic_load_n((volatile int32_t *)&c[CTL_PAUSE], __ATOMIC_ACQUIRE) != 0;
}

// The block hook runs before every translated block: its fast path is all that
// counting mode costs a tight loop (measured in host instructions per loop
// iteration with callgrind: 28 with no hook, 39 with bench/native/baseline.c's
// minimal hook, 45 when this hook reached the control block through td_state and
// tested the pause flag and the deadline separately, 42 now). So its user data is
// the control block itself, and one compare against CTL_LIMIT (the deadline, or
// ~0) plus the pause flag decide whether anything else needs looking at.
static inline uint64_t limit_of(volatile uint64_t *c) {
  uint64_t d = c[CTL_DEADLINE] ? c[CTL_DEADLINE] : ~0ull, f = c[CTL_FLUSH_AT] ? c[CTL_FLUSH_AT] : ~0ull;
  return d < f ? d : f;
}

// A stop made here is before the block at `address`: no instruction of it has run.
// Unicorn does not say so when any code hook exists (a breakpoint anywhere, a step
// target, the watch guard): it then leaves PC as the last code hook or unchained
// block exit wrote it, which can be another block (chained blocks write no PC).
// CTL_BLOCK_STOP keeps the block's address for the caller to put into PC.
__attribute__((noinline, cold)) static void block_stop(uc_engine *uc, volatile uint64_t *c, uint64_t address, uint64_t insns) {
  if (pause_requested(c)) {
    c[CTL_REASON] = c[CTL_WATCH_PENDING] ? STOP_WATCH : STOP_PAUSE;
    c[CTL_WATCH_PENDING] = 0;
    c[CTL_BLOCK_STOP] = address + 1;
    uc_emu_stop(uc);
  } else if (c[CTL_DEADLINE] && c[CTL_INSNS] >= c[CTL_DEADLINE]) {
    c[CTL_REASON] = STOP_DEADLINE;
    c[CTL_BLOCK_STOP] = address + 1;
    uc_emu_stop(uc);
  } else if (c[CTL_FLUSH_AT] && c[CTL_INSNS] >= c[CTL_FLUSH_AT]) {
    // Records (or guest output) wait to be posted: stop before this block so the
    // engine posts them and runs on. The block runs after the stop and is counted
    // then: not now.
    c[CTL_FLUSH_AT] = 0;
    c[CTL_INSNS] -= insns;
    c[CTL_REASON] = STOP_FLUSH;
    c[CTL_BLOCK_STOP] = address + 1;
    uc_emu_stop(uc);
  } else {
    c[CTL_LIMIT] = limit_of(c); // a stale limit: refresh it
  }
}

static void hook_block(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  uint64_t *c = (uint64_t *)user;
  // AArch64 and ARM instructions are 4 bytes; Thumb blocks are counted as if
  // they were too (approximate, monotonic, as the trap record allows).
  uint64_t n = c[CTL_INSNS] + (size >> 2);
  c[CTL_INSNS] = n;
  if (__builtin_expect(n >= c[CTL_LIMIT], 0) || __builtin_expect(pause_requested(c), 0)) block_stop(uc, c, address, size >> 2);
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *user) {
  td_state *s = (td_state *)user;
  volatile uint64_t *c = s->ctl;
  uint64_t vals[18];
  void *ptrs[18];
  for (int i = 0; i < s->nregs; i++) { vals[i] = 0; ptrs[i] = &vals[i]; }
  uc_reg_read_batch(uc, s->regids, ptrs, s->nregs);
  for (int i = 0; i < s->nregs; i++) c[CTL_REGS + i] = vals[i];
  uint64_t pc = 0, ps = 0;
  uint32_t insn = 0;
  if (c[CTL_ARCH] == 0) {
    uc_reg_read(uc, UC_ARM64_REG_PC, &pc);
    uc_reg_read(uc, UC_ARM64_REG_PSTATE, &ps);
  } else {
    uint32_t pc32 = 0, cpsr = 0;
    uc_reg_read(uc, UC_ARM_REG_PC, &pc32);
    uc_reg_read(uc, UC_ARM_REG_CPSR, &cpsr);
    pc = pc32; ps = cpsr;
  }
  if (pc >= 4 && uc_mem_read(uc, pc - 4, &insn, 4) != UC_ERR_OK) insn = 0;
  c[CTL_INTNO] = intno;
  c[CTL_PC] = pc;
  c[CTL_PSTATE] = ps;
  c[CTL_INSN] = insn;
  c[CTL_NTRAPS] += 1;
  c[CTL_WB_MASK] = 0;
  c[CTL_ACTION] = ACT_CONTINUE;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double ms = (double)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  memcpy((void *)&c[CTL_TIME], &ms, sizeof ms);
  if (s->ring && (intno == INTNO_SMC || intno == INTNO_HVC)) {
    // the record keeps its registers in the ring: copied here, not by JS word by word
    // (only SMC/HVC take a slot: each slot then becomes exactly one kept record)
    int slot = s->ring_next;
    s->ring_next = slot + 1 == s->ring_n ? 0 : slot + 1;
    uint64_t *r = s->ring + (size_t)slot * s->ring_words;
    for (int i = 0; i < s->nregs; i++) r[i] = vals[i];
    r[RING_ANSWER] = 0;
    c[CTL_RING_SLOT] = (uint64_t)slot;
    c[CTL_RING_COUNT] += 1;
    // A call whose answer never changes, answered before: answer it again here, and
    // leave in the slot what its record needs (JS makes the record when someone looks).
    uint32_t thumb = c[CTL_ARCH] == 1 && (ps & 0x20) ? 1 : 0;
    for (int a = 0; a < s->nanswers; a++) {
      struct td_answer *an = &s->answers[a];
      if (an->w0 != (uint32_t)vals[0] || an->insn != insn || an->intno != intno || an->thumb != thumb) continue;
      uint32_t lo = __atomic_add_fetch(&s->seq[0], 1, __ATOMIC_SEQ_CST);
      uint32_t hi = lo == 0 ? __atomic_add_fetch(&s->seq[1], 1, __ATOMIC_SEQ_CST) : __atomic_load_n(&s->seq[1], __ATOMIC_SEQ_CST);
      r[RING_SEQ] = ((uint64_t)hi << 32) | lo;
      r[RING_INSNS] = c[CTL_INSNS];
      memcpy(&r[RING_TIME], &ms, sizeof ms);
      r[RING_PC] = pc;
      r[RING_ANSWER] = (uint64_t)a + 1;
      int ids[18];
      void *wp[18];
      int n = 0;
      for (int i = 0; i < s->nregs; i++) {
        if (an->mask & (1ull << i)) { ids[n] = s->regids[i]; wp[n] = &an->vals[i]; n++; }
      }
      uc_reg_write_batch(uc, ids, wp, n);
      return;
    }
  }
  int act = s->trap_cb ? s->trap_cb() : ACT_STOP;
  uint64_t mask = c[CTL_WB_MASK];
  if (mask) {
    int ids[18];
    void *wp[18];
    uint64_t wv[18];
    int n = 0;
    for (int i = 0; i < s->nregs; i++) {
      if (mask & (1ull << i)) { ids[n] = s->regids[i]; wv[n] = c[CTL_WB + i]; wp[n] = &wv[n]; n++; }
    }
    uc_reg_write_batch(uc, ids, wp, n);
  }
  if (act == ACT_STOP) {
    c[CTL_REASON] = STOP_TRAP;
    uc_emu_stop(uc);
  }
}

static bool hook_mem_invalid(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                             int64_t value, void *user) {
  td_state *s = (td_state *)user;
  volatile uint64_t *c = s->ctl;
  c[CTL_REASON] = STOP_FAULT;
  c[CTL_STOP_ADDR] = address;
  c[CTL_STOP_AUX] = (uint64_t)type;
  c[CTL_FAULT_SIZE] = (uint64_t)size;
  c[CTL_FAULT_VALUE] = (uint64_t)value;
  return false;
}

// Counted runs, as uc_emu_start(count) makes them (a code hook on every address
// that stops before the (count+1)-th instruction, an exact stop point), but without
// what Unicorn does when an uncounted run follows: drop the whole translation cache
// with tb_flush, which in 2.0.1 memsets the 1 GiB code buffer (commits 1 GiB of
// RSS, 13 ms to 2 s each time). Deleting this hook instead invalidates just the
// blocks translated while it was there (Unicorn keeps them in the hook's
// hooked_regions).
static void hook_count(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  td_state *s = (td_state *)user;
  if (++s->counted > s->count_limit) uc_emu_stop(uc);
}

// count > 0: the following runs stop before their (count+1)-th instruction, until
// td_count(s, 0). Returns 1 when the hook was added now (blocks translated before
// lack its calls: the caller drops them, and re-adds its breakpoints so that this
// hook runs first, as Unicorn's own counter does), 0 otherwise, -1 on failure.
int td_count(td_state *s, uint64_t count) {
  s->counted = 0;
  s->count_limit = count;
  if (count) {
    if (s->count_hook) return 0;
    if (uc_hook_add(s->uc, &s->count_hook, UC_HOOK_CODE, (void *)hook_count, s, 1, 0) != UC_ERR_OK) {
      s->count_hook = 0;
      return -1;
    }
    return 1;
  }
  if (s->count_hook) {
    uc_hook_del(s->uc, s->count_hook);
    s->count_hook = 0;
  }
  return 0;
}

// Breakpoint: a code hook bound to one address (an exact stop point: the
// instruction has not run, PC is the address).
static void hook_break(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  td_state *s = (td_state *)user;
  volatile uint64_t *c = s->ctl;
  if (c[CTL_SKIP_BP] == address + 1) { // +1 so that address 0 can be skipped too
    c[CTL_SKIP_BP] = 0;
    return;
  }
  c[CTL_REASON] = STOP_BREAK;
  c[CTL_STOP_ADDR] = address;
  uc_emu_stop(uc);
}

// Step target: a code hook bound to one address that stays installed between
// steps, armed only for the step that goes there (td_arm_step). Adding or deleting
// a hook drops the translated blocks holding its address, and translating them
// again was most of what a single step cost (~25 us of ~30); a step through a loop
// now adds hooks only the first time round. Dormant ones return at once.
static void hook_step(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  td_state *s = (td_state *)user;
  int armed = 0;
  for (int i = 0; i < s->nstep; i++) armed |= s->step_at[i] == address;
  if (!armed) return;
  volatile uint64_t *c = s->ctl;
  if (c[CTL_SKIP_BP] == address + 1) {
    c[CTL_SKIP_BP] = 0;
    return;
  }
  c[CTL_REASON] = STOP_BREAK;
  c[CTL_STOP_ADDR] = address;
  uc_emu_stop(uc);
}

// Watchpoint: a memory hook cannot stop exactly (Unicorn would rewind to the block
// start and replay the access), so it records the hit; the guard below stops the
// run before the next instruction (the block hook, via the pause flag, is the
// backstop for a hit in the last instruction of a run).
static void hook_watch(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
                       int64_t value, void *user) {
  td_state *s = (td_state *)user;
  volatile uint64_t *c = s->ctl;
  if (c[CTL_WATCH_PENDING]) return; // the first hit of this run is the one reported
  c[CTL_WATCH_PENDING] = 1;
  c[CTL_STOP_ADDR] = address;
  c[CTL_STOP_AUX] = (type == UC_MEM_WRITE) ? 2 : 1;
  __atomic_store_n((volatile int32_t *)&c[CTL_PAUSE], 1, __ATOMIC_RELEASE);
}

// The watch guard: a code hook on every instruction while watchpoints exist. A hit
// is reported before the instruction after the access runs (a later load in the
// same block, an SMC that would trap), as QEMU reports it: a code hook stops
// exactly. It costs a call per instruction, only while a watchpoint is set.
static void hook_watch_guard(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  td_state *s = (td_state *)user;
  volatile uint64_t *c = s->ctl;
  if (__builtin_expect(c[CTL_WATCH_PENDING] != 0, 0)) {
    c[CTL_WATCH_PENDING] = 0;
    c[CTL_REASON] = STOP_WATCH;
    uc_emu_stop(uc);
  }
}

// vCPUs of this process, so that any thread can stop one by index (td_hard_stop).
// A slot is claimed with a compare-exchange (several vCPU workers may attach at
// once). users[] counts td_hard_stop calls inside a slot: td_detach empties the
// slot, then waits for them before freeing the state (both sequentially consistent,
// so either td_hard_stop sees the empty slot or td_detach sees the user).
#define TD_MAX_SLOTS 256
static td_state *slots[TD_MAX_SLOTS];
static int users[TD_MAX_SLOTS];

// Why the last td_attach on this thread failed (td_last_error).
static __thread char last_error[200];

const char *td_last_error(void) { return last_error; }

static void release(td_state *s) {
  if (s->count_hook) uc_hook_del(s->uc, s->count_hook);
  if (s->watch_guard) uc_hook_del(s->uc, s->watch_guard);
  for (int i = s->nhooks - 1; i >= 0; i--) uc_hook_del(s->uc, s->hooks[i]);
  s->nhooks = 0;
  if (s->slot >= 0) {
    __atomic_store_n(&slots[s->slot], NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&users[s->slot], __ATOMIC_SEQ_CST) != 0) sched_yield();
  }
  free(s);
}

static int add_hook(td_state *s, int type, void *cb, void *user, const char *what) {
  uc_err e = uc_hook_add(s->uc, &s->hooks[s->nhooks], type, cb, user, 1, 0);
  if (e != UC_ERR_OK) {
    snprintf(last_error, sizeof last_error, "uc_hook_add(%s) failed: %s", what, uc_strerror(e));
    return -1;
  }
  s->nhooks++;
  return 0;
}

// Returns NULL on failure, leaving nothing behind (td_last_error says why).
td_state *td_attach(uc_engine *uc, uint64_t *ctl, int arch, td_trap_cb trap_cb, int count_blocks) {
  last_error[0] = 0;
  td_state *s = (td_state *)calloc(1, sizeof(td_state));
  if (!s) { snprintf(last_error, sizeof last_error, "out of memory"); return NULL; }
  s->slot = -1;
  for (int i = 0; i < TD_MAX_SLOTS; i++) {
    td_state *expected = NULL;
    if (__atomic_compare_exchange_n(&slots[i], &expected, s, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      s->slot = i;
      break;
    }
  }
  if (s->slot < 0) {
    snprintf(last_error, sizeof last_error, "all %d vCPU slots of this process are in use (TD_MAX_SLOTS)", TD_MAX_SLOTS);
    free(s);
    return NULL;
  }
  ctl[CTL_SLOT] = (uint64_t)s->slot;
  s->uc = uc;
  s->ctl = ctl;
  s->trap_cb = trap_cb;
  ctl[CTL_ARCH] = (uint64_t)arch;
  if (arch == 0) {
    s->nregs = 18;
    for (int i = 0; i < 18; i++) s->regids[i] = UC_ARM64_REG_X0 + i;
  } else {
    s->nregs = 15; // r0..r12, sp, lr
    for (int i = 0; i < 13; i++) s->regids[i] = UC_ARM_REG_R0 + i;
    s->regids[13] = UC_ARM_REG_SP;
    s->regids[14] = UC_ARM_REG_LR;
  }
  ctl[CTL_LIMIT] = 0; // the first block refreshes it from CTL_DEADLINE and CTL_FLUSH_AT
  if (add_hook(s, UC_HOOK_INTR, (void *)hook_intr, s, "UC_HOOK_INTR") ||
      add_hook(s, UC_HOOK_MEM_INVALID, (void *)hook_mem_invalid, s, "UC_HOOK_MEM_INVALID") ||
      (count_blocks && add_hook(s, UC_HOOK_BLOCK, (void *)hook_block, (void *)ctl, "UC_HOOK_BLOCK"))) {
    release(s);
    return NULL;
  }
  ctl[CTL_HAS_BLOCK_HOOK] = count_blocks ? 1 : 0;
  return s;
}

// The record ring the trap hook copies each trap's registers to (slot after slot,
// from slot 0): n slots of `words` 64-bit words, in memory that stays put (a
// SharedArrayBuffer). -1 when a slot cannot hold the registers.
int td_set_ring(td_state *s, uint64_t *ring, int n, int words) {
  if (n <= 0 || words < s->nregs) return -1;
  s->ring = ring; s->ring_n = n; s->ring_words = words; s->ring_next = 0;
  return 0;
}

// The session's trap seq (two 32-bit halves, low first: server/session/flow.ts),
// counted here for the calls answered without JS.
void td_set_seq(td_state *s, uint32_t *seq) { s->seq = seq; }

// Answer slot `index` (0..TD_ANSWERS-1): a call with this w0, made by this
// instruction word (SMC/HVC and its immediate), intno and Thumb state, is answered
// by writing `vals` to the registers in `mask`, without JS; its slot in the record
// ring says so (RING_ANSWER = index + 1). n: how many slots are in use from now on
// (0 clears them all: the policy changed). -1: bad index, or no ring or seq yet.
int td_set_answer(td_state *s, int index, uint32_t w0, uint32_t insn, uint32_t intno, uint32_t thumb,
                  uint64_t mask, const uint64_t *vals, int n) {
  if (n == 0) { s->nanswers = 0; return 0; }
  if (index < 0 || index >= TD_ANSWERS || n > TD_ANSWERS || index >= n || !s->ring || !s->seq || s->ring_words < RING_WORDS) return -1;
  struct td_answer *a = &s->answers[index];
  a->w0 = w0; a->insn = insn; a->intno = intno; a->thumb = thumb; a->mask = mask;
  for (int i = 0; i < 18; i++) a->vals[i] = (mask & (1ull << i)) ? vals[i] : 0;
  s->nanswers = n;
  return 0;
}

// Returns the hook handle (0 on failure).
uint64_t td_add_breakpoint(td_state *s, uint64_t address) {
  uc_hook h = 0;
  if (uc_hook_add(s->uc, &h, UC_HOOK_CODE, (void *)hook_break, s, address, address) != UC_ERR_OK) return 0;
  return (uint64_t)h;
}

// A dormant step target at address (the caller drops the blocks holding it). 0: failure.
uint64_t td_add_step_hook(td_state *s, uint64_t address) {
  uc_hook h = 0;
  if (uc_hook_add(s->uc, &h, UC_HOOK_CODE, (void *)hook_step, s, address, address) != UC_ERR_OK) return 0;
  return (uint64_t)h;
}

// The step targets the next run stops at (n = 0: none). -1 when n is too large.
int td_arm_step(td_state *s, int n, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3) {
  if (n < 0 || n > TD_STEP_MAX) return -1;
  s->step_at[0] = a0; s->step_at[1] = a1; s->step_at[2] = a2; s->step_at[3] = a3;
  s->nstep = n;
  return 0;
}

// kind: 1 read, 2 write, 3 access. The first watchpoint adds the watch guard
// (blocks translated before lack its calls: the caller drops them).
uint64_t td_add_watchpoint(td_state *s, uint64_t address, uint64_t len, int kind) {
  uc_hook h = 0;
  int type = 0;
  if (kind & 1) type |= UC_HOOK_MEM_READ;
  if (kind & 2) type |= UC_HOOK_MEM_WRITE;
  if (len == 0 || address + len - 1 < address) return 0; // end < begin would mean every address
  if (!s->watch_guard &&
      uc_hook_add(s->uc, &s->watch_guard, UC_HOOK_CODE, (void *)hook_watch_guard, s, 1, 0) != UC_ERR_OK) {
    s->watch_guard = 0;
    return 0;
  }
  if (uc_hook_add(s->uc, &h, type, (void *)hook_watch, s, address, address + len - 1) != UC_ERR_OK) {
    if (!s->nwatch) { uc_hook_del(s->uc, s->watch_guard); s->watch_guard = 0; }
    return 0;
  }
  s->nwatch++;
  return (uint64_t)h;
}

// Deletes a watchpoint's hook; the last one takes the watch guard with it.
int td_del_watchpoint(td_state *s, uint64_t h) {
  int r = (int)uc_hook_del(s->uc, (uc_hook)h);
  if (--s->nwatch <= 0) {
    s->nwatch = 0;
    if (s->watch_guard) uc_hook_del(s->uc, s->watch_guard);
    s->watch_guard = 0;
  }
  return r;
}

// Reads n registers by id into out[] (zero-extended: a 32-bit register fills the
// low half): a stop reply's 34 registers in one call from JS instead of 34.
// Returns the number read (an unknown id stops the reading there).
int td_read_regs(uc_engine *uc, const int32_t *ids, int n, uint64_t *out) {
  for (int i = 0; i < n; i++) {
    out[i] = 0;
    if (uc_reg_read(uc, ids[i], &out[i]) != UC_ERR_OK) return i;
  }
  return n;
}

int td_del_hook(td_state *s, uint64_t h) { return (int)uc_hook_del(s->uc, (uc_hook)h); }

static const char HEX_DIGITS[] = "0123456789abcdef";

// A byte as two lowercase hex digits at out.
static inline void put_hex_byte(uint8_t *out, uint8_t byte) {
  out[0] = (uint8_t)HEX_DIGITS[byte >> 4];
  out[1] = (uint8_t)HEX_DIGITS[byte & 0xf];
}

// `$data#cs` of raw[0..n) into out, run-length encoded exactly as frame() in
// gdbstub/framing.ts does it (a run of 4 or more: the byte, '*', 29 + repeats, where
// the count is never '#' or '$'). Returns the frame's length, or -1 if cap is short.
static long frame_into(const uint8_t *raw, long n, uint8_t *out, long cap) {
  if (cap < n + 4) return -1; // an encoded run is never longer than the run
  long w = 0;
  unsigned sum = 0;
  out[w++] = '$';
  for (long i = 0; i < n;) {
    uint8_t c = raw[i];
    long j = i + 1;
    if (n >= 8) while (j < n && raw[j] == c) j++;
    long left = j - i;
    while (left >= 4) {
      long more = left - 1 > 97 ? 97 : left - 1;
      if (more == 6 || more == 7) more = 5;
      out[w++] = c; out[w++] = '*'; out[w++] = (uint8_t)(29 + more);
      sum += c + '*' + 29 + (unsigned)more;
      left -= more + 1;
    }
    for (; left > 0; left--) { out[w++] = c; sum += c; }
    i = j;
  }
  out[w++] = '#';
  put_hex_byte(out + w, (uint8_t)sum);
  return w + 2;
}

// A gdb stop reply as one frame, ready for the socket: `head` (e.g. "T05thread:1;"),
// then "regnum:value;" for each of the n registers, the value as gdb carries it
// (little-endian hex of sizes[i] bytes, at most 8). The registers are read here, so
// a stop costs one call from JS. Returns the frame's length; -1 when a register
// cannot be read or the frame does not fit.
long td_stop_frame(uc_engine *uc, const char *head, const int32_t *ids, const uint8_t *sizes, const int32_t *nums,
                   int n, uint8_t *out, long cap) {
  uint8_t raw[4096];
  size_t hl = strlen(head);
  if (n < 0 || n > 100 || hl > 1024) return -1; // 100 registers of at most 26 characters, and the head, fit raw
  memcpy(raw, head, hl);
  long r = (long)hl;
  for (int i = 0; i < n; i++) {
    uint64_t v = 0;
    if (sizes[i] > 8 || uc_reg_read(uc, ids[i], &v) != UC_ERR_OK) return -1;
    char num[12];
    int k = 0;
    uint32_t x = (uint32_t)nums[i];
    do { num[k++] = HEX_DIGITS[x & 0xf]; x >>= 4; } while (x);
    while (k) raw[r++] = (uint8_t)num[--k];
    raw[r++] = ':';
    for (int b = 0; b < sizes[i]; b++, r += 2) put_hex_byte(raw + r, (uint8_t)(v >> (8 * b)));
    raw[r++] = ';';
  }
  return frame_into(raw, r, out, cap);
}

// Stop a run from another thread when no block hook is installed. Unicorn may
// leave the block mid-way (FACTS.md, "Stopping and resuming"), so the run must not
// be resumed: CTL_HARD_STOPPED tells the owner so. -1: no vCPU in that slot.
int td_hard_stop(int slot) {
  if (slot < 0 || slot >= TD_MAX_SLOTS) return -1;
  __atomic_add_fetch(&users[slot], 1, __ATOMIC_SEQ_CST);
  td_state *s = __atomic_load_n(&slots[slot], __ATOMIC_SEQ_CST);
  int r = -1;
  if (s) {
    s->ctl[CTL_HARD_STOPPED] = 1;
    s->ctl[CTL_REASON] = STOP_PAUSE;
    r = (int)uc_emu_stop(s->uc);
  }
  __atomic_sub_fetch(&users[slot], 1, __ATOMIC_SEQ_CST);
  return r;
}

// Removes the hooks td_attach added and frees the slot. Breakpoints and
// watchpoints still installed point at the state: delete them first, or close the
// engine right after (uc_close).
void td_detach(td_state *s) {
  if (s) release(s);
}

// ---------------------------------------------------------------- the trap log
// The trap log is written through a shared mapping of the file: a record copied
// into the mapping is in the kernel's page cache at once (a kill -9 loses nothing
// already written), without a write() per record. The file is extended a window
// at a time and cut to its real length when the log is closed; after a kill -9
// it may end in up to two windows of zero bytes (td_log_ahead). Files that cannot be mapped
// (pipes, devices) are written with write() by the caller instead.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>

// Opens (appending) a log file that can be mapped; returns the fd, or -errno.
// *size receives its current length.
int64_t td_log_open(const char *path, uint64_t *size) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return -ENODEV; }
  *size = (uint64_t)st.st_size;
  return fd;
}

// Maps [offset, offset + len) of the log (offset page-aligned), growing the file
// to cover it. Returns the address, or NULL (errno in *err).
void *td_log_map(int64_t fd, uint64_t offset, uint64_t len, int *err) {
  // Allocate the blocks now: a store to a mapped page the file system cannot back
  // (a full disk) would be a SIGBUS; a failed fallocate is an error we can report.
  // File systems without fallocate get write() instead (the caller falls back).
  if (fallocate((int)fd, 0, (off_t)offset, (off_t)len) != 0) { *err = errno; return NULL; }
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd, (off_t)offset);
  if (p == MAP_FAILED) { *err = errno; return NULL; }
  // MAP_POPULATE maps a shared file's pages read-only (the kernel tracks their
  // first write): each page's first store would fault, ~20 us here. Preparing them
  // for writing in one call costs about half (Linux 5.14+; older kernels say
  // EINVAL and fault page by page as before).
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
  (void)madvise(p, len, MADV_POPULATE_WRITE);
  return p;
}

int td_log_unmap(void *p, uint64_t len) { return munmap(p, len); }

// The next window, prepared on a thread of its own while the guest runs and fills
// the current one: allocating and populating 1 MiB of new file pages is about a
// quarter of what logging a trap storm costs, and this takes it off the trap path
// (onto the other core). td_log_ahead starts it; td_log_take waits for it and
// returns the mapping (NULL: failed, errno in *err; the caller maps synchronously).
#include <pthread.h>

// Names the calling thread (top -H, /proc/PID/task/TID/comm; at most 15 bytes).
// Threads named trapdoor-* keep their priority when the rest of the process's
// helpers are put behind them (server/session/jit.ts lowerBackgroundThreads).
void td_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

typedef struct td_ahead {
  pthread_t th;
  int64_t fd;
  uint64_t offset, len;
  void *p;
  int err;
} td_ahead;

static void *ahead_main(void *arg) {
  td_ahead *a = (td_ahead *)arg;
  a->p = td_log_map(a->fd, a->offset, a->len, &a->err);
  return NULL;
}

// NULL when no thread could be started (the caller maps synchronously later).
td_ahead *td_log_ahead(int64_t fd, uint64_t offset, uint64_t len) {
  td_ahead *a = (td_ahead *)calloc(1, sizeof(td_ahead));
  if (!a) return NULL;
  a->fd = fd; a->offset = offset; a->len = len;
  if (pthread_create(&a->th, NULL, ahead_main, a) != 0) { free(a); return NULL; }
  return a;
}

void *td_log_take(td_ahead *a, int *err) {
  pthread_join(a->th, NULL);
  void *p = a->p;
  *err = a->err;
  free(a);
  return p;
}

// Cuts the file to what was written and closes it.
int td_log_close(int64_t fd, uint64_t size) {
  int r = ftruncate((int)fd, (off_t)size);
  close((int)fd);
  return r;
}

// ---------------------------------------------------------------------------
// A gdb client served on the emulation thread (gdbstub/hosted.ts): while that
// thread runs the guest it reads no socket, so a watcher thread does, for the one
// byte gdb may send then (all-stop mode): Ctrl-C (0x03). Armed for a run, it
// takes the bytes up to that 0x03 off the socket and sets the pause flag; a
// closed socket sets it too (a client that vanishes leaves the guest paused).
//
// Arming and disarming cost a run nothing but an atomic store and a
// compare-exchange: no lock, no system call, no wake-up. The watcher wakes every
// few milliseconds and looks at the socket (without blocking) only while a run is
// armed; a run shorter than that is never looked at (the connection reads what gdb
// sent once it is over). Measured: with a lock taken at each arm and disarm, and the
// watcher blocked in poll() on the socket, every packet gdb sent woke the watcher
// too, and a watcher preempted while holding the lock stalled a run for
// milliseconds (strace: futex waits of 3 ms on average).
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

int td_sock_closed(int fd);

// A non-blocking socket call failed only because nothing is there yet.
static int would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

// The watcher's state: IDLE, ARMED (a run is under way), BUSY (the watcher is taking
// bytes off the socket), then back to ARMED or on to a FIRED state (what it saw).
enum { W_IDLE = 0, W_ARMED = 1, W_BUSY = 2, W_FIRED_INT = 3, W_FIRED_CLOSED = 4 };

#define TD_FAST_RAM 8

typedef struct td_watch {
  pthread_t th;
  int fd;
  volatile int32_t *pause;
  int state; // W_*, atomic
  int quit;  // atomic
  // The guest's RAM, for the memory reads answered here (td_take): only the
  // emulation thread uses these.
  int nram;
  struct { const uint8_t *p; uint64_t base, size; } ram[TD_FAST_RAM];
} td_watch;

static void *watch_main(void *arg) {
  td_watch *w = (td_watch *)arg;
  struct timespec tick = { 0, 4 * 1000 * 1000 };
  while (!__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE)) {
    nanosleep(&tick, NULL);
    if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != W_ARMED) continue;
    struct pollfd p = { w->fd, POLLIN, 0 };
    if (poll(&p, 1, 0) <= 0) continue;
    int expected = W_ARMED;
    if (!__atomic_compare_exchange_n(&w->state, &expected, W_BUSY, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue; // disarmed meanwhile
    char buf[256];
    int next = W_ARMED;
    ssize_t n = recv(w->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    char *c = n > 0 ? memchr(buf, 3, (size_t)n) : NULL;
    if (c) { if (recv(w->fd, buf, (size_t)(c - buf + 1), MSG_DONTWAIT) >= 0) next = W_FIRED_INT; }
    else if (n == 0 || (n < 0 && !would_block()) || td_sock_closed(w->fd)) next = W_FIRED_CLOSED;
    // (other bytes, acks: the emulation thread reads them after the run)
    if (next != W_ARMED) __atomic_store_n(w->pause, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&w->state, next, __ATOMIC_RELEASE);
  }
  return NULL;
}

// A watcher thread must never outlive this library's code: a worker that is
// terminated without closing its session unloads what it loaded. Pin it once.

#include <dlfcn.h>
static void pin_library(void) {
  static int pinned;
  Dl_info info;
  if (pinned || !dladdr((void *)pin_library, &info) || !info.dli_fname) return;
  if (dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) pinned = 1;
}

td_watch *td_watch_new(int fd, void *ctl) {
  pin_library();
  td_watch *w = (td_watch *)calloc(1, sizeof(td_watch));
  if (!w) return NULL;
  w->fd = fd;
  w->pause = (volatile int32_t *)ctl; // CTL_PAUSE: the int32 at byte 0
  if (pthread_create(&w->th, NULL, watch_main, w) != 0) { free(w); return NULL; }
  pthread_setname_np(w->th, "trapdoor-watch"); // before anyone looks (jit.ts lowerBackgroundThreads)
  return w;
}

void td_watch_arm(td_watch *w) { __atomic_store_n(&w->state, W_ARMED, __ATOMIC_RELEASE); }

// What the watcher saw while armed: 0 nothing, 1 Ctrl-C (taken off the socket), 2 the client closed.
// Waits for a watcher that is taking bytes off the socket right now (a few system calls).
int td_watch_disarm(td_watch *w) {
  for (;;) {
    int s = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE);
    if (s == W_BUSY) { sched_yield(); continue; }
    if (__atomic_compare_exchange_n(&w->state, &s, W_IDLE, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      return s == W_FIRED_INT ? 1 : s == W_FIRED_CLOSED ? 2 : 0;
    }
  }
}

// RAM region i (of at most TD_FAST_RAM) as td_take may read it: `p` holds [base, base + size).
int td_watch_ram(td_watch *w, int i, const uint8_t *p, uint64_t base, uint64_t size) {
  if (i < 0 || i >= TD_FAST_RAM) return -1;
  w->ram[i].p = p; w->ram[i].base = base; w->ram[i].size = size;
  if (i >= w->nram) w->nram = i + 1;
  return 0;
}

void td_watch_free(td_watch *w) {
  __atomic_store_n(&w->quit, 1, __ATOMIC_RELEASE);
  pthread_join(w->th, NULL);
  free(w);
}

// A second descriptor for a socket, handed from the main thread to the emulation thread.
int td_dup(int fd) { return dup(fd); }

// 1: the peer has closed the socket or reset it, 0: open. Read from the TCP state,
// so bytes the peer sent before its FIN (an ack, say) do not hide it.
#include <netinet/in.h>
#include <netinet/tcp.h>
int td_sock_closed(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) return ti.tcpi_state != TCP_ESTABLISHED;
  char b;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT); // not TCP (a unix socket)
  return n == 0 || (n < 0 && !would_block());
}

int td_close(int fd) { return close(fd); }

// Ends a served gdb client's connection from another thread (its watcher then pauses a run it made).
int td_shutdown(int fd) { return shutdown(fd, SHUT_RDWR); }

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The hex number in b[i..end) up to `stop` (or end): 1 to `max` digits. Returns where
// it stopped, or -1 (no digits, too many, or another character).
static long read_hex(const uint8_t *b, long i, long end, uint8_t stop, int max, uint64_t *out) {
  uint64_t v = 0;
  int digits = 0;
  for (; i < end && b[i] != stop; i++) {
    int d = hexval(b[i]);
    if (d < 0 || ++digits > max) return -1;
    v = v * 16 + (uint64_t)d;
  }
  if (!digits) return -1;
  *out = v;
  return i;
}

// Writes all of a reply of a few KiB to a socket whose send queue was empty (so it
// is one send); waits at most a second in all for the rest if it is not.
static int send_all(int fd, const uint8_t *p, long n) {
  for (int waits = 0; n > 0;) {
    ssize_t k = send(fd, p, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k > 0) { p += k; n -= k; continue; }
    if (k < 0 && !would_block()) return -1;
    struct pollfd q = { fd, POLLOUT, 0 };
    if (waits++ >= 10 || poll(&q, 1, 100) <= 0) return -1;
  }
  return 0;
}

// gdb's commonest packet answered without JS: `b` is exactly one `$m<addr>,<len>#cc`
// packet, with a right checksum, reading at most 1 KiB inside one RAM region. The
// reply is what gdbstub/packets/memory.ts gives (lowercase hex, framed as frame()
// frames it). 1: answered; 0: not such a packet (the bytes go to JS, which answers
// everything else, errors included); -1: the reply could not be sent (the socket's
// own reader sees why).
#define FAST_M_MAX 1024
static int answer_m(td_watch *w, const uint8_t *b, long n) {
  if (n < 8 || b[0] != '$' || b[1] != 'm' || b[n - 3] != '#') return 0;
  unsigned sum = 0;
  for (long i = 1; i < n - 3; i++) sum += b[i];
  int c1 = hexval(b[n - 2]), c2 = hexval(b[n - 1]);
  if (c1 < 0 || c2 < 0 || (sum & 0xff) != (unsigned)(c1 * 16 + c2)) return 0;
  uint64_t addr, len;
  long i = read_hex(b, 2, n - 3, ',', 16, &addr);
  if (i < 0 || read_hex(b, i + 1, n - 3, '#', 8, &len) != n - 3 || len == 0 || len > FAST_M_MAX) return 0;
  const uint8_t *src = NULL;
  for (int r = 0; r < w->nram && !src; r++) {
    uint64_t base = w->ram[r].base, size = w->ram[r].size;
    if (addr >= base && addr - base < size && len <= size - (addr - base)) src = w->ram[r].p + (addr - base);
  }
  if (!src) return 0;
  // Only to a client that has read what it was sent: one that sends without reading
  // (its replies pile up in the socket) is answered by JS, whose stream queues them.
  int queued = 0;
  if (ioctl(w->fd, SIOCOUTQ, &queued) != 0 || queued > 0) return 0;
  uint8_t raw[2 * FAST_M_MAX], out[2 * FAST_M_MAX + 4];
  for (uint64_t k = 0; k < len; k++) put_hex_byte(raw + 2 * k, src[k]);
  long m = frame_into(raw, (long)(2 * len), out, sizeof out);
  return m > 0 && send_all(w->fd, out, m) == 0 ? 1 : -1;
}

// The next bytes a served gdb client sends, taken as soon as they come: spins on
// a non-blocking read for up to `us` microseconds (w: its watcher, which knows its socket and
// the RAM), answering memory reads itself when `fast` (the connection has nothing
// queued, no acks, no trace; see answer_m): a reply then leaves as soon as the
// packet comes, with no JS in between (a wake-up of gdb is cheaper the sooner it
// comes). Returns the byte count for JS, -1 when nothing came, -2 when a packet
// was answered here.
long td_take(td_watch *w, uint8_t *buf, long len, int us, int fast) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    ssize_t n = recv(w->fd, buf, (size_t)len, MSG_DONTWAIT);
    if (n > 0) {
      int a = fast ? answer_m(w, buf, (long)n) : 0;
      if (a == 0) return (long)n;
      return a < 0 ? -1 : -2;
    }
    if (n == 0 || !would_block()) return -1;
    // gdb, woken by our last reply, is often queued on this very CPU (a socket's
    // wake-up is a sync one: the kernel expects the writer to sleep next, and this
    // thread spins instead). Yielding lets it run at once: gdb waited 98-133 us per
    // breakpoint cycle for a CPU without this, 12-46 us with it.
    sched_yield();
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 >= us) return -1;
  }
}
