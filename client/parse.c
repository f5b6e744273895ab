/*
 * parse.c - helpers shared by the files that turn replies into result
 * objects (search.c, fetch.c, explain.c, kvlist.c).
 *
 * A result is one allocation for its public struct (first member of a
 * private one), its arrays, and an arena holding every string unescaped
 * and NUL-terminated.  The arena is sized before any string goes in - the
 * reply's bytes plus two per line - which always suffices because
 * unescaping never lengthens and each string comes from distinct bytes of
 * the reply (at most two strings per line); so pointers into it never
 * move.  A result owns everything it points to and outlives the handle.
 *
 * Replies are validated as they are turned into results: a missing
 * required field, a number that does not parse, or a highlight outside its
 * snippet is CPQ_RC_PROTO (and breaks the connection, since a server that
 * says such things cannot be trusted with the next request either).
 * Unknown keywords and keys are ignored, as PROTOCOL.md asks.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

int cpqc_arena_init(cpqc_arena *a, const cpq_client *c)
{
    a->len = 0;
    a->cap = c->rep.len + 2 * c->rep.n + 16;
    a->p = malloc(a->cap);
    return a->p != NULL ? 0 : -1;
}

/* Unescape s[0..n) into the arena; NULL for a bad escape. */
const char *cpqc_arena_unescape(cpqc_arena *a, const char *s, size_t n, size_t *outlen)
{
    if (a->len + n + 1 > a->cap)
        return NULL;
    char *d = a->p + a->len;
    long m = cpq_proto_unescape(d, n, s, n);
    if (m < 0)
        return NULL;
    d[m] = '\0';
    a->len += (size_t)m + 1;
    if (outlen != NULL)
        *outlen = (size_t)m;
    return d;
}

const char *cpqc_arena_copy(cpqc_arena *a, const char *s, size_t n)
{
    if (a->len + n + 1 > a->cap)
        return NULL;
    char *d = a->p + a->len;
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    a->len += n + 1;
    return d;
}

int cpqc_key_is(const cpq_proto_str *k, const char *s)
{
    size_t n = strlen(s);
    return k->n == n && memcmp(k->p, s, n) == 0;
}

int cpqc_u64(const cpq_proto_str *v, uint64_t *out)
{
    return cpq_proto_parse_u64(v->p, v->n, UINT64_MAX, out);
}

int cpqc_dbl(const cpq_proto_str *v, double *out)
{
    return cpq_proto_parse_dbl(v->p, v->n, out);
}

int cpqc_flag(const cpq_proto_str *v, int *out)
{
    if (v->n != 1 || (v->p[0] != '0' && v->p[0] != '1'))
        return -1;
    *out = v->p[0] == '1';
    return 0;
}

int cpqc_bad(cpq_client *c, const char *what)
{
    return cpqc_fail(c, CPQ_RC_PROTO, 1, "malformed reply: %s", what);
}

