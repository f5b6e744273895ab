/*
 * benchquery.c - query file, corpus copies, clock and statistics for the
 * query-latency benchmark.  The contract is in benchquery.h.
 */
#include "benchquery.h"

#include "benchinput.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERRCAP 512
#define MSGCAP 512

static void seterr(char *err, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!cap)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

double bench_query_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds on the chosen clock. */
static double clock_ms(int cpu)
{
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the query file ---------------------------------------------------- */

/* A cursor over one line; on failure `what` names the problem and p points
 * at it. */
typedef struct jp {
    const char *s, *p, *e;
    const char *what;
} jp;

static int jfail(jp *j, const char *what)
{
    j->what = what;
    return -1;
}

static void jws(jp *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, const char *e, unsigned *v)
{
    unsigned x = 0;
    if (e - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = hexval((unsigned char)p[i]);
        if (d < 0)
            return -1;
        x = x << 4 | (unsigned)d;
    }
    *v = x;
    return 0;
}

/* Parse the string at j->p (its opening quote) into out[0..cap) with a NUL,
 * or only skip it when out is NULL.  *len receives its length.  A string
 * longer than cap - 1 bytes is an error ("too long"), unless trunc, when it
 * is cut (at a byte boundary: only kinds are truncated, and they are ASCII). */
static int jstring(jp *j, char *out, size_t cap, size_t *len, int trunc)
{
    size_t n = 0;
    int over = 0;
    j->p++;
    for (;;) {
        if (j->p >= j->e)
            return jfail(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        char u[4];
        size_t un = 1;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return jfail(j, "raw control character in string");
        if (c != '\\') {
            u[0] = (char)c;
            j->p++;
        } else {
            if (j->p + 1 >= j->e)
                return jfail(j, "unterminated escape");
            char x = j->p[1];
            j->p += 2;
            unsigned cp;
            switch (x) {
            case '"': u[0] = '"'; break;
            case '\\': u[0] = '\\'; break;
            case '/': u[0] = '/'; break;
            case 'b': u[0] = '\b'; break;
            case 'f': u[0] = '\f'; break;
            case 'n': u[0] = '\n'; break;
            case 'r': u[0] = '\r'; break;
            case 't': u[0] = '\t'; break;
            case 'u':
                if (hex4(j->p, j->e, &cp) < 0)
                    return jfail(j, "bad \\u escape");
                j->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (j->e - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u'
                        && hex4(j->p + 2, j->e, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        j->p += 6;
                    } else {
                        cp = 0xFFFD;
                    }
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    cp = 0xFFFD;
                }
                if (cp < 0x80) {
                    u[0] = (char)cp;
                } else if (cp < 0x800) {
                    u[0] = (char)(0xC0 | cp >> 6);
                    u[1] = (char)(0x80 | (cp & 0x3F));
                    un = 2;
                } else if (cp < 0x10000) {
                    u[0] = (char)(0xE0 | cp >> 12);
                    u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                    u[2] = (char)(0x80 | (cp & 0x3F));
                    un = 3;
                } else {
                    u[0] = (char)(0xF0 | cp >> 18);
                    u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
                    u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
                    u[3] = (char)(0x80 | (cp & 0x3F));
                    un = 4;
                }
                break;
            default:
                j->p -= 2;
                return jfail(j, "bad escape");
            }
        }
        if (!out)
            continue;
        if (over || n + un > cap - 1) {
            if (!trunc)
                return jfail(j, "string too long");
            over = 1;
            continue;
        }
        memcpy(out + n, u, un);
        n += un;
    }
    if (out)
        out[n] = '\0';
    if (len)
        *len = n;
    return 0;
}

/* Skip any value without recursion: outside strings only brackets count. */
static int jskip(jp *j)
{
    int depth = 0;
    do {
        jws(j);
        if (j->p >= j->e)
            return jfail(j, "unexpected end of line");
        char c = *j->p;
        if (c == '"') {
            if (jstring(j, NULL, 0, NULL, 0) < 0)
                return -1;
        } else if (c == '{' || c == '[') {
            if (++depth > 64)
                return jfail(j, "nested too deep");
            j->p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return jfail(j, "unexpected bracket");
            depth--;
            j->p++;
        } else if (c == ',' || c == ':') {
            if (depth == 0)
                return jfail(j, "expected a value");
            j->p++;
        } else {
            const char *s = j->p;
            while (j->p < j->e && !strchr(",}] \t\r\n", *j->p))
                j->p++;
            if (j->p == s)
                return jfail(j, "expected a value");
        }
    } while (depth > 0);
    return 0;
}

/* The "tags" array: keep its first string in kind. */
static int jtags(jp *j, char *kind)
{
    int first = 1;
    if (j->p >= j->e || *j->p != '[')
        return jfail(j, "\"tags\" must be an array");
    j->p++;
    jws(j);
    if (j->p < j->e && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        jws(j);
        if (j->p < j->e && *j->p == '"') {
            if (jstring(j, first ? kind : NULL, BENCH_QUERY_KIND_MAX, NULL, 1) < 0)
                return -1;
        } else if (jskip(j) < 0) {
            return -1;
        }
        first = 0;
        jws(j);
        if (j->p < j->e && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->e && *j->p == ']') {
            j->p++;
            return 0;
        }
        return jfail(j, "expected ',' or ']'");
    }
}

/* Parse one line into text (BENCH_QUERY_TEXT_MAX + 1 bytes) and kind. */
static int parse_line(jp *j, char *text, size_t *len, char *kind, int *have_query)
{
    jws(j);
    if (j->p >= j->e || *j->p != '{')
        return jfail(j, "expected '{'");
    j->p++;
    jws(j);
    if (j->p < j->e && *j->p == '}') {
        j->p++;
    } else {
        for (;;) {
            char key[16];
            size_t klen;
            jws(j);
            if (j->p >= j->e || *j->p != '"')
                return jfail(j, "expected a member name");
            if (jstring(j, key, sizeof key, &klen, 1) < 0)
                return -1;
            jws(j);
            if (j->p >= j->e || *j->p != ':')
                return jfail(j, "expected ':'");
            j->p++;
            jws(j);
            if (strcmp(key, "query") == 0) {
                if (j->p >= j->e || *j->p != '"')
                    return jfail(j, "\"query\" must be a string");
                if (jstring(j, text, BENCH_QUERY_TEXT_MAX + 1, len, 0) < 0)
                    return -1;
                *have_query = 1;
            } else if (strcmp(key, "tags") == 0) {
                if (jtags(j, kind) < 0)
                    return -1;
            } else if (jskip(j) < 0) {
                return -1;
            }
            jws(j);
            if (j->p < j->e && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->e && *j->p == '}') {
                j->p++;
                break;
            }
            return jfail(j, "expected ',' or '}'");
        }
    }
    jws(j);
    if (j->p != j->e)
        return jfail(j, "trailing bytes after the object");
    return 0;
}

void bench_query_free(bench_queries *qs)
{
    if (!qs)
        return;
    for (size_t i = 0; i < qs->n; i++)
        free(qs->q[i].text);
    free(qs->q);
    qs->q = NULL;
    qs->n = 0;
}

int bench_query_load(const char *path, bench_queries *qs, char *err, size_t errcap)
{
    char *line = NULL, *text = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    int rc = -1;
    FILE *f = NULL;

    qs->q = NULL;
    qs->n = 0;
    line = malloc(BENCH_QUERY_LINE_MAX + 2);
    text = malloc(BENCH_QUERY_TEXT_MAX + 1);
    if (!line || !text) {
        seterr(err, errcap, "out of memory");
        goto done;
    }
    f = fopen(path, "r");
    if (!f) {
        seterr(err, errcap, "%s: %s", path, strerror(errno));
        goto done;
    }
    while (fgets(line, (int)BENCH_QUERY_LINE_MAX + 2, f)) {
        size_t n = strlen(line);
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        else if (!feof(f)) {
            seterr(err, errcap, "%s:%lu: line longer than %zu bytes", path, lineno,
                   BENCH_QUERY_LINE_MAX);
            goto done;
        }
        size_t i = 0;
        while (i < n && strchr(" \t\r", line[i]))
            i++;
        if (i == n)
            continue;  /* blank line */
        jp j = { line, line, line + n, NULL };
        char kind[BENCH_QUERY_KIND_MAX] = "untagged";
        size_t len = 0;
        int have = 0;
        if (parse_line(&j, text, &len, kind, &have) < 0) {
            seterr(err, errcap, "%s:%lu: column %zu: %s", path, lineno,
                   (size_t)(j.p - j.s) + 1, j.what);
            goto done;
        }
        if (!have) {
            seterr(err, errcap, "%s:%lu: no \"query\" member", path, lineno);
            goto done;
        }
        if (!kind[0])
            strcpy(kind, "untagged");
        if (qs->n == BENCH_QUERY_COUNT_MAX) {
            seterr(err, errcap, "%s: more than %u queries", path, BENCH_QUERY_COUNT_MAX);
            goto done;
        }
        if (qs->n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            bench_query *q = realloc(qs->q, nc * sizeof *q);
            if (!q) {
                seterr(err, errcap, "out of memory");
                goto done;
            }
            qs->q = q;
            cap = nc;
        }
        bench_query *q = &qs->q[qs->n];
        q->text = malloc(len + 1);
        if (!q->text) {
            seterr(err, errcap, "out of memory");
            goto done;
        }
        memcpy(q->text, text, len + 1);
        q->len = len;
        memcpy(q->kind, kind, sizeof q->kind);
        qs->n++;
    }
    if (ferror(f)) {
        seterr(err, errcap, "%s: read error", path);
        goto done;
    }
    rc = 0;
done:
    if (f)
        fclose(f);
    free(line);
    free(text);
    if (rc)
        bench_query_free(qs);
    return rc;
}

/* ---- the corpus ---------------------------------------------------------- */

int bench_query_corpus(const char *path, unsigned copies, bench_query_doc_fn fn, void *ctx,
                       unsigned long long *bytes, char *err, size_t errcap)
{
    unsigned long long total = 0;
    char *id = NULL;
    int rc = 0;
    if (copies < 1 || copies > BENCH_QUERY_COPIES_MAX) {
        seterr(err, errcap, "copies must be 1..%u", BENCH_QUERY_COPIES_MAX);
        return -1;
    }
    for (unsigned k = 0; k < copies && rc == 0; k++) {
        bench_input *in = bench_input_open(path, err, errcap);
        if (!in)
            return -1;
        const char *did, *text;
        size_t idlen, len;
        int r;
        while ((r = bench_input_next(in, &did, &idlen, &text, &len)) == 1) {
            if (k > 0) {
                /* Room for "#" and up to 10 digits.  The id is bounded by
                 * the input reader's line and path limits. */
                char *nid = realloc(id, idlen + 16);
                if (!nid) {
                    seterr(err, errcap, "out of memory");
                    rc = -1;
                    break;
                }
                id = nid;
                memcpy(id, did, idlen);
                idlen += (size_t)snprintf(id + idlen, 16, "#%u", k);
                did = id;
            }
            total += len;
            rc = fn(ctx, did, idlen, text, len);
            if (rc) {
                seterr(err, errcap, "stopped by the indexer");
                break;
            }
        }
        if (r < 0 && rc == 0) {
            seterr(err, errcap, "%s", bench_input_error(in));
            rc = -1;
        }
        bench_input_close(in);
    }
    free(id);
    if (bytes)
        *bytes = total;
    return rc;
}

/* ---- measuring ----------------------------------------------------------- */

void bench_query_opts_default(bench_query_opts *o)
{
    o->warmup = 2;
    o->passes = 5;
    o->slowest = 10;
    o->cpu_clock = 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The slowest first. */
typedef struct ranked {
    double ms;
    size_t q;
} ranked;

static int cmp_ranked_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? 1 : -1;
    return x->q < y->q ? -1 : x->q > y->q;
}

/* Nearest rank: the smallest value with at least p of the sample at or below it. */
static double percentile(const double *sorted, size_t n, double p)
{
    size_t r = (size_t)(p * (double)n + 0.999999999);
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return sorted[r - 1];
}

/* Query text as one field: tabs and line breaks become spaces. */
static void put_field(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fputc(s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ? ' ' : s[i], out);
}

typedef struct qstate {
    int status;          /* worst outcome seen: error > partial > ok */
    size_t nhits;        /* of the last timed pass */
    char msg[MSGCAP];    /* message of the first error or partial result */
} qstate;

int bench_query_measure(const bench_queries *qs, const char *engine, bench_query_run_fn fn,
                        void *ctx, const bench_query_opts *o, FILE *out)
{
    size_t n = qs->n, np = o->passes ? o->passes : 1;
    double *t = NULL, *lat = NULL, *sample = NULL;
    qstate *st = NULL;
    ranked *rk = NULL;
    char **kinds = NULL;
    int rc = -1;

    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(double) / np)
        return -1;
    t = malloc(n * np * sizeof *t);
    lat = malloc(n * sizeof *lat);
    sample = malloc(n * sizeof *sample);
    st = calloc(n, sizeof *st);
    rk = malloc(n * sizeof *rk);
    kinds = malloc(n * sizeof *kinds);
    if (!t || !lat || !sample || !st || !rk || !kinds)
        goto done;

    for (unsigned pass = 0; pass < o->warmup + np; pass++) {
        int timed = pass >= o->warmup;
        for (size_t i = 0; i < n; i++) {
            char msg[MSGCAP];
            size_t nhits = 0;
            msg[0] = '\0';
            double t0 = clock_ms(o->cpu_clock);
            int s = fn(ctx, &qs->q[i], &nhits, msg, sizeof msg);
            double t1 = clock_ms(o->cpu_clock);
            if (timed) {
                t[i * np + (pass - o->warmup)] = t1 - t0;
                st[i].nhits = nhits;
            }
            int worse = (s == BENCH_QUERY_ERROR && st[i].status != BENCH_QUERY_ERROR)
                        || (s == BENCH_QUERY_PARTIAL && st[i].status == BENCH_QUERY_OK);
            if (worse) {
                st[i].status = s;
                snprintf(st[i].msg, sizeof st[i].msg, "%s", msg);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        qsort(t + i * np, np, sizeof *t, cmp_double);
        /* The median; the lower middle one for an even number of passes. */
        lat[i] = t[i * np + (np - 1) / 2];
    }

    /* Kinds in order of first appearance. */
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nk && strcmp(kinds[k], qs->q[i].kind) != 0)
            k++;
        if (k == nk)
            kinds[nk++] = qs->q[i].kind;
    }
    for (size_t k = 0; k < nk; k++) {
        size_t m = 0, zero = 0, errors = 0;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(qs->q[i].kind, kinds[k]) != 0)
                continue;
            if (st[i].status == BENCH_QUERY_ERROR) {
                errors++;
                continue;
            }
            zero += st[i].nhits == 0;
            sample[m++] = lat[i];
            sum += lat[i];
        }
        qsort(sample, m, sizeof *sample, cmp_double);
        if (m)
            fprintf(out, "row\t%s\t%s\t%zu\t%.4f\t%.4f\t%.4f\t%.4f\t%zu\t%zu\n", engine, kinds[k],
                    m, percentile(sample, m, 0.50), percentile(sample, m, 0.99), sample[m - 1],
                    sum / (double)m, zero, errors);
        else
            fprintf(out, "row\t%s\t%s\t0\t-\t-\t-\t-\t0\t%zu\n", engine, kinds[k], errors);
    }

    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if (st[i].status != BENCH_QUERY_ERROR)
            rk[nr++] = (ranked){ lat[i], i };
    qsort(rk, nr, sizeof *rk, cmp_ranked_desc);
    for (size_t r = 0; r < nr && r < o->slowest; r++) {
        const bench_query *q = &qs->q[rk[r].q];
        fprintf(out, "slow\t%s\t%s\t%.4f\t", engine, q->kind, rk[r].ms);
        put_field(out, q->text, q->len);
        fputc('\n', out);
    }
    for (size_t i = 0; i < n; i++) {
        if (st[i].status == BENCH_QUERY_OK)
            continue;
        const bench_query *q = &qs->q[i];
        fprintf(out, "%s\t%s\t%s\t", st[i].status == BENCH_QUERY_ERROR ? "error" : "partial",
                engine, q->kind);
        put_field(out, q->text, q->len);
        fputc('\t', out);
        put_field(out, st[i].msg, strlen(st[i].msg));
        fputc('\n', out);
    }
    fflush(out);
    rc = 0;
done:
    free(t);
    free(lat);
    free(sample);
    free(st);
    free(rk);
    free(kinds);
    return rc;
}

/* ---- command line ------------------------------------------------------ */

static int parse_count(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

int bench_query_parse_args(int argc, char **argv, const char *prog, bench_query_args *a)
{
    static const struct option lo[] = {
        { "build", required_argument, 0, 'B' },   { "copies", required_argument, 0, 'c' },
        { "threads", required_argument, 0, 'j' }, { "warmup", required_argument, 0, 'W' },
        { "passes", required_argument, 0, 'P' },  { "slowest", required_argument, 0, 'S' },
        { "clock", required_argument, 0, 'C' },   { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    static const char help[] =
        "usage: %s [options] INDEX QUERIES\n"
        "\n"
        "Time top-10 queries of QUERIES (JSON Lines: {\"query\", \"tags\"}) on INDEX and\n"
        "print tab-separated row/slow/error/partial lines (bench/benchquery.h).\n"
        "\n"
        "  --build INPUT   first build INDEX from INPUT (.jsonl or directory), replacing it\n"
        "  --copies N      with --build: index INPUT N times, ids of copy k>0 + \"#k\" (1)\n"
        "  --threads N     indexing threads, cpq only (default: all CPUs)\n"
        "  --warmup N      untimed passes over the queries first (2)\n"
        "  --passes N      timed passes; a query's latency is their median (5)\n"
        "  --slowest N     print the N slowest queries (10)\n"
        "  --clock C       wall (CLOCK_MONOTONIC, default) or cpu (the thread's CPU time)\n";
    unsigned long v;
    int c;

    memset(a, 0, sizeof *a);
    a->copies = 1;
    bench_query_opts_default(&a->opts);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'B': a->build = optarg; break;
        case 'c':
            if (parse_count(optarg, 1, BENCH_QUERY_COPIES_MAX, &v) < 0)
                goto bad;
            a->copies = (unsigned)v;
            break;
        case 'j':
            if (parse_count(optarg, 1, 64, &v) < 0)
                goto bad;
            a->threads = (int)v;
            break;
        case 'W':
            if (parse_count(optarg, 0, 1000, &v) < 0)
                goto bad;
            a->opts.warmup = (unsigned)v;
            break;
        case 'P':
            if (parse_count(optarg, 1, 1000, &v) < 0)
                goto bad;
            a->opts.passes = (unsigned)v;
            break;
        case 'S':
            if (parse_count(optarg, 0, 1000000, &v) < 0)
                goto bad;
            a->opts.slowest = (unsigned)v;
            break;
        case 'C':
            if (strcmp(optarg, "wall") != 0 && strcmp(optarg, "cpu") != 0)
                goto bad;
            a->opts.cpu_clock = optarg[0] == 'c';
            break;
        case 'h': printf(help, prog); return 1;
        default: fprintf(stderr, "Try '%s --help'.\n", prog); return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "%s: expected INDEX and QUERIES\nTry '%s --help'.\n", prog, prog);
        return 2;
    }
    if (a->copies > 1 && !a->build) {
        fprintf(stderr, "%s: --copies needs --build\n", prog);
        return 2;
    }
    a->index = argv[optind];
    a->queries = argv[optind + 1];
    return 0;
bad:
    fprintf(stderr, "%s: bad value '%s' for an option\nTry '%s --help'.\n", prog, optarg, prog);
    return 2;
}
