/* stats.c - see stats.h. */
#include "stats.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

cpqd_gstats cpqd_gstats_g;

static cpqd_wstats *workers;
static size_t nworkers;
static struct timespec started;

void cpqd_stats_init(cpqd_wstats *w, size_t n)
{
    workers = w;
    nworkers = n;
    clock_gettime(CLOCK_MONOTONIC, &started);
}

static unsigned bucket_of(uint64_t us)
{
    if (us < 32) return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);      /* e >= 5 */
    if (e > 36) return CPQD_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(us >> (e - 4)) & 15u;
    return 32u + (e - 5u) * 16u + sub;
}

/* The largest value that falls in bucket b. */
static uint64_t bucket_upper(unsigned b)
{
    if (b < 32) return b;
    unsigned e = 5u + (b - 32u) / 16u, sub = (b - 32u) % 16u;
    uint64_t lo = (uint64_t)(16u + sub) << (e - 4u);
    return lo + ((uint64_t)1 << (e - 4u)) - 1u;
}

void cpqd_stats_search(cpqd_wstats *w, uint64_t us)
{
    cpqd_ctr_add(&w->searches, 1);
    cpqd_ctr_add(&w->hist[bucket_of(us)], 1);
    if (us > cpqd_ctr_get(&w->search_us_max))
        atomic_store_explicit(&w->search_us_max, us, memory_order_relaxed);
}

void cpqd_stats_sum_all(cpqd_stats_sum *s)
{
    /* The workers' histograms are summed into this 4 KiB local array. */
    uint64_t hist[CPQD_HIST_BUCKETS];
    memset(s, 0, sizeof *s);
    memset(hist, 0, sizeof hist);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    s->uptime_s = (uint64_t)(now.tv_sec - started.tv_sec);
    s->threads = nworkers;
    for (size_t i = 0; i < nworkers; i++) {
        const cpqd_wstats *w = &workers[i];
        s->commands += cpqd_ctr_get(&w->commands);
        s->errors += cpqd_ctr_get(&w->errors);
        s->slow += cpqd_ctr_get(&w->slow);
        s->bytes_in += cpqd_ctr_get(&w->bytes_in);
        s->bytes_out += cpqd_ctr_get(&w->bytes_out);
        s->pc_hits += cpqd_ctr_get(&w->pc_hits);
        s->pc_misses += cpqd_ctr_get(&w->pc_misses);
        s->pc_bytes += cpqd_ctr_get(&w->pc_bytes);
        uint64_t m = cpqd_ctr_get(&w->search_us_max);
        if (m > s->max) s->max = m;
        for (unsigned b = 0; b < CPQD_HIST_BUCKETS; b++) hist[b] += cpqd_ctr_get(&w->hist[b]);
    }
    uint64_t n = 0;
    for (unsigned b = 0; b < CPQD_HIST_BUCKETS; b++) n += hist[b];
    s->searches = n;   /* the histogram's own count, so percentiles agree with it */
    if (n == 0) return;
    const double q[3] = { 0.50, 0.90, 0.99 };
    uint64_t *out[3] = { &s->p50, &s->p90, &s->p99 };
    for (int k = 0; k < 3; k++) {
        uint64_t want = (uint64_t)(q[k] * (double)n + 0.999999), seen = 0;
        if (want < 1) want = 1;
        for (unsigned b = 0; b < CPQD_HIST_BUCKETS; b++) {
            seen += hist[b];
            if (seen >= want) {
                uint64_t u = bucket_upper(b);
                *out[k] = u < s->max ? u : s->max;
                break;
            }
        }
    }
}

uint64_t cpqd_stats_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, res = 0;
    int ok = fscanf(f, "%llu %llu", &size, &res) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? res * (uint64_t)page : 0;
}
