/*
 * load.c - a load generator for line protocols over TCP: cpqd (PING and
 * SEARCH) and, for the same PING, redis-server, so bench/load.sh can put
 * the two side by side in one run (README.md of bench/, "Daemon load").
 *
 *   load [--host H] --port P [--conns N] [--pipeline D] [--duration S]
 *        [--warmup S] [--threads T] [--proto cpq|redis]
 *        [--mode ping|search] [--queries FILE] [--search-opts OPTS] [--rate R]
 *
 * Each of N connections keeps D requests in flight (D = 1: send, wait for
 * the reply, send the next; D > 1: pipelining).  The requests of a
 * connection go out in one write whenever it has room for more.  Latency is
 * from the moment a request's write returned to the moment its whole reply
 * was read, so with D > 1 it includes the queueing behind earlier requests
 * of the same connection.  Warm-up seconds are run and not counted.
 *
 * That is a closed loop: the server's speed sets the request rate, and by
 * Little's law the mean latency is N / throughput whatever the server does.
 * --rate R makes it an open loop instead, as wrk2 does: R requests per
 * second in all, each connection's due at fixed intervals (staggered
 * across connections), still at most D in flight per connection.  A
 * request is timed from when it was due, not from when it went out, so a
 * server that falls behind is charged for the wait its clients would see
 * (no "coordinated omission").  RPS is then what was achieved.
 *
 * Replies: cpq replies end at a status line, `OK...` or `ERR...` (cpq's
 * PROTOCOL.md section 4; `text N` literals are skipped by length); redis
 * replies to inline PING are one line (`+PONG`).  An ERR (or `-ERR`)
 * reply counts as an error, not as a request served.
 *
 * SEARCH requests cycle through the queries of a JSON Lines file
 * (bench/benchquery.h), each sent as `SEARCH OPTS -- QUERY`, so any query
 * text is searched as written.
 *
 * Output: one tab-separated line
 *   load PROTO MODE CONNS PIPELINE REQUESTS RPS P50_US P99_US MAX_US ERRORS
 *
 * Bench code: exits on setup errors with a message; bounded buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchquery.h"

#define IN_CAP (1u << 20)      /* bytes of unparsed replies per connection */
#define DEPTH_MAX 1024u

typedef struct conn {
    int fd;
    char *in;
    size_t inlen;
    uint64_t skip;            /* literal bytes still to skip (cpq `text N`) */
    double sent[DEPTH_MAX];   /* ring of send times of outstanding requests */
    unsigned head, outstanding;
    size_t next_query;
    int greeted;              /* cpq sends a greeting first */
    double next_due;          /* --rate: when its next request is due */
} conn;

typedef struct samples {
    uint32_t *us;
    size_t n, cap;
} samples;

typedef struct worker {
    pthread_t th;
    conn *conns, *all;
    size_t nconns;
    uint64_t done, errors;
    samples lat;
} worker;

static const char *g_host = "127.0.0.1";
static const char *g_port;
static unsigned g_conns = 1, g_depth = 1, g_threads = 1;
static double g_duration = 5, g_warmup = 1;
static double g_rate;         /* --rate: requests per second in all; 0: closed loop */
static int g_redis, g_search;
static const char *g_queries_path, *g_search_opts = "";
static bench_queries g_qs;
static double g_start, g_measure_from, g_stop;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int dial(void)
{
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(g_host, g_port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "load: %s:%s: %s\n", g_host, g_port, gai_strerror(rc));
        exit(1);
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) die("connect");
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void sample_add(samples *s, double sec)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 16;
        s->us = realloc(s->us, s->cap * sizeof *s->us);
        if (!s->us) die("realloc");
    }
    double us = sec * 1e6;
    s->us[s->n++] = us > 4e9 ? 4000000000u : (uint32_t)(us + 0.5);
}

/* Append one request to buf; returns its length. */
static size_t request(conn *c, char *buf, size_t cap)
{
    if (!g_search)
        return (size_t)snprintf(buf, cap, "PING\r\n");
    const bench_query *q = &g_qs.q[c->next_query++ % g_qs.n];
    int n = snprintf(buf, cap, "SEARCH %s%s-- %.*s\r\n", g_search_opts, *g_search_opts ? " " : "",
                     (int)q->len, q->text);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static void fill(worker *w, conn *c)
{
    static __thread char out[1 << 18];
    size_t len = 0;
    double t = now();
    if (t >= g_stop)
        return;
    while (c->outstanding < g_depth && len + BENCH_QUERY_TEXT_MAX + 64 < sizeof out) {
        double at = t;
        if (g_rate > 0) {
            if (c->next_due > t) break;
            at = c->next_due;
        }
        size_t n = request(c, out + len, sizeof out - len);
        if (n == 0) break;
        len += n;
        c->sent[(c->head + c->outstanding) % DEPTH_MAX] = at;
        c->outstanding++;
        if (g_rate > 0) c->next_due += (double)g_conns / g_rate;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(c->fd, out + off, len - off);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                /* The kernel buffer is full: rare with these sizes; spin. */
                continue;
            }
            die("write");
        }
        off += (size_t)k;
    }
    (void)w;
}

/* A reply ended; 1 if it was an error. */
static void reply_done(worker *w, conn *c, int err)
{
    if (!c->greeted) { c->greeted = 1; return; }
    if (c->outstanding == 0) { w->errors++; return; } /* unsolicited */
    double t = now();
    double sent = c->sent[c->head];
    c->head = (c->head + 1) % DEPTH_MAX;
    c->outstanding--;
    if (sent < g_measure_from) return;
    if (err) w->errors++;
    else {
        w->done++;
        sample_add(&w->lat, t - sent);
    }
}

static void parse(worker *w, conn *c)
{
    size_t i = 0;
    while (i < c->inlen) {
        if (c->skip) {
            size_t k = c->inlen - i < c->skip ? c->inlen - i : (size_t)c->skip;
            i += k;
            c->skip -= k;
            continue;
        }
        char *lf = memchr(c->in + i, '\n', c->inlen - i);
        if (!lf) break;
        char *line = c->in + i;
        size_t n = (size_t)(lf - line);
        i += n + 1;
        if (g_redis) {
            reply_done(w, c, line[0] == '-');
            continue;
        }
        if (n > 5 && memcmp(line, "text ", 5) == 0) {
            c->skip = strtoull(line + 5, NULL, 10) + 1;
            continue;
        }
        const char *s = line;
        if (*s == '@') {
            const char *sp = memchr(s, ' ', n);
            if (!sp) continue;
            s = sp + 1;
        }
        if (s[0] == 'O' && s[1] == 'K' && (s[2] == ' ' || s[2] == '\n' || s[2] == '\r'))
            reply_done(w, c, 0);
        else if (s[0] == 'E' && s[1] == 'R' && s[2] == 'R')
            reply_done(w, c, 1);
    }
    memmove(c->in, c->in + i, c->inlen - i);
    c->inlen -= i;
}

static void *run(void *arg)
{
    worker *w = arg;
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    for (size_t k = 0; k < w->nconns; k++) {
        conn *c = &w->conns[k];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
        if (g_redis) c->greeted = 1;
    }
    struct epoll_event evs[256];
    int started = 0;
    for (;;) {
        double t = now();
        if (!started && (g_redis || t > g_start + 0.2)) {
            /* Greetings are in (cpq) - start sending; with --rate the
             * connections' first requests are spread over one interval. */
            for (size_t k = 0; k < w->nconns; k++) {
                conn *c = &w->conns[k];
                if (g_rate > 0) c->next_due = t + (double)(c - w->all) / g_rate;
                fill(w, c);
            }
            started = 1;
        } else if (started && g_rate > 0) {
            for (size_t k = 0; k < w->nconns; k++) fill(w, &w->conns[k]);
        }
        if (t >= g_stop) {
            int busy = 0;
            for (size_t k = 0; k < w->nconns; k++) busy |= w->conns[k].outstanding > 0;
            if (!busy || t >= g_stop + 10) break;
        }
        /* Sleep until a reply comes or, with --rate, the next request
         * is due (to the nanosecond: epoll_wait's milliseconds would
         * send late and charge the server for it). */
        double wake = t + 0.05;
        if (started && g_rate > 0)
            for (size_t k = 0; k < w->nconns; k++)
                if (w->conns[k].outstanding < g_depth && w->conns[k].next_due < wake) wake = w->conns[k].next_due;
        double dt = wake > t ? wake - t : 0;
        struct timespec to = {(time_t)dt, (long)((dt - (double)(time_t)dt) * 1e9)};
        int n = epoll_pwait2(ep, evs, 256, &to, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int e = 0; e < n; e++) {
            conn *c = evs[e].data.ptr;
            ssize_t k = read(c->fd, c->in + c->inlen, IN_CAP - c->inlen);
            if (k == 0) { fprintf(stderr, "load: server closed a connection\n"); exit(1); }
            if (k < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                die("read");
            }
            c->inlen += (size_t)k;
            parse(w, c);
            if (c->inlen == IN_CAP) { fprintf(stderr, "load: reply line over 1 MiB\n"); exit(1); }
            if (started) fill(w, c);
        }
    }
    close(ep);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr,
        "usage: load [--host H] --port P [--conns N] [--pipeline D] [--duration S] [--warmup S]\n"
        "            [--threads T] [--proto cpq|redis] [--mode ping|search] [--queries FILE]\n"
        "            [--search-opts OPTS] [--rate R]\n");
    exit(2);
}

static unsigned num(const char *s, unsigned lo, unsigned hi, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "load: %s must be %u..%u, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
        if (!v) usage();
        i++;
        if (!strcmp(a, "--host")) g_host = v;
        else if (!strcmp(a, "--port")) g_port = v;
        else if (!strcmp(a, "--conns")) g_conns = num(v, 1, 10000, "--conns");
        else if (!strcmp(a, "--pipeline")) g_depth = num(v, 1, DEPTH_MAX, "--pipeline");
        else if (!strcmp(a, "--threads")) g_threads = num(v, 1, 64, "--threads");
        else if (!strcmp(a, "--duration")) g_duration = num(v, 1, 3600, "--duration");
        else if (!strcmp(a, "--warmup")) g_warmup = num(v, 0, 3600, "--warmup");
        else if (!strcmp(a, "--proto")) {
            if (!strcmp(v, "redis")) g_redis = 1;
            else if (strcmp(v, "cpq")) usage();
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "search")) g_search = 1;
            else if (strcmp(v, "ping")) usage();
        } else if (!strcmp(a, "--queries")) g_queries_path = v;
        else if (!strcmp(a, "--search-opts")) g_search_opts = v;
        else if (!strcmp(a, "--rate")) g_rate = num(v, 1, 10000000, "--rate");
        else usage();
    }
    if (!g_port || (g_search && (!g_queries_path || g_redis))) usage();
    if (g_search) {
        char err[256];
        if (bench_query_load(g_queries_path, &g_qs, err, sizeof err) != 0 || g_qs.n == 0) {
            fprintf(stderr, "load: %s\n", g_qs.n ? err : "no queries");
            return 1;
        }
    }
    if (g_threads > g_conns) g_threads = g_conns;

    worker *ws = calloc(g_threads, sizeof *ws);
    conn *cs = calloc(g_conns, sizeof *cs);
    if (!ws || !cs) die("calloc");
    for (unsigned k = 0; k < g_conns; k++) {
        cs[k].fd = dial();
        cs[k].in = malloc(IN_CAP);
        if (!cs[k].in) die("malloc");
        cs[k].next_query = (size_t)k * 7919u; /* spread the connections over the queries */
    }
    for (unsigned t = 0; t < g_threads; t++) {
        ws[t].conns = cs + (size_t)g_conns * t / g_threads;
        ws[t].all = cs;
        ws[t].nconns = (size_t)g_conns * (t + 1) / g_threads - (size_t)g_conns * t / g_threads;
    }
    g_start = now();
    g_measure_from = g_start + 0.2 + g_warmup;
    g_stop = g_measure_from + g_duration;
    for (unsigned t = 0; t < g_threads; t++)
        if (pthread_create(&ws[t].th, NULL, run, &ws[t]) != 0) die("pthread_create");
    uint64_t done = 0, errors = 0;
    samples all = {0};
    for (unsigned t = 0; t < g_threads; t++) {
        pthread_join(ws[t].th, NULL);
        done += ws[t].done;
        errors += ws[t].errors;
        for (size_t i = 0; i < ws[t].lat.n; i++) sample_add(&all, ws[t].lat.us[i] * 1e-6);
        free(ws[t].lat.us);
    }
    qsort(all.us, all.n, sizeof *all.us, cmp_u32);
    uint32_t p50 = all.n ? all.us[(all.n - 1) / 2] : 0;
    uint32_t p99 = all.n ? all.us[(size_t)((double)(all.n - 1) * 0.99)] : 0;
    uint32_t mx = all.n ? all.us[all.n - 1] : 0;
    printf("load\t%s\t%s\t%u\t%u\t%llu\t%.0f\t%u\t%u\t%u\t%llu\n", g_redis ? "redis" : "cpq",
           g_search ? "search" : "ping", g_conns, g_depth, (unsigned long long)done,
           (double)done / g_duration, p50, p99, mx, (unsigned long long)errors);
    for (unsigned k = 0; k < g_conns; k++) {
        close(cs[k].fd);
        free(cs[k].in);
    }
    free(all.us);
    free(cs);
    free(ws);
    bench_query_free(&g_qs);
    return 0;
}
