/*
 * peer_xapian_query.cc - top-10 query latency of Xapian, in-process, for
 * comparison with cpq (README.md, "Query latency").
 *
 *   peer_xapian_query [--build INPUT [--copies N]] [--warmup N] [--passes N]
 *                     [--slowest N] DB QUERIES
 *
 * With --build, a database is first built from INPUT as peer_xapian builds
 * it (TermGenerator, Stem("english"), STEM_SOME with positions, the text as
 * document data, the id as a "Q" term, one commit), N times over for the
 * scaling runs, in the directory DB.build; it is then compacted into the
 * single file DB (Xapian's advice for a database that is only read), and
 * DB.build is removed.  Without --build, DB is opened as it is (a
 * directory or a single file).
 *
 * Each query is timed as: QueryParser::parse_query (english stemmer,
 * STEM_SOME, default operator OR, FLAG_DEFAULT, which includes
 * FLAG_LOVEHATE for +a -b and FLAG_PHRASE for "a b"), an Enquire with the
 * default BM25 weighting, get_mset(0, 10), and reading the document ids.
 * The benchmark's Lucene syntax is Xapian's own, so queries go in as they
 * are.  A Xapian::Error is reported as the query's error.
 *
 * Exit status: 0, 1 on failure, 2 usage.
 */
#include "benchquery.h"

#include <xapian.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

static const char prog[] = "peer_xapian_query";

namespace {

struct build_ctx {
    Xapian::WritableDatabase *db;
    Xapian::TermGenerator *tg;
};

int add_doc(void *vctx, const char *id, size_t idlen, const char *text, size_t len)
{
    build_ctx *c = static_cast<build_ctx *>(vctx);
    try {
        Xapian::Document doc;
        std::string body(text, len);
        c->tg->set_document(doc);
        c->tg->index_text(body);
        doc.add_boolean_term("Q" + std::string(id, idlen));
        doc.set_data(body);
        c->db->add_document(doc);
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "%s: %s: %s\n", prog, id, e.get_description().c_str());
        return -1;
    }
    return 0;
}

int build(const bench_query_args &a)
{
    const std::string out = a.index, tmp = out + ".build";
    char err[512];
    unsigned long long bytes = 0;
    std::error_code ec;

    double t0 = bench_query_now();
    try {
        Xapian::WritableDatabase db(tmp, Xapian::DB_CREATE_OR_OVERWRITE);
        Xapian::TermGenerator tg;
        tg.set_stemmer(Xapian::Stem("english"));
        build_ctx c = { &db, &tg };
        if (bench_query_corpus(a.build, a.copies, add_doc, &c, &bytes, err, sizeof err) != 0) {
            std::fprintf(stderr, "%s: %s: %s\n", prog, a.build, err);
            return 1;
        }
        db.commit();
        db.close();
        std::filesystem::remove_all(out, ec);
        Xapian::Database(tmp).compact(out, Xapian::DBCOMPACT_SINGLE_FILE);
    } catch (const Xapian::Error &e) {
        std::fprintf(stderr, "%s: build: %s\n", prog, e.get_description().c_str());
        return 1;
    }
    std::filesystem::remove_all(tmp, ec);
    std::fprintf(stderr, "%s: built %s: x%u, %.1f MB of text, %.2f s (with compaction)\n", prog,
                 a.index, a.copies, (double)bytes / 1e6, bench_query_now() - t0);
    return 0;
}

struct run_ctx {
    Xapian::Database *db;
    Xapian::QueryParser *qp;
};

int run_query(void *vctx, const bench_query *q, size_t *nhits, char *msg, size_t msgcap)
{
    run_ctx *c = static_cast<run_ctx *>(vctx);
    try {
        Xapian::Query query = c->qp->parse_query(std::string(q->text, q->len),
                                                 Xapian::QueryParser::FLAG_DEFAULT);
        Xapian::Enquire enquire(*c->db);
        enquire.set_query(query);
        Xapian::MSet m = enquire.get_mset(0, 10);
        size_t n = 0;
        for (Xapian::MSetIterator it = m.begin(); it != m.end(); ++it) {
            (void)*it;
            n++;
        }
        *nhits = n;
    } catch (const Xapian::Error &e) {
        std::snprintf(msg, msgcap, "%s", e.get_description().c_str());
        return BENCH_QUERY_ERROR;
    }
    return BENCH_QUERY_OK;
}

} // namespace

int main(int argc, char **argv)
{
    bench_query_args a;
    bench_queries qs = { NULL, 0 };
    char err[512];
    int rc = 1;

    int pr = bench_query_parse_args(argc, argv, prog, &a);
    if (pr)
        return pr == 1 ? 0 : 2;
    if (bench_query_load(a.queries, &qs, err, sizeof err) < 0) {
        std::fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    if (!a.build || build(a) == 0) {
        try {
            Xapian::Database db(a.index);
            Xapian::QueryParser qp;
            qp.set_stemmer(Xapian::Stem("english"));
            qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
            qp.set_default_op(Xapian::Query::OP_OR);
            qp.set_database(db);
            run_ctx c = { &db, &qp };
            std::printf("info\txapian\tdocs=%u xapian=%s\n", (unsigned)db.get_doccount(),
                        Xapian::version_string());
            if (bench_query_measure(&qs, "xapian", run_query, &c, &a.opts, stdout) < 0)
                std::fprintf(stderr, "%s: out of memory\n", prog);
            else
                rc = 0;
        } catch (const Xapian::Error &e) {
            std::fprintf(stderr, "%s: %s: %s\n", prog, a.index, e.get_description().c_str());
        }
    }
    bench_query_free(&qs);
    return rc;
}
