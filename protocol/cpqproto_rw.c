/*
 * cpqproto_rw.c - the reply writer (cpq_rw): one description of a reply
 * comes out as PROTOCOL.md section 4 (text) or section 8 (JSON).
 *
 * Text lines are ended lazily only while a record's fields may still
 * follow (state RW_REC); everything else is written with its LF.  In JSON
 * the object opened at begin ("{" ["tag",] "ok":true) stays open until
 * the end, and arrays/objects of records are closed when something else
 * starts.  A call that does not fit the reply's shape (a field with no
 * record, a record after the status, a repeated array, ...) marks the
 * writer "misused": the rest is ignored and cpq_rw_end writes
 * ERR INTERNAL, so a daemon bug shows up as a well-formed error reply.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpqproto_int.h"

enum { RW_BEGIN, RW_REC, RW_RECL, RW_LINES, RW_KV, RW_TOP, RW_STATUS, RW_DONE };
#define RW_STATE 0xff
#define RW_MISUSE 0x100
#define RW_HADTEXT 0x200
#define RW_USED(i) (0x400 << (i))   /* the known keyword i's array was written */

enum { C_ARRAY, C_OBJECT, C_KV, C_NONE };

/* Record keywords and their JSON member; the index is RW_USED's bit. */
static const struct kwdef {
    const char *kw, *name;
    int kind;
} kws[] = {
    {"hit", "hits", C_ARRAY},
    {"term", "terms", C_ARRAY},
    {"passage", "passages", C_ARRAY},
    {"help", "help", C_ARRAY},
    {"stat", "stats", C_KV},
    {"info", "info", C_KV},
    {"doc", "doc", C_OBJECT},
    {"text", "text", C_NONE},
};
#define NKWS (sizeof kws / sizeof kws[0])

/* Status keys that would collide in JSON with the members above or the
 * writer's own; they are written as "n" + key ("hits" -> "nhits"). */
static const char *const reserved[] = {"hits", "terms", "passages", "help", "stats", "info",
                                       "doc", "text", "tag", "ok", "code", "message", "reply"};

static int kw_index(const char *kw)
{
    for (size_t i = 0; i < NKWS; i++)
        if (strcmp(kws[i].kw, kw) == 0) return (int)i;
    return -1;
}

const char *cpq_rw_array_name(const char *keyword)
{
    int i;

    if (!keyword) return NULL;
    i = kw_index(keyword);
    return i < 0 ? keyword : kws[i].name;
}

static int kind_of(const char *kw)
{
    int i = kw_index(kw);
    return i < 0 ? C_ARRAY : kws[i].kind;
}

static int st(const cpq_rw *w)
{
    return w->state & RW_STATE;
}

static void set_st(cpq_rw *w, int s)
{
    w->state = (w->state & ~RW_STATE) | s;
}

/* Keywords: [a-z_]{1,15} (they fit w->kw). */
static int kw_ok(const char *kw)
{
    size_t n = 0;

    if (!kw) return 0;
    for (; kw[n]; n++)
        if (!((kw[n] >= 'a' && kw[n] <= 'z') || kw[n] == '_') || n >= sizeof ((cpq_rw *)0)->kw - 1)
            return 0;
    return n > 0;
}

/* Keys: [A-Za-z0-9_]{1,64}.  Returns the key's length, 0 when it is not one. */
static size_t key_ok(const char *k)
{
    size_t n = 0;

    if (!k) return 0;
    for (; k[n]; n++) {
        char c = k[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_') || n >= 64)
            return 0;
    }
    return n;
}

/* 1 when the writer takes no more calls (misused or done). */
static int dead(const cpq_rw *w)
{
    return (w->state & RW_MISUSE) || st(w) == RW_DONE;
}

static void misuse(cpq_rw *w)
{
    if (st(w) != RW_DONE) w->state |= RW_MISUSE;
}

static void add(cpq_rw *w, const char *s)
{
    cpq_pbuf_add(w->b, s, strlen(s));
}

/* A JSON reply's opening: the brace and, when the request had one, its tag. */
static void json_open(cpq_rw *w)
{
    add(w, "{");
    if (w->tag[0]) {
        add(w, "\"tag\":\"");
        add(w, w->tag);
        add(w, "\",");
    }
}

/* End what is open: a text record line, a JSON array/object. */
static void close_open(cpq_rw *w)
{
    switch (st(w)) {
    case RW_REC:
    case RW_RECL:
        if (!w->json) {
            if (st(w) == RW_REC) add(w, "\n");
        } else {
            add(w, kind_of(w->kw) == C_OBJECT ? "}" : "}]");
        }
        break;
    case RW_LINES:
        if (w->json) add(w, "]");
        break;
    case RW_KV:
        if (w->json) add(w, "}");
        break;
    default:
        break;
    }
    w->kw[0] = '\0';
}

/* Start a new array/object named for kw: refuse a name already used. */
static int claim(cpq_rw *w, const char *kw)
{
    int i = kw_index(kw);

    if (i >= 0) {
        if (w->state & RW_USED(i)) {
            misuse(w);
            return 0;
        }
        w->state |= RW_USED(i);
    }
    close_open(w);
    snprintf(w->kw, sizeof w->kw, "%s", kw);
    return 1;
}

void cpq_rw_begin(cpq_rw *w, cpq_pbuf *b, int json, const cpq_proto_str *tag)
{
    w->b = b;
    w->start = b->len;
    w->json = json != 0;
    w->tag[0] = '\0';
    if (tag && tag->n && cpq_proto_tag_valid(tag->p, tag->n)) {
        memcpy(w->tag, tag->p, tag->n);
        w->tag[tag->n] = '\0';
    }
    w->state = RW_BEGIN;
    w->kw[0] = '\0';
    w->nfields = 0;
    if (w->json) {
        json_open(w);
        add(w, "\"ok\":true");
    }
}

void cpq_rw_record(cpq_rw *w, const char *keyword)
{
    if (dead(w)) return;
    if (!kw_ok(keyword) || st(w) == RW_STATUS) {
        misuse(w);
        return;
    }
    int kind = kind_of(keyword);
    if (kind == C_KV || kind == C_NONE) {   /* stat/info: cpq_rw_stat; text: cpq_rw_literal */
        misuse(w);
        return;
    }
    if ((st(w) == RW_REC || st(w) == RW_RECL) && kind == C_ARRAY && strcmp(w->kw, keyword) == 0) {
        if (w->json) add(w, "},{");
        else if (st(w) == RW_REC) add(w, "\n");
    } else {
        if (!claim(w, keyword)) return;
        if (w->json) {
            add(w, ",\"");
            add(w, cpq_rw_array_name(keyword));
            add(w, kind == C_OBJECT ? "\":{" : "\":[{");
        }
    }
    if (!w->json) add(w, keyword);
    w->nfields = 0;
    set_st(w, RW_REC);
}

/* Write the key of a field of the open record or of the status. */
static int field(cpq_rw *w, const char *key)
{
    if (dead(w)) return 0;
    size_t kn = key_ok(key);
    if (!kn || (st(w) != RW_REC && st(w) != RW_STATUS)) {
        misuse(w);
        return 0;
    }
    if (!w->json) {
        /* " key=" in one piece: a hit line has ten fields. */
        char t[64 + 2];
        t[0] = ' ';
        memcpy(t + 1, key, kn);
        t[kn + 1] = '=';
        cpq_pbuf_add(w->b, t, kn + 2);
        return 1;
    }
    if (st(w) == RW_REC) {
        add(w, w->nfields++ ? ",\"" : "\"");
    } else {
        add(w, ",\"");
        for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
            if (strcmp(key, reserved[i]) == 0) {
                add(w, "n");
                break;
            }
    }
    add(w, key);
    add(w, "\":");
    return 1;
}

/* Decimal digits of v, without printf: a hit has a dozen numbers, and
 * vfprintf was a visible part of a search's time in cpqd's profile. */
static void add_u64(cpq_pbuf *b, uint64_t v)
{
    char d[20];
    size_t n = sizeof d;
    do {
        d[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    cpq_pbuf_add(b, d + n, sizeof d - n);
}

void cpq_rw_u64(cpq_rw *w, const char *key, uint64_t v)
{
    if (field(w, key)) add_u64(w->b, v);
}

void cpq_rw_i64(cpq_rw *w, const char *key, int64_t v)
{
    if (field(w, key)) cpq_pbuf_addf(w->b, "%" PRId64, v);
}

/* v as printf's "%.6g" would write it.  Scores (one per hit) went through
 * vfprintf, a few percent of a search in cpqd's profile; most of them are
 * in [0.001, 100000), where %.6g is v rounded to 6 significant digits in
 * fixed notation without trailing zeros.  The rounding is done on v scaled
 * by a power of ten; whenever the scaled value is within 1e-6 of a
 * rounding boundary (where the scaling's error could matter), or the
 * value is elsewhere, printf does it. */
static void add_g6(cpq_pbuf *b, double v)
{
    static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8 };
    double a = v < 0 ? -v : v;
    if (a >= 1e-3 && a < 1e5) {
        int e = a >= 1e4 ? 4 : a >= 1e3 ? 3 : a >= 1e2 ? 2 : a >= 1e1 ? 1 : a >= 1 ? 0 : a >= 1e-1 ? -1 : a >= 1e-2 ? -2 : -3;
        int dec = 5 - e;                       /* digits after the point */
        double x = a * p10[dec];                /* < 1e6: truncation is floor (no libm) */
        double f = x - (double)(uint64_t)x;
        if (f < 0.5 - 1e-6 || f > 0.5 + 1e-6) {
            uint64_t m = (uint64_t)(x + 0.5);
            if (m < 1000000 && m >= 100000) {  /* still 6 digits: no carry into a 7th */
                char d[32];
                size_t n = sizeof d;
                int k = 0;
                while (k < dec && m % 10 == 0) {   /* trailing zeros go */
                    m /= 10;
                    k++;
                }
                for (; k < dec; k++) {
                    d[--n] = (char)('0' + m % 10);
                    m /= 10;
                }
                if (n < sizeof d) d[--n] = '.';
                do {
                    d[--n] = (char)('0' + m % 10);
                    m /= 10;
                } while (m);
                if (v < 0) d[--n] = '-';
                cpq_pbuf_add(b, d + n, sizeof d - n);
                return;
            }
        }
    }
    cpq_pbuf_addf(b, "%.6g", v);
}

void cpq_rw_dbl(cpq_rw *w, const char *key, double v)
{
    if (field(w, key)) add_g6(w->b, isfinite(v) ? v : 0.0);
}

void cpq_rw_flag(cpq_rw *w, const char *key, int v)
{
    if (field(w, key)) add(w, w->json ? (v ? "true" : "false") : (v ? "1" : "0"));
}

void cpq_rw_str(cpq_rw *w, const char *key, const char *s, size_t n)
{
    if (n && !s) {
        misuse(w);
        return;
    }
    if (!field(w, key)) return;
    if (w->json) cpq_pbuf_json_str(w->b, s, n);
    else cpq_pbuf_escape(w->b, s, n, CPQ_PROTO_ESC_TOKEN);
}

void cpq_rw_range(cpq_rw *w, const char *key, uint64_t a, uint64_t b)
{
    if (field(w, key)) {
        if (w->json) cpq_pbuf_add(w->b, "[", 1);
        add_u64(w->b, a);
        cpq_pbuf_add(w->b, w->json ? "," : "-", 1);
        add_u64(w->b, b);
        if (w->json) cpq_pbuf_add(w->b, "]", 1);
    }
}

void cpq_rw_spans(cpq_rw *w, const char *key, const uint32_t *pairs, size_t npairs)
{
    if (npairs && !pairs) {
        misuse(w);
        return;
    }
    if (!field(w, key)) return;
    if (w->json) add(w, "[");
    for (size_t i = 0; i < npairs && !w->b->err; i++) {
        if (i) cpq_pbuf_add(w->b, ",", 1);
        if (w->json) cpq_pbuf_add(w->b, "[", 1);
        add_u64(w->b, pairs[2 * i]);
        cpq_pbuf_add(w->b, w->json ? "," : "-", 1);
        add_u64(w->b, pairs[2 * i + 1]);
        if (w->json) cpq_pbuf_add(w->b, "]", 1);
    }
    if (w->json) add(w, "]");
}

void cpq_rw_line(cpq_rw *w, const char *keyword, const char *s, size_t n)
{
    if (dead(w)) return;
    if (!kw_ok(keyword) || (n && !s) || st(w) == RW_STATUS || kind_of(keyword) == C_KV ||
        kind_of(keyword) == C_NONE) {
        misuse(w);
        return;
    }
    if (st(w) == RW_REC || st(w) == RW_RECL) {
        /* a line of the open record: text its own line, JSON a member */
        if (w->json) {
            add(w, w->nfields++ ? ",\"" : "\"");
            add(w, keyword);
            add(w, "\":");
            cpq_pbuf_json_str(w->b, s, n);
        } else {
            if (st(w) == RW_REC) add(w, "\n");
            add(w, keyword);
        }
        set_st(w, RW_RECL);
    } else if (st(w) == RW_LINES && strcmp(w->kw, keyword) == 0) {
        if (w->json) {
            add(w, ",");
            cpq_pbuf_json_str(w->b, s, n);
        } else {
            add(w, keyword);
        }
    } else {
        /* a line of its own: JSON an element of the array named for it */
        if (!claim(w, keyword)) return;
        if (w->json) {
            add(w, ",\"");
            add(w, cpq_rw_array_name(keyword));
            add(w, "\":[");
            cpq_pbuf_json_str(w->b, s, n);
        } else {
            add(w, keyword);
        }
        set_st(w, RW_LINES);
    }
    if (!w->json) {
        if (n) {
            add(w, " ");
            cpq_pbuf_escape(w->b, s, n, 0);
        }
        add(w, "\n");
    }
}

void cpq_rw_literal(cpq_rw *w, const char *keyword, const char *s, size_t n)
{
    if (dead(w)) return;
    if (!keyword || strcmp(keyword, "text") != 0 || (n && !s) || st(w) == RW_STATUS ||
        (w->state & RW_HADTEXT)) {
        misuse(w);
        return;
    }
    close_open(w);
    w->state |= RW_HADTEXT;
    if (w->json) {
        add(w, ",\"text\":");
        cpq_pbuf_json_str(w->b, s, n);
    } else {
        cpq_pbuf_addf(w->b, "text %zu\n", n);
        if (n) cpq_pbuf_add(w->b, s, n);
        add(w, "\n");
    }
    set_st(w, RW_TOP);
}

/* 1 if s is a JSON number (RFC 8259 section 6). */
static int json_number(const char *s)
{
    const char *p = s;

    if (*p == '-') p++;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (*p >= '0' && *p <= '9') p++;
    } else {
        return 0;
    }
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == '\0';
}

void cpq_rw_stat(cpq_rw *w, const char *keyword, const char *name, const char *value)
{
    if (dead(w)) return;
    if (!kw_ok(keyword) || !name || !name[0] || !value || st(w) == RW_STATUS ||
        (kw_index(keyword) >= 0 && kind_of(keyword) != C_KV)) {
        misuse(w);
        return;
    }
    if (st(w) == RW_KV && strcmp(w->kw, keyword) == 0) {
        if (w->json) add(w, ",");
    } else {
        if (!claim(w, keyword)) return;
        if (w->json) {
            add(w, ",\"");
            add(w, cpq_rw_array_name(keyword));
            add(w, "\":{");
        }
    }
    if (w->json) {
        cpq_pbuf_json_str(w->b, name, strlen(name));
        add(w, ":");
        if (json_number(value)) add(w, value);
        else cpq_pbuf_json_str(w->b, value, strlen(value));
    } else {
        add(w, keyword);
        add(w, " ");
        cpq_pbuf_escape(w->b, name, strlen(name), CPQ_PROTO_ESC_TOKEN);
        add(w, " ");
        cpq_pbuf_escape(w->b, value, strlen(value), CPQ_PROTO_ESC_TOKEN);
        add(w, "\n");
    }
    set_st(w, RW_KV);
}

void cpq_rw_ok(cpq_rw *w)
{
    if (dead(w)) return;
    if (st(w) == RW_STATUS) {
        misuse(w);
        return;
    }
    close_open(w);
    if (!w->json) {
        if (w->tag[0]) {
            add(w, "@");
            add(w, w->tag);
            add(w, " ");
        }
        add(w, "OK");
    }
    set_st(w, RW_STATUS);
}

void cpq_rw_word(cpq_rw *w, const char *word)
{
    if (dead(w)) return;
    if (st(w) != RW_STATUS || !word || !word[0]) {
        misuse(w);
        return;
    }
    if (w->json) {
        add(w, ",\"reply\":");
        cpq_pbuf_json_str(w->b, word, strlen(word));
    } else {
        add(w, " ");
        cpq_pbuf_escape(w->b, word, strlen(word), CPQ_PROTO_ESC_TOKEN);
    }
}

void cpq_rw_end(cpq_rw *w)
{
    if (st(w) == RW_DONE) return;
    if (!(w->state & RW_MISUSE) && st(w) != RW_STATUS) cpq_rw_ok(w);
    if (!(w->state & RW_MISUSE)) add(w, w->json ? "}\n" : "\n");
    if (w->state & RW_MISUSE)
        cpq_rw_err(w, CPQ_PROTO_INTERNAL, "reply writer misused");
    else if (w->b->err) {
        /* Write the error, but leave the buffer's error set so the caller
         * can tell (and count) it, and replace the message if it likes. */
        int e = w->b->err;
        if (e == CPQ_PROTO_TOOBIG)
            cpq_rw_err(w, CPQ_PROTO_TOOBIG, "the reply would exceed %zu bytes",
                       w->b->max > w->start ? w->b->max - w->start : 0);
        else
            cpq_rw_err(w, CPQ_PROTO_INTERNAL, "out of memory");
        if (!w->b->err) w->b->err = e;
    }
    set_st(w, RW_DONE);
}

void cpq_rw_err(cpq_rw *w, int code, const char *fmt, ...)
{
    cpq_pbuf *b = w->b;
    char msg[512];
    const char *name = cpq_proto_code_name(code);
    va_list ap;
    size_t saved;

    if (code <= CPQ_PROTO_OK || !name) name = "INTERNAL";
    msg[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);   /* long messages are cut */
        va_end(ap);
    }
    /* Drop the partial reply and lift the limit for this one bounded line
     * (at most ~2.2 KB): an error always gets through. */
    if (b->len > w->start) b->len = w->start;
    if (b->p) b->p[b->len] = '\0';
    b->err = 0;
    saved = b->max;
    b->max = SIZE_MAX;
    if (w->json) {
        json_open(w);
        add(w, "\"ok\":false,\"code\":\"");
        add(w, name);
        add(w, "\",\"message\":");
        cpq_pbuf_json_str(b, msg, strlen(msg));
        add(w, "}\n");
    } else {
        if (w->tag[0]) {
            add(w, "@");
            add(w, w->tag);
            add(w, " ");
        }
        add(w, "ERR ");
        add(w, name);
        if (msg[0]) {
            add(w, " ");
            cpq_pbuf_escape(b, msg, strlen(msg), 0);
        }
        add(w, "\n");
    }
    b->max = saved;
    w->state = RW_DONE;
}
