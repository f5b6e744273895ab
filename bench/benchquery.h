/*
 * benchquery.h - the harness shared by the query-latency benchmark programs
 * (query_bench for cpq, peer_fts5_query, peer_xapian_query; README.md,
 * "Query latency").
 *
 * It does the parts that must be identical for every engine, so the rows of
 * one table differ only in the engine:
 *
 *   - the query file: JSON Lines, one {"query": "...", "tags": [...]} object
 *     a line; the first tag is the query's kind ("term", "union",
 *     "intersection", "phrase", ...), "untagged" when there is none.  Other
 *     members are skipped.  Lines are bounded (BENCH_QUERY_LINE_MAX), and so
 *     are the query text and the number of queries.
 *   - the corpus, read through benchinput.c, optionally N times over with
 *     unique ids (copy k > 0 gets "#k" appended to each id), for the
 *     scaling runs;
 *   - the clock, the passes and the statistics, and the output lines.
 *
 * Measurement (bench_query_measure): `warmup` passes over all the queries in
 * file order, untimed, then `passes` timed passes in the same order.  A
 * query's latency is the median of its timed passes (robust against the odd
 * preemption on a busy machine); the statistics of a kind are over its
 * queries' latencies: p50 and p99 by nearest rank, max, mean.  The clock
 * is CLOCK_MONOTONIC, or the thread's CPU time on request (cpu_clock).  A query that
 * failed is left out of the statistics and reported; one whose result is
 * partial (an engine's budget ran out) is kept and reported.
 *
 * Output, tab-separated, one record a line (tabs and newlines inside query
 * text are printed as spaces):
 *   row    ENGINE KIND N P50 P99 MAX MEAN ZERO ERRORS   (times in ms; ZERO =
 *          queries that returned no hit; ERRORS = queries left out)
 *   slow   ENGINE KIND MS QUERY                          (the slowest queries)
 *   error  ENGINE KIND QUERY MESSAGE
 *   partial ENGINE KIND QUERY MESSAGE
 * The driver (query.sh) turns them into tables.
 *
 * Bench code, not part of libcpqindex: it prints to the FILE it is given
 * and never exits.
 */
#ifndef BENCH_QUERY_H
#define BENCH_QUERY_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_QUERY_LINE_MAX ((size_t)64 << 10) /* one line of the query file */
#define BENCH_QUERY_TEXT_MAX 4096u              /* one query's text, bytes */
#define BENCH_QUERY_COUNT_MAX 1000000u          /* queries in one file */
#define BENCH_QUERY_KIND_MAX 32u                /* a kind name, bytes with the NUL */
#define BENCH_QUERY_COPIES_MAX 1000u

typedef struct bench_query {
    char *text;                      /* NUL-terminated, JSON escapes undone */
    size_t len;
    char kind[BENCH_QUERY_KIND_MAX]; /* the first tag (truncated to fit) */
} bench_query;

typedef struct bench_queries {
    bench_query *q;
    size_t n;
} bench_queries;

/* Load the query file at path into *qs (zeroed first).  Returns 0, or -1
 * with a one-line message (file and line) in err; on error *qs is empty.
 * Free with bench_query_free. */
int bench_query_load(const char *path, bench_queries *qs, char *err, size_t errcap);

/* Free what bench_query_load allocated; NULL and empty sets are accepted. */
void bench_query_free(bench_queries *qs);

/* Called once per document.  id is NUL-terminated; text may hold NUL bytes
 * (a file of a directory tree) and is NUL-terminated after len.  Both are
 * valid during the call only.  Return 0 to go on; anything else stops the
 * reading and is returned by bench_query_corpus. */
typedef int (*bench_query_doc_fn)(void *ctx, const char *id, size_t idlen, const char *text,
                                  size_t len);

/* Feed the documents of path (a .jsonl file or a directory, as benchinput.h
 * reads them) to fn, copies times over; in copy k > 0 every id gets "#k"
 * appended, so ids stay unique.  *bytes (may be NULL) receives the total
 * text length fed.  Returns 0; -1 with a message in err when the input
 * cannot be read; or fn's non-zero value (err then says only that fn
 * stopped). */
int bench_query_corpus(const char *path, unsigned copies, bench_query_doc_fn fn, void *ctx,
                       unsigned long long *bytes, char *err, size_t errcap);

/* Outcome of running one query once. */
enum {
    BENCH_QUERY_OK = 0,
    BENCH_QUERY_PARTIAL = 1, /* answered, but the engine says the result is incomplete */
    BENCH_QUERY_ERROR = -1,  /* not answered; the message says why */
};

/* Run query q once: parse it, search for the top 10, drop the result.
 * Sets *nhits; on BENCH_QUERY_ERROR or BENCH_QUERY_PARTIAL writes a message
 * into msg (msgcap bytes). */
typedef int (*bench_query_run_fn)(void *ctx, const bench_query *q, size_t *nhits, char *msg,
                                  size_t msgcap);

typedef struct bench_query_opts {
    unsigned warmup;  /* untimed passes first; default 2 */
    unsigned passes;  /* timed passes, >= 1; default 5 */
    unsigned slowest; /* how many of the slowest queries to print; default 10 */
    int cpu_clock;    /* 1: time with CLOCK_THREAD_CPUTIME_ID (the thread's CPU time,
                         blind to preemption on a busy machine; every call is a system
                         call, ~0.1-0.3 us more per query); 0 (default): CLOCK_MONOTONIC */
} bench_query_opts;

void bench_query_opts_default(bench_query_opts *o);

/* Measure fn on every query of qs as described at the top and print the
 * row, slow, error and partial lines for ENGINE to out.  Returns 0, or -1
 * when memory ran out (nothing printed). */
int bench_query_measure(const bench_queries *qs, const char *engine, bench_query_run_fn fn,
                        void *ctx, const bench_query_opts *o, FILE *out);

/* Seconds on CLOCK_MONOTONIC. */
double bench_query_now(void);

/* The options every query program takes; see bench_query_parse_args. */
typedef struct bench_query_args {
    const char *index;    /* INDEX: the index / database to query (and to build) */
    const char *queries;  /* QUERIES: the query file */
    const char *build;    /* --build INPUT, or NULL: open INDEX as it is */
    unsigned copies;      /* --copies N (default 1) */
    int threads;          /* --threads N (default 0: the engine's choice; cpq only) */
    bench_query_opts opts;/* --warmup, --passes, --slowest, --clock */
} bench_query_args;

/* Parse "PROG [--build INPUT] [--copies N] [--threads N] [--warmup N]
 * [--passes N] [--slowest N] [--clock wall|cpu] INDEX QUERIES".  Returns 0, 1 after printing
 * the help (-h), or 2 after printing a usage error to stderr. */
int bench_query_parse_args(int argc, char **argv, const char *prog, bench_query_args *a);

#ifdef __cplusplus
}
#endif

#endif
