/*
 * cpq.h - libcpq, the C client library of cpqd (cpq's passage search daemon).
 *
 * Introduction
 * ------------
 * libcpq connects to a running cpqd over TCP and speaks its line protocol
 * (protocol/PROTOCOL.md, version 1) so a C program can search an index, read
 * passages and documents, explain a score and read the server's statistics
 * without writing a byte of protocol itself.  A session looks like this:
 *
 *     cpq_client *c = cpq_client_new(NULL);            // default options
 *     if (c == NULL) return;                           // out of memory
 *     if (cpq_client_connect(c, "localhost", 7878) != CPQ_RC_OK) {
 *         fprintf(stderr, "cpq: %s\n", cpq_client_errmsg(c));
 *     } else {
 *         cpq_client_search_opts so;
 *         cpq_client_search_opts_init(&so);
 *         so.limit = 5;
 *         cpq_client_hits *r = NULL;
 *         if (cpq_client_search(c, "quick fox", &so, &r) == CPQ_RC_OK) {
 *             for (size_t i = 0; i < r->count; i++) {
 *                 const cpq_client_hit *h = cpq_client_hits_at(r, i);
 *                 printf("%.3f %s %.*s\n", h->score, h->doc,
 *                        (int)h->snippet_len, h->snippet);
 *             }
 *         }
 *         cpq_client_hits_free(r);
 *     }
 *     cpq_client_free(c);
 *
 * Conventions (they hold for every function below)
 * ------------------------------------------------
 * - Errors are values.  Every function that can fail returns an int that
 *   is CPQ_RC_OK (0) on success or one of enum cpq_rc below; nothing is
 *   printed, nothing exits, errno is not part of the contract.
 *   cpq_strerror() names a code.  After a failure the handle also keeps a
 *   message for people (cpq_client_errmsg) and, when the server answered
 *   "ERR CODE message", the server's code and message
 *   (cpq_client_server_code, cpq_client_server_msg).
 * - Results are returned through an out pointer as an object the caller
 *   owns and frees with the matching *_free function; every *_free
 *   accepts NULL.  On failure the out pointer is set to NULL.  A result
 *   does not depend on the handle: it stays valid after cpq_client_free.
 * - Strings in results are NUL-terminated and also come with a length
 *   (they may contain NUL bytes only where noted: passage and document
 *   text, snippets).
 * - Failures of the connection itself (timeout, the server closing, a
 *   malformed or oversized reply, a write error) close the socket and mark
 *   the handle broken: later requests fail with CPQ_RC_NOTCONN until
 *   cpq_client_connect succeeds again.  A server error ("ERR ...") leaves
 *   the connection usable.
 * - Threads: there is no global state.  A handle is used by one thread at a
 *   time; distinct handles may be used from distinct threads at once.
 * - SIGPIPE: writes use MSG_NOSIGNAL (SO_NOSIGPIPE where that is the way),
 *   so a server that went away never kills the program with SIGPIPE.
 * - Limits: every reply line is bounded (CPQ_CLIENT_LINE_MAX) and so is
 *   every reply (cpq_client_opts.max_reply), whatever the server sends.
 *
 * Passage and document numbers are only meaningful within one index
 * generation ("gen"); cpq_client_gen() gives the generation of the last
 * reply that carried one.
 *
 * The header is C99 and C++ clean.  Link with `pkg-config --libs cpq`.
 */
#ifndef CPQ_CLIENT_H
#define CPQ_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define CPQ_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define CPQ_API __attribute__((visibility("default")))
#else
#  define CPQ_API
#endif

/* ---------------------------------------------------------------------- */
/* Version                                                                 */
/* ---------------------------------------------------------------------- */

#define CPQ_VERSION_MAJOR 0
#define CPQ_VERSION_MINOR 1
#define CPQ_VERSION_PATCH 0
#define CPQ_VERSION_NUMBER (CPQ_VERSION_MAJOR * 10000 + CPQ_VERSION_MINOR * 100 + CPQ_VERSION_PATCH)
#define CPQ_VERSION_STRING "0.1.0"

/* The library's version as "MAJOR.MINOR.PATCH" (the library that is
 * running, which may be newer than the header that was compiled). */
CPQ_API const char *cpq_version(void);
/* The same as CPQ_VERSION_NUMBER computes it. */
CPQ_API unsigned cpq_version_number(void);

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */
/* ---------------------------------------------------------------------- */

/* Return codes.  The numbers are pinned: they never change meaning.
 * 1..99 are found by the library; 100 + N is the server's "ERR CODE" whose
 * wire number (PROTOCOL.md section 7) is N, so CPQ_RC_IS_SERVER() tells a
 * server error from a local one. */
enum cpq_rc {
    CPQ_RC_OK = 0,
    CPQ_RC_NOMEM = 1,        /* out of memory */
    CPQ_RC_INVAL = 2,        /* a bad argument: NULL, a CR/LF/NUL in a query, a value out of range */
    CPQ_RC_RESOLVE = 3,      /* the host name could not be resolved */
    CPQ_RC_CONNECT = 4,      /* the connection was refused or the host is unreachable */
    CPQ_RC_TIMEOUT = 5,      /* connect, write or read timed out (the connection is closed) */
    CPQ_RC_CLOSED = 6,       /* the server closed the connection, possibly mid-reply */
    CPQ_RC_IO = 7,           /* a socket error other than the above */
    CPQ_RC_PROTO = 8,        /* the server sent something that is not protocol version 1 */
    CPQ_RC_TOOBIG = 9,       /* a reply line or the whole reply exceeded the client's limit */
    CPQ_RC_VERSION = 10,     /* the greeting announced a protocol version other than 1 */
    CPQ_RC_NOTCONN = 11,     /* not connected, or the connection broke on an earlier error */

    CPQ_RC_SERVER = 100,        /* base of the server codes (not returned itself) */
    CPQ_RC_S_SYNTAX = 101,      /* ERR SYNTAX: malformed request line */
    CPQ_RC_S_UNKNOWN = 102,     /* ERR UNKNOWN: unknown command */
    CPQ_RC_S_ARG = 103,         /* ERR ARG: bad option or argument */
    CPQ_RC_S_QUERY = 104,       /* ERR QUERY: malformed query */
    CPQ_RC_S_ENCODING = 105,    /* ERR ENCODING: not UTF-8 */
    CPQ_RC_S_TOOLONG = 106,     /* ERR TOOLONG: request line too long */
    CPQ_RC_S_NOAUTH = 107,      /* ERR NOAUTH: authenticate first (cpq_client_auth) */
    CPQ_RC_S_AUTH = 108,        /* ERR AUTH: wrong password */
    CPQ_RC_S_NOTFOUND = 109,    /* ERR NOTFOUND: no such passage or document */
    CPQ_RC_S_TOOBIG = 110,      /* ERR TOOBIG: the reply would exceed the server's limit */
    CPQ_RC_S_LIMIT = 111,       /* ERR LIMIT: a query limit was exceeded */
    CPQ_RC_S_BUSY = 112,        /* ERR BUSY: too many connections (from connect) */
    CPQ_RC_S_DISABLED = 113,    /* ERR DISABLED: command disabled on this server */
    CPQ_RC_S_RELOAD = 114,      /* ERR RELOAD: reload failed */
    CPQ_RC_S_TIMEOUT = 115,     /* ERR TIMEOUT: the server's idle timeout (it closes) */
    CPQ_RC_S_INTERNAL = 116     /* ERR INTERNAL, or a code this library does not know */
};

#define CPQ_RC_IS_SERVER(rc) ((rc) > CPQ_RC_SERVER && (rc) <= CPQ_RC_S_INTERNAL)

/* A short description of rc ("connection timed out", "server: no such
 * passage or document"); "unknown error" for a value not in enum cpq_rc.
 * Never NULL; a static string. */
CPQ_API const char *cpq_strerror(int rc);

/* The enum's name without its prefix ("TIMEOUT", "S_NOTFOUND"), or NULL. */
CPQ_API const char *cpq_rc_name(int rc);

/* ---------------------------------------------------------------------- */
/* Connection                                                              */
/* ---------------------------------------------------------------------- */

#define CPQ_CLIENT_PORT_DEFAULT 7878
#define CPQ_CLIENT_LINE_MAX (1u << 20)           /* bytes of one reply line, LF included */
#define CPQ_CLIENT_REPLY_DEFAULT (64u << 20)     /* default max_reply */

typedef struct cpq_client cpq_client;   /* opaque: one connection */

/* Options of a handle.  Initialise with cpq_client_opts_init, then change
 * fields: new fields will be added at the end with defaults set there. */
typedef struct cpq_client_opts {
    int connect_timeout_ms;   /* per address tried; default 5000; <= 0: none (then
                                 the system's own TCP timeout applies) */
    int write_timeout_ms;     /* to send one request; default 10000; <= 0: none */
    int read_timeout_ms;      /* for a whole reply (and the greeting) to arrive
                                 after the request was sent; default 30000;
                                 <= 0: none (then a silent server makes a
                                 request wait forever).  Keep it above the
                                 server's query budget. */
    size_t max_reply;         /* bytes of one reply; default CPQ_CLIENT_REPLY_DEFAULT;
                                 at least CPQ_CLIENT_LINE_MAX is used */
} cpq_client_opts;

/* Sets every field of *o to its default. */
CPQ_API void cpq_client_opts_init(cpq_client_opts *o);

/* A new, unconnected handle with options *o (NULL: the defaults); the
 * options are copied.  Returns NULL only when out of memory.  Free with
 * cpq_client_free. */
CPQ_API cpq_client *cpq_client_new(const cpq_client_opts *o);

/* Closes the connection (without sending anything) and frees c.  NULL is
 * accepted. */
CPQ_API void cpq_client_free(cpq_client *c);

/* Connects to host:port and reads the greeting.  host is a name, an IPv4
 * address or an IPv6 address (with or without [brackets]); NULL means
 * "127.0.0.1".  Every address the name resolves to is tried in turn, each
 * with connect_timeout_ms; the greeting must then arrive within
 * read_timeout_ms.  An earlier connection of c is closed first.
 * Returns CPQ_RC_OK, or CPQ_RC_INVAL (port 0 or > 65535), CPQ_RC_RESOLVE,
 * CPQ_RC_CONNECT, CPQ_RC_TIMEOUT, CPQ_RC_CLOSED, CPQ_RC_IO, CPQ_RC_PROTO
 * (not a cpqd greeting), CPQ_RC_VERSION (proto is not 1),
 * CPQ_RC_S_BUSY (the server is full) or CPQ_RC_NOMEM; on failure c is
 * left unconnected and cpq_client_errmsg says what happened. */
CPQ_API int cpq_client_connect(cpq_client *c, const char *host, unsigned port);

/* Sends QUIT, waits for its reply (within the timeouts) and closes the
 * connection.  Returns CPQ_RC_OK or the error of the QUIT; the connection
 * is closed either way.  Closing an unconnected handle returns OK. */
CPQ_API int cpq_client_close(cpq_client *c);

/* 1 when c holds an open, unbroken connection, else 0. */
CPQ_API int cpq_client_connected(const cpq_client *c);

/* What the greeting said: the server's version ("0.1.0"), whether it wants
 * AUTH before ordinary commands (1/0), and the index's passages and
 * documents at connect time.  Empty string / 0 before a connection. */
CPQ_API const char *cpq_client_server_version(const cpq_client *c);
CPQ_API int cpq_client_auth_required(const cpq_client *c);
CPQ_API uint64_t cpq_client_greeting_passages(const cpq_client *c);
CPQ_API uint64_t cpq_client_greeting_docs(const cpq_client *c);

/* The index generation of the last reply that carried gen=G (the
 * greeting's at first); 0 before any. */
CPQ_API uint64_t cpq_client_gen(const cpq_client *c);

/* The code of the last failed call on c (CPQ_RC_OK after a success). */
CPQ_API int cpq_client_errcode(const cpq_client *c);
/* A message for people about the last failure ("connect to 127.0.0.1
 * port 7878: Connection refused", or the server's message); "" after a
 * success.  Valid until the next call on c. */
CPQ_API const char *cpq_client_errmsg(const cpq_client *c);
/* When the last failure was a server error: the code as the server sent it
 * ("ARG", "NOTFOUND"; a code unknown to this library is kept as sent) and
 * its message (unescaped).  "" otherwise.  Valid until the next call on c. */
CPQ_API const char *cpq_client_server_code(const cpq_client *c);
CPQ_API const char *cpq_client_server_msg(const cpq_client *c);

/* ---------------------------------------------------------------------- */
/* Simple commands                                                         */
/* ---------------------------------------------------------------------- */

/* PING: CPQ_RC_OK when the server answered "OK PONG". */
CPQ_API int cpq_client_ping(cpq_client *c);

/* AUTH with password[0..len) (len may be (size_t)-1 for a C string).  The
 * password may not contain CR, LF or NUL, nor begin or end with white
 * space (the server trims it): CPQ_RC_INVAL.  Returns CPQ_RC_OK (and the
 * role the server granted - "user", "admin" or "none" when the server has
 * no password - through role, which may be NULL, copied into rolecap
 * bytes), or CPQ_RC_S_AUTH for a wrong password, or a connection error. */
CPQ_API int cpq_client_auth(cpq_client *c, const char *password, size_t len, char *role,
                            size_t rolecap);

/* COUNT: the exact number of passages matching query (documents with
 * group != 0) into *count.  all != 0 is all-words mode.  Returns
 * CPQ_RC_OK, CPQ_RC_S_QUERY / CPQ_RC_S_LIMIT for a query the server
 * rejects, CPQ_RC_INVAL (query NULL or holding CR, LF or NUL), or a
 * connection error. */
CPQ_API int cpq_client_count(cpq_client *c, const char *query, int group, int all,
                             uint64_t *count);

/* ---------------------------------------------------------------------- */
/* SEARCH                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct cpq_client_search_opts {
    unsigned limit;      /* hits, 0..1000; default 10 */
    unsigned offset;     /* hits to skip; offset + limit <= 10000; default 0 */
    unsigned snippet;    /* snippet window in bytes, 0 (none) or 16..65536; default 200 */
    int group;           /* one hit per document (its best passage); default 0 */
    int all;             /* all-words mode: bare terms are required; default 0 */
    int exact;           /* count every match exactly (slower); default 0 */
    double k1;           /* BM25 k1 in 0..10; < 0: the server's (default -1) */
    double b;            /* BM25 b in 0..1; < 0: the server's (default -1) */
    unsigned budget_ms;  /* time budget, 1..60000; 0: the server's (default) */
} cpq_client_search_opts;

CPQ_API void cpq_client_search_opts_init(cpq_client_search_opts *o);

/* One hit.  Pointers stay valid until the cpq_client_hits is freed. */
typedef struct cpq_client_hit {
    uint64_t rank;          /* from offset + 1 */
    uint64_t passage;       /* passage number (for cpq_client_get, cpq_client_explain) */
    const char *doc;        /* the document's id, NUL-terminated */
    size_t doc_len;
    uint64_t docnum;        /* the document's number */
    uint64_t ord;           /* the passage's ordinal in its document */
    uint64_t start, end;    /* the passage's byte range in the document text */
    double score;           /* BM25 score */
    int has_snippet;        /* 0 when snippet == 0 was asked: the rest is empty */
    uint64_t win_start, win_end; /* the snippet window, a byte range of the passage */
    const char *snippet;    /* exactly the window's bytes (passage[win_start..win_end)),
                               no markers, NUL-terminated */
    size_t snippet_len;
    const uint32_t *hl;     /* highlight spans: hl[2i]..hl[2i+1] is a byte range of
                               snippet (start inclusive, end exclusive) */
    size_t nhl;             /* number of spans (hl holds 2 * nhl numbers) */
} cpq_client_hit;

/* The result of a search.  The fields are read-only. */
typedef struct cpq_client_hits {
    size_t count;        /* hits returned; see cpq_client_hits_at */
    uint64_t total;      /* matching passages (documents with group) */
    int exact;           /* 1: total is exact; 0: it is a lower bound */
    int partial;         /* 1: the time budget ran out; these are the best found */
    int capped;          /* 1: a prefix* had more expansions than the server's cap */
    uint64_t gen;        /* the index generation that answered */
    uint64_t us;         /* the server's time in microseconds */
} cpq_client_hits;

/* SEARCH query with options *o (NULL: defaults).  On success *out is a new
 * result (free with cpq_client_hits_free), possibly with 0 hits.  Returns
 * CPQ_RC_OK, CPQ_RC_INVAL (query NULL or holding CR/LF/NUL, an option out
 * of range), CPQ_RC_S_QUERY / CPQ_RC_S_LIMIT / CPQ_RC_S_ARG from the
 * server, or a connection error; then *out is NULL. */
CPQ_API int cpq_client_search(cpq_client *c, const char *query, const cpq_client_search_opts *o,
                              cpq_client_hits **out);

/* The i-th hit (0-based), or NULL when i >= r->count or r is NULL. */
CPQ_API const cpq_client_hit *cpq_client_hits_at(const cpq_client_hits *r, size_t i);

CPQ_API void cpq_client_hits_free(cpq_client_hits *r);

/* ---------------------------------------------------------------------- */
/* GET and DOC                                                             */
/* ---------------------------------------------------------------------- */

/* One passage (GET) or one passage line of a document (DOC: no doc, no
 * text). */
typedef struct cpq_client_passage {
    uint64_t passage;
    const char *doc;        /* GET: the document's id; DOC: "" */
    size_t doc_len;
    uint64_t docnum;
    uint64_t ord;
    uint64_t start, end;    /* byte range in the document text */
    uint64_t len;           /* tokens */
    const char *text;       /* GET: the passage's bytes (NUL-terminated; may hold NULs); DOC: "" */
    size_t text_len;
    uint64_t gen;
} cpq_client_passage;

/* GET passage.  On success *out is a new passage (free with
 * cpq_client_passage_free).  Returns CPQ_RC_OK, CPQ_RC_S_NOTFOUND,
 * CPQ_RC_S_TOOBIG, CPQ_RC_TOOBIG, or a connection error. */
CPQ_API int cpq_client_get(cpq_client *c, uint64_t passage, cpq_client_passage **out);
CPQ_API void cpq_client_passage_free(cpq_client_passage *p);

typedef struct cpq_client_document {
    const char *doc;        /* the document's id, NUL-terminated */
    size_t doc_len;
    uint64_t docnum;
    uint64_t bytes;         /* length of the text */
    size_t npassages;       /* see cpq_client_document_passage */
    const char *text;       /* the whole text (NUL-terminated; may hold NULs) */
    size_t text_len;
    uint64_t gen;
} cpq_client_document;

/* DOC by id (id[0..len), len may be (size_t)-1 for a C string; any bytes
 * but CR, LF and NUL) or by number (cpq_client_doc_num).  On success *out
 * is a new document (free with cpq_client_document_free).  Returns
 * CPQ_RC_OK, CPQ_RC_S_NOTFOUND, CPQ_RC_S_TOOBIG, CPQ_RC_TOOBIG,
 * CPQ_RC_INVAL, or a connection error. */
CPQ_API int cpq_client_doc(cpq_client *c, const char *id, size_t len, cpq_client_document **out);
CPQ_API int cpq_client_doc_num(cpq_client *c, uint64_t docnum, cpq_client_document **out);
/* The i-th passage of d, in document order, or NULL when i >= npassages. */
CPQ_API const cpq_client_passage *cpq_client_document_passage(const cpq_client_document *d,
                                                              size_t i);
CPQ_API void cpq_client_document_free(cpq_client_document *d);

/* ---------------------------------------------------------------------- */
/* EXPLAIN                                                                 */
/* ---------------------------------------------------------------------- */

/* One scoring leaf of the query. */
typedef struct cpq_client_term {
    const char *text;       /* the term (or phrase) as analysed, NUL-terminated */
    size_t text_len;
    int phrase;
    uint64_t df;            /* passages holding it */
    double idf;
    uint64_t tf;            /* occurrences in the passage */
    uint64_t len;           /* the passage's length in tokens */
    double norm;
    double score;           /* its share of the passage's score */
} cpq_client_term;

typedef struct cpq_client_explanation {
    uint64_t passage;
    int matched;            /* the passage matches the query */
    int excluded;           /* a NOT clause excludes it */
    double score, k1, b, avglen;
    uint64_t len;
    int truncated;          /* more leaves than the server lists */
    uint64_t gen;
    size_t nterms;          /* see cpq_client_explanation_term */
} cpq_client_explanation;

/* EXPLAIN how passage scores for query; only o->k1 and o->b are used (o
 * may be NULL).  On success *out is new (free with
 * cpq_client_explanation_free).  Returns CPQ_RC_OK, CPQ_RC_S_NOTFOUND,
 * CPQ_RC_S_QUERY, CPQ_RC_INVAL, or a connection error. */
CPQ_API int cpq_client_explain(cpq_client *c, uint64_t passage, const char *query,
                               const cpq_client_search_opts *o, cpq_client_explanation **out);
/* The i-th leaf, or NULL when i >= nterms. */
CPQ_API const cpq_client_term *cpq_client_explanation_term(const cpq_client_explanation *e,
                                                           size_t i);
CPQ_API void cpq_client_explanation_free(cpq_client_explanation *e);

/* ---------------------------------------------------------------------- */
/* STATS and INFO                                                          */
/* ---------------------------------------------------------------------- */

typedef struct cpq_client_kv {
    const char *name;       /* NUL-terminated */
    const char *value;      /* unescaped, NUL-terminated */
} cpq_client_kv;

typedef struct cpq_client_kvlist {
    size_t count;           /* see cpq_client_kvlist_at */
    uint64_t gen;
} cpq_client_kvlist;

/* STATS / INFO: the server's name/value lines in the order sent.  On
 * success *out is new (free with cpq_client_kvlist_free).  Returns
 * CPQ_RC_OK or a connection or server error. */
CPQ_API int cpq_client_stats(cpq_client *c, cpq_client_kvlist **out);
CPQ_API int cpq_client_info(cpq_client *c, cpq_client_kvlist **out);
/* The i-th pair, or NULL when i >= count. */
CPQ_API const cpq_client_kv *cpq_client_kvlist_at(const cpq_client_kvlist *l, size_t i);
/* The value of the first pair named name, or NULL when there is none. */
CPQ_API const char *cpq_client_kvlist_get(const cpq_client_kvlist *l, const char *name);
CPQ_API void cpq_client_kvlist_free(cpq_client_kvlist *l);

/* ---------------------------------------------------------------------- */
/* Any request                                                             */
/* ---------------------------------------------------------------------- */

/* A whole reply as it came off the wire. */
typedef struct cpq_client_reply {
    const char *data;       /* every line, LF included, "text N" bytes included;
                               NUL-terminated (data[len] == 0) */
    size_t len;
    int ok;                 /* 1: the status line is OK; 0: ERR */
    const char *status;     /* the status line without its LF, NUL-terminated */
} cpq_client_reply;

/* Sends line (one request without its LF; no CR, LF or NUL; e.g. "HELP")
 * and reads its reply, whatever it is, into *out (free with
 * cpq_client_reply_free).  An ERR reply is still CPQ_RC_OK here, with
 * out->ok == 0: only connection and protocol errors fail.  "MODE json"
 * is refused with CPQ_RC_INVAL (this library reads text mode only);
 * "QUIT" closes the handle after its reply. */
CPQ_API int cpq_client_raw(cpq_client *c, const char *line, cpq_client_reply **out);
CPQ_API void cpq_client_reply_free(cpq_client_reply *r);

#ifdef __cplusplus
}
#endif
#endif /* CPQ_CLIENT_H */
