/*
 * benchinput.h - the document reader shared by the benchmark peers.
 *
 * The peers (peer_fts5, peer_xapian) index exactly the text cpq-index reads
 * from the same input, so they need the same two input shapes:
 *
 *   - a JSON Lines file (name ending in ".jsonl"), one BEIR-shaped object a
 *     line: {"_id": ..., "title": "...", "text": "..."}.  A document's text
 *     is title + "\n\n" + text when the title is not empty, else text.
 *     "_id" may be a string or a number (kept as its literal text); other
 *     members are skipped whatever their value.  Blank lines are skipped.
 *   - a directory: every regular file below it, recursively, in strcmp order
 *     of the relative path; the id is that path and the text is the file's
 *     bytes as they are.  Symbolic links are not followed.
 *
 * JSON strings are unescaped (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate
 * pairs joined; a lone surrogate becomes U+FFFD).  Raw bytes inside strings
 * are passed through unchecked: this reader is for benchmarking, not for
 * repairing input.
 *
 * This is bench code, not part of libcpqindex: it is single-threaded, keeps
 * one document in memory at a time, and bounds a line to BENCH_INPUT_MAX_LINE
 * bytes and a file to BENCH_INPUT_MAX_FILE bytes.
 */
#ifndef BENCH_INPUT_H
#define BENCH_INPUT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_INPUT_MAX_LINE ((size_t)256 << 20)  /* one JSON Lines record */
#define BENCH_INPUT_MAX_FILE ((size_t)1 << 30)    /* one file of a directory tree */
#define BENCH_INPUT_MAX_DEPTH 64                  /* directory and JSON nesting */

typedef struct bench_input bench_input;

/* Open path (a .jsonl file or a directory).  For a directory the whole tree
 * is listed here, so errors in walking it are reported now.  Returns NULL on
 * failure with a one-line message in err (errcap bytes, NUL-terminated).
 * The caller frees the handle with bench_input_close(). */
bench_input *bench_input_open(const char *path, char *err, size_t errcap);

/* Read the next document.  Returns 1 and points *id / *text at NUL-terminated
 * buffers owned by in (valid until the next call or close; lengths in *idlen
 * and *textlen, the text may contain NUL bytes when read from a file);
 * returns 0 at the end of the input; returns -1 on a malformed record, a
 * read error, a limit or an allocation failure, with the message in
 * bench_input_error(). */
int bench_input_next(bench_input *in, const char **id, size_t *idlen,
                     const char **text, size_t *textlen);

/* The message of the last error, "" if none; owned by in. */
const char *bench_input_error(const bench_input *in);

/* Release everything; NULL is accepted. */
void bench_input_close(bench_input *in);

#ifdef __cplusplus
}
#endif

#endif
