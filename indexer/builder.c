/*
 * builder.c - the index builder: documents in, one index file out.
 *
 * Pipeline.  cpq_builder_add appends documents to a *batch* (a few MB of
 * text).  A full batch goes to a worker (or is processed inline with one
 * thread): its documents are split into passages, each passage's stored
 * slice is zstd-compressed with the corpus dictionary, and its text is
 * analysed into a *run* (run.c): postings of that batch's passages, sorted
 * by term.  Finished batches are *committed* strictly in input order by
 * the calling thread: passage numbers are assigned, the compressed text is
 * appended to the store section of the output file, and the run is kept.
 * When the runs held in memory pass half the memory budget they are merged
 * into one run in an unlinked temporary file (a spill).  cpq_builder_finish
 * merges every run into the dictionary, postings and positions (writer.c)
 * and writes the tables.
 *
 * The store dictionary is trained on the first stored slices (up to 4 MiB
 * or a quarter of the memory budget): batches wait until that much text
 * has arrived or the input ends.
 *
 * Memory: in-flight batches (threads + 1, each CPQ_BATCH bytes of text
 * plus its tables) + runs held (<= memory / 2) + the passage and document
 * tables (24 bytes a passage, 24 a document plus its id).  The tables are
 * O(passages), not O(text); for corpora of billions of passages they would
 * need spilling too (known limit).
 */
#define ZSTD_STATIC_LINKING_ONLY
#define ZDICT_STATIC_LINKING_ONLY
#include "build_int.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zdict.h>
#include <zstd.h>

#include "passage.h"

#define TRAIN_MAX ((size_t)4 << 20)
#define DICT_MAX ((size_t)256 << 10)
#define ZSTD_LEVEL_DEFAULT 3

typedef struct bpassage {
    uint32_t doc, start, len, tokens, csize;
} bpassage;

typedef struct batch {
    struct batch *next;
    uint64_t seq;
    uint32_t first_doc;
    cpq_buf text;
    uint64_t *doff;          /* ndocs + 1 offsets into text */
    size_t ndocs, dcap;
    /* results */
    bpassage *pass;
    size_t npass, pcap;
    cpq_buf store;
    cpq_run run;
    int rc;
    cpq_errinfo err;
    int done;
} batch;

typedef struct worker_ctx {
    cpq_runner *runner;
    ZSTD_CCtx *cctx;
    cpq_spans spans;
    uint8_t *cbuf;
    size_t ccap;
} worker_ctx;

typedef struct doc_rec {
    uint32_t first_passage, npassages;
    uint64_t text_len;
    uint64_t id_off;
    uint32_t id_len;
} doc_rec;

struct cpq_builder {
    cpq_build_opts o;
    char *stopwords;         /* our copy of o.analysis.stopwords */
    char *path, *dir, *tmppath;
    int fd;
    cpq_out out;
    cpq_errinfo oerr;
    int failed;              /* sticky: the first fatal error code */
    cpq_errinfo ferr;
    int finished;

    size_t batch_bytes, train_bytes;
    batch *cur;
    uint64_t next_seq, commit_seq;

    /* dictionary */
    int trained;
    batch *pending, *pending_tail;
    size_t pending_bytes;
    void *dict;
    size_t dictlen;
    ZSTD_CDict *cdict;

    /* threads */
    int nthreads;
    pthread_t *tids;
    struct wstart *wstarts;
    int nstarted;
    worker_ctx *wctx;        /* nthreads contexts (index 0 used inline) */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    batch *q_head, *q_tail;  /* waiting for a worker */
    batch *done_list;        /* finished, not yet committed */
    size_t inflight;
    int stop;

    /* committed state */
    cpq_buf passages;        /* bpassage records in passage order */
    uint32_t *lengths;
    size_t lcap;
    uint64_t npassages, tokens, store_bytes;
    doc_rec *docs;
    size_t ndocs, docs_cap;
    cpq_buf docids;
    cpq_run *runs;
    size_t nruns, runs_cap, mem_runs_bytes;
    uint64_t spilled;
    uint64_t bytes_in;
    uint64_t nterms_out;
    uint64_t index_bytes;

    struct timespec last_prog;
    cpq_build_progress prog;
};

void cpq_build_opts_default(cpq_build_opts *o)
{
    memset(o, 0, sizeof *o);
    cpq_analysis_cfg_default(&o->analysis);
    o->passage_words = CPQ_PASSAGE_WORDS_DEFAULT;
    o->memory = CPQ_MEMORY_DEFAULT;
    o->threads = 0;
    o->zstd_level = ZSTD_LEVEL_DEFAULT;
}

/* ---- fatal errors --------------------------------------------------------- */

static int fail(cpq_builder *b, int rc, const cpq_errinfo *src)
{
    if (!b->failed) {
        b->failed = rc;
        if (src) b->ferr = *src;
        else cpq_err_set(&b->ferr, rc, "%s", cpq_err_str(rc));
        b->ferr.code = rc;
    }
    return b->failed;
}

static int report(cpq_builder *b, cpq_errinfo *e)
{
    if (e) *e = b->ferr;
    return b->failed;
}

/* ---- batches -------------------------------------------------------------- */

static void batch_free(batch *bt)
{
    if (!bt) return;
    cpq_buf_free(&bt->text);
    free(bt->doff);
    free(bt->pass);
    cpq_buf_free(&bt->store);
    cpq_run_free(&bt->run);
    free(bt);
}

static batch *batch_new(cpq_builder *b)
{
    batch *bt = calloc(1, sizeof *bt);
    if (!bt) return NULL;
    bt->run.fd = -1;
    bt->seq = b->next_seq++;
    bt->first_doc = (uint32_t)b->ndocs;
    return bt;
}

static int worker_init(cpq_builder *b, worker_ctx *w, cpq_errinfo *e)
{
    memset(w, 0, sizeof *w);
    int rc = cpq_runner_create(&b->o.analysis, &w->runner, e);
    if (rc) return rc;
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, b->o.zstd_level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_format, ZSTD_f_zstd1_magicless);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_dictIDFlag, 0);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
    return CPQ_OK;
}

static void worker_fini(worker_ctx *w)
{
    cpq_runner_free(w->runner);
    ZSTD_freeCCtx(w->cctx);
    cpq_spans_free(&w->spans);
    free(w->cbuf);
    memset(w, 0, sizeof *w);
}

/* Turn a batch into passages, compressed slices and a run. */
static void process_batch(cpq_builder *b, worker_ctx *w, batch *bt)
{
    int rc = CPQ_OK;
    uint32_t lp = 0;
    if (b->cdict && !bt->rc) ZSTD_CCtx_refCDict(w->cctx, b->cdict);
    cpq_runner_reset(w->runner);
    for (size_t i = 0; i < bt->ndocs && !rc; i++) {
        const char *text = (const char *)bt->text.p + bt->doff[i];
        size_t len = (size_t)(bt->doff[i + 1] - bt->doff[i]);
        w->spans.n = 0;
        if (cpq_passage_split(text, len, b->o.passage_words, &w->spans)) {
            rc = cpq_err_set(&bt->err, CPQ_ENOMEM, "out of memory splitting passages");
            break;
        }
        for (size_t k = 0; k < w->spans.n; k++) {
            const cpq_span *s = &w->spans.v[k];
            size_t sstart = k == 0 ? 0 : s->start;
            size_t send = k + 1 < w->spans.n ? w->spans.v[k + 1].start : len;
            size_t bound = ZSTD_compressBound(send - sstart);
            if (bound > w->ccap) {
                free(w->cbuf);
                w->cbuf = malloc(bound);
                w->ccap = w->cbuf ? bound : 0;
                if (!w->cbuf) { rc = cpq_err_set(&bt->err, CPQ_ENOMEM, "out of memory"); break; }
            }
            size_t c = ZSTD_compress2(w->cctx, w->cbuf, w->ccap, text + sstart, send - sstart);
            if (ZSTD_isError(c)) {
                rc = cpq_err_set(&bt->err, CPQ_EZSTD, "compressing a passage: %s", ZSTD_getErrorName(c));
                break;
            }
            cpq_buf_add(&bt->store, w->cbuf, c);
            uint32_t tokens = 0;
            rc = cpq_runner_passage(w->runner, lp, text + s->start, s->len, &tokens);
            if (rc) { cpq_err_set(&bt->err, rc, "analysing a passage: %s", cpq_err_str(rc)); break; }
            if (bt->npass == bt->pcap) {
                size_t nc = bt->pcap ? bt->pcap * 2 : 256;
                bpassage *np = realloc(bt->pass, nc * sizeof *np);
                if (!np) { rc = cpq_err_set(&bt->err, CPQ_ENOMEM, "out of memory"); break; }
                bt->pass = np;
                bt->pcap = nc;
            }
            bt->pass[bt->npass++] = (bpassage){ bt->first_doc + (uint32_t)i, (uint32_t)s->start,
                                                (uint32_t)s->len, tokens, (uint32_t)c };
            if (++lp == UINT32_MAX) { rc = cpq_err_set(&bt->err, CPQ_ELIMIT, "too many passages"); break; }
        }
    }
    if (!rc && bt->store.oom) rc = cpq_err_set(&bt->err, CPQ_ENOMEM, "out of memory");
    if (!rc) {
        bt->run.npassages = lp;
        rc = cpq_runner_emit(w->runner, lp, &bt->run.mem);
        if (rc) cpq_err_set(&bt->err, rc, "out of memory building a run");
    }
    cpq_runner_reset(w->runner);
    /* The text is no longer needed; free it early to keep memory bounded. */
    cpq_buf_free(&bt->text);
    bt->rc = rc;
}

/* A worker thread's start argument. */
typedef struct wstart { cpq_builder *b; int idx; } wstart;

static void *worker_thread(void *arg)
{
    wstart *ws = arg;
    cpq_builder *b = ws->b;
    worker_ctx *w = &b->wctx[ws->idx];
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->q_head && !b->stop) pthread_cond_wait(&b->cv_work, &b->mu);
        if (!b->q_head) break;
        batch *bt = b->q_head;
        b->q_head = bt->next;
        if (!b->q_head) b->q_tail = NULL;
        pthread_mutex_unlock(&b->mu);
        process_batch(b, w, bt);
        pthread_mutex_lock(&b->mu);
        bt->done = 1;
        bt->next = b->done_list;
        b->done_list = bt;
        pthread_cond_broadcast(&b->cv_done);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* ---- committing ----------------------------------------------------------- */

static int spill_runs(cpq_builder *b)
{
    /* Merge every in-memory run (they are the newest, consecutive) into one
     * spilled run. */
    size_t first = b->nruns;
    while (first > 0 && b->runs[first - 1].fd < 0) first--;
    if (b->nruns - first == 0) return CPQ_OK;
    cpq_run merged;
    cpq_errinfo e;
    int rc = cpq_runs_merge_spill(b->runs + first, b->nruns - first, b->o.tmpdir ? b->o.tmpdir : b->dir, &merged, &e);
    if (rc) return fail(b, rc, &e);
    for (size_t i = first; i < b->nruns; i++) cpq_run_free(&b->runs[i]);
    b->runs[first] = merged;
    b->nruns = first + 1;
    b->mem_runs_bytes = 0;
    b->spilled++;
    return CPQ_OK;
}

static int commit_batch(cpq_builder *b, batch *bt)
{
    if (bt->rc) return fail(b, bt->rc, &bt->err);
    if (b->npassages + bt->npass >= UINT32_MAX)
        return fail(b, CPQ_ELIMIT, NULL);
    /* Store bytes go straight to the open store section. */
    cpq_out_write(&b->out, bt->store.p, bt->store.len);
    if (b->out.rc) return fail(b, b->out.rc, &b->oerr);
    if (b->npassages + bt->npass > b->lcap) {
        size_t nc = b->lcap ? b->lcap : 1024;
        while (nc < b->npassages + bt->npass) nc *= 2;
        uint32_t *nl = realloc(b->lengths, nc * sizeof *nl);
        if (!nl) return fail(b, CPQ_ENOMEM, NULL);
        b->lengths = nl;
        b->lcap = nc;
    }
    cpq_buf_add(&b->passages, bt->pass, bt->npass * sizeof *bt->pass);
    if (b->passages.oom) return fail(b, CPQ_ENOMEM, NULL);
    uint64_t base = b->npassages;
    for (size_t i = 0; i < bt->npass; i++) {
        const bpassage *p = &bt->pass[i];
        doc_rec *d = &b->docs[p->doc];
        if (d->npassages == 0) d->first_passage = (uint32_t)(base + i);
        d->npassages++;
        b->store_bytes += p->csize;
        b->lengths[base + i] = p->tokens;
        b->tokens += p->tokens;
    }
    /* Documents without passages point at where their passages would be. */
    for (size_t i = 0; i < bt->ndocs; i++) {
        doc_rec *d = &b->docs[bt->first_doc + i];
        if (d->npassages == 0) d->first_passage = (uint32_t)(base + bt->npass);
    }
    b->npassages += bt->npass;
    b->prog.passages = b->npassages;
    /* Keep the run. */
    if (b->nruns == b->runs_cap) {
        size_t nc = b->runs_cap ? b->runs_cap * 2 : 16;
        cpq_run *nr = realloc(b->runs, nc * sizeof *nr);
        if (!nr) return fail(b, CPQ_ENOMEM, NULL);
        b->runs = nr;
        b->runs_cap = nc;
    }
    cpq_run *r = &b->runs[b->nruns++];
    *r = bt->run;
    r->base = base;
    bt->run.mem = (cpq_buf){ 0 };
    bt->run.fd = -1;
    b->mem_runs_bytes += r->mem.len;
    if (b->mem_runs_bytes > b->o.memory / 2) return spill_runs(b);
    return CPQ_OK;
}

/* Commit every finished batch that is next in order (lock held when
 * threaded). */
static int commit_ready(cpq_builder *b)
{
    for (;;) {
        batch **pp = &b->done_list, *bt = NULL;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->seq == b->commit_seq) { bt = *pp; *pp = bt->next; break; }
        if (!bt) return b->failed;
        b->commit_seq++;
        b->inflight--;
        int rc = b->failed ? b->failed : commit_batch(b, bt);
        batch_free(bt);
        if (rc) return rc;
    }
}

static int dispatch(cpq_builder *b, batch *bt)
{
    if (b->nthreads <= 1) {
        process_batch(b, &b->wctx[0], bt);
        bt->next = b->done_list;
        b->done_list = bt;
        b->inflight++;
        return commit_ready(b);
    }
    pthread_mutex_lock(&b->mu);
    /* Backpressure: at most nthreads + 1 batches between add and commit. */
    while (b->inflight >= (size_t)b->nthreads + 1) {
        commit_ready(b);
        if (b->inflight < (size_t)b->nthreads + 1) break;
        pthread_cond_wait(&b->cv_done, &b->mu);
    }
    int rc = commit_ready(b);
    if (!rc) {
        bt->next = NULL;
        if (b->q_tail) b->q_tail->next = bt; else b->q_head = bt;
        b->q_tail = bt;
        b->inflight++;
        pthread_cond_signal(&b->cv_work);
    }
    pthread_mutex_unlock(&b->mu);
    if (rc) batch_free(bt);
    return rc;
}

/* ---- the store dictionary ------------------------------------------------- */

static int train_dictionary(cpq_builder *b)
{
    size_t total = 0, nsamp = 0, cap = 0;
    size_t *sizes = NULL;
    uint8_t *samples = NULL;
    cpq_spans sp = { 0 };
    int rc = CPQ_OK;
    for (batch *bt = b->pending; bt && total < b->train_bytes; bt = bt->next)
        total += bt->text.len;
    if (total > b->train_bytes) total = b->train_bytes;
    samples = malloc(total ? total : 1);
    if (!samples) { rc = CPQ_ENOMEM; goto done; }
    size_t used = 0;
    for (batch *bt = b->pending; bt && used < total; bt = bt->next) {
        for (size_t i = 0; i < bt->ndocs && used < total; i++) {
            const char *text = (const char *)bt->text.p + bt->doff[i];
            size_t len = (size_t)(bt->doff[i + 1] - bt->doff[i]);
            sp.n = 0;
            if (cpq_passage_split(text, len, b->o.passage_words, &sp)) { rc = CPQ_ENOMEM; goto done; }
            for (size_t k = 0; k < sp.n && used < total; k++) {
                size_t s0 = k == 0 ? 0 : sp.v[k].start;
                size_t s1 = k + 1 < sp.n ? sp.v[k + 1].start : len;
                size_t n = s1 - s0;
                if (n > total - used) n = total - used;
                if (nsamp == cap) {
                    cap = cap ? cap * 2 : 1024;
                    size_t *ns = realloc(sizes, cap * sizeof *ns);
                    if (!ns) { rc = CPQ_ENOMEM; goto done; }
                    sizes = ns;
                }
                memcpy(samples + used, text + s0, n);
                sizes[nsamp++] = n;
                used += n;
            }
        }
    }
    /* Too little text to be worth a dictionary: store without one. */
    if (nsamp >= 8 && used >= 64 * 1024) {
        size_t dcap = used / 16;
        if (dcap > DICT_MAX) dcap = DICT_MAX;
        if (dcap < 4096) dcap = 4096;
        b->dict = malloc(dcap);
        if (!b->dict) { rc = CPQ_ENOMEM; goto done; }
        ZDICT_fastCover_params_t p;
        memset(&p, 0, sizeof p);
        p.k = 256;
        p.d = 8;
        p.f = 20;
        p.steps = 0;
        p.accel = 2;
        p.nbThreads = 1;
        p.zParams.compressionLevel = b->o.zstd_level;
        size_t n = ZDICT_trainFromBuffer_fastCover(b->dict, dcap, samples, sizes, (unsigned)nsamp, p);
        if (ZDICT_isError(n)) {
            /* Training fails on unhelpful samples; that is not an error. */
            free(b->dict);
            b->dict = NULL;
        } else {
            b->dictlen = n;
            b->cdict = ZSTD_createCDict(b->dict, b->dictlen, b->o.zstd_level);
            if (!b->cdict) { rc = CPQ_ENOMEM; goto done; }
        }
    }
done:
    free(samples);
    free(sizes);
    cpq_spans_free(&sp);
    b->trained = 1;
    if (rc) return fail(b, rc, NULL);
    /* Release the held batches. */
    while (b->pending && !rc) {
        batch *bt = b->pending;
        b->pending = bt->next;
        rc = dispatch(b, bt);
    }
    while (b->pending) {
        batch *bt = b->pending;
        b->pending = bt->next;
        batch_free(bt);
    }
    b->pending_tail = NULL;
    return rc;
}

static int submit(cpq_builder *b)
{
    batch *bt = b->cur;
    b->cur = NULL;
    if (!bt) return CPQ_OK;
    if (b->trained) return dispatch(b, bt);
    bt->next = NULL;
    if (b->pending_tail) b->pending_tail->next = bt; else b->pending = bt;
    b->pending_tail = bt;
    b->pending_bytes += bt->text.len;
    if (b->pending_bytes >= b->train_bytes) return train_dictionary(b);
    return CPQ_OK;
}

/* ---- public API ------------------------------------------------------------ */

/* Remove ".<base>.tmp.<pid>.XXXXXX" files left in dir by builds that were
 * killed (their process no longer exists), so a crashed build leaves
 * nothing behind once the next build runs.  Best effort. */
static void remove_stale_temps(const char *dir, const char *base)
{
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (n[0] != '.' || strncmp(n + 1, base, bl) || strncmp(n + 1 + bl, ".tmp.", 5)) continue;
        const char *ps = n + 1 + bl + 5;
        char *end;
        long pid = strtol(ps, &end, 10);
        if (end == ps || *end != '.' || strlen(end) != 7 || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        char full[4096];
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, n) < sizeof full) unlink(full);
    }
    closedir(d);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static void progress_tick(cpq_builder *b, int force)
{
    if (!b->o.progress) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - b->last_prog.tv_sec) + (double)(now.tv_nsec - b->last_prog.tv_nsec) / 1e9;
    if (!force && dt < 0.2) return;
    b->last_prog = now;
    b->o.progress(b->o.progress_ctx, &b->prog);
}

int cpq_builder_create(const cpq_build_opts *opts, const char *path, cpq_builder **out, cpq_errinfo *e)
{
    *out = NULL;
    cpq_builder *b = calloc(1, sizeof *b);
    int rc;
    if (!b) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    b->fd = -1;
    if (opts) b->o = *opts; else cpq_build_opts_default(&b->o);
    if (b->o.passage_words == 0) b->o.passage_words = CPQ_PASSAGE_WORDS_DEFAULT;
    if (b->o.memory == 0) b->o.memory = CPQ_MEMORY_DEFAULT;
    if (b->o.zstd_level == 0) b->o.zstd_level = ZSTD_LEVEL_DEFAULT;
    if (b->o.threads <= 0) b->o.threads = online_cpus();
    if (b->o.passage_words < 8 || b->o.passage_words > 100000) {
        rc = cpq_err_set(e, CPQ_EINVAL, "passage words must be between 8 and 100000, not %u", b->o.passage_words);
        goto fail;
    }
    if (b->o.memory < CPQ_MEMORY_MIN) {
        rc = cpq_err_set(e, CPQ_EINVAL, "memory budget must be at least 1 MiB");
        goto fail;
    }
    if (b->o.threads > 64) {
        rc = cpq_err_set(e, CPQ_EINVAL, "at most 64 threads");
        goto fail;
    }
    if (b->o.zstd_level < 1 || b->o.zstd_level > ZSTD_maxCLevel()) {
        rc = cpq_err_set(e, CPQ_EINVAL, "zstd level must be between 1 and %d", ZSTD_maxCLevel());
        goto fail;
    }
    if (!path || !*path) { rc = cpq_err_set(e, CPQ_EINVAL, "no output path"); goto fail; }
    if (b->o.analysis.stopwords) {
        b->stopwords = strdup(b->o.analysis.stopwords);
        if (!b->stopwords) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto fail; }
        b->o.analysis.stopwords = b->stopwords;
    }
    b->nthreads = b->o.threads;
    b->batch_bytes = b->o.memory / (8 * ((size_t)b->nthreads + 1));
    if (b->batch_bytes > ((size_t)4 << 20)) b->batch_bytes = (size_t)4 << 20;
    if (b->batch_bytes < ((size_t)64 << 10)) b->batch_bytes = (size_t)64 << 10;
    b->train_bytes = b->o.memory / 4 < TRAIN_MAX ? b->o.memory / 4 : TRAIN_MAX;

    /* Output: a temporary file beside the target, renamed over it at the end. */
    b->path = strdup(path);
    char *pc = strdup(path);
    if (!b->path || !pc) { free(pc); rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto fail; }
    b->dir = strdup(dirname(pc));
    free(pc);
    size_t tl = strlen(b->dir) + strlen(path) + 48;
    b->tmppath = malloc(tl);
    if (!b->dir || !b->tmppath) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto fail; }
    /* A hidden name, so a build whose input tree holds its output does not
     * index its own half-written file. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    remove_stale_temps(b->dir, base);
    snprintf(b->tmppath, tl, "%s/.%s.tmp.%ld.XXXXXX", b->dir, base, (long)getpid());
    b->fd = mkstemp(b->tmppath);
    if (b->fd < 0) {
        rc = cpq_err_set(e, CPQ_EIO, "cannot create %s: %s", b->tmppath, strerror(errno));
        free(b->tmppath);
        b->tmppath = NULL;
        goto fail;
    }
    fchmod(b->fd, 0644);
    if ((rc = cpq_out_init(&b->out, b->fd, &b->oerr))) { cpq_err_set(e, rc, "out of memory"); goto fail; }
    cpq_out_begin(&b->out, CPQ_SEC_STORE);
    cpq_buf_add(&b->docids, "", 0);

    b->wctx = calloc((size_t)b->nthreads, sizeof *b->wctx);
    if (!b->wctx) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto fail; }
    for (int i = 0; i < b->nthreads; i++)
        if ((rc = worker_init(b, &b->wctx[i], e))) goto fail;
    if (b->nthreads > 1) {
        pthread_mutex_init(&b->mu, NULL);
        pthread_cond_init(&b->cv_work, NULL);
        pthread_cond_init(&b->cv_done, NULL);
        b->tids = calloc((size_t)b->nthreads, sizeof *b->tids);
        b->wstarts = calloc((size_t)b->nthreads, sizeof *b->wstarts);
        if (!b->tids || !b->wstarts) { rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory"); goto fail; }
        for (int i = 0; i < b->nthreads; i++) {
            b->wstarts[i] = (wstart){ b, i };
            if (pthread_create(&b->tids[i], NULL, worker_thread, &b->wstarts[i])) {
                rc = cpq_err_set(e, CPQ_EIO, "cannot start a worker thread");
                goto fail;
            }
            b->nstarted++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b->last_prog);
    *out = b;
    return CPQ_OK;
fail:
    cpq_builder_free(b);
    return rc;
}

int cpq_builder_add(cpq_builder *b, const char *id, size_t idlen, const char *text, size_t len, cpq_errinfo *e)
{
    if (b->failed || b->finished) return report(b, e);
    if (idlen == 0 || idlen > CPQ_DOCID_MAX || memchr(id, 0, idlen))
        return cpq_err_set(e, CPQ_EINVAL, "document id must be 1..%d bytes without NUL", CPQ_DOCID_MAX);
    if (len >= UINT32_MAX)
        return cpq_err_set(e, CPQ_EINVAL, "document %.*s is 4 GiB or larger", (int)(idlen > 200 ? 200 : idlen), id);
    if (b->ndocs >= UINT32_MAX - 1) return cpq_err_set(e, CPQ_ELIMIT, "too many documents");
    if (!b->cur) {
        /* Reserve the batch's text up front: no copying as it fills. */
        if (!(b->cur = batch_new(b)) || cpq_buf_reserve(&b->cur->text, b->batch_bytes + (len < b->batch_bytes ? len : 0))) {
            fail(b, CPQ_ENOMEM, NULL);
            return report(b, e);
        }
    }
    batch *bt = b->cur;
    if (b->ndocs == b->docs_cap) {
        size_t nc = b->docs_cap ? b->docs_cap * 2 : 1024;
        doc_rec *nd = realloc(b->docs, nc * sizeof *nd);
        if (!nd) { fail(b, CPQ_ENOMEM, NULL); return report(b, e); }
        b->docs = nd;
        b->docs_cap = nc;
    }
    if (bt->ndocs + 2 > bt->dcap) {
        size_t nc = bt->dcap ? bt->dcap * 2 : 256;
        uint64_t *no = realloc(bt->doff, nc * sizeof *no);
        if (!no) { fail(b, CPQ_ENOMEM, NULL); return report(b, e); }
        bt->doff = no;
        bt->dcap = nc;
    }
    doc_rec *d = &b->docs[b->ndocs++];
    memset(d, 0, sizeof *d);
    d->text_len = len;
    d->id_off = b->docids.len;
    d->id_len = (uint32_t)idlen;
    cpq_buf_add(&b->docids, id, idlen);
    bt->doff[bt->ndocs] = bt->text.len;
    cpq_buf_add(&bt->text, text, len);
    if (b->docids.oom || bt->text.oom) { fail(b, CPQ_ENOMEM, NULL); return report(b, e); }
    bt->ndocs++;
    bt->doff[bt->ndocs] = bt->text.len;
    b->bytes_in += len;
    b->prog.bytes_in = b->bytes_in;
    b->prog.docs = b->ndocs;
    if (bt->text.len >= b->batch_bytes) {
        submit(b);
        if (b->failed) return report(b, e);
    }
    progress_tick(b, 0);
    return CPQ_OK;
}

static void stop_threads(cpq_builder *b)
{
    if (b->nstarted == 0) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv_work);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->nstarted; i++) pthread_join(b->tids[i], NULL);
    b->nstarted = 0;
}

/* The doc-id map: document numbers sorted by id bytes (ties by number).
 * qsort has no context argument in C11: the comparator reads the builder
 * through a thread-local pointer. */
static _Thread_local const cpq_builder *docmap_b;

static int cmp_docid(const void *x, const void *y)
{
    const cpq_builder *b = docmap_b;
    uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
    const doc_rec *a = &b->docs[i], *c = &b->docs[j];
    size_t n = a->id_len < c->id_len ? a->id_len : c->id_len;
    int r = memcmp(b->docids.p + a->id_off, b->docids.p + c->id_off, n);
    if (r) return r;
    if (a->id_len != c->id_len) return a->id_len < c->id_len ? -1 : 1;
    return i < j ? -1 : i > j;
}

static void write_tables(cpq_builder *b)
{
    cpq_out *o = &b->out;
    uint8_t tmp[CPQ_META_SIZE];

    cpq_out_begin(o, CPQ_SEC_ZDICT);
    cpq_out_write(o, b->dict, b->dictlen);
    cpq_out_end(o);

    /* Lengths: 2 bytes each when every passage is shorter than 65536. */
    uint32_t maxlen = 0;
    for (uint64_t i = 0; i < b->npassages; i++)
        if (b->lengths[i] > maxlen) maxlen = b->lengths[i];
    uint32_t lw = maxlen < 65536 ? 2 : 4;
    cpq_out_begin(o, CPQ_SEC_LENGTHS);
    for (uint64_t i = 0; i < b->npassages; i++) {
        if (lw == 2) cpq_put16(tmp, (uint16_t)b->lengths[i]);
        else cpq_put32(tmp, b->lengths[i]);
        cpq_out_write(o, tmp, lw);
    }
    cpq_out_end(o);

    /* Passages: an index entry per block of CPQ_TABLE_BLOCK, then the
     * varint-coded blocks (FORMAT.md, "passages"). */
    cpq_buf data = { 0 }, idx = { 0 };
    const bpassage *pv = (const bpassage *)b->passages.p;
    uint64_t soff = 0;
    uint32_t pdoc = 0, pend = 0;
    for (uint64_t i = 0; i < b->npassages; i++) {
        const bpassage *p = &pv[i];
        int first = i % CPQ_TABLE_BLOCK == 0;
        if (first) {
            cpq_buf_u64(&idx, data.len);
            cpq_buf_u64(&idx, soff);
        }
        int newdoc = first || p->doc != pdoc;
        cpq_buf_varint(&data, first ? p->doc : p->doc - pdoc);
        cpq_buf_varint(&data, newdoc ? p->start : p->start - pend);
        cpq_buf_varint(&data, p->len);
        cpq_buf_varint(&data, p->csize);
        pdoc = p->doc;
        pend = p->start + p->len;
        soff += p->csize;
    }
    cpq_out_begin(o, CPQ_SEC_PASSAGES);
    cpq_out_write(o, idx.p, idx.len);
    cpq_out_write(o, data.p, data.len);
    cpq_out_end(o);

    /* Documents, likewise. */
    idx.len = data.len = 0;
    for (size_t i = 0; i < b->ndocs; i++) {
        const doc_rec *d = &b->docs[i];
        if (i % CPQ_TABLE_BLOCK == 0) {
            cpq_buf_u32(&idx, d->first_passage);
            cpq_buf_u32(&idx, 0);
            cpq_buf_u64(&idx, d->id_off);
            cpq_buf_u64(&idx, data.len);
        }
        cpq_buf_varint(&data, d->npassages);
        cpq_buf_varint(&data, d->text_len);
        cpq_buf_varint(&data, d->id_len);
    }
    cpq_out_begin(o, CPQ_SEC_DOCS);
    cpq_out_write(o, idx.p, idx.len);
    cpq_out_write(o, data.p, data.len);
    cpq_out_end(o);
    if (idx.oom || data.oom) fail(b, CPQ_ENOMEM, NULL);
    cpq_buf_free(&idx);
    cpq_buf_free(&data);

    cpq_out_begin(o, CPQ_SEC_DOCIDS);
    cpq_out_write(o, b->docids.p, b->docids.len);
    cpq_out_end(o);

    /* Document map: document numbers in id order, in the fewest bytes that
     * hold the largest number. */
    uint32_t mw = 1;
    while (mw < 4 && b->ndocs > (1ULL << (8 * mw))) mw++;
    uint32_t *map = malloc((b->ndocs ? b->ndocs : 1) * sizeof *map);
    if (!map) { fail(b, CPQ_ENOMEM, NULL); return; }
    for (size_t i = 0; i < b->ndocs; i++) map[i] = (uint32_t)i;
    docmap_b = b;
    qsort(map, b->ndocs, sizeof *map, cmp_docid);
    cpq_out_begin(o, CPQ_SEC_DOCMAP);
    for (size_t i = 0; i < b->ndocs; i++) {
        cpq_put32(tmp, map[i]);
        cpq_out_write(o, tmp, mw);
    }
    cpq_out_end(o);
    free(map);

    const cpq_analysis_cfg *a = &b->o.analysis;
    size_t swlen = a->stopwords ? strlen(a->stopwords) : 0;
    memset(tmp, 0, sizeof tmp);
    cpq_put64(tmp + 0, b->npassages);
    cpq_put64(tmp + 8, b->ndocs);
    cpq_put64(tmp + 16, b->nterms_out);
    cpq_put64(tmp + 24, b->tokens);
    cpq_put64(tmp + 32, b->bytes_in);
    cpq_put32(tmp + 40, b->o.passage_words);
    cpq_put32(tmp + 44, (uint32_t)a->strip_accents);
    cpq_put32(tmp + 48, (uint32_t)swlen);
    cpq_put32(tmp + 52, b->dictlen ? 1 : 0);
    memcpy(tmp + 56, a->language, strnlen(a->language, CPQ_LANG_MAX - 1));
    cpq_put32(tmp + 88, lw);
    cpq_put32(tmp + 92, mw);
    cpq_out_begin(o, CPQ_SEC_META);
    cpq_out_write(o, tmp, CPQ_META_SIZE);
    cpq_out_write(o, a->stopwords, swlen);
    cpq_out_end(o);
}

static int wait_all(cpq_builder *b)
{
    if (b->nthreads <= 1) return commit_ready(b);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        commit_ready(b);
        if (b->inflight == 0 || b->failed) break;
        pthread_cond_wait(&b->cv_done, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return b->failed;
}

static void remove_tmp(cpq_builder *b)
{
    if (b->fd >= 0) close(b->fd);
    b->fd = -1;
    if (b->tmppath) unlink(b->tmppath);
}

int cpq_builder_finish(cpq_builder *b, cpq_errinfo *e)
{
    if (b->finished) return cpq_err_set(e, CPQ_EINVAL, "cpq_builder_finish called twice");
    b->finished = 1;
    if (b->failed) goto out;
    if (submit(b)) goto out;
    if (!b->trained && train_dictionary(b)) goto out;
    if (wait_all(b)) goto out;
    stop_threads(b);
    /* Release the analysis contexts before the merge: it wants the memory. */
    for (int i = 0; i < b->nthreads; i++) worker_fini(&b->wctx[i]);
    progress_tick(b, 1);

    cpq_out_end(&b->out);
    cpq_errinfo we;
    memset(&we, 0, sizeof we);
    cpq_final f;
    memset(&f, 0, sizeof f);
    f.runs = b->runs;
    f.nruns = b->nruns;
    f.lengths = b->lengths;
    f.npassages = b->npassages;
    f.tokens = b->tokens;
    f.tmpdir = b->o.tmpdir ? b->o.tmpdir : b->dir;
    f.progress = b->o.progress;
    f.progress_ctx = b->o.progress_ctx;
    f.prog = &b->prog;
    int rc = cpq_write_postings(&b->out, &f, &we);
    if (rc) { fail(b, rc, &we); goto out; }
    b->nterms_out = f.nterms;
    /* The runs are consumed: free them now. */
    for (size_t i = 0; i < b->nruns; i++) cpq_run_free(&b->runs[i]);
    b->nruns = 0;
    b->prog.phase = 2;
    progress_tick(b, 1);
    write_tables(b);
    if (b->failed) goto out;
    if ((rc = cpq_out_finish(&b->out))) { fail(b, rc, &b->oerr); goto out; }
    if (fsync(b->fd)) {
        cpq_errinfo fe;
        cpq_err_set(&fe, CPQ_EIO, "fsync %s: %s", b->tmppath, strerror(errno));
        fail(b, CPQ_EIO, &fe);
        goto out;
    }
    struct stat st;
    b->index_bytes = fstat(b->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    close(b->fd);
    b->fd = -1;
    if (rename(b->tmppath, b->path)) {
        cpq_errinfo fe;
        cpq_err_set(&fe, CPQ_EIO, "rename %s -> %s: %s", b->tmppath, b->path, strerror(errno));
        fail(b, CPQ_EIO, &fe);
        goto out;
    }
    free(b->tmppath);
    b->tmppath = NULL;
    /* Make the rename itself durable. */
    int dfd = open(b->dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return CPQ_OK;
out:
    remove_tmp(b);
    return report(b, e);
}

void cpq_builder_stats(const cpq_builder *b, cpq_build_stats *s)
{
    memset(s, 0, sizeof *s);
    s->docs = b->ndocs;
    s->passages = b->npassages;
    s->terms = b->nterms_out;
    s->tokens = b->tokens;
    s->bytes_in = b->bytes_in;
    s->runs = b->next_seq;
    s->spilled_runs = b->spilled;
    s->index_bytes = b->index_bytes;
}

static void free_list(batch *bt)
{
    while (bt) {
        batch *n = bt->next;
        batch_free(bt);
        bt = n;
    }
}

void cpq_builder_free(cpq_builder *b)
{
    if (!b) return;
    stop_threads(b);
    if (b->tids) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv_work);
        pthread_cond_destroy(&b->cv_done);
    }
    free(b->tids);
    free(b->wstarts);
    batch_free(b->cur);
    free_list(b->pending);
    free_list(b->q_head);
    free_list(b->done_list);
    if (b->wctx)
        for (int i = 0; i < b->nthreads; i++) worker_fini(&b->wctx[i]);
    free(b->wctx);
    for (size_t i = 0; i < b->nruns; i++) cpq_run_free(&b->runs[i]);
    free(b->runs);
    remove_tmp(b);
    cpq_out_free(&b->out);
    ZSTD_freeCDict(b->cdict);
    free(b->dict);
    cpq_buf_free(&b->passages);
    free(b->lengths);
    free(b->docs);
    cpq_buf_free(&b->docids);
    free(b->tmppath);
    free(b->path);
    free(b->dir);
    free(b->stopwords);
    free(b);
}
