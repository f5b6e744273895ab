/*
 * analyze.h - text analysis: UTF-8 text in, index terms out.
 *
 * The same analyser runs when a corpus is indexed and when a query is
 * parsed, and its settings are stored in the index file, so a query is
 * always analysed the way the passages were.
 *
 * Pipeline, per token:
 *   1. Segmentation by Unicode general category (utf8proc): a token is a
 *      maximal run of letters (L*), numbers (N*) and combining marks (M*);
 *      an apostrophe (U+0027 or U+2019) between two letters stays inside the
 *      token (as "'"), so "don't" and "o'neill" are one token each.
 *      Everything else separates tokens.
 *   2. Normalisation: NFKC and Unicode case folding; with strip_accents,
 *      combining marks are removed after NFKD (e.g. "Café" -> "cafe").
 *      ASCII-only tokens take a fast path (byte-wise lowercase), which gives
 *      exactly what the full path would.
 *   3. CJK: characters of the Han, Hiragana, Katakana and Hangul scripts form
 *      runs of their own; a run is emitted as overlapping character bigrams
 *      ("東京都" -> "東京", "京都"), and a run of one character as that
 *      character. Each bigram takes one position. CJK bigrams are neither
 *      stemmed nor stopworded.
 *   4. Stopwords: a folded (unstemmed) token found in the stopword list is
 *      dropped, but still consumes a position, so phrases stay aligned.
 *   5. Stemming with the Snowball stemmer of the configured language
 *      (libstemmer), unless the language is "none".
 *
 * Tokens longer than CPQ_TERM_MAX bytes after normalisation are dropped
 * (they consume a position); nothing is ever truncated silently into
 * another word.
 *
 * Thread safety: an analyser holds a stemmer, which is not thread-safe;
 * use one analyser per thread.
 */
#ifndef CPQ_ANALYZE_H
#define CPQ_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "cpq_error.h"

#define CPQ_TERM_MAX 64          /* longest term kept, in bytes */
#define CPQ_LANG_MAX 32          /* longest language name */

typedef struct cpq_analysis_cfg {
    char language[CPQ_LANG_MAX]; /* "english" (default), "russian", "none", or any libstemmer language */
    int strip_accents;           /* 1: remove combining marks (NFKD then drop M*), 0: keep */
    const char *stopwords;       /* whitespace-separated words (folded like tokens), or NULL/"" for none */
} cpq_analysis_cfg;

/* Fill *cfg with the defaults: english, strip_accents=0, no stopwords. */
void cpq_analysis_cfg_default(cpq_analysis_cfg *cfg);

typedef struct cpq_analyzer cpq_analyzer;

/* Create an analyser.  Returns CPQ_OK and sets *out, or CPQ_ELANG when
 * libstemmer has no such language, CPQ_EINVAL for a bad cfg, CPQ_ENOMEM;
 * on error *out is NULL and e (if not NULL) says why.  The analyser copies
 * what it needs from cfg (the stopwords string may be freed afterwards). */
int cpq_analyzer_create(const cpq_analysis_cfg *cfg, cpq_analyzer **out, cpq_errinfo *e);

/* Create the prefix analyser that goes with an index analysed with cfg
 * (query.h, cpq_query_parse's prefix_an; snippet.h): cfg's folding
 * (strip_accents), language "none", no stopwords.  Returns as
 * cpq_analyzer_create. */
int cpq_analyzer_create_prefix(const cpq_analysis_cfg *cfg, cpq_analyzer **out, cpq_errinfo *e);

/* Free an analyser; NULL is accepted. */
void cpq_analyzer_free(cpq_analyzer *a);

typedef struct cpq_token {
    const char *term;  /* the analysed term, NOT NUL-terminated; valid only during the callback */
    size_t len;        /* 1..CPQ_TERM_MAX */
    uint32_t pos;      /* position: pos0 + number of positions consumed before this token */
    size_t start, end; /* byte range [start, end) of the source token in the input text */
} cpq_token;

/* Called once per emitted term, in text order.  Return 0 to continue; any
 * other value stops analysis and is returned by cpq_analyze. */
typedef int (*cpq_token_fn)(void *ctx, const cpq_token *tok);

/* Analyse text[0..len) (valid UTF-8 is expected; invalid bytes are treated
 * as separators, never read past len).  Positions start at pos0.  If npos
 * is not NULL it receives the next free position: pos0 plus the positions
 * consumed (emitted terms plus dropped stopwords and overlong tokens); when
 * the callback stops the analysis, the position after the token it stopped
 * on.  The callback must not call cpq_analyze with the same analyser.
 * Returns CPQ_OK, CPQ_ENOMEM, or the callback's non-zero value. */
int cpq_analyze(cpq_analyzer *a, const char *text, size_t len, uint32_t pos0,
                cpq_token_fn fn, void *ctx, uint32_t *npos);

/* ---- Sparse analysis (for snippet.c) ----
 *
 * A snippet needs only the tokens that may match the query, and most of a
 * passage's words cannot: cpq_analyze_sparse skips them before the
 * stopword look-up and stemming (a plain ASCII word, before anything but
 * finding its end), which is most of cpq_analyze's cost.  The caller names
 * the strings it wants (query terms and prefixes) in a filter; every token
 * whose term starts with one of them - or whose folded, unstemmed form
 * does - is passed to the callback exactly as cpq_analyze passes it, and
 * in the same order; other tokens may or may not be.  A skipped token
 * consumes its position like any other, so positions are those of
 * cpq_analyze, and so is *npos.  CJK terms and tokens whose folded form
 * starts with an apostrophe are never skipped.
 *
 * The test looks at the folded token f before stemming: its first byte,
 * its length and its first two bytes must fit some wanted string.  That is
 * exact only if the stem t of f is no longer than f and keeps f's first
 * two bytes (its first byte if t is one byte long), which Snowball's
 * english stemmer does but for three words the filter knows (see
 * analyze.c), and "none" does trivially; with any other language nothing
 * is skipped. */
typedef struct cpq_sparse_filter {
    uint8_t need[256];   /* private: by first byte, the shortest wanted length; 0: none */
    uint8_t pair[32];    /* private: bit set per wanted first two bytes (hashed) */
} cpq_sparse_filter;

/* Add s[0..len) (1 <= len <= CPQ_TERM_MAX) to f, which must have been
 * zeroed before the first add. */
void cpq_sparse_filter_add(cpq_sparse_filter *f, const char *s, size_t len);

/* cpq_analyze, skipping tokens that start with no string of f as described
 * above; the same results and return values. */
int cpq_analyze_sparse(cpq_analyzer *a, const char *text, size_t len, uint32_t pos0,
                       const cpq_sparse_filter *f, cpq_token_fn fn, void *ctx, uint32_t *npos);

/* 1 if a and b fold text identically (the same normalisation options), so
 * that the same byte range gives the same folded token in both; else 0. */
int cpq_analyzer_same_fold(const cpq_analyzer *a, const cpq_analyzer *b);

/* The NUL-terminated list of libstemmer's language names (static storage). */
const char **cpq_analyzer_languages(void);

#endif
