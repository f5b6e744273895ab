/*
 * stats.h - cpqd's counters and the search latency histogram.
 *
 * Every worker thread owns one cpqd_wstats and is its only writer, so the
 * hot path needs no lock and no read-modify-write instruction: a counter is
 * bumped with a relaxed load and a relaxed store (a plain add on x86).
 * STATS sums all workers' blocks with relaxed loads; the sums are not one
 * consistent snapshot (a command counted in one field may not be in
 * another yet), which is fine for monitoring.  Server-wide events (accepts,
 * rejections, reloads) are rare and use atomic increments in cpqd_gstats.
 *
 * Latency histogram: log-linear buckets over microseconds - exact below
 * 32 us, then 16 sub-buckets per power of two (at most 1/16 = 6% error) up
 * to 2^36 us.  Percentiles report a bucket's upper bound, never an
 * underestimate.
 */
#ifndef CPQD_STATS_H
#define CPQD_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CPQD_HIST_BUCKETS (32 + 32 * 16)

typedef _Atomic uint64_t cpqd_ctr;

/* Owner-thread increment: only the owning worker writes its counters. */
static inline void cpqd_ctr_add(cpqd_ctr *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline uint64_t cpqd_ctr_get(const cpqd_ctr *c)
{
    return atomic_load_explicit((cpqd_ctr *)c, memory_order_relaxed);
}

/* One worker's counters (owner-written). */
typedef struct cpqd_wstats {
    cpqd_ctr commands, errors, searches, slow, bytes_in, bytes_out;
    cpqd_ctr search_us_max;
    cpqd_ctr pc_hits, pc_misses, pc_bytes;   /* passage cache; pc_bytes a gauge */
    cpqd_ctr hist[CPQD_HIST_BUCKETS];
} cpqd_wstats;

/* Server-wide counters (atomic increments from any thread). */
typedef struct cpqd_gstats {
    atomic_long connections;          /* open now */
    atomic_ullong connections_total;  /* accepted and served */
    atomic_ullong connections_rejected;
    atomic_ullong reloads, reload_failures;
    atomic_ullong unsent;             /* bytes of replies waiting for slow readers (server.c) */
} cpqd_gstats;

extern cpqd_gstats cpqd_gstats_g;

/* Record the start time and the per-worker blocks (an array of n, owned by
 * the caller, living until exit).  Call once before the workers start. */
void cpqd_stats_init(cpqd_wstats *workers, size_t n);

/* Record one search of `us` microseconds in w (owner thread only). */
void cpqd_stats_search(cpqd_wstats *w, uint64_t us);

/* Sums over every worker. */
typedef struct cpqd_stats_sum {
    uint64_t uptime_s;
    uint64_t commands, errors, searches, slow, bytes_in, bytes_out;
    uint64_t p50, p90, p99, max;      /* search latency, microseconds */
    uint64_t pc_hits, pc_misses, pc_bytes; /* passage caches */
    size_t threads;
} cpqd_stats_sum;

void cpqd_stats_sum_all(cpqd_stats_sum *s);

/* Resident set size in bytes from /proc/self/statm; 0 if unavailable. */
uint64_t cpqd_stats_rss(void);

#endif
