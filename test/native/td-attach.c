// Test harness for native/trapdoor.c's attach/detach (test/native.test.ts builds and
// runs it). It links build/libtrapdoor.so and defines its own uc_hook_add and
// uc_hook_del: the executable's definitions come first in symbol lookup, so the
// library's calls land here, which counts them and can make one fail. That is how
// the failure path of td_attach after it claimed a slot is reached.
// Usage: td-attach CTL_SLOT. Prints "ok NAME" or "FAIL NAME: why"; exit status =
// number of failures.
#define _GNU_SOURCE
#include <unicorn/unicorn.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct td_state td_state;
td_state *td_attach(uc_engine *uc, uint64_t *ctl, int arch, int (*trap_cb)(void), int count_blocks);
int td_hard_stop(int slot);
void td_detach(td_state *s);

#define MAX_SLOTS 256 // TD_MAX_SLOTS in native/trapdoor.c
static int ctl_slot;
static int failures;

static int fail_at;        // make the fail_at-th uc_hook_add from now fail (0: none)
static int hook_calls;
static int hooks_live;     // added and not deleted, over all engines

typedef uc_err (*hook_add_fn)(uc_engine *, uc_hook *, int, void *, void *, uint64_t, uint64_t, ...);
typedef uc_err (*hook_del_fn)(uc_engine *, uc_hook);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

uc_err uc_hook_add(uc_engine *uc, uc_hook *hh, int type, void *callback, void *user_data,
                   uint64_t begin, uint64_t end, ...) {
  static hook_add_fn real;
  if (!real) real = (hook_add_fn)dlsym(RTLD_NEXT, "uc_hook_add");
  pthread_mutex_lock(&lock);
  int n = ++hook_calls;
  pthread_mutex_unlock(&lock);
  if (fail_at && n == fail_at) return UC_ERR_NOMEM;
  uc_err e = real(uc, hh, type, callback, user_data, begin, end);
  if (e == UC_ERR_OK) { pthread_mutex_lock(&lock); hooks_live++; pthread_mutex_unlock(&lock); }
  return e;
}

uc_err uc_hook_del(uc_engine *uc, uc_hook hh) {
  static hook_del_fn real;
  if (!real) real = (hook_del_fn)dlsym(RTLD_NEXT, "uc_hook_del");
  uc_err e = real(uc, hh);
  if (e == UC_ERR_OK) { pthread_mutex_lock(&lock); hooks_live--; pthread_mutex_unlock(&lock); }
  return e;
}

#define CHECK(name, cond, ...) do { \
    if (cond) printf("ok %s\n", name); \
    else { printf("FAIL %s: ", name); printf(__VA_ARGS__); printf("\n"); failures++; } \
  } while (0)

static uc_engine *open_uc(void) {
  uc_engine *uc;
  if (uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &uc) != UC_ERR_OK) { printf("FAIL uc_open\n"); exit(99); }
  return uc;
}

// An attach whose n-th hook fails: NULL, no hook left, the slot free again.
static void failing_attach(int nth, int count_blocks) {
  char name[64];
  uc_engine *uc = open_uc();
  uint64_t ctl[64] = {0};
  int live = hooks_live;
  hook_calls = 0;
  fail_at = nth;
  td_state *s = td_attach(uc, ctl, 0, NULL, count_blocks);
  fail_at = 0;
  snprintf(name, sizeof name, "attach fails when hook %d fails", nth);
  CHECK(name, s == NULL, "td_attach returned %p", (void *)s);
  snprintf(name, sizeof name, "hook %d failing leaves no hook installed", nth);
  CHECK(name, hooks_live == live, "%d hooks left installed", hooks_live - live);
  // The slot it had claimed (the lowest free one: 0 here) must be free again; a
  // dangling pointer there would be used by td_hard_stop.
  snprintf(name, sizeof name, "hook %d failing frees its slot", nth);
  CHECK(name, td_hard_stop(0) == -1, "td_hard_stop(0) did not return -1");
  uc_close(uc);
}

struct racer { uc_engine *uc; uint64_t ctl[64]; td_state *s; pthread_barrier_t *go; };
static void *race(void *p) {
  struct racer *r = p;
  pthread_barrier_wait(r->go);
  r->s = td_attach(r->uc, r->ctl, 0, NULL, 1);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: td-attach CTL_SLOT\n"); return 99; }
  ctl_slot = atoi(argv[1]);
  setvbuf(stdout, NULL, _IONBF, 0);

  failing_attach(1, 1);
  failing_attach(2, 1);
  failing_attach(3, 1);
  failing_attach(2, 0);

  // After the failures, an attach works, takes slot 0 and can be stopped by it.
  {
    uc_engine *uc = open_uc();
    uint64_t ctl[64] = {0};
    int live = hooks_live;
    td_state *s = td_attach(uc, ctl, 0, NULL, 1);
    CHECK("attach after failures works", s != NULL, "NULL");
    CHECK("attach after failures takes slot 0", s && ctl[ctl_slot] == 0, "slot %llu", (unsigned long long)ctl[ctl_slot]);
    CHECK("td_hard_stop of a live slot", td_hard_stop(0) == 0, "not 0");
    if (s) td_detach(s);
    CHECK("detach removes the hooks attach added", hooks_live == live, "%d hooks left", hooks_live - live);
    CHECK("td_hard_stop of a detached slot is -1", td_hard_stop(0) == -1, "not -1");
    uc_close(uc);
  }

  // Every slot taken: the next attach fails before adding any hook; all come back.
  {
    uc_engine *uc = open_uc();
    static uint64_t ctls[MAX_SLOTS + 1][64];
    static td_state *st[MAX_SLOTS + 1];
    int n = 0;
    while (n <= MAX_SLOTS && (st[n] = td_attach(uc, ctls[n], 0, NULL, 0)) != NULL) n++;
    CHECK("exactly TD_MAX_SLOTS attach", n == MAX_SLOTS, "%d attached", n);
    int live = hooks_live;
    td_state *extra = td_attach(uc, ctls[MAX_SLOTS], 0, NULL, 0);
    CHECK("attach with every slot taken fails", extra == NULL, "got a state");
    CHECK("attach with every slot taken adds no hook", hooks_live == live, "%d hooks", hooks_live - live);
    for (int i = 0; i < n; i++) td_detach(st[i]);
    int stale = 0;
    for (int i = 0; i < MAX_SLOTS; i++) if (td_hard_stop(i) != -1) stale++;
    CHECK("all slots free after detaching", stale == 0, "%d slots still answer", stale);
    uc_close(uc);
  }

  // Several threads attaching at once get distinct slots.
  {
    enum { THREADS = 8, ROUNDS = 200 };
    int dup = 0, nulls = 0;
    for (int round = 0; round < ROUNDS; round++) {
      struct racer r[THREADS];
      pthread_t t[THREADS];
      pthread_barrier_t go;
      pthread_barrier_init(&go, NULL, THREADS);
      for (int i = 0; i < THREADS; i++) { memset(&r[i], 0, sizeof r[i]); r[i].uc = round == 0 ? open_uc() : NULL; r[i].go = &go; }
      static uc_engine *ucs[THREADS];
      for (int i = 0; i < THREADS; i++) { if (round == 0) ucs[i] = r[i].uc; r[i].uc = ucs[i]; }
      for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, race, &r[i]);
      for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
      pthread_barrier_destroy(&go);
      for (int i = 0; i < THREADS; i++) {
        if (!r[i].s) { nulls++; continue; }
        for (int j = 0; j < i; j++) if (r[j].s && r[j].ctl[ctl_slot] == r[i].ctl[ctl_slot]) dup++;
      }
      for (int i = 0; i < THREADS; i++) if (r[i].s) td_detach(r[i].s);
    }
    CHECK("concurrent attaches all succeed", nulls == 0, "%d failed", nulls);
    CHECK("concurrent attaches get distinct slots", dup == 0, "%d duplicate slots in %d rounds", dup, ROUNDS);
  }

  printf("done %d\n", failures);
  return failures;
}
