/* fuzz_index.c - libFuzzer target: an arbitrary file opened as an index
 * (checksums skipped, so mutations reach the structure checks), verified,
 * and read: terms, postings with positions, a few searches, passages. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpqindex.h"
#include "engine.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const cpq_index *ix)
{
    cpq_term_iter it;
    cpq_term t;
    int n = 0;
    if (cpq_index_prefix(ix, "", 0, &it) == CPQ_OK)
        while (n++ < 200 && cpq_term_iter_next(&it, &t) == CPQ_OK) {
            cpq_term u;   /* exact lookup of what the walk found, and of a neighbour */
            cpq_index_term(ix, t.text, t.len, &u);
            if (t.len > 1) cpq_index_term(ix, t.text, t.len - 1, &u);
            cpq_postings p;
            if (cpq_postings_open(ix, &t, &p)) continue;
            uint32_t pos[64];
            for (uint32_t d; (d = cpq_postings_next(&p)) != CPQ_END;) cpq_postings_positions(&p, pos, 64);
        }
    cpq_analyzer *an = NULL, *pan = NULL;
    const cpq_analysis_cfg *c = &cpq_index_get_info(ix)->analysis;
    if (cpq_analyzer_create(c, &an, NULL) == CPQ_OK) {
        if (cpq_analyzer_create_prefix(c, &pan, NULL) == CPQ_OK) {
            const char *qs[] = { "russia china", "+internet -cyber", "\"information security\"", "sover*",
                                 "putin NEAR/5 xi" };
            for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
                cpq_query *q;
                if (cpq_query_parse(qs[i], strlen(qs[i]), an, pan, 0, &q, NULL)) continue;
                cpq_search_opts o;
                cpq_search_opts_default(&o);
                o.flags = i & 1 ? CPQ_SEARCH_GROUP : 0;
                cpq_results r;
                if (cpq_search(ix, q, &o, &r, NULL) == CPQ_OK) cpq_results_free(&r);
                cpq_query_free(q);
            }
        }
    }
    cpq_analyzer_free(pan);
    cpq_analyzer_free(an);
    cpq_fetch *f;
    if (cpq_fetch_create(ix, &f) == CPQ_OK) {
        const char *txt;
        size_t len;
        cpq_passage_info pi;
        cpq_doc_info di;
        for (uint32_t p = 0; p < 8; p++) {
            cpq_fetch_passage(f, p, &txt, &len);
            cpq_fetch_passage_full(f, p, &txt, &len, &pi, &di);
        }
        cpq_fetch_doc(f, 0, &txt, &len);
        /* Through a passage cache small enough to evict: the same answers
         * as the plain fetcher, twice (a miss, then a hit). */
        cpq_fetch *fc;
        if (cpq_fetch_create(ix, &fc) == CPQ_OK) {
            if (cpq_fetch_set_cache(fc, 4096) == CPQ_OK)
                for (int round = 0; round < 2; round++)
                    for (uint32_t p = 0; p < 8; p++) {
                        const char *t2;
                        size_t l2;
                        cpq_passage_info pi2;
                        cpq_doc_info di2;
                        int a = cpq_fetch_passage_full(f, p, &txt, &len, &pi, &di);
                        int b = cpq_fetch_passage_full(fc, p, &t2, &l2, &pi2, &di2);
                        if (a != b || (a == CPQ_OK && (len != l2 || memcmp(txt, t2, len) || pi.doc != pi2.doc
                                                       || pi.start != pi2.start || di.id != di2.id)))
                            abort();
                    }
            cpq_fetch_free(fc);
        }
        cpq_fetch_free(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/cpq-fuzz-index.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    int ok = write(fd, data, size) == (ssize_t)size;
    close(fd);
    if (ok) {
        cpq_index *ix;
        if (cpq_index_open(path, CPQ_OPEN_NO_CHECKSUM, &ix, NULL) == CPQ_OK) {
            cpq_index_verify(ix, NULL);
            exercise(ix);
            cpq_index_close(ix);
        }
    }
    unlink(path);
    return 0;
}
