/*
 * client_int.h - libcpq's private interface between its files:
 *   conn.c   the socket: connect with a timeout, timed writes and reads
 *   reply.c  one request out, one reply in (bounded), errors on the handle
 *   client.c the handle, greeting, PING/AUTH/COUNT/QUIT, raw requests
 *   parse.c  helpers that turn a reply into a result object
 *   search.c, fetch.c, explain.c, kvlist.c   the commands with results
 *   error.c  return codes, version
 * Nothing here is exported (the version script exports cpq.h only).
 */
#ifndef CPQ_CLIENT_INT_H
#define CPQ_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cpq.h"
#include "cpqproto.h"

/* One line of the reply being read: its bytes are rep.buf[off..off+len)
 * (LF excluded, but an LF follows in the buffer); for a "text N" line the
 * N bytes are rep.buf[lit_off..lit_off+lit_len). */
typedef struct cpqc_rline {
    size_t off, len;
    size_t lit_off, lit_len;
} cpqc_rline;

typedef struct cpqc_reply {
    char *buf;               /* the reply's bytes as received */
    size_t len, cap;
    cpqc_rline *lines;       /* the last one is the status line */
    size_t n, ncap;
} cpqc_reply;

struct cpq_client {
    cpq_client_opts o;
    int fd;                  /* -1: not connected */

    /* bytes read from the socket not yet consumed: in[ioff..ilen) */
    char *in;
    size_t ioff, ilen, icap;

    cpqc_reply rep;          /* the last reply */
    uint64_t seq;            /* request tags "c<seq>" */
    char *req;               /* the request line being sent (CPQ_PROTO_LINE_MAX bytes) */

    int rc;                  /* the last call's result */
    char errmsg[640];
    char scode[24];          /* server code as sent ("ARG"), "" if none */
    char smsg[512];          /* server message, unescaped */

    char server_version[32];
    int auth_required;
    uint64_t g_passages, g_docs;
    uint64_t gen;
};

/* conn.c -------------------------------------------------------------- */

/* Milliseconds on the monotonic clock. */
int64_t cpqc_now_ms(void);
/* A deadline timeout_ms from now, or -1 (none) when timeout_ms <= 0. */
int64_t cpqc_deadline(int timeout_ms);
/* Connect c->fd to host:port (c must be unconnected).  Returns CPQ_RC_*
 * with the message set through cpqc_fail. */
int cpqc_conn_open(cpq_client *c, const char *host, unsigned port);
/* Write p[0..n) before deadline (-1: none). */
int cpqc_conn_write(cpq_client *c, const char *p, size_t n, int64_t deadline);
/* Read more bytes into c->in (compacting it first); at most up to
 * c->icap.  Returns CPQ_RC_OK when at least one byte arrived. */
int cpqc_conn_fill(cpq_client *c, int64_t deadline);
/* Close the socket and forget buffered input. */
void cpqc_conn_close(cpq_client *c);

/* reply.c ------------------------------------------------------------- */

/* Record a failure on c: rc, and a message (printf format).  A connection
 * failure (anything but CPQ_RC_INVAL, CPQ_RC_NOMEM before sending, and
 * server errors) also closes the connection: callers pass brk = 1 then.
 * Returns rc. */
int cpqc_fail(cpq_client *c, int rc, int brk, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Start a call: clears the last error.  */
void cpqc_begin(cpq_client *c);
/* Read one reply into c->rep before deadline.  Returns CPQ_RC_OK when a
 * whole reply (ending in its status line) arrived. */
int cpqc_read_reply(cpq_client *c, int64_t deadline);
/* Send one request (cmd, options s or NULL, arguments) and read its reply.
 * Returns CPQ_RC_OK for an OK reply, CPQ_RC_S_* (server code and message
 * recorded) for an ERR reply, or a local/connection error. */
int cpqc_call(cpq_client *c, int cmd, const cpq_proto_search *s, const char *arg, size_t arglen);
/* Send a raw line (no tag) and read its reply; OK and ERR both succeed. */
int cpqc_call_raw(cpq_client *c, const char *line, size_t len);
/* The parsed i-th line of c->rep (it was validated when read). */
void cpqc_line(const cpq_client *c, size_t i, cpq_proto_line *out);
/* The reply's status line st is ERR: record the server's code and message
 * on c (closing the connection for BUSY and TIMEOUT, after which the
 * server closes).  Returns CPQ_RC_SERVER + the wire code. */
int cpqc_server_error(cpq_client *c, const cpq_proto_line *st);
/* Scan a status line's fields for gen=G and remember it on c. */
void cpqc_note_gen(cpq_client *c, const cpq_proto_line *st);

/* search.c ------------------------------------------------------------ */

/* Check *o (NULL: defaults) and turn it into the codec's options, with
 * empty markers so a snippet line is the window's exact bytes.  Returns
 * CPQ_RC_OK or CPQ_RC_INVAL (recorded on c). */
int cpqc_to_proto(cpq_client *c, const cpq_client_search_opts *o, cpq_proto_search *s);

/* parse.c ------------------------------------------------------------- */

/* Strings of one result: sized once from c->rep, never moved (parse.c). */
typedef struct cpqc_arena {
    char *p;
    size_t len, cap;
} cpqc_arena;

/* Allocate an arena large enough for every string of the reply in c->rep;
 * 0 or -1 (out of memory). */
int cpqc_arena_init(cpqc_arena *a, const cpq_client *c);
/* Unescape s[0..n) into the arena, NUL-terminated; NULL for a bad escape.
 * *outlen (may be NULL) gets the length. */
const char *cpqc_arena_unescape(cpqc_arena *a, const char *s, size_t n, size_t *outlen);
/* Copy s[0..n) into the arena, NUL-terminated. */
const char *cpqc_arena_copy(cpqc_arena *a, const char *s, size_t n);
/* k is exactly the string s. */
int cpqc_key_is(const cpq_proto_str *k, const char *s);
/* Field values: 0 and *out, or -1. */
int cpqc_u64(const cpq_proto_str *v, uint64_t *out);
int cpqc_dbl(const cpq_proto_str *v, double *out);
int cpqc_flag(const cpq_proto_str *v, int *out);   /* "0" or "1" */
/* A malformed reply: CPQ_RC_PROTO, connection closed. */
int cpqc_bad(cpq_client *c, const char *what);

#endif
