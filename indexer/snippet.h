/*
 * snippet.h - the best window of a passage for a query, with highlights.
 *
 * Introduction
 * ------------
 * A search hit (engine.h) names a passage; cpq_fetch_passage (cpqindex.h)
 * gives its text.  cpq_snippet re-analyses that text, finds what the
 * query matched in it, chooses the window of at most max_bytes bytes that
 * shows the most of it, and returns the window as a byte range of the
 * passage plus highlight spans relative to the window.  It inserts no
 * bytes: ellipses and highlight markers are the caller's, and
 * cpq_snippet_render is a helper for the common case.
 *
 * Speed: the text is analysed sparsely (analyze.h, cpq_analyze_sparse):
 * words that cannot match any query term are recognised from their first
 * two bytes and length and are never folded or stemmed, which takes a
 * passage from 6.8 to 2.4 us on gcide's hits.  That is exact because the
 * english stemmer keeps a word's first two bytes and never lengthens it
 * (three exceptions, handled); tests/test_analyze.c checks the property
 * against the installed libstemmer and the result against full analysis.
 * For other languages every word is analysed.
 *
 * What is highlighted
 * -------------------
 * Only the query's positive leaves: a leaf under a MUST_NOT clause (at any
 * depth) is never highlighted.  The passage is analysed with `an`, which
 * must be the analyser the index (and the query) used; each token then
 * carries its analysed term, its position and its source byte range.
 *   TERM    every token whose analysed term equals the leaf's term (so the
 *           query "running" highlights "runs": both stem to "run").
 *   PREFIX  every token whose analysed (stemmed) term starts with the prefix
 *           - exactly what the engine expands - and, when prefix_an is
 *           given, every token whose folded, unstemmed form (prefix_an's
 *           term for the same byte range) does, so "runn*" highlights
 *           "running" although its stem is "run".  A token the index never
 *           saw (a stopword, an overlong word) is never highlighted.  The
 *           engine caps prefix expansions (prefix_cap); this does not, so it
 *           may highlight a word whose term was past the cap.
 *   PHRASE  every occurrence of the terms at exactly the phrase's relative
 *           positions (a stopword gap must be a gap in the text too); the
 *           occurrence is ONE span, from its first token's start to its last
 *           token's end, including what lies between.
 *   NEAR    every occurrence of either operand (a term or a whole phrase)
 *           that has an occurrence of the other operand at most `distance`
 *           words away, the engine's rule; an occurrence with no partner is
 *           not highlighted.
 * A word that is part of a phrase or NEAR match and is not a leaf of its
 * own is highlighted only inside those matches: for "new york" city, a lone
 * "york" is plain text, for "new york" york it is highlighted.
 * Overlapping or touching matches are merged into one span (CJK bigrams
 * overlap, so a run of matched bigrams becomes one span over the
 * characters), so spans are sorted, disjoint and never adjacent.
 *
 * The window
 * ----------
 * When max_bytes is 0 or the passage is at most max_bytes long, the window
 * is the whole passage.  Otherwise every window [s, s + max_bytes) whose s
 * is the start of a match is scored by the matches lying wholly inside it:
 * first the number of distinct query leaves matched (each leaf weighs 1),
 * then the number of matches.  That is, one more distinct leaf always beats
 * any number of repetitions.  The best score wins; ties go to the earliest
 * window.  The matched region is then centred in the window, the window is
 * clamped to the passage, and its edges are moved inwards (by at most a
 * quarter of max_bytes, never into the matched region) so that it starts
 * at the beginning of a word and ends at the end of one, without leading or
 * trailing white space.  Edges never split a valid UTF-8 sequence.  When
 * nothing matches (the query had only negative words, or the match came
 * from a prefix expansion whose term the text does not show), the window
 * starts at the passage start.  When every match is longer than the window
 * (a long phrase in a small window) the window starts at the first match
 * (or ends at the passage end, if that is nearer), and that match's span is
 * cut at the window's edge.  Matches crossing a
 * window edge are always cut to the window.
 *
 * Limits and cost
 * ---------------
 * Work is linear in the text plus, per token, a few hash look-ups (one per
 * distinct prefix length of the query), plus sorting the matches; phrases
 * and NEAR look only at the occurrences of their own terms.  The text is
 * analysed twice when the query has a prefix and prefix_an is given.
 * Measured (-O2, one core, a 1 MiB passage): 30 MB/s for one term,
 * 17 MB/s for a phrase, 5 MB/s for four prefixes matching a third of the
 * words (sorting 10^5..10^6 matches dominates); a 200-word passage takes
 * microseconds.  Only the first CPQ_SNIPPET_MAX_TOKENS tokens are matched
 * and at most CPQ_SNIPPET_MAX_MATCHES matches are kept: past either limit
 * `partial` is set and the rest of the text is shown unhighlighted (the
 * window may still be placed there).  Scratch memory is about 30 bytes per
 * token and 40 per match, freed before the call returns.
 * Any bytes are accepted: invalid UTF-8 separates tokens, nothing is read
 * past len.
 *
 * Thread safety: the analysers are used during the call (an analyser is
 * not thread-safe: one per thread); the query is only read.
 */
#ifndef CPQ_SNIPPET_H
#define CPQ_SNIPPET_H

#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "cpq_error.h"
#include "query.h"

#define CPQ_SNIPPET_MIN_BYTES 16u         /* smallest max_bytes (other than 0) */
#define CPQ_SNIPPET_MAX_BYTES 65536u      /* largest max_bytes */
#define CPQ_SNIPPET_MAX_TOKENS (1u << 18) /* tokens matched per passage */
#define CPQ_SNIPPET_MAX_MATCHES (1u << 20) /* matches kept per passage */

/* One highlight: bytes [start, start + len) of the window, i.e. of
 * text + out->start. */
typedef struct cpq_span_hl {
    uint32_t start, len;
} cpq_span_hl;

/* The result of cpq_snippet.  Zero it before the first use
 * (`cpq_snippet_out o = {0};`); it may then be passed to any number of
 * calls, each of which overwrites it and reuses its span array, and must
 * finally be released with cpq_snippet_out_free.  Read the fields, never
 * write them. */
typedef struct cpq_snippet_out {
    size_t start, end;     /* the window: bytes [start, end) of the passage text */
    int ellipsis_start;    /* 1: start > 0, text before the window was left out */
    int ellipsis_end;      /* 1: end < len, text after the window was left out */
    cpq_span_hl *spans;    /* nspans highlights: sorted, disjoint, not adjacent, inside the window */
    size_t nspans;
    size_t matched;        /* distinct query leaves highlighted (wholly or in part) in the window */
    int partial;           /* a limit above was reached: later text was not matched */
    size_t cap_;           /* private: allocated spans */
} cpq_snippet_out;

/* Compute the snippet of text[0..len) (the passage's text; any bytes; it
 * need not be NUL-terminated and may be NULL when len is 0) for q.
 *
 * an must be the analyser q was parsed with (and the index built with).
 * prefix_an is the analyser q's prefixes were folded with (language
 * "none", the index's strip_accents, no stopwords), or NULL to match
 * prefixes against stemmed terms only.  max_bytes is 0 (the whole passage)
 * or CPQ_SNIPPET_MIN_BYTES..CPQ_SNIPPET_MAX_BYTES.
 *
 * Returns CPQ_OK with *out filled in, or:
 *   CPQ_EINVAL  a NULL argument, or max_bytes out of range
 *   CPQ_ELIMIT  max_bytes is 0 and the passage is longer than 4 GiB - 1
 *   CPQ_ENOMEM  an allocation failed (in here or in the stemmer)
 * and e (if not NULL) says why.  On error *out is an empty window at 0
 * with no spans (its span array is kept for cpq_snippet_out_free). */
int cpq_snippet(cpq_analyzer *an, cpq_analyzer *prefix_an, const cpq_query *q, const char *text,
                size_t len, size_t max_bytes, cpq_snippet_out *out, cpq_errinfo *e);

/* Release out's span array and zero *out; NULL is accepted. */
void cpq_snippet_out_free(cpq_snippet_out *out);

/* Render the window of s over text[0..len) (the text s was computed on)
 * into buf: `ellipsis` if s->ellipsis_start, then the window's bytes with
 * `open` before and `close` after every span, then `ellipsis` if
 * s->ellipsis_end.  NULL strings count as "".  Nothing is escaped: the
 * markers and text are copied as they are.  Ranges outside text[0..len)
 * are clipped, never read.  Writes at most cap bytes including a
 * terminating NUL (nothing when cap is 0) and returns the length of the
 * full rendering, as snprintf does: the output was truncated when the
 * result is >= cap. */
size_t cpq_snippet_render(const cpq_snippet_out *s, const char *text, size_t len,
                          const char *open, const char *close, const char *ellipsis,
                          char *buf, size_t cap);

#endif
