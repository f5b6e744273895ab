/*
 * peer_fts5_query.c - top-10 query latency of SQLite FTS5, in-process, for
 * comparison with cpq (README.md, "Query latency").
 *
 *   peer_fts5_query [--build INPUT [--copies N]] [--warmup N] [--passes N]
 *                   [--slowest N] DB QUERIES
 *
 * With --build, DB is first built from INPUT as peer_fts5 builds it (the
 * same schema: the text stored, tokenize='porter unicode61', detail=full;
 * one transaction, then 'optimize'), N times over for the scaling runs.
 * Then DB is opened read-only with a 256 MiB page cache and 1 GiB of mmap
 * (generous: the whole database stays in memory), and each query is timed
 * as: translate it to FTS5 syntax, bind, step through
 *   SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY rank LIMIT 10
 * and reset.  rank is FTS5's bm25().
 *
 * Translation of the benchmark's Lucene syntax (translate()): each bare
 * word is quoted as an FTS5 string ("word", '"' doubled), so no word is
 * taken for an operator or a syntax error; a "quoted phrase" stays one.
 *   a b           "a" OR "b"                       (union)
 *   +a +b         "a" AND "b"                      (intersection)
 *   "a b"         "a b"                            (phrase)
 *   +a b          ("a") AND ("b" OR "a")           (required + optional: FTS5 has no
 *                 such operator; this matches the same documents as "a" and ranks the
 *                 ones with b higher, though a's weight counts twice)
 *   +a -b -c      ("a") NOT ("b" OR "c")
 * A query with no positive clause is reported as an error.
 *
 * Exit status: 0, 1 on failure, 2 usage.
 */
#include "benchquery.h"

#include <sqlite3.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "peer_fts5_query";

static const char *const setup_sql =
    "PRAGMA journal_mode=OFF;"
    "PRAGMA synchronous=OFF;"
    "PRAGMA cache_size=-262144;"
    "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, body,"
    " tokenize='porter unicode61');";

static const char *const query_sql =
    "SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY rank LIMIT 10";

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* ---- building -------------------------------------------------------- */

typedef struct build_ctx {
    sqlite3 *db;
    sqlite3_stmt *ins;
} build_ctx;

static int add_doc(void *vctx, const char *id, size_t idlen, const char *text, size_t len)
{
    build_ctx *c = vctx;
    sqlite3_bind_text(c->ins, 1, id, (int)idlen, SQLITE_STATIC);
    sqlite3_bind_text64(c->ins, 2, text, len, SQLITE_STATIC, SQLITE_UTF8);
    if (sqlite3_step(c->ins) != SQLITE_DONE) {
        fprintf(stderr, "%s: insert %s: %s\n", prog, id, sqlite3_errmsg(c->db));
        return -1;
    }
    sqlite3_reset(c->ins);
    return 0;
}

static int build(const bench_query_args *a)
{
    build_ctx c = { NULL, NULL };
    char err[512];
    unsigned long long bytes = 0;
    int rc = 1;

    if (unlink(a->index) < 0 && errno != ENOENT) {
        fprintf(stderr, "%s: %s: %s\n", prog, a->index, strerror(errno));
        return 1;
    }
    double t0 = bench_query_now();
    if (sqlite3_open_v2(a->index, &c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)
        != SQLITE_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, a->index,
                c.db ? sqlite3_errmsg(c.db) : "out of memory");
        goto done;
    }
    if (exec(c.db, setup_sql) < 0 || exec(c.db, "BEGIN") < 0)
        goto done;
    if (sqlite3_prepare_v2(c.db, "INSERT INTO docs(id, body) VALUES(?, ?)", -1, &c.ins, NULL)
        != SQLITE_OK) {
        fprintf(stderr, "%s: prepare: %s\n", prog, sqlite3_errmsg(c.db));
        goto done;
    }
    if (bench_query_corpus(a->build, a->copies, add_doc, &c, &bytes, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, a->build, err);
        goto done;
    }
    sqlite3_finalize(c.ins);
    c.ins = NULL;
    if (exec(c.db, "COMMIT") < 0 || exec(c.db, "INSERT INTO docs(docs) VALUES('optimize')") < 0)
        goto done;
    fprintf(stderr, "%s: built %s: x%u, %.1f MB of text, %.2f s\n", prog, a->index, a->copies,
            (double)bytes / 1e6, bench_query_now() - t0);
    rc = 0;
done:
    sqlite3_finalize(c.ins);
    if (sqlite3_close(c.db) != SQLITE_OK && rc == 0) {
        fprintf(stderr, "%s: close: %s\n", prog, sqlite3_errmsg(c.db));
        rc = 1;
    }
    return rc;
}

/* ---- translating ------------------------------------------------------- */

/* A clause of the query: occur and its text in the query. */
enum { OCC_SHOULD, OCC_MUST, OCC_NOT };

typedef struct clause {
    int occur;
    const char *s;
    size_t len;
} clause;

#define MAX_CLAUSES 256
#define OUT_CAP (16 * BENCH_QUERY_TEXT_MAX + 64)

typedef struct out {
    char *p;
    size_t len;
    int over;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->over || n > OUT_CAP - 1 - o->len) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A clause as an FTS5 string: "..." with '"' doubled. */
static void put_string(out *o, const clause *c)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < c->len; i++)
        put(o, c->s[i] == '"' ? "\"\"" : &c->s[i], c->s[i] == '"' ? 2 : 1);
    put(o, "\"", 1);
}

/* The clauses of one occur joined by sep; returns how many. */
static size_t put_join(out *o, const clause *cl, size_t n, int occur, const char *sep)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cl[i].occur != occur)
            continue;
        if (k++)
            puts_(o, sep);
        put_string(o, &cl[i]);
    }
    return k;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Translate q into o->p (OUT_CAP bytes).  Returns 0, or -1 with a message. */
static int translate(const char *q, size_t len, out *o, char *msg, size_t msgcap)
{
    clause cl[MAX_CLAUSES];
    size_t n = 0, cnt[3] = { 0, 0, 0 };
    size_t i = 0;
    o->len = 0;
    o->over = 0;
    o->p[0] = '\0';
    while (i < len) {
        while (i < len && is_space(q[i]))
            i++;
        if (i >= len)
            break;
        int occur = OCC_SHOULD;
        if (q[i] == '+' || q[i] == '-') {
            occur = q[i] == '+' ? OCC_MUST : OCC_NOT;
            i++;
        }
        size_t s, e;
        if (i < len && q[i] == '"') {
            s = ++i;
            while (i < len && q[i] != '"')
                i++;
            e = i;
            if (i < len)
                i++;  /* the closing quote */
        } else {
            s = i;
            while (i < len && !is_space(q[i]))
                i++;
            e = i;
        }
        if (e == s)
            continue;
        if (n == MAX_CLAUSES) {
            snprintf(msg, msgcap, "more than %d clauses", MAX_CLAUSES);
            return -1;
        }
        cl[n++] = (clause){ occur, q + s, e - s };
        cnt[occur]++;
    }
    if (cnt[OCC_MUST] + cnt[OCC_SHOULD] == 0) {
        snprintf(msg, msgcap, "no positive clause to translate");
        return -1;
    }
    if (cnt[OCC_NOT])
        puts_(o, "(");
    if (cnt[OCC_MUST] && cnt[OCC_SHOULD]) {
        puts_(o, "(");
        put_join(o, cl, n, OCC_MUST, " AND ");
        puts_(o, ") AND (");
        put_join(o, cl, n, OCC_SHOULD, " OR ");
        puts_(o, " OR ");
        put_join(o, cl, n, OCC_MUST, " OR ");
        puts_(o, ")");
    } else if (cnt[OCC_MUST]) {
        put_join(o, cl, n, OCC_MUST, " AND ");
    } else {
        put_join(o, cl, n, OCC_SHOULD, " OR ");
    }
    if (cnt[OCC_NOT]) {
        puts_(o, ") NOT (");
        put_join(o, cl, n, OCC_NOT, " OR ");
        puts_(o, ")");
    }
    if (o->over) {
        snprintf(msg, msgcap, "translation longer than %d bytes", OUT_CAP);
        return -1;
    }
    return 0;
}

/* ---- querying -------------------------------------------------------- */

typedef struct run_ctx {
    sqlite3 *db;
    sqlite3_stmt *st;
    out o;
} run_ctx;

static int run_query(void *vctx, const bench_query *q, size_t *nhits, char *msg, size_t msgcap)
{
    run_ctx *c = vctx;
    size_t n = 0;
    int r;
    if (translate(q->text, q->len, &c->o, msg, msgcap) < 0)
        return BENCH_QUERY_ERROR;
    sqlite3_bind_text(c->st, 1, c->o.p, (int)c->o.len, SQLITE_STATIC);
    while ((r = sqlite3_step(c->st)) == SQLITE_ROW) {
        (void)sqlite3_column_int64(c->st, 0);
        n++;
    }
    if (r != SQLITE_DONE) {
        snprintf(msg, msgcap, "%s (MATCH %s)", sqlite3_errmsg(c->db), c->o.p);
        sqlite3_reset(c->st);
        return BENCH_QUERY_ERROR;
    }
    sqlite3_reset(c->st);
    *nhits = n;
    return BENCH_QUERY_OK;
}

/* A count from one SQL statement; -1 on error. */
static long long count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int main(int argc, char **argv)
{
    bench_query_args a;
    bench_queries qs = { NULL, 0 };
    run_ctx c;
    char err[512];
    int rc = 1;

    memset(&c, 0, sizeof c);
    int pr = bench_query_parse_args(argc, argv, prog, &a);
    if (pr)
        return pr == 1 ? 0 : 2;
    c.o.p = malloc(OUT_CAP);
    if (!c.o.p) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    if (bench_query_load(a.queries, &qs, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }
    if (a.build && build(&a) != 0)
        goto done;
    if (sqlite3_open_v2(a.index, &c.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, a.index,
                c.db ? sqlite3_errmsg(c.db) : "out of memory");
        goto done;
    }
    if (exec(c.db, "PRAGMA cache_size=-262144; PRAGMA mmap_size=1073741824;") < 0)
        goto done;
    if (sqlite3_prepare_v2(c.db, query_sql, -1, &c.st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: prepare: %s\n", prog, sqlite3_errmsg(c.db));
        goto done;
    }
    printf("info\tfts5\tdocs=%lld sqlite=%s\n", count(c.db, "SELECT count(*) FROM docs"),
           sqlite3_libversion());
    if (bench_query_measure(&qs, "fts5", run_query, &c, &a.opts, stdout) < 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(c.st);
    sqlite3_close(c.db);
    free(c.o.p);
    bench_query_free(&qs);
    return rc;
}
