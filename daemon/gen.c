/* gen.c - see gen.h. */
#include "gen.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"

typedef struct gen_impl {
    cpqd_gen pub;
    atomic_int refs;
} gen_impl;

/* `mu` guards `cur` only for the few instructions of acquire and swap;
 * `reload_mu` serialises whole reloads (which take as long as verifying
 * the file) without holding `mu` meanwhile. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static gen_impl *cur;
static atomic_uint_fast64_t cur_num;
static char *index_path;
static void (*notify_fn)(void *);
static void *notify_ctx;

static gen_impl *gen_open(const char *path, uint64_t num, char *why, size_t cap)
{
    cpq_index *ix = NULL;
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    int rc = cpq_index_open(path, CPQ_OPEN_DEFAULT, &ix, &e);
    if (rc == CPQ_OK) rc = cpq_index_verify(ix, &e);
    if (rc != CPQ_OK) {
        snprintf(why, cap, "%s: %s", cpq_err_name(rc), e.msg[0] ? e.msg : cpq_err_str(rc));
        cpq_index_close(ix);
        return NULL;
    }
    gen_impl *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(why, cap, "out of memory");
        cpq_index_close(ix);
        return NULL;
    }
    g->pub.ix = ix;
    g->pub.info = cpq_index_get_info(ix);
    g->pub.num = num;
    g->pub.path = index_path;
    atomic_init(&g->refs, 1);
    return g;
}

int cpqd_gen_init(const char *path, char *why, size_t cap)
{
    index_path = strdup(path);
    if (!index_path) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    cur = gen_open(path, 1, why, cap);
    if (!cur) {
        free(index_path);
        index_path = NULL;
        return -1;
    }
    atomic_store(&cur_num, 1);
    return 0;
}

void cpqd_gen_shutdown(void)
{
    pthread_mutex_lock(&mu);
    gen_impl *g = cur;
    cur = NULL;
    pthread_mutex_unlock(&mu);
    if (g) cpqd_gen_release(&g->pub);
    /* index_path is shared by generations that may still be referenced by
     * a thread that has not exited yet; it lives until exit. */
}

cpqd_gen *cpqd_gen_acquire(void)
{
    pthread_mutex_lock(&mu);
    gen_impl *g = cur;
    if (g) atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&mu);
    return g ? &g->pub : NULL;
}

void cpqd_gen_release(cpqd_gen *pg)
{
    if (!pg) return;
    gen_impl *g = (gen_impl *)pg;
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1) return;
    cpqd_debug("generation %llu released", (unsigned long long)g->pub.num);
    cpq_index_close(g->pub.ix);
    free(g);
}

uint64_t cpqd_gen_current_num(void)
{
    return atomic_load_explicit(&cur_num, memory_order_acquire);
}

void cpqd_gen_set_notify(void (*fn)(void *ctx), void *ctx)
{
    notify_fn = fn;
    notify_ctx = ctx;
}

int cpqd_gen_reload(const char *origin, uint64_t *num, char *why, size_t cap)
{
    pthread_mutex_lock(&reload_mu);
    uint64_t next = atomic_load(&cur_num) + 1;
    gen_impl *g = gen_open(index_path, next, why, cap);
    if (!g) {
        atomic_fetch_add(&cpqd_gstats_g.reload_failures, 1);
        cpqd_error("reload (%s) of %s failed, still serving generation %llu: %s", origin,
                   index_path, (unsigned long long)(next - 1), why);
        pthread_mutex_unlock(&reload_mu);
        return -1;
    }
    pthread_mutex_lock(&mu);
    gen_impl *old = cur;
    cur = g;
    atomic_store_explicit(&cur_num, next, memory_order_release);
    pthread_mutex_unlock(&mu);
    cpqd_gen_release(old ? &old->pub : NULL);
    atomic_fetch_add(&cpqd_gstats_g.reloads, 1);
    cpqd_info("reload (%s): generation %llu: %s, %llu passages, %llu docs", origin,
              (unsigned long long)next, index_path, (unsigned long long)g->pub.info->passages,
              (unsigned long long)g->pub.info->docs);
    if (num) *num = next;
    if (notify_fn) notify_fn(notify_ctx);
    pthread_mutex_unlock(&reload_mu);
    return 0;
}
