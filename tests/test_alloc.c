/* test_alloc.c - allocation failure injected into the index reader, the
 * query parser, the engine, explain and snippets: for every N, the N-th
 * allocation of a whole open/query/close cycle fails, and every call must
 * then return CPQ_ENOMEM (or succeed, when the failing allocation had a
 * fallback), never crash, and leave nothing allocated after the cleanup.
 *
 * The allocator is replaced for this test binary by defining malloc and
 * friends over glibc's __libc_* entry points (glibc supports replacing
 * malloc so; its own internal calls come here too).  AddressSanitizer
 * replaces malloc itself, so under it the test is skipped - the plain
 * build runs it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpqindex.h"
#include "engine.h"
#include "query.h"
#include "snippet.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define CPQ_ALLOC_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define CPQ_ALLOC_SKIP 1
#endif
#endif

#ifndef CPQ_ALLOC_SKIP
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

/* The harness: while armed, count allocations; the fail_at-th fails. */
static __thread int armed;
static __thread long count, fail_at, live;
static __thread int failed_one;

static int should_fail(void)
{
    if (!armed) return 0;
    if (++count == fail_at) { failed_one = 1; return 1; }
    return 0;
}

void *malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = __libc_malloc(n);
    if (p && armed) live++;
    return p;
}

void *calloc(size_t a, size_t b)
{
    if (should_fail()) return NULL;
    void *p = __libc_calloc(a, b);
    if (p && armed) live++;
    return p;
}

void *realloc(void *q, size_t n)
{
    if (should_fail()) return NULL;
    void *p = __libc_realloc(q, n);
    if (p && !q && armed) live++;
    if (!p && q && n == 0 && armed) live--;
    return p;
}

void free(void *p)
{
    if (p && armed) live--;
    __libc_free(p);
}

int posix_memalign(void **out, size_t al, size_t n)
{
    if (should_fail()) return 12; /* ENOMEM */
    void *p = __libc_memalign(al, n);
    if (!p) return 12;
    if (armed) live++;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t al, size_t n)
{
    if (should_fail()) return NULL;
    void *p = __libc_memalign(al, n);
    if (p && armed) live++;
    return p;
}
#endif

static char *dir;
static char path[4096];

static void setup(void)
{
    dir = tu_tempdir();
    snprintf(path, sizeof path, "%s/a.cpqx", dir);
    tu_doc *docs = tu_make_corpus(200, 80, 77);
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.passage_words = 30;
    o.threads = 1;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, path, &b, &e), CPQ_OK, "%s", e.msg);
    for (size_t i = 0; i < 200; i++)
        cr_assert_eq(cpq_builder_add(b, docs[i].id, strlen(docs[i].id), docs[i].text, docs[i].len, &e), CPQ_OK);
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);
    tu_free_corpus(docs, 200);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

TestSuite(alloc, .init = setup, .fini = teardown, .timeout = 600);

#ifndef CPQ_ALLOC_SKIP
#define OKISH(rc) ((rc) == CPQ_OK || (rc) == CPQ_ENOMEM)

/* One whole cycle.  Returns a message for the first call that returned
 * something other than OK/ENOMEM, or NULL.  Frees everything it made. */
static const char *cycle(int *bad_rc)
{
    static const char *queries[] = {"the", "a b c", "+a +b -c", "\"a b\"", "a NEAR/3 b", "ab*",
                                    "(a OR b) AND NOT c"};
    cpq_index *ix = NULL;
    cpq_analyzer *an = NULL, *pan = NULL;
    cpq_fetch *f = NULL;
    const char *what = NULL;
    cpq_errinfo e;
    int rc = cpq_index_open(path, 0, &ix, &e);
    if (rc != CPQ_OK) { if (!OKISH(rc)) what = "open"; goto out; }
    rc = cpq_index_verify(ix, &e);
    if (rc != CPQ_OK) { if (!OKISH(rc)) what = "verify"; goto out; }
    const cpq_index_info *in = cpq_index_get_info(ix);
    rc = cpq_analyzer_create(&in->analysis, &an, &e);
    if (rc != CPQ_OK) { if (!OKISH(rc)) what = "analyzer"; goto out; }
    cpq_analysis_cfg pc = in->analysis;
    snprintf(pc.language, sizeof pc.language, "none");
    pc.stopwords = NULL;
    rc = cpq_analyzer_create(&pc, &pan, &e);
    if (rc != CPQ_OK) { if (!OKISH(rc)) what = "prefix analyzer"; goto out; }
    rc = cpq_fetch_create(ix, &f);
    if (rc != CPQ_OK) { if (!OKISH(rc)) what = "fetch_create"; goto out; }
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++) {
        cpq_query *q = NULL;
        rc = cpq_query_parse(queries[i], strlen(queries[i]), an, pan, 0, &q, &e);
        if (rc != CPQ_OK) { if (!OKISH(rc)) what = "parse"; goto out; }
        cpq_search_opts so;
        cpq_search_opts_default(&so);
        so.flags = i % 2 ? CPQ_SEARCH_GROUP : 0;
        cpq_results r = {0};
        rc = cpq_search(ix, q, &so, &r, &e);
        if (rc == CPQ_OK) {
            cpq_snippet_out sn = {0};
            for (size_t h = 0; h < r.nhits && !what; h++) {
                const char *t;
                size_t tl;
                int rc2 = cpq_fetch_passage(f, r.hits[h].passage, &t, &tl);
                if (rc2 == CPQ_OK) rc2 = cpq_snippet(an, pan, q, t, tl, 64, &sn, &e);
                if (!OKISH(rc2)) { rc = rc2; what = "fetch/snippet"; }
                cpq_explanation *x = malloc(sizeof *x);
                if (x) {
                    int rc3 = cpq_explain(ix, q, r.hits[h].passage, NULL, x, &e);
                    if (!OKISH(rc3)) { rc = rc3; what = "explain"; }
                    free(x);
                }
            }
            cpq_snippet_out_free(&sn);
            cpq_results_free(&r);
        } else if (!OKISH(rc))
            what = "search";
        cpq_query_free(q);
        if (what) goto out;
    }
out:
    *bad_rc = rc;
    cpq_fetch_free(f);
    cpq_analyzer_free(pan);
    cpq_analyzer_free(an);
    cpq_index_close(ix);
    return what;
}
#endif

Test(alloc, every_allocation_can_fail)
{
#ifdef CPQ_ALLOC_SKIP
    cr_skip_test("allocation failure injection needs the plain allocator (not ASan's)");
#else
    long n;
    long total = 0;
    for (n = 1; n < 200000; n++) {
        count = 0;
        fail_at = n;
        failed_one = 0;
        live = 0;
        int rc;
        armed = 1;
        const char *what = cycle(&rc);
        armed = 0;
        cr_assert_null(what, "allocation %ld failing: %s returned %d (%s)", n, what, rc,
                       cpq_err_name(rc));
        cr_assert_eq(live, 0, "allocation %ld failing: %ld allocations leaked", n, live);
        if (!failed_one) { total = count; break; }
    }
    /* A search allocates little now (its arena starts on the stack), but a
     * cycle still makes dozens: far fewer means the harness is not armed. */
    cr_assert_gt(total, 20, "the cycle made only %ld allocations: is the harness armed?", total);
    cr_log_info("alloc: %ld allocation sites of a cycle each failed once, no crash, no leak", total);
#endif
}
