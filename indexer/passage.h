/*
 * passage.h - splitting a document into passages.
 *
 * Rules (the same for every input format):
 *   - Paragraphs are separated by one or more blank lines (a line holding
 *     only whitespace counts as blank); "\r\n" is handled like "\n".
 *   - Consecutive paragraphs are packed into one passage while the passage
 *     stays within max_words words, so a heading is kept with the text that
 *     follows it and short records stay one passage.
 *   - A paragraph longer than max_words is split at sentence boundaries
 *     (". ", "! ", "? " and their CJK full-width forms, followed by
 *     whitespace or end of text) into windows of at most max_words words,
 *     greedily; a single sentence longer than max_words is cut at a word
 *     boundary every max_words words.
 *   - Passage ranges are trimmed of leading and trailing whitespace, never
 *     overlap, are in text order, and never split a UTF-8 sequence.  A text
 *     with no non-whitespace byte yields no passages.
 *
 * A "word" here is a maximal run of letters, numbers and marks (by Unicode
 * category, via utf8proc); each CJK character counts as one word.  This is a
 * cheap count for sizing windows, not the analyser's tokenisation.
 */
#ifndef CPQ_PASSAGE_H
#define CPQ_PASSAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cpq_span {
    size_t start; /* byte offset in the text */
    size_t len;   /* byte length, > 0 */
} cpq_span;

/* A growable array of spans; zero-initialise, free with cpq_spans_free. */
typedef struct cpq_spans {
    cpq_span *v;
    size_t n, cap;
} cpq_spans;

void cpq_spans_free(cpq_spans *s);

/* Split text[0..len) into passages of at most max_words words (max_words >= 1)
 * and append them to *out (which is NOT cleared first).
 * Returns 0, or -1 on allocation failure (out keeps what it had). */
int cpq_passage_split(const char *text, size_t len, uint32_t max_words, cpq_spans *out);

#endif
