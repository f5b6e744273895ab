/*
 * soak.c - hold a running cpqd under mixed good and bad load for a while
 * and check that it never gives a wrong answer, never dies and does not
 * grow (bench/soak.sh drives it; bench/README.md, "Soak").
 *
 *   soak --port P --pid PID --queries FILE [--seconds S] [--good N] [--bad N]
 *        [--reload-every S] [--index FILE]
 *
 * Good clients (N threads, one connection each, reconnecting only when the
 * server closes on them, which it must not) send SEARCH, COUNT, GET and
 * PING requests, pipelined in bursts of 1-8, and compare every reply with
 * the reference recorded before the run: byte for byte, except the
 * status line's `gen=` and `us=` fields.  Bad clients (N threads) cycle
 * through: binary garbage; invalid UTF-8; an overlong line followed by a
 * PING on the same connection (which must answer ERR TOOLONG then OK
 * PONG); half a line and an abrupt close; a slow reader that pipelines
 * hundreds of SEARCHes, reads a little and vanishes; unknown commands and
 * absurd options (which must answer ERR).  A reloader sends RELOAD over
 * the wire and SIGHUP by turns every few seconds, and every other time
 * first replaces the index file by a copy of itself (write + rename), so
 * the daemon really reopens a new file.
 *
 * Output: a summary with requests served, errors by kind, wrong answers,
 * whether the daemon survived, and its resident memory after warm-up and
 * at the end.  Exit status 0 only when there was no wrong answer, the
 * daemon is alive and the resident memory grew by at most 10%.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "benchquery.h"

#define REPLY_MAX (4u << 20)
#define NREQ 64                 /* reference requests */

static int g_port;
static pid_t g_pid;
static double g_end;
static const char *g_index;
static bench_queries g_qs;
static char *g_req[NREQ];       /* request lines */
static char *g_ref[NREQ];       /* normalised reference replies */
static size_t g_nreq;

static atomic_ullong st_good, st_wrong, st_reconnects, st_bad_sessions, st_bad_errs_seen,
    st_bad_unexpected, st_reloads_ok, st_reloads_failed, st_sighups;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) { if (errno == EINTR) continue; return -1; }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A buffered reader of replies. */
typedef struct rd {
    int fd;
    char buf[1 << 16];
    size_t off, len;
} rd;

static int rd_byte(rd *r)
{
    if (r->off == r->len) {
        ssize_t k;
        do k = recv(r->fd, r->buf, sizeof r->buf, 0); while (k < 0 && errno == EINTR);
        if (k <= 0) return -1;
        r->off = 0;
        r->len = (size_t)k;
    }
    return (unsigned char)r->buf[r->off++];
}

/* Read one reply into out (NUL-terminated, at most REPLY_MAX), with its
 * status line's gen= and us= fields removed.  Returns its length or -1. */
static long read_reply(rd *r, char *out)
{
    size_t n = 0;
    for (;;) {
        size_t ls = n;
        int c;
        while ((c = rd_byte(r)) >= 0 && c != '\n') {
            if (n + 2 >= REPLY_MAX) return -1;
            out[n++] = (char)c;
        }
        if (c < 0) return -1;
        out[n++] = '\n';
        const char *l = out + ls, *s = l;
        if (*s == '@') { s = memchr(s, ' ', n - ls); if (!s) return -1; s++; }
        if (strncmp(l, "text ", 5) == 0) {
            unsigned long long k = strtoull(l + 5, NULL, 10);
            if (k + 1 + n >= REPLY_MAX) return -1;
            for (unsigned long long i = 0; i <= k; i++) {
                if ((c = rd_byte(r)) < 0) return -1;
                out[n++] = (char)c;
            }
            continue;
        }
        if (!strncmp(s, "OK", 2) || !strncmp(s, "ERR", 3)) {
            out[n] = 0;
            /* drop " gen=N" and " us=N" from the status line */
            for (const char *f = " gen=", *g = " us="; f; f = g, g = NULL) {
                char *p = strstr(out + ls, f);
                if (p) {
                    char *e = p + strlen(f);
                    while (*e >= '0' && *e <= '9') e++;
                    memmove(p, e, strlen(e) + 1);
                }
            }
            return (long)strlen(out);
        }
    }
}

static void build_requests(void)
{
    static const char *fixed[] = {"PING\n", "COUNT the\n", "GET 0\n", "GET 1\n",
                                  "SEARCH :limit=3 :snippet=0 -- +the +of\n",
                                  "SEARCH :group :limit=5 water\n", "COUNT :group light\n"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) g_req[g_nreq++] = strdup(fixed[i]);
    for (size_t i = 0; g_nreq < NREQ && i < g_qs.n; i += 1 + g_qs.n / NREQ) {
        char *l = malloc(g_qs.q[i].len + 32);
        sprintf(l, "SEARCH -- %s\n", g_qs.q[i].text);
        g_req[g_nreq++] = l;
    }
}

static int record_reference(void)
{
    int fd = dial();
    if (fd < 0) return -1;
    rd *r = calloc(1, sizeof *r);
    char *buf = malloc(REPLY_MAX);
    r->fd = fd;
    if (read_reply(r, buf) < 0) return -1; /* greeting */
    for (size_t i = 0; i < g_nreq; i++) {
        if (send_all(fd, g_req[i], strlen(g_req[i])) || read_reply(r, buf) < 0) return -1;
        g_ref[i] = strdup(buf);
    }
    close(fd);
    free(buf);
    free(r);
    return 0;
}

static void *good(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    rd *r = calloc(1, sizeof *r);
    char *buf = malloc(REPLY_MAX);
    r->fd = -1;
    while (now() < g_end) {
        if (r->fd < 0) {
            r->fd = dial();
            r->off = r->len = 0;
            if (r->fd < 0 || read_reply(r, buf) < 0) { sleep(1); continue; }
        }
        size_t burst = 1 + rand_r(&seed) % 8, idx[8];
        char out[8 * 4200];
        size_t len = 0;
        for (size_t k = 0; k < burst; k++) {
            idx[k] = rand_r(&seed) % g_nreq;
            size_t l = strlen(g_req[idx[k]]);
            memcpy(out + len, g_req[idx[k]], l);
            len += l;
        }
        if (send_all(r->fd, out, len) != 0) goto broken;
        for (size_t k = 0; k < burst; k++) {
            if (read_reply(r, buf) < 0) goto broken;
            if (strcmp(buf, g_ref[idx[k]]) != 0) {
                if (atomic_fetch_add(&st_wrong, 1) < 5)
                    fprintf(stderr, "soak: WRONG answer to %s  got: %.300s\n  want: %.300s\n",
                            g_req[idx[k]], buf, g_ref[idx[k]]);
            } else
                atomic_fetch_add(&st_good, 1);
        }
        continue;
    broken:
        atomic_fetch_add(&st_reconnects, 1);
        close(r->fd);
        r->fd = -1;
    }
    if (r->fd >= 0) close(r->fd);
    free(buf);
    free(r);
    return NULL;
}

/* Expect the next reply on fd to be an ERR (1) or OK (0); -1 on failure. */
static int expect(rd *r, char *buf, const char *prefix)
{
    if (read_reply(r, buf) < 0) return -1;
    if (strncmp(buf, prefix, strlen(prefix)) != 0) {
        atomic_fetch_add(&st_bad_unexpected, 1);
        fprintf(stderr, "soak: bad client expected '%s', got %.200s", prefix, buf);
        return -1;
    }
    if (!strncmp(prefix, "ERR", 3)) atomic_fetch_add(&st_bad_errs_seen, 1);
    return 0;
}

static void *bad(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    rd *r = calloc(1, sizeof *r);
    char *buf = malloc(REPLY_MAX);
    static char big[70000];
    memset(big, 'x', sizeof big);
    unsigned kind = seed;
    while (now() < g_end) {
        r->fd = dial();
        r->off = r->len = 0;
        if (r->fd < 0 || read_reply(r, buf) < 0) { if (r->fd >= 0) close(r->fd); sleep(1); continue; }
        atomic_fetch_add(&st_bad_sessions, 1);
        char g[512];
        switch (kind++ % 7) {
        case 0: /* binary garbage with NULs, then a PING: an ERR, then PONG */
            for (size_t i = 0; i < sizeof g; i++) g[i] = (char)(rand_r(&seed) & 0xff);
            for (size_t i = 0; i < sizeof g; i++) if (g[i] == '\n') g[i] = 0;
            g[0] = 0;
            send_all(r->fd, g, sizeof g);
            send_all(r->fd, "\nPING\n", 6);
            if (expect(r, buf, "ERR") == 0) expect(r, buf, "OK PONG");
            break;
        case 1: /* invalid UTF-8 */
            send_all(r->fd, "SEARCH \xff\xfe\xc0\xaf\n", 12);
            expect(r, buf, "ERR ENCODING");
            break;
        case 2: /* an overlong line, then the connection must still work */
            send_all(r->fd, "SEARCH ", 7);
            send_all(r->fd, big, sizeof big);
            send_all(r->fd, "\nPING\n", 6);
            if (expect(r, buf, "ERR TOOLONG") == 0) expect(r, buf, "OK PONG");
            break;
        case 3: /* half a line, then vanish */
            send_all(r->fd, "SEARCH :limit=5 wat", 19);
            break;
        case 4: { /* a slow reader: lots of work queued, a little read, gone */
            size_t n = 0;
            for (int i = 0; i < 300; i++) {
                const char *q = g_req[rand_r(&seed) % g_nreq];
                size_t l = strlen(q);
                if (n + l > sizeof g) { send_all(r->fd, g, n); n = 0; }
                memcpy(g + n, q, l);
                n += l;
            }
            send_all(r->fd, g, n);
            read_reply(r, buf);
            usleep(100000);
            break;
        }
        case 5: { /* unknown commands and absurd options: six ERRs */
            char l[600];
            int n = snprintf(l, sizeof l, "FROBNICATE\nSEARCH :limit=99999999999 x\nSEARCH :nosuch=1 x\n"
                                          "SEARCH :k1=nan x\nGET -1\nSEARCH %.*s x\n", 300,
                             "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
                             "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
                             "(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((");
            send_all(r->fd, l, (size_t)n);
            for (int i = 0; i < 6; i++) if (expect(r, buf, "ERR") != 0) break;
            break;
        }
        case 6: /* a trickle: one byte at a time */
            for (const char *p = "PING\n"; *p; p++) { send_all(r->fd, p, 1); usleep(20000); }
            expect(r, buf, "OK PONG");
            break;
        }
        close(r->fd);
        r->fd = -1;
    }
    free(buf);
    free(r);
    return NULL;
}

static int copy_replace(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.soak.tmp", path);
    int in = open(path, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0) { if (in >= 0) close(in); if (out >= 0) close(out); return -1; }
    char b[1 << 16];
    ssize_t k;
    while ((k = read(in, b, sizeof b)) > 0)
        if (write(out, b, (size_t)k) != k) { close(in); close(out); return -1; }
    close(in);
    if (fsync(out) != 0 || close(out) != 0) return -1;
    return rename(tmp, path);
}

static void *reloader(void *arg)
{
    double every = *(double *)arg;
    rd *r = calloc(1, sizeof *r);
    char *buf = malloc(REPLY_MAX);
    for (unsigned i = 0; now() + every < g_end; i++) {
        usleep((useconds_t)(every * 1e6));
        if (g_index && i % 2 == 0) copy_replace(g_index);
        if (i % 2) {
            kill(g_pid, SIGHUP);
            atomic_fetch_add(&st_sighups, 1);
            continue;
        }
        r->fd = dial();
        r->off = r->len = 0;
        if (r->fd < 0 || read_reply(r, buf) < 0) { atomic_fetch_add(&st_reloads_failed, 1); continue; }
        send_all(r->fd, "RELOAD\n", 7);
        if (read_reply(r, buf) >= 0 && !strncmp(buf, "OK", 2)) atomic_fetch_add(&st_reloads_ok, 1);
        else {
            atomic_fetch_add(&st_reloads_failed, 1);
            fprintf(stderr, "soak: RELOAD: %.200s", buf);
        }
        close(r->fd);
    }
    free(buf);
    free(r);
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n), n >= 1 (sorts a copy). */
static long median(const long *v, size_t n)
{
    long *c = malloc(n * sizeof *c);
    if (!c) return -1;
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_long);
    long m = c[n / 2];
    free(c);
    return m;
}

static long rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)g_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    double seconds = 600, every = 3;
    unsigned ngood = 16, nbad = 8;
    const char *queries = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--port")) g_port = atoi(v);
        else if (!strcmp(a, "--pid")) g_pid = (pid_t)atoi(v);
        else if (!strcmp(a, "--queries")) queries = v;
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--good")) ngood = (unsigned)atoi(v);
        else if (!strcmp(a, "--bad")) nbad = (unsigned)atoi(v);
        else if (!strcmp(a, "--reload-every")) every = atof(v);
        else if (!strcmp(a, "--index")) g_index = v;
        else { fprintf(stderr, "soak: unknown option %s\n", a); return 2; }
    }
    if (g_port <= 0 || g_pid <= 0 || !queries || ngood > 1000 || nbad > 1000 || seconds <= 0) {
        fprintf(stderr, "usage: soak --port P --pid PID --queries FILE [--seconds S] [--good N] "
                        "[--bad N] [--reload-every S] [--index FILE]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char err[256];
    if (bench_query_load(queries, &g_qs, err, sizeof err) != 0 || g_qs.n == 0) {
        fprintf(stderr, "soak: %s\n", err);
        return 2;
    }
    build_requests();
    if (record_reference() != 0) { fprintf(stderr, "soak: cannot record the reference replies\n"); return 1; }

    double start = now();
    g_end = start + seconds;
    pthread_t th[2001];
    size_t nth = 0;
    for (unsigned i = 0; i < ngood; i++) pthread_create(&th[nth++], NULL, good, (void *)(uintptr_t)(i + 1));
    for (unsigned i = 0; i < nbad; i++) pthread_create(&th[nth++], NULL, bad, (void *)(uintptr_t)(1000 + i));
    pthread_create(&th[nth++], NULL, reloader, &every);

    /* Resident memory, sampled every second after the warm-up.  A leak
     * grows steadily; glibc's per-thread arenas swing by tens of percent
     * from one second to the next (measured: 27, 47, then 35 MiB a minute
     * into a run, flat after).  So the check compares the median of the
     * first fifth of the samples with the median of the last fifth, not
     * one reading with another. */
    double warm = seconds / 10 < 30 ? seconds / 10 : 30;
    usleep((useconds_t)(warm * 1e6));
    size_t nrss = 0, caprss = (size_t)seconds + 16;
    long *rss = malloc(caprss * sizeof *rss);
    if (!rss) { fprintf(stderr, "soak: out of memory\n"); return 1; }
    rss[nrss++] = rss_kb();
    while (now() < g_end) {
        sleep(1);
        if (kill(g_pid, 0) != 0) break;
        if (nrss < caprss) rss[nrss++] = rss_kb();
    }
    for (size_t i = 0; i < nth; i++) pthread_join(th[i], NULL);
    int alive = kill(g_pid, 0) == 0;
    double took = now() - start;

    printf("soak: %.0f s, %u good clients, %u bad clients, reload every %.1f s\n", took, ngood, nbad, every);
    printf("  good replies checked      %llu (%.0f/s)\n", (unsigned long long)st_good, (double)st_good / took);
    printf("  wrong answers             %llu\n", (unsigned long long)st_wrong);
    printf("  good-client reconnects    %llu\n", (unsigned long long)st_reconnects);
    printf("  bad-client sessions       %llu (error replies seen: %llu, unexpected: %llu)\n",
           (unsigned long long)st_bad_sessions, (unsigned long long)st_bad_errs_seen,
           (unsigned long long)st_bad_unexpected);
    printf("  reloads                   %llu RELOAD ok, %llu failed, %llu SIGHUP\n",
           (unsigned long long)st_reloads_ok, (unsigned long long)st_reloads_failed,
           (unsigned long long)st_sighups);
    printf("  daemon alive              %s\n", alive ? "yes" : "NO (crashed)");
    size_t fifth = nrss / 5 ? nrss / 5 : 1;
    long rss0 = median(rss, fifth), rss1 = median(rss + nrss - fifth, fifth), lo = rss[0], hi = rss[0];
    for (size_t i = 0; i < nrss; i++) {
        if (rss[i] < lo) lo = rss[i];
        if (rss[i] > hi) hi = rss[i];
    }
    printf("  rss first / last fifth    %ld KiB / %ld KiB (%+.1f%%; medians of %zu one-second samples each; "
           "range %ld-%ld KiB)\n",
           rss0, rss1, rss0 > 0 ? 100.0 * (double)(rss1 - rss0) / (double)rss0 : 0.0, fifth, lo, hi);
    free(rss);
    int ok = st_wrong == 0 && alive && st_reconnects == 0 && st_bad_unexpected == 0 &&
             st_reloads_failed == 0 && rss0 > 0 && lo > 0 && rss1 <= rss0 + rss0 / 10;
    printf("soak: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
