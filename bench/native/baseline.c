// Baselines for bench/core.ts, built at bench time against libunicorn-dev:
// the same guest image run from C with no hooks ("plain"), with a block hook like
// Trapdoor's native one ("block"), and with a C trap hook answering every SMC
// ("trapc"). Prints one JSON line: seconds and counts.
#include <unicorn/unicorn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
  if (argc < 6) { fprintf(stderr, "usage: baseline plain|block|trapc image.bin load entry until\n"); return 2; }
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
  if (!strcmp(mode, "block")) uc_hook_add(uc, &h, UC_HOOK_BLOCK, on_block, &flag, 1, 0);
  if (!strcmp(mode, "trapc") || !strcmp(mode, "block") || !strcmp(mode, "plain")) uc_hook_add(uc, &h, UC_HOOK_INTR, on_intr, 0, 1, 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uc_err e = uc_emu_start(uc, entry, until, 0, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("{\"mode\":\"%s\",\"seconds\":%.6f,\"traps\":%llu,\"err\":%d}\n", mode, s, (unsigned long long)traps, e);
  uc_close(uc);
  return 0;
}
