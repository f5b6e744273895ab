/*
 * bm25.h - the one BM25 formula, shared by the writer (block bounds) and
 * the query engine (scores), so a stored bound is computed by exactly the
 * code that later computes the scores it bounds.
 *
 * idf = ln(1 + (N - df + 0.5) / (df + 0.5))       (Lucene's, never negative)
 * w   = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))
 */
#ifndef CPQ_BM25_H
#define CPQ_BM25_H

#include <math.h>
#include <stdint.h>

#include "format.h" /* CPQ_BM25_K1, CPQ_BM25_B */

static inline float cpq_bm25_idf(uint64_t n, uint64_t df)
{
    return (float)log(1.0 + ((double)n - (double)df + 0.5) / ((double)df + 0.5));
}

static inline float cpq_bm25(float idf, uint32_t tf, uint32_t len, float avglen, float k1, float b)
{
    float t = (float)tf;
    float norm = k1 * (1.0f - b + b * (float)len / avglen);
    return idf * (t * (k1 + 1.0f)) / (t + norm);
}

/* A float strictly not below x: stored bounds are rounded up, never down. */
static inline float cpq_round_up(float x) { return nextafterf(x, INFINITY); }

#endif
