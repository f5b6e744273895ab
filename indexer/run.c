/*
 * run.c - turning analysed passages into sorted runs of postings, reading
 * runs back, and merging in-memory runs into one spilled run.
 *
 * A runner keeps an open-addressing hash table of the terms seen since the
 * last reset; each term owns a growable byte buffer of its postings in run
 * encoding (build_int.h).  Positions are appended as tokens arrive, and a
 * posting's terminating 0 is written lazily when the term next appears in
 * another passage, or at emit time; so no per-passage sort is needed.
 */
#include "build_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- byte buffers ----------------------------------------------------- */

int cpq_buf_reserve(cpq_buf *b, size_t extra)
{
    if (b->oom) return -1;
    if (b->cap - b->len >= extra) return 0;
    size_t nc = b->cap ? b->cap : 64;
    while (nc - b->len < extra) {
        if (nc > SIZE_MAX / 2) { b->oom = 1; return -1; }
        nc *= 2;
    }
    uint8_t *np = realloc(b->p, nc);
    if (!np) { b->oom = 1; return -1; }
    b->p = np;
    b->cap = nc;
    return 0;
}

void cpq_buf_add(cpq_buf *b, const void *d, size_t n)
{
    if (n == 0 || cpq_buf_reserve(b, n)) return;
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

void cpq_buf_varint(cpq_buf *b, uint64_t v)
{
    if (cpq_buf_reserve(b, CPQ_VARINT_MAX)) return;
    b->len += cpq_varint_put(b->p + b->len, v);
}

void cpq_buf_u32(cpq_buf *b, uint32_t v)
{
    if (cpq_buf_reserve(b, 4)) return;
    cpq_put32(b->p + b->len, v);
    b->len += 4;
}

void cpq_buf_u64(cpq_buf *b, uint64_t v)
{
    if (cpq_buf_reserve(b, 8)) return;
    cpq_put64(b->p + b->len, v);
    b->len += 8;
}

void cpq_buf_free(cpq_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- files ------------------------------------------------------------ */

int cpq_tmpfile(const char *dir, cpq_errinfo *e)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/.cpq-spill.XXXXXX", dir && *dir ? dir : ".");
    if (n < 0 || (size_t)n >= sizeof path)
        return cpq_err_set(e, CPQ_EINVAL, "temporary directory path too long: %s", dir), -1;
    int fd = mkstemp(path);
    if (fd < 0) {
        cpq_err_set(e, CPQ_EIO, "cannot create a temporary file in %s: %s", dir, strerror(errno));
        return -1;
    }
    /* Unlinked at once: a killed build leaves nothing behind. */
    unlink(path);
    return fd;
}

int cpq_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) { errno = ENOSPC; return -1; }
        p += w; n -= (size_t)w; off += (uint64_t)w;
    }
    return 0;
}

int cpq_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) { errno = EIO; return -1; }
        p += r; n -= (size_t)r; off += (uint64_t)r;
    }
    return 0;
}

/* ---- the runner -------------------------------------------------------- */

/* Terms live densely in `ents` (insertion order); the open-addressing table
 * holds only (hash, index + 1) pairs, 8 bytes a slot, so a probe touches one
 * cache line and the entry is visited once it is known to match. */
typedef struct term_ent {
    uint32_t koff;           /* key offset in the key arena */
    uint8_t klen;
    uint32_t df;
    uint32_t last_lp;        /* local passage of the open posting */
    uint32_t last_pos;
    cpq_buf post;
} term_ent;

#define RING 8

typedef struct pending_tok {
    char term[CPQ_TERM_MAX];
    uint8_t len;
    uint32_t pos;
    uint32_t hash;
} pending_tok;

typedef struct slot {
    uint32_t hash;
    uint32_t idx;            /* index into ents + 1; 0 = empty */
} slot;

struct cpq_runner {
    cpq_analyzer *an;
    slot *tab;
    size_t tabcap;           /* a power of two */
    term_ent *ents;
    size_t nterms, entcap;
    cpq_buf keys;            /* key arena */
    uint32_t lp;             /* passage being analysed */
    pending_tok ring[RING];  /* tokens whose slot is being prefetched */
    unsigned ring_head, ring_n;
    size_t postbytes;
    int oom;
};

static uint32_t hash_term(const char *s, size_t n)
{
    return (uint32_t)XXH3_64bits(s, n);
}

int cpq_runner_create(const cpq_analysis_cfg *cfg, cpq_runner **out, cpq_errinfo *e)
{
    *out = NULL;
    cpq_runner *r = calloc(1, sizeof *r);
    if (!r) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    int rc = cpq_analyzer_create(cfg, &r->an, e);
    if (rc) { free(r); return rc; }
    r->tabcap = 1 << 15;
    r->tab = calloc(r->tabcap, sizeof *r->tab);
    r->entcap = r->tabcap / 2;
    r->ents = malloc(r->entcap * sizeof *r->ents);
    if (!r->tab || !r->ents) {
        cpq_runner_free(r);
        return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    }
    *out = r;
    return CPQ_OK;
}

void cpq_runner_reset(cpq_runner *r)
{
    for (size_t i = 0; i < r->nterms; i++) cpq_buf_free(&r->ents[i].post);
    memset(r->tab, 0, r->tabcap * sizeof *r->tab);
    r->nterms = 0;
    r->keys.len = 0;
    r->postbytes = 0;
    r->oom = 0;
}

void cpq_runner_free(cpq_runner *r)
{
    if (!r) return;
    if (r->ents)
        for (size_t i = 0; i < r->nterms; i++) cpq_buf_free(&r->ents[i].post);
    free(r->ents);
    free(r->tab);
    cpq_buf_free(&r->keys);
    cpq_analyzer_free(r->an);
    free(r);
}

size_t cpq_runner_memory(const cpq_runner *r)
{
    return r->tabcap * sizeof *r->tab + r->entcap * sizeof *r->ents + r->keys.cap + r->postbytes;
}

static int grow_table(cpq_runner *r)
{
    size_t nc = r->tabcap * 2;
    slot *nt = calloc(nc, sizeof *nt);
    term_ent *ne = realloc(r->ents, nc / 2 * sizeof *ne);
    if (!nt || !ne) {
        free(nt);
        if (ne) r->ents = ne;
        return -1;
    }
    r->ents = ne;
    r->entcap = nc / 2;
    for (size_t i = 0; i < r->tabcap; i++) {
        if (!r->tab[i].idx) continue;
        size_t j = r->tab[i].hash & (nc - 1);
        while (nt[j].idx) j = (j + 1) & (nc - 1);
        nt[j] = r->tab[i];
    }
    free(r->tab);
    r->tab = nt;
    r->tabcap = nc;
    return 0;
}

static int add_token(cpq_runner *r, const char *term, size_t len, uint32_t pos, uint32_t h)
{
    size_t mask = r->tabcap - 1, j = h & mask;
    term_ent *e;
    for (;;) {
        slot *s = &r->tab[j];
        if (!s->idx) break;
        if (s->hash == h) {
            e = &r->ents[s->idx - 1];
            if (e->klen == len && !memcmp(r->keys.p + e->koff, term, len)) goto found;
        }
        j = (j + 1) & mask;
    }
    /* New term: the table stays at most half full, so ents has room. */
    if (r->keys.len > UINT32_MAX - CPQ_TERM_MAX) { r->oom = 1; return CPQ_ELIMIT; }
    e = &r->ents[r->nterms];
    memset(e, 0, sizeof *e);
    e->koff = (uint32_t)r->keys.len;
    e->klen = (uint8_t)len;
    cpq_buf_add(&r->keys, term, len);
    if (r->keys.oom) { r->oom = 1; return CPQ_ENOMEM; }
    r->tab[j].hash = h;
    r->tab[j].idx = (uint32_t)++r->nterms;
    /* Grow on reaching half: ents holds tabcap / 2 entries, and the next
     * new term is written at ents[nterms] before any check.  (This was
     * "> tabcap": the 16,385th distinct term of a batch then wrote one
     * entry past ents - found by ASan on a 50,000-word vocabulary.) */
    if (r->nterms * 2 >= r->tabcap) {
        size_t idx = r->nterms - 1;
        if (grow_table(r)) { r->oom = 1; return CPQ_ENOMEM; }
        e = &r->ents[idx];
    }
found:;
    /* At most three varints are appended: reserve once, write raw. */
    size_t before = e->post.cap;
    if (cpq_buf_reserve(&e->post, 3 * CPQ_VARINT_MAX)) { r->oom = 1; return CPQ_ENOMEM; }
    uint8_t *w = e->post.p + e->post.len;
    if (e->df == 0 || e->last_lp != r->lp) {
        if (e->df) *w++ = 0;
        w += cpq_varint_put(w, e->df ? (uint64_t)(r->lp - e->last_lp) : (uint64_t)r->lp + 1);
        w += cpq_varint_put(w, (uint64_t)pos + 1);
        e->df++;
        e->last_lp = r->lp;
    } else {
        w += cpq_varint_put(w, (uint64_t)(pos - e->last_pos));
    }
    e->post.len = (size_t)(w - e->post.p);
    e->last_pos = pos;
    r->postbytes += e->post.cap - before;
    return 0;
}

/* Tokens wait in a small ring while their hash slot's cache line is
 * prefetched: the table is far larger than the caches, and a miss per
 * token was the largest single cost of indexing (perf). */
static int drain_one(cpq_runner *r)
{
    pending_tok *p = &r->ring[r->ring_head];
    r->ring_head = (r->ring_head + 1) % RING;
    r->ring_n--;
    return add_token(r, p->term, p->len, p->pos, p->hash);
}

static int on_token(void *ctx, const cpq_token *t)
{
    cpq_runner *r = ctx;
    uint32_t h = hash_term(t->term, t->len);
    __builtin_prefetch(&r->tab[h & (r->tabcap - 1)]);
    int rc = 0;
    if (r->ring_n == RING) rc = drain_one(r);
    pending_tok *p = &r->ring[(r->ring_head + r->ring_n) % RING];
    memcpy(p->term, t->term, t->len);
    p->len = (uint8_t)t->len;
    p->pos = t->pos;
    p->hash = h;
    r->ring_n++;
    return rc;
}

int cpq_runner_passage(cpq_runner *r, uint32_t lp, const char *text, size_t len, uint32_t *tokens)
{
    r->lp = lp;
    uint32_t npos = 0;
    int rc = cpq_analyze(r->an, text, len, 0, on_token, r, &npos);
    while (r->ring_n && !rc) rc = drain_one(r);
    r->ring_n = 0;
    r->ring_head = 0;
    *tokens = npos;
    if (rc || r->oom) return rc ? rc : CPQ_ENOMEM;
    return CPQ_OK;
}

/* qsort has no context argument in C11; the comparator reads the keys
 * through a thread-local pointer. */
static _Thread_local const cpq_runner *tl_runner;

static int cmp_ent_tl(const void *a, const void *b)
{
    const term_ent *x = *(term_ent *const *)a, *y = *(term_ent *const *)b;
    const uint8_t *k = tl_runner->keys.p;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(k + x->koff, k + y->koff, n);
    if (c) return c;
    return (int)x->klen - (int)y->klen;
}

int cpq_runner_emit(cpq_runner *r, uint32_t npassages, cpq_buf *out)
{
    term_ent **v = malloc((r->nterms ? r->nterms : 1) * sizeof *v);
    if (!v) return CPQ_ENOMEM;
    size_t n = r->nterms, total = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = &r->ents[i];
        total += r->ents[i].post.len + r->ents[i].klen + 32;
    }
    tl_runner = r;
    qsort(v, n, sizeof *v, cmp_ent_tl);
    cpq_buf_reserve(out, total + 16);
    cpq_buf_varint(out, npassages);
    for (size_t i = 0; i < n; i++) {
        term_ent *e = v[i];
        cpq_buf_varint(out, e->klen);
        cpq_buf_add(out, r->keys.p + e->koff, e->klen);
        cpq_buf_varint(out, e->df);
        cpq_buf_varint(out, e->last_lp);
        cpq_buf_varint(out, e->post.len + 1);
        cpq_buf_add(out, e->post.p, e->post.len);
        cpq_buf_varint(out, 0);
    }
    cpq_buf_varint(out, 0);
    free(v);
    return out->oom ? CPQ_ENOMEM : CPQ_OK;
}

/* ---- run readers ------------------------------------------------------ */

#define RR_CHUNK (1 << 16)

/* File source: make at least need bytes available at fbuf[fpos..flen)
 * (fewer only at end of file). */
static int rr_fill(cpq_run_reader *rr, size_t need, cpq_errinfo *e)
{
    if (rr->flen - rr->fpos >= need) return CPQ_OK;
    memmove(rr->fbuf, rr->fbuf + rr->fpos, rr->flen - rr->fpos);
    rr->flen -= rr->fpos;
    rr->fpos = 0;
    if (need > rr->fcap) {
        uint8_t *nb = realloc(rr->fbuf, need);
        if (!nb) return cpq_err_set(e, CPQ_ENOMEM, "out of memory reading a spill run");
        rr->fbuf = nb;
        rr->fcap = need;
    }
    uint64_t left = rr->run->file_len - rr->foff;
    size_t want = rr->fcap - rr->flen;
    if (want > left) want = (size_t)left;
    if (want && cpq_pread_all(rr->fd, rr->fbuf + rr->flen, want, rr->foff))
        return cpq_err_set(e, CPQ_EIO, "reading a spill run: %s", strerror(errno));
    rr->flen += want;
    rr->foff += want;
    return CPQ_OK;
}

static int rr_varint(cpq_run_reader *rr, uint64_t *v, cpq_errinfo *e)
{
    size_t k;
    if (rr->fd < 0) {
        k = cpq_varint_get(rr->p, (size_t)(rr->end - rr->p), v);
        if (!k) return cpq_err_set(e, CPQ_ECORRUPT, "run: bad varint");
        rr->p += k;
        return CPQ_OK;
    }
    int rc = rr_fill(rr, CPQ_VARINT_MAX, e);
    if (rc) return rc;
    k = cpq_varint_get(rr->fbuf + rr->fpos, rr->flen - rr->fpos, v);
    if (!k) return cpq_err_set(e, CPQ_ECORRUPT, "spill run: bad varint");
    rr->fpos += k;
    return CPQ_OK;
}

static int rr_bytes(cpq_run_reader *rr, size_t n, const uint8_t **out, cpq_errinfo *e)
{
    if (rr->fd < 0) {
        if ((size_t)(rr->end - rr->p) < n) return cpq_err_set(e, CPQ_ECORRUPT, "run: truncated");
        *out = rr->p;
        rr->p += n;
        return CPQ_OK;
    }
    int rc = rr_fill(rr, n < RR_CHUNK ? RR_CHUNK : n, e);
    if (rc) return rc;
    if (rr->flen - rr->fpos < n) return cpq_err_set(e, CPQ_ECORRUPT, "spill run: truncated");
    *out = rr->fbuf + rr->fpos;
    rr->fpos += n;
    return CPQ_OK;
}

int cpq_run_reader_open(cpq_run_reader *rr, const cpq_run *run, cpq_errinfo *e)
{
    memset(rr, 0, sizeof *rr);
    rr->run = run;
    rr->fd = run->fd;
    if (run->fd < 0) {
        rr->p = run->mem.p;
        rr->end = run->mem.p + run->mem.len;
    } else {
        rr->fcap = RR_CHUNK;
        rr->fbuf = malloc(rr->fcap);
        if (!rr->fbuf) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    }
    uint64_t np;
    int rc = rr_varint(rr, &np, e);
    if (rc) return rc;
    if (np != run->npassages) return cpq_err_set(e, CPQ_ECORRUPT, "run: passage count mismatch");
    return cpq_run_reader_next(rr, e);
}

int cpq_run_reader_next(cpq_run_reader *rr, cpq_errinfo *e)
{
    uint64_t klen;
    const uint8_t *k = NULL;
    int rc = rr_varint(rr, &klen, e);
    if (rc) return rc;
    if (klen == 0) { rr->eof = 1; return CPQ_OK; }
    if (klen > CPQ_TERM_MAX) return cpq_err_set(e, CPQ_ECORRUPT, "run: term too long");
    if ((rc = rr_bytes(rr, (size_t)klen, &k, e))) return rc;
    memcpy(rr->term, k, (size_t)klen);
    rr->termlen = (size_t)klen;
    if ((rc = rr_varint(rr, &rr->df, e)) || (rc = rr_varint(rr, &rr->last, e)) ||
        (rc = rr_varint(rr, &rr->bytes, e)))
        return rc;
    if (rr->df == 0 || rr->last >= rr->run->npassages || rr->bytes > SIZE_MAX / 2)
        return cpq_err_set(e, CPQ_ECORRUPT, "run: bad term record");
    if (rr->fd < 0)
        return rr_bytes(rr, (size_t)rr->bytes, &rr->post, e);
    /* File source: copy the record out, the fill buffer moves on. */
    const uint8_t *src;
    if ((rc = rr_bytes(rr, (size_t)rr->bytes, &src, e))) return rc;
    rr->hold.len = 0;
    cpq_buf_add(&rr->hold, src, (size_t)rr->bytes);
    if (rr->hold.oom) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    rr->post = rr->hold.p;
    return CPQ_OK;
}

void cpq_run_reader_close(cpq_run_reader *rr)
{
    free(rr->fbuf);
    cpq_buf_free(&rr->hold);
    memset(rr, 0, sizeof *rr);
    rr->fd = -1;
}

void cpq_run_free(cpq_run *r)
{
    if (!r) return;
    cpq_buf_free(&r->mem);
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}

/* ---- merging runs into a spilled run ---------------------------------- */

static int term_cmp(const cpq_run_reader *a, const cpq_run_reader *b)
{
    size_t n = a->termlen < b->termlen ? a->termlen : b->termlen;
    int c = memcmp(a->term, b->term, n);
    if (c) return c;
    return (a->termlen > b->termlen) - (a->termlen < b->termlen);
}

static int flush_out(int fd, cpq_buf *b, uint64_t *off, cpq_errinfo *e)
{
    if (b->oom) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    if (cpq_pwrite_all(fd, b->p, b->len, *off))
        return cpq_err_set(e, CPQ_EIO, "writing a spill run: %s", strerror(errno));
    *off += b->len;
    b->len = 0;
    return CPQ_OK;
}

int cpq_runs_merge_spill(cpq_run *runs, size_t n, const char *dir, cpq_run *out, cpq_errinfo *e)
{
    int rc = CPQ_OK;
    cpq_run_reader *rr = calloc(n ? n : 1, sizeof *rr);
    cpq_buf ob = { 0 }, rec = { 0 };
    uint64_t off = 0, total = 0;
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (!rr) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) rr[i].fd = -1;
    out->base = n ? runs[0].base : 0;
    for (size_t i = 0; i < n; i++) total += runs[i].npassages;
    out->npassages = total;
    out->fd = cpq_tmpfile(dir, e);
    if (out->fd < 0) { rc = e ? e->code : CPQ_EIO; goto done; }
    for (size_t i = 0; i < n; i++)
        if ((rc = cpq_run_reader_open(&rr[i], &runs[i], e))) goto done;
    cpq_buf_varint(&ob, total);
    for (;;) {
        /* Smallest current term; n is small (the runs held in memory). */
        cpq_run_reader *m = NULL;
        for (size_t i = 0; i < n; i++)
            if (!rr[i].eof && (!m || term_cmp(&rr[i], m) < 0)) m = &rr[i];
        if (!m) break;
        uint64_t df = 0, prev_last = 0;
        int first = 1;
        rec.len = 0;
        for (size_t i = 0; i < n; i++) {
            cpq_run_reader *r = &rr[i];
            if (r->eof || term_cmp(r, m) != 0) continue;
            uint64_t gbase = runs[i].base - out->base;   /* local base within the merged run */
            uint64_t g0;
            size_t k = cpq_varint_get(r->post, (size_t)r->bytes, &g0);
            if (!k || g0 == 0) { rc = cpq_err_set(e, CPQ_ECORRUPT, "run: bad first gap"); goto done; }
            uint64_t firstlp = gbase + g0 - 1;
            /* Re-base the first gap, copy the rest verbatim. */
            cpq_buf_varint(&rec, first ? firstlp + 1 : firstlp - prev_last);
            cpq_buf_add(&rec, r->post + k, (size_t)r->bytes - k);
            df += r->df;
            prev_last = gbase + r->last;
            first = 0;
        }
        cpq_buf_varint(&ob, m->termlen);
        cpq_buf_add(&ob, m->term, m->termlen);
        cpq_buf_varint(&ob, df);
        cpq_buf_varint(&ob, prev_last);
        cpq_buf_varint(&ob, rec.len);
        cpq_buf_add(&ob, rec.p, rec.len);
        if (rec.oom) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto done; }
        /* Advance every reader that had this term (compare before advancing m). */
        char t[CPQ_TERM_MAX];
        size_t tl = m->termlen;
        memcpy(t, m->term, tl);
        for (size_t i = 0; i < n; i++) {
            cpq_run_reader *r = &rr[i];
            if (r->eof || r->termlen != tl || memcmp(r->term, t, tl)) continue;
            if ((rc = cpq_run_reader_next(r, e))) goto done;
        }
        if (ob.len >= (1 << 20) && (rc = flush_out(out->fd, &ob, &off, e))) goto done;
    }
    cpq_buf_varint(&ob, 0);
    if ((rc = flush_out(out->fd, &ob, &off, e))) goto done;
    out->file_len = off;
done:
    for (size_t i = 0; i < n; i++) cpq_run_reader_close(&rr[i]);
    free(rr);
    cpq_buf_free(&ob);
    cpq_buf_free(&rec);
    if (rc) cpq_run_free(out);
    return rc;
}
