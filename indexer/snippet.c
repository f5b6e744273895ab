/*
 * snippet.c - snippets: a query's matches in a passage, the best window,
 * highlight spans (API and rules in snippet.h).
 *
 * One call runs these steps, all on scratch memory freed at the end (on
 * the stack while it is small):
 *   1. Walk the query tree and collect its positive leaves.  Every query
 *      term (of TERM, PHRASE and NEAR operands) gets a small id in a hash
 *      table; TERM leaves are keyed by that id, PREFIX leaves by their
 *      bytes in a second table.  A leaf repeated in the query is one leaf.
 *      Every term and prefix also goes into a cpq_sparse_filter.
 *   2. Analyse the passage with the index's analyser, sparsely: the
 *      analyser drops, before stemming, the words that cannot match (see
 *      want() and analyze.h), which is most of them, so a snippet costs
 *      about a third of a full analysis.  Each token is matched at once
 *      against TERM leaves (one look-up) and PREFIX leaves (one look-up per
 *      distinct prefix length the query has, with an incremental hash), and
 *      kept (byte range, position, term id) if a later step needs it.
 *   3. Analyse it again with the prefix analyser, if any, and match its
 *      folded, unstemmed terms against the PREFIX leaves.  The two
 *      analysers segment text the same way (only stemming and stopwords
 *      differ), so a folded token is paired with the index's token of the
 *      same byte range by walking both streams in order; a folded token
 *      without such a partner is a stopword or an overlong word, which the
 *      index never saw and we therefore never highlight.
 *   4. PHRASE and NEAR: each looks only at the occurrences of its own
 *      terms, through per-term lists threaded through the token array.
 *   5. Sort and de-duplicate the matches, choose the window with a sweep
 *      (matches enter when their end fits, leave when their start falls
 *      behind), move its edges to word boundaries, and merge the matches
 *      inside it into spans.
 *
 * Known weak spots: the word-boundary test is a local one (letters,
 * numbers, marks and apostrophes make words; CJK characters are words of
 * their own), close to but not exactly the analyser's rules, so a decomposed
 * Hangul syllable may be cut between its Jamo.  The prefix pass analyses the
 * passage a second time; a combined pass would need the analyser to expose
 * its folded form.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "snippet.h"

#include <stddef.h>

#define SN_MAX_STRINGS 512u   /* strings per table; the parser makes <= CPQ_QUERY_MAX_TERMS */
#define SN_MAX_DEPTH 128u     /* query tree depth followed (the parser makes < 70) */
#define SN_STOP (-1)          /* callback result: stop the analysis */

/* A snippet is made per hit, so a call for a short query on a short
 * passage should not touch the allocator: its query tables, tokens and
 * matches live in arrays on the stack (about 14 KiB in all), and only what
 * outgrows them goes to the heap. */
#define SN_ARENA_BYTES 4352u  /* query tables: up to 31 strings (64 slots a table) fit */
#define SN_SMALL_TOKS 128u    /* tokens kept (only those that may match: see want) */
#define SN_SMALL_MATCHES 128u
#define SN_SMALL_LEAVES 256u  /* leaves counted in stack arrays by best_window, build_spans */

/* ===================================================================== */
/* Hash tables of query strings                                          */
/* ===================================================================== */

typedef struct sn_slot {
    const char *s;    /* points into the query; NULL: empty slot */
    uint32_t len, hash;
    int32_t id;
} sn_slot;

/* Sized for the query at hand (a power of two, more than twice the
 * strings it can hold): a snippet is made per hit, and zeroing tables
 * sized for the largest query cost more than the matching of a short
 * passage did. */
typedef struct sn_tab {
    sn_slot *slot;
    uint32_t mask;      /* slots - 1 */
    uint32_t max;       /* strings it may hold: <= (mask + 1) / 2, <= SN_MAX_STRINGS */
    uint32_t n;
} sn_tab;

#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u

static uint32_t fnv(const char *s, size_t len)
{
    uint32_t h = FNV_BASIS;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* The id of s[0..len) (hash h), or -1. */
static int32_t tab_find(const sn_tab *t, const char *s, size_t len, uint32_t h)
{
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const sn_slot *sl = &t->slot[i];

        if (!sl->s)
            return -1;
        if (sl->hash == h && sl->len == len && memcmp(sl->s, s, len) == 0)
            return sl->id;
    }
}

/* The id of s[0..len): its existing id, or id_if_new after adding it.
 * -1 when the table is full (never for a query from cpq_query_parse). */
static int32_t tab_add(sn_tab *t, const char *s, size_t len, int32_t id_if_new)
{
    uint32_t h = fnv(s, len), i;

    for (i = h & t->mask;; i = (i + 1) & t->mask) {
        sn_slot *sl = &t->slot[i];

        if (!sl->s)
            break;
        if (sl->hash == h && sl->len == len && memcmp(sl->s, s, len) == 0)
            return sl->id;
    }
    if (t->n >= t->max)
        return -1;
    t->slot[i].s = s;
    t->slot[i].len = (uint32_t)len;
    t->slot[i].hash = h;
    t->slot[i].id = id_if_new;
    t->n++;
    return id_if_new;
}

/* ===================================================================== */
/* Matching state                                                        */
/* ===================================================================== */

typedef struct sn_tok {
    size_t start, end;  /* source bytes */
    uint32_t pos;
    int32_t tid;        /* query term id, or -1 */
} sn_tok;

typedef struct sn_match {
    size_t start, end;
    uint32_t leaf;
} sn_match;

/* An occurrence of a NEAR operand: positions [p0, p1], bytes [start, end). */
typedef struct sn_occ {
    uint32_t p0, p1;
    size_t start, end;
} sn_occ;

typedef struct sn_node {
    const cpq_qnode *n;
    uint32_t leaf;
} sn_node;

/* Everything up to tok_small is zeroed per call; the arrays from it on are
 * initialised only as far as they are used. */
typedef struct sn_ctx {
    sn_tab terms;                        /* query term -> term id */
    sn_tab prefixes;                     /* prefix -> leaf */
    uint64_t plens;                      /* bit L-1 set: some prefix is L bytes long */
    cpq_sparse_filter want;              /* the query's terms and prefixes (see want) */
    size_t nphrases, nnears, maxnodes;   /* maxnodes: room in phrases[] and nears[] */
    uint32_t nleaves;
    int32_t *term_leaf;                  /* term id -> its TERM leaf, or -1 (first terms.max set) */
    int32_t *first;                      /* term id -> first token with it, or -1 */
    sn_node *phrases, *nears;
    void *qheap;                         /* the query tables, when arena is too small */

    int keep;                            /* store toks (phrases, NEARs, the prefix pass read them) */
    sn_tok *toks;                        /* when keep: the tokens, ntoks of them */
    size_t ntoks, captoks;               /* ntoks: tokens seen, stored or not */
    int32_t *next;                       /* token -> next token with its term id, or -1 */
    sn_match *m;
    size_t nm, capm;
    size_t pk;                           /* prefix pass: the index token to pair next */
    int oom, partial;

    sn_tok tok_small[SN_SMALL_TOKS];     /* toks until it outgrows them */
    sn_match m_small[SN_SMALL_MATCHES];  /* m until it outgrows them */
    int32_t next_small[SN_SMALL_TOKS];   /* next, when the tokens fit tok_small */
    _Alignas(sn_slot) unsigned char arena[SN_ARENA_BYTES];
} sn_ctx;

/* Grow the array *v (n elements of size sz, capacity *cap) to twice its
 * size or first_cap; an array still at small (the stack array) is copied
 * to the heap. */
static int grow_arr(void **v, size_t *cap, size_t sz, const void *small, size_t first_cap)
{
    size_t ncap = *cap ? *cap * 2 : first_cap;
    void *p;

    if (*v == small) {
        p = malloc(ncap * sz);
        if (p)
            memcpy(p, *v, *cap * sz);
    } else {
        p = realloc(*v, ncap * sz);
    }
    if (!p)
        return -1;
    *v = p;
    *cap = ncap;
    return 0;
}

static void add_match(sn_ctx *c, size_t start, size_t end, uint32_t leaf)
{
    if (c->nm == CPQ_SNIPPET_MAX_MATCHES) {
        c->partial = 1;
        return;
    }
    if (c->nm == c->capm && grow_arr((void **)&c->m, &c->capm, sizeof *c->m, c->m_small, 64)) {
        c->oom = 1;
        return;
    }
    c->m[c->nm].start = start;
    c->m[c->nm].end = end;
    c->m[c->nm].leaf = leaf;
    c->nm++;
}

/* Set up the query's tables for a query of nterms leaf terms: the two
 * hash tables and the arrays indexed by term id or node, in the arena when
 * they fit.  Returns 0, or -1 when out of memory. */
static int query_tables(sn_ctx *c, size_t nterms)
{
    /* Strings per table: at most the query's leaf terms (phrases and NEARs
     * intern their terms too, prefixes one each); a phrase or a NEAR has
     * two terms or more, so nstr nodes of each kind are room enough. */
    size_t nstr = nterms + 1, slots = 16, bytes;
    unsigned char *p;

    if (nstr > SN_MAX_STRINGS)
        nstr = SN_MAX_STRINGS;
    while (slots < 2 * nstr + 2)
        slots *= 2;
    bytes = 2 * slots * sizeof(sn_slot) + 2 * nstr * sizeof(sn_node) + 2 * nstr * sizeof(int32_t);
    if (bytes <= sizeof c->arena) {
        p = c->arena;
    } else {
        p = c->qheap = malloc(bytes);
        if (!p)
            return -1;
    }
    memset(p, 0, 2 * slots * sizeof(sn_slot));
    c->terms.slot = (sn_slot *)(void *)p;
    c->prefixes.slot = c->terms.slot + slots;
    c->terms.mask = c->prefixes.mask = (uint32_t)(slots - 1);
    c->terms.max = c->prefixes.max = (uint32_t)nstr;
    p += 2 * slots * sizeof(sn_slot);
    c->phrases = (sn_node *)(void *)p;
    c->nears = c->phrases + nstr;
    c->maxnodes = nstr;
    p += 2 * nstr * sizeof(sn_node);
    c->term_leaf = (int32_t *)(void *)p;
    c->first = c->term_leaf + nstr;
    memset(c->term_leaf, 0xff, nstr * sizeof *c->term_leaf);   /* -1 */
    return 0;
}

static void ctx_free(sn_ctx *c)
{
    free(c->qheap);
    if (c->next != c->next_small)
        free(c->next);
    if (c->m != c->m_small)
        free(c->m);
    if (c->toks != c->tok_small)
        free(c->toks);
}

/* ===================================================================== */
/* Step 1: the query's positive leaves                                   */
/* ===================================================================== */

/* Every query term and prefix goes into c->want.  A token can match only
 * if its term equals a query term or starts with a prefix (or its folded
 * form starts with one, in the prefix pass), so cpq_analyze_sparse may drop
 * every other token, and dropping them changes nothing: a token that is no
 * query term only ever fails a phrase's "this position holds that term",
 * which fails as well when the token is absent (positions are kept). */
static void want(sn_ctx *c, const char *s, size_t len)
{
    cpq_sparse_filter_add(&c->want, s, len);
}

static int32_t intern_term(sn_ctx *c, const cpq_qterm *t)
{
    int32_t id;

    if (t->len == 0 || t->len > CPQ_TERM_MAX)
        return -1;
    id = tab_add(&c->terms, t->bytes, t->len, (int32_t)c->terms.n);
    if (id >= 0)
        want(c, t->bytes, t->len);
    return id;
}

/* Intern a TERM or PHRASE node's terms; 0 if it has one we cannot match. */
static int intern_seq(sn_ctx *c, const cpq_qnode *n)
{
    if ((n->kind != CPQ_Q_TERM && n->kind != CPQ_Q_PHRASE) || n->nterms == 0
        || n->nterms > CPQ_QUERY_MAX_TERMS)
        return 0;
    for (size_t i = 0; i < n->nterms; i++)
        if (intern_term(c, &n->terms[i]) < 0)
            return 0;
    return 1;
}

static void walk(sn_ctx *c, const cpq_qnode *n, unsigned depth)
{
    int32_t id;

    if (depth > SN_MAX_DEPTH)
        return;
    switch (n->kind) {
    case CPQ_Q_TERM:
        if (n->nterms >= 1 && (id = intern_term(c, &n->terms[0])) >= 0 && c->term_leaf[id] < 0)
            c->term_leaf[id] = (int32_t)c->nleaves++;
        break;
    case CPQ_Q_PREFIX:
        if (n->nterms >= 1 && n->terms[0].len >= 1 && n->terms[0].len <= CPQ_TERM_MAX) {
            id = tab_add(&c->prefixes, n->terms[0].bytes, n->terms[0].len, (int32_t)c->nleaves);
            if (id >= 0 && (uint32_t)id == c->nleaves) {
                c->nleaves++;
                c->plens |= (uint64_t)1 << (n->terms[0].len - 1);
                want(c, n->terms[0].bytes, n->terms[0].len);
            }
        }
        break;
    case CPQ_Q_PHRASE:
        if (c->nphrases < c->maxnodes && intern_seq(c, n)) {
            c->phrases[c->nphrases].n = n;
            c->phrases[c->nphrases++].leaf = c->nleaves++;
        }
        break;
    case CPQ_Q_NEAR:
        if (c->nnears < c->maxnodes && n->nchildren == 2 && intern_seq(c, &n->children[0])
            && intern_seq(c, &n->children[1])) {
            c->nears[c->nnears].n = n;
            c->nears[c->nnears++].leaf = c->nleaves++;
        }
        break;
    case CPQ_Q_BOOL:
        for (size_t i = 0; i < n->nchildren; i++)
            if (n->children[i].occur != CPQ_OCCUR_MUST_NOT)
                walk(c, &n->children[i], depth + 1);
        break;
    }
}

/* ===================================================================== */
/* Steps 2 and 3: tokens, TERM and PREFIX matches                        */
/* ===================================================================== */

/* Match term[0..len) against every PREFIX leaf, recording [start, end). */
static void match_prefixes(sn_ctx *c, const char *term, size_t len, size_t start, size_t end)
{
    uint32_t h = FNV_BASIS;

    for (size_t i = 0; i < len && i < CPQ_TERM_MAX; i++) {
        h ^= (unsigned char)term[i];
        h *= FNV_PRIME;
        if (c->plens >> i & 1) {
            int32_t leaf = tab_find(&c->prefixes, term, i + 1, h);

            if (leaf >= 0)
                add_match(c, start, end, (uint32_t)leaf);
        }
    }
}

static int on_token(void *ctx, const cpq_token *t)
{
    sn_ctx *c = ctx;
    int32_t tid;

    if (c->ntoks == CPQ_SNIPPET_MAX_TOKENS) {
        c->partial = 1;
        return SN_STOP;
    }
    tid = tab_find(&c->terms, t->term, t->len, fnv(t->term, t->len));
    if (c->keep) {
        if (c->ntoks == c->captoks
            && grow_arr((void **)&c->toks, &c->captoks, sizeof *c->toks, c->tok_small, 256)) {
            c->oom = 1;
            return SN_STOP;
        }
        c->toks[c->ntoks].start = t->start;
        c->toks[c->ntoks].end = t->end;
        c->toks[c->ntoks].pos = t->pos;
        c->toks[c->ntoks].tid = tid;
    }
    c->ntoks++;
    if (tid >= 0 && c->term_leaf[tid] >= 0)
        add_match(c, t->start, t->end, (uint32_t)c->term_leaf[tid]);
    if (c->plens)
        match_prefixes(c, t->term, t->len, t->start, t->end);
    return c->oom ? SN_STOP : 0;
}

static int on_folded(void *ctx, const cpq_token *t)
{
    sn_ctx *c = ctx;

    while (c->pk < c->ntoks && c->toks[c->pk].start < t->start)
        c->pk++;
    if (c->pk == c->ntoks)
        return SN_STOP;   /* past the last index token: nothing left to pair */
    if (c->toks[c->pk].start == t->start && c->toks[c->pk].end == t->end)
        match_prefixes(c, t->term, t->len, t->start, t->end);
    return c->oom ? SN_STOP : 0;
}

/* ===================================================================== */
/* Step 4: PHRASE and NEAR                                               */
/* ===================================================================== */

/* Occurrences of a TERM or PHRASE node in text order (so p0 and p1 both
 * increase), appended to *v.  A phrase's later terms are found by walking
 * forward from its first term's token: positions strictly increase along
 * the token array, so the walk is at most the phrase's span long. */
static void seq_occs(sn_ctx *c, const cpq_qnode *n, sn_occ **v, size_t *nv)
{
    int32_t tids[CPQ_QUERY_MAX_TERMS];
    size_t nt = n->nterms, cap = 0;

    *v = NULL;
    *nv = 0;
    for (size_t j = 0; j < nt; j++) {
        tids[j] = tab_find(&c->terms, n->terms[j].bytes, n->terms[j].len,
                           fnv(n->terms[j].bytes, n->terms[j].len));
        if (tids[j] < 0 || (j > 0 && n->terms[j].pos <= n->terms[j - 1].pos))
            return;   /* cannot happen for a parsed query */
    }
    /* cppcheck-suppress uninitvar ; a phrase has nterms >= 2, so tids[0] is set */
    for (int32_t i = c->first[tids[0]]; i >= 0; i = c->next[i]) {
        uint32_t p = c->toks[i].pos;
        size_t k = (size_t)i;
        int ok = 1;

        for (size_t j = 1; j < nt && ok; j++) {
            uint64_t want = (uint64_t)p + n->terms[j].pos;

            while (k < c->ntoks && c->toks[k].pos < want)
                k++;
            ok = k < c->ntoks && c->toks[k].pos == want && c->toks[k].tid == tids[j];
        }
        if (!ok)
            continue;
        if (*nv == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            sn_occ *o = realloc(*v, ncap * sizeof *o);

            if (!o) {
                c->oom = 1;
                return;
            }
            *v = o;
            cap = ncap;
        }
        (*v)[*nv].p0 = p;
        (*v)[*nv].p1 = p + n->terms[nt - 1].pos;
        (*v)[*nv].start = c->toks[i].start;
        (*v)[*nv].end = c->toks[k].end;
        (*nv)++;
    }
}

/* Has x a partner in v[0..nv) at most dist words away, not overlapping it
 * (the engine's NEAR rule)?  Binary search for the nearest occurrence
 * wholly after x and the nearest wholly before it. */
static int has_partner(const sn_occ *x, const sn_occ *v, size_t nv, uint32_t dist)
{
    size_t lo = 0, hi = nv;

    while (lo < hi) {   /* first with p0 > x->p1 */
        size_t mid = lo + (hi - lo) / 2;

        if (v[mid].p0 > x->p1)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo < nv && (uint64_t)v[lo].p0 - x->p1 - 1 <= dist)
        return 1;
    lo = 0;
    hi = nv;
    while (lo < hi) {   /* first with p1 >= x->p0 */
        size_t mid = lo + (hi - lo) / 2;

        if (v[mid].p1 >= x->p0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo > 0 && (uint64_t)x->p0 - v[lo - 1].p1 - 1 <= dist;
}

static void match_structures(sn_ctx *c)
{
    for (size_t t = 0; t < c->terms.max; t++)
        c->first[t] = -1;
    for (size_t i = c->ntoks; i-- > 0;) {
        int32_t tid = c->toks[i].tid;

        c->next[i] = tid >= 0 ? c->first[tid] : -1;
        if (tid >= 0)
            c->first[tid] = (int32_t)i;
    }
    for (size_t f = 0; f < c->nphrases && !c->oom; f++) {
        sn_occ *v;
        size_t nv;

        seq_occs(c, c->phrases[f].n, &v, &nv);
        for (size_t i = 0; i < nv; i++)
            add_match(c, v[i].start, v[i].end, c->phrases[f].leaf);
        free(v);
    }
    for (size_t f = 0; f < c->nnears && !c->oom; f++) {
        const cpq_qnode *n = c->nears[f].n;
        sn_occ *a, *b;
        size_t na, nb;

        seq_occs(c, &n->children[0], &a, &na);
        seq_occs(c, &n->children[1], &b, &nb);
        for (size_t i = 0; i < na; i++)
            if (has_partner(&a[i], b, nb, n->distance))
                add_match(c, a[i].start, a[i].end, c->nears[f].leaf);
        for (size_t i = 0; i < nb; i++)
            if (has_partner(&b[i], a, na, n->distance))
                add_match(c, b[i].start, b[i].end, c->nears[f].leaf);
        free(a);
        free(b);
    }
}

/* ===================================================================== */
/* Characters and word boundaries                                        */
/* ===================================================================== */

enum { CL_OTHER, CL_SPACE, CL_WORD, CL_CJK, CL_MARK };

/* CJK letters and numbers: each is a word of its own (the ranges of
 * analyze.c, where a run of them is cut into bigrams). */
static int in_cjk(int32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x2E80 && cp <= 0x9FFF)
        || (cp >= 0xA960 && cp <= 0xA97F) || (cp >= 0xAC00 && cp <= 0xD7FF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFF66 && cp <= 0xFFDC)
        || (cp >= 0x1AFF0 && cp <= 0x1B16F) || (cp >= 0x20000 && cp <= 0x3FFFF);
}

static int cp_class(int32_t cp)
{
    if (cp < 0)
        return CL_OTHER;
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')
            || cp == '\'')
            return CL_WORD;
        return cp == ' ' || (cp >= '\t' && cp <= '\r') ? CL_SPACE : CL_OTHER;
    }
    if (cp == 0x2019)
        return CL_WORD;
    if (cp == 0x85)
        return CL_SPACE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return in_cjk(cp) ? CL_CJK : CL_WORD;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return CL_MARK;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CL_SPACE;
    default:
        return CL_OTHER;
    }
}

/* The character at s[p] (p < len): its code point (-1 if invalid) and its
 * length (an invalid byte is a character of length 1). */
static size_t cp_at(const unsigned char *s, size_t len, size_t p, int32_t *cp)
{
    utf8proc_int32_t c;
    size_t avail = len - p < 4 ? len - p : 4;
    utf8proc_ssize_t n = utf8proc_iterate(s + p, (utf8proc_ssize_t)avail, &c);

    if (n <= 0) {
        *cp = -1;
        return 1;
    }
    *cp = c;
    return (size_t)n;
}

/* The character ending at s[p] (p > 0), as cp_at. */
static size_t cp_before(const unsigned char *s, size_t p, int32_t *cp)
{
    for (size_t k = 1; k <= 4 && k <= p; k++) {
        utf8proc_int32_t c;

        if ((s[p - k] & 0xC0) == 0x80)
            continue;
        if (utf8proc_iterate(s + p - k, (utf8proc_ssize_t)k, &c) == (utf8proc_ssize_t)k) {
            *cp = c;
            return k;
        }
        break;
    }
    *cp = -1;
    return 1;
}

/* Would cutting at p split a valid UTF-8 sequence? */
static int splits(const unsigned char *s, size_t len, size_t p)
{
    if (p == 0 || p >= len)
        return 0;
    for (size_t k = 1; k <= 3 && k <= p; k++) {
        utf8proc_int32_t c;
        size_t avail;

        if ((s[p - k] & 0xC0) == 0x80)
            continue;
        avail = len - (p - k) < 4 ? len - (p - k) : 4;
        return utf8proc_iterate(s + p - k, (utf8proc_ssize_t)avail, &c) > (utf8proc_ssize_t)k;
    }
    return 0;
}

/* Is p (0 < p < len) inside a word?  A mark continues whatever letter it
 * follows; CJK characters are words of their own. */
static int inside_word(const unsigned char *s, size_t len, size_t p)
{
    int32_t a, b;
    int ca, cb;

    if (p == 0 || p >= len)
        return 0;
    cp_before(s, p, &a);
    cp_at(s, len, p, &b);
    ca = cp_class(a);
    cb = cp_class(b);
    if (cb == CL_MARK)
        return ca == CL_WORD || ca == CL_CJK || ca == CL_MARK;
    return cb == CL_WORD && (ca == CL_WORD || ca == CL_MARK);
}

/* Move a window start p forwards, to at most bound, so that it starts a
 * word: past the rest of a word it cuts, and past white space (and, after
 * a cut word, punctuation).  Never splits a UTF-8 sequence; when no word
 * start lies within bound, only that is fixed. */
static size_t snap_start(const unsigned char *s, size_t len, size_t p, size_t bound)
{
    size_t q = p, r;
    int cut = 0;
    int32_t cp;

    for (int k = 0; k < 3 && splits(s, len, q); k++)
        q++;
    if (q == 0 || q >= len || bound <= q)
        return q;
    r = q;
    if (inside_word(s, len, r)) {
        while (r < bound && inside_word(s, len, r))
            r += cp_at(s, len, r, &cp);
        if (inside_word(s, len, r) || r > bound)
            return q;
        cut = 1;
    }
    while (r < bound) {
        size_t n = cp_at(s, len, r, &cp);
        int cl = cp_class(cp);

        if (r + n > bound || !(cl == CL_SPACE || (cut && cl == CL_OTHER)))
            break;
        r += n;
    }
    return r;
}

/* Move a window end p backwards, to at least bound, so that it ends a word
 * with no white space after it; as snap_start. */
static size_t snap_end(const unsigned char *s, size_t len, size_t p, size_t bound)
{
    size_t q = p, r;
    int32_t cp;

    for (int k = 0; k < 3 && splits(s, len, q); k++)
        q--;
    if (q >= len || q <= bound)
        return q;
    r = q;
    if (inside_word(s, len, r)) {
        while (r > bound && inside_word(s, len, r))
            r -= cp_before(s, r, &cp);
        if (inside_word(s, len, r) || r < bound)
            return q;
    }
    while (r > bound) {
        size_t n = cp_before(s, r, &cp);

        if (r - n < bound || cp_class(cp) != CL_SPACE)
            break;
        r -= n;
    }
    return r;
}

/* ===================================================================== */
/* Step 5: the window and the spans                                      */
/* ===================================================================== */

static int cmp_match(const void *x, const void *y)
{
    const sn_match *a = x, *b = y;

    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return (a->leaf > b->leaf) - (a->leaf < b->leaf);
}

typedef struct sn_ev {
    size_t end;
    size_t i;
} sn_ev;

static int cmp_ev(const void *x, const void *y)
{
    const sn_ev *a = x, *b = y;

    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Matches and window events are sorted by insertion when there are few
 * (most calls: qsort's setup cost more than sorting a dozen matches, which
 * come nearly sorted), else by qsort.  Both orders are total (elements that
 * compare equal are identical), so either sort gives the same array. */
#define SN_ISORT_MAX 32u

static void sort_matches(sn_match *v, size_t n)
{
    if (n > SN_ISORT_MAX) {
        qsort(v, n, sizeof *v, cmp_match);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        sn_match x = v[i];
        size_t j = i;

        for (; j > 0 && cmp_match(&v[j - 1], &x) > 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static void sort_events(sn_ev *v, size_t n)
{
    if (n > SN_ISORT_MAX) {
        qsort(v, n, sizeof *v, cmp_ev);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        sn_ev x = v[i];
        size_t j = i;

        for (; j > 0 && cmp_ev(&v[j - 1], &x) > 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Choose the start s of the best window [s, s + w) among the matches'
 * starts (matches sorted by start), scored by the matches wholly inside:
 * distinct leaves, then matches; the earliest wins ties.  Sets *hs, *he to
 * the region the chosen matches cover and returns 1, or returns 0 when no
 * match fits in w bytes.  -1: out of memory. */
static int best_window(const sn_match *m, size_t nm, uint32_t nleaves, size_t w, size_t *hs,
                       size_t *he)
{
    sn_ev ev_small[SN_SMALL_MATCHES];
    unsigned char state_small[SN_SMALL_MATCHES];
    uint32_t cnt_small[SN_SMALL_LEAVES];
    int small_m = nm <= SN_SMALL_MATCHES, small_l = nleaves <= SN_SMALL_LEAVES;
    sn_ev *ev = small_m ? ev_small : malloc(nm * sizeof *ev);
    unsigned char *state = small_m ? state_small : malloc(nm);   /* 0 not yet in, 1 in, 2 left */
    uint32_t *cnt = small_l ? cnt_small : malloc(nleaves * sizeof *cnt);
    size_t la = 0, ea = 0, distinct = 0, total = 0, bd = 0, bt = 0, bs = 0;
    int rc = -1;

    if (!ev || !state || !cnt)
        goto out;
    memset(state, 0, nm);
    memset(cnt, 0, nleaves * sizeof *cnt);
    for (size_t i = 0; i < nm; i++) {
        ev[i].end = m[i].end;
        ev[i].i = i;
    }
    sort_events(ev, nm);
    for (size_t i = 0; i < nm; i++) {
        size_t s = m[i].start;

        if (i > 0 && s == m[i - 1].start)
            continue;
        for (; la < nm && m[la].start < s; la++) {
            if (state[la] == 1) {
                total--;
                if (--cnt[m[la].leaf] == 0)
                    distinct--;
            }
            state[la] = 2;
        }
        /* A match ending before s started before it too: it is marked as left. */
        for (; ea < nm && (ev[ea].end <= s || ev[ea].end - s <= w); ea++) {
            size_t k = ev[ea].i;

            if (state[k] != 0)
                continue;
            if (m[k].start < s) {
                state[k] = 2;
                continue;
            }
            state[k] = 1;
            total++;
            if (cnt[m[k].leaf]++ == 0)
                distinct++;
        }
        if (distinct > bd || (distinct == bd && total > bt)) {
            bd = distinct;
            bt = total;
            bs = s;
        }
    }
    rc = 0;
    if (bd > 0) {
        *hs = *he = bs;
        for (size_t i = 0; i < nm; i++)
            if (m[i].start >= bs && m[i].end - bs <= w && m[i].end > *he)
                *he = m[i].end;
        rc = 1;
    }
out:
    if (!small_l)
        free(cnt);
    if (!small_m) {
        free(state);
        free(ev);
    }
    return rc;
}

/* Grow out's span array to hold n spans. */
static int spans_reserve(cpq_snippet_out *out, size_t n)
{
    cpq_span_hl *v;
    size_t cap;

    if (n <= out->cap_)
        return 0;
    cap = out->cap_ ? out->cap_ : 16;
    while (cap < n)
        cap *= 2;
    v = realloc(out->spans, cap * sizeof *v);
    if (!v)
        return -1;
    out->spans = v;
    out->cap_ = cap;
    return 0;
}

/* Merge the matches intersecting [ws, we) into out's spans. */
static int build_spans(const sn_match *m, size_t nm, uint32_t nleaves, size_t ws, size_t we,
                       cpq_snippet_out *out)
{
    unsigned char seen_small[SN_SMALL_LEAVES];
    unsigned char *seen = nleaves <= SN_SMALL_LEAVES ? seen_small : malloc(nleaves);

    if (!seen)
        return -1;
    memset(seen, 0, nleaves);
    for (size_t i = 0; i < nm && m[i].start < we; i++) {
        size_t a = m[i].start > ws ? m[i].start : ws;
        size_t b = m[i].end < we ? m[i].end : we;
        cpq_span_hl *last = out->nspans ? &out->spans[out->nspans - 1] : NULL;

        if (b <= a)
            continue;
        if (!seen[m[i].leaf]) {
            seen[m[i].leaf] = 1;
            out->matched++;
        }
        a -= ws;
        b -= ws;
        if (last && a <= (size_t)last->start + last->len) {
            if (b > (size_t)last->start + last->len)
                last->len = (uint32_t)(b - last->start);
            continue;
        }
        if (spans_reserve(out, out->nspans + 1)) {
            if (seen != seen_small)
                free(seen);
            return -1;
        }
        out->spans[out->nspans].start = (uint32_t)a;
        out->spans[out->nspans].len = (uint32_t)(b - a);
        out->nspans++;
    }
    if (seen != seen_small)
        free(seen);
    return 0;
}

static void out_reset(cpq_snippet_out *out)
{
    out->start = out->end = 0;
    out->ellipsis_start = out->ellipsis_end = 0;
    out->nspans = 0;
    out->matched = 0;
    out->partial = 0;
}

int cpq_snippet(cpq_analyzer *an, cpq_analyzer *prefix_an, const cpq_query *q, const char *text,
                size_t len, size_t max_bytes, cpq_snippet_out *out, cpq_errinfo *e)
{
    const unsigned char *s = (const unsigned char *)text;
    sn_ctx ctx, *c = &ctx;
    size_t w, ws = 0, we = len, hs = 0, he = 0;
    int rc = CPQ_OK, r;

    if (!out)
        return cpq_err_set(e, CPQ_EINVAL, "snippet: no output");
    out_reset(out);
    if (!an || !q || (!text && len))
        return cpq_err_set(e, CPQ_EINVAL, "snippet: NULL analyser, query or text");
    if (max_bytes != 0 && (max_bytes < CPQ_SNIPPET_MIN_BYTES || max_bytes > CPQ_SNIPPET_MAX_BYTES))
        return cpq_err_set(e, CPQ_EINVAL, "snippet: max_bytes %zu is not 0 or %u..%u", max_bytes,
                           CPQ_SNIPPET_MIN_BYTES, CPQ_SNIPPET_MAX_BYTES);
    if (max_bytes == 0 && len > UINT32_MAX)
        return cpq_err_set(e, CPQ_ELIMIT, "snippet: a whole passage of %zu bytes is over 4 GiB",
                           len);
    w = max_bytes ? max_bytes : len;

    memset(c, 0, offsetof(sn_ctx, tok_small));
    c->toks = c->tok_small;
    c->m = c->m_small;
    if (query_tables(c, cpq_query_nterms(q))) {
        rc = CPQ_ENOMEM;
        goto fail;
    }
    walk(c, cpq_query_root(q), 0);

    if (c->nleaves > 0 && len > 0) {
        /* Only tokens that may match are needed (see want), unless the
         * token limit may be reached: it counts every token, and a passage
         * has at most len tokens.  The prefix pass pairs its tokens with the
         * index tokens of the same bytes, so those must not be dropped when
         * the two analysers fold differently (a misuse, but a legal one). */
        int sparse = len <= CPQ_SNIPPET_MAX_TOKENS
                     && (!prefix_an || !c->plens || cpq_analyzer_same_fold(an, prefix_an));

        c->keep = c->nphrases || c->nnears || (prefix_an && c->plens);
        if (sparse)
            r = cpq_analyze_sparse(an, text, len, 0, &c->want, on_token, c, NULL);
        else
            r = cpq_analyze(an, text, len, 0, on_token, c, NULL);
        if (c->oom || (r != CPQ_OK && r != SN_STOP)) {
            rc = CPQ_ENOMEM;
            goto fail;
        }
        if (prefix_an && c->plens && c->ntoks > 0) {
            /* A folded token the filter drops starts with no prefix. */
            r = cpq_analyze_sparse(prefix_an, text, len, 0, &c->want, on_folded, c, NULL);
            if (c->oom || (r != CPQ_OK && r != SN_STOP)) {
                rc = CPQ_ENOMEM;
                goto fail;
            }
        }
        if (c->nphrases || c->nnears) {
            if (c->ntoks <= SN_SMALL_TOKS)
                c->next = c->next_small;
            else
                c->next = malloc(c->ntoks * sizeof *c->next);
            if (!c->next) {
                rc = CPQ_ENOMEM;
                goto fail;
            }
            match_structures(c);
            if (c->oom) {
                rc = CPQ_ENOMEM;
                goto fail;
            }
        }
    }

    if (c->nm > 1) {   /* sort, then drop duplicates (a prefix matched twice, a repeated phrase) */
        size_t k = 1;

        sort_matches(c->m, c->nm);
        for (size_t i = 1; i < c->nm; i++)
            if (cmp_match(&c->m[i], &c->m[k - 1]) != 0)
                c->m[k++] = c->m[i];
        c->nm = k;
    }

    if (len > w) {
        size_t slack, lim = w / 4, wb;
        int centre = 0;

        if (c->nm > 0) {
            r = best_window(c->m, c->nm, c->nleaves, w, &hs, &he);
            if (r < 0) {
                rc = CPQ_ENOMEM;
                goto fail;
            }
            centre = r;
            if (!r)
                hs = he = c->m[0].start;   /* every match is longer than the window */
        }
        slack = w - (he - hs);
        ws = centre ? (hs > slack / 2 ? hs - slack / 2 : 0) : hs;
        if (ws > len - w)
            ws = len - w;
        ws = snap_start(s, len, ws, hs < ws + lim ? hs : ws + lim);
        we = ws + w < len ? ws + w : len;
        wb = we - lim > he ? we - lim : he;
        we = snap_end(s, len, we, wb > ws ? wb : ws);
    }

    out->start = ws;
    out->end = we;
    out->ellipsis_start = ws > 0;
    out->ellipsis_end = we < len;
    out->partial = c->partial;
    if (build_spans(c->m, c->nm, c->nleaves, ws, we, out)) {
        rc = CPQ_ENOMEM;
        goto fail;
    }
    ctx_free(c);
    return CPQ_OK;

fail:
    ctx_free(c);
    out_reset(out);
    return cpq_err_set(e, rc, "snippet: out of memory");
}

void cpq_snippet_out_free(cpq_snippet_out *out)
{
    if (!out)
        return;
    free(out->spans);
    memset(out, 0, sizeof *out);
}

/* ===================================================================== */
/* Rendering                                                             */
/* ===================================================================== */

typedef struct sn_buf {
    char *buf;
    size_t cap, n;   /* n: bytes of the full rendering so far */
} sn_buf;

static void put(sn_buf *b, const char *p, size_t n)
{
    size_t room = b->cap ? b->cap - 1 : 0;

    if (n == 0)
        return;
    if (b->n < room)
        memcpy(b->buf + b->n, p, n < room - b->n ? n : room - b->n);
    b->n += n;
}

size_t cpq_snippet_render(const cpq_snippet_out *s, const char *text, size_t len,
                          const char *open, const char *close, const char *ellipsis,
                          char *buf, size_t cap)
{
    sn_buf b = { buf, buf ? cap : 0, 0 };
    size_t lo = strlen(open ? open : ""), lc = strlen(close ? close : "");
    size_t le = strlen(ellipsis ? ellipsis : "");
    size_t ws, we, at;

    if (!s || (!text && len))
        len = 0;
    ws = s && s->start < len ? s->start : len;
    we = s && s->end < len ? s->end : len;
    if (we < ws)
        we = ws;
    if (s && s->ellipsis_start)
        put(&b, ellipsis, le);
    at = ws;
    for (size_t i = 0; s && s->spans && i < s->nspans; i++) {
        size_t a, z;

        if (s->spans[i].start > we - ws)
            break;
        a = ws + s->spans[i].start;
        z = s->spans[i].len > we - a ? we : a + s->spans[i].len;
        if (a < at)   /* overlapping spans (not from cpq_snippet): show each byte once */
            a = at;
        if (z <= a)
            continue;
        put(&b, text + at, a - at);
        put(&b, open, lo);
        put(&b, text + a, z - a);
        put(&b, close, lc);
        at = z;
    }
    put(&b, text + at, we - at);
    if (s && s->ellipsis_end)
        put(&b, ellipsis, le);
    if (b.cap)
        b.buf[b.n < b.cap - 1 ? b.n : b.cap - 1] = '\0';
    return b.n;
}
