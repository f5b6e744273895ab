/*
 * cpq_error.h - the one error enum of libcpqindex.
 *
 * Every fallible function in the library returns an int that is either
 * CPQ_OK (0) or one of the codes below; the numbers are pinned and never
 * reused, because tools print them and tests compare them.  Functions that
 * can say more take a `cpq_errinfo *` (which may be NULL) and fill in a
 * one-line message naming what was wrong and where ("section 'postings':
 * checksum mismatch", "input.jsonl:17: expected ':'").
 *
 * The library never prints and never exits.
 */
#ifndef CPQ_ERROR_H
#define CPQ_ERROR_H

#include <stddef.h>

enum {
    CPQ_OK        = 0,
    CPQ_ENOMEM    = 1,  /* an allocation failed */
    CPQ_EIO       = 2,  /* open/read/write/fsync/rename failed; see errno text in the message */
    CPQ_ECORRUPT  = 3,  /* an index file or spill run is damaged */
    CPQ_EVERSION  = 4,  /* an index file of a format version we do not read */
    CPQ_EINVAL    = 5,  /* a bad argument or option value */
    CPQ_EPARSE    = 6,  /* a malformed input record (JSON Lines) or query */
    CPQ_ELIMIT    = 7,  /* a documented limit was exceeded */
    CPQ_ENOTFOUND = 8,  /* no such term, passage or document */
    CPQ_EZSTD     = 9,  /* zstd reported an error */
    CPQ_ELANG     = 10, /* the stemmer language is not one libstemmer ships */
};

#define CPQ_ERRMSG_MAX 512

typedef struct cpq_errinfo {
    int code;
    char msg[CPQ_ERRMSG_MAX];
} cpq_errinfo;

/* Short stable name of a code ("ECORRUPT"); "EUNKNOWN" for other values. */
const char *cpq_err_name(int code);

/* A sentence describing a code; never NULL. */
const char *cpq_err_str(int code);

/* A byte count as the tools take it on their command lines: decimal digits
 * and an optional K, M, G or T (powers of 1024, upper or lower case, an
 * optional B after it): "512M", "2G", "4096".  0 and *out, or -1 when s is
 * not such a size or it overflows size_t. */
int cpq_parse_size(const char *s, size_t *out);

/* Record code and a printf-style message in *e (when e is not NULL).
 * Returns code, so callers can write `return cpq_err_set(e, CPQ_EIO, ...)`. */
int cpq_err_set(cpq_errinfo *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
