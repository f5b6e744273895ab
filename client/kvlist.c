/*
 * kvlist.c - STATS and INFO: name/value lines (parse.c says how results are
 * built and checked).
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

typedef struct kv_priv {
    cpq_client_kvlist pub;
    cpq_client_kv *kv;
    cpqc_arena a;
} kv_priv;

void cpq_client_kvlist_free(cpq_client_kvlist *l)
{
    if (l == NULL)
        return;
    kv_priv *q = (kv_priv *)l;
    free(q->kv);
    free(q->a.p);
    free(q);
}

const cpq_client_kv *cpq_client_kvlist_at(const cpq_client_kvlist *l, size_t i)
{
    if (l == NULL || i >= l->count)
        return NULL;
    return &((const kv_priv *)l)->kv[i];
}

const char *cpq_client_kvlist_get(const cpq_client_kvlist *l, const char *name)
{
    if (l == NULL || name == NULL)
        return NULL;
    const kv_priv *q = (const kv_priv *)l;
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(q->kv[i].name, name) == 0)
            return q->kv[i].value;
    return NULL;
}

/* "KEYWORD NAME VALUE" lines (stat / info). */
static int kv_call(cpq_client *c, int cmd, const char *keyword, cpq_client_kvlist **out)
{
    if (out != NULL)
        *out = NULL;
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (out == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no result pointer");
    int rc = cpqc_call(c, cmd, NULL, "", 0);
    if (rc != CPQ_RC_OK)
        return rc;
    size_t nk = 0;
    cpq_proto_line l;
    for (size_t i = 0; i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, keyword))
            nk++;
    }
    kv_priv *q = calloc(1, sizeof *q);
    if (q == NULL || cpqc_arena_init(&q->a, c) != 0 || (q->kv = calloc(nk + 1, sizeof *q->kv)) == NULL) {
        cpq_client_kvlist_free(q ? &q->pub : NULL);
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; rc == CPQ_RC_OK && i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (!(l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, keyword)))
            continue;
        if (l.rest.n == 0) {
            rc = cpqc_bad(c, "an empty name/value line");
            break;
        }
        const char *sp = memchr(l.rest.p, ' ', l.rest.n);
        size_t nl = sp ? (size_t)(sp - l.rest.p) : l.rest.n;
        const char *vp = sp ? sp + 1 : l.rest.p + l.rest.n;
        size_t vl = l.rest.n - (size_t)(vp - l.rest.p);
        cpq_client_kv *kv = &q->kv[n++];
        kv->name = cpqc_arena_copy(&q->a, l.rest.p, nl);
        kv->value = cpqc_arena_unescape(&q->a, vp, vl, NULL);
        if (nl == 0 || kv->name == NULL || kv->value == NULL)
            rc = cpqc_bad(c, "a bad name/value line");
    }
    if (rc != CPQ_RC_OK) {
        cpq_client_kvlist_free(&q->pub);
        return rc;
    }
    q->pub.count = n;
    q->pub.gen = c->gen;
    *out = &q->pub;
    return CPQ_RC_OK;
}

int cpq_client_stats(cpq_client *c, cpq_client_kvlist **out)
{
    return kv_call(c, CPQ_CMD_STATS, "stat", out);
}

int cpq_client_info(cpq_client *c, cpq_client_kvlist **out)
{
    return kv_call(c, CPQ_CMD_INFO, "info", out);
}
