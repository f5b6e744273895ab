/* test_client.c - libcpq (client/cpq.h).
 *
 * Part 1 drives the library against a fake server written here: a
 * listening socket and a thread that plays a script of bytes (greeting,
 * replies, silence, a close mid-reply, garbage, oversized lines and
 * literals, ERR replies).  Part 2 runs a real cpqd (CPQ_BUILD_ROOT
 * /daemon/cpqd) over a small index built here and calls every function of
 * the library; those tests skip when the binary is absent.  The cpq tool
 * is tested by tests/test_cpq_cli.sh.
 *
 * No timing assertions: timeouts are small (200 ms) so the tests are
 * quick, and the only thing asserted is that an error came back. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cpq.h must coexist with the indexer's public names in one unit. */
#include "cpq.h"
#include "cpq_error.h"
#include "cpqindex.h"
#include "engine.h"
#include "testutil.h"

#ifndef CPQ_BUILD_ROOT
#error "CPQ_BUILD_ROOT must name the build directory"
#endif

#define CPQD_PATH CPQ_BUILD_ROOT "/daemon/cpqd"

/* ======================================================================== */
/* Part 1: a scripted fake server                                           */
/* ======================================================================== */

enum { S_END = 0, S_SEND, S_READ, S_CLOSE, S_DRAIN, S_BIG, S_SLEEP };

/* One step.  S_SEND sends data with every "@T" replaced by "@" + the tag of
 * the last request read; S_READ reads one request line; S_DRAIN reads until
 * the client closes; S_BIG sends n bytes of 'x' (no LF); S_SLEEP sleeps n
 * ms; S_CLOSE closes. */
typedef struct step {
    int op;
    const char *data;
    size_t n;
} step;

typedef struct fake {
    int lfd, port;
    pthread_t th;
    const step *script;
    char tag[80];
    char last[4096];        /* the last request line read, without LF */
} fake;

static void fake_send(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    for (const step *s = f->script; s->op != S_END; s++) {
        if (s->op == S_SEND) {
            char out[8192];
            size_t o = 0;
            for (const char *p = s->data; *p && o + 100 < sizeof out; p++) {
                if (p[0] == '@' && p[1] == 'T') {
                    o += (size_t)snprintf(out + o, sizeof out - o, "@%s", f->tag);
                    p++;
                } else {
                    out[o++] = *p;
                }
            }
            fake_send(fd, out, o);
        } else if (s->op == S_READ) {
            size_t n = 0;
            char ch;
            while (n + 1 < sizeof f->last && recv(fd, &ch, 1, 0) == 1 && ch != '\n')
                f->last[n++] = ch;
            f->last[n] = '\0';
            f->tag[0] = '\0';
            if (f->last[0] == '@') {
                size_t k = strcspn(f->last + 1, " ");
                if (k >= sizeof f->tag)
                    k = sizeof f->tag - 1;
                memcpy(f->tag, f->last + 1, k);
                f->tag[k] = '\0';
            }
        } else if (s->op == S_DRAIN) {
            char buf[4096];
            while (recv(fd, buf, sizeof buf, 0) > 0) {
            }
        } else if (s->op == S_BIG) {
            char *big = malloc(s->n);
            memset(big, 'x', s->n);
            fake_send(fd, big, s->n);
            free(big);
        } else if (s->op == S_SLEEP) {
            usleep((useconds_t)s->n * 1000);
        } else if (s->op == S_CLOSE) {
            break;
        }
    }
    close(fd);
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 8), 0);
    socklen_t sl = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static fake *fake_start(const step *script)
{
    fake *f = calloc(1, sizeof *f);
    f->script = script;
    f->lfd = listen_any(&f->port);
    cr_assert_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
    return f;
}

static void fake_stop(fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
    free(f);
}

#define GREETING "OK cpqd proto=1 version=9.9.9 gen=4 passages=10 docs=3 auth=0\n"

static cpq_client *client_small(void)
{
    cpq_client_opts o;
    cpq_client_opts_init(&o);
    o.connect_timeout_ms = 2000;
    o.read_timeout_ms = 200;
    o.write_timeout_ms = 200;
    o.max_reply = 1u << 20;
    cpq_client *c = cpq_client_new(&o);
    cr_assert_not_null(c);
    return c;
}

Test(fake, version_and_errors)
{
    cr_assert_str_eq(cpq_version(), CPQ_VERSION_STRING);
    cr_assert_eq(cpq_version_number(), CPQ_VERSION_NUMBER);
    cr_assert_str_eq(cpq_strerror(CPQ_RC_OK), "success");
    cr_assert_str_eq(cpq_strerror(12345), "unknown error");
    cr_assert_str_eq(cpq_rc_name(CPQ_RC_TIMEOUT), "TIMEOUT");
    cr_assert_str_eq(cpq_rc_name(CPQ_RC_S_NOTFOUND), "S_NOTFOUND");
    cr_assert_null(cpq_rc_name(-1));
    /* Every code has a name and a text. */
    for (int rc = 0; rc <= CPQ_RC_NOTCONN; rc++)
        cr_assert_neq(strcmp(cpq_strerror(rc), "unknown error"), 0, "rc %d", rc);
    for (int rc = CPQ_RC_S_SYNTAX; rc <= CPQ_RC_S_INTERNAL; rc++) {
        cr_assert(CPQ_RC_IS_SERVER(rc));
        cr_assert_not_null(cpq_rc_name(rc));
    }
    cr_assert(!CPQ_RC_IS_SERVER(CPQ_RC_TIMEOUT));
    /* free accepts NULL, everywhere. */
    cpq_client_free(NULL);
    cpq_client_hits_free(NULL);
    cpq_client_passage_free(NULL);
    cpq_client_document_free(NULL);
    cpq_client_explanation_free(NULL);
    cpq_client_kvlist_free(NULL);
    cpq_client_reply_free(NULL);
    cr_assert_null(cpq_client_hits_at(NULL, 0));
}

Test(fake, not_connected)
{
    cpq_client *c = cpq_client_new(NULL);
    cr_assert_not_null(c);
    cr_assert_eq(cpq_client_connected(c), 0);
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_NOTCONN);
    cr_assert_eq(cpq_client_errcode(c), CPQ_RC_NOTCONN);
    cpq_client_hits *r = (cpq_client_hits *)1;
    cr_assert_eq(cpq_client_search(c, "x", NULL, &r), CPQ_RC_NOTCONN);
    cr_assert_null(r);
    cr_assert_eq(cpq_client_close(c), CPQ_RC_OK);
    cr_assert_eq(cpq_client_connect(c, "127.0.0.1", 0), CPQ_RC_INVAL);
    cr_assert_eq(cpq_client_connect(c, "127.0.0.1", 70000), CPQ_RC_INVAL);
    cpq_client_free(c);
}

Test(fake, refused)
{
    int port;
    int fd = listen_any(&port);
    close(fd);   /* nobody listens there now */
    cpq_client *c = client_small();
    int rc = cpq_client_connect(c, "127.0.0.1", (unsigned)port);
    cr_assert_eq(rc, CPQ_RC_CONNECT, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert(strstr(cpq_client_errmsg(c), "refused") != NULL, "%s", cpq_client_errmsg(c));
    cr_assert_eq(cpq_client_connected(c), 0);
    cpq_client_free(c);
}

Test(fake, resolve_failure)
{
    cpq_client *c = client_small();
    int rc = cpq_client_connect(c, "no-such-host.invalid", 7878);
    cr_assert_eq(rc, CPQ_RC_RESOLVE, "rc %d: %s", rc, cpq_client_errmsg(c));
    cpq_client_free(c);
}

Test(fake, greeting_and_ipv6_brackets)
{
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0},
                             {S_SEND, "@T OK PONG\n", 0}, {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f = fake_start(s);
    cpq_client *c = client_small();
    cr_assert_eq(cpq_client_connect(c, "localhost", (unsigned)f->port), CPQ_RC_OK, "%s",
                 cpq_client_errmsg(c));
    cr_assert_str_eq(cpq_client_server_version(c), "9.9.9");
    cr_assert_eq(cpq_client_gen(c), 4);
    cr_assert_eq(cpq_client_greeting_passages(c), 10);
    cr_assert_eq(cpq_client_greeting_docs(c), 3);
    cr_assert_eq(cpq_client_auth_required(c), 0);
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cr_assert(strncmp(f->last, "@c", 2) == 0 && strstr(f->last, "PING") != NULL, "%s", f->last);
    cpq_client_free(c);
    fake_stop(f);

    /* An IPv6 literal in brackets; skip if this host has no ::1. */
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return;
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_loopback;
    if (bind(fd, (struct sockaddr *)&a6, sizeof a6) != 0 || listen(fd, 1) != 0) {
        close(fd);
        return;
    }
    socklen_t sl = sizeof a6;
    getsockname(fd, (struct sockaddr *)&a6, &sl);
    c = client_small();
    /* accept + greeting from this thread after connect returns would
     * deadlock; the kernel completes the handshake, so send the greeting
     * first through a helper accept in a second step. */
    int port6 = ntohs(a6.sin6_port);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int cfd = accept(fd, NULL, NULL);
        fake_send(cfd, GREETING, strlen(GREETING));
        char b[64];
        while (recv(cfd, b, sizeof b, 0) > 0) {
        }
        _exit(0);
    }
    int rc = cpq_client_connect(c, "[::1]", (unsigned)port6);
    cr_assert_eq(rc, CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cpq_client_free(c);
    waitpid(pid, NULL, 0);
    close(fd);
}

Test(fake, greeting_timeout)
{
    static const step s[] = {{S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f = fake_start(s);
    cpq_client *c = client_small();
    int rc = cpq_client_connect(c, "127.0.0.1", (unsigned)f->port);
    cr_assert_eq(rc, CPQ_RC_TIMEOUT, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_eq(cpq_client_connected(c), 0);
    cpq_client_free(c);   /* closes: the fake's drain ends */
    fake_stop(f);
}

Test(fake, bad_greetings)
{
    static const struct {
        const char *greeting;
        int rc;
    } cases[] = {
        {"OK hello world\n", CPQ_RC_PROTO},
        {"OK cpqd proto=2 version=2.0\n", CPQ_RC_VERSION},
        {"HTTP/1.1 200 OK\n", CPQ_RC_PROTO},
        {"\x01\x02\x03\n", CPQ_RC_PROTO},
        {"OK cpqd proto=1", CPQ_RC_CLOSED},    /* no LF, then closed */
        {"", CPQ_RC_CLOSED},
        {"ERR BUSY too many connections\n", CPQ_RC_S_BUSY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        step s[] = {{S_SEND, cases[i].greeting, 0}, {S_CLOSE, 0, 0}, {S_END, 0, 0}};
        fake *f = fake_start(s);
        cpq_client *c = client_small();
        int rc = cpq_client_connect(c, "127.0.0.1", (unsigned)f->port);
        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d (%s)", i, rc, cpq_client_errmsg(c));
        cr_assert_eq(cpq_client_connected(c), 0, "case %zu", i);
        if (rc == CPQ_RC_S_BUSY) {
            cr_assert_str_eq(cpq_client_server_code(c), "BUSY");
            cr_assert_str_eq(cpq_client_server_msg(c), "too many connections");
        }
        cpq_client_free(c);
        fake_stop(f);
    }
}

/* Connect to a fake running script s; the caller frees both. */
static cpq_client *connect_fake(const step *s, fake **fp)
{
    *fp = fake_start(s);
    cpq_client *c = client_small();
    int rc = cpq_client_connect(c, "127.0.0.1", (unsigned)(*fp)->port);
    cr_assert_eq(rc, CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    return c;
}

Test(fake, reply_timeout)
{
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0}, {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_hits *r = NULL;
    int rc = cpq_client_search(c, "fox", NULL, &r);
    cr_assert_eq(rc, CPQ_RC_TIMEOUT, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_null(r);
    cr_assert_eq(cpq_client_connected(c), 0);
    /* Broken: later calls fail at once. */
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_NOTCONN);
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, slow_trickle_is_bounded_by_the_reply_deadline)
{
    /* A byte now and then: the deadline is per reply, not per byte. */
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0},
                             {S_SEND, "h", 0}, {S_SLEEP, 0, 120}, {S_SEND, "i", 0},
                             {S_SLEEP, 0, 120}, {S_SEND, "t", 0}, {S_SLEEP, 0, 120},
                             {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    int rc = cpq_client_ping(c);
    cr_assert_eq(rc, CPQ_RC_TIMEOUT, "rc %d: %s", rc, cpq_client_errmsg(c));
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, close_mid_reply)
{
    static const step s[] = {
        {S_SEND, GREETING, 0}, {S_READ, 0, 0},
        {S_SEND, "hit rank=1 passage=3 doc=d docnum=0 ord=0 start=0 end=9 score=1 win=0-9 hl=\n"
                 "snippet abc",
         0},
        {S_CLOSE, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_hits *r = NULL;
    int rc = cpq_client_search(c, "fox", NULL, &r);
    cr_assert_eq(rc, CPQ_RC_CLOSED, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert(strstr(cpq_client_errmsg(c), "mid-") != NULL, "%s", cpq_client_errmsg(c));
    cr_assert_null(r);
    cr_assert_eq(cpq_client_connected(c), 0);
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, close_mid_literal)
{
    static const step s[] = {
        {S_SEND, GREETING, 0}, {S_READ, 0, 0},
        {S_SEND, "passage passage=1 doc=d docnum=0 ord=0 start=0 end=100 len=20\ntext 100\nonly part",
         0},
        {S_CLOSE, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_passage *p = NULL;
    int rc = cpq_client_get(c, 1, &p);
    cr_assert_eq(rc, CPQ_RC_CLOSED, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_null(p);
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, garbage_replies)
{
    static const char *const garbage[] = {
        "\x01\x02 binary\n",
        "Hello there\n",                    /* upper case: not a keyword */
        "@wrongtag OK\n",                   /* not the request's tag */
        "@T ERR\n",                         /* ERR without a code */
        "text abc\n",                       /* a text length that is not a number */
        "@T OK hits=0 total=x\n",           /* a bad number */
        "hit rank=1 passage=1 doc=d score=1 win=0-3 hl=0-9\nsnippet abc\n@T OK total=1\n",
                                            /* a highlight outside its snippet */
        "hit rank=1 passage=1 score=1\n@T OK total=1\n",   /* no doc */
        "hit rank=1 passage=1 doc=d\\q score=1\n@T OK total=1\n",   /* bad escape */
        "text 3\nabcX@T OK\n",              /* no LF after the literal */
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0}, {S_SEND, garbage[i], 0},
                    {S_DRAIN, 0, 0}, {S_END, 0, 0}};
        fake *f;
        cpq_client *c = connect_fake(s, &f);
        cpq_client_hits *r = NULL;
        int rc = cpq_client_search(c, "fox", NULL, &r);
        cr_assert_eq(rc, CPQ_RC_PROTO, "case %zu: rc %d (%s)", i, rc, cpq_client_errmsg(c));
        cr_assert_null(r);
        cr_assert_eq(cpq_client_connected(c), 0, "case %zu", i);
        cpq_client_free(c);
        fake_stop(f);
    }
}

Test(fake, oversized_line)
{
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0},
                             {S_BIG, 0, (size_t)3 << 20}, {S_CLOSE, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    int rc = cpq_client_ping(c);
    cr_assert_eq(rc, CPQ_RC_TOOBIG, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_eq(cpq_client_connected(c), 0);
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, oversized_literal)
{
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0},
                             {S_SEND, "passage passage=1\ntext 99999999999\n", 0},
                             {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_passage *p = NULL;
    int rc = cpq_client_get(c, 1, &p);
    cr_assert_eq(rc, CPQ_RC_TOOBIG, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_null(p);
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, oversized_reply)
{
    /* 1 MiB is the client's max_reply here: 200 KB lines add up past it. */
    static char line[200 * 1024];
    memcpy(line, "stat x ", 7);
    memset(line + 7, 'y', sizeof line - 9);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = '\0';
    /* S_SEND copies through an 8 KB buffer: this server is a child process. */
    int port;
    int lfd = listen_any(&port);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = accept(lfd, NULL, NULL);
        fake_send(fd, GREETING, strlen(GREETING));
        char b[256];
        recv(fd, b, sizeof b, 0);
        for (int i = 0; i < 8; i++)
            fake_send(fd, line, strlen(line));
        while (recv(fd, b, sizeof b, 0) > 0) {
        }
        _exit(0);
    }
    cpq_client *c = client_small();
    cr_assert_eq(cpq_client_connect(c, "127.0.0.1", (unsigned)port), CPQ_RC_OK);
    cpq_client_kvlist *l = NULL;
    int rc = cpq_client_stats(c, &l);
    cr_assert_eq(rc, CPQ_RC_TOOBIG, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_null(l);
    cpq_client_free(c);
    waitpid(pid, NULL, 0);
    close(lfd);
}

Test(fake, server_errors_are_values)
{
    static const step s[] = {
        {S_SEND, GREETING, 0},
        {S_READ, 0, 0}, {S_SEND, "@T ERR ARG :limit must be 0..1000\\x20(got\\x201001)\n", 0},
        {S_READ, 0, 0}, {S_SEND, "@T ERR NOTFOUND no passage 99\n", 0},
        {S_READ, 0, 0}, {S_SEND, "@T ERR FUTURECODE something new\n", 0},
        {S_READ, 0, 0}, {S_SEND, "hit rank=1 passage=1 doc=d score=1\n@T ERR TOOBIG reply too big\n", 0},
        {S_READ, 0, 0}, {S_SEND, "@T OK PONG\n", 0},
        {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_hits *r = NULL;
    int rc = cpq_client_search(c, "fox", NULL, &r);
    cr_assert_eq(rc, CPQ_RC_S_ARG);
    cr_assert_eq(cpq_client_errcode(c), CPQ_RC_S_ARG);
    cr_assert_str_eq(cpq_client_server_code(c), "ARG");
    cr_assert_str_eq(cpq_client_server_msg(c), ":limit must be 0..1000 (got 1001)");
    cr_assert(strstr(cpq_client_errmsg(c), "ARG") != NULL);
    cr_assert_eq(cpq_client_connected(c), 1, "a server error keeps the connection");

    cpq_client_passage *p = NULL;
    cr_assert_eq(cpq_client_get(c, 99, &p), CPQ_RC_S_NOTFOUND);
    cr_assert_str_eq(cpq_client_server_code(c), "NOTFOUND");
    cr_assert_str_eq(cpq_client_server_msg(c), "no passage 99");

    cr_assert_eq(cpq_client_ping(c), CPQ_RC_S_INTERNAL);
    cr_assert_str_eq(cpq_client_server_code(c), "FUTURECODE");

    cr_assert_eq(cpq_client_search(c, "fox", NULL, &r), CPQ_RC_S_TOOBIG);
    cr_assert_null(r);

    cr_assert_eq(cpq_client_ping(c), CPQ_RC_OK);
    cr_assert_eq(cpq_client_errcode(c), CPQ_RC_OK);
    cr_assert_str_eq(cpq_client_server_code(c), "");
    cr_assert_str_eq(cpq_client_errmsg(c), "");
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, scripted_search_is_parsed)
{
    static const step s[] = {
        {S_SEND, GREETING, 0},
        {S_READ, 0, 0},
        {S_SEND,
         "hit rank=1 passage=7 doc=my\\x20doc docnum=2 ord=1 start=100 end=200 score=2.5 "
         "win=10-22 hl=0-3,8-11 newfield=zzz\n"
         "snippet fox\\tand fox\\\\\n"
         "futureline whatever\n"
         "hit rank=2 passage=8 doc=d2 docnum=3 ord=0 start=0 end=50 score=1.25\n"
         "@T OK hits=2 total=40 exact=0 partial=1 capped=1 gen=5 us=77\n",
         0},
        {S_DRAIN, 0, 0},
        {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_search_opts so;
    cpq_client_search_opts_init(&so);
    so.limit = 2;
    so.group = 1;
    so.k1 = 1.2;
    cpq_client_hits *r = NULL;
    int rc = cpq_client_search(c, ":colon query", &so, &r);
    cr_assert_eq(rc, CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    /* The request: options, empty markers, "--" before a ':' query. */
    cr_assert(strstr(f->last, "SEARCH") != NULL, "%s", f->last);
    cr_assert(strstr(f->last, ":limit=2") != NULL, "%s", f->last);
    cr_assert(strstr(f->last, ":group") != NULL, "%s", f->last);
    cr_assert(strstr(f->last, ":open=") != NULL, "%s", f->last);
    cr_assert(strstr(f->last, ":k1=1.2") != NULL, "%s", f->last);
    cr_assert(strstr(f->last, " -- :colon query") != NULL, "%s", f->last);

    cr_assert_eq(r->count, 2);
    cr_assert_eq(r->total, 40);
    cr_assert_eq(r->exact, 0);
    cr_assert_eq(r->partial, 1);
    cr_assert_eq(r->capped, 1);
    cr_assert_eq(r->gen, 5);
    cr_assert_eq(r->us, 77);
    cr_assert_eq(cpq_client_gen(c), 5);
    const cpq_client_hit *h = cpq_client_hits_at(r, 0);
    cr_assert_eq(h->rank, 1);
    cr_assert_eq(h->passage, 7);
    cr_assert_str_eq(h->doc, "my doc");
    cr_assert_eq(h->doc_len, 6);
    cr_assert_eq(h->docnum, 2);
    cr_assert_eq(h->ord, 1);
    cr_assert_eq(h->start, 100);
    cr_assert_eq(h->end, 200);
    cr_assert_float_eq(h->score, 2.5, 1e-9);
    cr_assert_eq(h->has_snippet, 1);
    cr_assert_eq(h->win_start, 10);
    cr_assert_eq(h->win_end, 22);
    cr_assert_eq(h->snippet_len, 12);
    cr_assert_eq(memcmp(h->snippet, "fox\tand fox\\", 12), 0);
    cr_assert_eq(h->snippet[12], '\0');
    cr_assert_eq(h->nhl, 2);
    cr_assert_eq(h->hl[0], 0);
    cr_assert_eq(h->hl[1], 3);
    cr_assert_eq(h->hl[2], 8);
    cr_assert_eq(h->hl[3], 11);
    const cpq_client_hit *h2 = cpq_client_hits_at(r, 1);
    cr_assert_str_eq(h2->doc, "d2");
    cr_assert_eq(h2->has_snippet, 0);
    cr_assert_eq(h2->nhl, 0);
    cr_assert_eq(h2->snippet_len, 0);
    cr_assert_null(cpq_client_hits_at(r, 2));
    cpq_client_free(c);   /* the result outlives the handle */
    cr_assert_str_eq(h->doc, "my doc");
    cpq_client_hits_free(r);
    fake_stop(f);
}

Test(fake, bad_arguments_keep_the_connection)
{
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0}, {S_SEND, "@T OK PONG\n", 0},
                             {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_hits *r = NULL;
    cr_assert_eq(cpq_client_search(c, "two\nlines", NULL, &r), CPQ_RC_INVAL);
    cr_assert_eq(cpq_client_search(c, NULL, NULL, &r), CPQ_RC_INVAL);
    cpq_client_search_opts so;
    cpq_client_search_opts_init(&so);
    so.limit = 1001;
    cr_assert_eq(cpq_client_search(c, "x", &so, &r), CPQ_RC_INVAL);
    so.limit = 10;
    so.snippet = 5;
    cr_assert_eq(cpq_client_search(c, "x", &so, &r), CPQ_RC_INVAL);
    so.snippet = 200;
    so.b = 2;
    cr_assert_eq(cpq_client_search(c, "x", &so, &r), CPQ_RC_INVAL);
    cr_assert_eq(cpq_client_auth(c, " padded", (size_t)-1, NULL, 0), CPQ_RC_INVAL);
    cr_assert_eq(cpq_client_doc(c, "a\nb", (size_t)-1, NULL), CPQ_RC_INVAL);
    cpq_client_reply *rep = NULL;
    cr_assert_eq(cpq_client_raw(c, "MODE json", &rep), CPQ_RC_INVAL);
    cr_assert_eq(cpq_client_raw(c, "   ", &rep), CPQ_RC_INVAL);
    char *huge = malloc(70000);
    memset(huge, 'a', 69999);
    huge[69999] = '\0';
    cr_assert_eq(cpq_client_search(c, huge, NULL, &r), CPQ_RC_INVAL);
    free(huge);
    cr_assert_eq(cpq_client_connected(c), 1);
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cpq_client_free(c);
    fake_stop(f);
}

Test(fake, no_sigpipe)
{
    /* The server closes right after the greeting; writing then must not
     * kill the process (SIGPIPE is left at its default here). */
    signal(SIGPIPE, SIG_DFL);
    static const step s[] = {{S_SEND, GREETING, 0}, {S_CLOSE, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    fake_stop(f);
    usleep(50000);
    int rc = CPQ_RC_OK;
    for (int i = 0; i < 5 && rc == CPQ_RC_OK; i++)
        rc = cpq_client_ping(c);
    cr_assert(rc == CPQ_RC_CLOSED || rc == CPQ_RC_IO, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_NOTCONN);
    cpq_client_free(c);
}

Test(fake, raw_reply)
{
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0},
                             {S_SEND, "help PING\nhelp SEARCH\ntext 3\na\nb\nOK\n", 0},
                             {S_READ, 0, 0}, {S_SEND, "ERR UNKNOWN unknown command FOO\n", 0},
                             {S_READ, 0, 0}, {S_SEND, "OK BYE\n", 0},
                             {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f;
    cpq_client *c = connect_fake(s, &f);
    cpq_client_reply *rep = NULL;
    cr_assert_eq(cpq_client_raw(c, "HELP", &rep), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cr_assert_str_eq(f->last, "HELP");
    cr_assert_eq(rep->ok, 1);
    cr_assert_str_eq(rep->data, "help PING\nhelp SEARCH\ntext 3\na\nb\nOK\n");
    cr_assert_eq(rep->len, strlen(rep->data));
    cr_assert_str_eq(rep->status, "OK");
    cpq_client_reply_free(rep);
    cr_assert_eq(cpq_client_raw(c, "FOO", &rep), CPQ_RC_OK);
    cr_assert_eq(rep->ok, 0);
    cr_assert_str_eq(rep->status, "ERR UNKNOWN unknown command FOO");
    cpq_client_reply_free(rep);
    cr_assert_eq(cpq_client_raw(c, "quit", &rep), CPQ_RC_OK);
    cr_assert_eq(cpq_client_connected(c), 0);
    cpq_client_reply_free(rep);
    cpq_client_free(c);
    fake_stop(f);
}

/* Random replies stitched from pieces of valid and broken lines, with
 * bytes flipped: every call returns (the server closes after its bytes),
 * nothing crashes, and what comes back OK is consistent. */
Test(fake, random_replies)
{
    static const char *const pieces[] = {
        "hit rank=1 passage=2 doc=d score=1.5 win=0-5 hl=0-2\n",
        "hit rank=2 passage=3 doc=a\\x20b docnum=1 ord=0 start=0 end=9 score=0.5\n",
        "snippet hello\n", "snippet \\t\\x41\n", "text 5\nabcde\n", "text 0\n\n",
        "stat a b\n", "info proto 1\n", "passage passage=1 doc=x len=3\n",
        "doc doc=x docnum=0 passages=1 bytes=5\n", "term text=a df=1 idf=0.5 tf=1 score=1\n",
        "@T OK total=1 gen=2\n", "@T OK count=3\n", "@T OK PONG\n", "@T ERR ARG bad\n",
        "@T OK passage=1 matched=1 score=1\n", "OK\n", "ERR\n", "text 99\nshort\n",
        "hl=1-0\n", "\xff\xfe\n", "\\\n", "@\n", " leading space\n", "x=y=z\n", "\n",
    };
    const size_t np = sizeof pieces / sizeof pieces[0];
    uint64_t seed = 12345;
    char reply[4096];
    for (int iter = 0; iter < 300; iter++) {
        size_t len = 0;
        int k = 1 + (int)(tu_rand(&seed) % 6);
        for (int j = 0; j < k; j++) {
            const char *pc = pieces[tu_rand(&seed) % np];
            size_t pl = strlen(pc);
            if (len + pl + 1 < sizeof reply) {
                memcpy(reply + len, pc, pl);
                len += pl;
            }
        }
        reply[len] = '\0';
        if (len > 0 && tu_rand(&seed) % 2) {    /* flip a byte (never to NUL) */
            size_t at = tu_rand(&seed) % len;
            reply[at] = (char)(1 + tu_rand(&seed) % 255);
        }
        step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0}, {S_SEND, reply, 0},
                    {S_CLOSE, 0, 0}, {S_END, 0, 0}};
        fake *f;
        cpq_client *c = connect_fake(s, &f);
        int rc = CPQ_RC_OK, which = (int)(tu_rand(&seed) % 8);
        if (which == 0) {
            cpq_client_hits *r = NULL;
            rc = cpq_client_search(c, "q", NULL, &r);
            cr_assert((rc == CPQ_RC_OK) == (r != NULL));
            for (size_t i = 0; r != NULL && i < r->count; i++) {
                const cpq_client_hit *h = cpq_client_hits_at(r, i);
                cr_assert_eq(h->doc[h->doc_len], '\0');
                for (size_t j = 0; j < h->nhl; j++)
                    cr_assert_leq(h->hl[2 * j + 1], h->snippet_len);
            }
            cpq_client_hits_free(r);
        } else if (which == 1) {
            cpq_client_passage *p = NULL;
            rc = cpq_client_get(c, 1, &p);
            cr_assert((rc == CPQ_RC_OK) == (p != NULL));
            cpq_client_passage_free(p);
        } else if (which == 2) {
            cpq_client_document *d = NULL;
            rc = cpq_client_doc(c, "x", 1, &d);
            cr_assert((rc == CPQ_RC_OK) == (d != NULL));
            cpq_client_document_free(d);
        } else if (which == 3) {
            cpq_client_explanation *e = NULL;
            rc = cpq_client_explain(c, 1, "q", NULL, &e);
            cpq_client_explanation_free(e);
        } else if (which == 4 || which == 5) {
            cpq_client_kvlist *l = NULL;
            rc = which == 4 ? cpq_client_stats(c, &l) : cpq_client_info(c, &l);
            for (size_t i = 0; l != NULL && i < l->count; i++)
                cr_assert_not_null(cpq_client_kvlist_at(l, i)->value);
            cpq_client_kvlist_free(l);
        } else if (which == 6) {
            uint64_t n;
            rc = cpq_client_count(c, "q", 0, 0, &n);
        } else {
            rc = cpq_client_ping(c);
        }
        cr_assert(cpq_strerror(rc) != NULL);
        if (rc != CPQ_RC_OK && !CPQ_RC_IS_SERVER(rc))
            cr_assert_eq(cpq_client_connected(c), 0, "iter %d rc %d", iter, rc);
        cpq_client_free(c);
        fake_stop(f);
    }
}

/* Many handles at once, each in its own thread: no shared state. */
static void *thread_main(void *arg)
{
    fake *f = arg;
    /* Generous timeouts: sixteen threads crawl under valgrind, and this
     * test is about independence, not timing. */
    cpq_client_opts o;
    cpq_client_opts_init(&o);
    o.connect_timeout_ms = o.read_timeout_ms = o.write_timeout_ms = 20000;
    cpq_client *c = cpq_client_new(&o);
    if (!c) return (void *)(intptr_t)CPQ_RC_NOMEM;
    int rc = cpq_client_connect(c, "127.0.0.1", (unsigned)f->port);
    if (rc == CPQ_RC_OK)
        rc = cpq_client_ping(c);
    cpq_client_free(c);
    return (void *)(intptr_t)rc;
}

Test(fake, threads)
{
    static const step s[] = {{S_SEND, GREETING, 0}, {S_READ, 0, 0}, {S_SEND, "@T OK PONG\n", 0},
                             {S_DRAIN, 0, 0}, {S_END, 0, 0}};
    fake *f[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        f[i] = fake_start(s);
        cr_assert_eq(pthread_create(&th[i], NULL, thread_main, f[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_assert_eq((int)(intptr_t)ret, CPQ_RC_OK, "thread %d: %s", i, cpq_rc_name((int)(intptr_t)ret));
        fake_stop(f[i]);
    }
}

/* ======================================================================== */
/* Part 2: a real cpqd                                                      */
/* ======================================================================== */

static char *dir;
static char ixpath[4096];
static pid_t dpid;
static int dport;

static const char fox_text[] =
    "The quick brown fox jumps over the lazy dog. Foxes are clever animals "
    "and a fox hunts at night.";
static const char space_text[] =
    "Internet sovereignty is the idea that a state governs the internet inside its borders.";
static const char odd_text[] = "Tabs\tand\nnewlines and a \\backslash\\ with the fox.";

static void build_index(const char *path)
{
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.passage_words = 40;
    o.threads = 1;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, path, &b, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_builder_add(b, "fox", 3, fox_text, strlen(fox_text), &e), CPQ_OK);
    cr_assert_eq(cpq_builder_add(b, "space", 5, space_text, strlen(space_text), &e), CPQ_OK);
    cr_assert_eq(cpq_builder_add(b, "my doc", 6, odd_text, strlen(odd_text), &e), CPQ_OK);
    tu_doc *docs = tu_make_corpus(60, 120, 5);
    for (size_t i = 0; i < 60; i++)
        cr_assert_eq(cpq_builder_add(b, docs[i].id, strlen(docs[i].id), docs[i].text, docs[i].len,
                                     &e),
                     CPQ_OK);
    tu_free_corpus(docs, 60);
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);
}

/* Start cpqd with extra arguments; its port goes to dport. */
static void start_cpqd(const char *const *extra)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    const char *argv[20];
    int n = 0;
    argv[n++] = CPQD_PATH;
    argv[n++] = "--index";
    argv[n++] = ixpath;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--threads";
    argv[n++] = "2";
    argv[n++] = "--log-level";
    argv[n++] = "error";
    for (int i = 0; extra && extra[i] && n < 18; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    dpid = fork();
    cr_assert(dpid >= 0);
    if (dpid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(CPQD_PATH, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f), "cpqd did not start");
    fclose(f);
    char *colon = strrchr(line, ':');
    cr_assert(strncmp(line, "cpqd listening on ", 18) == 0 && colon != NULL, "%s", line);
    dport = atoi(colon + 1);
    cr_assert(dport > 0);
}

static void real_setup(void)
{
    if (access(CPQD_PATH, X_OK) != 0)
        return;
    dir = tu_tempdir();
    cr_assert_not_null(dir);
    snprintf(ixpath, sizeof ixpath, "%s/t.cpqx", dir);
    build_index(ixpath);
}

static void real_teardown(void)
{
    if (dpid > 0) {
        kill(dpid, SIGTERM);
        waitpid(dpid, NULL, 0);
        dpid = 0;
    }
    if (dir != NULL) {
        tu_rmrf(dir);
        free(dir);
        dir = NULL;
    }
}

#define NEED_CPQD()                                                        \
    do {                                                                   \
        if (access(CPQD_PATH, X_OK) != 0)                                  \
            cr_skip_test("no cpqd at %s (the daemon is not built)", CPQD_PATH); \
    } while (0)

static cpq_client *connect_real(void)
{
    cpq_client_opts o;
    cpq_client_opts_init(&o);
    o.read_timeout_ms = 20000;   /* a hang fails; slowness does not */
    cpq_client *c = cpq_client_new(&o);
    cr_assert_not_null(c);
    int rc = cpq_client_connect(c, "localhost", (unsigned)dport);
    cr_assert_eq(rc, CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    return c;
}

static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((a[i] | 0x20) != (b[i] | 0x20))
            return 0;
    return 1;
}

Test(real, every_call, .init = real_setup, .fini = real_teardown)
{
    NEED_CPQD();
    start_cpqd(NULL);
    cpq_client *c = connect_real();
    cr_assert_str_eq(cpq_client_server_version(c), "0.1.0");
    cr_assert_eq(cpq_client_auth_required(c), 0);
    cr_assert_eq(cpq_client_greeting_docs(c), 63);
    cr_assert(cpq_client_greeting_passages(c) >= 63);
    cr_assert_eq(cpq_client_gen(c), 1);
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_OK, "%s", cpq_client_errmsg(c));

    /* AUTH on a server without a password. */
    char role[16];
    cr_assert_eq(cpq_client_auth(c, "secret", (size_t)-1, role, sizeof role), CPQ_RC_OK, "%s",
                 cpq_client_errmsg(c));
    cr_assert_str_eq(role, "none");

    /* SEARCH: hits, snippets with highlights, and each snippet is exactly
     * the passage's bytes at its window. */
    cpq_client_search_opts so;
    cpq_client_search_opts_init(&so);
    so.limit = 5;
    cpq_client_hits *r = NULL;
    cr_assert_eq(cpq_client_search(c, "fox", &so, &r), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cr_assert_geq(r->count, 2);
    cr_assert_geq(r->total, r->count);
    cr_assert_eq(r->gen, 1);
    int saw_fox = 0;
    for (size_t i = 0; i < r->count; i++) {
        const cpq_client_hit *h = cpq_client_hits_at(r, i);
        cr_assert_eq(h->rank, i + 1);
        cr_assert(h->score > 0);
        cr_assert(h->has_snippet);
        cr_assert_geq(h->nhl, 1, "hit %zu has no highlight", i);
        for (size_t j = 0; j < h->nhl; j++)
            cr_assert(ieq(h->snippet + h->hl[2 * j], "fox", 3), "hl %zu of hit %zu: %.*s", j, i,
                      (int)(h->hl[2 * j + 1] - h->hl[2 * j]), h->snippet + h->hl[2 * j]);
        cpq_client_passage *p = NULL;
        cr_assert_eq(cpq_client_get(c, h->passage, &p), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
        cr_assert_str_eq(p->doc, h->doc);
        cr_assert_eq(p->start, h->start);
        cr_assert_eq(p->end, h->end);
        cr_assert_eq(p->text_len, h->end - h->start);
        cr_assert_leq(h->win_end, p->text_len);
        cr_assert_eq(h->win_end - h->win_start, h->snippet_len);
        cr_assert_eq(memcmp(p->text + h->win_start, h->snippet, h->snippet_len), 0,
                     "hit %zu: snippet is not the passage's bytes", i);
        if (strcmp(h->doc, "fox") == 0)
            saw_fox = 1;
        cpq_client_passage_free(p);
    }
    cr_assert(saw_fox);
    cpq_client_hits_free(r);

    /* Offsets page through the same ranking. */
    so.limit = 1;
    so.offset = 1;
    cr_assert_eq(cpq_client_search(c, "fox", &so, &r), CPQ_RC_OK);
    cr_assert_eq(r->count, 1);
    cr_assert_eq(cpq_client_hits_at(r, 0)->rank, 2);
    cpq_client_hits_free(r);

    /* No snippet; group; all; exact. */
    cpq_client_search_opts_init(&so);
    so.snippet = 0;
    so.group = 1;
    so.exact = 1;
    so.limit = 100;
    cr_assert_eq(cpq_client_search(c, "fox", &so, &r), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cr_assert_eq(r->exact, 1);
    cr_assert_eq(r->total, r->count);
    for (size_t i = 0; i < r->count; i++) {
        cr_assert_eq(cpq_client_hits_at(r, i)->has_snippet, 0);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(cpq_client_hits_at(r, i)->docnum, cpq_client_hits_at(r, j)->docnum);
    }
    uint64_t grouped = r->total;
    cpq_client_hits_free(r);
    uint64_t n = 0;
    cr_assert_eq(cpq_client_count(c, "fox", 1, 0, &n), CPQ_RC_OK);
    cr_assert_eq(n, grouped);
    cpq_client_search_opts_init(&so);
    so.all = 1;
    cr_assert_eq(cpq_client_search(c, "quick zzzzunknown", &so, &r), CPQ_RC_OK);
    cr_assert_eq(r->count, 0);
    cpq_client_hits_free(r);
    so.all = 0;
    cr_assert_eq(cpq_client_search(c, "quick zzzzunknown", &so, &r), CPQ_RC_OK);
    cr_assert_geq(r->count, 1);
    cpq_client_hits_free(r);
    cr_assert_eq(cpq_client_count(c, "quick zzzzunknown", 0, 1, &n), CPQ_RC_OK);
    cr_assert_eq(n, 0);

    /* A query beginning with ':' or "--" goes through "--". */
    cr_assert_eq(cpq_client_search(c, ":limit=5", NULL, &r), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cpq_client_hits_free(r);
    /* "--" reaches the query parser (which rejects it), not the option
     * parser (which would see no query at all: ERR SYNTAX). */
    cr_assert_eq(cpq_client_count(c, "--", 0, 0, &n), CPQ_RC_S_QUERY, "%s", cpq_client_errmsg(c));
    cr_assert_eq(cpq_client_count(c, "-- fox", 0, 0, &n), CPQ_RC_S_QUERY, "%s",
                 cpq_client_errmsg(c));

    /* Server errors. */
    cr_assert_eq(cpq_client_search(c, "\"unbalanced", NULL, &r), CPQ_RC_S_QUERY);
    cr_assert_str_eq(cpq_client_server_code(c), "QUERY");
    cr_assert(cpq_client_server_msg(c)[0] != '\0');
    cpq_client_passage *p = NULL;
    cr_assert_eq(cpq_client_get(c, 1u << 30, &p), CPQ_RC_S_NOTFOUND);
    cr_assert_null(p);
    cr_assert_eq(cpq_client_connected(c), 1);

    /* DOC by id (with a space and control bytes in its text) and by number. */
    cpq_client_document *d = NULL;
    cr_assert_eq(cpq_client_doc(c, "my doc", (size_t)-1, &d), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cr_assert_str_eq(d->doc, "my doc");
    cr_assert_eq(d->text_len, strlen(odd_text));
    cr_assert_eq(memcmp(d->text, odd_text, d->text_len), 0);
    cr_assert_eq(d->bytes, strlen(odd_text));
    cr_assert_geq(d->npassages, 1);
    cr_assert_eq(cpq_client_document_passage(d, 0)->ord, 0);
    cr_assert_null(cpq_client_document_passage(d, d->npassages));
    uint64_t num = d->docnum;
    cpq_client_document_free(d);
    cr_assert_eq(cpq_client_doc_num(c, num, &d), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cr_assert_str_eq(d->doc, "my doc");
    cpq_client_document_free(d);
    cr_assert_eq(cpq_client_doc(c, "fox", 3, &d), CPQ_RC_OK);
    cr_assert_eq(memcmp(d->text, fox_text, strlen(fox_text)), 0);
    cpq_client_document_free(d);
    cr_assert_eq(cpq_client_doc(c, "no such doc", (size_t)-1, &d), CPQ_RC_S_NOTFOUND);

    /* EXPLAIN agrees with SEARCH. */
    cpq_client_search_opts_init(&so);
    so.limit = 1;
    cr_assert_eq(cpq_client_search(c, "quick fox", &so, &r), CPQ_RC_OK);
    const cpq_client_hit *top = cpq_client_hits_at(r, 0);
    cpq_client_explanation *e = NULL;
    cr_assert_eq(cpq_client_explain(c, top->passage, "quick fox", NULL, &e), CPQ_RC_OK, "%s",
                 cpq_client_errmsg(c));
    cr_assert_eq(e->passage, top->passage);
    cr_assert_eq(e->matched, 1);
    cr_assert_float_eq(e->score, top->score, 1e-4 * top->score + 1e-6);
    cr_assert_geq(e->nterms, 2);
    double sum = 0;
    for (size_t i = 0; i < e->nterms; i++) {
        const cpq_client_term *t = cpq_client_explanation_term(e, i);
        cr_assert(t->text_len > 0);
        cr_assert(t->df > 0);
        sum += t->score;
    }
    cr_assert_float_eq(sum, e->score, 1e-3);
    cr_assert_null(cpq_client_explanation_term(e, e->nterms));
    cpq_client_explanation_free(e);
    cpq_client_hits_free(r);

    /* STATS and INFO. */
    cpq_client_kvlist *l = NULL;
    cr_assert_eq(cpq_client_stats(c, &l), CPQ_RC_OK);
    cr_assert_not_null(cpq_client_kvlist_get(l, "uptime_s"));
    cr_assert_not_null(cpq_client_kvlist_get(l, "searches"));
    cr_assert_geq(atoi(cpq_client_kvlist_get(l, "searches")), 5);
    cr_assert_null(cpq_client_kvlist_get(l, "no_such_stat"));
    cr_assert_str_eq(cpq_client_kvlist_at(l, 0)->name, "uptime_s");
    cpq_client_kvlist_free(l);
    cr_assert_eq(cpq_client_info(c, &l), CPQ_RC_OK);
    cr_assert_str_eq(cpq_client_kvlist_get(l, "proto"), "1");
    cr_assert_str_eq(cpq_client_kvlist_get(l, "docs"), "63");
    cr_assert_str_eq(cpq_client_kvlist_get(l, "index_path"), ixpath);
    cpq_client_kvlist_free(l);

    /* Raw. */
    cpq_client_reply *rep = NULL;
    cr_assert_eq(cpq_client_raw(c, "HELP", &rep), CPQ_RC_OK);
    cr_assert_eq(rep->ok, 1);
    cr_assert(strstr(rep->data, "help ") != NULL);
    cpq_client_reply_free(rep);
    cr_assert_eq(cpq_client_raw(c, "NOSUCHCOMMAND", &rep), CPQ_RC_OK);
    cr_assert_eq(rep->ok, 0);
    cr_assert(strncmp(rep->status, "ERR UNKNOWN", 11) == 0, "%s", rep->status);
    cpq_client_reply_free(rep);

    /* QUIT, then reconnect the same handle. */
    cr_assert_eq(cpq_client_close(c), CPQ_RC_OK, "%s", cpq_client_errmsg(c));
    cr_assert_eq(cpq_client_connected(c), 0);
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_NOTCONN);
    cr_assert_eq(cpq_client_connect(c, "127.0.0.1", (unsigned)dport), CPQ_RC_OK);
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_OK);
    cpq_client_free(c);
}

Test(real, auth, .init = real_setup, .fini = real_teardown)
{
    NEED_CPQD();
    char pw[4200];
    snprintf(pw, sizeof pw, "%s/pw", dir);
    cr_assert_eq(tu_write_file(pw, "open sesame\n", 12), 0);
    const char *extra[] = {"--password-file", pw, NULL};
    start_cpqd(extra);
    cpq_client *c = connect_real();
    cr_assert_eq(cpq_client_auth_required(c), 1);
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_OK);   /* PING never needs auth */
    cpq_client_hits *r = NULL;
    cr_assert_eq(cpq_client_search(c, "fox", NULL, &r), CPQ_RC_S_NOAUTH);
    cr_assert_str_eq(cpq_client_server_code(c), "NOAUTH");
    char role[16];
    cr_assert_eq(cpq_client_auth(c, "wrong", (size_t)-1, role, sizeof role), CPQ_RC_S_AUTH);
    cr_assert_str_eq(role, "");
    cr_assert_eq(cpq_client_auth(c, "open sesame", (size_t)-1, role, sizeof role), CPQ_RC_OK,
                 "%s", cpq_client_errmsg(c));
    cr_assert_str_eq(role, "user");
    cr_assert_eq(cpq_client_search(c, "fox", NULL, &r), CPQ_RC_OK);
    cpq_client_hits_free(r);
    cpq_client_free(c);
}

Test(real, server_goes_away, .init = real_setup, .fini = real_teardown)
{
    NEED_CPQD();
    start_cpqd(NULL);
    cpq_client *c = connect_real();
    cr_assert_eq(cpq_client_ping(c), CPQ_RC_OK);
    kill(dpid, SIGKILL);
    waitpid(dpid, NULL, 0);
    dpid = 0;
    int rc = cpq_client_ping(c);
    cr_assert(rc == CPQ_RC_CLOSED || rc == CPQ_RC_IO, "rc %d: %s", rc, cpq_client_errmsg(c));
    cr_assert_eq(cpq_client_connected(c), 0);
    rc = cpq_client_connect(c, "127.0.0.1", (unsigned)dport);
    cr_assert_eq(rc, CPQ_RC_CONNECT, "rc %d: %s", rc, cpq_client_errmsg(c));
    cpq_client_free(c);
}
