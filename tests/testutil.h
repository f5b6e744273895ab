/* testutil.h - small helpers shared by the Criterion tests. */
#ifndef CPQ_TESTUTIL_H
#define CPQ_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole file; returns malloc'd buffer (NUL-terminated) or NULL. */
char *tu_read_file(const char *path, size_t *len);
/* Write a whole file; returns 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);
/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_tempdir(void);
/* rm -rf path (best effort). */
void tu_rmrf(const char *path);
/* Deterministic PRNG (xorshift64*). */
uint64_t tu_rand(uint64_t *state);

#endif

/* ---- index helpers (link libcpqindex) ---- */
#include "cpqindex.h"

/* A synthetic corpus: deterministic documents over a Zipf-like vocabulary
 * with paragraphs, some accents, CJK and digits. */
typedef struct tu_doc {
    char id[32];
    char *text;
    size_t len;
} tu_doc;
tu_doc *tu_make_corpus(size_t ndocs, size_t avg_words, uint64_t seed);
void tu_free_corpus(tu_doc *d, size_t n);

/* Compare two indexes through the API: the same documents, passages and
 * passage texts, terms, postings and positions.  Returns NULL when equal, or
 * a static message naming the first difference. */
const char *tu_index_diff(const cpq_index *a, const cpq_index *b);

/* Exhaustive BM25 (default k1, b) over the union of the query's analysed
 * terms; writes the top k (ties: lower passage first) to ids/scores and
 * returns how many. */
size_t tu_bm25_topk(const cpq_index *ix, const char *query, size_t k, uint32_t *ids, float *scores);
