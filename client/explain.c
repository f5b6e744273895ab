/*
 * explain.c - EXPLAIN: the scoring leaves of a query on one passage (parse.c
 * says how results are built and checked).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

typedef struct explain_priv {
    cpq_client_explanation pub;
    cpq_client_term *terms;
    cpqc_arena a;
} explain_priv;

void cpq_client_explanation_free(cpq_client_explanation *e)
{
    if (e == NULL)
        return;
    explain_priv *q = (explain_priv *)e;
    free(q->terms);
    free(q->a.p);
    free(q);
}

const cpq_client_term *cpq_client_explanation_term(const cpq_client_explanation *e, size_t i)
{
    if (e == NULL || i >= e->nterms)
        return NULL;
    return &((const explain_priv *)e)->terms[i];
}

static int parse_term(const cpq_proto_line *l, cpq_client_term *t, cpqc_arena *a)
{
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv, seen = 0;
    t->text = "";
    cpq_proto_fields_init(&f, &l->rest);
    while (cpq_proto_fields_next(&f, &k, &v, &hv)) {
        int e = 0;
        if (cpqc_key_is(&k, "text")) {
            t->text = cpqc_arena_unescape(a, v.p, v.n, &t->text_len);
            e = t->text == NULL;
            seen = 1;
        } else if (cpqc_key_is(&k, "phrase"))
            e = cpqc_flag(&v, &t->phrase);
        else if (cpqc_key_is(&k, "df"))
            e = cpqc_u64(&v, &t->df);
        else if (cpqc_key_is(&k, "idf"))
            e = cpqc_dbl(&v, &t->idf);
        else if (cpqc_key_is(&k, "tf"))
            e = cpqc_u64(&v, &t->tf);
        else if (cpqc_key_is(&k, "len"))
            e = cpqc_u64(&v, &t->len);
        else if (cpqc_key_is(&k, "norm"))
            e = cpqc_dbl(&v, &t->norm);
        else if (cpqc_key_is(&k, "score"))
            e = cpqc_dbl(&v, &t->score);
        if (e != 0)
            return -1;
    }
    return seen ? 0 : -1;
}

int cpq_client_explain(cpq_client *c, uint64_t passage, const char *query,
                       const cpq_client_search_opts *o, cpq_client_explanation **out)
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
    size_t ql = strlen(query);
    char *arg = malloc(ql + 24);
    if (arg == NULL)
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    int an = snprintf(arg, 24, "%llu ", (unsigned long long)passage);
    memcpy(arg + an, query, ql);
    rc = cpqc_call(c, CPQ_CMD_EXPLAIN, &s, arg, (size_t)an + ql);
    free(arg);
    if (rc != CPQ_RC_OK)
        return rc;

    size_t nt = 0;
    cpq_proto_line l;
    for (size_t i = 0; i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, "term"))
            nt++;
    }
    explain_priv *q = calloc(1, sizeof *q);
    if (q == NULL || cpqc_arena_init(&q->a, c) != 0 ||
        (q->terms = calloc(nt + 1, sizeof *q->terms)) == NULL) {
        cpq_client_explanation_free(q ? &q->pub : NULL);
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; rc == CPQ_RC_OK && i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, "term"))
            if (parse_term(&l, &q->terms[n++], &q->a) != 0)
                rc = cpqc_bad(c, "a bad term line");
    }
    q->pub.nterms = n;
    q->pub.passage = passage;
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv, e = 0;
    cpq_proto_fields_init(&f, &st.rest);
    while (rc == CPQ_RC_OK && e == 0 && cpq_proto_fields_next(&f, &k, &v, &hv)) {
        if (cpqc_key_is(&k, "passage"))
            e = cpqc_u64(&v, &q->pub.passage);
        else if (cpqc_key_is(&k, "matched"))
            e = cpqc_flag(&v, &q->pub.matched);
        else if (cpqc_key_is(&k, "excluded"))
            e = cpqc_flag(&v, &q->pub.excluded);
        else if (cpqc_key_is(&k, "score"))
            e = cpqc_dbl(&v, &q->pub.score);
        else if (cpqc_key_is(&k, "k1"))
            e = cpqc_dbl(&v, &q->pub.k1);
        else if (cpqc_key_is(&k, "b"))
            e = cpqc_dbl(&v, &q->pub.b);
        else if (cpqc_key_is(&k, "avglen"))
            e = cpqc_dbl(&v, &q->pub.avglen);
        else if (cpqc_key_is(&k, "len"))
            e = cpqc_u64(&v, &q->pub.len);
        else if (cpqc_key_is(&k, "truncated"))
            e = cpqc_flag(&v, &q->pub.truncated);
        else if (cpqc_key_is(&k, "gen"))
            e = cpqc_u64(&v, &q->pub.gen);
    }
    if (rc == CPQ_RC_OK && e != 0)
        rc = cpqc_bad(c, "a bad field in the EXPLAIN status line");
    if (rc != CPQ_RC_OK) {
        cpq_client_explanation_free(&q->pub);
        return rc;
    }
    *out = &q->pub;
    return CPQ_RC_OK;
}
