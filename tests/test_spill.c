/* test_spill.c - a build forced to spill runs to disk (and one on one
 * thread) yields the same index contents and the same search results as an
 * in-memory build on two threads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpqindex.h"
#include "testutil.h"

#define NDOCS 4000

static int build(const char *path, tu_doc *docs, size_t memory, int threads, cpq_build_stats *st)
{
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.memory = memory;
    o.threads = threads;
    o.passage_words = 50;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, path, &b, &e), CPQ_OK, "%s", e.msg);
    for (size_t i = 0; i < NDOCS; i++)
        cr_assert_eq(cpq_builder_add(b, docs[i].id, strlen(docs[i].id), docs[i].text, docs[i].len, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_stats(b, st);
    cpq_builder_free(b);
    return 0;
}

Test(spill, same_results_as_in_memory, .timeout = 240)
{
    char *dir = tu_tempdir();
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/mem.cpqx", dir);
    snprintf(b, sizeof b, "%s/spill.cpqx", dir);
    tu_doc *docs = tu_make_corpus(NDOCS, 150, 77);
    cpq_build_stats sa, sb;
    build(a, docs, (size_t)256 << 20, 2, &sa);
    build(b, docs, CPQ_MEMORY_MIN, 1, &sb);
    cr_assert_eq(sa.spilled_runs, 0, "the in-memory build spilled");
    cr_assert(sb.spilled_runs >= 2, "the 1 MiB build should spill several times (spilled %llu)",
              (unsigned long long)sb.spilled_runs);
    cpq_index *ia, *ib;
    cpq_errinfo e;
    cr_assert_eq(cpq_index_open(a, 0, &ia, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_index_open(b, 0, &ib, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_index_verify(ib, &e), CPQ_OK, "%s", e.msg);
    const char *diff = tu_index_diff(ia, ib);
    cr_assert(diff == NULL, "indexes differ: %s", diff);
    const char *queries[] = { "w1a w2a", "w0a", "w17as", "café naïve", "w3a w5a w8a w13a", "東京", "2015 résumé" };
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        uint32_t ida[10], idb[10];
        float sca[10], scb[10];
        size_t na = tu_bm25_topk(ia, queries[q], 10, ida, sca);
        size_t nb = tu_bm25_topk(ib, queries[q], 10, idb, scb);
        cr_assert(na > 0, "query '%s' found nothing", queries[q]);
        cr_assert_eq(na, nb);
        for (size_t i = 0; i < na; i++) {
            cr_assert_eq(ida[i], idb[i], "query '%s' rank %zu", queries[q], i);
            cr_assert_eq(sca[i], scb[i]);
        }
    }
    cpq_index_close(ia);
    cpq_index_close(ib);
    /* Spill files are unlinked at creation: nothing is left behind. */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
    cr_assert_eq(system(cmd), 0, "stray files in the output directory");
    tu_free_corpus(docs, NDOCS);
    tu_rmrf(dir);
    free(dir);
}
