// Typed koffi binding of the system libunicorn.so.2 (Debian libunicorn2 2.0.1) and
// of our native hook library (native/trapdoor.c). Only the calls Trapdoor uses.
// Enum values are those of the 2.0.1 headers (they differ between versions);
// test/native.test.ts checks them against /usr/include/unicorn.
import { createRequire } from 'node:module';

type Koffi = typeof import('koffi');
let koffiModule: Koffi | undefined;
/**
 * koffi, loaded on first use. A worker started ahead of time (bin/trapdoor.js
 * prewarms one) loads no native addon until it builds the machine: a CLI that
 * exits at once on bad input never tears the process down while the worker is
 * inside the addon's load (Node aborts with a fatal N-API error then).
 */
export function ffi(): Koffi {
  return (koffiModule ??= createRequire(import.meta.url)('koffi') as Koffi);
}
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const UC_ARCH_ARM = 1;
export const UC_ARCH_ARM64 = 2;
export const UC_MODE_ARM = 0;
export const UC_PROT_ALL = 7;
export const UC_CTL_CPU_MODEL = 7;
export const UC_CTL_TB_REMOVE_CACHE = 9;
export const UC_CTL_TB_FLUSH = 10;
/** The system-register pseudo ids (value through uc_arm64_cp_reg / uc_arm_cp_reg). */
export const UC_ARM64_REG_CP_REG = 290;
export const UC_ARM_REG_CP_REG = 139;
const UC_CTL_IO_WRITE = 1 << 30;
/** uc_ctl's encoding (UC_CTL_WRITE): (nargs << 26) | io << 30 | control. */
export const ucCtlWrite = (ctl: number, nargs: number) => ((UC_CTL_IO_WRITE | (nargs << 26) | ctl) >>> 0) | 0;

export const UC_MEM_TYPES: Record<number, string> = {
  16: 'read', 17: 'write', 18: 'fetch', 19: 'read (unmapped)', 20: 'write (unmapped)',
  21: 'fetch (unmapped)', 22: 'write (protected)', 23: 'read (protected)', 24: 'fetch (protected)',
};

export const UC_ERR = {
  OK: 0, NOMEM: 1, ARCH: 2, HANDLE: 3, MODE: 4, VERSION: 5, READ_UNMAPPED: 6, WRITE_UNMAPPED: 7,
  FETCH_UNMAPPED: 8, HOOK: 9, INSN_INVALID: 10, MAP: 11, WRITE_PROT: 12, READ_PROT: 13,
  FETCH_PROT: 14, ARG: 15, READ_UNALIGNED: 16, WRITE_UNALIGNED: 17, FETCH_UNALIGNED: 18,
  HOOK_EXIST: 19, RESOURCE: 20, EXCEPTION: 21,
} as const;

/** Raw pointer as koffi hands it out (opaque to us). */
export type Ptr = unknown;

function findLibrary(): string {
  const candidates = ['libunicorn.so.2', '/usr/lib/x86_64-linux-gnu/libunicorn.so.2', '/usr/lib/aarch64-linux-gnu/libunicorn.so.2'];
  for (const c of candidates) {
    try { ffi().load(c); return c; } catch { /* next */ }
  }
  throw new Error('libunicorn.so.2 not found: install it with `apt-get install -y libunicorn2` (or run `make setup`)');
}

function findHelper(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // server/machine -> project root, whether running from source or from dist/
  for (const up of ['../..', '../../..']) {
    const p = path.resolve(here, up, 'build/libtrapdoor.so');
    if (existsSync(p)) return p;
  }
  throw new Error('build/libtrapdoor.so is missing: run `make build` (needs gcc and libunicorn-dev)');
}

let bound: ReturnType<typeof bind> | undefined;

/** The libraries as preload() opened them (held: they stay loaded). */
let preloaded: unknown[] | undefined;

/**
 * Opens koffi, libunicorn and our hook library in this thread (the main thread,
 * while the emulation worker starts): they are then in the process, and the
 * worker's own loads of them, on the path to the first instruction, cost next to
 * nothing (~20 ms less start-up here). Failures are left for the worker to report.
 */
export function preload(): void {
  if (preloaded) return;
  preloaded = [];
  try {
    preloaded.push(ffi().load(findLibrary()), ffi().load(findHelper()));
  } catch { /* the worker says what is missing */ }
}

function bind() {
  const uc = ffi().load(findLibrary());
  const td = ffi().load(findHelper());
  const TrapCb = ffi().proto('int td_trap_cb(void)');
  const MmioRead = ffi().proto('uint64_t uc_cb_mmio_read_t(void *uc, uint64_t offset, unsigned int size, void *user)');
  const MmioWrite = ffi().proto('void uc_cb_mmio_write_t(void *uc, uint64_t offset, unsigned int size, uint64_t value, void *user)');
  return {
    TrapCb, MmioRead, MmioWrite,
    uc_open: uc.func('int uc_open(int arch, int mode, _Out_ void **uc)'),
    uc_close: uc.func('int uc_close(void *uc)'),
    uc_strerror: uc.func('const char *uc_strerror(int code)'),
    uc_ctl_int: uc.func('int uc_ctl(void *uc, int control, ...)'),
    uc_reg_read: uc.func('int uc_reg_read(void *uc, int regid, void *value)'),
    uc_reg_write: uc.func('int uc_reg_write(void *uc, int regid, const void *value)'),
    uc_mem_read: uc.func('int uc_mem_read(void *uc, uint64_t address, void *bytes, size_t size)'),
    uc_mem_write: uc.func('int uc_mem_write(void *uc, uint64_t address, const void *bytes, size_t size)'),
    uc_mem_map_ptr: uc.func('int uc_mem_map_ptr(void *uc, uint64_t address, size_t size, uint32_t perms, void *ptr)'),
    uc_mmio_map: uc.func('int uc_mmio_map(void *uc, uint64_t address, size_t size, uc_cb_mmio_read_t *read_cb, void *user_read, uc_cb_mmio_write_t *write_cb, void *user_write)'),
    uc_emu_start: uc.func('int uc_emu_start(void *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)'),
    td_attach: td.func('void *td_attach(void *uc, void *ctl, int arch, td_trap_cb *cb, int count_blocks)'),
    td_add_breakpoint: td.func('uint64_t td_add_breakpoint(void *s, uint64_t address)'),
    td_add_watchpoint: td.func('uint64_t td_add_watchpoint(void *s, uint64_t address, uint64_t len, int kind)'),
    td_set_ring: td.func('int td_set_ring(void *s, void *ring, int n, int words)'),
    td_set_seq: td.func('void td_set_seq(void *s, void *seq)'),
    td_set_answer: td.func('int td_set_answer(void *s, int index, uint32_t w0, uint32_t insn, uint32_t intno, uint32_t thumb, uint64_t mask, void *vals, int n)'),
    td_read_regs: td.func('int td_read_regs(void *uc, void *ids, int n, void *out)'),
    td_stop_frame: td.func('long td_stop_frame(void *uc, const char *head, void *ids, void *sizes, void *nums, int n, _Out_ uint8_t *out, long cap)'),
    td_del_hook: td.func('int td_del_hook(void *s, uint64_t h)'),
    td_add_step_hook: td.func('uint64_t td_add_step_hook(void *s, uint64_t address)'),
    td_arm_step: td.func('int td_arm_step(void *s, int n, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)'),
    td_del_watchpoint: td.func('int td_del_watchpoint(void *s, uint64_t h)'),
    td_count: td.func('int td_count(void *s, uint64_t count)'),
    td_detach: td.func('void td_detach(void *s)'),
    td_hard_stop: td.func('int td_hard_stop(int slot)'),
    td_last_error: td.func('const char *td_last_error(void)'),
    td_log_open: td.func('int64_t td_log_open(const char *path, _Out_ uint64_t *size)'),
    td_log_map: td.func('void *td_log_map(int64_t fd, uint64_t offset, uint64_t len, _Out_ int *err)'),
    td_log_ahead: td.func('void *td_log_ahead(int64_t fd, uint64_t offset, uint64_t len)'),
    td_log_take: td.func('void *td_log_take(void *a, _Out_ int *err)'),
    td_log_unmap: td.func('int td_log_unmap(void *p, uint64_t len)'),
    td_log_close: td.func('int td_log_close(int64_t fd, uint64_t size)'),
    td_thread_name: td.func('void td_thread_name(const char *name)'),
    td_watch_new: td.func('void *td_watch_new(int fd, void *ctl)'),
    td_watch_arm: td.func('void td_watch_arm(void *w)'),
    td_watch_disarm: td.func('int td_watch_disarm(void *w)'),
    td_watch_free: td.func('void td_watch_free(void *w)'),
    td_dup: td.func('int td_dup(int fd)'),
    td_sock_closed: td.func('int td_sock_closed(int fd)'),
    td_close: td.func('int td_close(int fd)'),
    td_shutdown: td.func('int td_shutdown(int fd)'),
    td_take: td.func('long td_take(void *w, _Out_ uint8_t *buf, long len, int us, int fast)'),
    td_watch_ram: td.func('int td_watch_ram(void *w, int i, void *p, uint64_t base, uint64_t size)'),
  };
}

/** The bound library (loaded on first use, once per thread). */
export function unicorn() {
  bound ??= bind();
  return bound;
}

export function ucError(code: number): string {
  return `${unicorn().uc_strerror(code) as string} (UC_ERR ${code})`;
}

