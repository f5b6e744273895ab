/*
 * cpqproto.h - the codec of cpq's line protocol (protocol/PROTOCOL.md),
 * shared by the daemon (cpqd) and the client library (libcpq).
 *
 * Introduction
 * ------------
 * PROTOCOL.md is normative; this header is its C form.  Four parts:
 *   1. requests: parse a request line into tag, command, options and
 *      arguments (cpq_proto_parse_request), interpret the search options
 *      (cpq_proto_search_parse), and format a request (cpq_proto_format_req)
 *   2. escaping: section 5's free-text and token escapes, UTF-8 checking
 *   3. replies, written: cpq_pbuf (a bounded growable buffer) and
 *      cpq_rw (one reply, written once, comes out as text or as JSON)
 *   4. replies, read: classify a reply line, iterate its key=value fields,
 *      parse numbers and ranges
 *
 * Depends on libc only.  Nothing here allocates except cpq_pbuf, which
 * never grows past the maximum it was given.  Every input is untrusted:
 * every function accepts any bytes of the given length (they need not be
 * NUL-terminated) and never reads past them.  No global state; every
 * function is thread-safe on distinct objects.
 *
 * Strings returned as cpq_proto_str point into the caller's input and are
 * valid as long as it is.
 */
#ifndef CPQ_PROTO_H
#define CPQ_PROTO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CPQ_PROTO_VERSION 1            /* PROTOCOL.md's version; see its bump rule */
#define CPQ_PROTO_PORT_DEFAULT 7878
#define CPQ_PROTO_LINE_MAX 65536u      /* request line including its LF */
#define CPQ_PROTO_TAG_MAX 64u          /* tag characters, without the '@' */
#define CPQ_PROTO_OPTS_MAX 32u         /* options per request */
#define CPQ_PROTO_NAME_MAX 32u         /* option name characters */
#define CPQ_PROTO_MARK_MAX 32u         /* :open, :close, :ellipsis bytes (unescaped) */
#define CPQ_PROTO_LIMIT_MAX 1000u      /* :limit */
#define CPQ_PROTO_WINDOW_MAX 10000u    /* :offset + :limit */
#define CPQ_PROTO_SNIPPET_MIN 16u
#define CPQ_PROTO_SNIPPET_MAX 65536u
#define CPQ_PROTO_SNIPPET_DEFAULT 200u
#define CPQ_PROTO_BUDGET_MAX 60000u    /* :budget, milliseconds */
#define CPQ_PROTO_REPLY_MAX (16u << 20) /* default reply limit */

/* ---------------------------------------------------------------------- */
/* Error codes on the wire (PROTOCOL.md section 7)                         */
/* ---------------------------------------------------------------------- */

/* Pinned values; the wire carries the names.  CPQ_PROTO_OK is not a wire
 * code: it is what the functions below return on success. */
enum {
    CPQ_PROTO_OK = 0,
    CPQ_PROTO_SYNTAX = 1,
    CPQ_PROTO_UNKNOWN = 2,
    CPQ_PROTO_ARG = 3,
    CPQ_PROTO_QUERY = 4,
    CPQ_PROTO_ENCODING = 5,
    CPQ_PROTO_TOOLONG = 6,
    CPQ_PROTO_NOAUTH = 7,
    CPQ_PROTO_AUTH = 8,
    CPQ_PROTO_NOTFOUND = 9,
    CPQ_PROTO_TOOBIG = 10,
    CPQ_PROTO_LIMIT = 11,
    CPQ_PROTO_BUSY = 12,
    CPQ_PROTO_DISABLED = 13,
    CPQ_PROTO_RELOAD = 14,
    CPQ_PROTO_TIMEOUT = 15,
    CPQ_PROTO_INTERNAL = 16,
    CPQ_PROTO_CODE_COUNT
};

/* "SYNTAX" for CPQ_PROTO_SYNTAX, ...; "OK" for 0; NULL when out of range. */
const char *cpq_proto_code_name(int code);

/* The code named by s[0..n) (exact, upper case), or -1. */
int cpq_proto_code_lookup(const char *s, size_t n);

/* ---------------------------------------------------------------------- */
/* Requests                                                                */
/* ---------------------------------------------------------------------- */

enum {
    CPQ_CMD_NONE = 0,   /* an empty line: not a request, no reply */
    CPQ_CMD_PING,
    CPQ_CMD_SEARCH,
    CPQ_CMD_COUNT,
    CPQ_CMD_EXPLAIN,
    CPQ_CMD_GET,
    CPQ_CMD_DOC,
    CPQ_CMD_STATS,
    CPQ_CMD_INFO,
    CPQ_CMD_AUTH,
    CPQ_CMD_RELOAD,
    CPQ_CMD_MODE,
    CPQ_CMD_HELP,
    CPQ_CMD_QUIT,
    CPQ_CMD_COUNT_      /* number of commands (not a command) */
};

/* "SEARCH" for CPQ_CMD_SEARCH, ...; NULL when out of range or NONE. */
const char *cpq_proto_cmd_name(int cmd);

/* The command whose word is s[0..n), case-insensitive, or -1. */
int cpq_proto_cmd_lookup(const char *s, size_t n);

typedef struct cpq_proto_str {
    const char *p;      /* not NUL-terminated; NULL only when n == 0 */
    size_t n;
} cpq_proto_str;

typedef struct cpq_proto_opt {
    cpq_proto_str name;   /* without ':' (as sent; compare case-insensitively) */
    cpq_proto_str value;  /* still token-escaped; empty when !has_value */
    int has_value;        /* the option had '=' (possibly with an empty value) */
} cpq_proto_opt;

typedef struct cpq_proto_req {
    cpq_proto_str tag;    /* without '@'; n == 0 when the request had none */
    int cmd;              /* CPQ_CMD_*; -1 when the word is unknown */
    cpq_proto_str word;   /* the command word as sent */
    cpq_proto_opt opts[CPQ_PROTO_OPTS_MAX];
    size_t nopts;
    cpq_proto_str args;   /* the rest of the line (section 3); may be empty */
} cpq_proto_req;

/* Parse one request line line[0..len), without its LF (a CR at the end is
 * removed here).  Returns CPQ_PROTO_OK and fills *req (req->cmd is
 * CPQ_CMD_NONE for an empty line), or a wire code with msg (at most
 * msgcap bytes including NUL; may be NULL when msgcap is 0) saying what
 * and at which column (1-based byte):
 *   CPQ_PROTO_TOOLONG   len >= CPQ_PROTO_LINE_MAX
 *   CPQ_PROTO_ENCODING  invalid UTF-8 or a NUL byte
 *   CPQ_PROTO_SYNTAX    a bad tag, a bad option word, more than
 *                       CPQ_PROTO_OPTS_MAX options
 *   CPQ_PROTO_UNKNOWN   the command word is not a command (req->cmd is -1)
 * On error, req->tag is still set whenever the tag itself was valid, so
 * the error reply can carry it.  Options are only split, not interpreted:
 * see cpq_proto_search_parse. */
int cpq_proto_parse_request(const char *line, size_t len, cpq_proto_req *req, char *msg,
                            size_t msgcap);

/* Options of SEARCH, COUNT, EXPLAIN and DOC (PROTOCOL.md section 3.1). */
typedef struct cpq_proto_search {
    uint32_t limit;               /* default 10 */
    uint32_t offset;              /* default 0 */
    uint32_t snippet;             /* default CPQ_PROTO_SNIPPET_DEFAULT; 0 = none */
    char open[CPQ_PROTO_MARK_MAX + 1];     /* unescaped, NUL-terminated; default "[" */
    char close[CPQ_PROTO_MARK_MAX + 1];    /* default "]" */
    char ellipsis[CPQ_PROTO_MARK_MAX + 1]; /* default "..." */
    int group, all, exact;        /* flags, default 0 */
    double k1, b;                 /* valid when has_k1 / has_b */
    int has_k1, has_b;
    uint32_t budget_ms;           /* 0: the server's budget */
    uint32_t num;                 /* DOC :num=D; valid when has_num */
    int has_num;
} cpq_proto_search;

void cpq_proto_search_default(cpq_proto_search *s);

/* Interpret req->opts for req->cmd into *s (which the caller has set to
 * defaults).  An option the command does not take, an unknown or repeated
 * option, a bad or out-of-range value, or a marker containing NUL is
 * CPQ_PROTO_ARG with msg naming the option.  COUNT takes :group :all
 * :budget; EXPLAIN takes :k1 :b :all; SEARCH takes all but :num; DOC takes
 * only :num; other commands take none.  Values are unescaped (token rules)
 * before they are checked; an option without "=value" means "1" for every
 * option (section 3), so ":limit" is :limit=1.  Numbers are plain decimal
 * (cpq_proto_parse_u64), k1 and b strtod syntax (cpq_proto_parse_dbl) in
 * the C locale's format.  On error *s may be partly changed. */
int cpq_proto_search_parse(const cpq_proto_req *req, cpq_proto_search *s, char *msg,
                           size_t msgcap);

/* Format a request line, LF included, into buf: "[@tag ]COMMAND" + every
 * option of s (NULL: none) that differs from its default and that cmd
 * takes, token-escaped + " --" (only when an option was written or the
 * arguments' first word begins with ':' or is "--") + " " +
 * arg[0..arglen) (nothing when arglen is 0).  White space around arg is
 * dropped, as the parser would drop it.  Flags are written ":group", k1
 * and b with %.17g, so cpq_proto_parse_request + cpq_proto_search_parse
 * give back exactly s (fuzz/fuzz_proto_request.c checks this).  tag may be
 * NULL or "".  Writes at most cap bytes including a NUL and returns the
 * length of the full line, as snprintf does, or -1 when the line would be
 * invalid: the command is unknown, the tag is not a valid tag, arg
 * contains CR, LF or NUL or is not valid UTF-8, or the line would be
 * longer than CPQ_PROTO_LINE_MAX bytes (LF included). */
long cpq_proto_format_req(char *buf, size_t cap, const char *tag, int cmd,
                          const cpq_proto_search *s, const char *arg, size_t arglen);

/* ---------------------------------------------------------------------- */
/* Escaping (PROTOCOL.md section 5)                                         */
/* ---------------------------------------------------------------------- */

#define CPQ_PROTO_ESC_TOKEN 1u   /* also escape SP (values); otherwise free text */

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int cpq_proto_utf8_valid(const char *s, size_t n);

/* Escape src[0..len) into dst; writes at most cap bytes including a NUL
 * and returns the escaped length (snprintf-like). */
size_t cpq_proto_escape(char *dst, size_t cap, const char *src, size_t len, unsigned flags);

/* Unescape src[0..len) into dst (dst == src is allowed: the result is
 * never longer).  Returns the unescaped length, or -1 for a bad escape
 * sequence or when the result does not fit cap bytes.  No NUL is
 * appended. */
long cpq_proto_unescape(char *dst, size_t cap, const char *src, size_t len);

/* ---------------------------------------------------------------------- */
/* Replies, written: a bounded buffer                                      */
/* ---------------------------------------------------------------------- */

/* A growable byte buffer that never holds more than max bytes.  Errors
 * are sticky (as in SQLite's fts5_buffer.c): once an append fails, every
 * later append does nothing (an append that does not fit adds nothing),
 * and cpq_pbuf_error says why.  Once p is allocated, p[len] is a NUL (not
 * counted in len or max).  cpq_pbuf_free releases the memory and leaves
 * an empty buffer with the same max. */
typedef struct cpq_pbuf {
    char *p;
    size_t len, cap, max;
    int err;            /* 0, CPQ_PROTO_TOOBIG (max reached) or CPQ_PROTO_INTERNAL (ENOMEM) */
} cpq_pbuf;

void cpq_pbuf_init(cpq_pbuf *b, size_t max);
void cpq_pbuf_free(cpq_pbuf *b);            /* NULL is accepted */
void cpq_pbuf_reset(cpq_pbuf *b);           /* len = 0, err = 0; keeps memory */
void cpq_pbuf_add(cpq_pbuf *b, const void *p, size_t n);
void cpq_pbuf_addf(cpq_pbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void cpq_pbuf_escape(cpq_pbuf *b, const char *s, size_t n, unsigned flags);
/* A JSON string with its quotes; invalid UTF-8 becomes U+FFFD. */
void cpq_pbuf_json_str(cpq_pbuf *b, const char *s, size_t n);
static inline int cpq_pbuf_error(const cpq_pbuf *b) { return b->err; }

/* ---------------------------------------------------------------------- */
/* Replies, written: one reply in text or JSON                             */
/* ---------------------------------------------------------------------- */

/* A reply writer.  The caller describes the reply once - records, then
 * the status - and the writer emits PROTOCOL.md section 4 (text) or
 * section 8 (JSON) into a cpq_pbuf (keywords are [a-z_], 1..15 bytes;
 * keys [A-Za-z0-9_], 1..64):
 *
 *     cpq_rw w;
 *     cpq_rw_begin(&w, buf, json, tag);
 *     cpq_rw_record(&w, "hit");             text: "hit ..."   JSON: "hits":[{...
 *     cpq_rw_u64(&w, "rank", 1);            text: " rank=1"   JSON: "rank":1
 *     cpq_rw_str(&w, "doc", id, idlen);     token-escaped / JSON string
 *     cpq_rw_line(&w, "snippet", s, n);     text: LF "snippet <free text>"
 *                                           JSON: "snippet":"..." in the record
 *     cpq_rw_ok(&w);                        text: LF "[@tag ]OK"  JSON: ],...
 *     cpq_rw_u64(&w, "total", 12);
 *     cpq_rw_end(&w);                       text: LF   JSON: }LF
 *
 * Records of one keyword form one JSON array named by
 * cpq_rw_array_name(keyword): hit->hits, term->terms, passage->passages,
 * help->help, any other keyword -> itself; stat and info records
 * (cpq_rw_stat) form objects named stats and info; a "doc" record's
 * fields go to a "doc" object.  Records of one keyword must be
 * consecutive.  An array or object is written only when it has an
 * element (no hits: no "hits" member).  The keys of one record (its
 * fields and its lines' keywords) must be distinct, as must the status
 * keys: the writer does not check that.
 *
 * cpq_rw_line inside a record (after cpq_rw_record) ends that record's
 * fields: text, its own data line after the record's line; JSON, a string
 * member of the record.  Without an open record (or after stat lines or
 * the literal) it is a data line of its own: in JSON consecutive lines of
 * one keyword form an array of strings named cpq_rw_array_name(keyword)
 * ("help":["...","..."]).  cpq_rw_literal's keyword must be "text"; text
 * writes "text N" LF, the bytes and LF; JSON a top-level "text" string;
 * at most one per reply.
 *
 * JSON status fields: a status key that is also one of the writer's
 * member names (hits terms passages help stats info doc text tag ok code
 * message reply) is written as "n" + key, so an object never has a key
 * twice: SEARCH's hits=H becomes "nhits":H next to "hits":[...].
 *
 * Errors: cpq_rw_err replaces everything written for this reply with one
 * ERR status line.  cpq_rw_end does the same by itself when the buffer
 * failed (ERR TOOBIG when max was reached, ERR INTERNAL on ENOMEM) and
 * then leaves cpq_pbuf_error(b) set: the buffer holds a well-formed ERR
 * reply, and the caller can tell (and count) that, or call cpq_rw_err to
 * put its own message in (which clears the error).  cpq_rw_end also
 * writes ERR INTERNAL when the writer was misused (a field with no open
 * record or status, a record or line after cpq_rw_ok, fields after a
 * record's line, a bad keyword or key, an array or the literal twice);
 * misuse makes every later call a no-op and does not set the buffer's
 * error.  So the reply is always well formed.  The writer appends to b
 * starting at b->len at begin time; a tag that is not a valid tag is
 * dropped. */
typedef struct cpq_rw {
    cpq_pbuf *b;
    size_t start;         /* b->len at cpq_rw_begin */
    int json;
    char tag[CPQ_PROTO_TAG_MAX + 1];
    int state;            /* private */
    char kw[16];          /* private: keyword of the open record/array */
    int nfields;          /* private */
} cpq_rw;

void cpq_rw_begin(cpq_rw *w, cpq_pbuf *b, int json, const cpq_proto_str *tag);
void cpq_rw_record(cpq_rw *w, const char *keyword);
void cpq_rw_u64(cpq_rw *w, const char *key, uint64_t v);
void cpq_rw_i64(cpq_rw *w, const char *key, int64_t v);
void cpq_rw_dbl(cpq_rw *w, const char *key, double v);       /* %.6g; non-finite as 0 */
void cpq_rw_flag(cpq_rw *w, const char *key, int v);         /* text 0/1, JSON false/true */
void cpq_rw_str(cpq_rw *w, const char *key, const char *s, size_t n);
void cpq_rw_range(cpq_rw *w, const char *key, uint64_t a, uint64_t b);      /* A-B / [A,B] */
void cpq_rw_spans(cpq_rw *w, const char *key, const uint32_t *pairs, size_t npairs);
                                                   /* A-B,C-D / [[A,B],[C,D]]; pairs[2i], pairs[2i+1] */
void cpq_rw_line(cpq_rw *w, const char *keyword, const char *s, size_t n);  /* free text */
void cpq_rw_literal(cpq_rw *w, const char *keyword, const char *s, size_t n); /* "text N" + bytes */
/* "stat NAME VALUE" / "info NAME VALUE" (NAME and VALUE token-escaped;
 * value given as text: in JSON it is written as a number when it is a
 * JSON number (RFC 8259 grammar: "12", "0.9", not "007" or "inf"),
 * otherwise as a string). */
void cpq_rw_stat(cpq_rw *w, const char *keyword, const char *name, const char *value);
void cpq_rw_ok(cpq_rw *w);                   /* ends the records; status fields follow */
void cpq_rw_word(cpq_rw *w, const char *word); /* a bare word after OK (text: " PONG"; JSON: "reply":"PONG") */
void cpq_rw_end(cpq_rw *w);  /* ends the reply (writes the status first if cpq_rw_ok was not
                                 called); replaces it with ERR after a buffer failure (keeping
                                 the buffer's error set) or misuse; see above */
/* Replace the reply with "[@tag ]ERR CODE message" (message free-text
 * escaped, cut at 511 bytes) / {"ok":false,"code":..,"message":..}.
 * Usable at any point after begin (also after end), ends the reply; a
 * code that is not a wire code is written as INTERNAL.  It clears the
 * buffer's error and is written even past max (this one bounded line
 * only), so it gets through after TOOBIG. */
void cpq_rw_err(cpq_rw *w, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The JSON array/object name for a record keyword ("hits" for "hit"). */
const char *cpq_rw_array_name(const char *keyword);

/* ---------------------------------------------------------------------- */
/* Replies, read                                                           */
/* ---------------------------------------------------------------------- */

enum {
    CPQ_RL_DATA = 1,    /* "keyword rest" */
    CPQ_RL_TEXT = 2,    /* "text N": N raw bytes and an LF follow */
    CPQ_RL_OK = 3,      /* status "OK rest" */
    CPQ_RL_ERR = 4,     /* status "ERR CODE rest" */
};

typedef struct cpq_proto_line {
    int kind;               /* CPQ_RL_* */
    cpq_proto_str tag;      /* status lines: without '@'; else empty */
    cpq_proto_str keyword;  /* DATA, TEXT: the keyword */
    int code;               /* ERR: CPQ_PROTO_*; CPQ_PROTO_INTERNAL for an unknown name */
    cpq_proto_str code_name;/* ERR: as sent */
    cpq_proto_str rest;     /* after the keyword / OK / code, one SP removed */
    uint64_t text_len;      /* TEXT: bytes that follow */
} cpq_proto_line;

/* Classify one reply line line[0..len) (without its LF; a trailing CR is
 * removed).  Returns 0, or -1 when it is not a valid reply line (bad tag,
 * no keyword, ERR without a code, a "text" length that is not a number
 * below 2^40). */
int cpq_proto_parse_line(const char *line, size_t len, cpq_proto_line *out);

/* Iterate the space-separated words of a line's rest as key=value. */
typedef struct cpq_proto_fields {
    const char *p, *end;
} cpq_proto_fields;

void cpq_proto_fields_init(cpq_proto_fields *f, const cpq_proto_str *rest);
/* Next word: 1 with key and val set (val empty and *has_value 0 for a word
 * without '='), 0 at the end.  val is still token-escaped. */
int cpq_proto_fields_next(cpq_proto_fields *f, cpq_proto_str *key, cpq_proto_str *val,
                          int *has_value);

/* Decimal, no sign, no leading '+', <= max: 0 and *out, or -1. */
int cpq_proto_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* A finite double (strtod syntax, whole string): 0 and *out, or -1. */
int cpq_proto_parse_dbl(const char *s, size_t n, double *out);
/* "A-B" with A <= B, both <= max: 0 or -1. */
int cpq_proto_parse_range(const char *s, size_t n, uint64_t max, uint64_t *a, uint64_t *b);

#ifdef __cplusplus
}
#endif
#endif
