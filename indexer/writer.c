/*
 * writer.c - writing the index file: buffered section output with running
 * XXH3 checksums, the TOC and header, and the final merge of all runs into
 * the term dictionary, postings and positions (FORMAT.md describes every
 * byte written here).
 *
 * Errors are sticky (SQLite FTS5 style): once o->rc is set every further
 * write is a no-op, so the section writers read straight through and the
 * caller checks once.
 */
#include "build_int.h"
#include "bm25.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const secnames[CPQ_SEC_COUNT_] = {
    [CPQ_SEC_META] = "meta",           [CPQ_SEC_TERMINDEX] = "termindex",
    [CPQ_SEC_TERMS] = "terms",         [CPQ_SEC_POSTINGS] = "postings",
    [CPQ_SEC_POSITIONS] = "positions", [CPQ_SEC_LENGTHS] = "lengths",
    [CPQ_SEC_PASSAGES] = "passages",   [CPQ_SEC_DOCS] = "docs",
    [CPQ_SEC_DOCIDS] = "docids",       [CPQ_SEC_DOCMAP] = "docmap",
    [CPQ_SEC_STORE] = "store",         [CPQ_SEC_ZDICT] = "zdict",
};

const char *cpq_section_name(uint32_t id)
{
    if (id < CPQ_SEC_COUNT_ && secnames[id]) return secnames[id];
    return "unknown";
}

/* ---- buffered output ---------------------------------------------------- */

/* Checksums go to disk in xxHash's canonical (big-endian) form. */
static void put_sum(uint8_t *p, XXH64_hash_t h)
{
    XXH64_canonical_t c;
    XXH64_canonicalFromHash(&c, h);
    memcpy(p, c.digest, sizeof c.digest);
}

int cpq_out_init(cpq_out *o, int fd, cpq_errinfo *e)
{
    memset(o, 0, sizeof *o);
    o->fd = fd;
    o->e = e;
    o->off = CPQ_HEADER_SIZE;
    o->xs = XXH3_createState();
    if (!o->xs) return o->rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    return CPQ_OK;
}

static void out_flush(cpq_out *o)
{
    if (o->rc || !o->blen) return;
    if (cpq_pwrite_all(o->fd, o->buf, o->blen, o->off)) {
        o->rc = cpq_err_set(o->e, CPQ_EIO, "writing the index: %s", strerror(errno));
        return;
    }
    o->off += o->blen;
    o->blen = 0;
}

void cpq_out_begin(cpq_out *o, uint32_t id)
{
    if (o->rc) return;
    if (o->nsec >= CPQ_MAX_SECTIONS) { o->rc = cpq_err_set(o->e, CPQ_ELIMIT, "too many sections"); return; }
    o->cur = (int)id;
    o->cur_start = o->off + o->blen;
    XXH3_64bits_reset(o->xs);
}

void cpq_out_write(cpq_out *o, const void *d, size_t n)
{
    const uint8_t *p = d;
    if (o->rc || !n) return;
    XXH3_64bits_update(o->xs, p, n);
    while (n) {
        size_t room = sizeof o->buf - o->blen;
        if (n >= sizeof o->buf && o->blen == 0) {
            /* Large writes go straight to the file. */
            if (cpq_pwrite_all(o->fd, p, n, o->off)) {
                o->rc = cpq_err_set(o->e, CPQ_EIO, "writing the index: %s", strerror(errno));
                return;
            }
            o->off += n;
            return;
        }
        size_t k = n < room ? n : room;
        memcpy(o->buf + o->blen, p, k);
        o->blen += k; p += k; n -= k;
        if (o->blen == sizeof o->buf) {
            out_flush(o);
            if (o->rc) return;
        }
    }
}

void cpq_out_end(cpq_out *o)
{
    if (o->rc) return;
    uint32_t i = o->nsec++;
    o->sec[i].id = (uint32_t)o->cur;
    o->sec[i].off = o->cur_start;
    o->sec[i].len = o->off + o->blen - o->cur_start;
    o->sec[i].sum = XXH3_64bits_digest(o->xs);
    o->cur = 0;
}

int cpq_out_finish(cpq_out *o)
{
    uint8_t toc[CPQ_MAX_SECTIONS * CPQ_TOC_ENTRY], hdr[CPQ_HEADER_SIZE];
    if (o->rc) return o->rc;
    for (uint32_t i = 0; i < o->nsec; i++) {
        uint8_t *t = toc + i * CPQ_TOC_ENTRY;
        cpq_put32(t, o->sec[i].id);
        cpq_put32(t + 4, 0);
        cpq_put64(t + 8, o->sec[i].off);
        cpq_put64(t + 16, o->sec[i].len);
        put_sum(t + 24, o->sec[i].sum);
    }
    size_t toclen = (size_t)o->nsec * CPQ_TOC_ENTRY;
    uint64_t tocoff = o->off + o->blen;
    /* The TOC is not a section; the header carries its checksum. */
    o->cur = 0;
    XXH3_64bits_reset(o->xs);
    cpq_out_write(o, toc, toclen);
    out_flush(o);
    if (o->rc) return o->rc;
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, CPQ_MAGIC, CPQ_MAGIC_LEN);
    cpq_put32(hdr + 8, CPQ_FORMAT_VERSION);
    cpq_put32(hdr + 12, 0);
    cpq_put32(hdr + 16, o->nsec);
    cpq_put32(hdr + 20, CPQ_HEADER_SIZE);
    cpq_put64(hdr + 24, tocoff);
    cpq_put64(hdr + 32, o->off);
    put_sum(hdr + 40, XXH3_64bits(toc, toclen));
    cpq_put64(hdr + 48, 0);
    put_sum(hdr + 56, XXH3_64bits(hdr, 56));
    if (cpq_pwrite_all(o->fd, hdr, sizeof hdr, 0))
        o->rc = cpq_err_set(o->e, CPQ_EIO, "writing the index header: %s", strerror(errno));
    return o->rc;
}

void cpq_out_free(cpq_out *o)
{
    if (o->xs) XXH3_freeState(o->xs);
    o->xs = NULL;
}

/* ---- the final merge ------------------------------------------------------ */

typedef struct term_writer {
    cpq_out *o;
    cpq_errinfo *e;
    const uint32_t *lengths;
    uint64_t npassages;
    float avglen, idf;
    /* current term */
    uint32_t n;              /* postings in the open block */
    uint32_t ids[CPQ_BLOCK], tfs[CPQ_BLOCK];
    uint32_t prev;           /* last id of the previous block (UINT32_MAX: none) */
    cpq_buf posbuf;          /* positions of the open block */
    cpq_buf skips;
    uint32_t nblocks;
    uint64_t term_post, term_pos;  /* bytes of the term written so far */
    /* postings temp file */
    int pfd;
    uint64_t poff;
    cpq_buf pbuf;
    /* dictionary */
    cpq_buf terms, tindex;
    uint64_t post_total, pos_total;  /* section offsets of the next term */
    char prevterm[CPQ_TERM_MAX];
    size_t prevlen;
    uint64_t nterms;
} term_writer;

static int tw_flush_postings(term_writer *w)
{
    if (w->pbuf.oom) return cpq_err_set(w->e, CPQ_ENOMEM, "out of memory");
    if (cpq_pwrite_all(w->pfd, w->pbuf.p, w->pbuf.len, w->poff))
        return cpq_err_set(w->e, CPQ_EIO, "writing temporary postings: %s", strerror(errno));
    w->poff += w->pbuf.len;
    w->pbuf.len = 0;
    return CPQ_OK;
}

static int tw_block(term_writer *w)
{
    uint8_t enc[CPQ_BLOCK_MAXBYTES];
    size_t k = cpq_block_encode(w->prev, w->ids, w->tfs, w->n, enc);
    float maxs = 0;
    uint32_t maxtf = 0, minlen = UINT32_MAX;
    for (uint32_t i = 0; i < w->n; i++) {
        uint32_t len = w->lengths[w->ids[i]];
        float s = cpq_bm25(w->idf, w->tfs[i], len, w->avglen, CPQ_BM25_K1, CPQ_BM25_B);
        if (s > maxs) maxs = s;
        if (w->tfs[i] > maxtf) maxtf = w->tfs[i];
        if (len < minlen) minlen = len;
    }
    if (w->term_post > UINT32_MAX)
        return cpq_err_set(w->e, CPQ_ELIMIT, "postings of one term exceed 4 GiB");
    uint8_t sk[CPQ_SKIP_ENTRY];
    cpq_put32(sk, w->ids[w->n - 1]);
    cpq_put32(sk + 4, (uint32_t)w->term_post);
    cpq_put64(sk + 8, w->term_pos);
    cpq_putf32(sk + 16, cpq_round_up(maxs));
    cpq_put32(sk + 20, maxtf);
    cpq_put32(sk + 24, minlen);
    cpq_put32(sk + 28, 0);
    cpq_buf_add(&w->skips, sk, sizeof sk);
    cpq_buf_add(&w->pbuf, enc, k);
    cpq_out_write(w->o, w->posbuf.p, w->posbuf.len);
    w->term_post += k;
    w->term_pos += w->posbuf.len;
    w->prev = w->ids[w->n - 1];
    w->posbuf.len = 0;
    w->n = 0;
    w->nblocks++;
    if (w->skips.oom || w->posbuf.oom) return cpq_err_set(w->e, CPQ_ENOMEM, "out of memory");
    if (w->pbuf.len >= (1 << 20)) return tw_flush_postings(w);
    return w->o->rc;
}

static void tw_term_start(term_writer *w, uint64_t df)
{
    w->idf = cpq_bm25_idf(w->npassages, df);
    w->n = 0;
    w->prev = UINT32_MAX;
    w->posbuf.len = 0;
    w->skips.len = 0;
    w->nblocks = 0;
    w->term_post = w->term_pos = 0;
}

static int tw_term_end(term_writer *w, const char *term, size_t len, uint64_t df)
{
    int rc;
    if (w->n && (rc = tw_block(w))) return rc;
    if (w->nblocks > 1) {
        cpq_buf_add(&w->pbuf, w->skips.p, w->skips.len);
        w->term_post += w->skips.len;
    }
    /* Dictionary entry, front-coded within blocks of CPQ_TERMS_PER_BLOCK. */
    size_t pre = 0;
    if (w->nterms % CPQ_TERMS_PER_BLOCK == 0) {
        uint8_t ti[CPQ_TERMINDEX_ENTRY];
        if (w->terms.len > UINT32_MAX) return cpq_err_set(w->e, CPQ_ELIMIT, "term dictionary exceeds 4 GiB");
        cpq_put32(ti, (uint32_t)w->terms.len);
        cpq_put32(ti + 4, 0);
        cpq_put64(ti + 8, w->post_total);
        cpq_put64(ti + 16, w->pos_total);
        cpq_buf_add(&w->tindex, ti, sizeof ti);
    } else {
        while (pre < len && pre < w->prevlen && term[pre] == w->prevterm[pre]) pre++;
    }
    uint8_t h[2] = { (uint8_t)pre, (uint8_t)(len - pre) };
    cpq_buf_add(&w->terms, h, 2);
    cpq_buf_add(&w->terms, term + pre, len - pre);
    cpq_buf_varint(&w->terms, df);
    cpq_buf_varint(&w->terms, w->term_post);
    cpq_buf_varint(&w->terms, w->term_pos);
    memcpy(w->prevterm, term, len);
    w->prevlen = len;
    w->post_total += w->term_post;
    w->pos_total += w->term_pos;
    w->nterms++;
    if (w->terms.oom || w->tindex.oom || w->pbuf.oom) return cpq_err_set(w->e, CPQ_ENOMEM, "out of memory");
    return w->o->rc;
}

/* Decode one run record's postings (run encoding) and feed the blocks. */
static int tw_feed(term_writer *w, const uint8_t *p, size_t n, uint64_t base, uint64_t run_np)
{
    const uint8_t *end = p + n;
    uint64_t lp = (uint64_t)-1;
    while (p < end) {
        uint64_t g, v;
        size_t k = cpq_varint_get(p, (size_t)(end - p), &g);
        if (!k || g == 0) return cpq_err_set(w->e, CPQ_ECORRUPT, "run: bad gap");
        p += k;
        lp += g;
        if (lp >= run_np) return cpq_err_set(w->e, CPQ_ECORRUPT, "run: passage out of range");
        uint64_t id = base + lp;
        uint32_t tf = 0, plen = w->lengths[id];
        uint64_t pos = 0;
        for (;;) {
            k = cpq_varint_get(p, (size_t)(end - p), &v);
            if (!k) return cpq_err_set(w->e, CPQ_ECORRUPT, "run: bad position");
            p += k;
            if (v == 0) break;
            pos = tf ? pos + v : v - 1;
            if (pos >= plen) return cpq_err_set(w->e, CPQ_ECORRUPT, "run: position out of range");
            cpq_buf_varint(&w->posbuf, v - 1);
            tf++;
        }
        if (tf == 0) return cpq_err_set(w->e, CPQ_ECORRUPT, "run: empty posting");
        w->ids[w->n] = (uint32_t)id;
        w->tfs[w->n] = tf;
        if (++w->n == CPQ_BLOCK) {
            int rc = tw_block(w);
            if (rc) return rc;
        }
    }
    return CPQ_OK;
}

static int rr_less(const cpq_run_reader *a, const cpq_run_reader *b)
{
    size_t n = a->termlen < b->termlen ? a->termlen : b->termlen;
    int c = memcmp(a->term, b->term, n);
    return c < 0 || (c == 0 && a->termlen < b->termlen);
}

/* Heap order: by term, ties by run index, so the runs holding one term pop
 * out in run (= passage) order. */
static int heap_less(const cpq_run_reader *rr, size_t a, size_t b)
{
    return rr_less(&rr[a], &rr[b]) || (!rr_less(&rr[b], &rr[a]) && a < b);
}

static void heap_down(size_t *heap, size_t hn, size_t i, const cpq_run_reader *rr)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < hn && heap_less(rr, heap[l], heap[m])) m = l;
        if (l + 1 < hn && heap_less(rr, heap[l + 1], heap[m])) m = l + 1;
        if (m == i) return;
        size_t t = heap[i]; heap[i] = heap[m]; heap[m] = t;
        i = m;
    }
}

static void heap_up(size_t *heap, size_t i, const cpq_run_reader *rr)
{
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!heap_less(rr, heap[i], heap[par])) return;
        size_t t = heap[i]; heap[i] = heap[par]; heap[par] = t;
        i = par;
    }
}

static int rr_same(const cpq_run_reader *a, const char *t, size_t tl)
{
    return !a->eof && a->termlen == tl && !memcmp(a->term, t, tl);
}

int cpq_write_postings(cpq_out *o, cpq_final *f, cpq_errinfo *e)
{
    int rc = CPQ_OK;
    size_t n = f->nruns;
    term_writer w;
    memset(&w, 0, sizeof w);
    w.o = o; w.e = e;
    w.lengths = f->lengths;
    w.npassages = f->npassages;
    w.avglen = f->npassages ? (float)((double)f->tokens / (double)f->npassages) : 1.0f;
    if (w.avglen <= 0) w.avglen = 1.0f;
    w.pfd = -1;
    cpq_run_reader *rr = calloc(n ? n : 1, sizeof *rr);
    size_t *heap = calloc(n ? n : 1, sizeof *heap);
    if (!rr || !heap) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < n; i++) rr[i].fd = -1;
    w.pfd = cpq_tmpfile(f->tmpdir, e);
    if (w.pfd < 0) { rc = e ? e->code : CPQ_EIO; goto done; }
    for (size_t i = 0; i < n; i++)
        if ((rc = cpq_run_reader_open(&rr[i], &f->runs[i], e))) goto done;

    uint64_t total_bytes = 0;
    for (size_t i = 0; i < n; i++)
        total_bytes += f->runs[i].fd < 0 ? f->runs[i].mem.len : f->runs[i].file_len;

    cpq_out_begin(o, CPQ_SEC_POSITIONS);
    /* A binary min-heap of run indexes keyed by (term, run index). */
    size_t hn = 0;
    for (size_t i = 0; i < n; i++)
        if (!rr[i].eof) heap[hn++] = i;
    for (size_t i = hn / 2; i-- > 0;) heap_down(heap, hn, i, rr);
    char term[CPQ_TERM_MAX];
    uint64_t ticks = 0;
    while (hn) {
        size_t first = heap[0];
        size_t tl = rr[first].termlen;
        memcpy(term, rr[first].term, tl);
        /* Pop every run holding this term, in run order (the heap breaks
         * ties by run index, so pops come out ordered). */
        size_t take[1024], nt = 0;
        size_t *takev = take;
        size_t *big = NULL;
        if (n > 1024) {
            big = malloc(n * sizeof *big);
            if (!big) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
            takev = big;
        }
        while (hn && rr_same(&rr[heap[0]], term, tl)) {
            takev[nt++] = heap[0];
            heap[0] = heap[--hn];
            heap_down(heap, hn, 0, rr);
        }
        uint64_t df = 0;
        for (size_t j = 0; j < nt; j++) df += rr[takev[j]].df;
        if (df > f->npassages) { free(big); rc = cpq_err_set(e, CPQ_ECORRUPT, "run: df out of range"); goto done; }
        tw_term_start(&w, df);
        for (size_t j = 0; j < nt && !rc; j++) {
            cpq_run_reader *r = &rr[takev[j]];
            rc = tw_feed(&w, r->post, (size_t)r->bytes, f->runs[takev[j]].base, f->runs[takev[j]].npassages);
        }
        if (!rc) rc = tw_term_end(&w, term, tl, df);
        for (size_t j = 0; j < nt && !rc; j++) {
            size_t ri = takev[j];
            rc = cpq_run_reader_next(&rr[ri], e);
            if (!rc && !rr[ri].eof) {
                heap[hn] = ri;
                heap_up(heap, hn++, rr);
            }
        }
        free(big);
        if (rc) goto done;
        if (o->rc) { rc = o->rc; goto done; }
        if (f->progress && (++ticks & 4095) == 0 && total_bytes) {
            uint64_t used = 0;
            for (size_t i = 0; i < n; i++) {
                if (rr[i].fd < 0) used += (uint64_t)(rr[i].p - f->runs[i].mem.p);
                else used += rr[i].foff - (rr[i].flen - rr[i].fpos);
            }
            f->prog->phase = 1;
            f->prog->merge_fraction = (double)used / (double)total_bytes;
            f->progress(f->progress_ctx, f->prog);
        }
    }
    cpq_out_end(o);
    if ((rc = tw_flush_postings(&w))) goto done;

    /* Copy the postings from the temporary file into their section. */
    cpq_out_begin(o, CPQ_SEC_POSTINGS);
    {
        uint8_t *cb = malloc(1 << 20);
        if (!cb) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
        for (uint64_t off = 0; off < w.poff && !o->rc;) {
            size_t k = w.poff - off < (1 << 20) ? (size_t)(w.poff - off) : (1 << 20);
            if (cpq_pread_all(w.pfd, cb, k, off)) {
                rc = cpq_err_set(e, CPQ_EIO, "reading temporary postings: %s", strerror(errno));
                break;
            }
            cpq_out_write(o, cb, k);
            off += k;
        }
        free(cb);
        if (rc) goto done;
    }
    cpq_out_end(o);
    cpq_out_begin(o, CPQ_SEC_TERMS);
    cpq_out_write(o, w.terms.p, w.terms.len);
    cpq_out_end(o);
    cpq_out_begin(o, CPQ_SEC_TERMINDEX);
    cpq_out_write(o, w.tindex.p, w.tindex.len);
    cpq_out_end(o);
    rc = o->rc;
    f->nterms = w.nterms;
done:
    if (rr)
        for (size_t i = 0; i < n; i++) cpq_run_reader_close(&rr[i]);
    free(rr);
    free(heap);
    if (w.pfd >= 0) close(w.pfd);
    cpq_buf_free(&w.posbuf);
    cpq_buf_free(&w.skips);
    cpq_buf_free(&w.pbuf);
    cpq_buf_free(&w.terms);
    cpq_buf_free(&w.tindex);
    return rc;
}
