/*
 * cpqproto_read.c - reading replies (PROTOCOL.md section 4): classify a
 * reply line, iterate its key=value fields, parse numbers and ranges.
 *
 * Every function takes a length and never reads past it: the lines come
 * from the network.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpqproto_int.h"

static int is_kw_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

int cpq_proto_parse_line(const char *line, size_t len, cpq_proto_line *out)
{
    const char *p = line, *end;
    size_t n;

    memset(out, 0, sizeof *out);
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) return -1;   /* (line may be NULL then) */
    end = line + len;

    if (p < end && *p == '@') {
        const char *t = ++p;
        while (p < end && *p != ' ') p++;
        if (!cpq_proto_tag_valid(t, (size_t)(p - t)) || p == end) return -1;
        out->tag.p = t;
        out->tag.n = (size_t)(p - t);
        p++;   /* exactly one SP, then the status */
    }
    n = (size_t)(end - p);

    if (n >= 2 && p[0] == 'O' && p[1] == 'K' && (n == 2 || p[2] == ' ')) {
        out->kind = CPQ_RL_OK;
        if (n > 3) {
            out->rest.p = p + 3;
            out->rest.n = n - 3;
        }
        return 0;
    }
    if (n >= 3 && memcmp(p, "ERR", 3) == 0 && (n == 3 || p[3] == ' ')) {
        const char *c = p + 4, *ce = c;
        if (n <= 4) return -1;   /* no code */
        while (ce < end && *ce != ' ') ce++;
        if (ce == c) return -1;
        out->kind = CPQ_RL_ERR;
        out->code_name.p = c;
        out->code_name.n = (size_t)(ce - c);
        out->code = cpq_proto_code_lookup(c, out->code_name.n);
        if (out->code <= CPQ_PROTO_OK) out->code = CPQ_PROTO_INTERNAL;
        if (ce < end) {
            out->rest.p = ce + 1;
            out->rest.n = (size_t)(end - ce - 1);
        }
        return 0;
    }
    if (out->tag.n) return -1;   /* only status lines carry a tag */

    const char *k = p;
    while (p < end && is_kw_char((unsigned char)*p)) p++;
    if (p == k || (p < end && *p != ' ')) return -1;
    out->keyword.p = k;
    out->keyword.n = (size_t)(p - k);
    if (p < end) {
        out->rest.p = p + 1;
        out->rest.n = (size_t)(end - p - 1);
    }
    if (out->keyword.n == 4 && memcmp(k, "text", 4) == 0) {
        if (cpq_proto_parse_u64(out->rest.p, out->rest.n, (UINT64_C(1) << 40) - 1,
                                &out->text_len))
            return -1;
        out->kind = CPQ_RL_TEXT;
        return 0;
    }
    out->kind = CPQ_RL_DATA;
    return 0;
}

void cpq_proto_fields_init(cpq_proto_fields *f, const cpq_proto_str *rest)
{
    f->p = rest && rest->n ? rest->p : NULL;
    f->end = rest && rest->n ? rest->p + rest->n : NULL;
}

int cpq_proto_fields_next(cpq_proto_fields *f, cpq_proto_str *key, cpq_proto_str *val,
                          int *has_value)
{
    const char *p = f->p, *w, *eq = NULL;

    while (p < f->end && *p == ' ') p++;
    if (p >= f->end) {
        f->p = f->end;
        return 0;
    }
    w = p;
    while (p < f->end && *p != ' ') {
        if (*p == '=' && !eq) eq = p;
        p++;
    }
    f->p = p;
    key->p = w;
    key->n = (size_t)((eq ? eq : p) - w);
    if (eq) {
        val->p = eq + 1;
        val->n = (size_t)(p - eq - 1);
    } else {
        val->p = NULL;
        val->n = 0;
    }
    if (has_value) *has_value = eq != NULL;
    return 1;
}

int cpq_proto_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9) return -1;
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

int cpq_proto_parse_dbl(const char *s, size_t n, double *out)
{
    char buf[128];
    char *e;
    double v;

    /* strtod wants a NUL and skips leading white space: copy and refuse
     * anything strtod would read differently.  Longer spellings than 127
     * bytes are refused (none is needed for a double). */
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n)) return -1;
    if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    v = strtod(buf, &e);
    if (e != buf + n || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int cpq_proto_parse_range(const char *s, size_t n, uint64_t max, uint64_t *a, uint64_t *b)
{
    const char *dash = n ? memchr(s, '-', n) : NULL;
    uint64_t x, y;

    if (!dash) return -1;
    if (cpq_proto_parse_u64(s, (size_t)(dash - s), max, &x) ||
        cpq_proto_parse_u64(dash + 1, n - (size_t)(dash - s) - 1, max, &y) || x > y)
        return -1;
    *a = x;
    *b = y;
    return 0;
}
