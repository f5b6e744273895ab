/*
 * engine.h - executing a parsed query (query.h) against an index
 * (cpqindex.h): exact BM25 top-k over passages with block-max MaxScore
 * pruning, phrases, NEAR, prefixes, required and excluded clauses,
 * grouping by document.
 *
 * Scores.  A term scores BM25 (bm25.h) with the query's k1 and b.  A
 * phrase scores like one term whose tf is the number of times the phrase
 * occurs and whose idf is the sum of its terms' idfs.  A NEAR scores the
 * sum of its two operands; a prefix the sum of the expansions that match;
 * a BOOL the sum of its matching SHOULD and MUST children, always added in
 * the children's order, so a score does not depend on how it was found.
 *
 * Exactness.  Pruning skips only passages that provably cannot enter the
 * top offset+limit (their upper bound is not above the current k-th
 * score, and ties go to the lower passage number), so pruned results are
 * identical - passages and scores - to exhaustive evaluation
 * (CPQ_SEARCH_EXHAUSTIVE); tests check this.  The match count is exact
 * only when nothing was pruned: `total_exact` says which.
 *
 * Thread safety: a search uses only its own state; any number may run at
 * once on one index.
 */
#ifndef CPQ_ENGINE_H
#define CPQ_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "cpqindex.h"
#include "query.h"

#define CPQ_SEARCH_LIMIT_MAX 10000u     /* offset + limit */
#define CPQ_PREFIX_CAP_DEFAULT 64u      /* expansions of one prefix */
#define CPQ_PREFIX_CAP_MAX 4096u
#define CPQ_WORK_DEFAULT 200000000ull   /* postings and positions visited */

enum {
    CPQ_SEARCH_GROUP = 1,       /* one hit per document: its best passage */
    CPQ_SEARCH_EXACT_COUNT = 2, /* count every match exactly (disables pruning) */
    CPQ_SEARCH_EXHAUSTIVE = 4,  /* no pruning at all (for tests and explain) */
};

typedef struct cpq_search_opts {
    uint32_t limit;          /* hits to return; default 10 */
    uint32_t offset;         /* hits to skip; offset + limit <= CPQ_SEARCH_LIMIT_MAX */
    float k1, b;             /* BM25; defaults CPQ_BM25_K1, CPQ_BM25_B */
    unsigned flags;          /* CPQ_SEARCH_* */
    uint32_t prefix_cap;     /* expansions per prefix; default CPQ_PREFIX_CAP_DEFAULT */
    uint64_t max_work;       /* budget in postings/positions visited; default CPQ_WORK_DEFAULT */
    double max_ms;           /* wall-clock budget in milliseconds; 0 = none */
} cpq_search_opts;

void cpq_search_opts_default(cpq_search_opts *o);

typedef struct cpq_hit {
    uint32_t passage;
    uint32_t doc;
    float score;
} cpq_hit;

typedef struct cpq_results {
    cpq_hit *hits;           /* nhits hits, best first (ties: lower passage/document first) */
    size_t nhits;
    uint64_t total;          /* passages (documents when grouped) that matched */
    int total_exact;         /* 1: total is exact; 0: total is a lower bound */
    int prefix_capped;       /* a prefix had more expansions than the cap */
    int partial;             /* the budget ran out: the best hits found until then */
    uint64_t work;           /* postings and positions visited */
} cpq_results;

/* Run q on ix.  On CPQ_OK, *r holds the results (free with
 * cpq_results_free).  Errors: CPQ_EINVAL (bad options, named in e),
 * CPQ_ENOMEM, CPQ_ECORRUPT (the index is damaged; e names what).  An
 * exhausted budget is not an error: r->partial is set. */
int cpq_search(const cpq_index *ix, const cpq_query *q, const cpq_search_opts *o, cpq_results *r,
               cpq_errinfo *e);

void cpq_results_free(cpq_results *r);

/* ---- explain ---- */

#define CPQ_EXPLAIN_MAX 256      /* leaf contributions reported */
#define CPQ_EXPLAIN_TEXT 256

/* One scoring leaf's part of a passage's score.  For a phrase, df is 0,
 * idf is the sum of its terms' idfs and tf the number of occurrences. */
typedef struct cpq_explain_term {
    char term[CPQ_EXPLAIN_TEXT]; /* the analysed term, or a phrase's terms joined by spaces */
    int phrase;
    uint32_t df;             /* passages containing the term */
    float idf;               /* ln(1 + (N - df + 0.5) / (df + 0.5)) */
    uint32_t tf;             /* occurrences in the passage */
    uint32_t len;            /* the passage's length */
    float norm;              /* k1 * (1 - b + b * len / avg_len) */
    float score;             /* idf * tf * (k1 + 1) / (tf + norm) */
} cpq_explain_term;

typedef struct cpq_explanation {
    uint32_t passage;
    int matched;             /* the passage matches the query */
    int excluded;            /* ... except that a MUST_NOT clause matched */
    float score;             /* what cpq_search gives this passage */
    float k1, b, avg_len;
    uint32_t len;
    cpq_explain_term terms[CPQ_EXPLAIN_MAX];
    size_t nterms;
    int truncated;           /* more than CPQ_EXPLAIN_MAX leaves matched */
} cpq_explanation;

/* Explain passage's score for q with the options' k1 and b (the rest of
 * opts is ignored; NULL means defaults).  Fills *x (no allocation).
 * Returns CPQ_OK (x->matched says whether it matches), CPQ_ENOTFOUND (no
 * such passage), CPQ_EINVAL, CPQ_ENOMEM, CPQ_ECORRUPT. */
int cpq_explain(const cpq_index *ix, const cpq_query *q, uint32_t passage, const cpq_search_opts *opts,
                cpq_explanation *x, cpq_errinfo *e);

#endif
