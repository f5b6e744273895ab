/*
 * build_int.h - private interfaces between the builder's modules:
 *   builder.c  public API, batching, worker threads, dictionary training
 *   run.c      a batch -> a sorted "run" of postings; run readers; spilling
 *   writer.c   section output and the final merge of runs into the index
 * Not installed; nothing here is a stable interface.
 */
#ifndef CPQ_BUILD_INT_H
#define CPQ_BUILD_INT_H

#include <stdint.h>
#include <stdio.h>

#include <xxhash.h>

#include "cpqindex.h"
#include "format.h"

/* ---- growable byte buffer with a sticky failure flag ---------------- */
typedef struct cpq_buf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} cpq_buf;

int cpq_buf_reserve(cpq_buf *b, size_t extra);     /* 0 or -1 (and oom set) */
void cpq_buf_add(cpq_buf *b, const void *d, size_t n);
void cpq_buf_varint(cpq_buf *b, uint64_t v);
void cpq_buf_u32(cpq_buf *b, uint32_t v);
void cpq_buf_u64(cpq_buf *b, uint64_t v);
void cpq_buf_free(cpq_buf *b);

/* ---- runs --------------------------------------------------------------
 * A run holds the postings of a contiguous range of passages, sorted by
 * term.  Serialized form (memory or an unlinked temp file):
 *   varint npassages
 *   repeated: varint termlen (0 ends the run), term bytes,
 *             varint df, varint last (local passage of the last posting),
 *             varint bytes, then `bytes` of postings:
 *               per posting: varint gap (local passage - previous, the
 *               first relative to -1), varint pos0+1, varint deltas (>0)
 *               of further positions, varint 0.
 */
typedef struct cpq_run {
    uint64_t base;           /* global number of the run's first passage */
    uint64_t npassages;
    cpq_buf mem;             /* in-memory run, or ... */
    int fd;                  /* ... an unlinked spill file (-1 if none) */
    uint64_t file_len;
} cpq_run;

/* Per-thread scratch for turning a batch into a run. */
typedef struct cpq_runner cpq_runner;
int cpq_runner_create(const cpq_analysis_cfg *cfg, cpq_runner **out, cpq_errinfo *e);
void cpq_runner_free(cpq_runner *r);
/* Start a new run: forget all terms. */
void cpq_runner_reset(cpq_runner *r);
/* Analyse one passage's text as local passage lp; *tokens receives its
 * length in positions.  Returns CPQ_OK or CPQ_ENOMEM. */
int cpq_runner_passage(cpq_runner *r, uint32_t lp, const char *text, size_t len, uint32_t *tokens);
/* Serialize the terms gathered since reset into out (appending). */
int cpq_runner_emit(cpq_runner *r, uint32_t npassages, cpq_buf *out);
/* Approximate bytes held by the runner's tables. */
size_t cpq_runner_memory(const cpq_runner *r);

/* Sequential reader over a run, memory or file. */
typedef struct cpq_run_reader {
    const cpq_run *run;
    const uint8_t *p, *end;  /* memory source */
    int fd; uint64_t foff;   /* file source */
    uint8_t *fbuf; size_t fcap, flen, fpos;
    /* current term record */
    char term[CPQ_TERM_MAX];
    size_t termlen;
    uint64_t df, last, bytes;
    const uint8_t *post;     /* the record's postings bytes */
    cpq_buf hold;            /* file source: the record's bytes */
    int eof;
} cpq_run_reader;

int cpq_run_reader_open(cpq_run_reader *rr, const cpq_run *run, cpq_errinfo *e);
/* Load the next term record; CPQ_OK (rr->eof set at the end) or CPQ_ECORRUPT/CPQ_EIO. */
int cpq_run_reader_next(cpq_run_reader *rr, cpq_errinfo *e);
void cpq_run_reader_close(cpq_run_reader *rr);

/* Merge runs[0..n) (consecutive passage ranges, in order) into one run
 * written to an unlinked temp file in dir; on success *out is the new run. */
int cpq_runs_merge_spill(cpq_run *runs, size_t n, const char *dir, cpq_run *out, cpq_errinfo *e);
void cpq_run_free(cpq_run *r);

/* Create an unlinked temporary file in dir; returns fd or -1 (e set). */
int cpq_tmpfile(const char *dir, cpq_errinfo *e);

/* Write all of buf to fd at off; 0 or -1 (errno). */
int cpq_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
int cpq_pread_all(int fd, void *buf, size_t n, uint64_t off);

/* ---- output of the index file ------------------------------------------ */
typedef struct cpq_out {
    int fd;
    uint64_t off;            /* file offset of buf[0] */
    uint8_t buf[1 << 16];
    size_t blen;
    int rc;                  /* sticky error */
    cpq_errinfo *e;
    XXH3_state_t *xs;
    int cur;                 /* open section id, 0 none */
    uint64_t cur_start;
    uint32_t nsec;
    struct { uint32_t id; uint64_t off, len, sum; } sec[CPQ_MAX_SECTIONS];
} cpq_out;

int cpq_out_init(cpq_out *o, int fd, cpq_errinfo *e);  /* positions after the header */
void cpq_out_begin(cpq_out *o, uint32_t id);
void cpq_out_write(cpq_out *o, const void *d, size_t n);
void cpq_out_end(cpq_out *o);
/* Flush, write TOC and header.  Returns o->rc. */
int cpq_out_finish(cpq_out *o);
void cpq_out_free(cpq_out *o);

/* Everything the final merge needs besides the runs. */
typedef struct cpq_final {
    cpq_run *runs; size_t nruns;
    const uint32_t *lengths; uint64_t npassages;
    uint64_t tokens;
    const char *tmpdir;
    cpq_progress_fn progress; void *progress_ctx; cpq_build_progress *prog;
    uint64_t nterms;         /* out */
} cpq_final;

/* Merge the runs and write TERMINDEX, TERMS, POSTINGS, POSITIONS. */
int cpq_write_postings(cpq_out *o, cpq_final *f, cpq_errinfo *e);


#endif
