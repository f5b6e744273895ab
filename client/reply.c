/*
 * reply.c - one request out, one reply in.
 *
 * A reply (PROTOCOL.md section 4) is read whole into c->rep before anyone
 * looks at it: data lines, "text N" literals and the status line, each
 * checked with the codec's cpq_proto_parse_line as it arrives.  Every line
 * is bounded by CPQ_CLIENT_LINE_MAX and the whole reply by o.max_reply, and
 * every wait by the read deadline, so a server that sends garbage, too
 * much or nothing costs at most those bounds.  Any such failure closes the
 * connection: after it, where the next reply starts is unknown.
 *
 * Requests carry a tag ("@c17") and the status line must echo it; a reply
 * that does not line up with its request is a protocol error rather than
 * an answer to the wrong question.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

int cpqc_fail(cpq_client *c, int rc, int brk, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    c->rc = rc;
    if (!CPQ_RC_IS_SERVER(rc)) {
        c->scode[0] = '\0';
        c->smsg[0] = '\0';
    }
    if (brk)
        cpqc_conn_close(c);
    return rc;
}

void cpqc_begin(cpq_client *c)
{
    c->rc = CPQ_RC_OK;
    c->errmsg[0] = '\0';
    c->scode[0] = '\0';
    c->smsg[0] = '\0';
    /* Do not keep the memory of one huge DOC for the life of the handle. */
    if (c->rep.cap > (4u << 20)) {
        free(c->rep.buf);
        c->rep.buf = NULL;
        c->rep.cap = 0;
    }
    c->rep.len = 0;
    c->rep.n = 0;
}

static int rep_reserve(cpq_client *c, size_t need)
{
    cpqc_reply *r = &c->rep;
    if (need <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    char *p = realloc(r->buf, cap);
    if (p == NULL)
        return -1;
    r->buf = p;
    r->cap = cap;
    return 0;
}

static int rep_push(cpq_client *c, cpqc_rline l)
{
    cpqc_reply *r = &c->rep;
    if (r->n == r->ncap) {
        size_t nc = r->ncap ? r->ncap * 2 : 32;
        cpqc_rline *p = realloc(r->lines, nc * sizeof *p);
        if (p == NULL)
            return -1;
        r->lines = p;
        r->ncap = nc;
    }
    r->lines[r->n++] = l;
    return 0;
}

/* Up to 60 bytes of s, escaped, for an error message. */
static const char *excerpt(char *buf, size_t cap, const char *s, size_t n)
{
    size_t k = n > 60 ? 60 : n;
    cpq_proto_escape(buf, cap, s, k, 0);
    if (k < n && strlen(buf) + 4 < cap)
        strcat(buf, "...");
    return buf;
}

/* A read failed with rc: say "mid-reply" when part of a reply was in. */
static int read_failed(cpq_client *c, int rc)
{
    if (rc == CPQ_RC_CLOSED && c->rep.n > 0)
        return cpqc_fail(c, rc, 1, "the server closed the connection mid-reply");
    return rc;
}

int cpqc_read_reply(cpq_client *c, int64_t deadline)
{
    cpqc_reply *r = &c->rep;
    size_t max = c->o.max_reply;
    char ex[256];
    r->len = 0;
    r->n = 0;
    for (;;) {
        char *lf;
        while ((lf = c->ilen > c->ioff ? memchr(c->in + c->ioff, '\n', c->ilen - c->ioff)
                                       : NULL) == NULL) {
            if (c->ilen - c->ioff >= CPQ_CLIENT_LINE_MAX)
                return cpqc_fail(c, CPQ_RC_TOOBIG, 1, "a reply line is longer than %u bytes",
                                 CPQ_CLIENT_LINE_MAX);
            int rc = cpqc_conn_fill(c, deadline);
            if (rc != CPQ_RC_OK) {
                if (rc == CPQ_RC_CLOSED && c->ilen > c->ioff)
                    return cpqc_fail(c, rc, 1, "the server closed the connection mid-line");
                return read_failed(c, rc);
            }
        }
        const char *line = c->in + c->ioff;
        size_t ll = (size_t)(lf - line);
        if (ll + 1 > CPQ_CLIENT_LINE_MAX)
            return cpqc_fail(c, CPQ_RC_TOOBIG, 1, "a reply line is longer than %u bytes",
                             CPQ_CLIENT_LINE_MAX);
        if (r->len + ll + 1 > max)
            return cpqc_fail(c, CPQ_RC_TOOBIG, 1, "the reply is larger than %zu bytes", max);
        cpq_proto_line pl;
        if (cpq_proto_parse_line(line, ll, &pl) != 0)
            return cpqc_fail(c, CPQ_RC_PROTO, 1, "malformed reply line \"%s\"",
                             excerpt(ex, sizeof ex, line, ll));
        if (rep_reserve(c, r->len + ll + 1) != 0)
            return cpqc_fail(c, CPQ_RC_NOMEM, 1, "out of memory reading a reply");
        cpqc_rline rl = {.off = r->len, .len = ll, .lit_off = 0, .lit_len = 0};
        memcpy(r->buf + r->len, line, ll + 1);
        r->len += ll + 1;
        c->ioff += ll + 1;

        if (pl.kind == CPQ_RL_TEXT) {
            /* "text N": exactly N raw bytes, then an LF. */
            if (pl.text_len > max || r->len + pl.text_len + 1 > max)
                return cpqc_fail(c, CPQ_RC_TOOBIG, 1,
                                 "a text literal of %llu bytes exceeds the reply limit of %zu",
                                 (unsigned long long)pl.text_len, max);
            size_t need = (size_t)pl.text_len + 1;
            if (rep_reserve(c, r->len + need) != 0)
                return cpqc_fail(c, CPQ_RC_NOMEM, 1, "out of memory reading a reply");
            rl.lit_off = r->len;
            rl.lit_len = (size_t)pl.text_len;
            while (need > 0) {
                if (c->ilen == c->ioff) {
                    int rc = cpqc_conn_fill(c, deadline);
                    if (rc != CPQ_RC_OK) {
                        char was[sizeof c->errmsg];
                        memcpy(was, c->errmsg, sizeof was);
                        return cpqc_fail(c, rc, 1, "%s (in a text literal)",
                                         rc == CPQ_RC_CLOSED
                                             ? "the server closed the connection mid-reply"
                                             : was);
                    }
                }
                size_t k = c->ilen - c->ioff;
                if (k > need)
                    k = need;
                memcpy(r->buf + r->len, c->in + c->ioff, k);
                r->len += k;
                c->ioff += k;
                need -= k;
            }
            if (r->buf[r->len - 1] != '\n')
                return cpqc_fail(c, CPQ_RC_PROTO, 1,
                                 "a text literal of %zu bytes is not followed by LF", rl.lit_len);
        }
        if (rep_push(c, rl) != 0)
            return cpqc_fail(c, CPQ_RC_NOMEM, 1, "out of memory reading a reply");
        if (pl.kind == CPQ_RL_OK || pl.kind == CPQ_RL_ERR)
            return CPQ_RC_OK;
    }
}

void cpqc_line(const cpq_client *c, size_t i, cpq_proto_line *out)
{
    const cpqc_rline *l = &c->rep.lines[i];
    if (cpq_proto_parse_line(c->rep.buf + l->off, l->len, out) != 0)
        memset(out, 0, sizeof *out);   /* cannot happen: checked when read */
}

void cpqc_note_gen(cpq_client *c, const cpq_proto_line *st)
{
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv;
    uint64_t g;
    cpq_proto_fields_init(&f, &st->rest);
    while (cpq_proto_fields_next(&f, &k, &v, &hv))
        if (k.n == 3 && memcmp(k.p, "gen", 3) == 0 &&
            cpq_proto_parse_u64(v.p, v.n, UINT64_MAX, &g) == 0)
            c->gen = g;
}

/* The reply in c->rep ended with ERR: record the server's code and message. */
int cpqc_server_error(cpq_client *c, const cpq_proto_line *st)
{
    size_t n = st->code_name.n < sizeof c->scode - 1 ? st->code_name.n : sizeof c->scode - 1;
    int code = st->code;
    if (code <= 0 || code >= CPQ_PROTO_CODE_COUNT)
        code = CPQ_PROTO_INTERNAL;
    int rc = CPQ_RC_SERVER + code;
    cpqc_fail(c, rc, 0, "%s", "");
    if (n > 0)
        memcpy(c->scode, st->code_name.p, n);
    c->scode[n] = '\0';
    long m = cpq_proto_unescape(c->smsg, sizeof c->smsg - 1, st->rest.p, st->rest.n);
    if (m < 0) {
        /* A bad escape or a very long message: keep it as sent, cut. */
        n = st->rest.n < sizeof c->smsg - 1 ? st->rest.n : sizeof c->smsg - 1;
        if (n > 0)
            memcpy(c->smsg, st->rest.p, n);
        m = (long)n;
    }
    c->smsg[m] = '\0';
    snprintf(c->errmsg, sizeof c->errmsg, "server error %s: %s", c->scode, c->smsg);
    /* The server closes after these. */
    if (code == CPQ_PROTO_TIMEOUT || code == CPQ_PROTO_BUSY)
        cpqc_conn_close(c);
    return rc;
}

static int send_and_read(cpq_client *c, const char *line, size_t n)
{
    int rc = cpqc_conn_write(c, line, n, cpqc_deadline(c->o.write_timeout_ms));
    if (rc != CPQ_RC_OK)
        return rc;
    return cpqc_read_reply(c, cpqc_deadline(c->o.read_timeout_ms));
}

int cpqc_call(cpq_client *c, int cmd, const cpq_proto_search *s, const char *arg, size_t arglen)
{
    if (c->fd < 0)
        return cpqc_fail(c, CPQ_RC_NOTCONN, 0, "not connected");
    char tag[24];
    snprintf(tag, sizeof tag, "c%llu", (unsigned long long)++c->seq);
    long n = cpq_proto_format_req(c->req, CPQ_PROTO_LINE_MAX, tag, cmd, s, arg, arglen);
    if (n < 0 || (size_t)n >= CPQ_PROTO_LINE_MAX) {
        if (memchr(arg, '\n', arglen) || memchr(arg, '\r', arglen) || memchr(arg, '\0', arglen))
            return cpqc_fail(c, CPQ_RC_INVAL, 0, "the argument contains CR, LF or NUL");
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "the request would be longer than %u bytes",
                         CPQ_PROTO_LINE_MAX - 1);
    }
    int rc = send_and_read(c, c->req, (size_t)n);
    if (rc != CPQ_RC_OK)
        return rc;
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    if (st.tag.n != strlen(tag) || memcmp(st.tag.p, tag, st.tag.n) != 0)
        return cpqc_fail(c, CPQ_RC_PROTO, 1, "the reply's tag \"%.*s\" is not the request's \"%s\"",
                         (int)(st.tag.n > 64 ? 64 : st.tag.n), st.tag.n ? st.tag.p : "", tag);
    cpqc_note_gen(c, &st);
    if (st.kind == CPQ_RL_ERR)
        return cpqc_server_error(c, &st);
    return CPQ_RC_OK;
}

int cpqc_call_raw(cpq_client *c, const char *line, size_t len)
{
    if (c->fd < 0)
        return cpqc_fail(c, CPQ_RC_NOTCONN, 0, "not connected");
    if (len >= CPQ_PROTO_LINE_MAX - 1)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "the request would be longer than %u bytes",
                         CPQ_PROTO_LINE_MAX - 1);
    if (memchr(line, '\n', len) || memchr(line, '\r', len) || memchr(line, '\0', len))
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "the request contains CR, LF or NUL");
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "an empty line is not a request");
    memcpy(c->req, line, len);
    c->req[len] = '\n';
    int rc = send_and_read(c, c->req, len + 1);
    if (rc != CPQ_RC_OK)
        return rc;
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    cpqc_note_gen(c, &st);
    return CPQ_RC_OK;
}
