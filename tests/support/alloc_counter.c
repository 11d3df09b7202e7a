/* LD_PRELOAD shim for tests/pmd_alloc_test: counts heap allocations made by
 * DPDK worker threads (the PMDs, named "rte-worker-N" by the EAL) and, on
 * SIGUSR2, writes the count to the file named by DPX_ALLOC_COUNT_FILE.
 * Only a test tool: it proves the per-packet path allocates nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static atomic_ulong pmd_allocs;
/* 1: this thread is a PMD; 0: not known yet (thread names are set after the
 * thread starts, so a negative answer is not cached). */
static __thread __attribute__((tls_model("initial-exec"))) int is_pmd;

static void count(void) {
  if (!is_pmd) {
    char name[16] = {0};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (strncmp(name, "rte-worker", 10) == 0) is_pmd = 1;
  }
  if (is_pmd) atomic_fetch_add(&pmd_allocs, 1);
}

void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  count();
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  count();
  void* p = __libc_memalign(align, n);
  if (!p) return 12; /* ENOMEM */
  *out = p;
  return 0;
}
void* aligned_alloc(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}

static char count_path[4096];

static void on_usr2(int sig) {
  (void)sig;
  const char* path = count_path;
  if (!path[0]) return;
  char buf[32];
  unsigned long v = atomic_load(&pmd_allocs);
  int len = 0;
  char tmp[32];
  do {
    tmp[len++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (int i = 0; i < len; i++) buf[i] = tmp[len - 1 - i];
  buf[len++] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    ssize_t w = write(fd, buf, (size_t)len);
    (void)w;
    close(fd);
  }
}

__attribute__((constructor)) static void init(void) {
  /* Read once here: getenv() is not async-signal-safe. */
  const char* p = getenv("DPX_ALLOC_COUNT_FILE");
  if (p) snprintf(count_path, sizeof count_path, "%s", p);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
}
