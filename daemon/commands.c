/* commands.c - see commands.h.  One handler per command of PROTOCOL.md
 * section 6; every reply goes through cpq_rw so JSON mode comes for free. */
#include "commands.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cpqindex.h"
#include "engine.h"
#include "gen.h"
#include "help.h"
#include "log.h"
#include "query.h"
#include "snippet.h"

#define TRIM_KEEP ((size_t)1 << 20)   /* reply/scratch memory kept between requests */

struct cpqd_cmd {
    const cpqd_config *cfg;
    cpqd_wstats *st;
    cpqd_gen *gen;                 /* this worker's reference */
    cpq_analyzer *an, *pan;        /* built for gen's analysis settings */
    cpq_fetch *fetch;              /* passage text of gen */
    uint64_t pc_hits, pc_misses;   /* fetch's cache counts already in st */
    cpq_pbuf out;                  /* the reply being written */
    cpq_rw rw;
    int err;                       /* the current reply is an error */
    uint64_t t0;                   /* when the current command started, us */
    cpq_snippet_out sn;
    char *snip;                    /* rendered snippet */
    size_t snipcap;
    uint32_t *pairs;               /* highlight spans as start,end pairs */
    size_t paircap;
    char *arg;                     /* unescaped DOC id */
    cpq_explanation *x;            /* ~74 KiB: allocated once */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- generations ------------------------------------------------------ */

/* Build analysers and a fetcher for g.  Returns 0 or -1 (logged). */
static int bind_gen(cpqd_cmd *c, cpqd_gen *g)
{
    cpq_analyzer *an = NULL, *pan = NULL;
    cpq_fetch *f = NULL;
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    if (cpq_analyzer_create(&g->info->analysis, &an, &e) != CPQ_OK
        || cpq_analyzer_create_prefix(&g->info->analysis, &pan, &e) != CPQ_OK || cpq_fetch_create(g->ix, &f) != CPQ_OK) {
        cpqd_error("generation %llu: cannot set up a worker: %s", (unsigned long long)g->num,
                   e.msg[0] ? e.msg : "out of memory");
        cpq_analyzer_free(an);
        cpq_analyzer_free(pan);
        cpq_fetch_free(f);
        return -1;
    }
    /* Each worker's share of the passage cache; without it (no memory)
     * the worker still serves, decompressing every hit. */
    if (cpq_fetch_set_cache(f, c->cfg->passage_cache / (size_t)c->cfg->threads) != CPQ_OK)
        cpqd_warn("generation %llu: no memory for the passage cache; serving without it", (unsigned long long)g->num);
    cpq_fetch_free(c->fetch);
    cpq_analyzer_free(c->pan);
    cpq_analyzer_free(c->an);
    cpqd_gen_release(c->gen);
    c->pc_hits = c->pc_misses = 0;
    c->gen = g;
    c->an = an;
    c->pan = pan;
    c->fetch = f;
    return 0;
}

void cpqd_cmd_refresh(cpqd_cmd *c)
{
    if (c->gen && c->gen->num == cpqd_gen_current_num()) return;
    cpqd_gen *g = cpqd_gen_acquire();
    if (!g) return;                       /* shutting down: keep what we have */
    if (c->gen && g->num == c->gen->num) {
        cpqd_gen_release(g);
        return;
    }
    if (bind_gen(c, g) != 0) cpqd_gen_release(g);   /* keep serving the old one */
}

cpqd_cmd *cpqd_cmd_create(const cpqd_config *cfg, cpqd_wstats *st)
{
    cpqd_cmd *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->cfg = cfg;
    c->st = st;
    cpq_pbuf_init(&c->out, cfg->max_reply);
    c->x = malloc(sizeof *c->x);
    c->arg = malloc(CPQ_PROTO_LINE_MAX);
    if (!c->x || !c->arg) goto oom;
    cpqd_gen *g = cpqd_gen_acquire();
    if (!g || bind_gen(c, g) != 0) {
        cpqd_gen_release(g);
        cpqd_cmd_free(c);
        return NULL;
    }
    return c;
oom:
    cpqd_error("out of memory creating a worker");
    cpqd_cmd_free(c);
    return NULL;
}

void cpqd_cmd_free(cpqd_cmd *c)
{
    if (!c) return;
    cpq_fetch_free(c->fetch);
    cpq_analyzer_free(c->pan);
    cpq_analyzer_free(c->an);
    cpqd_gen_release(c->gen);
    cpq_snippet_out_free(&c->sn);
    cpq_pbuf_free(&c->out);
    free(c->snip);
    free(c->pairs);
    free(c->arg);
    free(c->x);
    free(c);
}

void cpqd_cmd_session_init(const cpqd_cmd *c, cpqd_session *s, const char *peer)
{
    memset(s, 0, sizeof *s);
    s->auth = c->cfg->password ? CPQD_AUTH_NONE : CPQD_AUTH_USER;
    s->peer = peer;
}

void cpqd_cmd_trim(cpqd_cmd *c)
{
    if (c->out.cap > TRIM_KEEP) {
        size_t max = c->out.max;
        cpq_pbuf_free(&c->out);
        cpq_pbuf_init(&c->out, max);
    }
    if (c->snipcap > TRIM_KEEP) {
        free(c->snip);
        c->snip = NULL;
        c->snipcap = 0;
    }
    if (c->paircap > TRIM_KEEP / sizeof *c->pairs) {
        free(c->pairs);
        c->pairs = NULL;
        c->paircap = 0;
    }
    if (c->sn.cap_ > TRIM_KEEP / sizeof(cpq_span_hl)) cpq_snippet_out_free(&c->sn);
}

/* ---- reply helpers ---------------------------------------------------- */

static void begin(cpqd_cmd *c, const cpqd_session *s, const cpq_proto_str *tag)
{
    cpq_pbuf_reset(&c->out);
    c->err = 0;
    cpq_rw_begin(&c->rw, &c->out, s->json, tag);
}

static void fail(cpqd_cmd *c, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void fail(cpqd_cmd *c, int code, const char *fmt, ...)
{
    char msg[CPQ_ERRMSG_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->err = code;
    cpq_rw_err(&c->rw, code, "%s", msg);
}

/* The wire code for an engine error. */
static int wire_code(int rc)
{
    switch (rc) {
    case CPQ_EPARSE: return CPQ_PROTO_QUERY;
    case CPQ_ELIMIT: return CPQ_PROTO_LIMIT;
    case CPQ_EINVAL: return CPQ_PROTO_ARG;
    case CPQ_ENOTFOUND: return CPQ_PROTO_NOTFOUND;
    default: return CPQ_PROTO_INTERNAL;
    }
}

static void fail_engine(cpqd_cmd *c, int rc, const cpq_errinfo *e)
{
    if (rc == CPQ_ECORRUPT || rc == CPQ_ENOMEM)
        cpqd_error("generation %llu: %s: %s", (unsigned long long)c->gen->num, cpq_err_name(rc), e->msg);
    fail(c, wire_code(rc), "%s", e->msg[0] ? e->msg : cpq_err_str(rc));
}

/* Interpret the request's options for its command; on error the reply is
 * written and -1 returned. */
static int parse_opts(cpqd_cmd *c, const cpq_proto_req *req, cpq_proto_search *so)
{
    char msg[256];
    cpq_proto_search_default(so);
    if (req->nopts == 0) return 0;
    int rc = cpq_proto_search_parse(req, so, msg, sizeof msg);
    if (rc != CPQ_PROTO_OK) {
        fail(c, rc, "%s", msg);
        return -1;
    }
    return 0;
}

static uint64_t elapsed(const cpqd_cmd *c) { return now_us() - c->t0; }

/* Log a query slower than --slow-ms. */
static void check_slow(cpqd_cmd *c, const cpqd_session *s, const cpq_proto_req *req, uint64_t us)
{
    if (us < (uint64_t)c->cfg->slow_ms * 1000u) return;
    cpqd_ctr_add(&c->st->slow, 1);
    /* The query as sent, cut at 200 bytes, control bytes (a terminal
     * escape, a TAB) shown as '?' so the log stays one clean line. */
    char q[201];
    size_t n = req->args.n > 200 ? 200 : req->args.n;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)req->args.p[i];
        q[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    q[n] = '\0';
    cpqd_warn("slow query: %" PRIu64 " us from %s: %s %s%s", us, s->peer ? s->peer : "?",
              cpq_proto_cmd_name(req->cmd), q, req->args.n > 200 ? "..." : "");
}

/* ---- commands ----------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* One hit's lines: "hit ..." and "snippet ...".  Returns 0 or -1 with the
 * reply replaced by an error. */
static int write_hit(cpqd_cmd *c, const cpq_proto_search *so, const cpq_query *q, uint64_t rank,
                     const cpq_hit *h)
{
    const cpq_index *ix = c->gen->ix;
    cpq_passage_info pi;
    cpq_doc_info di;
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    const char *text = NULL;
    size_t len = 0;
    /* With a snippet, the text and the records come from one decoding of
     * the tables. */
    int rc = so->snippet ? cpq_fetch_passage_full(c->fetch, h->passage, &text, &len, &pi, &di)
                         : cpq_index_passage_full(ix, h->passage, &pi, &di);
    if (rc != CPQ_OK) {
        snprintf(e.msg, sizeof e.msg, "passage %u: %s", h->passage, cpq_err_str(rc));
        fail_engine(c, rc == CPQ_ENOTFOUND ? CPQ_ECORRUPT : rc, &e);
        return -1;
    }
    cpq_rw_record(&c->rw, "hit");
    cpq_rw_u64(&c->rw, "rank", rank);
    cpq_rw_u64(&c->rw, "passage", h->passage);
    cpq_rw_str(&c->rw, "doc", di.id, di.idlen);
    cpq_rw_u64(&c->rw, "docnum", pi.doc);
    cpq_rw_u64(&c->rw, "ord", pi.ordinal);
    cpq_rw_u64(&c->rw, "start", pi.start);
    cpq_rw_u64(&c->rw, "end", pi.start + pi.len);
    cpq_rw_dbl(&c->rw, "score", h->score);
    if (so->snippet == 0) return 0;

    rc = cpq_snippet(c->an, c->pan, q, text, len, so->snippet, &c->sn, &e);
    if (rc != CPQ_OK) {
        if (!e.msg[0]) snprintf(e.msg, sizeof e.msg, "passage %u: %s", h->passage, cpq_err_str(rc));
        fail_engine(c, rc == CPQ_ENOTFOUND ? CPQ_ECORRUPT : rc, &e);
        return -1;
    }
    if (grow((void **)&c->pairs, &c->paircap, 2 * c->sn.nspans + 2, sizeof *c->pairs) != 0) goto oom;
    for (size_t i = 0; i < c->sn.nspans; i++) {
        c->pairs[2 * i] = c->sn.spans[i].start;
        c->pairs[2 * i + 1] = c->sn.spans[i].start + c->sn.spans[i].len;
    }
    size_t n = cpq_snippet_render(&c->sn, text, len, so->open, so->close, so->ellipsis, c->snip, c->snipcap);
    if (n >= c->snipcap) {
        if (grow((void **)&c->snip, &c->snipcap, n + 1, 1) != 0) goto oom;
        n = cpq_snippet_render(&c->sn, text, len, so->open, so->close, so->ellipsis, c->snip, c->snipcap);
    }
    cpq_rw_range(&c->rw, "win", c->sn.start, c->sn.end);
    cpq_rw_spans(&c->rw, "hl", c->pairs, c->sn.nspans);
    cpq_rw_line(&c->rw, "snippet", c->snip, n);
    return 0;
oom:
    fail(c, CPQ_PROTO_INTERNAL, "out of memory");
    return -1;
}

static int parse_query(cpqd_cmd *c, const cpq_proto_req *req, const cpq_proto_str *text, int all,
                       cpq_query **q)
{
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    int rc = cpq_query_parse(text->p ? text->p : "", text->n, c->an, c->pan, all ? CPQ_QUERY_ALL_WORDS : 0,
                             q, &e);
    (void)req;
    if (rc != CPQ_OK) {
        fail_engine(c, rc, &e);
        return -1;
    }
    return 0;
}

static double budget_ms(const cpqd_cmd *c, const cpq_proto_search *so)
{
    unsigned b = c->cfg->budget_ms;
    if (so->budget_ms && so->budget_ms < b) b = so->budget_ms;
    return (double)b;
}

/* SEARCH and COUNT: parse the options and the query, and run it (COUNT:
 * no hits, the exact count).  0 with *r filled; -1 with the reply written. */
static int run_search(cpqd_cmd *c, const cpq_proto_req *req, int count, cpq_proto_search *so,
                      cpq_query **q, cpq_results *r)
{
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    if (parse_opts(c, req, so) != 0 || parse_query(c, req, &req->args, so->all, q) != 0) return -1;
    cpq_search_opts o;
    cpq_search_opts_default(&o);
    if (count) {
        o.limit = 0;
        o.flags = CPQ_SEARCH_EXACT_COUNT;
    } else {
        o.limit = so->limit;
        o.offset = so->offset;
        if (so->has_k1) o.k1 = (float)so->k1;
        if (so->has_b) o.b = (float)so->b;
        o.flags = so->exact ? CPQ_SEARCH_EXACT_COUNT : 0u;
    }
    if (so->group) o.flags |= CPQ_SEARCH_GROUP;
    o.max_ms = budget_ms(c, so);
    int rc = cpq_search(c->gen->ix, *q, &o, r, &e);
    if (rc != CPQ_OK) {
        fail_engine(c, rc, &e);
        return -1;
    }
    return 0;
}

static void cmd_search(cpqd_cmd *c, const cpqd_session *s, const cpq_proto_req *req)
{
    cpq_proto_search so;
    cpq_query *q = NULL;
    cpq_results r;
    memset(&r, 0, sizeof r);
    if (run_search(c, req, 0, &so, &q, &r) != 0) goto done;
    for (size_t i = 0; i < r.nhits; i++)
        if (write_hit(c, &so, q, (uint64_t)so.offset + i + 1, &r.hits[i]) != 0) goto done;
    uint64_t us = elapsed(c);
    cpq_rw_ok(&c->rw);
    cpq_rw_u64(&c->rw, "hits", r.nhits);
    cpq_rw_u64(&c->rw, "total", r.total);
    cpq_rw_flag(&c->rw, "exact", r.total_exact);
    cpq_rw_flag(&c->rw, "partial", r.partial);
    cpq_rw_flag(&c->rw, "capped", r.prefix_capped);
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_u64(&c->rw, "us", us);
    cpq_rw_end(&c->rw);
    cpqd_stats_search(c->st, us);
    check_slow(c, s, req, us);
done:
    cpq_results_free(&r);
    cpq_query_free(q);
}

static void cmd_count(cpqd_cmd *c, const cpqd_session *s, const cpq_proto_req *req)
{
    cpq_proto_search so;
    cpq_query *q = NULL;
    cpq_results r;
    memset(&r, 0, sizeof r);
    if (run_search(c, req, 1, &so, &q, &r) != 0) goto done;
    uint64_t us = elapsed(c);
    cpq_rw_ok(&c->rw);
    cpq_rw_u64(&c->rw, "count", r.total);
    if (r.partial) cpq_rw_flag(&c->rw, "partial", 1);   /* the budget ran out: a lower bound */
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_u64(&c->rw, "us", us);
    cpq_rw_end(&c->rw);
    check_slow(c, s, req, us);
done:
    cpq_results_free(&r);
    cpq_query_free(q);
}

static int is_space(char ch) { return ch == ' ' || ch == '\t'; }

/* Split args into its first word and the rest (leading white space removed). */
static void split_word(const cpq_proto_str *args, cpq_proto_str *word, cpq_proto_str *rest)
{
    size_t i = 0;
    while (i < args->n && !is_space(args->p[i])) i++;
    word->p = args->p;
    word->n = i;
    while (i < args->n && is_space(args->p[i])) i++;
    rest->p = args->n > i ? args->p + i : NULL;
    rest->n = args->n - i;
}

/* A passage or document number argument; -1 with the reply written. */
static int parse_num(cpqd_cmd *c, const cpq_proto_str *w, const char *what, uint32_t *out)
{
    uint64_t v;
    if (w->n == 0) {
        fail(c, CPQ_PROTO_SYNTAX, "missing %s number", what);
        return -1;
    }
    if (cpq_proto_parse_u64(w->p, w->n, UINT32_MAX, &v) != 0) {
        fail(c, CPQ_PROTO_ARG, "'%.*s' is not a %s number", w->n > 40 ? 40 : (int)w->n, w->p, what);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static void cmd_explain(cpqd_cmd *c, const cpqd_session *s, const cpq_proto_req *req)
{
    cpq_proto_search so;
    cpq_query *q = NULL;
    cpq_proto_str num, text;
    uint32_t p;
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    split_word(&req->args, &num, &text);
    if (parse_opts(c, req, &so) != 0 || parse_num(c, &num, "passage", &p) != 0
        || parse_query(c, req, &text, 0, &q) != 0)
        goto done;
    cpq_search_opts o;
    cpq_search_opts_default(&o);
    if (so.has_k1) o.k1 = (float)so.k1;
    if (so.has_b) o.b = (float)so.b;
    int rc = cpq_explain(c->gen->ix, q, p, &o, c->x, &e);
    if (rc == CPQ_ENOTFOUND) {
        fail(c, CPQ_PROTO_NOTFOUND, "no passage %u (the index has %llu)", p,
             (unsigned long long)c->gen->info->passages);
        goto done;
    }
    if (rc != CPQ_OK) {
        fail_engine(c, rc, &e);
        goto done;
    }
    const cpq_explanation *x = c->x;
    for (size_t i = 0; i < x->nterms; i++) {
        const cpq_explain_term *t = &x->terms[i];
        cpq_rw_record(&c->rw, "term");
        cpq_rw_str(&c->rw, "text", t->term, strnlen(t->term, sizeof t->term));
        cpq_rw_flag(&c->rw, "phrase", t->phrase);
        cpq_rw_u64(&c->rw, "df", t->df);
        cpq_rw_dbl(&c->rw, "idf", t->idf);
        cpq_rw_u64(&c->rw, "tf", t->tf);
        cpq_rw_u64(&c->rw, "len", t->len);
        cpq_rw_dbl(&c->rw, "norm", t->norm);
        cpq_rw_dbl(&c->rw, "score", t->score);
    }
    cpq_rw_ok(&c->rw);
    cpq_rw_u64(&c->rw, "passage", x->passage);
    cpq_rw_flag(&c->rw, "matched", x->matched);
    cpq_rw_flag(&c->rw, "excluded", x->excluded);
    cpq_rw_dbl(&c->rw, "score", x->score);
    cpq_rw_dbl(&c->rw, "k1", x->k1);
    cpq_rw_dbl(&c->rw, "b", x->b);
    cpq_rw_dbl(&c->rw, "avglen", x->avg_len);
    cpq_rw_u64(&c->rw, "len", x->len);
    cpq_rw_flag(&c->rw, "truncated", x->truncated);
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_end(&c->rw);
    check_slow(c, s, req, elapsed(c));
done:
    cpq_query_free(q);
}

static int too_big(cpqd_cmd *c, const char *what, uint64_t bytes)
{
    if (bytes < c->cfg->max_reply) return 0;
    fail(c, CPQ_PROTO_TOOBIG, "the %s's text (%llu bytes) exceeds the reply limit (%zu bytes)", what,
         (unsigned long long)bytes, c->cfg->max_reply);
    return 1;
}

static void cmd_get(cpqd_cmd *c, const cpq_proto_req *req)
{
    cpq_proto_search so;
    uint32_t p;
    if (parse_opts(c, req, &so) != 0 || parse_num(c, &req->args, "passage", &p) != 0) return;
    const cpq_index *ix = c->gen->ix;
    cpq_passage_info pi;
    cpq_doc_info di;
    if (cpq_index_passage(ix, p, &pi) != CPQ_OK) {
        fail(c, CPQ_PROTO_NOTFOUND, "no passage %u (the index has %llu)", p,
             (unsigned long long)c->gen->info->passages);
        return;
    }
    if (too_big(c, "passage", pi.len)) return;
    const char *text;
    size_t len;
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    int rc = cpq_index_doc(ix, pi.doc, &di);
    if (rc == CPQ_OK) rc = cpq_fetch_passage(c->fetch, p, &text, &len);
    if (rc != CPQ_OK) {
        snprintf(e.msg, sizeof e.msg, "passage %u: %s", p, cpq_err_str(rc));
        fail_engine(c, rc == CPQ_ENOTFOUND ? CPQ_ECORRUPT : rc, &e);
        return;
    }
    cpq_rw_record(&c->rw, "passage");
    cpq_rw_u64(&c->rw, "passage", p);
    cpq_rw_str(&c->rw, "doc", di.id, di.idlen);
    cpq_rw_u64(&c->rw, "docnum", pi.doc);
    cpq_rw_u64(&c->rw, "ord", pi.ordinal);
    cpq_rw_u64(&c->rw, "start", pi.start);
    cpq_rw_u64(&c->rw, "end", pi.start + pi.len);
    cpq_rw_u64(&c->rw, "len", pi.tokens);
    cpq_rw_literal(&c->rw, "text", text, len);
    cpq_rw_ok(&c->rw);
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_end(&c->rw);
}

static void cmd_doc(cpqd_cmd *c, const cpq_proto_req *req)
{
    cpq_proto_search so;
    if (parse_opts(c, req, &so) != 0) return;
    const cpq_index *ix = c->gen->ix;
    uint32_t d;
    if (so.has_num) {
        if (req->args.n) {
            fail(c, CPQ_PROTO_ARG, "DOC takes an id or :num=D, not both");
            return;
        }
        if (so.num >= c->gen->info->docs) {
            fail(c, CPQ_PROTO_NOTFOUND, "no document number %u (the index has %llu)", so.num,
                 (unsigned long long)c->gen->info->docs);
            return;
        }
        d = so.num;
    } else {
        if (req->args.n == 0) {
            fail(c, CPQ_PROTO_SYNTAX, "missing document id (or :num=D)");
            return;
        }
        long n = cpq_proto_unescape(c->arg, CPQ_PROTO_LINE_MAX, req->args.p, req->args.n);
        if (n < 0) {
            fail(c, CPQ_PROTO_ARG, "bad escape sequence in the document id");
            return;
        }
        if (cpq_index_doc_find(ix, c->arg, (size_t)n, &d) != CPQ_OK) {
            fail(c, CPQ_PROTO_NOTFOUND, "no document with id '%.*s'", req->args.n > 200 ? 200 : (int)req->args.n,
                 req->args.p);
            return;
        }
    }
    cpq_doc_info di;
    cpq_errinfo e;
    memset(&e, 0, sizeof e);
    int rc = cpq_index_doc(ix, d, &di);
    if (rc != CPQ_OK) {
        snprintf(e.msg, sizeof e.msg, "document %u: %s", d, cpq_err_str(rc));
        fail_engine(c, CPQ_ECORRUPT, &e);
        return;
    }
    if (too_big(c, "document", di.text_len)) return;
    cpq_rw_record(&c->rw, "doc");
    cpq_rw_str(&c->rw, "doc", di.id, di.idlen);
    cpq_rw_u64(&c->rw, "docnum", d);
    cpq_rw_u64(&c->rw, "passages", di.npassages);
    cpq_rw_u64(&c->rw, "bytes", di.text_len);
    for (uint32_t i = 0; i < di.npassages && !cpq_pbuf_error(&c->out); i++) {
        cpq_passage_info pi;
        uint32_t p = di.first_passage + i;
        if (cpq_index_passage(ix, p, &pi) != CPQ_OK) {
            snprintf(e.msg, sizeof e.msg, "document %u: passage %u missing", d, p);
            fail_engine(c, CPQ_ECORRUPT, &e);
            return;
        }
        cpq_rw_record(&c->rw, "passage");
        cpq_rw_u64(&c->rw, "passage", p);
        cpq_rw_u64(&c->rw, "ord", pi.ordinal);
        cpq_rw_u64(&c->rw, "start", pi.start);
        cpq_rw_u64(&c->rw, "end", pi.start + pi.len);
        cpq_rw_u64(&c->rw, "len", pi.tokens);
    }
    const char *text;
    size_t len;
    rc = cpq_fetch_doc(c->fetch, d, &text, &len);
    if (rc != CPQ_OK) {
        snprintf(e.msg, sizeof e.msg, "document %u: %s", d, cpq_err_str(rc));
        fail_engine(c, rc == CPQ_ENOTFOUND ? CPQ_ECORRUPT : rc, &e);
        return;
    }
    cpq_rw_literal(&c->rw, "text", text, len);
    cpq_rw_ok(&c->rw);
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_end(&c->rw);
}

static void stat_u64(cpqd_cmd *c, const char *kw, const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    cpq_rw_stat(&c->rw, kw, name, buf);
}

static void stat_dbl(cpqd_cmd *c, const char *kw, const char *name, double v)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.6g", v);
    cpq_rw_stat(&c->rw, kw, name, buf);
}

static void cmd_stats(cpqd_cmd *c)
{
    cpqd_stats_sum s;
    cpqd_stats_sum_all(&s);
    const cpqd_gstats *g = &cpqd_gstats_g;
    const cpq_index_info *in = c->gen->info;
    long open = atomic_load(&g->connections);
    stat_u64(c, "stat", "uptime_s", s.uptime_s);
    stat_u64(c, "stat", "connections", open > 0 ? (uint64_t)open : 0);
    stat_u64(c, "stat", "connections_total", atomic_load(&g->connections_total));
    stat_u64(c, "stat", "connections_rejected", atomic_load(&g->connections_rejected));
    stat_u64(c, "stat", "commands_total", s.commands);
    stat_u64(c, "stat", "errors_total", s.errors);
    stat_u64(c, "stat", "searches", s.searches);
    stat_u64(c, "stat", "search_us_p50", s.p50);
    stat_u64(c, "stat", "search_us_p90", s.p90);
    stat_u64(c, "stat", "search_us_p99", s.p99);
    stat_u64(c, "stat", "search_us_max", s.max);
    stat_u64(c, "stat", "slow_queries", s.slow);
    stat_u64(c, "stat", "threads", s.threads);
    stat_u64(c, "stat", "gen", c->gen->num);
    stat_u64(c, "stat", "reloads", atomic_load(&g->reloads));
    stat_u64(c, "stat", "reload_failures", atomic_load(&g->reload_failures));
    stat_u64(c, "stat", "passages", in->passages);
    stat_u64(c, "stat", "docs", in->docs);
    stat_u64(c, "stat", "terms", in->terms);
    stat_u64(c, "stat", "index_bytes", in->file_bytes);
    stat_u64(c, "stat", "rss_bytes", cpqd_stats_rss());
    stat_u64(c, "stat", "bytes_in", s.bytes_in);
    stat_u64(c, "stat", "bytes_out", s.bytes_out);
    stat_u64(c, "stat", "unsent_bytes", atomic_load(&g->unsent));
    stat_u64(c, "stat", "passage_cache_hits", s.pc_hits);
    stat_u64(c, "stat", "passage_cache_misses", s.pc_misses);
    stat_u64(c, "stat", "passage_cache_bytes", s.pc_bytes);
    cpq_rw_ok(&c->rw);
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_end(&c->rw);
}

static void cmd_info(cpqd_cmd *c)
{
    const cpq_index_info *in = c->gen->info;
    cpq_search_opts o;
    cpq_search_opts_default(&o);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", CPQ_PROTO_VERSION);
    cpq_rw_stat(&c->rw, "info", "proto", ver);
    cpq_rw_stat(&c->rw, "info", "version", CPQD_VERSION);
    cpq_rw_stat(&c->rw, "info", "index_path", c->gen->path);
    stat_u64(c, "info", "gen", c->gen->num);
    stat_u64(c, "info", "format_version", in->version);
    stat_u64(c, "info", "passages", in->passages);
    stat_u64(c, "info", "docs", in->docs);
    stat_u64(c, "info", "terms", in->terms);
    stat_u64(c, "info", "tokens", in->tokens);
    stat_u64(c, "info", "text_bytes", in->text_bytes);
    stat_dbl(c, "info", "avg_len", in->avg_len);
    stat_u64(c, "info", "passage_words", in->passage_words);
    cpq_rw_stat(&c->rw, "info", "language", in->analysis.language);
    stat_u64(c, "info", "strip_accents", (uint64_t)in->analysis.strip_accents);
    /* The stopword list itself can be long: say how many words it has. */
    uint64_t nstop = 0;
    const char *p = in->analysis.stopwords ? in->analysis.stopwords : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        nstop++;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
    }
    stat_u64(c, "info", "stopwords", nstop);
    stat_u64(c, "info", "file_bytes", in->file_bytes);
    stat_dbl(c, "info", "k1", o.k1);
    stat_dbl(c, "info", "b", o.b);
    stat_u64(c, "info", "max_line", CPQ_PROTO_LINE_MAX);
    stat_u64(c, "info", "max_limit", CPQ_PROTO_LIMIT_MAX);
    stat_u64(c, "info", "max_reply", c->cfg->max_reply);
    cpq_rw_ok(&c->rw);
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_end(&c->rw);
}

/* Compare a secret with a candidate in time that depends only on the
 * secret's length (and never reads past either). */
static int secret_eq(const char *secret, size_t slen, const char *cand, size_t clen)
{
    volatile unsigned char diff = (unsigned char)(slen != clen);
    for (size_t i = 0; i < slen; i++) {
        unsigned char b = i < clen ? (unsigned char)cand[i] : 0;
        diff |= (unsigned char)((unsigned char)secret[i] ^ b);
    }
    return diff == 0;
}

static void cmd_auth(cpqd_cmd *c, cpqd_session *s, const cpq_proto_req *req)
{
    const cpqd_config *cfg = c->cfg;
    if (!cfg->password && !cfg->admin_password) {
        cpq_rw_ok(&c->rw);
        cpq_rw_str(&c->rw, "auth", "none", 4);
        cpq_rw_end(&c->rw);
        return;
    }
    const char *pw = req->args.p ? req->args.p : "";
    /* Both comparisons always run, so the time does not tell which matched. */
    int admin = cfg->admin_password && secret_eq(cfg->admin_password, cfg->admin_password_len, pw, req->args.n);
    int user = cfg->password && secret_eq(cfg->password, cfg->password_len, pw, req->args.n);
    if (admin) {
        s->auth = CPQD_AUTH_ADMIN;
    } else if (user) {
        if (s->auth < CPQD_AUTH_USER) s->auth = CPQD_AUTH_USER;
    } else {
        cpqd_info("failed AUTH from %s", s->peer ? s->peer : "?");
        fail(c, CPQ_PROTO_AUTH, "wrong password");
        return;
    }
    cpq_rw_ok(&c->rw);
    cpq_rw_str(&c->rw, "auth", admin ? "admin" : "user", admin ? 5 : 4);
    cpq_rw_end(&c->rw);
}

/* Checks only: the reload itself takes as long as verifying the file
 * (seconds for a large index), so it runs on the server's reload thread
 * and the reply comes from cpqd_cmd_reload_reply. */
static void cmd_reload(cpqd_cmd *c, cpqd_session *s)
{
    if (c->cfg->no_remote_reload) {
        fail(c, CPQ_PROTO_DISABLED, "RELOAD is disabled on this server (--no-remote-reload); send SIGHUP");
        return;
    }
    if (c->cfg->admin_password && s->auth < CPQD_AUTH_ADMIN) {
        fail(c, CPQ_PROTO_NOAUTH, "RELOAD needs the admin password (AUTH)");
        return;
    }
    s->reload = 1;
    memcpy(s->tag, c->rw.tag, sizeof s->tag);
    cpq_pbuf_reset(&c->out);    /* no reply yet */
}

const cpq_pbuf *cpqd_cmd_reload_reply(cpqd_cmd *c, cpqd_session *s, int ok, const char *why)
{
    cpq_proto_str tag = { s->tag[0] ? s->tag : NULL, strnlen(s->tag, sizeof s->tag) };
    cpqd_cmd_refresh(c);
    begin(c, s, &tag);
    if (!ok) {
        fail(c, CPQ_PROTO_RELOAD, "%s", why);
    } else {
        cpq_rw_ok(&c->rw);
        cpq_rw_u64(&c->rw, "gen", c->gen->num);
        cpq_rw_u64(&c->rw, "passages", c->gen->info->passages);
        cpq_rw_u64(&c->rw, "docs", c->gen->info->docs);
        cpq_rw_end(&c->rw);
    }
    if (c->err) cpqd_ctr_add(&c->st->errors, 1);
    cpqd_ctr_add(&c->st->bytes_out, c->out.len);
    return &c->out;
}

static void cmd_mode(cpqd_cmd *c, cpqd_session *s, const cpq_proto_req *req)
{
    int json;
    if (req->args.n == 4 && strncasecmp(req->args.p, "json", 4) == 0) json = 1;
    else if (req->args.n == 4 && strncasecmp(req->args.p, "text", 4) == 0) json = 0;
    else if (req->args.n == 0) {
        fail(c, CPQ_PROTO_SYNTAX, "MODE needs 'text' or 'json'");
        return;
    } else {
        fail(c, CPQ_PROTO_ARG, "unknown mode '%.*s' (text or json)", req->args.n > 32 ? 32 : (int)req->args.n,
             req->args.p);
        return;
    }
    s->json = json;
    /* The reply is written in the new mode: start it again. */
    char tagbuf[sizeof c->rw.tag];
    memcpy(tagbuf, c->rw.tag, sizeof tagbuf);
    cpq_proto_str tag = { tagbuf[0] ? tagbuf : NULL, strnlen(tagbuf, sizeof tagbuf) };
    begin(c, s, &tag);
    cpq_rw_ok(&c->rw);
    cpq_rw_str(&c->rw, "mode", json ? "json" : "text", 4);
    cpq_rw_end(&c->rw);
}

static void cmd_help(cpqd_cmd *c, const cpq_proto_req *req)
{
    const char *const *lines = cpqd_help_summary();
    if (req->args.n) {
        int cmd = cpq_proto_cmd_lookup(req->args.p, req->args.n);
        lines = cmd > 0 ? cpqd_help_command(cmd) : NULL;
        if (!lines) {
            fail(c, CPQ_PROTO_UNKNOWN, "unknown command '%.*s'", req->args.n > 32 ? 32 : (int)req->args.n,
                 req->args.p);
            return;
        }
    }
    for (; *lines; lines++) cpq_rw_line(&c->rw, "help", *lines, strlen(*lines));
    cpq_rw_ok(&c->rw);
    cpq_rw_end(&c->rw);
}

/* ---- dispatch ----------------------------------------------------------- */

static int needs_auth(int cmd)
{
    return !(cmd == CPQ_CMD_AUTH || cmd == CPQ_CMD_PING || cmd == CPQ_CMD_HELP || cmd == CPQ_CMD_QUIT
             || cmd == CPQ_CMD_MODE);
}

/* Commands whose replies do not depend on the index. */
static int uses_index(int cmd)
{
    return !(cmd == CPQ_CMD_PING || cmd == CPQ_CMD_AUTH || cmd == CPQ_CMD_MODE || cmd == CPQ_CMD_HELP
             || cmd == CPQ_CMD_QUIT);
}

/* After a handler: if the buffer failed (the reply limit, or memory),
 * replace the reply with one error. */
static const cpq_pbuf *finish(cpqd_cmd *c)
{
    int berr = cpq_pbuf_error(&c->out);
    if (berr) {
        c->err = berr;
        if (berr == CPQ_PROTO_TOOBIG)
            cpq_rw_err(&c->rw, CPQ_PROTO_TOOBIG, "the reply exceeds the reply limit (%zu bytes)", c->cfg->max_reply);
        else
            cpq_rw_err(&c->rw, CPQ_PROTO_INTERNAL, "out of memory");
    }
    cpqd_ctr_add(&c->st->commands, 1);
    if (c->err) cpqd_ctr_add(&c->st->errors, 1);
    cpqd_ctr_add(&c->st->bytes_out, c->out.len);
    /* The passage cache's counts into STATS's (the fetcher is this
     * worker's, so it only changes inside commands). */
    cpq_fetch_cache_stats ps;
    cpq_fetch_cache_get_stats(c->fetch, &ps);
    if (ps.hits != c->pc_hits || ps.misses != c->pc_misses) {
        cpqd_ctr_add(&c->st->pc_hits, ps.hits - c->pc_hits);
        cpqd_ctr_add(&c->st->pc_misses, ps.misses - c->pc_misses);
        atomic_store_explicit(&c->st->pc_bytes, ps.bytes, memory_order_relaxed);
        c->pc_hits = ps.hits;
        c->pc_misses = ps.misses;
    }
    return &c->out;
}

const cpq_pbuf *cpqd_cmd_line(cpqd_cmd *c, cpqd_session *s, const char *line, size_t len)
{
    cpq_proto_req req;
    char msg[256];
    c->t0 = now_us();
    cpqd_ctr_add(&c->st->bytes_in, len + 1);
    req.tag.p = NULL;
    req.tag.n = 0;
    msg[0] = '\0';
    int rc = cpq_proto_parse_request(line, len, &req, msg, sizeof msg);
    if (rc == CPQ_PROTO_OK && req.cmd == CPQ_CMD_NONE) {
        cpq_pbuf_reset(&c->out);
        return &c->out;
    }
    begin(c, s, &req.tag);
    if (rc != CPQ_PROTO_OK) {
        fail(c, rc, "%s", msg[0] ? msg : cpq_proto_code_name(rc));
        return finish(c);
    }
    if (c->cfg->password && s->auth < CPQD_AUTH_USER && needs_auth(req.cmd)) {
        fail(c, CPQ_PROTO_NOAUTH, "authentication required (AUTH password)");
        return finish(c);
    }
    if (uses_index(req.cmd)) cpqd_cmd_refresh(c);
    cpq_proto_search so;
    switch (req.cmd) {
    case CPQ_CMD_SEARCH: cmd_search(c, s, &req); break;
    case CPQ_CMD_COUNT: cmd_count(c, s, &req); break;
    case CPQ_CMD_EXPLAIN: cmd_explain(c, s, &req); break;
    case CPQ_CMD_GET: cmd_get(c, &req); break;
    case CPQ_CMD_DOC: cmd_doc(c, &req); break;
    default:
        /* The rest take no options: let the codec name the offending one. */
        if (parse_opts(c, &req, &so) != 0) break;
        switch (req.cmd) {
        case CPQ_CMD_PING:
            cpq_rw_ok(&c->rw);
            cpq_rw_word(&c->rw, "PONG");
            cpq_rw_end(&c->rw);
            break;
        case CPQ_CMD_STATS: cmd_stats(c); break;
        case CPQ_CMD_INFO: cmd_info(c); break;
        case CPQ_CMD_AUTH: cmd_auth(c, s, &req); break;
        case CPQ_CMD_RELOAD: cmd_reload(c, s); break;
        case CPQ_CMD_MODE: cmd_mode(c, s, &req); break;
        case CPQ_CMD_HELP: cmd_help(c, &req); break;
        case CPQ_CMD_QUIT:
            cpq_rw_ok(&c->rw);
            cpq_rw_word(&c->rw, "BYE");
            cpq_rw_end(&c->rw);
            s->quit = 1;
            break;
        default:
            fail(c, CPQ_PROTO_UNKNOWN, "unknown command");
            break;
        }
    }
    return finish(c);
}

const cpq_pbuf *cpqd_cmd_greeting(cpqd_cmd *c, cpqd_session *s)
{
    cpqd_cmd_refresh(c);
    begin(c, s, NULL);
    cpq_rw_ok(&c->rw);
    cpq_rw_word(&c->rw, "cpqd");
    cpq_rw_u64(&c->rw, "proto", CPQ_PROTO_VERSION);
    cpq_rw_str(&c->rw, "version", CPQD_VERSION, strlen(CPQD_VERSION));
    cpq_rw_u64(&c->rw, "gen", c->gen->num);
    cpq_rw_u64(&c->rw, "passages", c->gen->info->passages);
    cpq_rw_u64(&c->rw, "docs", c->gen->info->docs);
    cpq_rw_u64(&c->rw, "auth", c->cfg->password ? 1 : 0);
    cpq_rw_end(&c->rw);
    cpqd_ctr_add(&c->st->bytes_out, c->out.len);
    return &c->out;
}

const cpq_pbuf *cpqd_cmd_error(cpqd_cmd *c, cpqd_session *s, const cpq_proto_str *tag, int code,
                               const char *msg)
{
    begin(c, s, tag);
    fail(c, code, "%s", msg);
    return finish(c);
}
