/*
 * cpq_out.c - what cpq prints: text for people, JSON Lines for programs.
 *
 * JSON Lines (doc/cpq.1, JSON OUTPUT): one object per line, each with a
 * "type" member.  search prints one {"type":"hit",...} per hit and then
 * one {"type":"search",...} summary; every other command prints exactly
 * one object; an error prints {"type":"error",...}.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpq_tool.h"
#include "cpqproto.h"

#define HL_ON "\033[1;33m"
#define HL_OFF "\033[0m"
#define BOLD "\033[1m"
#define DIM "\033[2m"

void cpqt_json_str(FILE *f, const char *s, size_t n)
{
    cpq_pbuf b;
    cpq_pbuf_init(&b, n * 6 + 16);
    cpq_pbuf_json_str(&b, s, n);
    if (cpq_pbuf_error(&b) == 0)
        fwrite(b.p, 1, b.len, f);
    else
        fputs("\"\"", f);
    cpq_pbuf_free(&b);
}

void cpqt_json_value(FILE *f, const char *s)
{
    /* -?digits(.digits)?([eE][+-]?digits)? */
    const char *p = s;
    if (*p == '-')
        p++;
    int ok = *p >= '0' && *p <= '9';
    while (*p >= '0' && *p <= '9')
        p++;
    if (ok && *p == '.') {
        p++;
        ok = *p >= '0' && *p <= '9';
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (ok && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        ok = *p >= '0' && *p <= '9';
        while (*p >= '0' && *p <= '9')
            p++;
    }
    /* JSON forbids leading zeros ("007"). */
    const char *d = s[0] == '-' ? s + 1 : s;
    if (d[0] == '0' && d[1] >= '0' && d[1] <= '9')
        ok = 0;
    if (ok && *p == '\0')
        fputs(s, f);
    else
        cpqt_json_str(f, s, strlen(s));
}

/* A document id for a terminal: control bytes (an escape sequence in a
 * file name, say) are shown as '?', never sent to the terminal. */
static void put_clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        putchar(ch < 0x20 || ch == 0x7f ? '?' : ch);
    }
}

static void json_key(FILE *f, const char *k)
{
    fprintf(f, ",\"%s\":", k);
}

/* Print text[0..n) for a terminal: control bytes become spaces (a snippet
 * may cross lines), bytes inside a highlight span are wrapped in colour or
 * in [ ] when colour is off. */
static void print_snippet(const cpqt *t, const cpq_client_hit *h)
{
    size_t n = h->snippet_len;
    unsigned char *in = calloc(n + 1, 1);
    if (in != NULL)
        for (size_t i = 0; i < h->nhl; i++)
            for (uint32_t j = h->hl[2 * i]; j < h->hl[2 * i + 1] && j < n; j++)
                in[j] = 1;
    const char *on = t->color ? HL_ON : "[", *off = t->color ? HL_OFF : "]";
    fputs("    ", stdout);
    if (h->win_start > 0)
        fputs("...", stdout);
    int cur = 0;
    for (size_t i = 0; i < n; i++) {
        int want = in != NULL && in[i];
        if (want != cur) {
            fputs(want ? on : off, stdout);
            cur = want;
        }
        unsigned char ch = (unsigned char)h->snippet[i];
        putchar(ch < 0x20 || ch == 0x7f ? ' ' : ch);
    }
    if (cur)
        fputs(off, stdout);
    if (h->win_end < h->end - h->start)
        fputs("...", stdout);
    putchar('\n');
    free(in);
}

void cpqt_print_hits(const cpqt *t, const cpq_client_hits *r)
{
    for (size_t i = 0; i < r->count; i++) {
        const cpq_client_hit *h = cpq_client_hits_at(r, i);
        if (t->json) {
            printf("{\"type\":\"hit\",\"rank\":%llu,\"passage\":%llu", (unsigned long long)h->rank,
                   (unsigned long long)h->passage);
            json_key(stdout, "doc");
            cpqt_json_str(stdout, h->doc, h->doc_len);
            printf(",\"docnum\":%llu,\"ord\":%llu,\"start\":%llu,\"end\":%llu,\"score\":%.6g",
                   (unsigned long long)h->docnum, (unsigned long long)h->ord,
                   (unsigned long long)h->start, (unsigned long long)h->end, h->score);
            if (h->has_snippet) {
                printf(",\"win\":[%llu,%llu],\"hl\":[", (unsigned long long)h->win_start,
                       (unsigned long long)h->win_end);
                for (size_t j = 0; j < h->nhl; j++)
                    printf("%s[%u,%u]", j ? "," : "", (unsigned)h->hl[2 * j],
                           (unsigned)h->hl[2 * j + 1]);
                putchar(']');
                json_key(stdout, "snippet");
                cpqt_json_str(stdout, h->snippet, h->snippet_len);
            }
            fputs("}\n", stdout);
            continue;
        }
        printf("%s%3llu.%s %8.4f  %s", t->color ? BOLD : "", (unsigned long long)h->rank,
               t->color ? HL_OFF : "", h->score, t->color ? BOLD : "");
        put_clean(h->doc, h->doc_len);
        printf("%s%s  passage %llu (ord %llu, bytes %llu-%llu)%s\n", t->color ? HL_OFF : "",
               t->color ? DIM : "", (unsigned long long)h->passage, (unsigned long long)h->ord,
               (unsigned long long)h->start, (unsigned long long)h->end, t->color ? HL_OFF : "");
        if (h->has_snippet)
            print_snippet(t, h);
    }
    if (t->json) {
        printf("{\"type\":\"search\",\"hits\":%zu,\"total\":%llu,\"exact\":%s,\"partial\":%s,"
               "\"capped\":%s,\"gen\":%llu,\"us\":%llu}\n",
               r->count, (unsigned long long)r->total, r->exact ? "true" : "false",
               r->partial ? "true" : "false", r->capped ? "true" : "false",
               (unsigned long long)r->gen, (unsigned long long)r->us);
        return;
    }
    printf("%s%zu hit%s of %s%llu %s%s%s in %.1f ms%s\n", t->color ? DIM : "", r->count,
           r->count == 1 ? "" : "s", r->exact ? "" : "at least ", (unsigned long long)r->total,
           "matching", r->partial ? " (time budget ran out: partial)" : "",
           r->capped ? " (prefix expansions capped)" : "", (double)r->us / 1000.0,
           t->color ? HL_OFF : "");
}

static void passage_fields_json(const cpq_client_passage *p)
{
    printf("\"passage\":%llu,\"docnum\":%llu,\"ord\":%llu,\"start\":%llu,\"end\":%llu,"
           "\"len\":%llu",
           (unsigned long long)p->passage, (unsigned long long)p->docnum,
           (unsigned long long)p->ord, (unsigned long long)p->start, (unsigned long long)p->end,
           (unsigned long long)p->len);
}

void cpqt_print_passage(const cpqt *t, const cpq_client_passage *p)
{
    if (t->json) {
        fputs("{\"type\":\"passage\",", stdout);
        passage_fields_json(p);
        json_key(stdout, "doc");
        cpqt_json_str(stdout, p->doc, p->doc_len);
        json_key(stdout, "text");
        cpqt_json_str(stdout, p->text, p->text_len);
        printf(",\"gen\":%llu}\n", (unsigned long long)p->gen);
        return;
    }
    printf("%spassage %llu%s  doc ", t->color ? BOLD : "", (unsigned long long)p->passage,
           t->color ? HL_OFF : "");
    put_clean(p->doc, p->doc_len);
    printf(" (docnum %llu), ord %llu, bytes %llu-%llu, %llu tokens\n\n",
           (unsigned long long)p->docnum, (unsigned long long)p->ord,
           (unsigned long long)p->start, (unsigned long long)p->end, (unsigned long long)p->len);
    fwrite(p->text, 1, p->text_len, stdout);
    if (p->text_len == 0 || p->text[p->text_len - 1] != '\n')
        putchar('\n');
}

void cpqt_print_document(const cpqt *t, const cpq_client_document *d, int passages)
{
    if (t->json) {
        fputs("{\"type\":\"doc\",\"doc\":", stdout);
        cpqt_json_str(stdout, d->doc, d->doc_len);
        printf(",\"docnum\":%llu,\"bytes\":%llu,\"passages\":[", (unsigned long long)d->docnum,
               (unsigned long long)d->bytes);
        for (size_t i = 0; i < d->npassages; i++) {
            fputs(i ? ",{" : "{", stdout);
            passage_fields_json(cpq_client_document_passage(d, i));
            putchar('}');
        }
        fputs("],\"text\":", stdout);
        cpqt_json_str(stdout, d->text, d->text_len);
        printf(",\"gen\":%llu}\n", (unsigned long long)d->gen);
        return;
    }
    printf("%sdoc ", t->color ? BOLD : "");
    put_clean(d->doc, d->doc_len);
    printf("%s  docnum %llu, %zu passages, %llu bytes\n", t->color ? HL_OFF : "",
           (unsigned long long)d->docnum, d->npassages, (unsigned long long)d->bytes);
    if (passages) {
        for (size_t i = 0; i < d->npassages; i++) {
            const cpq_client_passage *p = cpq_client_document_passage(d, i);
            printf("  passage %llu  ord %llu  bytes %llu-%llu  %llu tokens\n",
                   (unsigned long long)p->passage, (unsigned long long)p->ord,
                   (unsigned long long)p->start, (unsigned long long)p->end,
                   (unsigned long long)p->len);
        }
        return;
    }
    putchar('\n');
    fwrite(d->text, 1, d->text_len, stdout);
    if (d->text_len == 0 || d->text[d->text_len - 1] != '\n')
        putchar('\n');
}

void cpqt_print_explain(const cpqt *t, const cpq_client_explanation *e)
{
    if (t->json) {
        printf("{\"type\":\"explain\",\"passage\":%llu,\"matched\":%s,\"excluded\":%s,"
               "\"score\":%.6g,\"k1\":%.6g,\"b\":%.6g,\"avglen\":%.6g,\"len\":%llu,"
               "\"truncated\":%s,\"gen\":%llu,\"terms\":[",
               (unsigned long long)e->passage, e->matched ? "true" : "false",
               e->excluded ? "true" : "false", e->score, e->k1, e->b, e->avglen,
               (unsigned long long)e->len, e->truncated ? "true" : "false",
               (unsigned long long)e->gen);
        for (size_t i = 0; i < e->nterms; i++) {
            const cpq_client_term *x = cpq_client_explanation_term(e, i);
            fputs(i ? ",{\"text\":" : "{\"text\":", stdout);
            cpqt_json_str(stdout, x->text, x->text_len);
            printf(",\"phrase\":%s,\"df\":%llu,\"idf\":%.6g,\"tf\":%llu,\"len\":%llu,"
                   "\"norm\":%.6g,\"score\":%.6g}",
                   x->phrase ? "true" : "false", (unsigned long long)x->df, x->idf,
                   (unsigned long long)x->tf, (unsigned long long)x->len, x->norm, x->score);
        }
        fputs("]}\n", stdout);
        return;
    }
    printf("passage %llu: %s%s, score %.6g (k1 %.3g, b %.3g, avglen %.4g, len %llu)\n",
           (unsigned long long)e->passage, e->matched ? "matches" : "does not match",
           e->excluded ? " (excluded by NOT)" : "", e->score, e->k1, e->b, e->avglen,
           (unsigned long long)e->len);
    if (e->nterms > 0)
        printf("  %-24s %8s %8s %6s %8s %10s\n", "term", "df", "idf", "tf", "norm", "score");
    for (size_t i = 0; i < e->nterms; i++) {
        const cpq_client_term *x = cpq_client_explanation_term(e, i);
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", x->phrase ? "\"" : "", x->text,
                 x->phrase ? "\"" : "");
        printf("  %-24s %8llu %8.4f %6llu %8.4f %10.4f\n", name, (unsigned long long)x->df,
               x->idf, (unsigned long long)x->tf, x->norm, x->score);
    }
    if (e->truncated)
        printf("  (more terms than the server lists)\n");
}

void cpqt_print_kv(const cpqt *t, const char *type, const cpq_client_kvlist *l)
{
    if (t->json) {
        printf("{\"type\":\"%s\",\"gen\":%llu,\"%s\":{", type, (unsigned long long)l->gen, type);
        for (size_t i = 0; i < l->count; i++) {
            const cpq_client_kv *kv = cpq_client_kvlist_at(l, i);
            if (i)
                putchar(',');
            cpqt_json_str(stdout, kv->name, strlen(kv->name));
            putchar(':');
            cpqt_json_value(stdout, kv->value);
        }
        fputs("}}\n", stdout);
        return;
    }
    for (size_t i = 0; i < l->count; i++) {
        const cpq_client_kv *kv = cpq_client_kvlist_at(l, i);
        printf("%-24s %s\n", kv->name, kv->value);
    }
}

void cpqt_print_count(const cpqt *t, uint64_t n, uint64_t gen)
{
    if (t->json)
        printf("{\"type\":\"count\",\"count\":%llu,\"gen\":%llu}\n", (unsigned long long)n,
               (unsigned long long)gen);
    else
        printf("%llu\n", (unsigned long long)n);
}

void cpqt_print_error(const cpqt *t, int rc, const char *code, const char *msg)
{
    fprintf(stderr, "cpq: %s\n", msg);
    if (!t->json)
        return;
    const char *name = code && code[0] ? code : cpq_rc_name(rc);
    fputs("{\"type\":\"error\",\"code\":", stdout);
    cpqt_json_str(stdout, name ? name : "ERROR", strlen(name ? name : "ERROR"));
    printf(",\"server\":%s,\"message\":", CPQ_RC_IS_SERVER(rc) ? "true" : "false");
    cpqt_json_str(stdout, msg, strlen(msg));
    fputs("}\n", stdout);
}
