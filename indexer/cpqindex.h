/*
 * cpqindex.h - libcpqindex: build and read cpq's passage index.
 *
 * Introduction
 * ------------
 * A cpq index is one file holding a positional inverted index of
 * *passages*.  Documents (text files, JSON Lines records) are split into
 * passages (passage.h); each passage is analysed (analyze.h) into terms
 * with positions, and is stored zstd-compressed so it can be shown again.
 * A passage knows its document, its ordinal within the document and its
 * byte range in the document's text.  The file format is specified in
 * FORMAT.md.
 *
 * Building:   cpq_builder_create -> cpq_builder_add (or cpq_input_add) ...
 *             -> cpq_builder_finish -> cpq_builder_free.
 * Reading:    cpq_index_open -> lookups / postings / passages -> cpq_index_close.
 *
 * Conventions
 * -----------
 * - Functions returning int return CPQ_OK (0) or a code from cpq_error.h;
 *   those taking `cpq_errinfo *e` also write a message naming what failed
 *   and where (e may be NULL).
 * - Opaque handles come in create/free (open/close) pairs; the free
 *   functions accept NULL.
 * - Nothing here prints or exits.
 * - A cpq_index is immutable once open and may be shared by any number of
 *   threads; the per-thread state (postings cursors, a cpq_fetch for
 *   passage text) belongs to one thread at a time.
 * - Passage and document numbers are dense, 0-based, in input order.
 */
#ifndef CPQ_INDEX_H
#define CPQ_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "codec.h"
#include "cpq_error.h"

#define CPQ_INDEX_VERSION_MAJOR 0
#define CPQ_INDEX_VERSION_MINOR 1
#define CPQ_INDEX_VERSION_PATCH 0

/* ===================================================================== */
/* Building                                                              */
/* ===================================================================== */

/* Chosen on SciFact and Cranfield (bench/README.md, "Effectiveness"): the
 * smallest size past which nDCG@10 stops improving. */
#define CPQ_PASSAGE_WORDS_DEFAULT 200
#define CPQ_MEMORY_DEFAULT ((size_t)512 << 20)   /* 512 MiB */
#define CPQ_MEMORY_MIN ((size_t)1 << 20)

/* Progress, reported from the thread that calls cpq_builder_add /
 * cpq_builder_finish, at most a few times a second. */
typedef struct cpq_build_progress {
    uint64_t bytes_in;       /* bytes of document text accepted so far */
    uint64_t docs, passages; /* accepted so far (passages: indexed so far) */
    int phase;               /* 0 reading, 1 merging, 2 writing */
    double merge_fraction;   /* 0..1 during phase 1 */
} cpq_build_progress;
typedef void (*cpq_progress_fn)(void *ctx, const cpq_build_progress *p);

typedef struct cpq_build_opts {
    cpq_analysis_cfg analysis;
    uint32_t passage_words;  /* max words per passage (>= 8); 0 = default */
    size_t memory;           /* memory budget in bytes; 0 = default; >= CPQ_MEMORY_MIN */
    int threads;             /* analysis threads; 0 = number of online CPUs */
    int zstd_level;          /* store compression level; 0 = default (3) */
    const char *tmpdir;      /* where spill runs go; NULL = the output file's directory */
    cpq_progress_fn progress;
    void *progress_ctx;
} cpq_build_opts;

/* Defaults: english analysis, CPQ_PASSAGE_WORDS_DEFAULT, CPQ_MEMORY_DEFAULT,
 * all CPUs, zstd level 3. */
void cpq_build_opts_default(cpq_build_opts *o);

typedef struct cpq_builder cpq_builder;

/* Create a builder that will write the index to path.  A hidden temporary
 * file (".NAME.tmp.<pid>.XXXXXX" in path's directory) is created at once,
 * and such files left by killed builds (whose process is gone) are removed, so a bad output
 * directory fails here, not after the whole corpus was read.  Returns
 * CPQ_OK, CPQ_EINVAL (a bad option, named in e), CPQ_ELANG, CPQ_ENOMEM,
 * CPQ_EIO (the temporary file or a thread could not be created).  On error
 * *out is NULL and nothing is left on disk. */
int cpq_builder_create(const cpq_build_opts *o, const char *path, cpq_builder **out, cpq_errinfo *e);

/* Add one document: its id (1..CPQ_DOCID_MAX bytes, any bytes but NUL) and
 * its text, which must be valid UTF-8 (see cpq_utf8_repair) of less than
 * 4 GiB.  The builder copies both.  Returns CPQ_OK, CPQ_EINVAL (bad id or
 * text; the builder stays usable), CPQ_ELIMIT (too many documents or
 * passages), CPQ_ENOMEM, CPQ_EIO (spilling failed).  After any error other
 * than CPQ_EINVAL the builder is failed: only cpq_builder_free is useful. */
int cpq_builder_add(cpq_builder *b, const char *id, size_t idlen,
                    const char *text, size_t len, cpq_errinfo *e);

/* Finish the index and put it at path atomically: fsync the temporary
 * file, rename it over path, fsync the directory.  On any error the
 * temporary file is removed and whatever was at path is left untouched.
 * May be called once.  Returns CPQ_OK or an error code. */
int cpq_builder_finish(cpq_builder *b, cpq_errinfo *e);

/* Counters of a finished (or failed) build. */
typedef struct cpq_build_stats {
    uint64_t docs, passages, terms, tokens, bytes_in;
    uint64_t runs, spilled_runs;
    uint64_t index_bytes;
} cpq_build_stats;
void cpq_builder_stats(const cpq_builder *b, cpq_build_stats *s);

/* Stop the worker threads and free everything; NULL is accepted. */
void cpq_builder_free(cpq_builder *b);

/* --- Input readers (input.c) ------------------------------------------ */

enum cpq_input_format {
    CPQ_FMT_AUTO = 0,  /* by extension: .jsonl/.ndjson -> JSONL, else text; directories walked */
    CPQ_FMT_TEXT = 1,  /* each file is one document; its id is its path */
    CPQ_FMT_JSONL = 2, /* one {"_id","title","text"} record a line */
};

typedef struct cpq_input_stats {
    uint64_t files, docs, bytes;
    uint64_t repaired;     /* invalid UTF-8 sequences replaced by U+FFFD */
    uint64_t skipped_bad;  /* malformed JSON lines skipped (--skip-bad) */
    uint64_t skipped_files;/* directory entries that were not regular files */
} cpq_input_stats;

/* Feed path (a file, a directory tree walked in sorted order, or "-" for
 * standard input) to the builder.  A JSONL record's document text is
 * title + "\n\n" + text (just text when the title is empty).  A text
 * file's id is the path as given joined with the relative path inside a
 * walked directory.  Invalid UTF-8 is repaired and counted.  A malformed
 * JSON line is CPQ_EPARSE naming file and line, unless skip_bad, when it
 * is counted and skipped; an unreadable file is CPQ_EIO naming it. */
int cpq_input_add(cpq_builder *b, const char *path, int format, int skip_bad,
                  cpq_input_stats *st, cpq_errinfo *e);

/* ===================================================================== */
/* Reading                                                               */
/* ===================================================================== */

typedef struct cpq_index cpq_index;

enum {
    CPQ_OPEN_DEFAULT = 0,     /* validate structure and every section checksum */
    CPQ_OPEN_NO_CHECKSUM = 1, /* skip the checksums of the large sections (faster open) */
};

/* Map and validate an index file.  Returns CPQ_OK, CPQ_EIO (cannot open or
 * map), CPQ_ECORRUPT (e names the section and the problem), CPQ_EVERSION,
 * CPQ_ENOMEM.  On error *out is NULL.  Besides the mapping, an open index
 * holds lookup aids in memory: about 3 bytes per passage and per document
 * (table checkpoints) and 8 bytes per 16 terms (the term blocks' first
 * bytes). */
int cpq_index_open(const char *path, unsigned flags, cpq_index **out, cpq_errinfo *e);

/* Unmap and free; NULL is accepted. */
void cpq_index_close(cpq_index *ix);

/* Check everything: every checksum and every structural invariant (terms
 * sorted and unique, postings decodable, increasing and in range, skip
 * entries and score bounds consistent with the blocks, positions inside
 * their passage, passage and document tables consistent, every stored
 * passage decompressing to its recorded size).  Returns CPQ_OK or
 * CPQ_ECORRUPT with the first problem in e. */
int cpq_index_verify(const cpq_index *ix, cpq_errinfo *e);

typedef struct cpq_index_info {
    uint32_t version;
    uint64_t passages, docs, terms;
    uint64_t tokens;         /* sum of passage lengths (positions) */
    uint64_t text_bytes;     /* bytes of document text indexed */
    float avg_len;           /* tokens / passages (1 when empty) */
    uint32_t passage_words;
    cpq_analysis_cfg analysis; /* analysis.stopwords points into the index */
    uint64_t file_bytes;
} cpq_index_info;

const cpq_index_info *cpq_index_get_info(const cpq_index *ix);

typedef struct cpq_section_info {
    uint32_t id;
    const char *name;        /* "postings", ... */
    uint64_t offset, length;
} cpq_section_info;

/* Fill up to cap entries; returns the number of sections. */
size_t cpq_index_sections(const cpq_index *ix, cpq_section_info *out, size_t cap);

/* --- Terms -------------------------------------------------------------- */

typedef struct cpq_term {
    uint32_t ord;            /* rank in the sorted dictionary */
    uint32_t df;             /* passages containing the term */
    uint64_t post_off, post_len; /* byte range in the postings section */
    uint64_t pos_off, pos_len;   /* byte range in the positions section */
    uint32_t len;            /* term length */
    char text[CPQ_TERM_MAX + 1]; /* NUL-terminated term */
} cpq_term;

/* Exact lookup of an analysed term.  Returns CPQ_OK, CPQ_ENOTFOUND,
 * CPQ_ECORRUPT. */
int cpq_index_term(const cpq_index *ix, const char *term, size_t len, cpq_term *out);

/* Iterate the terms starting with prefix, in sorted order. */
typedef struct cpq_term_iter {
    const cpq_index *ix;
    char prefix[CPQ_TERM_MAX + 1];
    size_t plen;
    uint32_t ord;            /* next ordinal to produce */
    uint64_t off;            /* its byte offset in the terms section */
    uint64_t post_off, pos_off;
    char cur[CPQ_TERM_MAX + 1];
    size_t curlen;
    int done;
} cpq_term_iter;

/* Position it at the first term >= prefix.  Returns CPQ_OK or CPQ_ECORRUPT. */
int cpq_index_prefix(const cpq_index *ix, const char *prefix, size_t len, cpq_term_iter *it);

/* Next term with the prefix: CPQ_OK and *t filled, CPQ_ENOTFOUND at the end,
 * CPQ_ECORRUPT. */
int cpq_term_iter_next(cpq_term_iter *it, cpq_term *t);

/* --- Postings --------------------------------------------------------- */

#define CPQ_END UINT32_MAX

/* A cursor over one term's postings; lives on the caller's stack or heap,
 * needs no freeing.  Fields are private. */
typedef struct cpq_postings {
    const cpq_index *ix;
    const uint8_t *skips;    /* skip table (NULL for single-block terms) */
    const uint8_t *blocks;   /* start of block data */
    uint64_t blocks_len;
    const uint8_t *pos;      /* term's positions */
    uint64_t pos_len;
    uint32_t df, nblocks;
    uint32_t blk;            /* current block */
    uint32_t n;              /* entries in current block */
    uint32_t i;              /* index in block */
    uint32_t posi;           /* postings whose positions were skipped in block */
    uint64_t posoff;         /* byte offset of positions of entry posi */
    int corrupt;
    int tfs_done;            /* tfs[] holds the current block's tfs */
    const uint8_t *tfs_src;  /* else where they are, for cpq_postings_tfs_ */
    uint32_t ids[CPQ_BLOCK], tfs[CPQ_BLOCK];
} cpq_postings;

/* Decodes the current block's tfs (a block's tfs are decoded only when
 * asked for: a conjunction probes many blocks and scores few entries). */
void cpq_postings_tfs_(cpq_postings *p);

/* Start a cursor before the first posting.  Returns CPQ_OK or CPQ_ECORRUPT. */
int cpq_postings_open(const cpq_index *ix, const cpq_term *t, cpq_postings *p);

/* Advance; returns the passage number or CPQ_END (also on corruption: then
 * cpq_postings_corrupt() is non-zero). */
uint32_t cpq_postings_next(cpq_postings *p);

/* Advance to the first posting >= target (never backwards); returns its
 * passage number or CPQ_END.  Skips whole blocks through the skip table. */
uint32_t cpq_postings_seek(cpq_postings *p, uint32_t target);

/* Move to the first posting of block k (0 .. nblocks-1), forwards or
 * backwards, for callers that visit blocks in their own order (a lone
 * term's best blocks first).  Returns its passage number, or CPQ_END when
 * k is past the last block or the block is corrupt.  Then next/seek go on
 * from there; cpq_postings_block_len gives the block's entries, which are
 * cpq_postings_ids(p)[0 .. len) with their tfs. */
uint32_t cpq_postings_block(cpq_postings *p, uint32_t k);
uint32_t cpq_postings_block_len(const cpq_postings *p);
static inline const uint32_t *cpq_postings_ids(const cpq_postings *p) { return p->ids; }
static inline const uint32_t *cpq_postings_tfs(cpq_postings *p)
{
    if (!p->tfs_done) cpq_postings_tfs_(p);
    return p->tfs;
}

/* Current passage number and term frequency (valid after next/seek). */
static inline uint32_t cpq_postings_doc(const cpq_postings *p) { return p->ids[p->i]; }
static inline uint32_t cpq_postings_tf(cpq_postings *p) { return cpq_postings_tfs(p)[p->i]; }
static inline int cpq_postings_corrupt(const cpq_postings *p) { return p->corrupt; }

/* Positions of the current posting, ascending; writes min(tf, cap) values
 * and returns tf, or -1 when the positions are corrupt. */
int cpq_postings_positions(cpq_postings *p, uint32_t *pos, size_t cap);

/* Block bounds for pruning, for the block holding the current posting (or
 * block k for the _at variants).  last = highest passage number in the block;
 * max_score = highest BM25 (default k1, b) contribution in the block,
 * rounded up; max_tf / min_len bound any other k1, b. */
uint32_t cpq_postings_nblocks(const cpq_postings *p);
void cpq_postings_block_at(const cpq_postings *p, uint32_t k, uint32_t *last, float *max_score,
                           uint32_t *max_tf, uint32_t *min_len);

/* --- Passages and documents ----------------------------------------------- */

typedef struct cpq_passage_info {
    uint32_t doc;            /* document number */
    uint32_t ordinal;        /* index of the passage in its document */
    uint64_t start, len;     /* byte range in the document text */
    uint32_t tokens;         /* length in positions (BM25 length) */
} cpq_passage_info;

/* Returns CPQ_OK, CPQ_ENOTFOUND (p out of range). */
int cpq_index_passage(const cpq_index *ix, uint32_t p, cpq_passage_info *out);

/* BM25 length of passage p (0 if out of range).  The hot path of scoring. */
uint32_t cpq_index_passage_len(const cpq_index *ix, uint32_t p);

typedef struct cpq_doc_info {
    const char *id;          /* NOT NUL-terminated; points into the index */
    size_t idlen;
    uint32_t first_passage, npassages;
    uint64_t text_len;       /* bytes of the document's text */
} cpq_doc_info;

int cpq_index_doc(const cpq_index *ix, uint32_t d, cpq_doc_info *out);

/* Passage p and its document together, decoding each table once (what a
 * search hit needs).  Returns CPQ_OK, CPQ_ENOTFOUND, CPQ_ECORRUPT. */
int cpq_index_passage_full(const cpq_index *ix, uint32_t p, cpq_passage_info *pi, cpq_doc_info *di);

/* Only the document number of passage p (one passage-table record
 * decoded).  Returns CPQ_OK, CPQ_ENOTFOUND, CPQ_ECORRUPT. */
int cpq_index_passage_docnum(const cpq_index *ix, uint32_t p, uint32_t *doc);

/* The document holding passage p and its passage range [*first, *end);
 * faster than cpq_index_passage + cpq_index_doc (one table block decoded).
 * Returns CPQ_OK, CPQ_ENOTFOUND, CPQ_ECORRUPT. */
int cpq_index_passage_doc(const cpq_index *ix, uint32_t p, uint32_t *doc, uint32_t *first, uint32_t *end);

/* Find a document by id; CPQ_OK and *d, or CPQ_ENOTFOUND. */
int cpq_index_doc_find(const cpq_index *ix, const char *id, size_t len, uint32_t *d);

/* Per-thread passage-text fetcher (holds a zstd decompression context and
 * a buffer). */
typedef struct cpq_fetch cpq_fetch;
int cpq_fetch_create(const cpq_index *ix, cpq_fetch **out);
void cpq_fetch_free(cpq_fetch *f);

/* Keep up to `bytes` of recently fetched passages decompressed in f (their
 * text and records, and 120 bytes of bookkeeping each), evicting the
 * least recently used; a passage over an eighth of that is not kept.  0
 * (the default) turns it off.  Search engines keep such a cache beside
 * their stored text (Lucene/Solr's documentCache, tantivy's and
 * Manticore's docstore caches): hits are fetched again and again, and a
 * cached one costs a hash probe instead of a zstd frame.  Cached entries
 * belong to f (one thread, one index), so no locking.  Drops what was
 * cached.  Returns CPQ_OK or CPQ_ENOMEM (then the cache is off). */
int cpq_fetch_set_cache(cpq_fetch *f, size_t bytes);
typedef struct cpq_fetch_cache_stats {
    uint64_t hits, misses;   /* passage fetches answered from it, and not */
    uint64_t entries;        /* passages held now */
    size_t bytes, budget;    /* their charge, and the most it may be */
} cpq_fetch_cache_stats;
void cpq_fetch_cache_get_stats(const cpq_fetch *f, cpq_fetch_cache_stats *st);

/* Text of passage p: *text points into f's buffer or cache (valid until
 * the next call with f), *len its length.  Decompresses only that passage.
 * Returns CPQ_OK, CPQ_ENOTFOUND, CPQ_ECORRUPT, CPQ_ENOMEM. */
int cpq_fetch_passage(cpq_fetch *f, uint32_t p, const char **text, size_t *len);
/* cpq_fetch_passage and cpq_index_passage_full in one: the text, and the
 * passage's and its document's records (when pi is not NULL; then di must
 * not be NULL either), from one decoding of the tables. */
int cpq_fetch_passage_full(cpq_fetch *f, uint32_t p, const char **text, size_t *len, cpq_passage_info *pi,
                           cpq_doc_info *di);

/* Full text of document d (its passages' stored slices joined, including
 * the whitespace between them).  Same rules as cpq_fetch_passage. */
int cpq_fetch_doc(cpq_fetch *f, uint32_t d, const char **text, size_t *len);

#endif
