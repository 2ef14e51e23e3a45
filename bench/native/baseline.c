// Baselines for bench/core.ts, built at bench time against libunicorn-dev:
// the same guest image run from C with no hooks ("plain"), with a minimal block
// hook ("block": count, test a flag), with Trapdoor's own native hooks from
// build/libtrapdoor.so ("tdhooks": what td_attach installs, no JS), and with a C
// trap hook answering every SMC ("trapc"). Prints one JSON line: wall seconds,
// CPU seconds of the run (less disturbed by other work on a shared machine), counts.
#include <unicorn/unicorn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// native/trapdoor.c (linked from build/libtrapdoor.so)
void *td_attach(uc_engine *uc, uint64_t *ctl, int arch, int (*trap_cb)(void), int count_blocks);

static uint64_t blocks_insns, traps;
static void on_block(uc_engine *uc, uint64_t a, uint32_t size, void *u) {
  blocks_insns += size >> 2;
  if (*(volatile int *)u) uc_emu_stop(uc);
}
static void on_intr(uc_engine *uc, uint32_t intno, void *u) {
  uint64_t x0 = 0x10001;
  traps++;
  uc_reg_write(uc, UC_ARM64_REG_X0, &x0);
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: baseline plain|block|tdhooks|trapc image.bin load entry until\n"); return 2; }
  const char *mode = argv[1];
  FILE *f = fopen(argv[2], "rb");
  if (!f) { perror(argv[2]); return 2; }
  static unsigned char img[16 << 20];
  size_t n = fread(img, 1, sizeof img, f);
  fclose(f);
  uint64_t load = strtoull(argv[3], 0, 0), entry = strtoull(argv[4], 0, 0), until = strtoull(argv[5], 0, 0);
  uc_engine *uc;
  if (uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &uc)) return 1;
  uc_mem_map(uc, load & ~0xfffULL, 128 << 20, UC_PROT_ALL);
  uc_mem_write(uc, load, img, n);
  uc_hook h;
  static int flag = 0;
  static uint64_t ctl[64];
  if (!strcmp(mode, "block")) uc_hook_add(uc, &h, UC_HOOK_BLOCK, on_block, &flag, 1, 0);
  if (!strcmp(mode, "tdhooks")) {
    if (!td_attach(uc, ctl, 0, NULL, 1)) { fprintf(stderr, "td_attach failed\n"); return 1; }
  } else {
    uc_hook_add(uc, &h, UC_HOOK_INTR, on_intr, 0, 1, 0);
  }
  struct timespec t0, t1, c0, c1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  uc_err e = uc_emu_start(uc, entry, until, 0, 0);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
  printf("{\"mode\":\"%s\",\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"traps\":%llu,\"err\":%d}\n", mode, s, cpu, (unsigned long long)traps, e);
  uc_close(uc);
  return 0;
}
