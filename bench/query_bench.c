/*
 * query_bench.c - top-10 query latency of cpq, in-process (README.md,
 * "Query latency").
 *
 *   query_bench [--build INPUT [--copies N] [--threads N]] [--warmup N]
 *               [--passes N] [--slowest N] INDEX QUERIES
 *
 * With --build, INDEX is first built from INPUT with the library's defaults
 * (cpq_build_opts_default, the settings of `cpq-index build`), reading the
 * documents through benchinput.c exactly as the peers do, N times over for
 * the scaling runs.  Then INDEX is opened and every query of QUERIES is
 * timed as cpq_query_parse + cpq_search (limit 10, default options) +
 * freeing both: the whole cost of answering it in-process.  Queries are
 * parsed with the index's own analyser and a prefix analyser of the same
 * settings without stemming or stopwords, as query.h asks.
 *
 * Two engines are measured, one after the other: "cpq" (passages, the
 * default) and "cpq-grouped" (CPQ_SEARCH_GROUP: one hit per document, its
 * best passage; what the peers return, since they index whole documents).
 * Output: an "info" line, then benchquery.h's lines.
 *
 * Exit status: 0, 1 on failure (build, open, a query file error), 2 usage.
 */
#include "benchquery.h"

#include "cpqindex.h"
#include "engine.h"
#include "jsonl.h"
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "query_bench";

/* ---- building -------------------------------------------------------- */

typedef struct build_ctx {
    cpq_builder *b;
    char *fix;            /* UTF-8 repair buffer, 3x the longest invalid text */
    size_t fixcap;
    unsigned long long repaired;
    cpq_errinfo e;
} build_ctx;

/* benchinput.c passes text through unchecked; cpq_builder_add wants valid
 * UTF-8, so invalid sequences are replaced the way cpq-index does it. */
static int add_doc(void *vctx, const char *id, size_t idlen, const char *text, size_t len)
{
    build_ctx *c = vctx;
    if (!cpq_utf8_valid(text, len)) {
        if (len > (SIZE_MAX - 1) / 3)
            return cpq_err_set(&c->e, CPQ_ENOMEM, "%s: text too long", id);
        if (c->fixcap < 3 * len + 1) {
            char *p = realloc(c->fix, 3 * len + 1);
            if (!p)
                return cpq_err_set(&c->e, CPQ_ENOMEM, "out of memory");
            c->fix = p;
            c->fixcap = 3 * len + 1;
        }
        size_t nbad = 0;
        len = cpq_utf8_repair(text, len, c->fix, &nbad);
        c->repaired += nbad;
        text = c->fix;
    }
    int rc = cpq_builder_add(c->b, id, idlen, text, len, &c->e);
    /* A bad id or text leaves the builder usable; cpq-index would stop too. */
    return rc;
}

static int build(const bench_query_args *a)
{
    cpq_build_opts o;
    build_ctx c;
    char err[512];
    unsigned long long bytes = 0;
    int rc = 1;

    memset(&c, 0, sizeof c);
    cpq_build_opts_default(&o);
    o.threads = a->threads;
    double t0 = bench_query_now();
    if (cpq_builder_create(&o, a->index, &c.b, &c.e) != CPQ_OK) {
        fprintf(stderr, "%s: %s\n", prog, c.e.msg);
        goto done;
    }
    int r = bench_query_corpus(a->build, a->copies, add_doc, &c, &bytes, err, sizeof err);
    if (r) {
        fprintf(stderr, "%s: %s: %s\n", prog, a->build, c.e.code ? c.e.msg : err);
        goto done;
    }
    if (cpq_builder_finish(c.b, &c.e) != CPQ_OK) {
        fprintf(stderr, "%s: %s\n", prog, c.e.msg);
        goto done;
    }
    cpq_build_stats s;
    cpq_builder_stats(c.b, &s);
    fprintf(stderr, "%s: built %s: %llu documents x%u, %llu passages, %.1f MB of text, "
            "%llu invalid UTF-8 sequences repaired, %.2f s\n", prog, a->index,
            (unsigned long long)s.docs, a->copies, (unsigned long long)s.passages,
            (double)bytes / 1e6, c.repaired, bench_query_now() - t0);
    rc = 0;
done:
    cpq_builder_free(c.b);
    free(c.fix);
    return rc;
}

/* ---- querying -------------------------------------------------------- */

typedef struct run_ctx {
    const cpq_index *ix;
    cpq_analyzer *an, *pan;
    cpq_search_opts opts;
} run_ctx;

static int run_query(void *vctx, const bench_query *bq, size_t *nhits, char *msg, size_t msgcap)
{
    run_ctx *c = vctx;
    cpq_query *q = NULL;
    cpq_results r;
    cpq_errinfo e;
    e.msg[0] = '\0';
    int rc = cpq_query_parse(bq->text, bq->len, c->an, c->pan, 0, &q, &e);
    if (rc != CPQ_OK) {
        snprintf(msg, msgcap, "parse: %s: %s", cpq_err_name(rc), e.msg);
        return BENCH_QUERY_ERROR;
    }
    rc = cpq_search(c->ix, q, &c->opts, &r, &e);
    cpq_query_free(q);
    if (rc != CPQ_OK) {
        snprintf(msg, msgcap, "search: %s: %s", cpq_err_name(rc), e.msg);
        return BENCH_QUERY_ERROR;
    }
    *nhits = r.nhits;
    int partial = r.partial;
    if (partial)
        snprintf(msg, msgcap, "budget ran out after %llu postings/positions",
                 (unsigned long long)r.work);
    cpq_results_free(&r);
    return partial ? BENCH_QUERY_PARTIAL : BENCH_QUERY_OK;
}

int main(int argc, char **argv)
{
    bench_query_args a;
    bench_queries qs = { NULL, 0 };
    cpq_index *ix = NULL;
    run_ctx c;
    cpq_errinfo e;
    char err[512];
    int rc = 1;

    memset(&c, 0, sizeof c);
    memset(&e, 0, sizeof e);
    int pr = bench_query_parse_args(argc, argv, prog, &a);
    if (pr)
        return pr == 1 ? 0 : 2;
    if (bench_query_load(a.queries, &qs, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }
    if (a.build && build(&a) != 0)
        goto done;
    if (cpq_index_open(a.index, CPQ_OPEN_DEFAULT, &ix, &e) != CPQ_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, a.index, e.msg);
        goto done;
    }
    const cpq_index_info *info = cpq_index_get_info(ix);
    if (cpq_analyzer_create(&info->analysis, &c.an, &e) != CPQ_OK
        || cpq_analyzer_create_prefix(&info->analysis, &c.pan, &e) != CPQ_OK) {
        fprintf(stderr, "%s: analyser: %s\n", prog, e.msg);
        goto done;
    }
    c.ix = ix;
    printf("info\tcpq\tdocs=%llu passages=%llu text_bytes=%llu index_bytes=%llu\n",
           (unsigned long long)info->docs, (unsigned long long)info->passages,
           (unsigned long long)info->text_bytes, (unsigned long long)info->file_bytes);

    static const struct {
        const char *engine;
        unsigned flags;
    } rows[] = { { "cpq", 0 }, { "cpq-grouped", CPQ_SEARCH_GROUP } };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cpq_search_opts_default(&c.opts);
        c.opts.flags = rows[i].flags;
        if (bench_query_measure(&qs, rows[i].engine, run_query, &c, &a.opts, stdout) < 0) {
            fprintf(stderr, "%s: out of memory\n", prog);
            goto done;
        }
    }
    rc = 0;
done:
    cpq_analyzer_free(c.pan);
    cpq_analyzer_free(c.an);
    cpq_index_close(ix);
    bench_query_free(&qs);
    return rc;
}
