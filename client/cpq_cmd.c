/*
 * cpq_cmd.c - the tool's commands: connect (and authenticate) on first
 * use, call libcpq, print, and map the result to an exit status.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpq_tool.h"

static int exit_for(int rc)
{
    switch (rc) {
    case CPQ_RC_OK:
        return CPQT_EXIT_OK;
    case CPQ_RC_S_NOTFOUND:
        return CPQT_EXIT_NONE;
    case CPQ_RC_INVAL:
    case CPQ_RC_S_SYNTAX:
    case CPQ_RC_S_ARG:
    case CPQ_RC_S_QUERY:
    case CPQ_RC_S_LIMIT:
    case CPQ_RC_S_ENCODING:
    case CPQ_RC_S_TOOLONG:
        return CPQT_EXIT_USAGE;
    default:
        return CPQT_EXIT_FAIL;
    }
}

static int fail(cpqt *t, int rc)
{
    cpqt_print_error(t, rc, cpq_client_server_code(t->c), cpq_client_errmsg(t->c));
    return exit_for(rc);
}

/* Connect (again, if the connection broke) and authenticate. */
static int ensure_connected(cpqt *t)
{
    if (t->c != NULL && cpq_client_connected(t->c))
        return CPQ_RC_OK;
    if (t->c == NULL) {
        cpq_client_opts o;
        cpq_client_opts_init(&o);
        if (t->timeout_ms > 0)
            o.connect_timeout_ms = o.read_timeout_ms = o.write_timeout_ms = t->timeout_ms;
        t->c = cpq_client_new(&o);
        if (t->c == NULL) {
            cpqt_print_error(t, CPQ_RC_NOMEM, NULL, "out of memory");
            return CPQ_RC_NOMEM;
        }
    }
    int rc = cpq_client_connect(t->c, t->host, t->port);
    if (rc == CPQ_RC_OK && t->password != NULL)
        rc = cpq_client_auth(t->c, t->password, (size_t)-1, NULL, 0);
    if (rc != CPQ_RC_OK)
        cpqt_print_error(t, rc, cpq_client_server_code(t->c), cpq_client_errmsg(t->c));
    return rc;
}

/* ---------------------------------------------------------------------- */
/* The commands                                                            */
/* ---------------------------------------------------------------------- */

static int cmd_search(cpqt *t, int argc, char **argv, const cpqt_opts *o, int first)
{
    if (first >= argc)
        return cpqt_usage_error(t, "search", "%s", "no query");
    char *q = cpqt_join(argc, argv, first);
    int rc = ensure_connected(t);
    if (rc != CPQ_RC_OK) {
        free(q);
        return exit_for(rc);
    }
    cpq_client_hits *r = NULL;
    rc = q ? cpq_client_search(t->c, q, &o->so, &r) : CPQ_RC_NOMEM;
    free(q);
    if (rc != CPQ_RC_OK)
        return fail(t, rc);
    cpqt_print_hits(t, r);
    int st = r->count > 0 ? CPQT_EXIT_OK : CPQT_EXIT_NONE;
    cpq_client_hits_free(r);
    return st;
}

static int cmd_count(cpqt *t, int argc, char **argv, const cpqt_opts *o, int first)
{
    if (first >= argc)
        return cpqt_usage_error(t, "count", "%s", "no query");
    char *q = cpqt_join(argc, argv, first);
    int rc = ensure_connected(t);
    if (rc != CPQ_RC_OK) {
        free(q);
        return exit_for(rc);
    }
    uint64_t n = 0;
    rc = q ? cpq_client_count(t->c, q, o->so.group, o->so.all, &n) : CPQ_RC_NOMEM;
    free(q);
    if (rc != CPQ_RC_OK)
        return fail(t, rc);
    cpqt_print_count(t, n, cpq_client_gen(t->c));
    return n > 0 ? CPQT_EXIT_OK : CPQT_EXIT_NONE;
}

static int cmd_get(cpqt *t, int argc, char **argv, int first)
{
    unsigned long long id;
    if (argc - first != 1 || cpqt_parse_uint(argv[first], UINT64_MAX, &id) != 0)
        return cpqt_usage_error(t, "get", "%s", "expected one passage number");
    int rc = ensure_connected(t);
    if (rc != CPQ_RC_OK)
        return exit_for(rc);
    cpq_client_passage *p = NULL;
    rc = cpq_client_get(t->c, id, &p);
    if (rc != CPQ_RC_OK)
        return fail(t, rc);
    cpqt_print_passage(t, p);
    cpq_client_passage_free(p);
    return CPQT_EXIT_OK;
}

static int cmd_doc(cpqt *t, int argc, char **argv, const cpqt_opts *o, int first)
{
    if (o->num ? argc - first != 0 : argc - first < 1)
        return cpqt_usage_error(t, "doc", "%s", "expected a document id, or --num N");
    char *id = o->num ? NULL : cpqt_join(argc, argv, first);
    int rc = ensure_connected(t);
    if (rc != CPQ_RC_OK) {
        free(id);
        return exit_for(rc);
    }
    cpq_client_document *d = NULL;
    if (o->num)
        rc = cpq_client_doc_num(t->c, o->docnum, &d);
    else
        rc = id ? cpq_client_doc(t->c, id, (size_t)-1, &d) : CPQ_RC_NOMEM;
    free(id);
    if (rc != CPQ_RC_OK)
        return fail(t, rc);
    cpqt_print_document(t, d, o->passages);
    cpq_client_document_free(d);
    return CPQT_EXIT_OK;
}

static int cmd_explain(cpqt *t, int argc, char **argv, const cpqt_opts *o, int first)
{
    unsigned long long id;
    if (argc - first < 2 || cpqt_parse_uint(argv[first], UINT64_MAX, &id) != 0)
        return cpqt_usage_error(t, "explain", "%s", "expected a passage number and a query");
    char *q = cpqt_join(argc, argv, first + 1);
    int rc = ensure_connected(t);
    if (rc != CPQ_RC_OK) {
        free(q);
        return exit_for(rc);
    }
    cpq_client_explanation *e = NULL;
    rc = q ? cpq_client_explain(t->c, id, q, &o->so, &e) : CPQ_RC_NOMEM;
    free(q);
    if (rc != CPQ_RC_OK)
        return fail(t, rc);
    cpqt_print_explain(t, e);
    cpq_client_explanation_free(e);
    return CPQT_EXIT_OK;
}

static int cmd_kv(cpqt *t, int argc, int first, int info)
{
    if (argc - first != 0)
        return cpqt_usage_error(t, info ? "info" : "stats", "%s", "takes no arguments");
    int rc = ensure_connected(t);
    if (rc != CPQ_RC_OK)
        return exit_for(rc);
    cpq_client_kvlist *l = NULL;
    rc = info ? cpq_client_info(t->c, &l) : cpq_client_stats(t->c, &l);
    if (rc != CPQ_RC_OK)
        return fail(t, rc);
    cpqt_print_kv(t, info ? "info" : "stats", l);
    cpq_client_kvlist_free(l);
    return CPQT_EXIT_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmd_ping(cpqt *t, int argc, int first)
{
    if (argc - first != 0)
        return cpqt_usage_error(t, "ping", "%s", "takes no arguments");
    int rc = ensure_connected(t);
    if (rc != CPQ_RC_OK)
        return exit_for(rc);
    double t0 = now_ms();
    rc = cpq_client_ping(t->c);
    if (rc != CPQ_RC_OK)
        return fail(t, rc);
    double ms = now_ms() - t0;
    if (t->json) {
        printf("{\"type\":\"ping\",\"reply\":\"PONG\",\"ms\":%.3f,\"server_version\":", ms);
        const char *v = cpq_client_server_version(t->c);
        cpqt_json_str(stdout, v, strlen(v));
        printf(",\"gen\":%llu}\n", (unsigned long long)cpq_client_gen(t->c));
    } else {
        printf("PONG from cpqd %s in %.3f ms\n", cpq_client_server_version(t->c), ms);
    }
    return CPQT_EXIT_OK;
}

int cpqt_run(cpqt *t, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 1) {
            const struct cpqt_cmdhelp *h = cpqt_find_help(argv[1]);
            if (h == NULL)
                return cpqt_usage_error(t, NULL, "unknown command %s", argv[1]);
            cpqt_command_help(h, stdout);
        } else {
            cpqt_usage(stdout);
        }
        return CPQT_EXIT_OK;
    }
    const struct cpqt_cmdhelp *h = cpqt_find_help(cmd);
    if (h == NULL)
        return cpqt_usage_error(t, NULL, "unknown command %s", cmd);
    const char *allow = strcmp(cmd, "search") == 0    ? "losgaekbu"
                        : strcmp(cmd, "count") == 0   ? "gau"
                        : strcmp(cmd, "explain") == 0 ? "kb"
                        : strcmp(cmd, "doc") == 0     ? "np"
                                                      : "";
    cpqt_opts o;
    int first = 0;
    int st = cpqt_parse_cmdopts(t, cmd, allow, argc, argv, &o, &first);
    if (st != CPQT_EXIT_OK)
        return st;
    if (o.help) {
        cpqt_command_help(h, stdout);
        return CPQT_EXIT_OK;
    }
    if (strcmp(cmd, "search") == 0)
        return cmd_search(t, argc, argv, &o, first);
    if (strcmp(cmd, "count") == 0)
        return cmd_count(t, argc, argv, &o, first);
    if (strcmp(cmd, "get") == 0)
        return cmd_get(t, argc, argv, first);
    if (strcmp(cmd, "doc") == 0)
        return cmd_doc(t, argc, argv, &o, first);
    if (strcmp(cmd, "explain") == 0)
        return cmd_explain(t, argc, argv, &o, first);
    if (strcmp(cmd, "stats") == 0)
        return cmd_kv(t, argc, first, 0);
    if (strcmp(cmd, "info") == 0)
        return cmd_kv(t, argc, first, 1);
    return cmd_ping(t, argc, first);
}
