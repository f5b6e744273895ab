/* failmalloc.c - an LD_PRELOAD allocator that makes allocations fail, for
 * the daemon's allocation-failure test (tests/daemon_failmalloc.sh).
 *
 *   CPQ_FAILMALLOC_DELAY_MS=D   start failing D ms after the process starts
 *                               (default 1000: start-up is left alone)
 *   CPQ_FAILMALLOC_EVERY=N      then fail every N-th allocation (default 50)
 *   CPQ_FAILMALLOC_FOR_MS=F     for F ms, then succeed again (default: forever)
 *
 * It forwards to glibc's __libc_* functions, which glibc provides for
 * exactly this kind of interposition.  Not for sanitizer builds (they
 * replace malloc themselves). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ullong count;
static long every = -1;
static double start_at, stop_at;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((constructor)) static void init(void)
{
    const char *d = getenv("CPQ_FAILMALLOC_DELAY_MS"), *e = getenv("CPQ_FAILMALLOC_EVERY"),
               *f = getenv("CPQ_FAILMALLOC_FOR_MS");
    start_at = now() + (d ? atof(d) : 1000.0) / 1000.0;
    stop_at = f ? start_at + atof(f) / 1000.0 : 1e300;
    every = e ? atol(e) : 50;
}

static int fail(void)
{
    if (every <= 0) return 0;
    double t = now();
    if (t < start_at || t >= stop_at) return 0;
    return atomic_fetch_add(&count, 1) % (unsigned long long)every == (unsigned long long)every - 1;
}

void *malloc(size_t n) { return fail() ? NULL : __libc_malloc(n); }
void *calloc(size_t a, size_t b) { return fail() ? NULL : __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { return n && fail() ? NULL : __libc_realloc(p, n); }
void *aligned_alloc(size_t al, size_t n) { return fail() ? NULL : __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n)
{
    void *p = fail() ? NULL : __libc_memalign(al, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
