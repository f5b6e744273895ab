/*
 * engine.c - query execution; see engine.h for the contract.
 *
 * Document-at-a-time over "iterators", one per query node.  Every iterator
 * is positioned on its first matching passage when built and moves forward
 * only: seek(t) to the first match >= t.
 * Each has a global score bound (ub) and, for terms, a tighter bound per
 * postings block from the skip table (block-max).  The root BOOL runs
 * block-max MaxScore (Turtle & Flood 1995; Ding & Suel 2011): clauses are
 * ordered by bound, the cheapest prefix whose bounds cannot beat the k-th
 * score is "non-essential" and only probed for candidates that the others
 * produce, and a candidate whose block bounds cannot beat the k-th score is
 * skipped unscored.
 */
#include "engine.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bm25.h"

enum { IT_TERM, IT_PHRASE, IT_NEAR, IT_OR, IT_BOOL, IT_EMPTY };

typedef struct engine engine;
typedef struct it it;

struct it {
    int kind;
    uint32_t doc;            /* current match, CPQ_END when exhausted */
    float ub;                /* bound of score() anywhere */
    engine *en;
    /* term (its cursor, pc, is the last member) */
    float idf;
    uint32_t df;
    const char *text;        /* TERM: the term (owned by the engine); PHRASE: NULL */
    const cpq_qnode *node;   /* the query node it runs */
    int ub_lazy;             /* TERM: ub not computed yet; see it_ub */
    uint32_t bk;             /* block of the last bound lookup: they only move forward */
    uint32_t bk_last;        /* ... its last passage, valid when bk_ok */
    float bk_bound;          /* ... its score bound */
    int bk_ok;
    /* composites */
    it **kids;
    size_t nkids;
    it **lead;               /* PHRASE: distinct kids by ascending df, the order to align them in */
    size_t nlead;
    cpq_occur *occ;          /* BOOL: each kid's occur */
    uint32_t *rel;           /* PHRASE: relative positions */
    uint32_t dist;           /* NEAR */
    /* positions: TERM occurrences or PHRASE match starts at doc */
    uint32_t *pos;
    size_t npos, poscap;
    uint32_t pos_doc;        /* doc the positions are for (CPQ_END: none) */
    uint32_t span;           /* PHRASE: last relative position */
    uint32_t freq;           /* PHRASE: matches at doc */
    int pending;             /* PHRASE/NEAR: doc is approximate, positions not yet checked */
    /* Last, so new_it need not zero its 1 KiB of decoded-block arrays. */
    cpq_postings pc;
};

struct engine {
    const cpq_index *ix;
    const cpq_index_info *in;
    float k1, b, avg;
    int default_params;
    uint64_t work, max_work;
    double deadline;         /* monotonic seconds; 0 = none */
    int stop;                /* budget exhausted */
    int capped;
    int oom, corrupt;
    uint32_t prefix_cap;
    /* Memory: bump allocation from chunks (en_alloc).  The first chunk may
     * be the caller's stack buffer; the others, in allocs, are freed at
     * the end. */
    unsigned char *chunk;
    size_t chunk_left;
    void **allocs;
    size_t nallocs, acap;
    it **its;                /* every iterator: their position buffers */
    size_t nits, itcap;
};

#define EN_CHUNK 16384   /* bytes per engine memory chunk */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n bytes, not zeroed, aligned for any type, freed with the engine.  A
 * query's iterators live as long as the query, so they are carved from
 * chunks (a 16 KiB stack buffer of cpq_search's first, which holds a query
 * of a dozen terms) instead of a malloc each: measured, the mallocs, the
 * zeroing and glibc's consolidation of freed small chunks before each
 * large one were a third of a two-term query's time. */
static void *en_alloc_raw(engine *en, size_t n)
{
    const size_t al = sizeof(max_align_t);
    if (en->oom) return NULL;
    if (n > SIZE_MAX / 2) { en->oom = 1; return NULL; }
    n = n ? (n + al - 1) / al * al : al;
    if (n > en->chunk_left) {
        if (en->nallocs == en->acap) {
            size_t nc = en->acap ? en->acap * 2 : 16;
            void **na = realloc(en->allocs, nc * sizeof *na);
            if (!na) { en->oom = 1; return NULL; }
            en->allocs = na;
            en->acap = nc;
        }
        size_t cap = n > EN_CHUNK ? n : EN_CHUNK;
        unsigned char *c = malloc(cap);
        if (!c) { en->oom = 1; return NULL; }
        en->allocs[en->nallocs++] = c;
        en->chunk = c;
        en->chunk_left = cap;
    }
    void *p = en->chunk;
    en->chunk += n;
    en->chunk_left -= n;
    return p;
}

static void *en_alloc(engine *en, size_t n)
{
    void *p = en_alloc_raw(en, n);
    if (p) memset(p, 0, n);
    return p;
}

static void en_free(engine *en)
{
    for (size_t i = 0; i < en->nits; i++) free(en->its[i]->pos);
    for (size_t i = 0; i < en->nallocs; i++) free(en->allocs[i]);
    free(en->allocs);
}

/* Count work; check the clock every 4096 units. */
static inline void tick(engine *en, uint64_t n)
{
    en->work += n;
    if (en->work > en->max_work) en->stop = 1;
    if (en->deadline > 0 && (en->work & 4095) < n && now_s() > en->deadline) en->stop = 1;
}

static int failed_en(const engine *en) { return en->stop || en->oom || en->corrupt; }

/* ---- BM25 pieces --------------------------------------------------------- */

static float bm25(const engine *en, float idf, uint32_t tf, uint32_t len)
{
    return cpq_bm25(idf, tf, len, en->avg, en->k1, en->b);
}

/* A bound for any passage of a block given its largest tf and smallest
 * length: the BM25 tf part grows with tf and shrinks with length. */
static float bound_from(const engine *en, float idf, uint32_t maxtf, uint32_t minlen)
{
    return cpq_round_up(bm25(en, idf, maxtf, minlen));
}

static float it_ub(it *x);

static float term_block_bound(it *t, uint32_t k)
{
    if (t->pc.nblocks <= 1) return it_ub(t);
    uint32_t last, mtf, mlen;
    float ms;
    cpq_postings_block_at(&t->pc, k, &last, &ms, &mtf, &mlen);
    return t->en->default_params ? ms : bound_from(t->en, t->idf, mtf, mlen);
}

/* ---- iterator operations -------------------------------------------------- */

static uint32_t it_seek(it *x, uint32_t t);
static float it_score(it *x);

/* Bound of x's score at passage d >= x's position. */
/* The block holding passage d (>= every d asked before), from the last
 * block looked up or the cursor's block, whichever is further; nblocks when
 * d is past the last block.  Lists that are only probed (MaxScore's
 * non-essential ones) lag behind; the cached block keeps their lookups
 * from rescanning the skip table. */
static uint32_t term_block_of(it *x, uint32_t d)
{
    uint32_t k = x->pc.blk == UINT32_MAX ? 0 : x->pc.blk;
    /* The common case: d is still inside the block found last time.  (A
     * union checks every list's bound at every candidate.) */
    if (x->bk_ok && x->bk >= k && d <= x->bk_last) return x->bk;
    if (x->bk > k) k = x->bk;
    uint32_t last = 0;
    for (; k < x->pc.nblocks; k++) {
        cpq_postings_block_at(&x->pc, k, &last, NULL, NULL, NULL);
        if (last >= d) break;
    }
    x->bk = k;
    x->bk_ok = k < x->pc.nblocks;
    if (x->bk_ok) {
        x->bk_last = last;
        x->bk_bound = term_block_bound(x, k);
    }
    return k;
}

/* Bound of x's score at passage d >= x's position. */
static float it_bound_at(it *x, uint32_t d)
{
    if (x->kind != IT_TERM || x->pc.nblocks <= 1) return it_ub(x);
    uint32_t k = term_block_of(x, d);
    return k < x->pc.nblocks ? x->bk_bound : 0;
}

/* The last passage up to which it_bound_at(x, d) holds: the end of the
 * postings block holding d for a term; d itself for other iterators. */
static uint32_t it_bound_until(it *x, uint32_t d)
{
    if (x->kind != IT_TERM) return d;
    if (x->pc.nblocks <= 1) return CPQ_END - 1;
    uint32_t k = term_block_of(x, d);
    if (k >= x->pc.nblocks) return CPQ_END - 1;
    return x->bk_last;
}

static int grow_pos(it *x, size_t need)
{
    if (need <= x->poscap) return 0;
    size_t nc = x->poscap ? x->poscap : 64;
    while (nc < need) nc *= 2;
    uint32_t *np = realloc(x->pos, nc * sizeof *np);
    if (!np) { x->en->oom = 1; return -1; }
    x->pos = np;
    x->poscap = nc;
    return 0;
}

/* Positions of a term at its current passage into x->pos. */
static int term_positions(it *x)
{
    if (x->pos_doc == x->doc) return 0;
    uint32_t tf = cpq_postings_tf(&x->pc);
    if (grow_pos(x, tf)) return -1;
    int n = cpq_postings_positions(&x->pc, x->pos, x->poscap);
    if (n < 0) { x->en->corrupt = 1; return -1; }
    tick(x->en, (uint64_t)n);
    x->npos = (size_t)n;
    x->pos_doc = x->doc;
    return 0;
}

static uint32_t term_next(it *x)
{
    tick(x->en, 1);
    x->doc = cpq_postings_next(&x->pc);
    if (x->doc == CPQ_END && cpq_postings_corrupt(&x->pc)) x->en->corrupt = 1;
    return x->doc;
}

static inline uint32_t term_seek(it *x, uint32_t t)
{
    if (x->doc >= t) return x->doc;
    tick(x->en, 1);
    /* The common case inline: t falls in the decoded block (a block that
     * failed to load has blk == nblocks).  Conjunctions seek per
     * candidate, and the call into the reader was a third of a
     * two-word intersection's time. */
    cpq_postings *p = &x->pc;
    if (p->blk < p->nblocks && p->ids[p->n - 1] >= t) {
        uint32_t i = p->i;
        while (p->ids[i] < t) i++;
        p->i = i;
        return x->doc = p->ids[i];
    }
    x->doc = cpq_postings_seek(p, t);
    if (x->doc == CPQ_END && cpq_postings_corrupt(&x->pc)) x->en->corrupt = 1;
    return x->doc;
}

/* it_seek, with a term's seek inline (conjunctions call this per candidate). */
static inline uint32_t seek_kid(it *x, uint32_t t)
{
    return x->kind == IT_TERM ? term_seek(x, t) : it_seek(x, t);
}

/* Align every iterator of v on one passage >= d; CPQ_END if none. */
static uint32_t conj_align(it **v, size_t n, uint32_t d)
{
again:
    if (d == CPQ_END) return CPQ_END;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = seek_kid(v[i], d);
        if (x != d) {
            d = x;
            goto again;
        }
    }
    return d;
}

/* Does the phrase occur in its passage, and where?  The terms are taken
 * rarest first (by their tf in this passage): the rarest one's positions
 * give the candidate starts, each further term's positions filter them,
 * and once no candidate is left the remaining terms' positions are never
 * read.  For "to be or not to be" on gcide most candidates die at the
 * second term, and reading positions was most of the query's time. */
static uint32_t phrase_check_of(it *x, const it *only0, const it *only1)
{
    size_t n = 0, ord[CPQ_QUERY_MAX_TERMS];
    for (size_t i = 0; i < x->nkids; i++) {
        if (only0 && x->kids[i] != only0 && x->kids[i] != only1) continue;
        size_t j = n++;
        uint32_t tf = cpq_postings_tf(&x->kids[i]->pc);
        for (; j > 0 && cpq_postings_tf(&x->kids[ord[j - 1]]->pc) > tf; j--) ord[j] = ord[j - 1];
        ord[j] = i;
    }
    x->npos = 0;
    x->pos_doc = x->doc;
    x->freq = 0;
    /* cppcheck-suppress uninitvar ; a phrase has nkids >= 2, so ord[0] is set */
    it *r = x->kids[ord[0]];
    if (term_positions(r) || grow_pos(x, r->npos)) return 0;
    uint32_t rr = x->rel[ord[0]];
    for (size_t a = 0; a < r->npos; a++)
        if (r->pos[a] >= rr) x->pos[x->npos++] = r->pos[a] - rr;
    for (size_t o = 1; o < n && x->npos > 0; o++) {
        it *ki = x->kids[ord[o]];
        if (term_positions(ki)) { x->npos = 0; return 0; }
        uint32_t rel = x->rel[ord[o]];
        size_t p = 0, keep = 0;
        for (size_t a = 0; a < x->npos; a++) {
            uint64_t want = (uint64_t)x->pos[a] + rel;
            while (p < ki->npos && ki->pos[p] < want) p++;
            if (p < ki->npos && ki->pos[p] == want) x->pos[keep++] = x->pos[a];
        }
        x->npos = keep;
    }
    x->freq = (uint32_t)x->npos;
    return x->freq;
}

static uint32_t phrase_check(it *x) { return phrase_check_of(x, NULL, NULL); }

/* Occurrence intervals of a NEAR operand at its passage. */
static int operand_intervals(it *x, const uint32_t **starts, size_t *n, uint32_t *span)
{
    if (x->kind == IT_TERM) {
        if (term_positions(x)) return -1;
        *span = 0;
    } else {
        *span = x->span;   /* phrase: positions computed when it matched */
    }
    *starts = x->pos;
    *n = x->npos;
    return 0;
}

static int near_check(it *x)
{
    const uint32_t *a, *b;
    size_t na, nb;
    uint32_t sa, sb;
    if (operand_intervals(x->kids[0], &a, &na, &sa) || operand_intervals(x->kids[1], &b, &nb, &sb)) return 0;
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        uint64_t a0 = a[i], a1 = a0 + sa, b0 = b[j], b1 = b0 + sb;
        if (a1 < b0) {
            if (b0 - a1 - 1 <= x->dist) return 1;
            i++;
        } else if (b1 < a0) {
            if (a0 - b1 - 1 <= x->dist) return 1;
            j++;
        } else {
            /* Overlapping occurrences (the same term on both sides): try the next. */
            if (a0 <= b0) i++; else j++;
        }
    }
    return 0;
}

static uint32_t conj_next_match(it *x, uint32_t d)
{
    /* A phrase of three words or more aligns its two rarest words first
     * and checks the phrase on them alone before moving the others.  For
     * "to be or not to be" on gcide, 3,064 passages hold `not` and `be`
     * and 2,286 all four words, but few hold `be` two places from `not`:
     * the frequent words' blocks were decoded for nothing. */
    int pair = x->kind == IT_PHRASE && x->lead && x->nlead >= 3;
    it **v = x->lead ? x->lead : x->kids;
    size_t nv = pair ? 2 : x->lead ? x->nlead : x->nkids;
    for (;;) {
        d = conj_align(v, nv, d);
        if (d == CPQ_END || x->en->stop || x->en->oom || x->en->corrupt) return x->doc = CPQ_END;
        x->doc = d;
        x->pending = 0;
        if (pair) {
            if (phrase_check_of(x, x->lead[0], x->lead[1]) > 0) {
                uint32_t d2 = conj_align(x->lead, x->nlead, d);
                if (d2 != d) {
                    d = d2;
                    continue;
                }
                if (phrase_check(x) > 0) return d;
            }
        } else if (x->kind == IT_PHRASE ? phrase_check(x) > 0 : near_check(x)) {
            return d;
        }
        if (x->en->oom || x->en->corrupt) return x->doc = CPQ_END;
        d++;
    }
}

/* Two-phase matching.  A phrase or NEAR iterator may sit "approximately"
 * on a passage where all its terms occur (pending), its positions not yet
 * read: the root conjunction aligns every required clause first and
 * confirms positions only where all agree, so a rare sibling ("+uk")
 * keeps a common phrase ("+\"the who\"") from verifying passages it would
 * reject anyway.  it_seek always returns confirmed matches. */
static int two_phase(const it *x) { return x->kind == IT_PHRASE || x->kind == IT_NEAR; }

/* pending: 0 = doc is a confirmed match (or CPQ_END), 1 = doc holds all
 * the terms but positions are unchecked, 2 = doc was checked and rejected. */
static uint32_t approx_from(it *x, uint32_t t)
{
    uint32_t d = x->lead ? conj_align(x->lead, x->nlead, t) : conj_align(x->kids, x->nkids, t);
    if (failed_en(x->en)) d = CPQ_END;
    x->doc = d;
    x->pending = d != CPQ_END;
    return d;
}

static uint32_t seek_approx(it *x, uint32_t t)
{
    if (!two_phase(x)) return seek_kid(x, t);
    if (x->doc == CPQ_END) return CPQ_END;
    if (x->doc >= t && x->pending != 2) return x->doc;
    return approx_from(x, x->doc >= t ? x->doc + 1 : t);
}

/* Confirm x at its passage: 1 if it really matches there. */
static int confirm(it *x)
{
    if (!two_phase(x) || x->pending == 0) return x->doc != CPQ_END;
    if (x->pending == 2) return 0;
    int ok = x->kind == IT_PHRASE ? phrase_check(x) > 0 : near_check(x);
    ok = ok && !x->en->oom && !x->en->corrupt;
    x->pending = ok ? 0 : 2;
    return ok;
}

/* Align v on the first passage >= d where every clause truly matches. */
static uint32_t conj_align_2p(it **v, size_t n, uint32_t d)
{
    for (;;) {
    again:
        if (d == CPQ_END) return CPQ_END;
        for (size_t i = 0; i < n; i++) {
            uint32_t x = seek_approx(v[i], d);
            if (x != d) {
                d = x;
                goto again;
            }
        }
        int all = 1;
        for (size_t i = 0; i < n && all; i++) all = confirm(v[i]);
        if (all) return d;
        if (failed_en(v[0]->en)) return CPQ_END;
        d++;
    }
}

/* OR (prefix expansions): the smallest kid position. */
static uint32_t or_min(it *x)
{
    uint32_t m = CPQ_END;
    for (size_t i = 0; i < x->nkids; i++)
        if (x->kids[i]->doc < m) m = x->kids[i]->doc;
    return x->doc = m;
}

/* BOOL: the next passage >= d that satisfies MUST, SHOULD and MUST_NOT. */
static uint32_t bool_find(it *x, uint32_t d)
{
    int has_must = 0;
    for (size_t i = 0; i < x->nkids; i++) has_must |= x->occ[i] == CPQ_OCCUR_MUST;
    for (;;) {
        if (x->en->stop || x->en->oom || x->en->corrupt) return x->doc = CPQ_END;
        if (has_must) {
            /* Align the MUST kids (leapfrog). */
            for (;;) {
                uint32_t start = d;
                for (size_t i = 0; i < x->nkids && d != CPQ_END; i++)
                    if (x->occ[i] == CPQ_OCCUR_MUST) {
                        uint32_t y = it_seek(x->kids[i], d);
                        if (y != d) d = y;
                    }
                if (d == CPQ_END) return x->doc = CPQ_END;
                if (d == start) break;
            }
        } else {
            uint32_t m = CPQ_END;
            for (size_t i = 0; i < x->nkids; i++)
                if (x->occ[i] == CPQ_OCCUR_SHOULD) {
                    uint32_t y = it_seek(x->kids[i], d);
                    if (y < m) m = y;
                }
            if (m == CPQ_END) return x->doc = CPQ_END;
            d = m;
        }
        int excluded = 0;
        for (size_t i = 0; i < x->nkids && !excluded; i++)
            if (x->occ[i] == CPQ_OCCUR_MUST_NOT) excluded = it_seek(x->kids[i], d) == d;
        if (!excluded) return x->doc = d;
        d++;
    }
}

static uint32_t it_seek(it *x, uint32_t t)
{
    if (x->pending && x->doc >= t) {
        /* Sitting approximately: confirm, or search on from there. */
        if (confirm(x)) return x->doc;
        if (x->doc == CPQ_END) return CPQ_END;
        return conj_next_match(x, x->doc + 1);
    }
    if (x->doc >= t) return x->doc;
    switch (x->kind) {
    case IT_TERM: return term_seek(x, t);
    case IT_PHRASE:
    case IT_NEAR: return conj_next_match(x, t);
    case IT_OR:
        for (size_t i = 0; i < x->nkids; i++) it_seek(x->kids[i], t);
        return or_min(x);
    case IT_BOOL: return bool_find(x, t);
    default: return x->doc = CPQ_END;
    }
}

/* x's score at its passage, whose BM25 length is len (looked up once per
 * candidate by the caller, not once per clause). */
static float it_score_len(it *x, uint32_t len)
{
    const engine *en = x->en;
    switch (x->kind) {
    case IT_TERM: return bm25(en, x->idf, cpq_postings_tf(&x->pc), len);
    case IT_PHRASE: return bm25(en, x->idf, x->freq, len);
    case IT_NEAR: return it_score_len(x->kids[0], len) + it_score_len(x->kids[1], len);
    case IT_OR:
    case IT_BOOL: {
        float s = 0;
        for (size_t i = 0; i < x->nkids; i++) {
            if (x->kind == IT_BOOL && x->occ[i] == CPQ_OCCUR_MUST_NOT) continue;
            if (it_seek(x->kids[i], x->doc) == x->doc) s += it_score_len(x->kids[i], len);
        }
        return s;
    }
    default: return 0;
    }
}

static float it_score(it *x)
{
    return it_score_len(x, cpq_index_passage_len(x->en->ix, x->doc));
}

/* ---- building iterators from the tree ------------------------------------- */

static it *new_it(engine *en, int kind)
{
    if (en->nits == en->itcap) {   /* the list lives in the arena too */
        size_t nc = en->itcap ? en->itcap * 2 : 16;
        it **ni = en_alloc_raw(en, nc * sizeof *ni);
        if (!ni) return NULL;
        if (en->nits) memcpy(ni, en->its, en->nits * sizeof *ni);
        en->its = ni;
        en->itcap = nc;
    }
    it *x = en_alloc_raw(en, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, offsetof(it, pc) + offsetof(cpq_postings, ids));
    en->its[en->nits++] = x;
    x->kind = kind;
    x->en = en;
    x->pos_doc = CPQ_END;
    x->doc = 0;
    return x;
}

static it *empty_it(engine *en)
{
    it *x = new_it(en, IT_EMPTY);
    if (x) x->doc = CPQ_END;
    return x;
}

/* A term iterator, or NULL with en unchanged when the term is not indexed
 * (the caller decides what an absent term means). */
static it *term_it(engine *en, const cpq_term *t)
{
    it *x = new_it(en, IT_TERM);
    if (!x) return NULL;
    if (cpq_postings_open(en->ix, t, &x->pc)) { en->corrupt = 1; return NULL; }
    x->idf = cpq_bm25_idf(en->in->passages, t->df);
    x->df = t->df;
    char *txt = en_alloc(en, t->len + 1);
    if (!txt) return NULL;
    memcpy(txt, t->text, t->len + 1);
    x->text = txt;
    term_next(x);
    x->ub_lazy = 1;   /* it_ub, when asked */
    return x;
}

/* x's score bound, computed on first use: a phrase never asks for its
 * words' bounds, nor does a conjunction that never fills its top k.  A
 * multi-block term's is the largest of its skip entries' bounds.  A
 * single-block term's is exact, from the block itself, for any k1 and b,
 * at the cost of a length lookup per posting (random reads into the
 * lengths section); it is taken from block 0, through a copy of the cursor
 * when the cursor has moved on or ended. */
static float it_ub(it *x)
{
    if (!x->ub_lazy) return x->ub;
    const engine *en = x->en;
    uint32_t nb = cpq_postings_nblocks(&x->pc);
    if (nb > 1) {
        float ub = 0;
        for (uint32_t k = 0; k < nb; k++) {
            float s = term_block_bound(x, k);
            if (s > ub) ub = s;
        }
        x->ub_lazy = 0;
        return x->ub = ub;
    }
    cpq_postings *pc = &x->pc;
    cpq_postings tmp;
    if (pc->blk != 0) {
        memcpy(&tmp, pc, sizeof tmp);
        if (cpq_postings_block(&tmp, 0) == CPQ_END) { x->en->corrupt = 1; return x->ub = 0; }
        pc = &tmp;
    }
    uint32_t n = cpq_postings_block_len(pc);
    const uint32_t *ids = cpq_postings_ids(pc), *tfs = cpq_postings_tfs(pc);
    float m = 0;
    for (uint32_t i = 0; i < n; i++) {
        float s = bm25(en, x->idf, tfs[i], cpq_index_passage_len(en->ix, ids[i]));
        if (s > m) m = s;
    }
    x->ub_lazy = 0;
    return x->ub = cpq_round_up(m);
}

static it *lookup_term_it(engine *en, const cpq_qterm *qt)
{
    cpq_term t;
    int rc = cpq_index_term(en->ix, qt->bytes, qt->len, &t);
    if (rc == CPQ_ENOTFOUND) return empty_it(en);
    if (rc) { en->corrupt = 1; return NULL; }
    return term_it(en, &t);
}

static it *build(engine *en, const cpq_qnode *n);

static int cmp_df_desc(const void *a, const void *b)
{
    const cpq_term *x = a, *y = b;
    if (x->df != y->df) return x->df > y->df ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static it *prefix_it(engine *en, const cpq_qnode *n)
{
    cpq_term_iter ti;
    if (cpq_index_prefix(en->ix, n->terms[0].bytes, n->terms[0].len, &ti)) { en->corrupt = 1; return NULL; }
    /* Keep the cap most frequent expansions (scan at most 64 x cap terms). */
    size_t cap = en->prefix_cap, keep = 0, limit = (size_t)cap * 64, seen = 0;
    cpq_term *v = malloc((cap + 1) * sizeof *v);
    if (!v) { en->oom = 1; return NULL; }
    cpq_term t;
    int rc;
    while ((rc = cpq_term_iter_next(&ti, &t)) == CPQ_OK) {
        if (++seen > limit) { en->capped = 1; break; }
        v[keep++] = t;
        if (keep > cap) {
            qsort(v, keep, sizeof *v, cmp_df_desc);
            keep = cap;
            en->capped = 1;
        }
    }
    if (rc != CPQ_OK && rc != CPQ_ENOTFOUND) { free(v); en->corrupt = 1; return NULL; }
    /* Alphabetical order: the score sums in a fixed order. */
    for (size_t i = 1; i < keep; i++)
        for (size_t j = i; j > 0 && v[j - 1].ord > v[j].ord; j--) {
            cpq_term tmp = v[j];
            v[j] = v[j - 1];
            v[j - 1] = tmp;
        }
    it *x = new_it(en, IT_OR);
    if (!x || !(x->kids = en_alloc(en, (keep ? keep : 1) * sizeof *x->kids))) { free(v); return NULL; }
    for (size_t i = 0; i < keep; i++) {
        it *k = term_it(en, &v[i]);
        if (!k) { free(v); return NULL; }
        x->kids[x->nkids++] = k;
        x->ub += it_ub(k);
    }
    free(v);
    x->ub = cpq_round_up(x->ub);
    or_min(x);
    return x;
}

static it *phrase_it(engine *en, const cpq_qnode *n)
{
    it *x = new_it(en, IT_PHRASE);
    if (!x) return NULL;
    x->kids = en_alloc(en, n->nterms * sizeof *x->kids);
    x->rel = en_alloc(en, n->nterms * sizeof *x->rel);
    if (!x->kids || !x->rel) return NULL;
    x->lead = en_alloc(en, n->nterms * sizeof *x->lead);
    if (!x->lead) return NULL;
    float idf = 0;
    for (size_t i = 0; i < n->nterms; i++) {
        /* A word the phrase repeats ("to be or not to be") shares one
         * cursor: its postings are decoded and aligned once, and its
         * positions read once per passage (term_positions caches them). */
        it *k = NULL;
        for (size_t j = 0; j < i && !k; j++)
            if (n->terms[j].len == n->terms[i].len && !memcmp(n->terms[j].bytes, n->terms[i].bytes, n->terms[i].len))
                k = x->kids[j];
        if (!k) {
            k = lookup_term_it(en, &n->terms[i]);
            if (!k) return NULL;
            if (k->kind == IT_EMPTY) return empty_it(en);
            x->lead[x->nlead++] = k;
        }
        x->kids[x->nkids++] = k;
        x->rel[i] = n->terms[i].pos;
        idf += k->idf;
    }
    x->idf = idf;
    x->span = x->rel[n->nterms - 1];
    /* Align the rarest term first: it proposes the fewest candidates. */
    for (size_t i = 1; i < x->nlead; i++)
        for (size_t j = i; j > 0 && x->lead[j - 1]->df > x->lead[j]->df; j--) {
            it *t = x->lead[j]; x->lead[j] = x->lead[j - 1]; x->lead[j - 1] = t;
        }
    /* tf * (k1 + 1) / (tf + norm) stays below k1 + 1. */
    x->ub = cpq_round_up(idf * (en->k1 + 1.0f));
    approx_from(x, 0);
    return x;
}

static it *near_it(engine *en, const cpq_qnode *n)
{
    it *x = new_it(en, IT_NEAR);
    if (!x || !(x->kids = en_alloc(en, 2 * sizeof *x->kids))) return NULL;
    for (size_t i = 0; i < 2; i++) {
        it *k = build(en, &n->children[i]);
        if (!k) return NULL;
        if (k->kind == IT_EMPTY) return empty_it(en);
        x->kids[x->nkids++] = k;
        x->ub += it_ub(k);
    }
    x->dist = n->distance;
    x->ub = cpq_round_up(x->ub);
    approx_from(x, 0);
    return x;
}

static it *bool_it(engine *en, const cpq_qnode *n)
{
    it *x = new_it(en, IT_BOOL);
    if (!x) return NULL;
    x->kids = en_alloc(en, (n->nchildren ? n->nchildren : 1) * sizeof *x->kids);
    x->occ = en_alloc(en, (n->nchildren ? n->nchildren : 1) * sizeof *x->occ);
    if (!x->kids || !x->occ) return NULL;
    int positive = 0;
    for (size_t i = 0; i < n->nchildren; i++) {
        const cpq_qnode *c = &n->children[i];
        it *k = build(en, c);
        if (!k) return NULL;
        if (k->kind == IT_EMPTY) {
            /* An absent MUST clause matches nothing; absent others drop out. */
            if (c->occur == CPQ_OCCUR_MUST) return empty_it(en);
            continue;
        }
        x->kids[x->nkids] = k;
        x->occ[x->nkids++] = c->occur;
        if (c->occur != CPQ_OCCUR_MUST_NOT) {
            positive = 1;
            x->ub += it_ub(k);
        }
    }
    if (!positive) return empty_it(en);
    x->ub = cpq_round_up(x->ub);
    bool_find(x, 0);
    return x;
}

static it *build_node(engine *en, const cpq_qnode *n)
{
    switch (n->kind) {
    case CPQ_Q_TERM: return lookup_term_it(en, &n->terms[0]);
    case CPQ_Q_PREFIX: return prefix_it(en, n);
    case CPQ_Q_PHRASE: return phrase_it(en, n);
    case CPQ_Q_NEAR: return near_it(en, n);
    case CPQ_Q_BOOL: return bool_it(en, n);
    }
    return empty_it(en);
}

static it *build(engine *en, const cpq_qnode *n)
{
    it *x = build_node(en, n);
    if (x) x->node = n;
    return x;
}

/* ---- the top k -------------------------------------------------------------- */

typedef struct entry {
    float score;
    uint32_t id;             /* passage, or document when grouping */
    uint32_t passage;
} entry;

typedef struct topk {
    entry *h;
    size_t n, k;
} topk;

/* a is worse than b: lower score, or the same score and a higher id. */
static int worse(const entry *a, const entry *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void heap_sift_down(topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < t->n && worse(&t->h[l], &t->h[m])) m = l;
        if (l + 1 < t->n && worse(&t->h[l + 1], &t->h[m])) m = l + 1;
        if (m == i) return;
        entry e = t->h[i];
        t->h[i] = t->h[m];
        t->h[m] = e;
        i = m;
    }
}

static void topk_offer(topk *t, entry e)
{
    if (t->k == 0) return;
    if (t->n < t->k) {
        size_t i = t->n++;
        t->h[i] = e;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!worse(&t->h[i], &t->h[p])) break;
            entry x = t->h[i];
            t->h[i] = t->h[p];
            t->h[p] = x;
            i = p;
        }
    } else if (worse(&t->h[0], &e)) {
        t->h[0] = e;
        heap_sift_down(t, 0);
    }
}

/* Scores at or below theta cannot enter (ties lose: later ids are higher). */
static float topk_theta(const topk *t)
{
    return t->k && t->n == t->k ? t->h[0].score : -INFINITY;
}

typedef struct run {
    engine *en;
    topk top;
    int group, prune, pruned;
    uint64_t total;
    /* grouping */
    uint32_t cur_doc, cur_end;
    int have_doc;
    entry best;
    int have_best;
} run;

static void flush_doc(run *r)
{
    if (r->have_best) {
        topk_offer(&r->top, r->best);
        r->total++;
    }
    r->have_best = 0;
}

static void offer(run *r, uint32_t p, float score)
{
    /* Not competitive: neither a hit nor its document's best that matters
     * (the k-th score only grows).  Only the count loses exactness. */
    if (r->prune && score <= topk_theta(&r->top)) {
        r->pruned = 1;
        return;
    }
    if (!r->group) {
        r->total++;
        topk_offer(&r->top, (entry){ score, p, p });
        return;
    }
    if (!r->have_doc || p >= r->cur_end) {
        flush_doc(r);
        uint32_t first;
        if (cpq_index_passage_doc(r->en->ix, p, &r->cur_doc, &first, &r->cur_end)) {
            r->en->corrupt = 1;
            return;
        }
        r->have_doc = 1;
    }
    if (!r->have_best || score > r->best.score) {
        r->best = (entry){ score, r->cur_doc, p };
        r->have_best = 1;
    }
}

static int excluded(it **x, size_t nx, uint32_t d)
{
    for (size_t i = 0; i < nx; i++)
        if (it_seek(x[i], d) == d) return 1;
    return 0;
}

/* For sorting by bound: every it_ub() must have been called before. */
static int cmp_ub_asc(const void *a, const void *b)
{
    const it *x = *(it *const *)a, *y = *(it *const *)b;
    return x->ub < y->ub ? -1 : x->ub > y->ub;
}

static int failed(const engine *en) { return en->stop || en->oom || en->corrupt; }

/* Sum the contributions in the kids' order (so a score never depends on
 * the order it was computed in). */
static float sum_in_order(const float *contrib, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++) s += contrib[i];
    return s;
}

/* Order key for aligning a conjunction: a term's df, anything else after
 * every term. */
static uint64_t lead_cost(const it *x)
{
    return x->kind == IT_TERM ? x->df : ((uint64_t)1 << 32) + x->nkids;
}

/* Root with MUST clauses: the conjunction drives, SHOULD clauses add. */
static void run_conjunctive(run *r, it **kids, const cpq_occur *occ, size_t n, float *contrib)
{
    it *must[CPQ_QUERY_MAX_TERMS], *should[CPQ_QUERY_MAX_TERMS], *not[CPQ_QUERY_MAX_TERMS];
    size_t ms[CPQ_QUERY_MAX_TERMS], ss[CPQ_QUERY_MAX_TERMS];
    size_t nm = 0, ns = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (occ[i] == CPQ_OCCUR_MUST) { ms[nm] = i; must[nm++] = kids[i]; }
        else if (occ[i] == CPQ_OCCUR_SHOULD) { ss[ns] = i; should[ns++] = kids[i]; }
        else not[nn++] = kids[i];
    }
    /* Cheap, selective clauses lead the alignment: terms by df, then
     * everything that must check positions or children. */
    for (size_t i = 1; i < nm; i++)
        for (size_t j = i; j > 0 && lead_cost(must[j - 1]) > lead_cost(must[j]); j--) {
            it *t = must[j]; must[j] = must[j - 1]; must[j - 1] = t;
            size_t u = ms[j]; ms[j] = ms[j - 1]; ms[j - 1] = u;
        }
    /* SHOULD clauses by descending bound, with suffix sums of bounds. */
    for (size_t i = 1; i < ns; i++)
        for (size_t j = i; j > 0 && it_ub(should[j - 1]) < it_ub(should[j]); j--) {
            it *t = should[j]; should[j] = should[j - 1]; should[j - 1] = t;
            size_t u = ss[j]; ss[j] = ss[j - 1]; ss[j - 1] = u;
        }
    float rest[CPQ_QUERY_MAX_TERMS + 1];
    rest[ns] = 0;
    /* cppcheck-suppress uninitvar ; should[0..ns) was filled above (cppcheck
     * assumes the filling loop may run fewer times than ns counts) */
    for (size_t i = ns; i-- > 0;) rest[i] = rest[i + 1] + it_ub(should[i]);
    if (nm == 0) return;
    uint32_t d = conj_align_2p(must, nm, 0);
    while (d != CPQ_END && !failed(r->en)) {
        float theta = r->prune ? topk_theta(&r->top) : -INFINITY;
        int skip = 0;
        if (theta > -INFINITY) {
            float bound = 0;
            for (size_t i = 0; i < nm; i++) bound += it_bound_at(must[i], d);
            for (size_t i = 0; i < ns; i++) bound += it_bound_at(should[i], d);
            skip = bound <= theta;
        }
        if (!skip) {
            memset(contrib, 0, n * sizeof *contrib);
            float partial = 0;
            uint32_t len = cpq_index_passage_len(r->en->ix, d);
            for (size_t i = 0; i < nm; i++) partial += contrib[ms[i]] = it_score_len(must[i], len);
            int give_up = 0; /* this candidate cannot make it (MaxScore) */
            for (size_t i = 0; i < ns; i++) {
                if (theta > -INFINITY && partial + rest[i] <= theta) { give_up = 1; break; }
                if (it_seek(should[i], d) == d) partial += contrib[ss[i]] = it_score_len(should[i], len);
            }
            if (give_up) r->pruned = 1;
            else if (!excluded(not, nn, d)) offer(r, d, sum_in_order(contrib, n));
        }
        uint32_t upto = d;
        if (skip) {
            r->pruned = 1;
            /* The bound holds until the first block end: skip past it. */
            upto = CPQ_END - 1;
            for (size_t i = 0; i < nm; i++) { uint32_t u = it_bound_until(must[i], d); if (u < upto) upto = u; }
            for (size_t i = 0; i < ns; i++) { uint32_t u = it_bound_until(should[i], d); if (u < upto) upto = u; }
        }
        d = upto >= CPQ_END - 1 ? CPQ_END : conj_align_2p(must, nm, upto + 1);
    }
}

/* A union's rarest list at most this long is scored first (warm_up). */
#define WARM_DF_MAX 512

/* Before a union's MaxScore loop: score every passage of its rarest list
 * in full, with cursors of its own, and offer them, so the k-th score
 * starts where those passages put it instead of at the k-th passage of
 * the collection.  In passage order, "the incredibles" filled its top 10
 * with passages holding only `the` and kept `the` essential until the
 * tenth `incred` passage, near the end: 350 us, most of `the`'s 68,759
 * postings.  The scores are those of the main loop (the same bm25 of the
 * same tf and length, summed in kid order), and the passages scored here
 * are listed in *warm (ascending) for the main loop to pass over.  Only
 * ungrouped (offer groups in passage order), without exclusions, when
 * every list is a term.  Returns how many passages were scored. */
static size_t warm_up(run *r, it **ord, size_t ns, const size_t *slot, const float *cum, size_t n, float *contrib,
                      uint32_t **warm)
{
    engine *en = r->en;
    size_t ri = 0;
    *warm = NULL;
    for (size_t i = 0; i < ns; i++) {
        if (ord[i]->kind != IT_TERM) return 0;
        if (ord[i]->df < ord[ri]->df) ri = i;
    }
    /* Worth it when the list is short (each of its passages probes every
     * other list) and fills the top k. */
    if (ord[ri]->df > WARM_DF_MAX || ord[ri]->df < r->top.k || ord[ri]->doc == CPQ_END) return 0;
    cpq_postings *cur = en_alloc_raw(en, ns * sizeof *cur);
    uint32_t *ids = en_alloc_raw(en, ord[ri]->df * sizeof *ids);
    if (!cur || !ids) return 0;
    for (size_t i = 0; i < ns; i++) cur[i] = ord[i]->pc;   /* each at its first posting */
    size_t nw = 0;
    for (uint32_t d = cpq_postings_doc(&cur[ri]); d != CPQ_END && nw < ord[ri]->df && !failed(en);
         d = cpq_postings_next(&cur[ri])) {
        uint32_t len = cpq_index_passage_len(en->ix, d);
        float theta = topk_theta(&r->top), partial = 0;
        memset(contrib, 0, n * sizeof *contrib);
        ids[nw++] = d;
        tick(en, ns);
        /* Lists by descending bound; stop once the rest cannot lift d
         * above theta (offer would turn it down; it only counts). */
        size_t i = ns;
        while (i-- > 0) {
            if (i == ri || cpq_postings_seek(&cur[i], d) == d)
                partial += contrib[slot[i]] = bm25(en, ord[i]->idf, cpq_postings_tf(&cur[i]), len);
            if (i > 0 && partial + cum[i - 1] <= theta) break;
        }
        if (i == SIZE_MAX) offer(r, d, sum_in_order(contrib, n));
        else r->pruned = 1;
    }
    for (size_t i = 0; i < ns; i++)
        if (cpq_postings_corrupt(&cur[i])) en->corrupt = 1;
    *warm = ids;
    return nw;
}

/* Root with SHOULD clauses only: block-max MaxScore. */
static void run_disjunctive(run *r, it **kids, const cpq_occur *occ, size_t n, float *contrib)
{
    it *ord[CPQ_QUERY_MAX_TERMS], *not[CPQ_QUERY_MAX_TERMS];
    size_t ns = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (occ[i] == CPQ_OCCUR_SHOULD) ord[ns++] = kids[i];
        else not[nn++] = kids[i];
    }
    /* Settle approximately positioned clauses: the loop reads ->doc. */
    for (size_t i = 0; i < ns; i++) it_seek(ord[i], 0), it_ub(ord[i]);
    /* cppcheck-suppress uninitvar ; ord[0..ns) was filled above */
    qsort(ord, ns, sizeof *ord, cmp_ub_asc);
    /* Each list's clause; a repeated word's clauses share one iterator
     * (build_root), so each takes the next clause not yet taken. */
    size_t slot[CPQ_QUERY_MAX_TERMS];
    unsigned char taken[CPQ_QUERY_MAX_TERMS] = { 0 };
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < n; j++)
            if (kids[j] == ord[i] && occ[j] == CPQ_OCCUR_SHOULD && !taken[j]) {
                slot[i] = j;
                taken[j] = 1;
                break;
            }
    float cum[CPQ_QUERY_MAX_TERMS];
    for (size_t i = 0; i < ns; i++) cum[i] = (i ? cum[i - 1] : 0) + it_ub(ord[i]);
    uint32_t *warm = NULL;
    size_t nwarm = 0, wi = 0;
    if (r->prune && !r->group && nn == 0 && ns >= 2) nwarm = warm_up(r, ord, ns, slot, cum, n, contrib, &warm);
    size_t e = 0; /* ord[0..e) are non-essential */
    /* The non-essential lists' block bounds at d, summed, hold until the
     * first of their blocks ends (ne_until) while e stays ne_e: a long
     * union (22 words, half of them non-essential) summed them at every
     * candidate, a third of its time. */
    float ne_sum = 0;
    uint32_t ne_until = 0;
    size_t ne_e = SIZE_MAX;
    while (!failed(r->en)) {
        float theta = r->prune ? topk_theta(&r->top) : -INFINITY;
        /* cppcheck-suppress uninitvar ; cum[0..ns) was filled above, e < ns */
        while (e < ns && theta > -INFINITY && cum[e] <= theta) e++;
        if (e > 0) r->pruned = 1;
        if (e == ns) break;
        uint32_t d = CPQ_END;
        for (size_t i = e; i < ns; i++)
            if (ord[i]->doc < d) d = ord[i]->doc;
        if (d == CPQ_END) break;
        int skip = 0;
        if (theta > -INFINITY) {
            if (e != ne_e || d > ne_until) {
                ne_sum = 0;
                ne_until = CPQ_END - 1;
                for (size_t i = 0; i < e; i++) {
                    ne_sum += it_bound_at(ord[i], d);
                    uint32_t u = it_bound_until(ord[i], d);
                    if (u < ne_until) ne_until = u;
                }
                ne_e = e;
            }
            /* The same additions in the same order as summing ord[0..ns). */
            float bound = ne_sum;
            for (size_t i = e; i < ns; i++)
                if (ord[i]->doc == d) bound += it_bound_at(ord[i], d);
            skip = bound <= theta;
        }
        while (wi < nwarm && warm[wi] < d) wi++;
        if (!skip && !(wi < nwarm && warm[wi] == d)) {   /* (a warm-up passage is done) */
            memset(contrib, 0, n * sizeof *contrib);
            float partial = 0;
            uint32_t len = cpq_index_passage_len(r->en->ix, d);
            for (size_t i = e; i < ns; i++)
                if (ord[i]->doc == d) partial += contrib[slot[i]] = it_score_len(ord[i], len);
            int give_up = 0; /* this candidate cannot make it (MaxScore) */
            for (size_t i = e; i-- > 0;) {
                if (theta > -INFINITY && partial + cum[i] <= theta) { give_up = 1; break; }
                if (seek_kid(ord[i], d) == d) partial += contrib[slot[i]] = it_score_len(ord[i], len);
            }
            if (give_up) r->pruned = 1;
            else if (!excluded(not, nn, d)) offer(r, d, sum_in_order(contrib, n));
        }
        uint32_t upto = d;
        if (skip) {
            r->pruned = 1;
            /* The bound holds until the first block end among the lists it
             * used, and before the next passage of an essential list it did
             * not count: skip the essential lists past that. */
            upto = ne_until;
            for (size_t i = e; i < ns; i++) {
                uint32_t u = ord[i]->doc == d ? it_bound_until(ord[i], d) : ord[i]->doc - 1;
                if (u < upto) upto = u;
            }
            /* One essential term left (a one-term query, or a union that a
             * frequent term dominates): walk its skip table past every
             * further block that cannot win even with every non-essential
             * list at its global bound, without decoding them.  (Measured:
             * `the` on linux-doc 0.32 -> 0.29 ms; there most blocks hold a
             * short passage that could still win, and scoring every
             * posting is what remains.) */
            it *x = ord[ns - 1];
            if (e == ns - 1 && x->kind == IT_TERM && x->pc.nblocks > 1 && upto == x->bk_last) {
                float rest = e ? cum[e - 1] : 0;
                while (upto < CPQ_END - 1 && x->bk + 1 < x->pc.nblocks) {
                    uint32_t nk = x->bk + 1, last;
                    cpq_postings_block_at(&x->pc, nk, &last, NULL, NULL, NULL);
                    float bb = term_block_bound(x, nk);
                    if (bb + rest > theta) break;
                    x->bk = nk;
                    x->bk_last = last;
                    x->bk_bound = bb;
                    upto = last;
                }
                if (x->bk + 1 >= x->pc.nblocks && x->bk_bound + rest <= theta) upto = CPQ_END - 1;
            }
        }
        if (upto >= CPQ_END - 1) break;
        for (size_t i = e; i < ns; i++)
            if (ord[i]->doc <= upto) seek_kid(ord[i], upto + 1);
    }
}

/* Grouped lone-term searches find a document in the heap by a linear
 * search: up to this many hits (offset + limit). */
#define LONE_GROUP_K_MAX 64

/* A block of a lone term and its score bound, for visiting the best first. */
typedef struct blk_ord {
    float bound;
    uint32_t k;
} blk_ord;

/* x comes before y: a higher bound, or the same and an earlier block. */
static int blk_before(const blk_ord *x, const blk_ord *y)
{
    return x->bound > y->bound || (x->bound == y->bound && x->k < y->k);
}

static void blk_sift_down(blk_ord *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        if (l < n && blk_before(&h[l], &h[m])) m = l;
        if (l + 1 < n && blk_before(&h[l + 1], &h[m])) m = l + 1;
        if (m == i) return;
        blk_ord t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Grouping with hits visited out of passage order (run_lone_term): make
 * passage p with score sc its document's candidate, replacing the
 * document's entry in the heap when p beats it (a higher score, or the
 * same and an earlier passage, as offer keeps the first of equals).  A
 * linear search of the heap: run_lone_term groups only for a small k.
 * Returns -1 on a corrupt table (en->corrupt set), else 0. */
static int offer_doc_best(run *r, uint32_t p, float sc)
{
    uint32_t doc, first, end;
    if (cpq_index_passage_doc(r->en->ix, p, &doc, &first, &end)) {
        r->en->corrupt = 1;
        return -1;
    }
    topk *t = &r->top;
    for (size_t i = 0; i < t->n; i++) {
        if (t->h[i].id != doc) continue;
        if (sc > t->h[i].score || (sc == t->h[i].score && p < t->h[i].passage)) {
            t->h[i].score = sc;       /* no worse than before: it can only sink */
            t->h[i].passage = p;
            heap_sift_down(t, i);
        }
        return 0;
    }
    topk_offer(t, (entry){ sc, doc, p });
    return 0;
}

/* The root is one term: visit its blocks best bound first and stop at the
 * first whose bound cannot beat the k-th score, so the top k come from the
 * few blocks that can hold them.  (In passage order, as run_disjunctive
 * goes, the k-th score rises slowly and every block of a term like `the`,
 * whose bounds all lie close together, gets decoded: 180 of 180 blocks on
 * linux-doc.)  Ties: out of passage order a score equal to the k-th may
 * still win (an earlier passage or document), so equal scores go to the
 * heap, which orders them by id; a block is skipped only when its bound,
 * which every score in it is strictly below, is at or below the k-th
 * score.  Ungrouped, the count is exact: a lone term matches its df
 * passages. */
static void run_lone_term(run *r, it *x)
{
    engine *en = r->en;
    uint32_t nb = x->pc.nblocks;
    blk_ord *ord = malloc((size_t)nb * sizeof *ord);
    if (!ord) { en->oom = 1; return; }
    for (uint32_t k = 0; k < nb; k++) ord[k] = (blk_ord){ term_block_bound(x, k), k };
    /* A heap, not a sort: only the few best blocks are ever taken. */
    for (uint32_t i = nb / 2; i-- > 0;) blk_sift_down(ord, nb, i);
    for (uint32_t left = nb; left > 0 && !failed(en);) {
        blk_ord b = ord[0];
        ord[0] = ord[--left];
        blk_sift_down(ord, left, 0);
        float theta = topk_theta(&r->top);
        if (b.bound <= theta) break;
        if (cpq_postings_block(&x->pc, b.k) == CPQ_END) {
            en->corrupt = 1;
            break;
        }
        uint32_t n = cpq_postings_block_len(&x->pc);
        const uint32_t *ids = cpq_postings_ids(&x->pc), *tfs = cpq_postings_tfs(&x->pc);
        tick(en, n);
        /* Most entries of a block cannot beat theta: tell them without
         * bm25's two divisions.  The test is score > theta rearranged,
         * idf t (k1+1) > theta (t + k1 (1 - b + b len / avglen)), with a
         * margin far above float rounding (a relative 1e-6 here); entries
         * that pass are scored exactly as everywhere else. */
        float c1 = x->idf * (en->k1 + 1.0f), k0 = en->k1 * (1.0f - en->b), kb = en->k1 * en->b / en->avg;
        float lim = theta * (1.0f - 1e-4f);
        for (uint32_t j = 0; j < n; j++) {
            float t = (float)tfs[j];
            uint32_t len = cpq_index_passage_len(en->ix, ids[j]);
            if (c1 * t <= lim * (t + k0 + kb * (float)len)) continue;
            float sc = bm25(en, x->idf, tfs[j], len);
            /* Out of passage order a tie may still win (see above). */
            if (sc >= theta) {
                if (!r->group) topk_offer(&r->top, (entry){ sc, ids[j], ids[j] });
                else if (offer_doc_best(r, ids[j], sc)) break;
                theta = topk_theta(&r->top);
                lim = theta * (1.0f - 1e-4f);
            }
        }
    }
    free(ord);
    if (r->group) {
        /* Documents are not counted here: the count is a lower bound. */
        r->total = r->top.n;
        r->pruned = 1;
    } else {
        r->total = x->df;
    }
}

void cpq_search_opts_default(cpq_search_opts *o)
{
    memset(o, 0, sizeof *o);
    o->limit = 10;
    o->k1 = CPQ_BM25_K1;
    o->b = CPQ_BM25_B;
    o->prefix_cap = CPQ_PREFIX_CAP_DEFAULT;
    o->max_work = CPQ_WORK_DEFAULT;
}

static int cmp_best_first(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return worse(y, x) ? -1 : worse(x, y) ? 1 : 0;
}

/* Check options and set up an engine.  Returns CPQ_OK or CPQ_EINVAL. */
static int engine_init(engine *en, const cpq_index *ix, cpq_search_opts *o, cpq_errinfo *e)
{
    if ((uint64_t)o->offset + o->limit > CPQ_SEARCH_LIMIT_MAX)
        return cpq_err_set(e, CPQ_EINVAL, "offset + limit must be at most %u", CPQ_SEARCH_LIMIT_MAX);
    if (!(o->k1 >= 0 && o->k1 <= 100) || !(o->b >= 0 && o->b <= 1))
        return cpq_err_set(e, CPQ_EINVAL, "BM25 parameters out of range (k1 0..100, b 0..1)");
    if (o->prefix_cap == 0) o->prefix_cap = CPQ_PREFIX_CAP_DEFAULT;
    if (o->prefix_cap > CPQ_PREFIX_CAP_MAX)
        return cpq_err_set(e, CPQ_EINVAL, "prefix expansion cap must be at most %u", CPQ_PREFIX_CAP_MAX);
    if (o->max_work == 0) o->max_work = CPQ_WORK_DEFAULT;
    memset(en, 0, sizeof *en);
    en->ix = ix;
    en->in = cpq_index_get_info(ix);
    en->k1 = o->k1;
    en->b = o->b;
    en->avg = en->in->avg_len;
    en->default_params = o->k1 == CPQ_BM25_K1 && o->b == CPQ_BM25_B;
    en->max_work = o->max_work;
    en->deadline = o->max_ms > 0 ? now_s() + o->max_ms / 1000.0 : 0;
    en->prefix_cap = o->prefix_cap;
    return CPQ_OK;
}

/* Build the root's clauses into kids/occ (room for the root's children).
 * Returns 1 when the query can match at all (no absent MUST clause and a
 * positive clause), 0 otherwise; check en->oom / en->corrupt after. */
static int build_root(engine *en, const cpq_query *q, it **kids, cpq_occur *occ, size_t *nk, int *has_must)
{
    const cpq_qnode *root = cpq_query_root(q);
    int positive = 0;
    *nk = 0;
    *has_must = 0;
    for (size_t i = 0; i < root->nchildren; i++) {
        const cpq_qnode *c = &root->children[i];
        /* A word the query repeats ("+to +be +or +not +to +be", "to be or
         * not to be") shares the first one's cursor: aligned once, still
         * scored once per clause, so the scores do not change. */
        it *k = NULL;
        if (c->kind == CPQ_Q_TERM && c->occur != CPQ_OCCUR_MUST_NOT)
            for (size_t j = 0; j < *nk && !k; j++)
                if (occ[j] == c->occur && kids[j]->kind == IT_TERM && kids[j]->node
                    && kids[j]->node->kind == CPQ_Q_TERM && kids[j]->node->terms[0].len == c->terms[0].len
                    && !memcmp(kids[j]->node->terms[0].bytes, c->terms[0].bytes, c->terms[0].len))
                    k = kids[j];
        if (!k) k = build(en, c);
        if (!k) return 0;
        if (k->kind == IT_EMPTY) {
            if (c->occur == CPQ_OCCUR_MUST) return 0;
            continue;
        }
        kids[*nk] = k;
        occ[(*nk)++] = c->occur;
        *has_must |= c->occur == CPQ_OCCUR_MUST;
        positive |= c->occur != CPQ_OCCUR_MUST_NOT;
    }
    return positive;
}

int cpq_search(const cpq_index *ix, const cpq_query *q, const cpq_search_opts *opts, cpq_results *res,
               cpq_errinfo *e)
{
    cpq_search_opts o;
    if (opts) o = *opts; else cpq_search_opts_default(&o);
    memset(res, 0, sizeof *res);
    engine en;
    int rc = engine_init(&en, ix, &o, e);
    if (rc) return rc;
    _Alignas(max_align_t) unsigned char first_chunk[EN_CHUNK];
    en.chunk = first_chunk;
    en.chunk_left = sizeof first_chunk;

    run r;
    memset(&r, 0, sizeof r);
    r.en = &en;
    r.group = !!(o.flags & CPQ_SEARCH_GROUP);
    r.top.k = (size_t)o.offset + o.limit;
    r.prune = !(o.flags & (CPQ_SEARCH_EXACT_COUNT | CPQ_SEARCH_EXHAUSTIVE)) && r.top.k > 0;
    /* All of a search's working memory comes from the engine's arena. */
    r.top.h = en_alloc_raw(&en, (r.top.k ? r.top.k : 1) * sizeof *r.top.h);
    size_t n = cpq_query_root(q)->nchildren;
    it **kids = en_alloc(&en, (n ? n : 1) * sizeof *kids);
    cpq_occur *occ = en_alloc(&en, (n ? n : 1) * sizeof *occ);
    float *contrib = en_alloc(&en, (n ? n : 1) * sizeof *contrib);
    if (!r.top.h || !kids || !occ || !contrib) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }

    size_t nk;
    int has_must;
    if (build_root(&en, q, kids, occ, &nk, &has_must) && !en.oom && !en.corrupt) {
        if (nk == 1 && kids[0]->kind == IT_TERM && kids[0]->pc.nblocks > 1 && r.prune
            && (!r.group || r.top.k <= LONE_GROUP_K_MAX))
            run_lone_term(&r, kids[0]);
        else if (has_must) run_conjunctive(&r, kids, occ, nk, contrib);
        else run_disjunctive(&r, kids, occ, nk, contrib);
        if (r.group) flush_doc(&r);
    }
    if (en.oom) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
    if (en.corrupt) { rc = cpq_err_set(e, CPQ_ECORRUPT, "the index is damaged (a postings list does not decode)"); goto done; }

    /* Best first.  A top k is small: an insertion sort beats qsort's
     * indirect calls (the order is total, so the result is the same). */
    if (r.top.n <= 64) {
        for (size_t i = 1; i < r.top.n; i++)
            for (size_t j = i; j > 0 && cmp_best_first(&r.top.h[j - 1], &r.top.h[j]) > 0; j--) {
                entry t = r.top.h[j];
                r.top.h[j] = r.top.h[j - 1];
                r.top.h[j - 1] = t;
            }
    } else {
        qsort(r.top.h, r.top.n, sizeof *r.top.h, cmp_best_first);
    }
    size_t from = o.offset < r.top.n ? o.offset : r.top.n;
    res->nhits = r.top.n - from;
    res->hits = malloc((res->nhits ? res->nhits : 1) * sizeof *res->hits);
    if (!res->hits) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < res->nhits; i++) {
        const entry *x = &r.top.h[from + i];
        res->hits[i].passage = x->passage;
        res->hits[i].score = x->score;
        uint32_t dn = 0;
        res->hits[i].doc = r.group ? x->id : (cpq_index_passage_docnum(ix, x->passage, &dn) ? 0 : dn);
    }
    res->total = r.total;
    res->total_exact = !r.pruned && !en.stop;
    res->prefix_capped = en.capped;
    res->partial = en.stop;
    res->work = en.work;
done:
    en_free(&en);
    if (rc) cpq_results_free(res);
    return rc;
}

void cpq_results_free(cpq_results *r)
{
    if (!r) return;
    free(r->hits);
    memset(r, 0, sizeof *r);
}

/* ---- explain ------------------------------------------------------------------ */

static void explain_add(cpq_explanation *x, const it *k, uint32_t p, const char *text, uint32_t tf, float idf,
                        uint32_t df)
{
    if (x->nterms >= CPQ_EXPLAIN_MAX) { x->truncated = 1; return; }
    cpq_explain_term *t = &x->terms[x->nterms++];
    memset(t, 0, sizeof *t);
    snprintf(t->term, sizeof t->term, "%s", text);
    t->phrase = k->kind == IT_PHRASE;
    t->df = df;
    t->idf = idf;
    t->tf = tf;
    t->len = cpq_index_passage_len(k->en->ix, p);
    t->norm = k->en->k1 * (1.0f - k->en->b + k->en->b * (float)t->len / k->en->avg);
    t->score = it_score((it *)k);
}

static void explain_walk(it *k, uint32_t p, cpq_explanation *x)
{
    if (it_seek(k, p) != p) return;
    switch (k->kind) {
    case IT_TERM:
        explain_add(x, k, p, k->text, cpq_postings_tf(&k->pc), k->idf, k->df);
        break;
    case IT_PHRASE: {
        char buf[CPQ_EXPLAIN_TEXT];
        size_t o = 0;
        buf[0] = 0;
        for (size_t i = 0; i < k->nkids && o < sizeof buf; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? " " : "", k->kids[i]->text);
        explain_add(x, k, p, buf, k->freq, k->idf, 0);
        break;
    }
    case IT_NEAR:
    case IT_OR:
        for (size_t i = 0; i < k->nkids; i++) explain_walk(k->kids[i], p, x);
        break;
    case IT_BOOL:
        for (size_t i = 0; i < k->nkids; i++)
            if (k->occ[i] != CPQ_OCCUR_MUST_NOT) explain_walk(k->kids[i], p, x);
        break;
    default: break;
    }
}

int cpq_explain(const cpq_index *ix, const cpq_query *q, uint32_t passage, const cpq_search_opts *opts,
                cpq_explanation *x, cpq_errinfo *e)
{
    cpq_search_opts o;
    if (opts) o = *opts; else cpq_search_opts_default(&o);
    memset(x, 0, sizeof *x);
    x->passage = passage;
    if (passage >= cpq_index_get_info(ix)->passages)
        return cpq_err_set(e, CPQ_ENOTFOUND, "no passage %u (the index has %llu)", passage,
                           (unsigned long long)cpq_index_get_info(ix)->passages);
    engine en;
    int rc = engine_init(&en, ix, &o, e);
    if (rc) return rc;
    x->k1 = en.k1;
    x->b = en.b;
    x->avg_len = en.avg;
    x->len = cpq_index_passage_len(ix, passage);
    size_t n = cpq_query_root(q)->nchildren;
    it **kids = calloc(n ? n : 1, sizeof *kids);
    cpq_occur *occ = calloc(n ? n : 1, sizeof *occ);
    if (!kids || !occ) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
    size_t nk;
    int has_must;
    int can = build_root(&en, q, kids, occ, &nk, &has_must);
    if (en.oom) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
    if (en.corrupt) { rc = cpq_err_set(e, CPQ_ECORRUPT, "the index is damaged"); goto done; }
    int match = can, any_should = 0;
    float total = 0;
    for (size_t i = 0; i < nk && match; i++) {
        int m = it_seek(kids[i], passage) == passage;
        if (occ[i] == CPQ_OCCUR_MUST_NOT) { if (m) { match = 0; x->excluded = 1; } continue; }
        if (occ[i] == CPQ_OCCUR_MUST && !m) match = 0;
        if (occ[i] == CPQ_OCCUR_SHOULD) any_should |= m;
        if (m) total += it_score(kids[i]);
    }
    if (match && !has_must && !any_should) match = 0;
    x->matched = match;
    if (match) {
        x->score = total;
        for (size_t i = 0; i < nk; i++)
            if (occ[i] != CPQ_OCCUR_MUST_NOT) explain_walk(kids[i], passage, x);
    }
done:
    en_free(&en);
    free(kids);
    free(occ);
    return rc;
}
