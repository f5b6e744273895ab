/* test_engine.c - the query engine against an independent oracle (every
 * passage re-analysed and the query tree evaluated directly), and pruned
 * search against exhaustive search: the same passages, the same scores. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm25.h"
#include "cpqindex.h"
#include "engine.h"
#include "query.h"
#include "testutil.h"

#define NDOCS 1500

static char *dir;
static cpq_index *ix;
static cpq_analyzer *an, *pan;
static const cpq_index_info *in;

/* Per passage: its analysed terms with positions (the oracle's index). */
typedef struct occ { char term[CPQ_TERM_MAX + 1]; uint32_t pos; } occ;
typedef struct ptext { occ *o; size_t n, cap; uint32_t len; } ptext;
static ptext *pt;

static int collect(void *ctx, const cpq_token *t)
{
    ptext *p = ctx;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->o = realloc(p->o, p->cap * sizeof *p->o);
    }
    memcpy(p->o[p->n].term, t->term, t->len);
    p->o[p->n].term[t->len] = 0;
    p->o[p->n].pos = t->pos;
    p->n++;
    return 0;
}

static void setup(void)
{
    dir = tu_tempdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/e.cpqx", dir);
    tu_doc *docs = tu_make_corpus(NDOCS, 90, 4242);
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.passage_words = 40;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, path, &b, &e), CPQ_OK, "%s", e.msg);
    for (size_t i = 0; i < NDOCS; i++)
        cr_assert_eq(cpq_builder_add(b, docs[i].id, strlen(docs[i].id), docs[i].text, docs[i].len, &e), CPQ_OK);
    /* And documents of four words only, so that phrases of three and four
     * different words match often (the Zipf-ish corpus makes them rare). */
    uint64_t s = 17;
    for (size_t i = 0; i < 300; i++) {
        char id[32], text[40 * 5];
        size_t len = 0;
        snprintf(id, sizeof id, "dense-%03zu", i);
        for (size_t w = 0; w < 40; w++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%sw%ua", w ? " " : "", (unsigned)(tu_rand(&s) % 4));
        cr_assert_eq(cpq_builder_add(b, id, strlen(id), text, len, &e), CPQ_OK);
    }
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);
    tu_free_corpus(docs, NDOCS);
    cr_assert_eq(cpq_index_open(path, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    in = cpq_index_get_info(ix);
    cr_assert_eq(cpq_analyzer_create(&in->analysis, &an, NULL), CPQ_OK);
    cpq_analysis_cfg pc = in->analysis;
    snprintf(pc.language, sizeof pc.language, "none");
    pc.stopwords = NULL;
    cr_assert_eq(cpq_analyzer_create(&pc, &pan, NULL), CPQ_OK);
    pt = calloc(in->passages, sizeof *pt);
    cpq_fetch *f;
    cpq_fetch_create(ix, &f);
    for (uint32_t p = 0; p < in->passages; p++) {
        const char *t;
        size_t tl;
        cr_assert_eq(cpq_fetch_passage(f, p, &t, &tl), CPQ_OK);
        cpq_analyze(an, t, tl, 0, collect, &pt[p], &pt[p].len);
    }
    cpq_fetch_free(f);
}

static void teardown(void)
{
    for (uint32_t p = 0; in && p < in->passages; p++) free(pt[p].o);
    free(pt);
    cpq_analyzer_free(an);
    cpq_analyzer_free(pan);
    cpq_index_close(ix);
    tu_rmrf(dir);
    free(dir);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 300);

/* ---- the oracle ---- */

static float K1, B;
static unsigned pruned_runs; /* pruned searches seen: the test must exercise pruning */

static uint32_t df_of(const char *t)
{
    cpq_term x;
    return cpq_index_term(ix, t, strlen(t), &x) ? 0 : x.df;
}

static float idf_of(const char *t) { return cpq_bm25_idf(in->passages, df_of(t)); }

static uint32_t tf_in(const ptext *p, const char *t, uint32_t *pos, size_t cap)
{
    uint32_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->o[i].term, t)) {
            if (n < cap) pos[n] = p->o[i].pos;
            n++;
        }
    return n;
}

static int has_at(const ptext *p, const char *t, uint32_t pos)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->o[i].pos == pos && !strcmp(p->o[i].term, t)) return 1;
    return 0;
}

/* Phrase matches: start positions into starts. */
static uint32_t phrase_starts(const ptext *p, const cpq_qnode *n, uint32_t *starts, size_t cap)
{
    uint32_t pos[512];
    uint32_t c = tf_in(p, n->terms[0].bytes, pos, 512), m = 0;
    for (uint32_t i = 0; i < c && i < 512; i++) {
        int ok = 1;
        for (size_t k = 1; k < n->nterms && ok; k++) ok = has_at(p, n->terms[k].bytes, pos[i] + n->terms[k].pos);
        if (ok) { if (m < cap) starts[m] = pos[i]; m++; }
    }
    return m;
}

/* Does node n match passage p, and with what score. */
static int eval(const cpq_qnode *n, uint32_t p, float *score);

static int eval_operand(const cpq_qnode *n, uint32_t p, uint32_t *st, uint32_t *cnt, uint32_t *span, float *score)
{
    if (n->kind == CPQ_Q_TERM) {
        *cnt = tf_in(&pt[p], n->terms[0].bytes, st, 512);
        *span = 0;
    } else {
        *cnt = phrase_starts(&pt[p], n, st, 512);
        *span = n->terms[n->nterms - 1].pos;
    }
    return eval(n, p, score);
}

static int eval(const cpq_qnode *n, uint32_t p, float *score)
{
    const ptext *x = &pt[p];
    uint32_t len = cpq_index_passage_len(ix, p);
    *score = 0;
    switch (n->kind) {
    case CPQ_Q_TERM: {
        uint32_t pos[1];
        uint32_t tf = tf_in(x, n->terms[0].bytes, pos, 1);
        if (!tf) return 0;
        *score = cpq_bm25(idf_of(n->terms[0].bytes), tf, len, in->avg_len, K1, B);
        return 1;
    }
    case CPQ_Q_PHRASE: {
        uint32_t st[512];
        float idf = 0;
        for (size_t i = 0; i < n->nterms; i++) {
            if (!df_of(n->terms[i].bytes)) return 0;
            idf += idf_of(n->terms[i].bytes);
        }
        uint32_t pf = phrase_starts(x, n, st, 512);
        if (!pf) return 0;
        *score = cpq_bm25(idf, pf, len, in->avg_len, K1, B);
        return 1;
    }
    case CPQ_Q_PREFIX: {
        /* Every indexed term with the prefix, in dictionary order. */
        cpq_term_iter it;
        cpq_term t;
        int any = 0;
        float s = 0;
        cpq_index_prefix(ix, n->terms[0].bytes, n->terms[0].len, &it);
        while (cpq_term_iter_next(&it, &t) == CPQ_OK) {
            uint32_t pos[1];
            uint32_t tf = tf_in(x, t.text, pos, 1);
            if (tf) {
                any = 1;
                s += cpq_bm25(cpq_bm25_idf(in->passages, t.df), tf, len, in->avg_len, K1, B);
            }
        }
        *score = s;
        return any;
    }
    case CPQ_Q_NEAR: {
        uint32_t a[512], b[512], na, nb, sa, sb;
        float s0, s1;
        if (!eval_operand(&n->children[0], p, a, &na, &sa, &s0) || !eval_operand(&n->children[1], p, b, &nb, &sb, &s1))
            return 0;
        for (uint32_t i = 0; i < na && i < 512; i++)
            for (uint32_t j = 0; j < nb && j < 512; j++) {
                int64_t a0 = a[i], a1 = a0 + sa, b0 = b[j], b1 = b0 + sb, gap = -1;
                if (a1 < b0) gap = b0 - a1 - 1;
                else if (b1 < a0) gap = a0 - b1 - 1;
                if (gap >= 0 && gap <= (int64_t)n->distance) {
                    *score = s0 + s1;
                    return 1;
                }
            }
        return 0;
    }
    case CPQ_Q_BOOL: {
        int must = 0, should_hit = 0, has_should = 0;
        float s = 0;
        for (size_t i = 0; i < n->nchildren; i++) {
            const cpq_qnode *c = &n->children[i];
            float cs;
            int m = eval(c, p, &cs);
            if (c->occur == CPQ_OCCUR_MUST_NOT) { if (m) return 0; continue; }
            if (c->occur == CPQ_OCCUR_MUST) { must = 1; if (!m) return 0; }
            else { has_should = 1; should_hit |= m; }
            if (m) s += cs;
        }
        if (!must && (!has_should || !should_hit)) return 0;
        *score = s;
        return 1;
    }
    }
    return 0;
}

typedef struct ohit { uint32_t id, passage; float score; } ohit;

static int cmp_ohit(const void *a, const void *b)
{
    const ohit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* All matches by the oracle, best first; grouped by document if asked. */
static size_t oracle(const cpq_query *q, int group, ohit *out, uint64_t *total)
{
    size_t n = 0;
    const cpq_qnode *root = cpq_query_root(q);
    uint32_t cur_doc = UINT32_MAX;
    for (uint32_t p = 0; p < in->passages; p++) {
        float s;
        if (!eval(root, p, &s)) continue;
        if (!group) { out[n++] = (ohit){ p, p, s }; continue; }
        cpq_passage_info pi;
        cpq_index_passage(ix, p, &pi);
        if (pi.doc != cur_doc) { out[n++] = (ohit){ pi.doc, p, s }; cur_doc = pi.doc; }
        else if (s > out[n - 1].score) { out[n - 1].score = s; out[n - 1].passage = p; }
    }
    qsort(out, n, sizeof *out, cmp_ohit);
    *total = n;
    return n;
}

static cpq_query *parse(const char *text, unsigned flags)
{
    cpq_query *q = NULL;
    cpq_errinfo e;
    int rc = cpq_query_parse(text, strlen(text), an, pan, flags, &q, &e);
    cr_assert_eq(rc, CPQ_OK, "parse '%s': %s", text, e.msg);
    return q;
}

static void check_query(const char *text, unsigned qflags, unsigned sflags, uint32_t limit, uint32_t offset,
                        float k1, float b)
{
    static ohit all[200000];
    K1 = k1;
    B = b;
    cpq_query *q = parse(text, qflags);
    uint64_t total;
    size_t n = oracle(q, !!(sflags & CPQ_SEARCH_GROUP), all, &total);
    for (int mode = 0; mode < 3; mode++) {
        cpq_search_opts o;
        cpq_search_opts_default(&o);
        o.limit = limit;
        o.offset = offset;
        o.k1 = k1;
        o.b = b;
        o.flags = sflags | (mode == 1 ? CPQ_SEARCH_EXHAUSTIVE : mode == 2 ? CPQ_SEARCH_EXACT_COUNT : 0);
        o.prefix_cap = CPQ_PREFIX_CAP_MAX; /* the oracle expands every prefix fully */
        cpq_results r;
        cpq_errinfo e;
        cr_assert_eq(cpq_search(ix, q, &o, &r, &e), CPQ_OK, "%s", e.msg);
        size_t want = n > offset ? n - offset : 0;
        if (want > limit) want = limit;
        cr_assert_eq(r.nhits, want, "'%s' mode %d: %zu hits, oracle %zu", text, mode, r.nhits, want);
        for (size_t i = 0; i < r.nhits; i++) {
            const ohit *w = &all[offset + i];
            uint32_t id = (sflags & CPQ_SEARCH_GROUP) ? r.hits[i].doc : r.hits[i].passage;
            cr_assert(id == w->id && r.hits[i].passage == w->passage && r.hits[i].score == w->score,
                      "'%s' mode %d rank %zu: got %u/%u %.9g, oracle %u/%u %.9g", text, mode, offset + i, id,
                      r.hits[i].passage, r.hits[i].score, w->id, w->passage, w->score);
        }
        if (mode > 0 || r.total_exact) cr_assert_eq(r.total, total, "'%s' mode %d: total %llu, oracle %llu", text,
                                                  mode, (unsigned long long)r.total, (unsigned long long)total);
        else cr_assert(r.total <= total);
        if (mode > 0) cr_assert(r.total_exact);
        if (mode == 0 && !r.total_exact) pruned_runs++;
        /* Explain gives every hit its score, from its leaves. */
        for (size_t i = 0; mode == 0 && i < r.nhits && i < 3; i++) {
            static cpq_explanation x;
            cr_assert_eq(cpq_explain(ix, q, r.hits[i].passage, &o, &x, &e), CPQ_OK, "%s", e.msg);
            cr_assert(x.matched, "'%s': explain says hit %u does not match", text, r.hits[i].passage);
            cr_assert_eq(x.score, r.hits[i].score, "'%s': explain %.9g, search %.9g", text, x.score, r.hits[i].score);
            double sum = 0;
            for (size_t k = 0; k < x.nterms; k++) {
                const cpq_explain_term *t = &x.terms[k];
                cr_assert(t->tf >= 1 && t->idf > 0 && t->score > 0);
                cr_assert(fabsf(t->score - t->idf * (float)t->tf * (x.k1 + 1) / ((float)t->tf + t->norm)) <= 1e-4f * t->score);
                sum += t->score;
            }
            cr_assert(fabs(sum - x.score) <= 1e-4 * x.score + 1e-6, "'%s': leaves sum to %g, score %g", text, sum, x.score);
        }
        cr_assert(!r.partial);
        cr_assert(!r.prefix_capped);
        cpq_results_free(&r);
    }
    cpq_query_free(q);
}

Test(engine, unions_intersections_phrases)
{
    const char *qs[] = {
        "w1a", "w1a w2a", "w0a w1a w3a w17a", "+w1a +w2a", "+w1a w2a w5a", "w1a -w2a", "+w0a -w1a w3a",
        "\"w0a w1a\"", "\"w1a w0a w0a\"", "\"w0a w1a w0a w1a\"", "w0a NEAR/2 w3a", "\"w0a w1a\" NEAR/5 w2a", "w1* w2a", "+w3* -w30a",
        "(w1a OR w2a) AND w3a", "w1a AND (w2a OR w5a) NOT w7a", "café naïve", "東京", "w99a nosuchword",
        "+nosuchword w1a", "w0as w0aing", "+\"w0a w1a\" +w2a", "+w5a +(w0a NEAR/3 w1a) w2a",
        "+\"w1a w0a\" +\"w0a w1a\" -w3a", "+w0a +w1a +w0a w2a +w1a", "w0a w1a w0a w5a w1a w0a",
        /* Phrases of three words or more (their two rarest are checked first). */
        "\"w0a w1a w2a\"", "\"w2a w0a w1a w0a\"", "\"w0a w1a w0a w2a\"", "\"w1a w0a w2a w0a w1a\"", "+\"w0a w1a w2a\" +w3a",
        "\"w0a w1a w2a\" NEAR/4 w3a", "\"w3a w0a w1a\" w2a", "w3a w3a -w1a w3a", "2015 résumé w4a", "w2a OR w4a OR w6a OR w8a OR w10a OR w12a",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        check_query(qs[i], 0, 0, 10, 0, CPQ_BM25_K1, CPQ_BM25_B);
        check_query(qs[i], 0, CPQ_SEARCH_GROUP, 10, 0, CPQ_BM25_K1, CPQ_BM25_B);
        check_query(qs[i], 0, 0, 7, 5, CPQ_BM25_K1, CPQ_BM25_B);
        check_query(qs[i], 0, 0, 10, 0, 1.2f, 0.75f);
        check_query(qs[i], CPQ_QUERY_ALL_WORDS, 0, 10, 0, CPQ_BM25_K1, CPQ_BM25_B);
    }
}

Test(engine, random_queries_pruned_equals_exhaustive)
{
    uint64_t s = 99;
    char q[256];
    for (int round = 0; round < 300; round++) {
        size_t nt = 1 + tu_rand(&s) % 5, o = 0;
        for (size_t i = 0; i < nt; i++) {
            uint64_t r = tu_rand(&s);
            /* The first clause is never excluded: a query needs a positive term. */
            const char *op = r % 7 == 0 ? "+" : (i && r % 11 == 0) ? "-" : "";
            unsigned k = (unsigned)((r >> 8) % 60);
            o += (size_t)snprintf(q + o, sizeof q - o, "%s%sw%ua%s", i ? " " : "", op, k, (r >> 20) % 5 == 0 ? "s" : "");
        }
        if (round % 10 == 0) o += (size_t)snprintf(q + o, sizeof q - o, " \"w0a w1a\"");
        uint32_t limit = 1 + (uint32_t)(tu_rand(&s) % 20), offset = (uint32_t)(tu_rand(&s) % 4);
        unsigned group = round % 3 == 0 ? CPQ_SEARCH_GROUP : 0;
        check_query(q, 0, group, limit, offset, CPQ_BM25_K1, CPQ_BM25_B);
        /* Deep result lists, as the effectiveness harness asks for. */
        if (round % 10 == 0) check_query(q, 0, CPQ_SEARCH_GROUP, 400, 0, CPQ_BM25_K1, CPQ_BM25_B);
    }
    /* The most frequent terms alone and with one rare term: the paths
     * that skip whole blocks of a single essential list. */
    for (unsigned k = 0; k < 12; k++) {
        /* One term alone: its blocks best first (run_lone_term), hits
         * and documents, at other k1/b, deeper pages, as a MUST. */
        snprintf(q, sizeof q, "w%ua", k);
        for (uint32_t limit = 1; limit <= 16; limit *= 2) {
            check_query(q, 0, 0, limit, 0, CPQ_BM25_K1, CPQ_BM25_B);
            check_query(q, 0, CPQ_SEARCH_GROUP, limit, 0, CPQ_BM25_K1, CPQ_BM25_B);
        }
        check_query(q, 0, 0, 10, 7, 1.2f, 0.75f);
        check_query(q, 0, CPQ_SEARCH_GROUP, 20, 13, 1.2f, 0.75f);
        check_query(q, 0, CPQ_SEARCH_GROUP, 100, 0, CPQ_BM25_K1, CPQ_BM25_B); /* past the grouped k limit */
        snprintf(q, sizeof q, "+w%ua", k);
        check_query(q, 0, 0, 10, 0, CPQ_BM25_K1, CPQ_BM25_B);
        snprintf(q, sizeof q, "w%ua", k);
        snprintf(q, sizeof q, "w%ua w%ua", k, 50 + k);
        check_query(q, 0, 0, 5, 0, CPQ_BM25_K1, CPQ_BM25_B);
        check_query(q, 0, 0, 3, 0, 1.2f, 0.75f);
    }
    cr_assert(pruned_runs > 50, "only %u of 300 searches pruned anything", pruned_runs);
}

Test(engine, budget_and_options)
{
    cpq_query *q = parse("w0a w1a w2a w3a", 0);
    cpq_search_opts o;
    cpq_search_opts_default(&o);
    o.max_work = 50;
    cpq_results r;
    cr_assert_eq(cpq_search(ix, q, &o, &r, NULL), CPQ_OK);
    cr_assert(r.partial, "a 50-unit budget must run out");
    cr_assert(!r.total_exact);
    cpq_results_free(&r);
    cpq_search_opts_default(&o);
    o.limit = CPQ_SEARCH_LIMIT_MAX;
    o.offset = 1;
    cpq_errinfo e;
    cr_assert_eq(cpq_search(ix, q, &o, &r, &e), CPQ_EINVAL);
    cpq_search_opts_default(&o);
    o.k1 = -1;
    cr_assert_eq(cpq_search(ix, q, &o, &r, &e), CPQ_EINVAL);
    cpq_search_opts_default(&o);
    o.limit = 0;
    o.flags = CPQ_SEARCH_EXACT_COUNT;
    cr_assert_eq(cpq_search(ix, q, &o, &r, &e), CPQ_OK);
    cr_assert_eq(r.nhits, 0);
    cr_assert(r.total > 0 && r.total_exact);
    cpq_results_free(&r);
    cpq_query_free(q);
    /* Explain on a passage that does not match, and on a missing one. */
    {
        static cpq_explanation x;
        cpq_query *q2 = parse("+w0a -w0a", 0);
        cr_assert_eq(cpq_explain(ix, q2, 0, NULL, &x, &e), CPQ_OK);
        cr_assert(!x.matched);
        cr_assert_eq(cpq_explain(ix, q2, (uint32_t)in->passages, NULL, &x, &e), CPQ_ENOTFOUND);
        cpq_query_free(q2);
    }
    /* A prefix over more terms than the cap says so. */
    q = parse("w*", 0);
    cpq_search_opts_default(&o);
    o.prefix_cap = 3;
    cr_assert_eq(cpq_search(ix, q, &o, &r, &e), CPQ_OK);
    cr_assert(r.prefix_capped);
    cr_assert(r.nhits > 0);
    cpq_results_free(&r);
    cpq_query_free(q);
}
