/*
 * hit_bench.c - where a SEARCH's time goes, in-process (README.md, "Daemon
 * load"): for every query of a JSON Lines file, the parse, cpq_search (top
 * 10), then for each hit cpq_index_passage_full (its table records, as the
 * daemon's "hit" line needs), cpq_fetch_passage (its text) and cpq_snippet
 * (the best window of 200 bytes, the protocol's default) - each summed
 * over all the queries and printed as microseconds per query.
 *
 *   hit_bench [--passes N] [--snippet BYTES] INDEX QUERIES
 *
 * Every pass runs every query in file order; the figures are those of the
 * fastest pass (the least disturbed on a shared machine).  Output, one
 * tab-separated line:
 *   hits QUERIES HITS parse_us search_us table_us fetch_us snippet_us total_us
 *
 * Exit status: 0, 1 on failure, 2 usage.
 */
#include "benchquery.h"

#include "cpqindex.h"
#include "engine.h"
#include "query.h"
#include "snippet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char prog[] = "hit_bench";

enum { T_PARSE, T_SEARCH, T_TABLE, T_FETCH, T_SNIPPET, T_N };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: %s [--passes N] [--snippet BYTES] INDEX QUERIES\n", prog);
    return 2;
}

int main(int argc, char **argv)
{
    int passes = 5;
    size_t snip = 200;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc) return usage();
        long v = strtol(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--passes") && v > 0 && v < 1000) passes = (int)v;
        else if (!strcmp(argv[i], "--snippet") && v > 0 && v < 100000) snip = (size_t)v;
        else return usage();
    }
    if (argc - i != 2) return usage();

    char err[512];
    bench_queries qs = { NULL, 0 };
    if (bench_query_load(argv[i + 1], &qs, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    cpq_index *ix = NULL;
    cpq_errinfo e;
    if (cpq_index_open(argv[i], CPQ_OPEN_DEFAULT, &ix, &e) != CPQ_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, argv[i], e.msg);
        bench_query_free(&qs);
        return 1;
    }
    const cpq_index_info *info = cpq_index_get_info(ix);
    cpq_analyzer *an = NULL, *pan = NULL;
    cpq_fetch *f = NULL;
    int rc = 1;
    if (cpq_analyzer_create(&info->analysis, &an, &e) != CPQ_OK || cpq_analyzer_create_prefix(&info->analysis, &pan, &e) != CPQ_OK
        || cpq_fetch_create(ix, &f) != CPQ_OK) {
        fprintf(stderr, "%s: %s\n", prog, e.msg);
        goto done;
    }

    cpq_search_opts o;
    cpq_search_opts_default(&o);
    cpq_snippet_out so = { 0 };
    double best[T_N] = { 0 }, best_total = -1;
    unsigned long long hits = 0;
    for (int pass = 0; pass < passes; pass++) {
        double t[T_N] = { 0 };
        hits = 0;
        for (size_t k = 0; k < qs.n; k++) {
            cpq_query *q = NULL;
            cpq_results r;
            double t0 = now();
            if (cpq_query_parse(qs.q[k].text, qs.q[k].len, an, pan, 0, &q, &e) != CPQ_OK) continue;
            double t1 = now();
            if (cpq_search(ix, q, &o, &r, &e) != CPQ_OK) {
                cpq_query_free(q);
                continue;
            }
            double t2 = now();
            t[T_PARSE] += t1 - t0;
            t[T_SEARCH] += t2 - t1;
            for (size_t h = 0; h < r.nhits; h++) {
                cpq_passage_info pi;
                cpq_doc_info di;
                const char *text;
                size_t len;
                double a = now();
                if (cpq_index_passage_full(ix, r.hits[h].passage, &pi, &di) != CPQ_OK) goto fail;
                double b = now();
                if (cpq_fetch_passage(f, r.hits[h].passage, &text, &len) != CPQ_OK) goto fail;
                double c = now();
                if (cpq_snippet(an, pan, q, text, len, snip, &so, &e) != CPQ_OK) goto fail;
                double d = now();
                t[T_TABLE] += b - a;
                t[T_FETCH] += c - b;
                t[T_SNIPPET] += d - c;
                hits++;
            }
            cpq_results_free(&r);
            cpq_query_free(q);
        }
        double total = 0;
        for (int j = 0; j < T_N; j++) total += t[j];
        if (best_total < 0 || total < best_total) {
            best_total = total;
            memcpy(best, t, sizeof best);
        }
    }
    double per = qs.n ? 1e6 / (double)qs.n : 0;
    printf("hits\t%zu\t%llu\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n", qs.n, hits, best[T_PARSE] * per,
           best[T_SEARCH] * per, best[T_TABLE] * per, best[T_FETCH] * per, best[T_SNIPPET] * per,
           best_total * per);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s: a hit's passage could not be read\n", prog);
done:
    cpq_snippet_out_free(&so);
    cpq_fetch_free(f);
    cpq_analyzer_free(an);
    cpq_analyzer_free(pan);
    cpq_index_close(ix);
    bench_query_free(&qs);
    return rc;
}
