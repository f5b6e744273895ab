/*
 * fetch.c - GET and DOC: a passage, or a document with its passages and
 * text (parse.c says how results are built and checked).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

typedef struct passage_priv {
    cpq_client_passage pub;
    cpqc_arena a;
} passage_priv;

void cpq_client_passage_free(cpq_client_passage *p)
{
    if (p == NULL)
        return;
    passage_priv *q = (passage_priv *)p;
    free(q->a.p);
    free(q);
}

/* The fields of a "passage" line into *p (doc into a). */
static int parse_passage(const cpq_proto_line *l, cpq_client_passage *p, cpqc_arena *a)
{
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv, seen = 0;
    cpq_proto_fields_init(&f, &l->rest);
    while (cpq_proto_fields_next(&f, &k, &v, &hv)) {
        int e = 0;
        if (cpqc_key_is(&k, "passage"))
            e = cpqc_u64(&v, &p->passage), seen = 1;
        else if (cpqc_key_is(&k, "doc") && a != NULL) {
            p->doc = cpqc_arena_unescape(a, v.p, v.n, &p->doc_len);
            e = p->doc == NULL;
        } else if (cpqc_key_is(&k, "docnum"))
            e = cpqc_u64(&v, &p->docnum);
        else if (cpqc_key_is(&k, "ord"))
            e = cpqc_u64(&v, &p->ord);
        else if (cpqc_key_is(&k, "start"))
            e = cpqc_u64(&v, &p->start);
        else if (cpqc_key_is(&k, "end"))
            e = cpqc_u64(&v, &p->end);
        else if (cpqc_key_is(&k, "len"))
            e = cpqc_u64(&v, &p->len);
        if (e != 0)
            return -1;
    }
    return seen ? 0 : -1;
}

int cpq_client_get(cpq_client *c, uint64_t passage, cpq_client_passage **out)
{
    if (out != NULL)
        *out = NULL;
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (out == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no result pointer");
    char arg[24];
    int an = snprintf(arg, sizeof arg, "%llu", (unsigned long long)passage);
    int rc = cpqc_call(c, CPQ_CMD_GET, NULL, arg, (size_t)an);
    if (rc != CPQ_RC_OK)
        return rc;
    passage_priv *q = calloc(1, sizeof *q);
    if (q == NULL || cpqc_arena_init(&q->a, c) != 0) {
        free(q);
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    }
    q->pub.doc = "";
    q->pub.text = NULL;
    q->pub.gen = c->gen;
    int have = 0;
    cpq_proto_line l;
    for (size_t i = 0; rc == CPQ_RC_OK && i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, "passage") && !have) {
            if (parse_passage(&l, &q->pub, &q->a) != 0)
                rc = cpqc_bad(c, "a bad passage line");
            have = 1;
        } else if (l.kind == CPQ_RL_TEXT && q->pub.text == NULL) {
            const cpqc_rline *rl = &c->rep.lines[i];
            q->pub.text = cpqc_arena_copy(&q->a, c->rep.buf + rl->lit_off, rl->lit_len);
            q->pub.text_len = rl->lit_len;
        }
    }
    if (rc == CPQ_RC_OK && (!have || q->pub.text == NULL))
        rc = cpqc_bad(c, "GET reply without its passage line or text");
    if (rc != CPQ_RC_OK) {
        cpq_client_passage_free(&q->pub);
        return rc;
    }
    *out = &q->pub;
    return CPQ_RC_OK;
}

typedef struct document_priv {
    cpq_client_document pub;
    cpq_client_passage *ps;
    cpqc_arena a;
} document_priv;

void cpq_client_document_free(cpq_client_document *d)
{
    if (d == NULL)
        return;
    document_priv *q = (document_priv *)d;
    free(q->ps);
    free(q->a.p);
    free(q);
}

const cpq_client_passage *cpq_client_document_passage(const cpq_client_document *d, size_t i)
{
    if (d == NULL || i >= d->npassages)
        return NULL;
    return &((const document_priv *)d)->ps[i];
}

static int doc_reply(cpq_client *c, cpq_client_document **out)
{
    size_t np = 0;
    cpq_proto_line l;
    for (size_t i = 0; i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, "passage"))
            np++;
    }
    document_priv *q = calloc(1, sizeof *q);
    if (q == NULL || cpqc_arena_init(&q->a, c) != 0 ||
        (q->ps = calloc(np + 1, sizeof *q->ps)) == NULL) {
        cpq_client_document_free(q ? &q->pub : NULL);
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    }
    q->pub.doc = "";
    q->pub.gen = c->gen;
    int rc = CPQ_RC_OK, have = 0;
    size_t n = 0;
    for (size_t i = 0; rc == CPQ_RC_OK && i + 1 < c->rep.n; i++) {
        cpqc_line(c, i, &l);
        if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, "doc") && !have) {
            cpq_proto_fields f;
            cpq_proto_str k, v;
            int hv, e = 0;
            uint64_t np_said = 0;
            have = 1;
            cpq_proto_fields_init(&f, &l.rest);
            while (e == 0 && cpq_proto_fields_next(&f, &k, &v, &hv)) {
                if (cpqc_key_is(&k, "doc")) {
                    q->pub.doc = cpqc_arena_unescape(&q->a, v.p, v.n, &q->pub.doc_len);
                    e = q->pub.doc == NULL;
                } else if (cpqc_key_is(&k, "docnum"))
                    e = cpqc_u64(&v, &q->pub.docnum);
                else if (cpqc_key_is(&k, "bytes"))
                    e = cpqc_u64(&v, &q->pub.bytes);
                else if (cpqc_key_is(&k, "passages"))
                    e = cpqc_u64(&v, &np_said);
            }
            if (e != 0 || q->pub.doc == NULL)
                rc = cpqc_bad(c, "a bad doc line");
        } else if (l.kind == CPQ_RL_DATA && cpqc_key_is(&l.keyword, "passage")) {
            cpq_client_passage *p = &q->ps[n++];
            p->doc = "";
            p->text = "";
            p->gen = c->gen;
            if (parse_passage(&l, p, NULL) != 0)
                rc = cpqc_bad(c, "a bad passage line");
        } else if (l.kind == CPQ_RL_TEXT && q->pub.text == NULL) {
            const cpqc_rline *rl = &c->rep.lines[i];
            q->pub.text = cpqc_arena_copy(&q->a, c->rep.buf + rl->lit_off, rl->lit_len);
            q->pub.text_len = rl->lit_len;
        }
    }
    if (rc == CPQ_RC_OK && (!have || q->pub.text == NULL))
        rc = cpqc_bad(c, "DOC reply without its doc line or text");
    if (rc != CPQ_RC_OK) {
        cpq_client_document_free(&q->pub);
        return rc;
    }
    q->pub.npassages = n;
    *out = &q->pub;
    return CPQ_RC_OK;
}

int cpq_client_doc(cpq_client *c, const char *id, size_t len, cpq_client_document **out)
{
    if (out != NULL)
        *out = NULL;
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (id == NULL || out == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no document id");
    if (len == (size_t)-1)
        len = strlen(id);
    if (len == 0)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "an empty document id");
    /* The id goes on the line token-escaped (PROTOCOL.md 6.7): any bytes
     * but the ones the escaping cannot carry. */
    if (memchr(id, '\n', len) || memchr(id, '\r', len) || memchr(id, '\0', len))
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "a document id with CR, LF or NUL");
    size_t need = cpq_proto_escape(NULL, 0, id, len, CPQ_PROTO_ESC_TOKEN);
    if (need >= CPQ_PROTO_LINE_MAX - 64)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "the document id is too long");
    char *esc = malloc(need + 1);
    if (esc == NULL)
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    cpq_proto_escape(esc, need + 1, id, len, CPQ_PROTO_ESC_TOKEN);
    int rc = cpqc_call(c, CPQ_CMD_DOC, NULL, esc, need);
    free(esc);
    if (rc != CPQ_RC_OK)
        return rc;
    return doc_reply(c, out);
}

int cpq_client_doc_num(cpq_client *c, uint64_t docnum, cpq_client_document **out)
{
    if (out != NULL)
        *out = NULL;
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (out == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no result pointer");
    if (docnum > UINT32_MAX)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "document number out of range");
    cpq_proto_search s;
    cpq_proto_search_default(&s);
    s.num = (uint32_t)docnum;
    s.has_num = 1;
    int rc = cpqc_call(c, CPQ_CMD_DOC, &s, "", 0);
    if (rc != CPQ_RC_OK)
        return rc;
    return doc_reply(c, out);
}
