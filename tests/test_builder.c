/* test_builder.c - build, then read everything back and compare with an
 * independent model: the source texts, the passage splitter and the
 * analyser run again over every passage. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm25.h"
#include "cpqindex.h"
#include "jsonl.h"
#include "passage.h"
#include "testutil.h"

#define NDOCS 700
#define PWORDS 24

static char *dir, *path;
static tu_doc *docs;
static char *seed_text;
static size_t seed_len;
static cpq_index *ix;

static void setup(void)
{
    dir = tu_tempdir();
    cr_assert(dir);
    path = malloc(strlen(dir) + 16);
    sprintf(path, "%s/t.cpqx", dir);
    docs = tu_make_corpus(NDOCS, 60, 1234);
    seed_text = tu_read_file(CPQ_SOURCE_ROOT "/corpus/000_95a09b20b076929a.txt", &seed_len);
    cr_assert(seed_text, "sample corpus missing");

    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.passage_words = PWORDS;
    o.threads = 2;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, path, &b, &e), CPQ_OK, "%s", e.msg);
    /* The sample corpus through the input reader (its id is the path). */
    cpq_input_stats st;
    memset(&st, 0, sizeof st);
    cr_assert_eq(cpq_input_add(b, CPQ_SOURCE_ROOT "/corpus", CPQ_FMT_AUTO, 0, &st, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(st.docs, 1);
    for (size_t i = 0; i < NDOCS; i++)
        cr_assert_eq(cpq_builder_add(b, docs[i].id, strlen(docs[i].id), docs[i].text, docs[i].len, &e), CPQ_OK, "%s", e.msg);
    /* A whitespace-only document has no passages but is still a document. */
    cr_assert_eq(cpq_builder_add(b, "blank", 5, " \n\n \t", 5, &e), CPQ_OK);
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);
    cr_assert_eq(cpq_index_open(path, CPQ_OPEN_DEFAULT, &ix, &e), CPQ_OK, "%s", e.msg);
}

static void teardown(void)
{
    cpq_index_close(ix);
    tu_free_corpus(docs, NDOCS);
    free(seed_text);
    tu_rmrf(dir);
    free(dir);
    free(path);
}

TestSuite(builder, .init = setup, .fini = teardown, .timeout = 120);

static const char *doc_text(uint32_t d, size_t *len)
{
    if (d == 0) { *len = seed_len; return seed_text; }
    if (d == NDOCS + 1) { *len = 5; return " \n\n \t"; }
    *len = docs[d - 1].len;
    return docs[d - 1].text;
}

Test(builder, verify_and_counts)
{
    cpq_errinfo e;
    cr_assert_eq(cpq_index_verify(ix, &e), CPQ_OK, "%s", e.msg);
    const cpq_index_info *in = cpq_index_get_info(ix);
    cr_assert_eq(in->docs, NDOCS + 2);
    cr_assert_eq(in->passage_words, PWORDS);
    cr_assert_str_eq(in->analysis.language, "english");
    uint64_t bytes = seed_len + 5;
    for (size_t i = 0; i < NDOCS; i++) bytes += docs[i].len;
    cr_assert_eq(in->text_bytes, bytes);
}

Test(builder, documents_and_passages_read_back)
{
    cpq_fetch *f;
    cr_assert_eq(cpq_fetch_create(ix, &f), CPQ_OK);
    const cpq_index_info *in = cpq_index_get_info(ix);
    uint32_t next_passage = 0;
    for (uint32_t d = 0; d < in->docs; d++) {
        size_t slen;
        const char *src = doc_text(d, &slen);
        cpq_doc_info di;
        cr_assert_eq(cpq_index_doc(ix, d, &di), CPQ_OK);
        cr_assert_eq(di.text_len, slen);
        cr_assert_eq(di.first_passage, next_passage);
        uint32_t found;
        cr_assert_eq(cpq_index_doc_find(ix, di.id, di.idlen, &found), CPQ_OK);
        cr_assert_eq(found, d);
        /* The passages are exactly what the splitter gives. */
        cpq_spans sp = { 0 };
        cr_assert_eq(cpq_passage_split(src, slen, PWORDS, &sp), 0);
        cr_assert_eq(di.npassages, sp.n, "doc %u: %u passages, splitter says %zu", d, di.npassages, sp.n);
        for (uint32_t k = 0; k < di.npassages; k++) {
            cpq_passage_info pi;
            cr_assert_eq(cpq_index_passage(ix, di.first_passage + k, &pi), CPQ_OK);
            cr_assert_eq(pi.doc, d);
            cr_assert_eq(pi.ordinal, k);
            uint32_t pd, pf, pe;
            cr_assert_eq(cpq_index_passage_doc(ix, di.first_passage + k, &pd, &pf, &pe), CPQ_OK);
            cr_assert(pd == d && pf == di.first_passage && pe == di.first_passage + di.npassages);
            cr_assert_eq(cpq_index_passage_docnum(ix, di.first_passage + k, &pd), CPQ_OK);
            cr_assert_eq(pd, d);
            cr_assert_eq(pi.start, sp.v[k].start);
            cr_assert_eq(pi.len, sp.v[k].len);
            const char *t;
            size_t tl;
            cr_assert_eq(cpq_fetch_passage(f, di.first_passage + k, &t, &tl), CPQ_OK);
            cr_assert_eq(tl, pi.len);
            cr_assert(!memcmp(t, src + pi.start, tl), "doc %u passage %u text differs", d, k);
            /* The one-call form gives the same text and records. */
            cpq_passage_info fpi, xpi;
            cpq_doc_info fdi, xdi;
            cr_assert_eq(cpq_index_passage_full(ix, di.first_passage + k, &xpi, &xdi), CPQ_OK);
            memset(&fpi, 0xa5, sizeof fpi);
            memset(&fdi, 0xa5, sizeof fdi);
            cr_assert_eq(cpq_fetch_passage_full(f, di.first_passage + k, &t, &tl, &fpi, &fdi), CPQ_OK);
            cr_assert(tl == pi.len && !memcmp(t, src + pi.start, tl), "doc %u passage %u text differs", d, k);
            cr_assert(fpi.doc == xpi.doc && fpi.ordinal == xpi.ordinal && fpi.start == xpi.start
                      && fpi.len == xpi.len && fpi.tokens == xpi.tokens);
            cr_assert(fdi.id == xdi.id && fdi.idlen == xdi.idlen && fdi.first_passage == xdi.first_passage
                      && fdi.npassages == xdi.npassages && fdi.text_len == xdi.text_len);
        }
        cpq_spans_free(&sp);
        const char *full;
        size_t fl;
        cr_assert_eq(cpq_fetch_doc(f, d, &full, &fl), CPQ_OK);
        if (di.npassages) {
            cr_assert_eq(fl, slen);
            cr_assert(!memcmp(full, src, slen), "doc %u full text differs", d);
        }
        next_passage += di.npassages;
    }
    cr_assert_eq(next_passage, in->passages);
    uint32_t x;
    cr_assert_eq(cpq_index_doc_find(ix, "no-such-doc", 11, &x), CPQ_ENOTFOUND);
    const char *t;
    size_t tl;
    cr_assert_eq(cpq_fetch_passage(f, (uint32_t)in->passages, &t, &tl), CPQ_ENOTFOUND);
    cpq_passage_info pi;
    cpq_doc_info di;
    cr_assert_eq(cpq_fetch_passage_full(f, (uint32_t)in->passages, &t, &tl, &pi, &di), CPQ_ENOTFOUND);
    cr_assert_eq(cpq_index_passage_docnum(ix, (uint32_t)in->passages, &x), CPQ_ENOTFOUND);
    cpq_fetch_free(f);
}

/* A fetcher with a passage cache answers exactly as one without, in any
 * order, under eviction; its charge stays within its budget; a passage
 * asked for again while cached is a hit; set_cache(0) turns it off. */
Test(builder, passage_cache_matches_uncached_fetch)
{
    const cpq_index_info *in = cpq_index_get_info(ix);
    cpq_fetch *plain, *cached;
    cr_assert_eq(cpq_fetch_create(ix, &plain), CPQ_OK);
    cr_assert_eq(cpq_fetch_create(ix, &cached), CPQ_OK);
    cpq_fetch_cache_stats st;
    cpq_fetch_cache_get_stats(cached, &st);
    cr_assert(st.budget == 0 && st.hits == 0 && st.misses == 0, "off by default");
    /* Room for a few dozen passages of this corpus: most fetches evict. */
    size_t budget = 16384;
    cr_assert_eq(cpq_fetch_set_cache(cached, budget), CPQ_OK);
    uint64_t s = 77, lookups = 0;
    uint32_t np = (uint32_t)in->passages, last = 0;
    for (int round = 0; round < 20000; round++) {
        /* Mostly a small hot set, sometimes anything, sometimes the last again. */
        uint32_t p = round % 7 == 0 ? last : round % 3 ? (uint32_t)(tu_rand(&s) % (np < 24 ? np : 24)) : (uint32_t)(tu_rand(&s) % np);
        last = p;
        const char *t1, *t2;
        size_t l1, l2;
        cpq_passage_info pi1, pi2;
        cpq_doc_info di1, di2;
        int full = round & 1;
        cr_assert_eq(cpq_fetch_passage_full(plain, p, &t1, &l1, &pi1, &di1), CPQ_OK);
        if (full) {
            memset(&pi2, 0x5a, sizeof pi2);
            memset(&di2, 0x5a, sizeof di2);
            cr_assert_eq(cpq_fetch_passage_full(cached, p, &t2, &l2, &pi2, &di2), CPQ_OK);
            cr_assert(pi1.doc == pi2.doc && pi1.ordinal == pi2.ordinal && pi1.start == pi2.start
                      && pi1.len == pi2.len && pi1.tokens == pi2.tokens, "passage %u: records differ", p);
            cr_assert(di1.id == di2.id && di1.idlen == di2.idlen && di1.first_passage == di2.first_passage
                      && di1.npassages == di2.npassages && di1.text_len == di2.text_len);
        } else {
            cr_assert_eq(cpq_fetch_passage(cached, p, &t2, &l2), CPQ_OK);
        }
        cr_assert(l1 == l2 && !memcmp(t1, t2, l1), "passage %u: text differs (round %d)", p, round);
        lookups++;
        cpq_fetch_cache_get_stats(cached, &st);
        cr_assert(st.bytes <= st.budget, "cache holds %zu bytes over its %zu", st.bytes, st.budget);
    }
    cpq_fetch_cache_get_stats(cached, &st);
    cr_assert_eq(st.hits + st.misses, lookups);
    cr_assert(st.hits > lookups / 2, "only %llu hits of %llu on a hot set", (unsigned long long)st.hits,
              (unsigned long long)lookups);
    cr_assert(st.misses > 24, "no evictions: budget too large for the test");
    cr_assert(st.entries > 0 && st.budget == budget);
    /* The same passage twice in a row: the second is a hit. */
    const char *t;
    size_t l;
    cr_assert_eq(cpq_fetch_passage(cached, np - 1, &t, &l), CPQ_OK);
    cpq_fetch_cache_get_stats(cached, &st);
    uint64_t h0 = st.hits;
    cr_assert_eq(cpq_fetch_passage(cached, np - 1, &t, &l), CPQ_OK);
    cpq_fetch_cache_get_stats(cached, &st);
    cr_assert_eq(st.hits, h0 + 1);
    /* Out of range is still an error, not a cache question. */
    cr_assert_eq(cpq_fetch_passage(cached, np, &t, &l), CPQ_ENOTFOUND);
    /* Off again: nothing held, nothing counted as a hit. */
    cr_assert_eq(cpq_fetch_set_cache(cached, 0), CPQ_OK);
    cpq_fetch_cache_get_stats(cached, &st);
    cr_assert(st.entries == 0 && st.bytes == 0 && st.budget == 0);
    h0 = st.hits;
    cr_assert_eq(cpq_fetch_passage(cached, 0, &t, &l), CPQ_OK);
    cr_assert_eq(cpq_fetch_passage(cached, 0, &t, &l), CPQ_OK);
    cpq_fetch_cache_get_stats(cached, &st);
    cr_assert_eq(st.hits, h0);
    cpq_fetch_free(cached);
    cpq_fetch_free(plain);
}

typedef struct model_ctx {
    const cpq_index *ix;
    uint32_t passage;
    uint64_t tokens;
} model_ctx;

static int check_token(void *vctx, const cpq_token *tok)
{
    model_ctx *m = vctx;
    cpq_term t;
    cr_assert_eq(cpq_index_term(m->ix, tok->term, tok->len, &t), CPQ_OK, "term '%.*s' missing", (int)tok->len, tok->term);
    cpq_postings p;
    cr_assert_eq(cpq_postings_open(m->ix, &t, &p), CPQ_OK);
    cr_assert_eq(cpq_postings_seek(&p, m->passage), m->passage, "term '%s' lacks passage %u", t.text, m->passage);
    uint32_t pos[1024];
    int n = cpq_postings_positions(&p, pos, 1024);
    cr_assert(n > 0 && n <= 1024);
    int hit = 0;
    for (int i = 0; i < n; i++) hit |= pos[i] == tok->pos;
    cr_assert(hit, "term '%s' lacks position %u in passage %u", t.text, tok->pos, m->passage);
    m->tokens++;
    return 0;
}

Test(builder, postings_match_a_reanalysis)
{
    const cpq_index_info *in = cpq_index_get_info(ix);
    cpq_analyzer *an;
    cr_assert_eq(cpq_analyzer_create(&in->analysis, &an, NULL), CPQ_OK);
    cpq_fetch *f;
    cpq_fetch_create(ix, &f);
    model_ctx m = { ix, 0, 0 };
    for (uint32_t p = 0; p < in->passages; p++) {
        const char *t;
        size_t tl;
        cr_assert_eq(cpq_fetch_passage(f, p, &t, &tl), CPQ_OK);
        m.passage = p;
        uint32_t npos = 0;
        cr_assert_eq(cpq_analyze(an, t, tl, 0, check_token, &m, &npos), 0);
        cr_assert_eq(npos, cpq_index_passage_len(ix, p), "passage %u length", p);
    }
    /* Every occurrence in the index was found above, and no more exist. */
    uint64_t occ = 0;
    cpq_term_iter it;
    cpq_term t;
    cpq_index_prefix(ix, "", 0, &it);
    uint64_t nterms = 0;
    while (cpq_term_iter_next(&it, &t) == CPQ_OK) {
        cpq_postings p;
        cpq_postings_open(ix, &t, &p);
        uint32_t df = 0;
        while (cpq_postings_next(&p) != CPQ_END) {
            occ += cpq_postings_tf(&p);
            df++;
        }
        cr_assert_eq(df, t.df);
        nterms++;
    }
    cr_assert_eq(nterms, in->terms);
    cr_assert_eq(occ, m.tokens, "index holds %llu occurrences, analysis %llu",
                 (unsigned long long)occ, (unsigned long long)m.tokens);
    cpq_fetch_free(f);
    cpq_analyzer_free(an);
}

Test(builder, multi_block_terms_seek_and_bounds)
{
    const cpq_index_info *in = cpq_index_get_info(ix);
    cpq_term_iter it;
    cpq_term t;
    cpq_index_prefix(ix, "", 0, &it);
    int multi = 0;
    uint64_t s = 5;
    while (cpq_term_iter_next(&it, &t) == CPQ_OK) {
        cpq_postings p;
        cpq_postings_open(ix, &t, &p);
        uint32_t nb = cpq_postings_nblocks(&p);
        cr_assert_eq(nb, (t.df + 127) / 128);
        if (nb > 1) multi++;
        /* Collect all postings; check the block bounds. */
        uint32_t *all = malloc(t.df * sizeof *all);
        uint32_t n = 0;
        float idf = cpq_bm25_idf(in->passages, t.df);
        for (uint32_t d; (d = cpq_postings_next(&p)) != CPQ_END;) {
            uint32_t k = n / 128, last, mtf, mlen;
            float ms;
            cpq_postings_block_at(&p, k, &last, &ms, &mtf, &mlen);
            uint32_t len = cpq_index_passage_len(ix, d);
            float sc = cpq_bm25(idf, cpq_postings_tf(&p), len, in->avg_len, CPQ_BM25_K1, CPQ_BM25_B);
            cr_assert(sc <= ms, "term '%s' block %u: score %g above bound %g", t.text, k, sc, ms);
            cr_assert(cpq_postings_tf(&p) <= mtf && len >= mlen && d <= last);
            all[n++] = d;
        }
        cr_assert_eq(n, t.df);
        /* Seek to random targets agrees with a linear search. */
        for (int r = 0; r < 20; r++) {
            cpq_postings q;
            cpq_postings_open(ix, &t, &q);
            uint32_t target = (uint32_t)(tu_rand(&s) % (in->passages + 2));
            uint32_t want = CPQ_END;
            for (uint32_t i = 0; i < n; i++) if (all[i] >= target) { want = all[i]; break; }
            cr_assert_eq(cpq_postings_seek(&q, target), want, "term '%s' seek %u", t.text, target);
            /* A second, later seek from there. */
            if (want != CPQ_END) {
                uint32_t t2 = want + (uint32_t)(tu_rand(&s) % 500);
                uint32_t want2 = CPQ_END;
                for (uint32_t i = 0; i < n; i++) if (all[i] >= t2) { want2 = all[i]; break; }
                cr_assert_eq(cpq_postings_seek(&q, t2), want2);
            }
        }
        free(all);
    }
    cr_assert(multi >= 3, "the corpus should give terms with skip tables (got %d)", multi);
}

Test(builder, prefix_ranges)
{
    const char *prefixes[] = { "w1", "w12", "w9", "caf", "", "zzz", "w1a", "東" };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        const char *pre = prefixes[i];
        size_t pl = strlen(pre);
        /* Expected: a full scan filtered by prefix. */
        uint64_t want = 0, got = 0;
        cpq_term_iter it;
        cpq_term t;
        cpq_index_prefix(ix, "", 0, &it);
        while (cpq_term_iter_next(&it, &t) == CPQ_OK)
            if (t.len >= pl && !memcmp(t.text, pre, pl)) want++;
        cr_assert_eq(cpq_index_prefix(ix, pre, pl, &it), CPQ_OK);
        while (cpq_term_iter_next(&it, &t) == CPQ_OK) {
            cr_assert(t.len >= pl && !memcmp(t.text, pre, pl), "'%s' does not start with '%s'", t.text, pre);
            got++;
        }
        cr_assert_eq(got, want, "prefix '%s': %llu terms, expected %llu", pre, (unsigned long long)got,
                     (unsigned long long)want);
    }
}

Test(builder, analysed_terms_are_found)
{
    cpq_term t;
    /* "Russia" is in the sample document; stemmed and folded. */
    cr_assert_eq(cpq_index_term(ix, "russia", 6, &t), CPQ_OK);
    cr_assert(t.df >= 1);
    cr_assert_eq(cpq_index_term(ix, "東京", strlen("東京"), &t), CPQ_OK, "CJK bigram missing");
    cr_assert_eq(cpq_index_term(ix, "nosuchterm", 10, &t), CPQ_ENOTFOUND);
    cr_assert_eq(cpq_index_term(ix, "", 0, &t), CPQ_ENOTFOUND);
}

/* Exact lookup against the dictionary walked in order: every term is found
 * with the iterator's fields, and keys around it (one byte more, one byte
 * less, the last byte changed) are found only when they are terms.
 * Returns the number of terms. */
static size_t check_every_term(cpq_index *x)
{
    static cpq_term all[60000];
    size_t n = 0;
    cpq_term_iter it;
    cpq_term t, u;
    cr_assert_eq(cpq_index_prefix(x, "", 0, &it), CPQ_OK);
    while (n < sizeof all / sizeof all[0] && cpq_term_iter_next(&it, &all[n]) == CPQ_OK) n++;
    cr_assert(n < sizeof all / sizeof all[0], "%zu terms", n);
    for (size_t i = 0; i < n; i++) {
        const cpq_term *w = &all[i];
        cr_assert_eq(cpq_index_term(x, w->text, w->len, &t), CPQ_OK, "'%s' not found", w->text);
        cr_assert(t.ord == w->ord && t.df == w->df && t.post_off == w->post_off && t.post_len == w->post_len
                      && t.pos_off == w->pos_off && t.pos_len == w->pos_len && t.len == w->len
                      && !strcmp(t.text, w->text),
                  "'%s' found with other fields", w->text);
        char key[CPQ_TERM_MAX + 2];
        for (int v = 0; v < 4; v++) {
            size_t kl = w->len;
            memcpy(key, w->text, kl);
            if (v == 0 && kl < CPQ_TERM_MAX) key[kl++] = '~';
            else if (v == 1 && kl > 1) kl--;
            else if (v == 2) key[kl - 1] = (char)(key[kl - 1] + 1);
            else if (v == 3) key[kl - 1] = (char)(key[kl - 1] - 1);
            else continue;
            key[kl] = 0;
            int rc = cpq_index_term(x, key, kl, &u);
            int present = 0;   /* binary search in the dictionary's order */
            for (size_t lo = 0, hi = n; lo < hi && !present;) {
                size_t mid = lo + (hi - lo) / 2, ml = all[mid].len < kl ? all[mid].len : kl;
                int c = memcmp(all[mid].text, key, ml);
                if (!c) c = (all[mid].len > kl) - (all[mid].len < kl);
                if (!c) present = 1;
                else if (c < 0) lo = mid + 1;
                else hi = mid;
            }
            cr_assert_eq(rc, present ? CPQ_OK : CPQ_ENOTFOUND, "lookup of '%s' near '%s'", key, w->text);
            if (present) cr_assert(u.len == kl && !memcmp(u.text, key, kl));
        }
    }
    return n;
}

Test(builder, every_term_found_exactly)
{
    size_t n = check_every_term(ix);
    cr_assert(n > 100, "%zu terms", n);
}

/* Lookups search the term blocks by their first terms' first 8 bytes
 * (reader.c, term_keys) and compare in the file only on a tie: a
 * dictionary where many blocks start with the same 8 bytes, and terms that
 * are prefixes of one another across block boundaries, must still find
 * exactly its terms. */
Test(builder, terms_sharing_long_prefixes)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/prefixes.cpqx", dir);
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    snprintf(o.analysis.language, sizeof o.analysis.language, "none");
    o.threads = 1;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, p, &b, &e), CPQ_OK, "%s", e.msg);
    static char text[1 << 16];
    size_t len = 0;
    /* "aaaaaaaa" plus 0..3 more letters: 1 + 26 + 26^2 words share 8 bytes. */
    const char *stems[] = { "aaaaaaaa", "aaaaaaab", "interna", "internat", "internati", "international" };
    for (size_t s = 0; s < sizeof stems / sizeof stems[0]; s++) {
        len += (size_t)snprintf(text + len, sizeof text - len, "%s ", stems[s]);
        for (int i = 0; i < 26; i++) {
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%c ", stems[s], 'a' + i);
            if (s < 2)
                for (int j = 0; j < 26; j++)
                    len += (size_t)snprintf(text + len, sizeof text - len, "%s%c%c ", stems[s], 'a' + i, 'a' + j);
        }
    }
    len += (size_t)snprintf(text + len, sizeof text - len, "a aa aaa aaaa aaaaa aaaaaa aaaaaaa b z");
    cr_assert_lt(len, sizeof text - 1);
    cr_assert_eq(cpq_builder_add(b, "p", 1, text, len, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);
    cpq_index *v;
    cr_assert_eq(cpq_index_open(p, 0, &v, &e), CPQ_OK, "%s", e.msg);
    size_t n = check_every_term(v);
    /* internat and internati are also interna+t and internat+i. */
    cr_assert_eq(n, 2 * (1 + 26 + 26 * 26) + 4 * 27 + 9 - 2, "%zu terms", n);
    cpq_term t;
    cr_assert_eq(cpq_index_term(v, "aaaaaaaa", 8, &t), CPQ_OK);
    cr_assert_eq(cpq_index_term(v, "aaaaaaaazz", 10, &t), CPQ_OK);
    cr_assert_eq(cpq_index_term(v, "aaaaaaaazzz", 11, &t), CPQ_ENOTFOUND);
    cr_assert_eq(cpq_index_term(v, "aaaaaaa", 7, &t), CPQ_OK);
    cr_assert_eq(cpq_index_term(v, "aaaaaaaa\0", 9, &t), CPQ_ENOTFOUND);
    cr_assert_eq(cpq_index_term(v, "internationa", 12, &t), CPQ_ENOTFOUND);
    cr_assert_eq(cpq_index_term(v, "internationalz", 14, &t), CPQ_OK);
    /* A prefix range that starts inside a run of equal 8-byte keys. */
    cpq_term_iter it;
    cr_assert_eq(cpq_index_prefix(v, "aaaaaaaam", 9, &it), CPQ_OK);
    size_t k = 0;
    while (cpq_term_iter_next(&it, &t) == CPQ_OK) {
        cr_assert(t.len >= 9 && !memcmp(t.text, "aaaaaaaam", 9), "'%s' outside the range", t.text);
        k++;
    }
    cr_assert_eq(k, 27);
    cpq_index_close(v);
}

Test(builder, jsonl_records_and_ids)
{
    /* Title and text are joined by a blank line; ids come from _id. */
    char jpath[4096], ipath[4096];
    snprintf(jpath, sizeof jpath, "%s/r.jsonl", dir);
    snprintf(ipath, sizeof ipath, "%s/r.cpqx", dir);
    const char *jl = "{\"_id\": \"a1\", \"title\": \"Hello\", \"text\": \"World \\u00e9t\\u00e9\"}\n"
                     "\n"
                     "{\"_id\": 42, \"text\": \"numbers as ids\", \"metadata\": {\"x\": [1, 2, {\"y\": null}]}}\n";
    cr_assert_eq(tu_write_file(jpath, jl, strlen(jl)), 0);
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, ipath, &b, &e), CPQ_OK);
    cr_assert_eq(cpq_input_add(b, jpath, CPQ_FMT_AUTO, 0, NULL, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);
    cpq_index *j;
    cr_assert_eq(cpq_index_open(ipath, 0, &j, &e), CPQ_OK, "%s", e.msg);
    cpq_fetch *f;
    cpq_fetch_create(j, &f);
    uint32_t d;
    cr_assert_eq(cpq_index_doc_find(j, "a1", 2, &d), CPQ_OK);
    const char *t;
    size_t tl;
    cr_assert_eq(cpq_fetch_doc(f, d, &t, &tl), CPQ_OK);
    cr_assert_eq(tl, strlen("Hello\n\nWorld été"));
    cr_assert(!memcmp(t, "Hello\n\nWorld été", tl));
    cr_assert_eq(cpq_index_doc_find(j, "42", 2, &d), CPQ_OK);
    cpq_term term;
    cr_assert_eq(cpq_index_term(j, "number", 6, &term), CPQ_OK);
    cpq_fetch_free(f);
    cpq_index_close(j);
}

/* A vocabulary past every doubling of the batch's term table (16,384,
 * 32,768, 65,536 distinct terms in one batch): every term is found with
 * its document frequency.  Under ASan this caught the table writing one
 * entry past its end at each doubling. */
Test(builder, large_vocabulary_in_one_batch)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/vocab.cpqx", dir);
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.threads = 1;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, p, &b, &e), CPQ_OK, "%s", e.msg);
    /* 20 documents of 4,000 distinct words each ("v<n>x"): 80,000 terms. */
    char *text = malloc(4000 * 12);
    cr_assert_not_null(text);
    for (unsigned d = 0; d < 20; d++) {
        size_t len = 0;
        for (unsigned k = 0; k < 4000; k++)
            len += (size_t)sprintf(text + len, "v%ux ", d * 4000 + k);
        char id[16];
        snprintf(id, sizeof id, "v%u", d);
        cr_assert_eq(cpq_builder_add(b, id, strlen(id), text, len, &e), CPQ_OK, "%s", e.msg);
    }
    free(text);
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);
    cpq_index *v;
    cr_assert_eq(cpq_index_open(p, 0, &v, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_index_verify(v, &e), CPQ_OK, "%s", e.msg);
    cr_assert_geq(cpq_index_get_info(v)->terms, 80000);
    for (unsigned t = 0; t < 80000; t += 997) {
        char w[16];
        cpq_term term;
        int n = snprintf(w, sizeof w, "v%ux", t);
        cr_assert_eq(cpq_index_term(v, w, (size_t)n, &term), CPQ_OK, "term %s", w);
        cr_assert_eq(term.df, 1, "term %s", w);
    }
    cpq_index_close(v);
}
