/*
 * jsonl.h - the JSON Lines record reader and UTF-8 repair.
 *
 * A record is one JSON object on one line, in the BEIR shape:
 *   {"_id": "...", "title": "...", "text": "...", ...}
 * "_id" may be a string or a number (kept as its literal text); "title" and
 * "text" must be strings when present; every other member is skipped
 * whatever its value (objects and arrays nested at most CPQ_JSON_DEPTH
 * deep).  A missing "_id" is an error; a missing title or text is empty.
 * Strings are unescaped (\n, \t, \", \\, \/, \b, \f, \r, \uXXXX including
 * surrogate pairs); a lone surrogate becomes U+FFFD and is counted as a
 * repair.  Raw bytes that are not valid UTF-8 inside strings become U+FFFD
 * and are counted.  Whitespace around the object is allowed; anything after
 * it is an error.  The parser never reads past len and never recurses.
 */
#ifndef CPQ_JSONL_H
#define CPQ_JSONL_H

#include <stddef.h>

#define CPQ_JSON_DEPTH 64

/* A growable byte buffer owned by the record. */
typedef struct cpq_strbuf {
    char *p;
    size_t len, cap;
} cpq_strbuf;

typedef struct cpq_jsonl_rec {
    cpq_strbuf id, title, text;  /* UTF-8, each also NUL-terminated at p[len] */
    size_t repairs;              /* invalid UTF-8 sequences / lone surrogates replaced */
} cpq_jsonl_rec;

/* Free the buffers of rec (not rec itself); the record may be reused after
 * cpq_jsonl_parse without freeing in between.  NULL is accepted. */
void cpq_jsonl_rec_free(cpq_jsonl_rec *rec);

/* Parse line[0..len) (no trailing newline needed; a trailing "\r" is
 * allowed) into *rec, which must be zero-initialised before first use.
 * Returns 0 on success.  On a malformed line returns -1 and writes a
 * message into err (errcap bytes, NUL-terminated) naming the problem and
 * its 1-based byte column, e.g. "column 17: expected ':' after member
 * name"; returns -2 on allocation failure.  Does not check for an empty
 * id; the caller decides. */
int cpq_jsonl_parse(const char *line, size_t len, cpq_jsonl_rec *rec, char *err, size_t errcap);

/* Copy src[0..len) to dst, replacing every maximal invalid UTF-8 subpart
 * (per Unicode's "substitution of maximal subparts": overlongs, surrogates,
 * values above U+10FFFF, truncated sequences) with U+FFFD.  dst must have
 * room for 3*len bytes.  Returns the bytes written; *nbad (if not NULL)
 * receives the number of replacements. */
size_t cpq_utf8_repair(const char *src, size_t len, char *dst, size_t *nbad);

/* Returns 1 if src[0..len) is valid UTF-8, else 0.  Fast on ASCII. */
int cpq_utf8_valid(const char *src, size_t len);

#endif
