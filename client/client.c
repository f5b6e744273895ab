/*
 * client.c - the handle: create/free, connect and the greeting, the last
 * error, and the commands whose answer fits in the status line (PING,
 * AUTH, COUNT, QUIT) plus raw requests.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

void cpq_client_opts_init(cpq_client_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 5000;
    o->write_timeout_ms = 10000;
    o->read_timeout_ms = 30000;
    o->max_reply = CPQ_CLIENT_REPLY_DEFAULT;
}

cpq_client *cpq_client_new(const cpq_client_opts *o)
{
    cpq_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (o != NULL)
        c->o = *o;
    else
        cpq_client_opts_init(&c->o);
    if (c->o.max_reply < CPQ_CLIENT_LINE_MAX)
        c->o.max_reply = CPQ_CLIENT_LINE_MAX;
    c->fd = -1;
    c->req = malloc(CPQ_PROTO_LINE_MAX);
    if (c->req == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void cpq_client_free(cpq_client *c)
{
    if (c == NULL)
        return;
    cpqc_conn_close(c);
    free(c->rep.lines);
    free(c->rep.buf);
    free(c->in);
    free(c->req);
    free(c);
}

int cpq_client_connected(const cpq_client *c)
{
    return c != NULL && c->fd >= 0;
}

const char *cpq_client_server_version(const cpq_client *c)
{
    return c ? c->server_version : "";
}

int cpq_client_auth_required(const cpq_client *c)
{
    return c ? c->auth_required : 0;
}

uint64_t cpq_client_greeting_passages(const cpq_client *c)
{
    return c ? c->g_passages : 0;
}

uint64_t cpq_client_greeting_docs(const cpq_client *c)
{
    return c ? c->g_docs : 0;
}

uint64_t cpq_client_gen(const cpq_client *c)
{
    return c ? c->gen : 0;
}

int cpq_client_errcode(const cpq_client *c)
{
    return c ? c->rc : CPQ_RC_INVAL;
}

const char *cpq_client_errmsg(const cpq_client *c)
{
    return c ? c->errmsg : "no handle";
}

const char *cpq_client_server_code(const cpq_client *c)
{
    return c ? c->scode : "";
}

const char *cpq_client_server_msg(const cpq_client *c)
{
    return c ? c->smsg : "";
}

/* The greeting: "OK cpqd proto=1 version=0.1.0 gen=1 passages=N docs=D auth=0". */
static int greeting(cpq_client *c)
{
    int rc = cpqc_read_reply(c, cpqc_deadline(c->o.read_timeout_ms));
    if (rc != CPQ_RC_OK)
        return rc;
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    if (st.kind == CPQ_RL_ERR) {
        rc = cpqc_server_error(c, &st);
        cpqc_conn_close(c);
        return rc;
    }
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv, have_proto = 0;
    uint64_t proto = 0, x;
    cpq_proto_fields_init(&f, &st.rest);
    while (cpq_proto_fields_next(&f, &k, &v, &hv)) {
        if (cpqc_key_is(&k, "proto")) {
            if (cpq_proto_parse_u64(v.p, v.n, UINT32_MAX, &proto) != 0)
                break;
            have_proto = 1;
        } else if (cpqc_key_is(&k, "version")) {
            long n = cpq_proto_unescape(c->server_version, sizeof c->server_version - 1, v.p,
                                        v.n);
            c->server_version[n < 0 ? 0 : n] = '\0';
        } else if (cpqc_key_is(&k, "gen") && cpq_proto_parse_u64(v.p, v.n, UINT64_MAX, &x) == 0) {
            c->gen = x;
        } else if (cpqc_key_is(&k, "passages") &&
                   cpq_proto_parse_u64(v.p, v.n, UINT64_MAX, &x) == 0) {
            c->g_passages = x;
        } else if (cpqc_key_is(&k, "docs") && cpq_proto_parse_u64(v.p, v.n, UINT64_MAX, &x) == 0) {
            c->g_docs = x;
        } else if (cpqc_key_is(&k, "auth")) {
            c->auth_required = v.n == 1 && v.p[0] == '1';
        }
    }
    if (!have_proto)
        return cpqc_fail(c, CPQ_RC_PROTO, 1, "not a cpqd greeting (no proto=)");
    if (proto != CPQ_PROTO_VERSION)
        return cpqc_fail(c, CPQ_RC_VERSION, 1,
                         "the server speaks protocol %llu; this library speaks %d",
                         (unsigned long long)proto, CPQ_PROTO_VERSION);
    return CPQ_RC_OK;
}

int cpq_client_connect(cpq_client *c, const char *host, unsigned port)
{
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    cpqc_conn_close(c);
    c->server_version[0] = '\0';
    c->auth_required = 0;
    c->g_passages = c->g_docs = c->gen = 0;
    if (port == 0 || port > 65535)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "port %u is not in 1..65535", port);
    int rc = cpqc_conn_open(c, host, port);
    if (rc != CPQ_RC_OK)
        return rc;
    return greeting(c);
}

int cpq_client_close(cpq_client *c)
{
    if (c == NULL || c->fd < 0)
        return CPQ_RC_OK;
    cpqc_begin(c);
    int rc = cpqc_call(c, CPQ_CMD_QUIT, NULL, "", 0);
    cpqc_conn_close(c);
    return rc;
}

int cpq_client_ping(cpq_client *c)
{
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    int rc = cpqc_call(c, CPQ_CMD_PING, NULL, "", 0);
    if (rc != CPQ_RC_OK)
        return rc;
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    if (st.rest.n < 4 || memcmp(st.rest.p, "PONG", 4) != 0)
        return cpqc_fail(c, CPQ_RC_PROTO, 1, "PING was not answered with PONG");
    return CPQ_RC_OK;
}

int cpq_client_auth(cpq_client *c, const char *password, size_t len, char *role,
                    size_t rolecap)
{
    if (role != NULL && rolecap > 0)
        role[0] = '\0';
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (password == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no password");
    if (len == (size_t)-1)
        len = strlen(password);
    if (len == 0 || password[0] == ' ' || password[0] == '\t' || password[len - 1] == ' ' ||
        password[len - 1] == '\t')
        return cpqc_fail(c, CPQ_RC_INVAL, 0,
                         "a password may not be empty nor begin or end with white space");
    int rc = cpqc_call(c, CPQ_CMD_AUTH, NULL, password, len);
    if (rc != CPQ_RC_OK)
        return rc;
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv;
    cpq_proto_fields_init(&f, &st.rest);
    while (cpq_proto_fields_next(&f, &k, &v, &hv))
        if (cpqc_key_is(&k, "auth") && role != NULL && rolecap > 0) {
            long n = cpq_proto_unescape(role, rolecap - 1, v.p, v.n);
            role[n < 0 ? 0 : n] = '\0';
        }
    return CPQ_RC_OK;
}

int cpq_client_count(cpq_client *c, const char *query, int group, int all, uint64_t *count)
{
    if (count != NULL)
        *count = 0;
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (query == NULL || count == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no query");
    cpq_proto_search s;
    cpq_proto_search_default(&s);
    s.group = group != 0;
    s.all = all != 0;
    int rc = cpqc_call(c, CPQ_CMD_COUNT, &s, query, strlen(query));
    if (rc != CPQ_RC_OK)
        return rc;
    cpq_proto_line st;
    cpqc_line(c, c->rep.n - 1, &st);
    cpq_proto_fields f;
    cpq_proto_str k, v;
    int hv;
    cpq_proto_fields_init(&f, &st.rest);
    while (cpq_proto_fields_next(&f, &k, &v, &hv))
        if (cpqc_key_is(&k, "count")) {
            if (cpq_proto_parse_u64(v.p, v.n, UINT64_MAX, count) != 0)
                break;
            return CPQ_RC_OK;
        }
    return cpqc_fail(c, CPQ_RC_PROTO, 1, "COUNT reply without a valid count=");
}

int cpq_client_raw(cpq_client *c, const char *line, cpq_client_reply **out)
{
    if (out != NULL)
        *out = NULL;
    if (c == NULL)
        return CPQ_RC_INVAL;
    cpqc_begin(c);
    if (line == NULL || out == NULL)
        return cpqc_fail(c, CPQ_RC_INVAL, 0, "no request");
    size_t len = strlen(line);
    cpq_proto_req req;
    int quit = 0;
    if (cpq_proto_parse_request(line, len, &req, NULL, 0) == CPQ_PROTO_OK) {
        if (req.cmd == CPQ_CMD_MODE && !(req.args.n == 4 && (req.args.p[0] | 0x20) == 't' &&
                                         (req.args.p[1] | 0x20) == 'e' &&
                                         (req.args.p[2] | 0x20) == 'x' &&
                                         (req.args.p[3] | 0x20) == 't'))
            return cpqc_fail(c, CPQ_RC_INVAL, 0, "this library reads text mode only");
        quit = req.cmd == CPQ_CMD_QUIT;
    }
    int rc = cpqc_call_raw(c, line, len);
    if (rc != CPQ_RC_OK)
        return rc;
    const cpqc_reply *r = &c->rep;
    const cpqc_rline *st = &r->lines[r->n - 1];
    cpq_client_reply *rep = malloc(sizeof *rep + r->len + 1 + st->len + 1);
    if (rep == NULL)
        return cpqc_fail(c, CPQ_RC_NOMEM, 0, "out of memory");
    char *data = (char *)(rep + 1);
    memcpy(data, r->buf, r->len);
    data[r->len] = '\0';
    rep->data = data;
    rep->len = r->len;
    char *status = data + r->len + 1;
    memcpy(status, r->buf + st->off, st->len);
    status[st->len] = '\0';
    rep->status = status;
    cpq_proto_line pl;
    cpqc_line(c, r->n - 1, &pl);
    rep->ok = pl.kind == CPQ_RL_OK;
    *out = rep;
    if (quit)
        cpqc_conn_close(c);
    return CPQ_RC_OK;
}

void cpq_client_reply_free(cpq_client_reply *r)
{
    free(r);
}
