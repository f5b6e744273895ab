/*
 * peer_xapian.cc - index a corpus with Xapian, for comparison with cpq.
 *
 *   peer_xapian OUT_DIR INPUT
 *
 * INPUT is a .jsonl file or a directory, read by benchinput.c exactly as the
 * other peers read it.  Each document's data is its text (stored, the
 * counterpart of cpq's stored passages); its id is the usual unique "Q"
 * boolean term.  TermGenerator indexes the text with Stem("english") and
 * Xapian's default strategy (STEM_SOME: unstemmed terms with positions,
 * stemmed "Z" terms without).  OUT_DIR is overwritten; Xapian flushes every
 * XAPIAN_FLUSH_THRESHOLD documents (its default, 10000, unless that variable
 * is set) and the database is committed once at the end.  The clock runs
 * from opening the input to closing the database.
 *
 * Then, timed apart, the database is compacted into the single file
 * OUT_DIR.compact: Xapian's counterpart of FTS5's 'optimize'.  Blocks split
 * by the periodic flushes are left half empty, so the committed database is
 * much bigger than what compaction leaves.
 *
 * Prints one line:
 *   xapian bytes_in=N seconds=S mbps=X size=N pct=P
 *          compact_seconds=S compact_size=N compact_pct=P
 * (on one line).  size is the total size of the regular files in OUT_DIR.
 */
#include "benchinput.h"

#include <xapian.h>

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

static double now()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Total size of the regular files below dir; -1 if it cannot be read.
static long long dir_size(const std::string &dir)
{
    DIR *d = opendir(dir.c_str());
    if (!d)
        return -1;
    long long total = 0;
    while (struct dirent *de = readdir(d)) {
        if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0)
            continue;
        std::string p = dir + "/" + de->d_name;
        struct stat st;
        if (lstat(p.c_str(), &st) < 0) {
            total = -1;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            long long sub = dir_size(p);
            if (sub < 0) {
                total = -1;
                break;
            }
            total += sub;
        } else if (S_ISREG(st.st_mode)) {
            total += st.st_size;
        }
    }
    closedir(d);
    return total;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: peer_xapian OUT_DIR INPUT\n");
        return 2;
    }
    const std::string out = argv[1];
    char err[512];
    unsigned long long bytes_in = 0;
    int rc = 1;

    double t0 = now();
    bench_input *in = bench_input_open(argv[2], err, sizeof err);
    if (!in) {
        std::fprintf(stderr, "peer_xapian: %s\n", err);
        return 1;
    }
    try {
        Xapian::WritableDatabase db(out, Xapian::DB_CREATE_OR_OVERWRITE);
        Xapian::TermGenerator tg;
        tg.set_stemmer(Xapian::Stem("english"));
        const char *id, *text;
        size_t idlen, textlen;
        int r;
        while ((r = bench_input_next(in, &id, &idlen, &text, &textlen)) == 1) {
            Xapian::Document doc;
            std::string body(text, textlen);
            tg.set_document(doc);
            tg.index_text(body);
            doc.add_boolean_term("Q" + std::string(id, idlen));
            doc.set_data(body);
            db.add_document(doc);
            bytes_in += textlen;
        }
        if (r < 0) {
            std::fprintf(stderr, "peer_xapian: %s\n", bench_input_error(in));
        } else {
            db.commit();
            db.close();
            rc = 0;
        }
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "peer_xapian: %s\n", e.get_description().c_str());
    }
    bench_input_close(in);
    if (rc != 0)
        return rc;
    double secs = now() - t0;

    long long size = dir_size(out);
    if (size < 0) {
        std::fprintf(stderr, "peer_xapian: %s: cannot measure\n", out.c_str());
        return 1;
    }

    const std::string compact = out + ".compact";
    if (unlink(compact.c_str()) < 0 && errno != ENOENT) {
        std::fprintf(stderr, "peer_xapian: %s: %s\n", compact.c_str(), std::strerror(errno));
        return 1;
    }
    double t1 = now();
    try {
        Xapian::Database(out).compact(compact, Xapian::DBCOMPACT_SINGLE_FILE);
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "peer_xapian: compact: %s\n", e.get_description().c_str());
        return 1;
    }
    double csecs = now() - t1;
    struct stat st;
    if (stat(compact.c_str(), &st) < 0) {
        std::fprintf(stderr, "peer_xapian: %s: %s\n", compact.c_str(), std::strerror(errno));
        return 1;
    }

    double mb = (double)bytes_in / 1e6;
    std::printf("xapian bytes_in=%llu seconds=%.3f mbps=%.2f size=%lld pct=%.1f"
                " compact_seconds=%.3f compact_size=%lld compact_pct=%.1f\n",
                bytes_in, secs, secs > 0 ? mb / secs : 0.0, size,
                bytes_in ? 100.0 * (double)size / (double)bytes_in : 0.0,
                csecs, (long long)st.st_size,
                bytes_in ? 100.0 * (double)st.st_size / (double)bytes_in : 0.0);
    return 0;
}
