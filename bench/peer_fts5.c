/*
 * peer_fts5.c - index a corpus with SQLite FTS5, for comparison with cpq.
 *
 *   peer_fts5 OUT.db INPUT
 *
 * INPUT is a .jsonl file or a directory, read by benchinput.c exactly as the
 * other peers read it.  The table stores each document's text (FTS5's
 * content table, the counterpart of cpq's stored passages) and its id, and
 * indexes the text with tokenize='porter unicode61' and the default
 * detail=full (positions).  All inserts run in one transaction, then
 * 'optimize' merges the index into one b-tree.  The clock runs from opening
 * the input to closing the database, so reading the input counts.
 *
 * 'optimize' leaves the pages of the merged segments on SQLite's freelist,
 * inside the file, so the database is then reopened and VACUUMed, timed
 * apart, to show the size without them (the counterpart of compacting the
 * Xapian database).
 *
 * Prints one line:
 *   fts5 bytes_in=N seconds=S mbps=X size=N pct=P
 *        vacuum_seconds=S vacuum_size=N vacuum_pct=P
 * (on one line).  bytes_in is the document text indexed, mbps is 10^6 bytes
 * a second, size is the database file's size after 'optimize' and pct is
 * size as a percentage of bytes_in; the vacuum_ fields are the same after
 * VACUUM.
 */
#include "benchinput.h"

#include <sqlite3.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Settings chosen to be generous to SQLite: no journal, no fsync, and a
 * page cache big enough that the b-tree stays in memory while building. */
static const char *const setup_sql =
    "PRAGMA journal_mode=OFF;"
    "PRAGMA synchronous=OFF;"
    "PRAGMA cache_size=-262144;"
    "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, body,"
    " tokenize='porter unicode61');";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "peer_fts5: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static long long file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "peer_fts5: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return (long long)st.st_size;
}

static int open_db(const char *path, sqlite3 **db)
{
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "peer_fts5: %s: %s\n", path, *db ? sqlite3_errmsg(*db) : "out of memory");
        return -1;
    }
    return 0;
}

static int close_db(sqlite3 **db)
{
    if (sqlite3_close(*db) != SQLITE_OK) {
        fprintf(stderr, "peer_fts5: close: %s\n", sqlite3_errmsg(*db));
        return -1;
    }
    *db = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    bench_input *in = NULL;
    char err[512];
    unsigned long long bytes_in = 0;
    int rc = 1, r;

    if (argc != 3) {
        fprintf(stderr, "usage: peer_fts5 OUT.db INPUT\n");
        return 2;
    }
    const char *out = argv[1];
    if (unlink(out) < 0 && errno != ENOENT) {
        fprintf(stderr, "peer_fts5: %s: %s\n", out, strerror(errno));
        return 1;
    }

    double t0 = now();
    in = bench_input_open(argv[2], err, sizeof err);
    if (!in) {
        fprintf(stderr, "peer_fts5: %s\n", err);
        goto done;
    }
    if (open_db(out, &db) < 0)
        goto done;
    if (exec(db, setup_sql) < 0 || exec(db, "BEGIN") < 0)
        goto done;
    if (sqlite3_prepare_v2(db, "INSERT INTO docs(id, body) VALUES(?, ?)", -1, &ins, NULL)
        != SQLITE_OK) {
        fprintf(stderr, "peer_fts5: prepare: %s\n", sqlite3_errmsg(db));
        goto done;
    }
    const char *id, *text;
    size_t idlen, textlen;
    while ((r = bench_input_next(in, &id, &idlen, &text, &textlen)) == 1) {
        sqlite3_bind_text(ins, 1, id, (int)idlen, SQLITE_STATIC);
        sqlite3_bind_text64(ins, 2, text, textlen, SQLITE_STATIC, SQLITE_UTF8);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "peer_fts5: insert %s: %s\n", id, sqlite3_errmsg(db));
            goto done;
        }
        sqlite3_reset(ins);
        bytes_in += textlen;
    }
    if (r < 0) {
        fprintf(stderr, "peer_fts5: %s\n", bench_input_error(in));
        goto done;
    }
    sqlite3_finalize(ins);
    ins = NULL;
    if (exec(db, "COMMIT") < 0 || exec(db, "INSERT INTO docs(docs) VALUES('optimize')") < 0)
        goto done;
    if (close_db(&db) < 0)
        goto done;
    double secs = now() - t0;
    long long size = file_size(out);
    if (size < 0)
        goto done;

    double t1 = now();
    if (open_db(out, &db) < 0 || exec(db, "PRAGMA journal_mode=OFF; VACUUM") < 0
        || close_db(&db) < 0)
        goto done;
    double vsecs = now() - t1;
    long long vsize = file_size(out);
    if (vsize < 0)
        goto done;

    double pct = bytes_in ? 100.0 / (double)bytes_in : 0.0;
    printf("fts5 bytes_in=%llu seconds=%.3f mbps=%.2f size=%lld pct=%.1f"
           " vacuum_seconds=%.3f vacuum_size=%lld vacuum_pct=%.1f\n",
           bytes_in, secs, secs > 0 ? (double)bytes_in / 1e6 / secs : 0.0,
           size, pct * (double)size, vsecs, vsize, pct * (double)vsize);
    rc = 0;
done:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    bench_input_close(in);
    return rc;
}
