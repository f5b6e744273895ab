/* test_daemon.c - cpqd end to end: a real daemon (CPQD_PATH, the built
 * binary) on port 0 over a small index built here, driven through raw
 * sockets.  Every command, pipelining, tags, JSON mode, auth, reloads
 * (RELOAD and SIGHUP, good and bad files), 300 concurrent clients, reload
 * under load, and a bad-input suite; the daemon must stay up, keep its
 * memory bounded and exit 0 on SIGTERM.  No timing assertions: waits are
 * generous upper bounds, never expectations. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpqindex.h"
#include "testutil.h"

#ifndef CPQD_PATH
#error "CPQD_PATH must name the cpqd binary"
#endif

#define WAIT_MS 20000          /* longest wait for any reply: a hang fails, slowness does not */

/* ---- the index ------------------------------------------------------------- */

static const char fox_text[] =
    "The quick brown fox jumps over the lazy dog. Foxes are clever animals "
    "and a fox hunts at night.";
static const char space_text[] =
    "Internet sovereignty is the idea that a state governs the internet inside its borders.";

/* variant 0: the base corpus; variant 1: plus a document about a zebracorn. */
static void build_index(const char *path, int variant)
{
    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.passage_words = 40;
    o.threads = 1;
    cpq_builder *b;
    cpq_errinfo e;
    cr_assert_eq(cpq_builder_create(&o, path, &b, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_builder_add(b, "fox", 3, fox_text, strlen(fox_text), &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_builder_add(b, "space", 5, space_text, strlen(space_text), &e), CPQ_OK);
    cr_assert_eq(cpq_builder_add(b, "my doc", 6, "a document whose id has a space", 31, &e), CPQ_OK);
    /* A long document (about 30 KB) for TOOBIG and big replies. */
    size_t cap = 40000, len = 0;
    char *big = malloc(cap);
    while (len + 100 < cap - 10000)
        len += (size_t)sprintf(big + len, "lorem ipsum dolor sit amet consectetur %zu adipiscing elit. ", len);
    cr_assert_eq(cpq_builder_add(b, "big", 3, big, len, &e), CPQ_OK);
    free(big);
    tu_doc *docs = tu_make_corpus(150, 60, 77);
    for (size_t i = 0; i < 150; i++)
        cr_assert_eq(cpq_builder_add(b, docs[i].id, strlen(docs[i].id), docs[i].text, docs[i].len, &e), CPQ_OK);
    tu_free_corpus(docs, 150);
    if (variant == 1) {
        static const char z[] = "A zebracorn grazes on the savanna next to a fox.";
        cr_assert_eq(cpq_builder_add(b, "zebra", 5, z, strlen(z), &e), CPQ_OK);
    }
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);   /* atomic rename */
    cpq_builder_free(b);
}

/* ---- the daemon ------------------------------------------------------------- */

typedef struct daemon_t {
    pid_t pid;
    int port;
    char log[4096];
} daemon_t;

static char *dir;
static char ixpath[4096];
static daemon_t D;              /* the fixture's daemon */
static pid_t spawned[16];       /* killed at the end of a test, whatever happened */
static int nspawned;

/* Run cpqd with the index and extra arguments; returns its exit status
 * when it exits before listening (then d->pid is 0), or -1 once it listens. */
static int spawn(daemon_t *d, const char *index, const char *listen, const char *const *extra)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    static int seq;
    snprintf(d->log, sizeof d->log, "%s/cpqd-%d.log", dir, seq++);
    const char *argv[40];
    int n = 0;
    argv[n++] = CPQD_PATH;
    if (index) {
        argv[n++] = "--index";
        argv[n++] = index;
    }
    argv[n++] = "--listen";
    argv[n++] = listen ? listen : "127.0.0.1:0";
    argv[n++] = "--threads";
    argv[n++] = "2";
    for (int i = 0; extra && extra[i] && n < 38; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        int lf = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (lf >= 0) dup2(lf, 2);
        close(p[0]);
        close(p[1]);
        execv(CPQD_PATH, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    if (nspawned < 16) spawned[nspawned++] = pid;
    FILE *f = fdopen(p[0], "r");
    char line[256];
    d->pid = pid;
    d->port = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "cpqd listening on ", 18) != 0) {
        while (fgets(line, sizeof line, f)) {}   /* --help: read it all */
        fclose(f);
        int st;
        waitpid(pid, &st, 0);
        d->pid = 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    }
    fclose(f);
    char *colon = strrchr(line, ':');
    cr_assert(strncmp(line, "cpqd listening on ", 18) == 0 && colon, "bad first line: %s", line);
    d->port = atoi(colon + 1);
    cr_assert(d->port > 0);
    return -1;
}

static void start(daemon_t *d, const char *const *extra)
{
    int st = spawn(d, ixpath, NULL, extra);
    cr_assert_eq(st, -1, "cpqd exited with %d before listening", st);
}

/* SIGTERM and the exit status. */
static int stop(daemon_t *d)
{
    if (!d->pid) return -1;
    kill(d->pid, SIGTERM);
    int st;
    cr_assert_eq(waitpid(d->pid, &st, 0), d->pid);
    d->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    fclose(f);
    return kb;
}

static void setup(void)
{
    dir = tu_tempdir();
    cr_assert(dir);
    snprintf(ixpath, sizeof ixpath, "%s/t.cpqx", dir);
    build_index(ixpath, 0);
    start(&D, NULL);
}

static void teardown(void)
{
    if (D.pid) {
        int st = stop(&D);
        cr_expect_eq(st, 0, "cpqd exited with status %d", st);
    }
    for (int i = 0; i < nspawned; i++) {
        kill(spawned[i], SIGKILL);
        waitpid(spawned[i], NULL, WNOHANG);
    }
    nspawned = 0;
    tu_rmrf(dir);
    free(dir);
}

/* ---- a client ------------------------------------------------------------------ */

typedef struct cl {
    int fd;
    int json;
    char buf[1 << 16];
    size_t off, len;
} cl;

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s", strerror(errno));
    return fd;
}

/* Fill the buffer; 0 at EOF or after WAIT_MS without data. */
static int fill(cl *c)
{
    if (c->off == c->len) c->off = c->len = 0;
    if (c->len == sizeof c->buf) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    struct pollfd p = { c->fd, POLLIN, 0 };
    if (poll(&p, 1, WAIT_MS) <= 0) return 0;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n <= 0) return 0;
    c->len += (size_t)n;
    return 1;
}

/* One line without its LF (malloc'd), or NULL at EOF. */
static char *get_line(cl *c)
{
    size_t cap = 256, n = 0;
    char *s = malloc(cap);
    for (;;) {
        while (c->off < c->len) {
            char ch = c->buf[c->off++];
            if (ch == '\n') {
                s[n] = 0;
                return s;
            }
            if (n + 2 > cap) s = realloc(s, cap *= 2);
            s[n++] = ch;
        }
        if (!fill(c)) {
            free(s);
            return NULL;
        }
    }
}

static int is_status(const char *l)
{
    if (l[0] == '@') {
        l = strchr(l, ' ');
        if (!l) return 0;
        l++;
    }
    return (strncmp(l, "OK", 2) == 0 && (l[2] == ' ' || l[2] == 0)) || strncmp(l, "ERR ", 4) == 0;
}

/* A whole reply: its lines joined with LF ("text N" bytes included
 * verbatim), or NULL at EOF.  In JSON mode one line. */
static char *get_reply(cl *c)
{
    size_t cap = 1024, n = 0;
    char *r = malloc(cap);
    r[0] = 0;
    for (;;) {
        char *l = get_line(c);
        if (!l) {
            free(r);
            return NULL;
        }
        size_t ll = strlen(l);
        while (n + ll + 2 > cap) r = realloc(r, cap *= 2);
        memcpy(r + n, l, ll);
        n += ll;
        r[n++] = '\n';
        r[n] = 0;
        int done = c->json || is_status(l);
        unsigned long long tl = 0;
        if (!c->json && sscanf(l, "text %llu", &tl) == 1) {
            while (n + tl + 2 > cap) r = realloc(r, cap *= 2);
            for (unsigned long long k = 0; k < tl + 1; k++) {
                if (c->off == c->len && !fill(c)) {
                    free(l);
                    free(r);
                    return NULL;
                }
                r[n++] = c->buf[c->off++];
            }
            r[n] = 0;
        }
        free(l);
        if (done) return r;
    }
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        cr_assert(w > 0, "send: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

static cl *cl_open(int port)
{
    cl *c = calloc(1, sizeof *c);
    c->fd = dial(port);
    char *g = get_line(c);
    cr_assert(g, "no greeting");
    cr_assert(strncmp(g, "OK cpqd proto=1 ", 16) == 0, "greeting: %s", g);
    free(g);
    return c;
}

static void cl_close(cl *c)
{
    if (!c) return;
    close(c->fd);
    free(c);
}

/* Send one request line (LF added) and return its reply (malloc'd). */
static char *req(cl *c, const char *line)
{
    send_all(c->fd, line, strlen(line));
    send_all(c->fd, "\n", 1);
    char *r = get_reply(c);
    cr_assert(r, "no reply to %.80s", line);
    return r;
}

/* The request's reply must contain every one of the NULL-terminated needles. */
static void expect(cl *c, const char *line, ...)
{
    char *r = req(c, line);
    va_list ap;
    va_start(ap, line);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        cr_expect(strstr(r, needle), "%.100s: no '%s' in:\n%.2000s", line, needle, r);
    va_end(ap);
    free(r);
}

/* The value of " key=" in s (a number), or -1. */
static long long field(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(s, k);
    return p ? atoll(p + strlen(k)) : -1;
}

static void alive(int port)
{
    cl *c = cl_open(port);
    expect(c, "PING", "OK PONG", NULL);
    expect(c, "SEARCH :limit=1 fox", "doc=fox", "OK hits=1", NULL);
    cl_close(c);
}

TestSuite(daemon, .init = setup, .fini = teardown, .timeout = 300);

/* ---- every command ---------------------------------------------------------------- */

Test(daemon, greeting_ping_quit)
{
    cl *c = calloc(1, sizeof *c);
    c->fd = dial(D.port);
    char *g = get_line(c);
    cr_assert(g);
    cr_expect(strstr(g, "OK cpqd proto=1 version=") == g, "%s", g);
    cr_expect(strstr(g, " gen=1 ") && strstr(g, " docs=154 ") && strstr(g, " auth=0"), "%s", g);
    free(g);
    expect(c, "PING", "OK PONG", NULL);
    expect(c, "ping", "OK PONG", NULL);
    expect(c, "  PiNg  \r", "OK PONG", NULL);
    expect(c, "@a.b_c:d-1 PING", "@a.b_c:d-1 OK PONG", NULL);
    expect(c, "QUIT", "OK BYE", NULL);
    cr_expect_null(get_line(c), "the connection stays open after QUIT");
    cl_close(c);
}

Test(daemon, search)
{
    cl *c = cl_open(D.port);
    char *r = req(c, "SEARCH fox");
    cr_expect(strstr(r, "hit rank=1 passage="), "%s", r);
    cr_expect(strstr(r, " doc=fox docnum=0 ord=0 start=0 end="), "%s", r);
    cr_expect(strstr(r, "snippet The quick brown [fox]"), "%s", r);
    cr_expect(strstr(r, "\nOK hits="), "%s", r);
    cr_expect(field(r, "gen") == 1 && field(r, "us") >= 0, "%s", r);
    free(r);
    /* options */
    r = req(c, "SEARCH :limit=1 :snippet=0 fox");
    cr_expect(!strstr(r, "snippet") && !strstr(r, " win=") && !strstr(r, " hl="), "%s", r);
    cr_expect(strstr(r, "OK hits=1 "), "%s", r);
    free(r);
    expect(c, "SEARCH :open=<b> :close=</b> :ellipsis= :limit=1 quick", "snippet The <b>quick</b> brown", NULL);
    expect(c, "SEARCH :open=\\x20< :limit=1 quick", "snippet The  <quick] brown", NULL);
    expect(c, "SEARCH :limit=1 :offset=1 lorem", "hit rank=2 ", NULL);
    expect(c, "SEARCH :group :exact lorem", "OK hits=1 total=1 exact=1", NULL);
    expect(c, "SEARCH :all fox zebracorn", "OK hits=0 total=0", NULL);
    expect(c, "SEARCH fox zebracorn", "doc=fox", NULL);
    expect(c, "SEARCH :k1=1.2 :b=0.75 :budget=5000 \"lazy dog\"", "doc=fox", "hl=", NULL);
    expect(c, "SEARCH -- :limit=5", "OK hits=0", NULL);
    expect(c, "SEARCH", "ERR QUERY ", NULL);
    expect(c, "SEARCH the", "OK hits=", NULL);
    expect(c, "SEARCH sovereign*", "doc=space", NULL);
    expect(c, "SEARCH whose", "doc=my\\x20doc", NULL);
    /* errors */
    expect(c, "SEARCH :limit=1001 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :offset=9999 :limit=2 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :bogus fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :limit=1 :limit=2 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :num=3 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH (fox", "ERR QUERY ", NULL);
    expect(c, "@q SEARCH \"fox", "@q ERR QUERY ", NULL);
    char big[8000];
    size_t n = (size_t)sprintf(big, "SEARCH ");
    while (n < 7000) n += (size_t)sprintf(big + n, "w%zu ", n);
    expect(c, big, "ERR LIMIT ", NULL);
    cl_close(c);
}

Test(daemon, count_explain_get_doc)
{
    cl *c = cl_open(D.port);
    expect(c, "COUNT fox", "OK count=", " gen=1 us=", NULL);
    char *r = req(c, "COUNT :group lorem");
    cr_expect(field(r, "count") == 1, "%s", r);
    free(r);
    expect(c, "COUNT :limit=3 fox", "ERR ARG ", NULL);
    expect(c, "EXPLAIN 0 fox", "term text=fox phrase=0 df=", "OK passage=0 matched=1 excluded=0 score=", " gen=1",
           NULL);
    expect(c, "EXPLAIN :k1=2 0 \"lazy dog\"", "phrase=1", "k1=2 ", NULL);
    expect(c, "EXPLAIN 0 fox -lazy", "matched=0 excluded=1", NULL);
    expect(c, "EXPLAIN 99999 fox", "ERR NOTFOUND ", NULL);
    expect(c, "EXPLAIN", "ERR SYNTAX ", NULL);
    expect(c, "EXPLAIN x fox", "ERR ARG ", NULL);

    r = req(c, "GET 0");
    char want[512];
    snprintf(want, sizeof want, "text %zu\n%s\nOK gen=1\n", strlen(fox_text), fox_text);
    cr_expect(strstr(r, "passage passage=0 doc=fox docnum=0 ord=0 start=0 end="), "%s", r);
    cr_expect(strstr(r, want), "%s", r);
    free(r);
    expect(c, "GET 123456", "ERR NOTFOUND ", NULL);
    expect(c, "GET", "ERR SYNTAX ", NULL);
    expect(c, "GET -1", "ERR ARG ", NULL);
    expect(c, "GET 99999999999999999999999", "ERR ARG ", NULL);

    r = req(c, "DOC space");
    snprintf(want, sizeof want, "text %zu\n%s\nOK gen=1\n", strlen(space_text), space_text);
    cr_expect(strstr(r, "doc doc=space docnum=1 passages=1 bytes="), "%s", r);
    cr_expect(strstr(r, "\npassage passage="), "%s", r);
    cr_expect(strstr(r, want), "%s", r);
    free(r);
    expect(c, "DOC my\\x20doc", "doc doc=my\\x20doc docnum=2 ", NULL);
    expect(c, "DOC :num=1", "doc doc=space docnum=1 ", NULL);
    expect(c, "DOC :num=100000", "ERR NOTFOUND ", NULL);
    expect(c, "DOC nosuchdoc", "ERR NOTFOUND ", NULL);
    expect(c, "DOC", "ERR SYNTAX ", NULL);
    expect(c, "DOC bad\\q", "ERR ARG ", NULL);
    expect(c, "DOC :num=1 space", "ERR ARG ", NULL);
    r = req(c, "DOC big");
    cr_expect(strstr(r, "doc doc=big docnum=3 passages="), "%.300s", r);
    cr_expect(strstr(r, "lorem ipsum dolor"), "%.300s", r);
    free(r);
    cl_close(c);
}

Test(daemon, stats_info_help_mode)
{
    cl *c = cl_open(D.port);
    expect(c, "SEARCH fox", "OK hits=", NULL);
    static const char *const stats[] = { "uptime_s", "connections", "connections_total", "connections_rejected",
        "commands_total", "errors_total", "searches", "search_us_p50", "search_us_p90", "search_us_p99",
        "search_us_max", "slow_queries", "threads", "gen", "reloads", "reload_failures", "passages", "docs",
        "terms", "index_bytes", "rss_bytes", "bytes_in", "bytes_out", "passage_cache_hits",
        "passage_cache_misses", "passage_cache_bytes" };
    char *r = req(c, "STATS");
    for (size_t i = 0; i < sizeof stats / sizeof *stats; i++) {
        char k[64];
        snprintf(k, sizeof k, "stat %s ", stats[i]);
        cr_expect(strstr(r, k), "no %s in %s", k, r);
    }
    cr_expect(strstr(r, "stat threads 2\n") && strstr(r, "stat searches 1\n") && strstr(r, "\nOK gen=1\n"), "%s", r);
    free(r);
    static const char *const info[] = { "proto", "version", "index_path", "gen", "format_version", "passages",
        "docs", "terms", "tokens", "text_bytes", "avg_len", "passage_words", "language", "strip_accents",
        "stopwords", "file_bytes", "k1", "b", "max_line", "max_limit", "max_reply" };
    r = req(c, "INFO");
    for (size_t i = 0; i < sizeof info / sizeof *info; i++) {
        char k[64];
        snprintf(k, sizeof k, "info %s ", info[i]);
        cr_expect(strstr(r, k), "no %s in %s", k, r);
    }
    cr_expect(strstr(r, "info language english\n") && strstr(r, "info max_line 65536\n"), "%s", r);
    free(r);
    expect(c, "STATS :x", "ERR ARG ", NULL);
    expect(c, "HELP", "help PING", "help SEARCH", "help QUIT", "\nOK\n", NULL);
    expect(c, "HELP search", "help SEARCH [options]", ":limit=N", NULL);
    expect(c, "HELP nosuch", "ERR UNKNOWN ", NULL);
    expect(c, "MODE", "ERR SYNTAX ", NULL);
    expect(c, "MODE xml", "ERR ARG ", NULL);
    c->json = 1;
    expect(c, "@m MODE JSON", "{\"tag\":\"m\",\"ok\":true,\"mode\":\"json\"}", NULL);
    expect(c, "@s SEARCH :limit=1 fox", "\"ok\":true", "\"hits\":[{\"rank\":1,", "\"snippet\":", "\"gen\":1",
           "\"tag\":\"s\"", NULL);
    expect(c, "BOGUS", "{\"ok\":false,\"code\":\"UNKNOWN\"", NULL);
    expect(c, "GET 0", "\"text\":\"The quick brown fox", NULL);
    expect(c, "STATS", "\"stats\":{", "\"uptime_s\":", NULL);
    expect(c, "INFO", "\"info\":{", "\"language\":\"english\"", NULL);
    expect(c, "HELP", "\"help\":[", NULL);
    expect(c, "EXPLAIN 0 fox", "\"terms\":[{", NULL);
    expect(c, "DOC fox", "\"doc\":{", "\"passages\":[", NULL);
    c->json = 0;
    expect(c, "MODE text", "OK mode=text", NULL);
    expect(c, "PING", "OK PONG", NULL);
    cl_close(c);
}

Test(daemon, pipelined_and_tagged)
{
    cl *c = cl_open(D.port);
    /* 300 requests in one write: replies in order, tags echoed. */
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < 300; i++) {
        static const char *const cmds[] = { "PING", "SEARCH :limit=2 fox", "COUNT fox", "GET 1", "BOGUS", "",
                                            "EXPLAIN 0 fox" };
        n += (size_t)snprintf(buf + n, cap - n, "@t%d %s\r\n", i, cmds[i % 7]);
        if (i % 7 == 5) n += (size_t)snprintf(buf + n, cap - n, "\n   \r\n");   /* empty lines: no reply */
    }
    send_all(c->fd, buf, n);
    free(buf);
    for (int i = 0; i < 300; i++) {
        char *r = get_reply(c);
        cr_assert(r, "reply %d missing", i);
        char tag[32];
        snprintf(tag, sizeof tag, "@t%d ", i);
        const char *st = strstr(r, tag);
        cr_assert(st && (st == r || st[-1] == '\n'), "reply %d: %s", i, r);
        if (i % 7 == 4) cr_expect(strstr(st, " ERR UNKNOWN "), "%s", r);
        else if (i % 7 == 5) cr_expect(strstr(st, " ERR UNKNOWN ") || strstr(st, " ERR SYNTAX "), "%s", r);
        else cr_expect(strstr(st, " OK"), "%s", r);
        free(r);
    }
    expect(c, "PING", "OK PONG", NULL);
    cl_close(c);
}

/* ---- auth ------------------------------------------------------------------------- */

Test(daemon, auth)
{
    char upw[4200], apw[4200];
    snprintf(upw, sizeof upw, "%s/user.pw", dir);
    snprintf(apw, sizeof apw, "%s/admin.pw", dir);
    tu_write_file(upw, "s3cret pass\n", 12);
    tu_write_file(apw, "root!\r\nignored\n", 15);
    daemon_t d;
    const char *const args[] = { "--password-file", upw, "--admin-password-file", apw, NULL };
    start(&d, args);
    cl *c = calloc(1, sizeof *c);
    c->fd = dial(d.port);
    char *g = get_line(c);
    cr_expect(strstr(g, " auth=1"), "%s", g);
    free(g);
    expect(c, "PING", "OK PONG", NULL);
    expect(c, "HELP", "\nOK\n", NULL);
    expect(c, "SEARCH fox", "ERR NOAUTH ", NULL);
    expect(c, "@t STATS", "@t ERR NOAUTH ", NULL);
    expect(c, "RELOAD", "ERR NOAUTH ", NULL);
    expect(c, "AUTH wrong", "ERR AUTH wrong password", NULL);
    expect(c, "AUTH s3cret", "ERR AUTH ", NULL);
    expect(c, "AUTH s3cret pass", "OK auth=user", NULL);
    expect(c, "SEARCH fox", "OK hits=", NULL);
    expect(c, "RELOAD", "ERR NOAUTH ", NULL);
    expect(c, "AUTH root!", "OK auth=admin", NULL);
    expect(c, "RELOAD", "OK gen=2 passages=", NULL);
    expect(c, "SEARCH fox", "gen=2", NULL);
    cl_close(c);
    /* The admin password alone grants everything. */
    c = cl_open(d.port);
    expect(c, "AUTH root!", "OK auth=admin", NULL);
    expect(c, "COUNT fox", "OK count=", NULL);
    c->json = 1;
    expect(c, "MODE json", "\"mode\":\"json\"", NULL);
    expect(c, "AUTH nope", "{\"ok\":false,\"code\":\"AUTH\"", NULL);
    cl_close(c);
    cr_expect_eq(stop(&d), 0);

    /* No password: AUTH says so. */
    c = cl_open(D.port);
    expect(c, "AUTH anything", "OK auth=none", NULL);
    cl_close(c);
}

Test(daemon, reload_disabled_and_sighup)
{
    daemon_t d;
    const char *const args[] = { "--no-remote-reload", NULL };
    start(&d, args);
    cl *c = cl_open(d.port);
    expect(c, "RELOAD", "ERR DISABLED ", NULL);
    expect(c, "SEARCH zebracorn", "OK hits=0 ", "gen=1", NULL);
    build_index(ixpath, 1);
    kill(d.pid, SIGHUP);
    /* Wait (at most WAIT_MS) for generation 2. */
    int gen = 1;
    for (int i = 0; i < WAIT_MS / 20 && gen != 2; i++) {
        char *r = req(c, "COUNT zebracorn");
        gen = (int)field(r, "gen");
        if (gen == 2) cr_expect(field(r, "count") == 1, "%s", r);
        free(r);
        if (gen != 2) usleep(20000);
    }
    cr_expect_eq(gen, 2);
    expect(c, "SEARCH zebracorn", "doc=zebra ", "gen=2", NULL);
    /* A connection opened now is greeted with the new generation. */
    cl *c2 = calloc(1, sizeof *c2);
    c2->fd = dial(d.port);
    char *g = get_line(c2);
    cr_expect(strstr(g, " gen=2 ") && strstr(g, " docs=155 "), "%s", g);
    free(g);
    cl_close(c2);
    cl_close(c);
    cr_expect_eq(stop(&d), 0);
    char *log = tu_read_file(d.log, NULL);
    cr_expect(log && strstr(log, "reload (SIGHUP): generation 2"), "%s", log);
    free(log);
}

Test(daemon, reload_success_and_failure)
{
    cl *c = cl_open(D.port);
    cl *old = cl_open(D.port);
    expect(c, "SEARCH zebracorn", "OK hits=0 ", NULL);
    build_index(ixpath, 1);
    expect(c, "@r RELOAD", "@r OK gen=2 passages=", " docs=155", NULL);
    expect(c, "SEARCH zebracorn", "doc=zebra ", "gen=2", NULL);
    expect(old, "SEARCH zebracorn", "doc=zebra ", "gen=2", NULL);   /* the other connection too */
    expect(old, "INFO", "info gen 2\n", "info docs 155\n", NULL);
    /* A pipelined RELOAD keeps its place in line. */
    send_all(c->fd, "@a RELOAD\n@b PING\n@c COUNT zebracorn\n", 37);
    char *r1 = get_reply(c), *r2 = get_reply(c), *r3 = get_reply(c);
    cr_expect(r1 && strstr(r1, "@a OK gen=3 "), "%s", r1);
    cr_expect(r2 && strstr(r2, "@b OK PONG"), "%s", r2);
    cr_expect(r3 && strstr(r3, "@c OK count=1 gen=3 "), "%s", r3);
    free(r1);
    free(r2);
    free(r3);

    /* A truncated file offered atomically: the reload fails, gen 2 serves on. */
    size_t len;
    char *bytes = tu_read_file(ixpath, &len);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/trunc.tmp", dir);
    cr_assert_eq(tu_write_file(tmp, bytes, len / 2), 0);
    cr_assert_eq(rename(tmp, ixpath), 0);
    expect(c, "RELOAD", "ERR RELOAD ", NULL);
    /* A damaged byte in the middle: verification catches it. */
    bytes[len / 2] ^= 0x55;
    cr_assert_eq(tu_write_file(tmp, bytes, len), 0);
    cr_assert_eq(rename(tmp, ixpath), 0);
    expect(c, "RELOAD", "ERR RELOAD ", NULL);
    free(bytes);
    /* Garbage. */
    cr_assert_eq(tu_write_file(tmp, "not an index", 12), 0);
    cr_assert_eq(rename(tmp, ixpath), 0);
    expect(c, "RELOAD", "ERR RELOAD ", NULL);
    unlink(ixpath);
    expect(c, "RELOAD", "ERR RELOAD ", NULL);
    expect(c, "SEARCH zebracorn", "doc=zebra ", "gen=3", NULL);
    expect(old, "GET 0", "OK gen=3", NULL);
    expect(c, "STATS", "stat reloads 2\n", "stat reload_failures 4\n", "stat gen 3\n", NULL);
    /* A good file again. */
    build_index(ixpath, 0);
    expect(c, "RELOAD", "OK gen=4 ", NULL);
    expect(c, "SEARCH zebracorn", "OK hits=0 ", "gen=4", NULL);
    cl_close(old);
    cl_close(c);
    char *log = tu_read_file(D.log, NULL);
    cr_expect(log && strstr(log, "still serving generation 3"), "%s", log);
    free(log);
}

/* ---- load ---------------------------------------------------------------------------- */

Test(daemon, three_hundred_clients)
{
    enum { N = 300 };
    int fds[N];
    char *got[N];
    size_t glen[N];
    for (int i = 0; i < N; i++) {
        fds[i] = dial(D.port);
        char line[128];
        int k = snprintf(line, sizeof line, "@c%d SEARCH :limit=1 :snippet=0 %s\r\n@c%d PING\r\n", i,
                         i % 2 ? "fox" : "sovereignty", i);
        send_all(fds[i], line, (size_t)k);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        got[i] = calloc(1, 4096);
        glen[i] = 0;
    }
    int done = 0;
    struct pollfd p[N];
    while (done < N) {
        int np = 0;
        int idx[N];
        for (int i = 0; i < N; i++)
            if (fds[i] >= 0) {
                p[np].fd = fds[i];
                p[np].events = POLLIN;
                idx[np++] = i;
            }
        int r = poll(p, (nfds_t)np, WAIT_MS);
        cr_assert(r > 0, "clients starved: %d of %d done", done, N);
        for (int k = 0; k < np; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int i = idx[k];
            ssize_t n = read(fds[i], got[i] + glen[i], 4095 - glen[i]);
            cr_assert(n > 0, "client %d: connection lost", i);
            glen[i] += (size_t)n;
            got[i][glen[i]] = 0;
            char pong[32];
            snprintf(pong, sizeof pong, "@c%d OK PONG\n", i);
            if (strstr(got[i], pong)) {
                char ok[64];
                snprintf(ok, sizeof ok, "\n@c%d OK hits=1 ", i);
                cr_expect(strstr(got[i], ok), "client %d: %s", i, got[i]);
                cr_expect(strstr(got[i], i % 2 ? " doc=fox " : " doc=space "), "client %d: %s", i, got[i]);
                close(fds[i]);
                fds[i] = -1;
                done++;
            }
        }
    }
    for (int i = 0; i < N; i++) free(got[i]);
    cl *c = cl_open(D.port);
    expect(c, "STATS", "stat connections_total ", NULL);
    cl_close(c);
}

typedef struct loader {
    int port;
    int requests, answered, bad;
    long long last_gen;
    int max_gen;
} loader;

static void *load_main(void *arg)
{
    loader *L = arg;
    cl *c = cl_open(L->port);
    for (int round = 0; round < L->requests / 10; round++) {
        char buf[1024];
        size_t n = 0;
        for (int k = 0; k < 10; k++) n += (size_t)sprintf(buf + n, "@r%d SEARCH :limit=3 lorem\n", round * 10 + k);
        send_all(c->fd, buf, n);
        for (int k = 0; k < 10; k++) {
            char *r = get_reply(c);
            if (!r) {
                L->bad++;
                break;
            }
            char tag[32];
            snprintf(tag, sizeof tag, "@r%d OK hits=3 ", round * 10 + k);
            long long g = field(strstr(r, "@r") ? strstr(r, "@r") : r, "gen");
            if (!strstr(r, tag) || g < L->last_gen) L->bad++;
            else L->answered++;
            if (g > L->last_gen) L->last_gen = g;
            free(r);
        }
    }
    cl_close(c);
    return NULL;
}

Test(daemon, reload_under_load)
{
    enum { T = 6 };
    loader L[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        memset(&L[i], 0, sizeof L[i]);
        L[i].port = D.port;
        L[i].requests = 400;
        pthread_create(&th[i], NULL, load_main, &L[i]);
    }
    cl *c = cl_open(D.port);
    for (int k = 0; k < 6; k++) {
        build_index(ixpath, k % 2 ? 0 : 1);
        char *r = req(c, "RELOAD");
        cr_expect(strstr(r, "OK gen="), "%s", r);
        free(r);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(L[i].bad, 0, "loader %d: %d bad replies", i, L[i].bad);
        cr_expect_eq(L[i].answered, L[i].requests, "loader %d: %d of %d answered", i, L[i].answered, L[i].requests);
    }
    expect(c, "STATS", "stat gen 7\n", "stat reloads 6\n", NULL);
    cl_close(c);
}

/* ---- bad input ---------------------------------------------------------------------------- */

Test(daemon, overlong_lines_resync)
{
    cl *c = cl_open(D.port);
    size_t n = 200000;
    char *big = malloc(n + 64);
    memset(big, 'a', n);
    memcpy(big, "@long SEARCH ", 13);
    memcpy(big + n, "\nPING\n", 6);
    send_all(c->fd, big, n + 6);
    char *r = get_reply(c);
    cr_assert(r);
    cr_expect(strstr(r, "@long ERR TOOLONG "), "%s", r);
    free(r);
    r = get_reply(c);
    cr_expect(r && strstr(r, "OK PONG"), "%s", r);
    free(r);
    /* Exactly at the limit: 65535 bytes + LF is fine, 65536 + LF is not. */
    memset(big, ' ', 70000);
    memcpy(big, "PING", 4);
    big[65535] = '\n';
    send_all(c->fd, big, 65536);
    r = get_reply(c);
    cr_expect(r && strstr(r, "OK PONG"), "%.200s", r);
    free(r);
    big[65535] = ' ';
    big[65536] = '\n';
    send_all(c->fd, big, 65537);
    r = get_reply(c);
    cr_expect(r && strstr(r, "ERR TOOLONG "), "%.200s", r);
    free(r);
    expect(c, "PING", "OK PONG", NULL);
    /* An overlong line sent in small pieces. */
    memset(big, 'y', n);
    for (size_t off = 0; off < n; off += 1000) send_all(c->fd, big + off, 1000);
    expect(c, "", "ERR TOOLONG ", NULL);
    expect(c, "PING", "OK PONG", NULL);
    free(big);
    cl_close(c);
}

Test(daemon, garbage_and_encoding)
{
    cl *c = cl_open(D.port);
    expect(c, "SEARCH caf\xc3", "ERR ENCODING ", NULL);
    expect(c, "\xff\xfe PING", "ERR ", NULL);
    expect(c, "SEARCH \xed\xa0\x80", "ERR ENCODING ", NULL);
    send_all(c->fd, "SEARCH a\0b\n", 11);
    char *r = get_reply(c);
    cr_expect(r && strstr(r, "ERR ENCODING "), "%s", r);
    free(r);
    expect(c, "FROBNICATE now", "ERR UNKNOWN ", NULL);
    expect(c, "@ PING", "ERR SYNTAX ", NULL);
    expect(c, "@waytoolongtagwaytoolongtagwaytoolongtagwaytoolongtagwaytoolongtag1 PING", "ERR SYNTAX ", NULL);
    expect(c, "SEARCHSEARCHSEARCHSEARCH", "ERR ", NULL);
    expect(c, "SEARCH :limit=99999999999999999999999 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :limit=-1 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :snippet=5 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :budget=0 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :budget=99999999 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :k1=nan fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :b=2 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :open=0123456789012345678901234567890123456789 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :open=\\x00 fox", "ERR ARG ", NULL);
    expect(c, "SEARCH :=1 fox", "ERR ", NULL);
    char many[2048];
    size_t n = (size_t)sprintf(many, "SEARCH");
    for (int i = 0; i < 40; i++) n += (size_t)sprintf(many + n, " :o%d", i);
    sprintf(many + n, " fox");
    expect(c, many, "ERR SYNTAX ", NULL);
    /* Random binary lines: every one gets one well-formed reply. */
    uint64_t s = 12345;
    for (int i = 0; i < 200; i++) {
        char line[300];
        size_t len = 1 + tu_rand(&s) % 250;
        for (size_t k = 0; k < len; k++) {
            line[k] = (char)(tu_rand(&s) & 0xff);
            if (line[k] == '\n') line[k] = 'n';
        }
        line[0] = (char)('A' + i % 26);   /* not an empty line */
        line[len] = '\n';
        send_all(c->fd, line, len + 1);
        r = get_reply(c);
        cr_assert(r, "no reply to garbage line %d", i);
        free(r);
    }
    expect(c, "PING", "OK PONG", NULL);
    cl_close(c);
    alive(D.port);
}

Test(daemon, half_line_then_vanish)
{
    for (int i = 0; i < 20; i++) {
        int fd = dial(D.port);
        send_all(fd, "SEARCH fox and then noth", 24);
        if (i % 2) shutdown(fd, SHUT_WR);
        close(fd);
    }
    /* A client that half-closes after complete requests still gets its replies. */
    cl *c = cl_open(D.port);
    send_all(c->fd, "PING\nCOUNT fox\nSEARCH fo", 24);
    shutdown(c->fd, SHUT_WR);
    char *r = get_reply(c);
    cr_expect(r && strstr(r, "OK PONG"), "%s", r);
    free(r);
    r = get_reply(c);
    cr_expect(r && strstr(r, "OK count="), "%s", r);
    free(r);
    cr_expect_null(get_line(c));
    cl_close(c);
    alive(D.port);
}

Test(daemon, client_that_never_reads)
{
    long before = rss_kb(D.pid);
    cl *hog = cl_open(D.port);
    fcntl(hog->fd, F_SETFL, O_NONBLOCK);
    /* Big replies (100 hits, 2 KB snippets), pipelined without reading.
     * Without backpressure this would be gigabytes. */
    static const char q[] = "SEARCH :limit=100 :snippet=2000 lorem ipsum\n";
    size_t sent = 0, blocked = 0;
    for (int i = 0; i < 20000; i++) {
        ssize_t w = send(hog->fd, q, sizeof q - 1, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            if (++blocked > 50) break;
            usleep(20000);
            i--;
            continue;
        }
        cr_assert(w > 0, "send: %s", strerror(errno));
        if ((size_t)w < sizeof q - 1) {   /* finish the line, blocking */
            fcntl(hog->fd, F_SETFL, 0);
            send_all(hog->fd, q + w, sizeof q - 1 - (size_t)w);
            fcntl(hog->fd, F_SETFL, O_NONBLOCK);
        }
        sent++;
    }
    cr_expect(blocked > 0 || sent == 20000);
    /* Others are still served meanwhile. */
    alive(D.port);
    cl *c = cl_open(D.port);
    expect(c, "SEARCH :limit=100 :snippet=2000 lorem ipsum", "OK hits=", NULL);
    cl_close(c);
    long after = rss_kb(D.pid);
    /* Unbounded, this would be about 900 MB.  AddressSanitizer keeps freed
     * memory in a 256 MB quarantine, so the bound is looser under it. */
#if defined(__SANITIZE_ADDRESS__)
    long bound = 600 * 1024;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    long bound = 600 * 1024;
#else
    long bound = 96 * 1024;
#endif
#else
    long bound = 96 * 1024;
#endif
    cr_expect(after - before < bound, "RSS grew from %ld kB to %ld kB", before, after);
    cl_close(hog);
    alive(D.port);
}

Test(daemon, trickling_client)
{
    cl *c = cl_open(D.port);
    static const char s[] = "@tr SEARCH :limit=1 lazy dog\r\nPING\n";
    for (size_t i = 0; i < sizeof s - 1; i++) {
        send_all(c->fd, s + i, 1);
        usleep(5000);
    }
    char *r = get_reply(c);
    cr_expect(r && strstr(r, "@tr OK hits=1 ") && strstr(r, "doc=fox"), "%s", r);
    free(r);
    r = get_reply(c);
    cr_expect(r && strstr(r, "OK PONG"), "%s", r);
    free(r);
    cl_close(c);
}

/* ---- limits and options -------------------------------------------------------------------- */

Test(daemon, busy_and_idle_timeout)
{
    daemon_t d;
    const char *const args[] = { "--max-clients", "2", "--idle-timeout", "1", NULL };
    start(&d, args);
    cl *a = cl_open(d.port), *b = cl_open(d.port);
    cl *x = calloc(1, sizeof *x);
    x->fd = dial(d.port);
    char *l = get_line(x);
    cr_expect(l && strcmp(l, "ERR BUSY too many connections") == 0, "%s", l);
    free(l);
    cr_expect_null(get_line(x));
    cl_close(x);
    /* Idle for more than a second: ERR TIMEOUT, then the connection closes. */
    l = get_line(a);
    cr_expect(l && strncmp(l, "ERR TIMEOUT ", 12) == 0, "%s", l);
    free(l);
    cr_expect_null(get_line(a));
    cl_close(a);
    cl_close(b);
    /* Both slots free again (after the timeouts).  The connection that is
     * let in asks for STATS itself: closing it and opening another would
     * race with the daemon noticing the close. */
    int ok = 0;
    for (int i = 0; i < 200 && !ok; i++) {
        cl *t = calloc(1, sizeof *t);
        t->fd = dial(d.port);
        char *g = get_line(t);
        ok = g && strncmp(g, "OK cpqd", 7) == 0;
        free(g);
        if (ok) expect(t, "STATS", "stat connections_rejected ", NULL);
        cl_close(t);
        if (!ok) usleep(20000);
    }
    cr_expect(ok, "no connection was let in after the others closed");
    cr_expect_eq(stop(&d), 0);
}

Test(daemon, toobig)
{
    daemon_t d;
    const char *const args[] = { "--max-reply", "8192", "--slow-ms", "0", "--log-level", "debug", NULL };
    start(&d, args);
    cl *c = cl_open(d.port);
    expect(c, "DOC big", "ERR TOOBIG ", NULL);
    expect(c, "SEARCH :limit=1000 :snippet=65536 lorem", "ERR TOOBIG ", NULL);
    expect(c, "DOC fox", "OK gen=1", NULL);
    c->json = 1;
    expect(c, "MODE json", "json", NULL);
    expect(c, "DOC big", "\"code\":\"TOOBIG\"", NULL);
    cl_close(c);
    cr_expect_eq(stop(&d), 0);
    char *log = tu_read_file(d.log, NULL);
    cr_expect(log && strstr(log, " WARN slow query: "), "%s", log);
    cr_expect(log && strstr(log, " INFO listening on 127.0.0.1:"), "%s", log);
    free(log);
}

/* The passage cache: a hit the second time a connection's worker shows
 * the same passages, the same replies either way, and none with
 * --passage-cache 0. */
static uint64_t stat_of(cl *c, const char *name)
{
    char *r = req(c, "STATS");
    char k[64];
    snprintf(k, sizeof k, "stat %s ", name);
    const char *at = strstr(r, k);
    cr_assert(at, "no %s in %s", name, r);
    uint64_t v = strtoull(at + strlen(k), NULL, 10);
    free(r);
    return v;
}

Test(daemon, passage_cache)
{
    for (int on = 1; on >= 0; on--) {
        daemon_t d;
        const char *const off[] = { "--passage-cache", "0", "--threads", "1", NULL };
        const char *const dflt[] = { "--threads", "1", NULL };
        start(&d, on ? dflt : off);
        cl *c = cl_open(d.port);
        char *a = req(c, "SEARCH :limit=3 fox");
        char *b = req(c, "SEARCH :limit=3 fox");
        /* Equal up to the timing at the end (us=N). */
        char *ua = strstr(a, " us="), *ub = strstr(b, " us=");
        cr_assert(ua && ub, "%s", a);
        cr_expect(strstr(a, "\nsnippet ") && ua - a == ub - b && !memcmp(a, b, (size_t)(ua - a)),
                  "replies differ:\n%s\n%s", a, b);
        free(a);
        free(b);
        uint64_t hits = stat_of(c, "passage_cache_hits"), misses = stat_of(c, "passage_cache_misses");
        uint64_t bytes = stat_of(c, "passage_cache_bytes");
        if (on) cr_expect(hits >= 1 && misses >= 1 && bytes > 0, "hits %llu misses %llu bytes %llu",
                          (unsigned long long)hits, (unsigned long long)misses, (unsigned long long)bytes);
        else cr_expect(hits == 0 && misses == 0 && bytes == 0, "cache off, yet hits %llu misses %llu",
                       (unsigned long long)hits, (unsigned long long)misses);
        cl_close(c);
        cr_expect_eq(stop(&d), 0);
    }
}

Test(daemon, ipv6)
{
    daemon_t d;
    int st = spawn(&d, ixpath, "[::1]:0", NULL);
    if (st != -1) {
        cr_log_warn("no IPv6 loopback here (cpqd exited %d); skipped", st);
        return;
    }
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)d.port);
    sa.sin6_addr = in6addr_loopback;
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cl *c = calloc(1, sizeof *c);
    c->fd = fd;
    char *g = get_line(c);
    cr_expect(g && strncmp(g, "OK cpqd", 7) == 0);
    free(g);
    expect(c, "PING", "OK PONG", NULL);
    cl_close(c);
    cr_expect_eq(stop(&d), 0);
}

Test(daemon, bad_arguments)
{
    daemon_t d;
    static const struct {
        const char *args[4];
        int status;
        const char *needle;
    } cases[] = {
        { { "--threads", "0", NULL }, 2, "--threads" },
        { { "--threads", "many", NULL }, 2, "--threads" },
        { { "--max-clients", "-5", NULL }, 2, "--max-clients" },
        { { "--idle-timeout", "x", NULL }, 2, "--idle-timeout" },
        { { "--query-budget", "0", NULL }, 2, "--query-budget" },
        { { "--max-reply", "10", NULL }, 2, "--max-reply" },
        { { "--passage-cache", "lots", NULL }, 2, "--passage-cache" },
        { { "--passage-cache", "-1M", NULL }, 2, "--passage-cache" },
        { { "--passage-cache", "2T", NULL }, 2, "--passage-cache" },
        { { "--log-level", "loud", NULL }, 2, "--log-level" },
        { { "--password-file", "/nonexistent/pw", NULL }, 2, "--password-file" },
        { { "--frobnicate", NULL }, 2, "--frobnicate" },
        { { "--slow-ms", NULL }, 2, "--slow-ms" },
        { { "extra", NULL }, 2, "extra" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int st = spawn(&d, ixpath, NULL, cases[i].args);
        cr_expect_eq(st, cases[i].status, "case %zu: status %d", i, st);
        char *log = tu_read_file(d.log, NULL);
        cr_expect(log && strstr(log, cases[i].needle), "case %zu: %s", i, log);
        free(log);
    }
    cr_expect_eq(spawn(&d, NULL, NULL, NULL), 2);       /* no --index */
    cr_expect_eq(spawn(&d, ixpath, "localhost", NULL), 2);
    cr_expect_eq(spawn(&d, ixpath, "127.0.0.1:99999", NULL), 2);
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/nope.cpqx", dir);
    cr_expect_eq(spawn(&d, bad, NULL, NULL), 1);
    tu_write_file(bad, "garbage garbage garbage", 23);
    cr_expect_eq(spawn(&d, bad, NULL, NULL), 1);
    char *log = tu_read_file(d.log, NULL);
    cr_expect(log && strstr(log, " ERROR cannot serve "), "%s", log);
    free(log);
    /* The port the fixture's daemon holds is taken. */
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", D.port);
    cr_expect_eq(spawn(&d, ixpath, taken, NULL), 1);
    const char *const help[] = { "--help", NULL };
    cr_expect_eq(spawn(&d, ixpath, NULL, help), 0);
}

Test(daemon, json_errors_and_sigint)
{
    daemon_t d;
    const char *const args[] = { "--threads", "1", NULL };
    start(&d, args);
    cl *c = cl_open(d.port);
    c->json = 1;
    expect(c, "MODE json", "{\"ok\":true,\"mode\":\"json\"}", NULL);
    size_t n = 70000;
    char *big = malloc(n + 8);
    memset(big, 'q', n);
    memcpy(big, "@big SEARCH ", 12);
    big[n] = '\n';
    send_all(c->fd, big, n + 1);
    free(big);
    char *r = get_reply(c);
    cr_expect(r && strstr(r, "\"code\":\"TOOLONG\"") && strstr(r, "\"tag\":\"big\""), "%s", r);
    free(r);
    expect(c, "@e SEARCH (", "\"ok\":false", "\"code\":\"QUERY\"", "\"tag\":\"e\"", NULL);
    expect(c, "STATS", "\"threads\":1", "\"unsent_bytes\":", NULL);
    cl_close(c);
    kill(d.pid, SIGINT);
    int st;
    cr_assert_eq(waitpid(d.pid, &st, 0), d.pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    char *log = tu_read_file(d.log, NULL);
    cr_expect(log && strstr(log, " INFO SIGINT: "), "%s", log);
    free(log);
}

Test(daemon, sigterm_finishes_work)
{
    cl *c = cl_open(D.port);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < 200; i++) n += (size_t)sprintf(buf + n, "@s%d SEARCH :limit=20 lorem\n", i);
    send_all(c->fd, buf, n);
    free(buf);
    char *first = get_reply(c);     /* the daemon has started on them */
    cr_assert(first);
    free(first);
    kill(D.pid, SIGTERM);
    /* Every reply that arrives is whole; then the connection closes. */
    int got = 1;
    for (char *r; (r = get_reply(c)); got++) {
        char tag[32];
        snprintf(tag, sizeof tag, "@s%d OK ", got);
        cr_expect(strstr(r, tag), "%.200s", r);
        free(r);
    }
    cl_close(c);
    int st;
    cr_assert_eq(waitpid(D.pid, &st, 0), D.pid);
    D.pid = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}
