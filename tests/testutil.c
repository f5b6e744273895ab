/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb; cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

char *tu_tempdir(void)
{
    const char *t = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/cpqtest.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(buf)) return NULL;
    return strdup(buf);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

void tu_rmrf(const char *path)
{
    if (path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t tu_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- index helpers ---- */
#include <math.h>

#include "bm25.h"

static const char *const vocab_extra[] = {
    "café", "naïve", "Straße", "東京都", "2015", "résumé", "Москва", "don't", "x86_64", "ﬁle",
};

tu_doc *tu_make_corpus(size_t ndocs, size_t avg_words, uint64_t seed)
{
    tu_doc *d = calloc(ndocs, sizeof *d);
    uint64_t s = seed ? seed : 1;
    for (size_t i = 0; i < ndocs; i++) {
        snprintf(d[i].id, sizeof d[i].id, "doc-%05zu", i);
        size_t words = 1 + tu_rand(&s) % (2 * avg_words);
        size_t cap = words * 16 + 64, len = 0;
        char *t = malloc(cap);
        for (size_t w = 0; w < words; w++) {
            char word[32];
            uint64_t r = tu_rand(&s);
            if (r % 50 == 0) {
                snprintf(word, sizeof word, "%s", vocab_extra[(r / 50) % 10]);
            } else {
                /* Zipf-ish: small numbers far more often. */
                unsigned k = (unsigned)((r >> 8) % 1000);
                k = k * k / 1000 * k / 1000;
                snprintf(word, sizeof word, "w%ua%s", k, (r >> 40) % 7 == 0 ? "ing" : (r >> 40) % 7 == 1 ? "s" : "");
            }
            size_t wl = strlen(word);
            memcpy(t + len, word, wl);
            len += wl;
            uint64_t sep = tu_rand(&s) % 40;
            const char *sp = sep == 0 ? ".\n\n" : sep == 1 ? ". " : sep == 2 ? ", " : " ";
            memcpy(t + len, sp, strlen(sp));
            len += strlen(sp);
        }
        t[len] = 0;
        d[i].text = t;
        d[i].len = len;
    }
    return d;
}

void tu_free_corpus(tu_doc *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++) free(d[i].text);
    free(d);
}

const char *tu_index_diff(const cpq_index *a, const cpq_index *b)
{
    static char msg[256];
    const cpq_index_info *ia = cpq_index_get_info(a), *ib = cpq_index_get_info(b);
    if (ia->passages != ib->passages || ia->docs != ib->docs || ia->terms != ib->terms || ia->tokens != ib->tokens)
        return "counts differ";
    cpq_fetch *fa, *fb;
    cpq_fetch_create(a, &fa);
    cpq_fetch_create(b, &fb);
    const char *res = NULL;
    for (uint32_t p = 0; p < ia->passages && !res; p++) {
        cpq_passage_info pa, pb;
        cpq_index_passage(a, p, &pa);
        cpq_index_passage(b, p, &pb);
        if (pa.doc != pb.doc || pa.ordinal != pb.ordinal || pa.start != pb.start || pa.len != pb.len || pa.tokens != pb.tokens) { snprintf(msg, sizeof msg, "passage %u info differs", p); res = msg; break; }
        const char *ta, *tb;
        size_t la, lb;
        if (cpq_fetch_passage(fa, p, &ta, &la) || cpq_fetch_passage(fb, p, &tb, &lb)) { res = "fetch failed"; break; }
        /* ta lives in fa's buffer, tb in fb's: both valid here. */
        if (la != lb || memcmp(ta, tb, la)) { snprintf(msg, sizeof msg, "passage %u text differs", p); res = msg; }
    }
    cpq_fetch_free(fa);
    cpq_fetch_free(fb);
    if (res) return res;
    cpq_term_iter ita, itb;
    cpq_term ta, tb;
    cpq_index_prefix(a, "", 0, &ita);
    cpq_index_prefix(b, "", 0, &itb);
    for (;;) {
        int ra = cpq_term_iter_next(&ita, &ta), rb = cpq_term_iter_next(&itb, &tb);
        if (ra != rb) return "term lists differ in length";
        if (ra) break;
        if (ta.len != tb.len || memcmp(ta.text, tb.text, ta.len) || ta.df != tb.df) {
            snprintf(msg, sizeof msg, "term '%s' vs '%s'", ta.text, tb.text);
            return msg;
        }
        cpq_postings pa, pb;
        cpq_postings_open(a, &ta, &pa);
        cpq_postings_open(b, &tb, &pb);
        for (;;) {
            uint32_t x = cpq_postings_next(&pa), y = cpq_postings_next(&pb);
            if (x != y) { snprintf(msg, sizeof msg, "term '%s': postings differ", ta.text); return msg; }
            if (x == CPQ_END) break;
            if (cpq_postings_tf(&pa) != cpq_postings_tf(&pb)) return "tf differs";
            uint32_t qa[256], qb[256];
            int na = cpq_postings_positions(&pa, qa, 256), nb = cpq_postings_positions(&pb, qb, 256);
            if (na != nb || na < 0 || memcmp(qa, qb, sizeof(uint32_t) * (size_t)(na < 256 ? na : 256))) {
                snprintf(msg, sizeof msg, "term '%s': positions differ in passage %u", ta.text, x);
                return msg;
            }
        }
    }
    return NULL;
}

typedef struct tu_terms { char t[16][CPQ_TERM_MAX + 1]; size_t n; } tu_terms;

static int collect_term(void *ctx, const cpq_token *tok)
{
    tu_terms *ts = ctx;
    if (ts->n < 16) {
        memcpy(ts->t[ts->n], tok->term, tok->len);
        ts->t[ts->n][tok->len] = 0;
        ts->n++;
    }
    return 0;
}

size_t tu_bm25_topk(const cpq_index *ix, const char *query, size_t k, uint32_t *ids, float *scores)
{
    const cpq_index_info *in = cpq_index_get_info(ix);
    cpq_analyzer *an;
    if (cpq_analyzer_create(&in->analysis, &an, NULL)) return 0;
    tu_terms ts;
    ts.n = 0;
    cpq_analyze(an, query, strlen(query), 0, collect_term, &ts, NULL);
    cpq_analyzer_free(an);
    float *acc = calloc(in->passages ? in->passages : 1, sizeof *acc);
    for (size_t i = 0; i < ts.n; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++) dup |= !strcmp(ts.t[i], ts.t[j]);
        cpq_term t;
        if (dup || cpq_index_term(ix, ts.t[i], strlen(ts.t[i]), &t)) continue;
        float idf = cpq_bm25_idf(in->passages, t.df);
        cpq_postings p;
        cpq_postings_open(ix, &t, &p);
        for (uint32_t d; (d = cpq_postings_next(&p)) != CPQ_END;)
            acc[d] += cpq_bm25(idf, cpq_postings_tf(&p), cpq_index_passage_len(ix, d), in->avg_len, CPQ_BM25_K1, CPQ_BM25_B);
    }
    size_t n = 0;
    for (uint32_t d = 0; d < in->passages; d++) {
        if (acc[d] <= 0) continue;
        /* Insertion into the sorted top k. */
        size_t pos = n;
        while (pos > 0 && (scores[pos - 1] < acc[d])) pos--;
        if (pos >= k) continue;
        size_t last = n < k ? n : k - 1;
        memmove(ids + pos + 1, ids + pos, (last - pos) * sizeof *ids);
        memmove(scores + pos + 1, scores + pos, (last - pos) * sizeof *scores);
        ids[pos] = d;
        scores[pos] = acc[d];
        if (n < k) n++;
    }
    free(acc);
    return n;
}
