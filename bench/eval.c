/*
 * eval.c - cpq-eval: retrieval effectiveness of cpq on a BEIR-layout collection.
 *
 *   cpq-eval [options] DIR
 *
 * DIR holds corpus.jsonl, queries.jsonl and qrels/test.tsv.  The corpus is
 * indexed with the library's defaults into a temporary directory (or an
 * existing index is reused with --index), every judged query is ranked, and
 * nDCG@10, recall@100 and MAP are printed one a line, the way BEIR reports
 * them through pytrec_eval (trec_eval's definitions; see the metric_*
 * functions).  Everything else goes to standard error.
 *
 * Ranking lives in one place, rank_query().  By default it is the query
 * engine (rank_engine: the text searched as a ranked union, grouped by
 * document); --ranker exhaustive swaps in an exact, exhaustive BM25 over
 * passages, grouped the same way (a document scores as its best passage),
 * kept as a reference for the engine.  The rest only measures.
 *
 * Exit status: 0 success, 1 failure (bad input, I/O, a selftest mismatch),
 * 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bm25.h"
#include "cpqindex.h"
#include "engine.h"
#include "query.h"
#include "jsonl.h"

#define EXIT_USAGE 2

#define EVAL_DEPTH 1000            /* documents retrieved per query (trec_eval's default cut) */
#define EVAL_NDCG_CUT 10
#define EVAL_RECALL_CUT 100
#define EVAL_QUERY_LINE_MAX (1u << 20)  /* longest queries.jsonl line */
#define EVAL_QRELS_LINE_MAX (64u << 10) /* longest qrels line */
#define EVAL_NO_DOC UINT32_MAX     /* a judged document absent from the index */

static const char usage[] =
    "usage: cpq-eval [options] DIR\n"
    "\n"
    "Index DIR/corpus.jsonl, rank the queries of DIR/queries.jsonl judged in\n"
    "DIR/qrels/test.tsv, and print ndcg@10, recall@100 and map.  Without DIR,\n"
    "$CPQ_EVAL_DIR is used (bench/eval sets it to the SciFact corpus).\n"
    "\n"
    "  -w, --passage-words N   maximum words per passage (default %d)\n"
    "  -j, --threads N         indexing threads (default: number of CPUs)\n"
    "  -l, --language LANG     stemmer language of the index (default english)\n"
    "      --strip-accents     fold accented letters when indexing\n"
    "      --index PATH        rank with an existing index instead of building one\n"
    "      --keep-index PATH   build the index at PATH and keep it\n"
    "      --k1 X              BM25 k1 (default %.2g)\n"
    "      --b X               BM25 b (default %.2g)\n"
    "      --ranker R          engine (default: the query engine, a ranked union\n"
    "                          grouped by document) or exhaustive (a reference\n"
    "                          scorer that reads every posting of every term)\n"
    "      --dup MODE          exhaustive ranker only: repeated query terms count\n"
    "                          distinct (once, default) or sum (once per occurrence)\n"
    "      --run FILE          also write the ranking as a TREC run file\n"
    "      --selftest          check the metric code on hand-made rankings\n"
    "  -h, --help              this help\n";

/* ===================================================================== */
/* Metrics: pure functions over one query's ranking                       */
/* ===================================================================== */

/* ranked[i] is the relevance grade of the document at rank i + 1 (0 when
 * it is not judged); grades <= 0 count as not relevant.  The definitions
 * are trec_eval 9's, as pytrec_eval (and so BEIR) computes them: gain is
 * the grade itself (linear, not 2^grade - 1), the discount log2(rank + 1). */

static double metric_dcg(const int *g, size_t n, size_t k)
{
    double s = 0;
    for (size_t i = 0; i < n && i < k; i++)
        if (g[i] > 0) s += (double)g[i] / log2((double)i + 2.0);
    return s;
}

/* nDCG@k; ideal[] holds the grades of all the query's judged documents,
 * sorted in decreasing order.  0 when the ideal DCG is 0. */
static double metric_ndcg(const int *ranked, size_t n, const int *ideal, size_t nideal, size_t k)
{
    double idcg = metric_dcg(ideal, nideal, k);
    return idcg > 0 ? metric_dcg(ranked, n, k) / idcg : 0.0;
}

/* Relevant documents in the first k, over all nrel relevant judged ones. */
static double metric_recall(const int *ranked, size_t n, size_t nrel, size_t k)
{
    size_t hit = 0;
    for (size_t i = 0; i < n && i < k; i++) hit += ranked[i] > 0;
    return nrel ? (double)hit / (double)nrel : 0.0;
}

/* Average precision: the precision at each relevant rank, summed and
 * divided by nrel (relevant documents never retrieved add 0). */
static double metric_ap(const int *ranked, size_t n, size_t nrel)
{
    double s = 0;
    size_t hit = 0;
    for (size_t i = 0; i < n; i++)
        if (ranked[i] > 0) s += (double)++hit / (double)(i + 1);
    return nrel ? s / (double)nrel : 0.0;
}

static int cmp_int_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* ===================================================================== */
/* Top-k selection                                                        */
/* ===================================================================== */

typedef struct eval_hit {
    uint32_t doc;
    double score;
} eval_hit;

/* The order of a ranking: higher score first, then lower document number. */
static int hit_better(const eval_hit *a, const eval_hit *b)
{
    return a->score > b->score || (a->score == b->score && a->doc < b->doc);
}

static int cmp_hit(const void *a, const void *b)
{
    const eval_hit *x = a, *y = b;
    return hit_better(x, y) ? -1 : hit_better(y, x) ? 1 : 0;
}

/* Keep the k best of cand[0..n) (scores in score[doc]) in out[0..k), best
 * first, with a min-heap whose root is the worst kept hit.  Returns how
 * many were kept: min(n, k). */
static size_t select_top(const uint32_t *cand, size_t n, const double *score, size_t k, eval_hit *out)
{
    size_t m = 0;
    if (!k) return 0;
    for (size_t c = 0; c < n; c++) {
        eval_hit h = { cand[c], score[cand[c]] };
        size_t i;
        if (m < k) {                     /* sift up */
            i = m++;
            while (i > 0 && hit_better(&out[(i - 1) / 2], &h)) {
                out[i] = out[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            out[i] = h;
            continue;
        }
        if (!hit_better(&h, &out[0])) continue;
        i = 0;                           /* replace the root, sift down */
        for (;;) {
            size_t l = 2 * i + 1, w = i;
            const eval_hit *wh = &h;
            if (l < m && hit_better(wh, &out[l])) { w = l; wh = &out[l]; }
            if (l + 1 < m && hit_better(wh, &out[l + 1])) { w = l + 1; wh = &out[l + 1]; }
            if (w == i) break;
            out[i] = out[w];
            i = w;
        }
        out[i] = h;
    }
    qsort(out, m, sizeof *out, cmp_hit);
    return m;
}

/* ===================================================================== */
/* The rankers: the query engine, and an exhaustive reference            */
/* ===================================================================== */

typedef struct qterm {
    char text[CPQ_TERM_MAX + 1];
    uint32_t count;                      /* occurrences in the query */
} qterm;

typedef struct ranker {
    const cpq_index *ix;
    const cpq_index_info *info;
    cpq_analyzer *an;
    float k1, b;
    int dup_sum;                         /* weight a term by its occurrences */
    uint32_t *pdoc;                      /* passage -> document */
    double *pscore, *dscore;             /* accumulators, all zero between queries */
    uint32_t *ptouched, *dtouched;
    size_t npt, ndt;
    qterm *terms;
    size_t nterms, capterms;
    int exhaustive;                      /* 1: the reference ranker below, 0: the engine */
    cpq_analyzer *pan;                   /* the engine's prefix analyser */
    char *qbuf;                          /* the sanitised query text */
    size_t qcap;
} ranker;

static void ranker_free(ranker *r)
{
    if (!r) return;
    free(r->terms);
    free(r->dtouched);
    free(r->ptouched);
    free(r->dscore);
    free(r->pscore);
    free(r->pdoc);
    free(r->qbuf);
    cpq_analyzer_free(r->pan);
    cpq_analyzer_free(r->an);
    free(r);
}

/* Returns CPQ_OK, CPQ_ENOMEM, CPQ_ECORRUPT (a passage table that does not
 * add up), or the analyser's error; *out is NULL on error. */
static int ranker_create(const cpq_index *ix, float k1, float b, int dup_sum, ranker **out, cpq_errinfo *e)
{
    *out = NULL;
    ranker *r = calloc(1, sizeof *r);
    if (!r) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    r->ix = ix;
    r->info = cpq_index_get_info(ix);
    r->k1 = k1;
    r->b = b;
    r->dup_sum = dup_sum;
    int rc = cpq_analyzer_create(&r->info->analysis, &r->an, e);
    if (rc) goto fail;
    if ((rc = cpq_analyzer_create_prefix(&r->info->analysis, &r->pan, e))) goto fail;
    size_t np = (size_t)r->info->passages, nd = (size_t)r->info->docs;
    r->pdoc = malloc((np ? np : 1) * sizeof *r->pdoc);
    r->pscore = calloc(np ? np : 1, sizeof *r->pscore);
    r->ptouched = malloc((np ? np : 1) * sizeof *r->ptouched);
    r->dscore = calloc(nd ? nd : 1, sizeof *r->dscore);
    r->dtouched = malloc((nd ? nd : 1) * sizeof *r->dtouched);
    if (!r->pdoc || !r->pscore || !r->ptouched || !r->dscore || !r->dtouched) {
        rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory for %zu passages", np);
        goto fail;
    }
    uint64_t next = 0;
    for (uint32_t d = 0; d < nd; d++) {
        cpq_doc_info di;
        if (cpq_index_doc(ix, d, &di) || di.first_passage != next || di.npassages > np - next) {
            rc = cpq_err_set(e, CPQ_ECORRUPT, "document %u: passages do not follow the previous document's", d);
            goto fail;
        }
        for (uint32_t i = 0; i < di.npassages; i++) r->pdoc[next + i] = d;
        next += di.npassages;
    }
    if (next != np) {
        rc = cpq_err_set(e, CPQ_ECORRUPT, "documents cover %llu of %zu passages", (unsigned long long)next, np);
        goto fail;
    }
    *out = r;
    return CPQ_OK;
fail:
    ranker_free(r);
    return rc;
}

static int collect_term(void *ctx, const cpq_token *tok)
{
    ranker *r = ctx;
    if (r->nterms == r->capterms) {
        size_t cap = r->capterms ? 2 * r->capterms : 32;
        qterm *t = realloc(r->terms, cap * sizeof *t);
        if (!t) return CPQ_ENOMEM;
        r->terms = t;
        r->capterms = cap;
    }
    qterm *t = &r->terms[r->nterms++];
    memcpy(t->text, tok->term, tok->len);   /* len <= CPQ_TERM_MAX (analyze.h) */
    t->text[tok->len] = 0;
    t->count = 1;
    return 0;
}

static int cmp_qterm(const void *a, const void *b)
{
    return strcmp(((const qterm *)a)->text, ((const qterm *)b)->text);
}

/* Rank one query: with the engine (rank_engine), or with the exhaustive
 * reference: analyse text like the index was, score every passage holding
 * any of its terms with BM25 (the union, no pruning), score each document
 * as its best passage, and put the best min(cap, matching) in out[], best
 * first, ties to the lower document number.  *n receives the count.
 * Returns CPQ_OK, CPQ_ENOMEM or CPQ_ECORRUPT (named in e).
 *
 * The reference is exact by construction.  Known slowness: it walks
 * every posting of every term, and touches the accumulators of every
 * matching passage; fine for collections of 10^5 passages, not for 10^8. */
/* The engine: the query text is natural language, not query syntax, so the
 * characters the query language gives meaning to become spaces (the
 * analyser splits words there anyway) and the rest is searched as a ranked
 * union, grouped by document. */
static int rank_engine(ranker *r, const char *text, size_t len, eval_hit *out, size_t cap, size_t *n,
                       cpq_errinfo *e)
{
    *n = 0;
    if (len + 1 > r->qcap) {
        char *nb = realloc(r->qbuf, len + 1);
        if (!nb) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
        r->qbuf = nb;
        r->qcap = len + 1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        r->qbuf[i] = strchr("\"()+-*/:", c) && c ? ' ' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    if (len > CPQ_QUERY_MAX_BYTES) len = CPQ_QUERY_MAX_BYTES;
    while (len && (r->qbuf[len - 1] & 0xC0) == 0x80) len--; /* never cut a character */
    cpq_query *q = NULL;
    int rc = cpq_query_parse(r->qbuf, len, r->an, r->pan, 0, &q, e);
    if (rc) return rc;
    cpq_search_opts o;
    cpq_search_opts_default(&o);
    o.limit = (uint32_t)cap;
    o.k1 = r->k1;
    o.b = r->b;
    o.flags = CPQ_SEARCH_GROUP;
    cpq_results res;
    rc = cpq_search(r->ix, q, &o, &res, e);
    cpq_query_free(q);
    if (rc) return rc;
    for (size_t i = 0; i < res.nhits; i++) {
        out[i].doc = res.hits[i].doc;
        out[i].score = res.hits[i].score;
    }
    *n = res.nhits;
    cpq_results_free(&res);
    return CPQ_OK;
}

static int rank_query(ranker *r, const char *text, size_t len, eval_hit *out, size_t cap, size_t *n,
                      cpq_errinfo *e)
{
    if (!r->exhaustive) return rank_engine(r, text, len, out, cap, n, e);
    *n = 0;
    r->nterms = 0;
    int rc = cpq_analyze(r->an, text, len, 0, collect_term, r, NULL);
    if (rc) return cpq_err_set(e, rc, "analysing the query: %s", cpq_err_str(rc));
    /* Merge repeated terms, counting them. */
    qsort(r->terms, r->nterms, sizeof *r->terms, cmp_qterm);
    size_t u = 0;
    for (size_t i = 0; i < r->nterms; i++) {
        if (u && !strcmp(r->terms[u - 1].text, r->terms[i].text)) r->terms[u - 1].count++;
        else r->terms[u++] = r->terms[i];
    }
    r->nterms = u;

    const cpq_index_info *in = r->info;
    rc = CPQ_OK;
    for (size_t i = 0; i < r->nterms && !rc; i++) {
        cpq_term t;
        int trc = cpq_index_term(r->ix, r->terms[i].text, strlen(r->terms[i].text), &t);
        if (trc == CPQ_ENOTFOUND) continue;
        if (trc) { rc = cpq_err_set(e, trc, "term '%s': %s", r->terms[i].text, cpq_err_str(trc)); break; }
        cpq_postings p;
        if (cpq_postings_open(r->ix, &t, &p)) { rc = cpq_err_set(e, CPQ_ECORRUPT, "term '%s': bad postings", t.text); break; }
        float idf = cpq_bm25_idf(in->passages, t.df);
        double w = r->dup_sum ? (double)r->terms[i].count : 1.0;
        uint32_t id;
        while ((id = cpq_postings_next(&p)) != CPQ_END) {
            if (id >= in->passages) { rc = cpq_err_set(e, CPQ_ECORRUPT, "term '%s': passage %u out of range", t.text, id); break; }
            float s = cpq_bm25(idf, cpq_postings_tf(&p), cpq_index_passage_len(r->ix, id), in->avg_len, r->k1, r->b);
            /* Every contribution is > 0 (idf > 0, tf >= 1), so a zero
             * accumulator means "not touched yet". */
            if (r->pscore[id] == 0) r->ptouched[r->npt++] = id;
            r->pscore[id] += w * (double)s;
        }
        if (!rc && cpq_postings_corrupt(&p)) rc = cpq_err_set(e, CPQ_ECORRUPT, "term '%s': postings corrupt", t.text);
    }
    /* Group by document: its best passage.  Then reset what was touched. */
    for (size_t i = 0; i < r->npt; i++) {
        uint32_t pid = r->ptouched[i], d = r->pdoc[pid];
        if (r->dscore[d] == 0) r->dtouched[r->ndt++] = d;
        if (r->pscore[pid] > r->dscore[d]) r->dscore[d] = r->pscore[pid];
        r->pscore[pid] = 0;
    }
    if (!rc) *n = select_top(r->dtouched, r->ndt, r->dscore, cap, out);
    for (size_t i = 0; i < r->ndt; i++) r->dscore[r->dtouched[i]] = 0;
    r->npt = r->ndt = 0;
    return rc;
}

/* ===================================================================== */
/* Input files: qrels and queries                                        */
/* ===================================================================== */

/* A bounded line reader: a line longer than max is an error, never an
 * unbounded allocation; NUL bytes are kept (the JSON parser rejects them). */
typedef struct line_reader {
    FILE *f;
    const char *path;
    char *buf;
    size_t cap, max;
    uint64_t lineno;
} line_reader;

/* 1 and the line in r->buf[0..*len) (NUL-terminated, without "\n" or a
 * trailing "\r"), 0 at the end of the file, -1 on error (printed). */
static int read_line(line_reader *r, size_t *len)
{
    size_t n = 0;
    int c;
    while ((c = getc(r->f)) != EOF && c != '\n') {
        if (n >= r->max) {
            fprintf(stderr, "cpq-eval: %s:%llu: line longer than %zu bytes\n", r->path,
                    (unsigned long long)r->lineno + 1, r->max);
            return -1;
        }
        if (n + 1 >= r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 4096;
            char *b = realloc(r->buf, cap);
            if (!b) { fprintf(stderr, "cpq-eval: %s: out of memory\n", r->path); return -1; }
            r->buf = b;
            r->cap = cap;
        }
        r->buf[n++] = (char)c;
    }
    if (ferror(r->f)) {
        fprintf(stderr, "cpq-eval: %s: read error: %s\n", r->path, strerror(errno));
        return -1;
    }
    if (c == EOF && n == 0) return 0;
    r->lineno++;
    if (n && r->buf[n - 1] == '\r') n--;
    if (!r->buf) {                       /* an empty first line */
        r->buf = malloc(1);
        if (!r->buf) { fprintf(stderr, "cpq-eval: %s: out of memory\n", r->path); return -1; }
        r->cap = 1;
    }
    r->buf[n] = 0;
    *len = n;
    return 1;
}

typedef struct judgment {
    char *qid, *did;
    int grade;
    uint64_t line;
    uint32_t doc;                        /* document number, or EVAL_NO_DOC */
} judgment;

typedef struct equery {
    const char *qid;                     /* points into the first judgment */
    size_t first, n;                     /* its judgments */
    size_t nrel;                         /* judged with grade > 0 */
    char *text;                          /* from queries.jsonl; NULL until found */
    size_t len;
} equery;

typedef struct collection {
    judgment *j;
    size_t nj, capj;
    equery *q;
    size_t nq;
} collection;

static void collection_free(collection *c)
{
    for (size_t i = 0; i < c->nj; i++) {
        free(c->j[i].qid);
        free(c->j[i].did);
    }
    for (size_t i = 0; i < c->nq; i++) free(c->q[i].text);
    free(c->j);
    free(c->q);
}

static int cmp_judgment(const void *a, const void *b)
{
    const judgment *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (!c) c = strcmp(x->did, y->did);
    if (!c) c = (x->line > y->line) - (x->line < y->line);
    return c;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* Read qrels: "query-id TAB corpus-id TAB score" lines, an optional header
 * first.  A pair judged twice keeps its last grade.  Groups the judgments
 * by query, sorted by query id.  Returns 0, or -1 with the error printed. */
static int load_qrels(const char *path, collection *c)
{
    line_reader lr = { fopen(path, "rb"), path, NULL, 0, EVAL_QRELS_LINE_MAX, 0 };
    if (!lr.f) { fprintf(stderr, "cpq-eval: %s: %s\n", path, strerror(errno)); return -1; }
    int rc = -1, got;
    size_t len;
    while ((got = read_line(&lr, &len)) == 1) {
        char *line = lr.buf;
        if (strlen(line) != len) {
            fprintf(stderr, "cpq-eval: %s:%llu: NUL byte in line\n", path, (unsigned long long)lr.lineno);
            goto done;
        }
        if (is_blank(line)) continue;
        char *f1 = line, *f2 = strchr(f1, '\t'), *f3 = f2 ? strchr(f2 + 1, '\t') : NULL;
        if (!f3 || strchr(f3 + 1, '\t')) {
            fprintf(stderr, "cpq-eval: %s:%llu: expected 3 tab-separated fields (query-id, corpus-id, score)\n",
                    path, (unsigned long long)lr.lineno);
            goto done;
        }
        *f2++ = 0;
        *f3++ = 0;
        if (lr.lineno == 1 && !strcmp(f1, "query-id")) continue;   /* the header */
        char *end;
        errno = 0;
        long g = strtol(f3, &end, 10);
        while (*end == ' ') end++;
        if (errno || end == f3 || *end || g < -1000000 || g > 1000000) {
            fprintf(stderr, "cpq-eval: %s:%llu: score '%s' is not an integer\n", path, (unsigned long long)lr.lineno, f3);
            goto done;
        }
        if (!*f1 || !*f2) {
            fprintf(stderr, "cpq-eval: %s:%llu: empty query or corpus id\n", path, (unsigned long long)lr.lineno);
            goto done;
        }
        if (c->nj == c->capj) {
            size_t cap = c->capj ? 2 * c->capj : 1024;
            judgment *j = realloc(c->j, cap * sizeof *j);
            if (!j) { fprintf(stderr, "cpq-eval: %s: out of memory\n", path); goto done; }
            c->j = j;
            c->capj = cap;
        }
        judgment *j = &c->j[c->nj];
        j->qid = strdup(f1);
        j->did = strdup(f2);
        if (!j->qid || !j->did) {
            free(j->qid);
            free(j->did);
            fprintf(stderr, "cpq-eval: %s: out of memory\n", path);
            goto done;
        }
        j->grade = (int)g;
        j->line = lr.lineno;
        j->doc = EVAL_NO_DOC;
        c->nj++;
    }
    if (got < 0) goto done;
    if (!c->nj) { fprintf(stderr, "cpq-eval: %s: no judgments\n", path); goto done; }

    qsort(c->j, c->nj, sizeof *c->j, cmp_judgment);
    size_t u = 0;                        /* drop all but the last of a repeated pair */
    for (size_t i = 0; i < c->nj; i++) {
        if (i + 1 < c->nj && !strcmp(c->j[i].qid, c->j[i + 1].qid) && !strcmp(c->j[i].did, c->j[i + 1].did)) {
            free(c->j[i].qid);
            free(c->j[i].did);
            continue;
        }
        c->j[u++] = c->j[i];
    }
    c->nj = u;
    c->q = calloc(c->nj, sizeof *c->q);
    if (!c->q) { fprintf(stderr, "cpq-eval: %s: out of memory\n", path); goto done; }
    for (size_t i = 0; i < c->nj; i++) {
        if (!c->nq || strcmp(c->q[c->nq - 1].qid, c->j[i].qid)) {
            c->q[c->nq].qid = c->j[i].qid;
            c->q[c->nq].first = i;
            c->nq++;
        }
        equery *q = &c->q[c->nq - 1];
        q->n++;
        q->nrel += c->j[i].grade > 0;
    }
    rc = 0;
done:
    free(lr.buf);
    fclose(lr.f);
    return rc;
}

static int cmp_qid_key(const void *key, const void *elem)
{
    return strcmp(key, ((const equery *)elem)->qid);
}

/* Read queries.jsonl and attach the text of every judged query.  Every line
 * must parse; a judged query given twice is an error.  Returns 0 or -1 with
 * the error printed. */
static int load_queries(const char *path, collection *c)
{
    line_reader lr = { fopen(path, "rb"), path, NULL, 0, EVAL_QUERY_LINE_MAX, 0 };
    if (!lr.f) { fprintf(stderr, "cpq-eval: %s: %s\n", path, strerror(errno)); return -1; }
    cpq_jsonl_rec rec;
    memset(&rec, 0, sizeof rec);
    char err[256];
    int rc = -1, got;
    size_t len;
    while ((got = read_line(&lr, &len)) == 1) {
        if (is_blank(lr.buf) && strlen(lr.buf) == len) continue;
        int prc = cpq_jsonl_parse(lr.buf, len, &rec, err, sizeof err);
        if (prc == -2) { fprintf(stderr, "cpq-eval: %s: out of memory\n", path); goto done; }
        if (prc) { fprintf(stderr, "cpq-eval: %s:%llu: %s\n", path, (unsigned long long)lr.lineno, err); goto done; }
        if (!rec.id.len || strlen(rec.id.p) != rec.id.len) {
            fprintf(stderr, "cpq-eval: %s:%llu: empty \"_id\" or NUL in it\n", path, (unsigned long long)lr.lineno);
            goto done;
        }
        equery *q = bsearch(rec.id.p, c->q, c->nq, sizeof *c->q, cmp_qid_key);
        if (!q) continue;
        if (q->text) {
            fprintf(stderr, "cpq-eval: %s:%llu: query '%s' given twice\n", path, (unsigned long long)lr.lineno, rec.id.p);
            goto done;
        }
        q->text = malloc(rec.text.len + 1);
        if (!q->text) { fprintf(stderr, "cpq-eval: %s: out of memory\n", path); goto done; }
        if (rec.text.len) memcpy(q->text, rec.text.p, rec.text.len);
        q->text[rec.text.len] = 0;
        q->len = rec.text.len;
    }
    if (got < 0) goto done;
    rc = 0;
done:
    cpq_jsonl_rec_free(&rec);
    free(lr.buf);
    fclose(lr.f);
    return rc;
}

/* ===================================================================== */
/* Selftest                                                              */
/* ===================================================================== */

static int check(const char *what, double got, double want, int *fails)
{
    if (fabs(got - want) > 1e-9) {
        fprintf(stderr, "selftest: %s: got %.10f, want %.10f\n", what, got, want);
        ++*fails;
        return 0;
    }
    return 1;
}

/* Expected values were worked out by hand (log2 3 = 1.5849625007,
 * log2 5 = 2.3219280949), not with these functions. */
static int selftest(void)
{
    int fails = 0, tests = 0;
    {   /* a perfect ranking */
        int r[] = { 3, 2, 1 }, ideal[] = { 3, 2, 1 };
        tests += 3;
        check("perfect ndcg@10", metric_ndcg(r, 3, ideal, 3, 10), 1.0, &fails);
        check("perfect recall@100", metric_recall(r, 3, 3, 100), 1.0, &fails);
        check("perfect ap", metric_ap(r, 3, 3), 1.0, &fails);
    }
    {   /* two binary relevant at ranks 2 and 4 */
        int r[] = { 0, 1, 0, 1 }, ideal[] = { 1, 1 };
        tests += 3;
        check("binary ndcg@10", metric_ndcg(r, 4, ideal, 2, 10),
              (1 / 1.5849625007211562 + 1 / 2.321928094887362) / (1 + 1 / 1.5849625007211562), &fails);
        check("binary ap", metric_ap(r, 4, 2), (0.5 + 0.5) / 2, &fails);
        check("binary recall@3", metric_recall(r, 4, 2, 3), 0.5, &fails);
    }
    {   /* graded, swapped: linear gain gives 0.859..., 2^g-1 would give 0.797... */
        int r[] = { 1, 2 }, ideal[] = { 2, 1 };
        tests++;
        check("graded linear-gain ndcg", metric_ndcg(r, 2, ideal, 2, 10),
              (1 + 2 / 1.5849625007211562) / (2 + 1 / 1.5849625007211562), &fails);
    }
    {   /* relevant documents never retrieved, and an unjudged-but-graded-0 one */
        int r[] = { 1, 0 }, ideal[] = { 1, 1, 1, 0 };
        tests += 3;
        check("missing ndcg", metric_ndcg(r, 2, ideal, 4, 10), 1 / (1 + 1 / 1.5849625007211562 + 0.5), &fails);
        check("missing recall", metric_recall(r, 2, 3, 100), 1.0 / 3, &fails);
        check("missing ap", metric_ap(r, 2, 3), 1.0 / 3, &fails);
    }
    {   /* nothing retrieved */
        int ideal[] = { 2 };
        tests += 3;
        check("empty ndcg", metric_ndcg(NULL, 0, ideal, 1, 10), 0, &fails);
        check("empty recall", metric_recall(NULL, 0, 1, 100), 0, &fails);
        check("empty ap", metric_ap(NULL, 0, 1), 0, &fails);
    }
    {   /* cut-offs: the one relevant document at rank 11, then at rank 101 */
        int r[150] = { 0 }, ideal[] = { 1 };
        r[10] = 1;
        tests += 3;
        check("ndcg@10 cut", metric_ndcg(r, 150, ideal, 1, 10), 0, &fails);
        check("recall@100 at 11", metric_recall(r, 150, 1, 100), 1, &fails);
        check("ap at 11", metric_ap(r, 150, 1), 1.0 / 11, &fails);
        r[10] = 0;
        r[100] = 1;
        tests += 2;
        check("recall@100 cut", metric_recall(r, 150, 1, 100), 0, &fails);
        check("ap at 101", metric_ap(r, 150, 1), 1.0 / 101, &fails);
    }
    {   /* ideal ordering is by grade whatever the qrels order */
        int ideal[] = { 1, 3, 2 }, r[] = { 3, 2, 1 };
        qsort(ideal, 3, sizeof *ideal, cmp_int_desc);
        tests++;
        check("ideal sorted", metric_ndcg(r, 3, ideal, 3, 10), 1.0, &fails);
    }
    {   /* top-k: ties go to the lower document number, whatever the input order */
        double score[] = { 1.0, 2.0, 2.0, 0.5, 2.0, 3.0 };
        uint32_t cand[] = { 4, 3, 2, 0, 5, 1 };
        eval_hit out[6];
        static const uint32_t want3[] = { 5, 1, 2 }, want6[] = { 5, 1, 2, 4, 0, 3 };
        size_t n = select_top(cand, 6, score, 3, out);
        tests++;
        int ok = n == 3;
        for (size_t i = 0; ok && i < 3; i++) ok = out[i].doc == want3[i];
        if (!ok) { fprintf(stderr, "selftest: top-3 order wrong\n"); fails++; }
        n = select_top(cand, 6, score, 10, out);
        tests++;
        ok = n == 6;
        for (size_t i = 0; ok && i < 6; i++) ok = out[i].doc == want6[i];
        if (!ok) { fprintf(stderr, "selftest: top-10 of 6 order wrong\n"); fails++; }
        tests++;
        if (select_top(cand, 6, score, 0, out) != 0) { fprintf(stderr, "selftest: top-0 kept hits\n"); fails++; }
    }
    printf("%d passed, %d failed\n", tests - fails, fails);
    return fails ? 1 : 0;
}

/* ===================================================================== */
/* main                                                                  */
/* ===================================================================== */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = (float)v;
    return 0;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Build an index of corpus at out.  Returns 0 or -1 with the error printed. */
static int build_index(const cpq_build_opts *o, const char *corpus, const char *out)
{
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    cpq_builder *b = NULL;
    cpq_input_stats st;
    memset(&st, 0, sizeof st);
    int rc = cpq_builder_create(o, out, &b, &e);
    if (!rc) rc = cpq_input_add(b, corpus, CPQ_FMT_JSONL, 0, &st, &e);
    if (!rc) rc = cpq_builder_finish(b, &e);
    if (rc) fprintf(stderr, "cpq-eval: building the index: %s\n", e.msg[0] ? e.msg : cpq_err_str(rc));
    else if (st.repaired)
        fprintf(stderr, "cpq-eval: %s: %llu invalid UTF-8 sequences repaired\n", corpus, (unsigned long long)st.repaired);
    cpq_builder_free(b);
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "passage-words", required_argument, 0, 'w' }, { "threads", required_argument, 0, 'j' },
        { "language", required_argument, 0, 'l' },      { "strip-accents", no_argument, 0, 'A' },
        { "index", required_argument, 0, 'I' },         { "keep-index", required_argument, 0, 'K' },
        { "k1", required_argument, 0, 'k' },            { "b", required_argument, 0, 'b' },
        { "dup", required_argument, 0, 'D' },           { "run", required_argument, 0, 'R' },
        { "selftest", no_argument, 0, 'S' },            { "help", no_argument, 0, 'h' },
        { "ranker", required_argument, 0, 'G' },
        { 0, 0, 0, 0 },
    };
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    const char *index_path = NULL, *keep_path = NULL, *run_path = NULL;
    float k1 = CPQ_BM25_K1, b = CPQ_BM25_B;
    int dup_sum = 0, build_opts_given = 0, exhaustive = 0, c;
    unsigned long v;
    while ((c = getopt_long(argc, argv, "w:j:l:h", lo, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (parse_uint(optarg, 8, 100000, &v)) {
                fprintf(stderr, "cpq-eval: --passage-words: '%s' is not a number from 8 to 100000\n", optarg);
                return EXIT_USAGE;
            }
            o.passage_words = (uint32_t)v;
            build_opts_given = 1;
            break;
        case 'j':
            if (parse_uint(optarg, 1, 64, &v)) {
                fprintf(stderr, "cpq-eval: --threads: '%s' is not a number from 1 to 64\n", optarg);
                return EXIT_USAGE;
            }
            o.threads = (int)v;
            break;
        case 'l':
            if (strlen(optarg) >= CPQ_LANG_MAX) { fprintf(stderr, "cpq-eval: --language: name too long\n"); return EXIT_USAGE; }
            snprintf(o.analysis.language, sizeof o.analysis.language, "%s", optarg);
            build_opts_given = 1;
            break;
        case 'A': o.analysis.strip_accents = 1; build_opts_given = 1; break;
        case 'I': index_path = optarg; break;
        case 'K': keep_path = optarg; break;
        case 'k':
            if (parse_float(optarg, 0, 100, &k1)) { fprintf(stderr, "cpq-eval: --k1: '%s' is not a number from 0 to 100\n", optarg); return EXIT_USAGE; }
            break;
        case 'b':
            if (parse_float(optarg, 0, 1, &b)) { fprintf(stderr, "cpq-eval: --b: '%s' is not a number from 0 to 1\n", optarg); return EXIT_USAGE; }
            break;
        case 'D':
            if (!strcmp(optarg, "distinct")) dup_sum = 0;
            else if (!strcmp(optarg, "sum")) dup_sum = 1;
            else { fprintf(stderr, "cpq-eval: --dup: '%s' is not distinct or sum\n", optarg); return EXIT_USAGE; }
            break;
        case 'R': run_path = optarg; break;
        case 'G':
            if (!strcmp(optarg, "engine")) exhaustive = 0;
            else if (!strcmp(optarg, "exhaustive")) exhaustive = 1;
            else { fprintf(stderr, "cpq-eval: --ranker: '%s' is not engine or exhaustive\n", optarg); return EXIT_USAGE; }
            break;
        case 'S': return selftest();
        case 'h': printf(usage, CPQ_PASSAGE_WORDS_DEFAULT, (double)CPQ_BM25_K1, (double)CPQ_BM25_B); return 0;
        default: fprintf(stderr, "Try 'cpq-eval --help'.\n"); return EXIT_USAGE;
        }
    }
    const char *dir = optind < argc ? argv[optind++] : getenv("CPQ_EVAL_DIR");
    if (!dir || !*dir || optind < argc) {
        fprintf(stderr, "cpq-eval: %s\nTry 'cpq-eval --help'.\n", optind < argc ? "one DIR only" : "no DIR given");
        return EXIT_USAGE;
    }
    if (index_path && (keep_path || build_opts_given)) {
        fprintf(stderr, "cpq-eval: --index reuses an index as it was built; it takes no --keep-index, "
                        "--passage-words, --language or --strip-accents\n");
        return EXIT_USAGE;
    }

    int status = 1;
    char *corpus = path_join(dir, "corpus.jsonl"), *queries = path_join(dir, "queries.jsonl");
    char *qrels = path_join(dir, "qrels/test.tsv");
    char tmpdir[4096] = "", tmpindex[4096 + 16] = "";
    collection col;
    memset(&col, 0, sizeof col);
    cpq_index *ix = NULL;
    ranker *rk = NULL;
    FILE *run = NULL;
    eval_hit *hits = NULL;
    int *ranked = NULL, *ideal = NULL, *dgrade = NULL;
    if (!corpus || !queries || !qrels) { fprintf(stderr, "cpq-eval: out of memory\n"); goto done; }

    /* Judgments and queries first: a bad file fails before the build. */
    if (load_qrels(qrels, &col) || load_queries(queries, &col)) goto done;
    size_t nskip = 0, maxj = 0;
    for (size_t i = 0; i < col.nq; i++) {
        equery *q = &col.q[i];
        if (!q->nrel) { nskip++; continue; }
        if (q->n > maxj) maxj = q->n;
        if (!q->text) {
            fprintf(stderr, "cpq-eval: %s: query '%s' is judged in %s but not in %s\n", queries, q->qid, qrels, queries);
            goto done;
        }
    }

    double t0 = now();
    if (!index_path) {
        if (keep_path) index_path = keep_path;
        else {
            const char *t = getenv("TMPDIR");
            snprintf(tmpdir, sizeof tmpdir, "%s/cpq-eval.XXXXXX", t && *t ? t : "/tmp");
            if (!mkdtemp(tmpdir)) {
                fprintf(stderr, "cpq-eval: cannot create a temporary directory %s: %s\n", tmpdir, strerror(errno));
                tmpdir[0] = 0;
                goto done;
            }
            snprintf(tmpindex, sizeof tmpindex, "%s/index.cpqx", tmpdir);
            index_path = tmpindex;
        }
        if (build_index(&o, corpus, index_path)) goto done;
    }
    double t1 = now();
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    int rc = cpq_index_open(index_path, CPQ_OPEN_DEFAULT, &ix, &e);
    if (rc) { fprintf(stderr, "cpq-eval: %s: %s\n", index_path, e.msg[0] ? e.msg : cpq_err_str(rc)); goto done; }
    const cpq_index_info *info = cpq_index_get_info(ix);
    rc = ranker_create(ix, k1, b, dup_sum, &rk, &e);
    if (!rc) rk->exhaustive = exhaustive;
    if (rc) { fprintf(stderr, "cpq-eval: %s: %s\n", index_path, e.msg[0] ? e.msg : cpq_err_str(rc)); goto done; }

    /* Judged documents by number; those not in the corpus still count as
     * relevant (recall's denominator, the ideal DCG), as in trec_eval. */
    size_t nabsent = 0;
    for (size_t i = 0; i < col.nj; i++) {
        judgment *j = &col.j[i];
        rc = cpq_index_doc_find(ix, j->did, strlen(j->did), &j->doc);
        if (rc == CPQ_ENOTFOUND) { j->doc = EVAL_NO_DOC; nabsent++; }
        else if (rc) { fprintf(stderr, "cpq-eval: %s: %s\n", index_path, cpq_err_str(rc)); goto done; }
    }
    if (nabsent) fprintf(stderr, "cpq-eval: %zu judged documents are not in %s\n", nabsent, corpus);

    if (run_path && !(run = fopen(run_path, "w"))) {
        fprintf(stderr, "cpq-eval: %s: %s\n", run_path, strerror(errno));
        goto done;
    }
    hits = malloc(EVAL_DEPTH * sizeof *hits);
    ranked = malloc(EVAL_DEPTH * sizeof *ranked);
    ideal = malloc((maxj ? maxj : 1) * sizeof *ideal);
    dgrade = calloc(info->docs ? info->docs : 1, sizeof *dgrade);
    if (!hits || !ranked || !ideal || !dgrade) { fprintf(stderr, "cpq-eval: out of memory\n"); goto done; }

    double sum_ndcg = 0, sum_recall = 0, sum_ap = 0;
    size_t nq = 0;
    for (size_t i = 0; i < col.nq; i++) {
        equery *q = &col.q[i];
        if (!q->nrel) continue;
        size_t n;
        rc = rank_query(rk, q->text, q->len, hits, EVAL_DEPTH, &n, &e);
        if (rc) { fprintf(stderr, "cpq-eval: query '%s': %s\n", q->qid, e.msg[0] ? e.msg : cpq_err_str(rc)); goto done; }
        for (size_t k = 0; k < q->n; k++) {
            const judgment *j = &col.j[q->first + k];
            ideal[k] = j->grade;
            if (j->doc != EVAL_NO_DOC) dgrade[j->doc] = j->grade;
        }
        qsort(ideal, q->n, sizeof *ideal, cmp_int_desc);
        for (size_t k = 0; k < n; k++) ranked[k] = dgrade[hits[k].doc];
        for (size_t k = 0; k < q->n; k++)
            if (col.j[q->first + k].doc != EVAL_NO_DOC) dgrade[col.j[q->first + k].doc] = 0;
        sum_ndcg += metric_ndcg(ranked, n, ideal, q->n, EVAL_NDCG_CUT);
        sum_recall += metric_recall(ranked, n, q->nrel, EVAL_RECALL_CUT);
        sum_ap += metric_ap(ranked, n, q->nrel);
        nq++;
        for (size_t k = 0; run && k < n; k++) {
            cpq_doc_info di;
            if (cpq_index_doc(ix, hits[k].doc, &di)) continue;
            fprintf(run, "%s Q0 %.*s %zu %.6f cpq-eval\n", q->qid, (int)di.idlen, di.id, k + 1, hits[k].score);
        }
    }
    double t2 = now();
    if (run && fclose(run)) {
        run = NULL;
        fprintf(stderr, "cpq-eval: %s: %s\n", run_path, strerror(errno));
        goto done;
    }
    run = NULL;
    if (!nq) { fprintf(stderr, "cpq-eval: %s: no query has a relevant document\n", qrels); goto done; }
    printf("ndcg@10 %.4f\n", sum_ndcg / (double)nq);
    printf("recall@100 %.4f\n", sum_recall / (double)nq);
    printf("map %.4f\n", sum_ap / (double)nq);
    fprintf(stderr,
            "cpq-eval: %zu queries (%zu without a relevant document skipped); %llu documents, %llu passages "
            "(passage_words %u, %.1f tokens each); %s %s; k1 %.2f b %.2f, repeated query terms %s; "
            "index %.2f s, ranking %.2f s\n",
            nq, nskip, (unsigned long long)info->docs, (unsigned long long)info->passages, info->passage_words,
            (double)info->avg_len, info->analysis.language, info->analysis.strip_accents ? "strip-accents" : "accents kept",
            (double)k1, (double)b, dup_sum ? "summed" : "counted once", t1 - t0, t2 - t1);
    status = 0;
done:
    if (run) fclose(run);
    free(dgrade);
    free(ideal);
    free(ranked);
    free(hits);
    ranker_free(rk);
    cpq_index_close(ix);
    if (tmpindex[0]) unlink(tmpindex);
    if (tmpdir[0]) rmdir(tmpdir);
    collection_free(&col);
    free(qrels);
    free(queries);
    free(corpus);
    return status;
}
