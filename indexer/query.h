/*
 * query.h - cpq's query language: query text in, an immutable query tree out.
 *
 * Introduction
 * ------------
 * A query is parsed once into a tree that the search engine executes.
 * The language is Lucene's everyday syntax plus a few operators:
 *
 *   bowel obstruction          bare words: ranked union (BM25), more words matched ranks higher
 *   +python -snake             + required, - excluded
 *   a AND b, a OR b, NOT a     uppercase keywords; "and", "or", "not" are words
 *   (a OR b) c                 grouping
 *   "griffith observatory"     exact phrase
 *   a NEAR/3 "b c"             at most 3 words between the two operands, either order
 *   cyber*                     prefix (expanded by the engine)
 *
 * QUERY.md beside this file is the normative description: the grammar in
 * EBNF, precedence, how mixed operators combine, what analysis does to each
 * construct, the limits and every error.  This header is the API manual.
 *
 * Words and phrases go through the index's analyser (analyze.h), so a query
 * term is spelt exactly as the index spells it: folded, stemmed, CJK split
 * into bigrams.  A word that analyses into several terms ("e-mail",
 * "x86_64", "東京都") becomes a phrase; a word that analyses into nothing (a
 * stopword, punctuation) disappears together with whatever operator was
 * applied to it.  Prefixes are folded by a second, non-stemming analyser.
 *
 * Conventions
 * -----------
 * - Functions returning int return CPQ_OK (0) or a code from cpq_error.h,
 *   and write a one-line message into `e` (which may be NULL).  Messages
 *   about the query text start with "column N:", N being the 1-based
 *   character (UTF-8 code point; an invalid byte counts as one) of the
 *   offending construct.
 * - A cpq_query owns its whole tree, allocated in one arena; the tree is
 *   immutable and may be read by any number of threads.  It does not keep
 *   a pointer to the query text: byte ranges are offsets into it.
 * - Nothing here prints or exits.
 */
#ifndef CPQ_QUERY_H
#define CPQ_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "cpq_error.h"

/* ---------------------------------------------------------------------- */
/* Limits (exceeding one is CPQ_ELIMIT)                                    */
/* ---------------------------------------------------------------------- */

#define CPQ_QUERY_MAX_BYTES 4096u /* longest query text */
#define CPQ_QUERY_MAX_DEPTH 32u   /* deepest nesting of parentheses */
#define CPQ_QUERY_MAX_TERMS 256u  /* leaf terms after analysis (a phrase counts each of its terms) */
#define CPQ_QUERY_MAX_NEAR 1000u  /* largest k in NEAR/k */

/* ---------------------------------------------------------------------- */
/* The tree                                                                */
/* ---------------------------------------------------------------------- */

/* Node kinds.  The numbers are pinned. */
typedef enum cpq_qkind {
    CPQ_Q_TERM = 0,   /* one analysed term: terms[0] */
    CPQ_Q_PREFIX = 1, /* every indexed term starting with terms[0] (folded, not stemmed) */
    CPQ_Q_PHRASE = 2, /* terms[0..nterms) at their relative positions; nterms >= 2 */
    CPQ_Q_NEAR = 3,   /* children[0] and children[1] (TERM or PHRASE) within `distance` words */
    CPQ_Q_BOOL = 4,   /* children combined by their occur, as Lucene's BooleanQuery */
} cpq_qkind;

/* A node's role in its parent BOOL.  The numbers are pinned.
 *   A BOOL matches a passage when every MUST child matches, no MUST_NOT
 *   child matches, and - if it has no MUST child - at least one SHOULD
 *   child matches.  Its score is the sum of the scores of the SHOULD and
 *   MUST children that match; MUST_NOT children never score.
 * The parser guarantees that every BOOL except an empty root has at least
 * one SHOULD or MUST child, and - as every child holds at least one leaf
 * term - at most CPQ_QUERY_MAX_TERMS children.  The root's occur and the occur of NEAR's
 * children are meaningless and set to SHOULD and MUST respectively. */
typedef enum cpq_occur {
    CPQ_OCCUR_SHOULD = 0,
    CPQ_OCCUR_MUST = 1,
    CPQ_OCCUR_MUST_NOT = 2,
} cpq_occur;

typedef struct cpq_qterm {
    const char *bytes; /* the term: UTF-8, 1..CPQ_TERM_MAX bytes, NUL-terminated for convenience */
    size_t len;        /* strlen(bytes) */
    uint32_t pos;      /* PHRASE: position relative to the first term (terms[0].pos == 0,
                          strictly increasing; a gap means the analyser dropped a stopword
                          there, so the engine must match the gap exactly); otherwise 0 */
} cpq_qterm;

typedef struct cpq_qnode cpq_qnode;
struct cpq_qnode {
    cpq_qkind kind;
    cpq_occur occur;             /* role in the parent BOOL */
    size_t start, end;           /* byte range [start, end) of the node's source in the query
                                    text, without a +, - or NOT applied to it; the root spans
                                    the whole text */
    const cpq_qterm *terms;      /* TERM, PREFIX: 1 term; PHRASE: nterms >= 2; else NULL */
    size_t nterms;
    uint32_t distance;           /* NEAR: k of NEAR/k, 0..CPQ_QUERY_MAX_NEAR; else 0 */
    const cpq_qnode *children;   /* NEAR: 2; BOOL: nchildren (0 only for an empty root); else NULL */
    size_t nchildren;
};

/* ---------------------------------------------------------------------- */
/* Parsing                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct cpq_query cpq_query;

/* Flags for cpq_query_parse. */
#define CPQ_QUERY_ALL_WORDS 1u /* bare clauses (no +, -, NOT) are MUST instead of SHOULD */

/* Parse text[0..len) (UTF-8; invalid bytes are tolerated and never read
 * past len; text need not be NUL-terminated).
 *
 * an analyses words and phrases: it must be the analyser the index was
 * built with.  prefix_an folds prefixes: create it with
 * cpq_analyzer_create_prefix (analyze.h) from the index's settings
 * (language "none", the index's strip_accents, no stopwords).  Neither is used after the
 * call returns; both must not be in use by another thread during it.
 * flags: 0 or CPQ_QUERY_ALL_WORDS.
 *
 * Returns CPQ_OK and sets *out to a new query (free it with
 * cpq_query_free), or on error leaves *out NULL and returns:
 *   CPQ_EPARSE  the text is malformed; e says what and at which column
 *   CPQ_ELIMIT  a limit above was exceeded; e says which (and where)
 *   CPQ_EINVAL  a NULL argument or an unknown flag
 *   CPQ_ENOMEM  an allocation failed
 * A query every positive word of which vanished in analysis (e.g. "the"
 * with "the" a stopword) is not an error: its root is an empty BOOL, which
 * matches nothing. */
int cpq_query_parse(const char *text, size_t len, cpq_analyzer *an, cpq_analyzer *prefix_an,
                    unsigned flags, cpq_query **out, cpq_errinfo *e);

/* Free a query and its whole tree; NULL is accepted. */
void cpq_query_free(cpq_query *q);

/* The root: always a BOOL, valid until cpq_query_free.  Never NULL for a
 * query returned by cpq_query_parse. */
const cpq_qnode *cpq_query_root(const cpq_query *q);

/* Number of leaf terms in the tree (TERM and PREFIX count one, PHRASE its
 * nterms); at most CPQ_QUERY_MAX_TERMS. */
size_t cpq_query_nterms(const cpq_query *q);

/* Render the tree in a canonical S-expression, e.g.
 *   (bool (must (term "russia")) (should (phrase "internet" "sovereignti"))
 *         (must_not (prefix "cyb")))
 * on one line with single spaces.  Every child of a BOOL is wrapped in its
 * occur; a phrase term whose position is not the previous one plus 1 is
 * followed by @pos ("state" "art"@3); NEAR is (near k A B); an empty root
 * is (bool).  In strings, '"' and '\' are escaped with '\', other bytes
 * below 0x20 and 0x7f as \xHH; all other bytes are copied.
 * Writes at most cap bytes including a terminating NUL (nothing when cap is
 * 0) and returns the length of the full rendering, as snprintf does: the
 * output was truncated when the result is >= cap. */
size_t cpq_query_format(const cpq_query *q, char *buf, size_t cap);

/* Short stable names: "term", "prefix", "phrase", "near", "bool" and
 * "should", "must", "must_not"; "?" for other values. */
const char *cpq_qkind_name(cpq_qkind k);
const char *cpq_occur_name(cpq_occur o);

#endif
