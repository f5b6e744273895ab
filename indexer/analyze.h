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

/* The NUL-terminated list of libstemmer's language names (static storage). */
const char **cpq_analyzer_languages(void);

#endif
