/*
 * exact_check.c - pruned top-k against exhaustive evaluation on real data
 * (README.md, "Query latency"): every query of a JSON Lines file, grouped
 * and not, at limits 1, 10 and 25, is searched twice, with the default
 * pruning and with CPQ_SEARCH_EXHAUSTIVE; the hits (passage, document,
 * score) must be identical, and a count said to be exact must equal the
 * exhaustive one.  The unit tests do this on a synthetic index; this runs
 * the AOL queries on gcide or linux-doc, whose frequent words and (with
 * --copies in query_bench) exact duplicates exercise every pruning path.
 *
 *   exact_check INDEX QUERIES
 *
 * Output: "exact N checked, M different" and the first differences.
 * Exit status: 0 when none differ, 1 otherwise or on failure, 2 usage.
 */
#include "benchquery.h"

#include "cpqindex.h"
#include "engine.h"
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "exact_check";

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s INDEX QUERIES\n", prog);
        return 2;
    }
    char err[512];
    bench_queries qs = { NULL, 0 };
    if (bench_query_load(argv[2], &qs, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    cpq_index *ix = NULL;
    cpq_errinfo e;
    if (cpq_index_open(argv[1], CPQ_OPEN_DEFAULT, &ix, &e) != CPQ_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, argv[1], e.msg);
        bench_query_free(&qs);
        return 1;
    }
    const cpq_index_info *info = cpq_index_get_info(ix);
    cpq_analyzer *an = NULL, *pan = NULL;
    int rc = 1;
    if (cpq_analyzer_create(&info->analysis, &an, &e) != CPQ_OK || cpq_analyzer_create_prefix(&info->analysis, &pan, &e) != CPQ_OK) {
        fprintf(stderr, "%s: %s\n", prog, e.msg);
        goto done;
    }
    static const uint32_t limits[] = { 1, 10, 25 };
    unsigned long checked = 0, bad = 0;
    for (size_t i = 0; i < qs.n; i++) {
        cpq_query *q = NULL;
        if (cpq_query_parse(qs.q[i].text, qs.q[i].len, an, pan, 0, &q, &e) != CPQ_OK) continue;
        for (int g = 0; g < 2; g++)
            for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
                cpq_search_opts o;
                cpq_search_opts_default(&o);
                o.limit = limits[l];
                o.flags = g ? CPQ_SEARCH_GROUP : 0;
                cpq_results a, b;
                if (cpq_search(ix, q, &o, &a, &e) != CPQ_OK) {
                    fprintf(stderr, "%s: %s: %s\n", prog, qs.q[i].text, e.msg);
                    cpq_query_free(q);
                    goto done;
                }
                o.flags |= CPQ_SEARCH_EXHAUSTIVE;
                if (cpq_search(ix, q, &o, &b, &e) != CPQ_OK) {
                    fprintf(stderr, "%s: %s: %s\n", prog, qs.q[i].text, e.msg);
                    cpq_results_free(&a);
                    cpq_query_free(q);
                    goto done;
                }
                int same = a.nhits == b.nhits && !a.partial && !b.partial && (!a.total_exact || a.total == b.total);
                for (size_t k = 0; same && k < a.nhits; k++)
                    same = a.hits[k].passage == b.hits[k].passage && a.hits[k].doc == b.hits[k].doc
                           && a.hits[k].score == b.hits[k].score;
                checked++;
                if (!same && bad++ < 10)
                    printf("differs (%s, limit %u): %s\n", g ? "grouped" : "passages", limits[l], qs.q[i].text);
                cpq_results_free(&a);
                cpq_results_free(&b);
            }
        cpq_query_free(q);
    }
    printf("exact %lu checked, %lu different\n", checked, bad);
    rc = bad != 0;
done:
    cpq_analyzer_free(an);
    cpq_analyzer_free(pan);
    cpq_index_close(ix);
    bench_query_free(&qs);
    return rc;
}
