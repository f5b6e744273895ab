/*
 * cpqproto_pbuf.c - cpq_pbuf, the bounded growable buffer replies are
 * written into, with its escaping and JSON-string appenders.
 *
 * Errors are sticky (SQLite fts5_buffer.c style): writers append straight
 * through and look at cpq_pbuf_error once at the end.  The buffer keeps a
 * NUL after its content (p[len] == 0 whenever p != NULL), which the
 * content limit max does not count.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpqproto_int.h"

void cpq_pbuf_init(cpq_pbuf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->err = 0;
}

void cpq_pbuf_free(cpq_pbuf *b)
{
    if (!b) return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}

void cpq_pbuf_reset(cpq_pbuf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->p) b->p[0] = '\0';
}

/* Make room for n more bytes plus the NUL.  0 (and the sticky error set)
 * when the content would pass max or memory runs out. */
static int reserve(cpq_pbuf *b, size_t n)
{
    if (b->err) return 0;
    if (n > b->max || b->len > b->max - n) {
        b->err = CPQ_PROTO_TOOBIG;
        return 0;
    }
    size_t need = b->len + n + 1;   /* cannot overflow unless max == SIZE_MAX */
    if (need == 0) {
        b->err = CPQ_PROTO_INTERNAL;
        return 0;
    }
    if (need <= b->cap) return 1;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < need) nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    /* Do not allocate past what max can ever use. */
    if (b->max < SIZE_MAX && nc > b->max + 1) nc = b->max + 1;
    char *p = realloc(b->p, nc);
    if (!p) {
        b->err = CPQ_PROTO_INTERNAL;
        return 0;
    }
    b->p = p;
    b->cap = nc;
    return 1;
}

void cpq_pbuf_add(cpq_pbuf *b, const void *p, size_t n)
{
    if (n == 0 || !reserve(b, n)) return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void cpq_pbuf_addf(cpq_pbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    int n;

    if (b->err) return;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = CPQ_PROTO_INTERNAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        cpq_pbuf_add(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cpq_pbuf_escape(cpq_pbuf *b, const char *s, size_t n, unsigned flags)
{
    size_t need;

    if (b->err || n == 0) return;
    /* One pass when the worst case (a byte becomes 4) is small and within
     * the limit: a snippet is escaped once, not measured first. */
    if (n <= 65536 && b->len <= b->max && 4 * n <= b->max - b->len) {
        if (!reserve(b, 4 * n)) return;
        b->len += cpq_proto_escape(b->p + b->len, 4 * n + 1, s, n, flags);
        return;
    }
    need = cpq_proto_escape(NULL, 0, s, n, flags);
    if (!reserve(b, need)) return;
    cpq_proto_escape(b->p + b->len, need + 1, s, n, flags);
    b->len += need;
}

/* JSON string (RFC 8259): quotes, backslash and control bytes escaped,
 * 0x7F as \u007f, valid UTF-8 copied, every other byte U+FFFD.  Runs of
 * plain bytes are appended in one piece. */
void cpq_pbuf_json_str(cpq_pbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    cpq_pbuf_add(b, "\"", 1);
    while (i < n && !b->err) {
        unsigned char c = u[i];
        char e[6];
        size_t el = 0, l = 1;

        if (c >= 0x80) {
            l = cpq_proto_utf8_seq(u + i, n - i);
            if (l) {
                i += l;
                continue;
            }
            l = 1;
            memcpy(e, "\xEF\xBF\xBD", 3);
            el = 3;
        } else if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            el = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            e[0] = '\\';
            e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            el = 2;
        } else if (c < 0x20 || c == 0x7F) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        } else {
            i++;
            continue;
        }
        if (i > run) cpq_pbuf_add(b, s + run, i - run);
        cpq_pbuf_add(b, e, el);
        i += l;
        run = i;
    }
    if (i > run) cpq_pbuf_add(b, s + run, i - run);
    cpq_pbuf_add(b, "\"", 1);
}
