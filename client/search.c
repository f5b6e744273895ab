/*
 * search.c - SEARCH: its options, the request, and the hits it returns
 * (parse.c says how results are built and checked).
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

void cpq_client_search_opts_init(cpq_client_search_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->limit = 10;
    o->offset = 0;
    o->snippet = CPQ_PROTO_SNIPPET_DEFAULT;
    o->k1 = -1;
    o->b = -1;
}

/* Check *o and turn it into the codec's options with empty markers, so
 * the snippet line is the window's exact bytes. */
int cpqc_to_proto(cpq_client *c, const cpq_client_search_opts *o, cpq_proto_search *s)
{
    cpq_client_search_opts d;
    if (o == NULL) {
        cpq_client_search_opts_init(&d);
        o = &d;
    }
    cpq_proto_search_default(s);
    if (o->limit > CPQ_PROTO_LIMIT_MAX)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "limit %u is above %u", o->limit,
                         CPQ_PROTO_LIMIT_MAX);
    if (o->offset > CPQ_PROTO_WINDOW_MAX || o->offset + o->limit > CPQ_PROTO_WINDOW_MAX)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "offset + limit is above %u",
                         CPQ_PROTO_WINDOW_MAX);
    if (o->snippet != 0 &&
        (o->snippet < CPQ_PROTO_SNIPPET_MIN || o->snippet > CPQ_PROTO_SNIPPET_MAX))
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "snippet %u is not 0 or %u..%u", o->snippet,
                         CPQ_PROTO_SNIPPET_MIN, CPQ_PROTO_SNIPPET_MAX);
    if (o->k1 == o->k1 && o->k1 >= 0) {   /* k1 == k1: not NaN */
        if (o->k1 > 10)
            return cpqc_fail(c, CPQ_RC_INVAL, 0, "k1 is not in 0..10");
        s->k1 = o->k1;
        s->has_k1 = 1;
    } else if (o->k1 != o->k1) {
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "k1 is NaN");
    }
    if (o->b == o->b && o->b >= 0) {
        if (o->b > 1)
            return cpqc_fail(c, CPQ_RC_INVAL, 0, "b is not in 0..1");
        s->b = o->b;
        s->has_b = 1;
    } else if (o->b != o->b) {
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "b is NaN");
    }
    if (o->budget_ms > CPQ_PROTO_BUDGET_MAX)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "budget_ms is above %u", CPQ_PROTO_BUDGET_MAX);
    s->limit = o->limit;
    s->offset = o->offset;
    s->snippet = o->snippet;
    s->open[0] = s->close[0] = s->ellipsis[0] = '\0';
    s->group = o->group != 0;
    s->all = o->all != 0;
    s->exact = o->exact != 0;
    s->budget_ms = o->budget_ms;
    return CPQ_RC_OK;
}

typedef struct hits_priv {
    cpq_client_hits pub;      /* first: the public pointer is this */
    cpq_client_hit *hits;
    uint32_t *hl;
    cpqc_arena a;
} hits_priv;

void cpq_client_hits_free(cpq_client_hits *r)
{
    if (r == NULL)
        return;
    hits_priv *h = (hits_priv *)r;
    free(h->hits);
    free(h->hl);
    free(h->a.p);
    free(h);
}

const cpq_client_hit *cpq_client_hits_at(const cpq_client_hits *r, size_t i)
{
    if (r == NULL || i >= r->count)
        return NULL;
    return &((const hits_priv *)r)->hits[i];
}

/* "A-B,C-D" (or empty) into hl[*nhl...], at most cap pairs in all. */
static int parse_spans(const cpq_proto_str *v, uint32_t *hl, size_t *used, size_t cap)
{
    const char *p = v->p, *end = v->p + v->n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        uint64_t a, b;
        if (*used >= cap || cpq_proto_parse_range(p, (size_t)(e - p), UINT32_MAX, &a, &b) != 0)
            return -1;
        hl[2 * *used] = (uint32_t)a;
        hl[2 * *used + 1] = (uint32_t)b;
        (*used)++;
        if (comma == NULL)
            break;
        p = comma + 1;
        if (p == end)
            return -1;   /* a trailing comma */
    }
    return 0;
}

static int parse_hit(cpq_client *c, hits_priv *h, const cpq_proto_line *l, cpq_client_hit *hit,
                     size_t *hlused, size_t hlcap, size_t *hlfirst)
{
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv;
    unsigned seen = 0;
    memset(hit, 0, sizeof *hit);
    hit->doc = "";
    hit->snippet = "";
    *hlfirst = *hlused;
    cpq_proto_fields_init(&f, &l->rest);
    while (cpq_proto_fields_next(&f, &k, &v, &hv)) {
        int e = 0;
        if (cpqc_key_is(&k, "rank"))
            e = cpqc_u64(&v, &hit->rank), seen |= 1;
        else if (cpqc_key_is(&k, "passage"))
            e = cpqc_u64(&v, &hit->passage), seen |= 2;
        else if (cpqc_key_is(&k, "doc")) {
            hit->doc = cpqc_arena_unescape(&h->a, v.p, v.n, &hit->doc_len);
            e = hit->doc == NULL;
            seen |= 4;
        } else if (cpqc_key_is(&k, "docnum"))
            e = cpqc_u64(&v, &hit->docnum);
        else if (cpqc_key_is(&k, "ord"))
            e = cpqc_u64(&v, &hit->ord);
        else if (cpqc_key_is(&k, "start"))
            e = cpqc_u64(&v, &hit->start);
        else if (cpqc_key_is(&k, "end"))
            e = cpqc_u64(&v, &hit->end);
        else if (cpqc_key_is(&k, "score"))
            e = cpqc_dbl(&v, &hit->score), seen |= 8;
        else if (cpqc_key_is(&k, "win")) {
            e = cpq_proto_parse_range(v.p, v.n, UINT64_MAX, &hit->win_start, &hit->win_end);
            hit->has_snippet = 1;
        } else if (cpqc_key_is(&k, "hl"))
            e = parse_spans(&v, h->hl, hlused, hlcap);
        if (e != 0)
            return cpqc_bad(c, "a hit line has a bad field");
    }
    if (seen != 15)
        return cpqc_bad(c, "a hit line lacks rank, passage, doc or score");
    hit->nhl = *hlused - *hlfirst;
    return CPQ_RC_OK;
}

static int status_hits(cpq_client *c, cpq_client_hits *pub)
{
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv, e = 0, seen = 0;
    cpq_proto_fields_init(&f, &st.rest);
    while (e == 0 && cpq_proto_fields_next(&f, &k, &v, &hv)) {
        if (cpqc_key_is(&k, "total"))
            e = cpqc_u64(&v, &pub->total), seen = 1;
        else if (cpqc_key_is(&k, "exact"))
            e = cpqc_flag(&v, &pub->exact);
        else if (cpqc_key_is(&k, "partial"))
            e = cpqc_flag(&v, &pub->partial);
        else if (cpqc_key_is(&k, "capped"))
            e = cpqc_flag(&v, &pub->capped);
        else if (cpqc_key_is(&k, "gen"))
            e = cpqc_u64(&v, &pub->gen);
        else if (cpqc_key_is(&k, "us"))
            e = cpqc_u64(&v, &pub->us);
    }
    if (e != 0 || !seen)
        return cpqc_bad(c, "the SEARCH status line lacks total= or has a bad field");
    return CPQ_RC_OK;
}

int cpq_client_search(cpq_client *c, const char *query, const cpq_client_search_opts *o,
                      cpq_client_hits **out)
{
    if (out != NULL)
        *out = NULL;
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (query == NULL || out == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no query");
    cpq_proto_search s;
    int rc = cpqc_to_proto(c, o, &s);
    if (rc != CPQ_RC_OK)
        return rc;
    rc = cpqc_call(c, CPQ_CMD_SEARCH, &s, query, strlen(query));
    if (rc != CPQ_RC_OK)
        return rc;

    size_t nhit = 0, hlcap = 0;
    cpq_proto_line l;
    for (size_t i = 0; i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, "hit")) {
            nhit++;
            hlcap += l.rest.n / 4 + 1;   /* each span takes >= 4 bytes with its comma */
        }
    }
    hits_priv *h = calloc(1, sizeof *h);
    size_t *first = calloc(nhit + 1, sizeof *first);
    if (h == NULL || first == NULL || cpqc_arena_init(&h->a, c) != 0 ||
        (h->hits = calloc(nhit + 1, sizeof *h->hits)) == NULL ||
        (h->hl = malloc((2 * hlcap + 2) * sizeof *h->hl)) == NULL) {
        free(first);
        cpq_client_hits_free(h ? &h->pub : NULL);
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    }
    size_t n = 0, hlused = 0;
    cpq_client_hit *cur = NULL;
    int have_snip = 0;
    for (size_t i = 0; rc == CPQ_RC_OK && i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind != CPQ_RL_DATA)
            continue;
        if (cpqc_key_is(&l.keyword, "hit")) {
            cur = &h->hits[n];
            rc = parse_hit(c, h, &l, cur, &hlused, hlcap, &first[n]);
            n++;
            have_snip = 0;
        } else if (cpqc_key_is(&l.keyword, "snippet") && cur != NULL && !have_snip) {
            cur->snippet = cpqc_arena_unescape(&h->a, l.rest.p, l.rest.n, &cur->snippet_len);
            if (cur->snippet == NULL)
                rc = cpqc_bad(c, "a snippet line has a bad escape");
            have_snip = 1;
        }
    }
    if (rc == CPQ_RC_OK)
        rc = status_hits(c, &h->pub);
    for (size_t i = 0; rc == CPQ_RC_OK && i < n; i++) {
        cpq_client_hit *t = &h->hits[i];
        t->hl = h->hl + 2 * first[i];
        for (size_t j = 0; j < t->nhl; j++)
            if (t->hl[2 * j + 1] > t->snippet_len)
                rc = cpqc_bad(c, "a highlight span lies outside its snippet");
    }
    free(first);
    if (rc != CPQ_RC_OK) {
        cpq_client_hits_free(&h->pub);
        return rc;
    }
    h->pub.count = n;
    *out = &h->pub;
    return CPQ_RC_OK;
}
