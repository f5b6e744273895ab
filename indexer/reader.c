/*
 * reader.c - opening, validating and reading an index file.
 *
 * The file is mapped read-only.  Opening checks the header, the TOC and
 * every section's checksum (unless CPQ_OPEN_NO_CHECKSUM), then the sizes
 * and cross-section invariants that later reads rely on, so that lookups
 * need only cheap bounds checks.  Every length and offset read from the
 * file is range-checked before use; a damaged file gives CPQ_ECORRUPT with
 * the section named, never a crash.  cpq_index_verify goes further and
 * decodes everything.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "cpqindex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "bm25.h"
#include "endian.h"
#include "format.h"
#include "jsonl.h" /* cpq_utf8_valid */

typedef struct sect {
    const uint8_t *p;
    uint64_t off, len, sum;
    int present;
} sect;

struct cpq_index {
    uint8_t *map;
    uint64_t size;
    sect s[CPQ_SEC_COUNT_];
    uint32_t nsec;
    cpq_section_info order[CPQ_MAX_SECTIONS]; /* TOC order */
    cpq_index_info info;
    char language[CPQ_LANG_MAX];
    char *stopwords;
    uint64_t nblocks_terms;  /* term index entries */
    int has_dict;
    ZSTD_DDict *ddict;
    uint32_t lw, mw;         /* bytes per length / per docmap entry */
    const uint8_t *pidx, *pdata, *didx, *ddata;
    uint64_t pdata_len, ddata_len;
    /* Decoder state every TABLE_CK records of the passage and document
     * tables (see passage_get2), built by check_tables. */
    struct pck *pck;
    struct dck *dck;
    /* The first 8 bytes of each term block's first term, big-endian and
     * zero-padded (see term_keys); NULL when a block's first entry is
     * malformed, and lookups then read the file and report it. */
    uint64_t *tkey;
};

/* A table record is found by decoding its block from the start: up to 63
 * records of varints, one after another, which made a passage lookup cost
 * a microsecond, three of them per search hit.  So open, which walks both
 * tables anyway, notes where every TABLE_CK-th record starts and what it
 * continues from; a lookup then decodes at most TABLE_CK records.  3 bytes
 * of memory per passage, 3 per document; the file format is untouched. */
#define TABLE_CK 8

/* Before passage record p (p % TABLE_CK == 0): its offset in the data, its
 * store offset, and the previous record's document and end (unused at a
 * table block's first record, which is absolute). */
struct pck {
    uint64_t o, so;
    uint32_t doc, end;
};

/* Before document record d (d % TABLE_CK == 0): its offset in the data,
 * its first passage and its id's offset. */
struct dck {
    uint64_t o, io;
    uint32_t fp, pad_;
};

/* One decoded passage-table / document-table record. */
typedef struct prec {
    uint32_t doc, start, len, csize;
    uint64_t store_off;
} prec;

typedef struct drec {
    uint32_t first_passage, npassages, id_len;
    uint64_t text_len, id_off;
} drec;

static inline int vget(const uint8_t *p, uint64_t n, uint64_t *o, uint64_t *v)
{
    if (*o < n && p[*o] < 0x80) {   /* one byte: most table fields */
        *v = p[(*o)++];
        return 0;
    }
    /* Two bytes: passage lengths and compressed sizes, half the fields of
     * a passage record. */
    if (*o + 1 < n && p[*o + 1] < 0x80) {
        *v = (uint64_t)(p[*o] & 0x7f) | (uint64_t)p[*o + 1] << 7;
        *o += 2;
        return 0;
    }
    if (*o > n) return -1;
    size_t k = cpq_varint_get(p + *o, (size_t)(n - *o), v);
    if (!k) return -1;
    *o += k;
    return 0;
}

static uint32_t docmap_get(const cpq_index *ix, uint64_t i)
{
    const uint8_t *p = ix->s[CPQ_SEC_DOCMAP].p + i * ix->mw;
    uint32_t v = 0;
    for (uint32_t k = 0; k < ix->mw; k++) v |= (uint32_t)p[k] << (8 * k);
    return v;
}

/* Decode passage p from its table block, and into *next (when not NULL
 * and p + 1 is in the same block) passage p + 1 as well: fetching a
 * passage needs where the next one starts, and this saves decoding the
 * block twice.  *has_next says whether *next was filled.  The tables were
 * validated at open, so failure here means a bug; it is still reported,
 * not trusted.  Known cost: up to 64 records are decoded to reach one. */
static int passage_get2(const cpq_index *ix, uint32_t p, prec *r, prec *next, int *has_next)
{
    uint32_t from = p - p % TABLE_CK;
    const struct pck *c = &ix->pck[p / TABLE_CK];
    uint64_t o = c->o, so = c->so, doc = c->doc, start = 0, len = 0, cs = 0, end = c->end;
    uint32_t last = p;
    int want_next = next && (p + 1) % CPQ_TABLE_BLOCK != 0 && (uint64_t)p + 1 < ix->info.passages;
    if (want_next) last++;
    if (has_next) *has_next = 0;
    for (uint32_t j = from; j <= last; j++) {
        uint64_t dd, st;
        if (j > from) so += cs;
        if (vget(ix->pdata, ix->pdata_len, &o, &dd) || vget(ix->pdata, ix->pdata_len, &o, &st) ||
            vget(ix->pdata, ix->pdata_len, &o, &len) || vget(ix->pdata, ix->pdata_len, &o, &cs))
            return CPQ_ECORRUPT;
        int first = j % CPQ_TABLE_BLOCK == 0, newdoc = first || dd != 0;
        doc = first ? dd : doc + dd;
        start = newdoc ? st : end + st;
        end = start + len;
        if (doc > UINT32_MAX || end > UINT32_MAX || cs > UINT32_MAX) return CPQ_ECORRUPT;
        prec *out = j == p ? r : j == last && want_next ? next : NULL;
        if (out) {
            out->doc = (uint32_t)doc;
            out->start = (uint32_t)start;
            out->len = (uint32_t)len;
            out->csize = (uint32_t)cs;
            out->store_off = so;
        }
    }
    if (want_next && has_next) *has_next = 1;
    return CPQ_OK;
}

static int passage_get(const cpq_index *ix, uint32_t p, prec *r)
{
    return passage_get2(ix, p, r, NULL, NULL);
}

static int doc_get(const cpq_index *ix, uint32_t d, drec *r)
{
    uint32_t from = d - d % TABLE_CK;
    const struct dck *c = &ix->dck[d / TABLE_CK];
    uint64_t fp = c->fp, io = c->io, o = c->o, np = 0, tl = 0, il = 0;
    for (uint32_t j = from; j <= d; j++) {
        if (j > from) { fp += np; io += il; }
        if (vget(ix->ddata, ix->ddata_len, &o, &np) || vget(ix->ddata, ix->ddata_len, &o, &tl) ||
            vget(ix->ddata, ix->ddata_len, &o, &il))
            return CPQ_ECORRUPT;
    }
    if (fp + np > UINT32_MAX || il > CPQ_DOCID_MAX) return CPQ_ECORRUPT;
    r->first_passage = (uint32_t)fp;
    r->npassages = (uint32_t)np;
    r->text_len = tl;
    r->id_off = io;
    r->id_len = (uint32_t)il;
    return CPQ_OK;
}


static XXH64_hash_t get_sum(const uint8_t *p)
{
    XXH64_canonical_t c;
    memcpy(c.digest, p, sizeof c.digest);
    return XXH64_hashFromCanonical(&c);
}

#define CORRUPT(e, sec, ...) cpq_err_set((e), CPQ_ECORRUPT, "section '" sec "': " __VA_ARGS__)

/* ---- open ------------------------------------------------------------------ */

/* The first (up to) 8 bytes of s as a big-endian number, zero-padded:
 * key8(a) < key8(b) implies a < b in the dictionary's order (memcmp, a
 * prefix first), and key8(a) > key8(b) implies a > b. */
static uint64_t key8(const uint8_t *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) v = v << 8 | (i < n ? s[i] : 0);
    return v;
}

/* The first term of term block k: *t and *len, or -1 when the entry is
 * malformed (out of the section, a shared prefix, a bad length). */
static int block_first(const cpq_index *ix, uint64_t k, const uint8_t **t, size_t *len)
{
    const uint8_t *p = ix->s[CPQ_SEC_TERMS].p;
    uint64_t n = ix->s[CPQ_SEC_TERMS].len, o = cpq_get32(ix->s[CPQ_SEC_TERMINDEX].p + k * CPQ_TERMINDEX_ENTRY);
    if (o > n || n - o < 2) return -1;
    size_t pre = p[o], suf = p[o + 1];
    if (pre || suf == 0 || suf > CPQ_TERM_MAX || n - o - 2 < suf) return -1;
    *t = p + o + 2;
    *len = suf;
    return 0;
}

/* A term lookup binary-searches the term blocks' first terms.  In the file
 * each probe reads a termindex entry and then the term, two cache misses
 * apart, and that search was the largest cost of a cheap query.  So open
 * keeps each block's first 8 bytes in one array (8 bytes a block of 16
 * terms, half a byte a term), and only blocks whose first 8 bytes equal
 * the key's are compared in the file. */
static int term_keys(cpq_index *ix, cpq_errinfo *e)
{
    uint64_t n = ix->nblocks_terms;
    ix->tkey = malloc((size_t)(n ? n : 1) * sizeof *ix->tkey);
    if (!ix->tkey) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    for (uint64_t k = 0; k < n; k++) {
        const uint8_t *t;
        size_t len;
        if (block_first(ix, k, &t, &len)) {
            free(ix->tkey);
            ix->tkey = NULL;
            return CPQ_OK;
        }
        ix->tkey[k] = key8(t, len);
    }
    return CPQ_OK;
}

static int check_tables(cpq_index *ix, cpq_errinfo *e)
{
    const uint8_t *m = ix->s[CPQ_SEC_META].p;
    uint64_t mlen = ix->s[CPQ_SEC_META].len;
    if (mlen < CPQ_META_SIZE) return CORRUPT(e, "meta", "too short (%llu bytes)", (unsigned long long)mlen);
    cpq_index_info *in = &ix->info;
    in->version = CPQ_FORMAT_VERSION;
    in->passages = cpq_get64(m);
    in->docs = cpq_get64(m + 8);
    in->terms = cpq_get64(m + 16);
    in->tokens = cpq_get64(m + 24);
    in->text_bytes = cpq_get64(m + 32);
    in->passage_words = cpq_get32(m + 40);
    uint32_t strip = cpq_get32(m + 44), swlen = cpq_get32(m + 48), flags = cpq_get32(m + 52);
    if (strip > 1) return CORRUPT(e, "meta", "bad accent flag %u", strip);
    if (flags > 1) return CORRUPT(e, "meta", "unknown flags %#x", flags);
    if (swlen != mlen - CPQ_META_SIZE) return CORRUPT(e, "meta", "stopwords length %u does not match", swlen);
    memcpy(ix->language, m + 56, CPQ_LANG_MAX);
    if (ix->language[CPQ_LANG_MAX - 1] || !ix->language[0]) return CORRUPT(e, "meta", "bad language name");
    for (size_t i = strlen(ix->language); i < CPQ_LANG_MAX; i++)
        if (ix->language[i]) return CORRUPT(e, "meta", "language name is not NUL-padded");
    int known = !strcmp(ix->language, "none");
    for (const char **l = cpq_analyzer_languages(); !known && *l; l++) known = !strcmp(*l, ix->language);
    if (!known) return CORRUPT(e, "meta", "unknown stemmer language '%s'", ix->language);
    if (in->passage_words < 8 || in->passage_words > 100000)
        return CORRUPT(e, "meta", "words per passage %u out of range", in->passage_words);
    for (int i = 96; i < CPQ_META_SIZE; i++)
        if (m[i]) return CORRUPT(e, "meta", "reserved byte %d is not zero", i);
    ix->stopwords = malloc((size_t)swlen + 1);
    if (!ix->stopwords) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    memcpy(ix->stopwords, m + CPQ_META_SIZE, swlen);
    ix->stopwords[swlen] = 0;
    if (strlen(ix->stopwords) != swlen) return CORRUPT(e, "meta", "NUL inside the stopwords");
    ix->has_dict = (int)(flags & 1);
    memset(&in->analysis, 0, sizeof in->analysis);
    memcpy(in->analysis.language, ix->language, CPQ_LANG_MAX);
    in->analysis.strip_accents = (int)strip;
    in->analysis.stopwords = ix->stopwords;
    in->avg_len = in->passages ? (float)((double)in->tokens / (double)in->passages) : 1.0f;
    if (in->avg_len <= 0) in->avg_len = 1.0f;
    in->file_bytes = ix->size;

    if (in->passages >= UINT32_MAX || in->docs >= UINT32_MAX || in->terms >= UINT32_MAX)
        return CORRUPT(e, "meta", "counts out of range");
    ix->lw = cpq_get32(m + 88);
    ix->mw = cpq_get32(m + 92);
    if (ix->lw != 2 && ix->lw != 4) return CORRUPT(e, "meta", "bad lengths width %u", ix->lw);
    if (ix->mw < 1 || ix->mw > 4) return CORRUPT(e, "meta", "bad docmap width %u", ix->mw);
    if (ix->s[CPQ_SEC_LENGTHS].len != in->passages * ix->lw)
        return CORRUPT(e, "lengths", "size %llu does not match %llu passages",
                       (unsigned long long)ix->s[CPQ_SEC_LENGTHS].len, (unsigned long long)in->passages);
    if (ix->s[CPQ_SEC_DOCMAP].len != in->docs * ix->mw)
        return CORRUPT(e, "docmap", "size does not match %llu documents", (unsigned long long)in->docs);
    uint64_t npb = (in->passages + CPQ_TABLE_BLOCK - 1) / CPQ_TABLE_BLOCK;
    uint64_t ndb = (in->docs + CPQ_TABLE_BLOCK - 1) / CPQ_TABLE_BLOCK;
    if (ix->s[CPQ_SEC_PASSAGES].len < npb * CPQ_PASSAGE_INDEX_ENTRY)
        return CORRUPT(e, "passages", "shorter than its index of %llu blocks", (unsigned long long)npb);
    if (ix->s[CPQ_SEC_DOCS].len < ndb * CPQ_DOC_INDEX_ENTRY)
        return CORRUPT(e, "docs", "shorter than its index of %llu blocks", (unsigned long long)ndb);
    ix->pidx = ix->s[CPQ_SEC_PASSAGES].p;
    ix->pdata = ix->pidx + npb * CPQ_PASSAGE_INDEX_ENTRY;
    ix->pdata_len = ix->s[CPQ_SEC_PASSAGES].len - npb * CPQ_PASSAGE_INDEX_ENTRY;
    ix->didx = ix->s[CPQ_SEC_DOCS].p;
    ix->ddata = ix->didx + ndb * CPQ_DOC_INDEX_ENTRY;
    ix->ddata_len = ix->s[CPQ_SEC_DOCS].len - ndb * CPQ_DOC_INDEX_ENTRY;
    uint64_t nti = (in->terms + CPQ_TERMS_PER_BLOCK - 1) / CPQ_TERMS_PER_BLOCK;
    if (ix->s[CPQ_SEC_TERMINDEX].len != nti * CPQ_TERMINDEX_ENTRY)
        return CORRUPT(e, "termindex", "size does not match %llu terms", (unsigned long long)in->terms);
    ix->nblocks_terms = nti;
    if (!ix->has_dict && ix->s[CPQ_SEC_ZDICT].len) return CORRUPT(e, "zdict", "present but not flagged");
    if (ix->has_dict && !ix->s[CPQ_SEC_ZDICT].len) return CORRUPT(e, "zdict", "flagged but empty");

    /* Walk both tables once, sequentially, checking every record and
     * noting the decoder's state every TABLE_CK records; random access
     * later decodes the same bytes from there. */
    ix->pck = malloc(((size_t)in->passages / TABLE_CK + 1) * sizeof *ix->pck);
    ix->dck = malloc(((size_t)in->docs / TABLE_CK + 1) * sizeof *ix->dck);
    if (!ix->pck || !ix->dck) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    uint64_t o = 0, next_p = 0, id_off = 0, text_total = 0;
    for (uint64_t d = 0; d < in->docs; d++) {
        uint64_t np, tl, il;
        if (d % TABLE_CK == 0) {
            struct dck *c = &ix->dck[d / TABLE_CK];
            c->o = o;
            c->io = id_off;
            c->fp = (uint32_t)next_p;
            c->pad_ = 0;
        }
        if (d % CPQ_TABLE_BLOCK == 0) {
            const uint8_t *ie = ix->didx + (d / CPQ_TABLE_BLOCK) * CPQ_DOC_INDEX_ENTRY;
            if (cpq_get32(ie) != next_p || cpq_get32(ie + 4) || cpq_get64(ie + 8) != id_off || cpq_get64(ie + 16) != o)
                return CORRUPT(e, "docs", "index entry of block %llu disagrees with the data", (unsigned long long)(d / CPQ_TABLE_BLOCK));
        }
        if (vget(ix->ddata, ix->ddata_len, &o, &np) || vget(ix->ddata, ix->ddata_len, &o, &tl) ||
            vget(ix->ddata, ix->ddata_len, &o, &il))
            return CORRUPT(e, "docs", "document %llu does not decode", (unsigned long long)d);
        if (np > in->passages - next_p)
            return CORRUPT(e, "docs", "document %llu has a bad passage range", (unsigned long long)d);
        if (il == 0 || il > CPQ_DOCID_MAX || il > ix->s[CPQ_SEC_DOCIDS].len - id_off)
            return CORRUPT(e, "docs", "document %llu has a bad id range", (unsigned long long)d);
        if (tl >= UINT32_MAX) return CORRUPT(e, "docs", "document %llu is too long", (unsigned long long)d);
        next_p += np;
        id_off += il;
        text_total += tl;
    }
    if (o != ix->ddata_len) return CORRUPT(e, "docs", "stray bytes after the last document");
    if (text_total != in->text_bytes) return CORRUPT(e, "meta", "text bytes %llu, the documents hold %llu",
                                                     (unsigned long long)in->text_bytes, (unsigned long long)text_total);
    if (next_p != in->passages) return CORRUPT(e, "docs", "documents do not cover all passages");
    if (id_off != ix->s[CPQ_SEC_DOCIDS].len) return CORRUPT(e, "docids", "size does not match the documents");
    uint64_t soff = 0, tokens = 0, cur_doc = 0, pend = 0;
    drec dr;
    memset(&dr, 0, sizeof dr);
    int have_doc = 0;
    o = 0;
    for (uint64_t p = 0; p < in->passages; p++) {
        uint64_t dd, st, ln, cs;
        int first = p % CPQ_TABLE_BLOCK == 0;
        if (p % TABLE_CK == 0) {
            struct pck *c = &ix->pck[p / TABLE_CK];
            c->o = o;
            c->so = soff;
            c->doc = (uint32_t)cur_doc;
            c->end = (uint32_t)pend;
        }
        if (first) {
            const uint8_t *ie = ix->pidx + (p / CPQ_TABLE_BLOCK) * CPQ_PASSAGE_INDEX_ENTRY;
            if (cpq_get64(ie) != o || cpq_get64(ie + 8) != soff)
                return CORRUPT(e, "passages", "index entry of block %llu disagrees with the data", (unsigned long long)(p / CPQ_TABLE_BLOCK));
        }
        if (vget(ix->pdata, ix->pdata_len, &o, &dd) || vget(ix->pdata, ix->pdata_len, &o, &st) ||
            vget(ix->pdata, ix->pdata_len, &o, &ln) || vget(ix->pdata, ix->pdata_len, &o, &cs))
            return CORRUPT(e, "passages", "passage %llu does not decode", (unsigned long long)p);
        uint64_t doc = first ? dd : cur_doc + dd;
        int newdoc = first || dd != 0;
        uint64_t start = newdoc ? st : pend + st;
        if (doc >= in->docs) return CORRUPT(e, "passages", "passage %llu: document out of range", (unsigned long long)p);
        if (!have_doc || doc != cur_doc) {
            if (doc_get(ix, (uint32_t)doc, &dr)) return CORRUPT(e, "docs", "document %llu does not decode", (unsigned long long)doc);
            have_doc = 1;
        }
        if (p < dr.first_passage || p >= (uint64_t)dr.first_passage + dr.npassages)
            return CORRUPT(e, "passages", "passage %llu: not inside its document", (unsigned long long)p);
        if (ln == 0 || start > dr.text_len || ln > dr.text_len - start)
            return CORRUPT(e, "passages", "passage %llu: byte range outside its document", (unsigned long long)p);
        if (cs == 0 || cs > ix->s[CPQ_SEC_STORE].len - soff)
            return CORRUPT(e, "passages", "passage %llu: bad store size", (unsigned long long)p);
        soff += cs;
        cur_doc = doc;
        pend = start + ln;
        tokens += cpq_index_passage_len(ix, (uint32_t)p);
    }
    if (o != ix->pdata_len) return CORRUPT(e, "passages", "stray bytes after the last passage");
    if (soff != ix->s[CPQ_SEC_STORE].len) return CORRUPT(e, "store", "size does not match the passages");
    if (tokens != in->tokens) return CORRUPT(e, "lengths", "sum %llu does not match meta", (unsigned long long)tokens);
    for (uint64_t i = 0; i < in->docs; i++)
        if (docmap_get(ix, i) >= in->docs) return CORRUPT(e, "docmap", "entry %llu out of range", (unsigned long long)i);
    /* Term index: offsets non-decreasing and inside their sections. */
    const uint8_t *ti = ix->s[CPQ_SEC_TERMINDEX].p;
    uint64_t pt = 0, pp = 0, pq = 0;
    for (uint64_t i = 0; i < nti; i++) {
        const uint8_t *r = ti + i * CPQ_TERMINDEX_ENTRY;
        uint64_t to = cpq_get32(r), po = cpq_get64(r + 8), qo = cpq_get64(r + 16);
        if (cpq_get32(r + 4) != 0 || (i == 0 && (to | po | qo)) || to < pt || po < pp || qo < pq ||
            to >= ix->s[CPQ_SEC_TERMS].len || po > ix->s[CPQ_SEC_POSTINGS].len || qo > ix->s[CPQ_SEC_POSITIONS].len)
            return CORRUPT(e, "termindex", "entry %llu out of order or range", (unsigned long long)i);
        pt = to; pp = po; pq = qo;
    }
    if (in->terms == 0 && (ix->s[CPQ_SEC_TERMS].len || ix->s[CPQ_SEC_POSTINGS].len || ix->s[CPQ_SEC_POSITIONS].len))
        return CORRUPT(e, "terms", "data without terms");
    if (ix->has_dict) {
        ix->ddict = ZSTD_createDDict(ix->s[CPQ_SEC_ZDICT].p, (size_t)ix->s[CPQ_SEC_ZDICT].len);
        /* NULL is an allocation failure or a dictionary zstd cannot load.
         * The section's checksum has just vouched for the bytes the writer
         * produced, so the first is by far the likelier: say so. */
        if (!ix->ddict) return cpq_err_set(e, CPQ_ENOMEM, "out of memory loading the zstd dictionary");
    }
    return CPQ_OK;
}

int cpq_index_open(const char *path, unsigned flags, cpq_index **out, cpq_errinfo *e)
{
    *out = NULL;
    cpq_index *ix = calloc(1, sizeof *ix);
    if (!ix) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { rc = cpq_err_set(e, CPQ_EIO, "cannot open %s: %s", path, strerror(errno)); goto fail; }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        rc = cpq_err_set(e, CPQ_EIO, "%s is not a regular file", path);
        close(fd);
        goto fail;
    }
    ix->size = (uint64_t)st.st_size;
    if (ix->size < CPQ_HEADER_SIZE) {
        close(fd);
        rc = cpq_err_set(e, CPQ_ECORRUPT, "header: file is %llu bytes, shorter than a header", (unsigned long long)ix->size);
        goto fail;
    }
    ix->map = mmap(NULL, (size_t)ix->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (ix->map == MAP_FAILED) {
        ix->map = NULL;
        rc = cpq_err_set(e, CPQ_EIO, "cannot map %s: %s", path, strerror(errno));
        goto fail;
    }
    const uint8_t *h = ix->map;
    if (memcmp(h, CPQ_MAGIC, CPQ_MAGIC_LEN)) { rc = cpq_err_set(e, CPQ_ECORRUPT, "header: not a cpq index (bad magic)"); goto fail; }
    if (XXH3_64bits(h, 56) != get_sum(h + 56)) { rc = cpq_err_set(e, CPQ_ECORRUPT, "header: checksum mismatch"); goto fail; }
    uint32_t ver = cpq_get32(h + 8);
    if (ver != CPQ_FORMAT_VERSION) {
        rc = cpq_err_set(e, CPQ_EVERSION, "header: format version %u, this build reads version %u", ver, CPQ_FORMAT_VERSION);
        goto fail;
    }
    uint32_t nsec = cpq_get32(h + 16);
    uint64_t tocoff = cpq_get64(h + 24), fsz = cpq_get64(h + 32);
    if (cpq_get32(h + 12) || cpq_get32(h + 20) != CPQ_HEADER_SIZE || cpq_get64(h + 48)) {
        rc = cpq_err_set(e, CPQ_ECORRUPT, "header: reserved fields are not zero");
        goto fail;
    }
    if (fsz != ix->size) {
        rc = cpq_err_set(e, CPQ_ECORRUPT, "header: file is %llu bytes, header says %llu (truncated or extended)",
                         (unsigned long long)ix->size, (unsigned long long)fsz);
        goto fail;
    }
    if (nsec == 0 || nsec > CPQ_MAX_SECTIONS || tocoff < CPQ_HEADER_SIZE || tocoff > fsz ||
        (fsz - tocoff) != (uint64_t)nsec * CPQ_TOC_ENTRY) {
        rc = cpq_err_set(e, CPQ_ECORRUPT, "header: bad table of contents position");
        goto fail;
    }
    const uint8_t *toc = h + tocoff;
    if (XXH3_64bits(toc, (size_t)nsec * CPQ_TOC_ENTRY) != get_sum(h + 40)) {
        rc = cpq_err_set(e, CPQ_ECORRUPT, "toc: checksum mismatch");
        goto fail;
    }
    uint64_t prev_end = CPQ_HEADER_SIZE;
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *t = toc + (size_t)i * CPQ_TOC_ENTRY;
        uint32_t id = cpq_get32(t);
        uint64_t off = cpq_get64(t + 8), len = cpq_get64(t + 16);
        /* Sections are laid out in TOC order, back to back. */
        if (cpq_get32(t + 4) || off != prev_end || len > tocoff - off) {
            rc = cpq_err_set(e, CPQ_ECORRUPT, "toc: entry %u has a bad range", i);
            goto fail;
        }
        prev_end = off + len;
        ix->order[i].id = id;
        ix->order[i].offset = off;
        ix->order[i].length = len;
        ix->order[i].name = cpq_section_name(id);
        if (id == 0 || id >= CPQ_SEC_COUNT_) continue; /* unknown optional section: skipped */
        if (ix->s[id].present) { rc = cpq_err_set(e, CPQ_ECORRUPT, "toc: section '%s' twice", cpq_section_name(id)); goto fail; }
        ix->s[id] = (sect){ h + off, off, len, get_sum(t + 24), 1 };
    }
    if (prev_end != tocoff) { rc = cpq_err_set(e, CPQ_ECORRUPT, "toc: sections do not end at the toc"); goto fail; }
    ix->nsec = nsec;
    for (uint32_t id = 1; id < CPQ_SEC_COUNT_; id++) {
        if (!ix->s[id].present) { rc = cpq_err_set(e, CPQ_ECORRUPT, "toc: section '%s' is missing", cpq_section_name(id)); goto fail; }
        int big = id == CPQ_SEC_POSTINGS || id == CPQ_SEC_POSITIONS || id == CPQ_SEC_STORE;
        if ((flags & CPQ_OPEN_NO_CHECKSUM) && big) continue;
        if (XXH3_64bits(ix->s[id].p, (size_t)ix->s[id].len) != ix->s[id].sum) {
            rc = cpq_err_set(e, CPQ_ECORRUPT, "section '%s': checksum mismatch", cpq_section_name(id));
            goto fail;
        }
    }
    if ((rc = check_tables(ix, e))) goto fail;
    if ((rc = term_keys(ix, e))) goto fail;
    *out = ix;
    return CPQ_OK;
fail:
    cpq_index_close(ix);
    return rc;
}

void cpq_index_close(cpq_index *ix)
{
    if (!ix) return;
    if (ix->map) munmap(ix->map, (size_t)ix->size);
    ZSTD_freeDDict(ix->ddict);
    free(ix->stopwords);
    free(ix->pck);
    free(ix->tkey);
    free(ix->dck);
    free(ix);
}

const cpq_index_info *cpq_index_get_info(const cpq_index *ix) { return &ix->info; }

size_t cpq_index_sections(const cpq_index *ix, cpq_section_info *out, size_t cap)
{
    for (size_t i = 0; i < ix->nsec && i < cap; i++) out[i] = ix->order[i];
    return ix->nsec;
}

/* ---- terms ------------------------------------------------------------------ */

/* Decode the term entry at *off given the previous term (front coding). */
static int term_entry(const cpq_index *ix, uint64_t *off, char *term, size_t *tlen, int first,
                      uint64_t *df, uint64_t *plen, uint64_t *qlen)
{
    const uint8_t *p = ix->s[CPQ_SEC_TERMS].p;
    uint64_t n = ix->s[CPQ_SEC_TERMS].len, o = *off;
    if (n - o < 2 || o > n) return CPQ_ECORRUPT;
    size_t pre = p[o], suf = p[o + 1];
    o += 2;
    if ((first && pre) || pre > *tlen || pre + suf > CPQ_TERM_MAX || pre + suf == 0 || n - o < suf) return CPQ_ECORRUPT;
    memcpy(term + pre, p + o, suf);
    *tlen = pre + suf;
    o += suf;
    size_t k;
    if (!(k = cpq_varint_get(p + o, (size_t)(n - o), df))) return CPQ_ECORRUPT;
    o += k;
    if (!(k = cpq_varint_get(p + o, (size_t)(n - o), plen))) return CPQ_ECORRUPT;
    o += k;
    if (!(k = cpq_varint_get(p + o, (size_t)(n - o), qlen))) return CPQ_ECORRUPT;
    o += k;
    *off = o;
    return CPQ_OK;
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = memcmp(a, b, n);
    return c ? c : (al > bl) - (al < bl);
}

/* Load iterator state at the start of term block k. */
static void iter_at_block(cpq_term_iter *it, uint64_t k)
{
    const uint8_t *r = it->ix->s[CPQ_SEC_TERMINDEX].p + k * CPQ_TERMINDEX_ENTRY;
    it->ord = (uint32_t)(k * CPQ_TERMS_PER_BLOCK);
    it->off = cpq_get32(r);
    it->post_off = cpq_get64(r + 8);
    it->pos_off = cpq_get64(r + 16);
    it->curlen = 0;
}

/* A term entry's counts are sound: df in range, its postings and positions
 * inside their sections. */
static int term_counts_ok(const cpq_index *ix, uint64_t df, uint64_t post, uint64_t pl, uint64_t pos, uint64_t ql)
{
    return df != 0 && df <= ix->info.passages && post <= ix->s[CPQ_SEC_POSTINGS].len
           && pl <= ix->s[CPQ_SEC_POSTINGS].len - post && pos <= ix->s[CPQ_SEC_POSITIONS].len
           && ql <= ix->s[CPQ_SEC_POSITIONS].len - pos;
}

static void term_fill(cpq_term *t, uint64_t ord, uint64_t df, uint64_t post, uint64_t pl, uint64_t pos, uint64_t ql,
                      const char *text, size_t len)
{
    t->ord = (uint32_t)ord;
    t->df = (uint32_t)df;
    t->post_off = post;
    t->post_len = pl;
    t->pos_off = pos;
    t->pos_len = ql;
    t->len = (uint32_t)len;
    memcpy(t->text, text, len);
    t->text[len] = 0;
}

/* Decode the next term into t; CPQ_ENOTFOUND past the last term. */
static int iter_step(cpq_term_iter *it, cpq_term *t)
{
    const cpq_index *ix = it->ix;
    if (it->ord >= ix->info.terms) return CPQ_ENOTFOUND;
    int first = it->ord % CPQ_TERMS_PER_BLOCK == 0;
    if (first) iter_at_block(it, it->ord / CPQ_TERMS_PER_BLOCK);
    uint64_t df, pl, ql;
    if (term_entry(ix, &it->off, it->cur, &it->curlen, first, &df, &pl, &ql)
        || !term_counts_ok(ix, df, it->post_off, pl, it->pos_off, ql))
        return CPQ_ECORRUPT;
    term_fill(t, it->ord, df, it->post_off, pl, it->pos_off, ql, it->cur, it->curlen);
    it->post_off += pl;
    it->pos_off += ql;
    it->ord++;
    return CPQ_OK;
}

/* Compare term block k's first term (stored whole) with key, in place:
 * the binary search below reads a dozen of them per lookup and needs
 * neither a copy nor the entry's counts. */
static int block_first_cmp(const cpq_index *ix, uint64_t k, const char *key, size_t klen, int *c)
{
    const uint8_t *t;
    size_t len;
    if (block_first(ix, k, &t, &len)) return CPQ_ECORRUPT;
    *c = cmp_bytes((const char *)t, len, key, klen);
    return CPQ_OK;
}

/* Last term block whose first term is <= key (0 if none). */
static int find_block(const cpq_index *ix, const char *key, size_t klen, uint64_t *blk)
{
    uint64_t lo = 0, hi = ix->nblocks_terms;
    uint64_t k8 = key8((const uint8_t *)key, klen);
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c;
        if (ix->tkey && ix->tkey[mid] != k8) c = ix->tkey[mid] < k8 ? -1 : 1;
        else if (block_first_cmp(ix, mid, key, klen, &c)) return CPQ_ECORRUPT;
        if (c <= 0) lo = mid; else hi = mid;
    }
    *blk = lo;
    return CPQ_OK;
}

int cpq_index_term(const cpq_index *ix, const char *term, size_t len, cpq_term *out)
{
    if (len == 0 || len > CPQ_TERM_MAX || ix->info.terms == 0) return CPQ_ENOTFOUND;
    uint64_t blk;
    if (find_block(ix, term, len, &blk)) return CPQ_ECORRUPT;
    /* Scan the block: each entry shares `pre` bytes with the one before,
     * which shared `match` bytes with the key, so the comparison starts at
     * the smaller of the two; nothing is copied out but the term found. */
    const uint8_t *k = (const uint8_t *)term;
    const uint8_t *r = ix->s[CPQ_SEC_TERMINDEX].p + blk * CPQ_TERMINDEX_ENTRY;
    uint64_t o = cpq_get32(r), post = cpq_get64(r + 8), pos = cpq_get64(r + 16);
    uint64_t ord = blk * CPQ_TERMS_PER_BLOCK;
    char cur[CPQ_TERM_MAX];
    size_t tl = 0, match = 0;
    for (int i = 0; i < CPQ_TERMS_PER_BLOCK && ord < ix->info.terms; i++, ord++) {
        uint64_t df, pl, ql;
        size_t pre = o < ix->s[CPQ_SEC_TERMS].len ? ix->s[CPQ_SEC_TERMS].p[o] : 0;  /* checked next */
        if (term_entry(ix, &o, cur, &tl, i == 0, &df, &pl, &ql) || !term_counts_ok(ix, df, post, pl, pos, ql))
            return CPQ_ECORRUPT;
        size_t j = pre < match ? pre : match;
        while (j < tl && j < len && (uint8_t)cur[j] == k[j]) j++;
        match = j;
        int c = j < tl && j < len ? ((uint8_t)cur[j] < k[j] ? -1 : 1) : (tl > len) - (tl < len);
        if (c > 0) return CPQ_ENOTFOUND;
        if (c == 0) {
            term_fill(out, ord, df, post, pl, pos, ql, cur, tl);
            return CPQ_OK;
        }
        post += pl;
        pos += ql;
    }
    return CPQ_ENOTFOUND;
}

int cpq_index_prefix(const cpq_index *ix, const char *prefix, size_t len, cpq_term_iter *it)
{
    memset(it, 0, sizeof *it);
    it->ix = ix;
    if (len > CPQ_TERM_MAX) { it->done = 1; return CPQ_OK; }
    memcpy(it->prefix, prefix, len);
    it->plen = len;
    if (ix->info.terms == 0) { it->done = 1; return CPQ_OK; }
    uint64_t blk;
    if (find_block(ix, prefix, len, &blk)) return CPQ_ECORRUPT;
    iter_at_block(it, blk);
    return CPQ_OK;
}

int cpq_term_iter_next(cpq_term_iter *it, cpq_term *t)
{
    while (!it->done) {
        int rc = iter_step(it, t);
        if (rc == CPQ_ENOTFOUND) { it->done = 1; break; }
        if (rc) return rc;
        int c = cmp_bytes(t->text, t->len < it->plen ? t->len : it->plen, it->prefix, it->plen);
        if (c < 0 || (c == 0 && t->len < it->plen)) continue; /* before the range */
        if (c > 0) { it->done = 1; break; }
        return CPQ_OK;
    }
    return CPQ_ENOTFOUND;
}

/* ---- postings -------------------------------------------------------------- */

static uint32_t block_count(uint32_t df) { return (df + CPQ_BLOCK - 1) / CPQ_BLOCK; }

int cpq_postings_open(const cpq_index *ix, const cpq_term *t, cpq_postings *p)
{
    memset(p, 0, offsetof(cpq_postings, ids));
    p->ix = ix;
    p->df = t->df;
    p->nblocks = block_count(t->df);
    if (t->post_off > ix->s[CPQ_SEC_POSTINGS].len || t->post_len > ix->s[CPQ_SEC_POSTINGS].len - t->post_off ||
        t->pos_off > ix->s[CPQ_SEC_POSITIONS].len || t->pos_len > ix->s[CPQ_SEC_POSITIONS].len - t->pos_off ||
        t->df == 0)
        goto corrupt;
    const uint8_t *base = ix->s[CPQ_SEC_POSTINGS].p + t->post_off;
    p->blocks = base;
    p->blocks_len = t->post_len;
    if (p->nblocks > 1) {
        uint64_t sk = (uint64_t)p->nblocks * CPQ_SKIP_ENTRY;
        if (sk > t->post_len) goto corrupt;
        p->blocks_len = t->post_len - sk;
        p->skips = base + p->blocks_len;
    }
    p->pos = ix->s[CPQ_SEC_POSITIONS].p + t->pos_off;
    p->pos_len = t->pos_len;
    p->blk = UINT32_MAX; /* before the first block */
    p->n = 0;
    p->i = 0;
    return CPQ_OK;
corrupt:
    p->corrupt = 1;
    p->nblocks = 0;
    return CPQ_ECORRUPT;
}

uint32_t cpq_postings_nblocks(const cpq_postings *p) { return p->nblocks; }

/* Byte offset of block k's data and of its positions, and its previous id. */
static int block_loc(const cpq_postings *p, uint32_t k, uint64_t *doff, uint64_t *poff, uint32_t *prev)
{
    if (!p->skips) { *doff = 0; *poff = 0; *prev = UINT32_MAX; return 0; }
    const uint8_t *s = p->skips + (size_t)k * CPQ_SKIP_ENTRY;
    *doff = cpq_get32(s + 4);
    *poff = cpq_get64(s + 8);
    *prev = k == 0 ? UINT32_MAX : cpq_get32(s - CPQ_SKIP_ENTRY);
    return 0;
}

static int load_block(cpq_postings *p, uint32_t k)
{
    uint64_t doff, poff;
    uint32_t prev;
    block_loc(p, k, &doff, &poff, &prev);
    uint32_t n = k + 1 < p->nblocks ? CPQ_BLOCK : p->df - k * CPQ_BLOCK;
    if (doff > p->blocks_len || poff > p->pos_len) goto corrupt;
    size_t tfs_at;
    size_t used = cpq_block_decode_ids(p->blocks + doff, (size_t)(p->blocks_len - doff), prev, n, p->ids, p->tfs,
                                       &tfs_at, &p->tfs_done);
    if (!used) goto corrupt;
    p->tfs_src = p->blocks + doff + tfs_at;
    if (p->ids[n - 1] >= p->ix->info.passages) goto corrupt;
    if (p->skips && cpq_get32(p->skips + (size_t)k * CPQ_SKIP_ENTRY) != p->ids[n - 1]) goto corrupt;
    p->blk = k;
    p->n = n;
    p->i = 0;
    p->posi = 0;
    p->posoff = poff;
    return 0;
corrupt:
    p->corrupt = 1;
    p->blk = p->nblocks;
    p->n = 0;
    return -1;
}

void cpq_postings_tfs_(cpq_postings *p)
{
    /* load_block checked the block; a cursor before its first block or
     * past its last has no entries to read tfs of. */
    if (p->blk < p->nblocks) cpq_block_decode_tfs(p->tfs_src, p->n, p->tfs);
    p->tfs_done = 1;
}

uint32_t cpq_postings_next(cpq_postings *p)
{
    if (p->corrupt) return CPQ_END;
    if (p->blk != UINT32_MAX && p->blk < p->nblocks && p->i + 1 < p->n) {
        p->i++;
        return p->ids[p->i];
    }
    uint32_t nb = p->blk == UINT32_MAX ? 0 : p->blk + 1;
    if (nb >= p->nblocks) { p->blk = p->nblocks; return CPQ_END; }
    if (load_block(p, nb)) return CPQ_END;
    return p->ids[0];
}

uint32_t cpq_postings_block(cpq_postings *p, uint32_t k)
{
    if (p->corrupt) return CPQ_END;
    if (k >= p->nblocks) { p->blk = p->nblocks; return CPQ_END; }
    if (p->blk == k) {               /* already decoded: rewind it */
        uint64_t doff, poff;
        uint32_t prev;
        block_loc(p, k, &doff, &poff, &prev);
        p->i = 0;
        p->posi = 0;
        p->posoff = poff;
    } else if (load_block(p, k)) {
        return CPQ_END;
    }
    return p->ids[0];
}

uint32_t cpq_postings_block_len(const cpq_postings *p)
{
    return p->blk < p->nblocks ? p->n : 0;
}

uint32_t cpq_postings_seek(cpq_postings *p, uint32_t target)
{
    if (p->corrupt) return CPQ_END;
    if (p->blk == UINT32_MAX) {
        if (cpq_postings_next(p) == CPQ_END) return CPQ_END;
    }
    if (p->blk >= p->nblocks) return CPQ_END;
    if (p->ids[p->i] >= target) return p->ids[p->i];
    if (p->ids[p->n - 1] < target) {
        /* Skip whole blocks via the skip table. */
        uint32_t k = p->blk + 1;
        if (!p->skips) { p->blk = p->nblocks; return CPQ_END; }
        while (k < p->nblocks && cpq_get32(p->skips + (size_t)k * CPQ_SKIP_ENTRY) < target) k++;
        if (k >= p->nblocks) { p->blk = p->nblocks; return CPQ_END; }
        if (load_block(p, k)) return CPQ_END;
    }
    while (p->ids[p->i] < target) p->i++;   /* the block's last id >= target */
    return p->ids[p->i];
}

/* Skip m varints from b[off..len): returns the offset after them, or
 * UINT64_MAX when the data ends first.  A varint ends at a byte without
 * the high bit, so this counts such bytes, eight at a time.  (Overlong
 * varints are not noticed here; the positions decoded afterwards are
 * range-checked, and verify decodes every one.) */
static uint64_t skip_varints(const uint8_t *b, uint64_t len, uint64_t off, uint64_t m)
{
    while (m >= 8 && off + 8 <= len) {
        uint64_t w;
        memcpy(&w, b + off, 8);
        /* One bit per byte that ends a varint, summed by a multiply
         * (no popcount instruction in the baseline x86-64 target). */
        uint64_t x = (~w & 0x8080808080808080ull) >> 7;
        unsigned ends = (unsigned)((x * 0x0101010101010101ull) >> 56);
        if (ends >= m) break;
        m -= ends;
        off += 8;
    }
    while (m > 0) {
        if (off >= len) return UINT64_MAX;
        if (!(b[off++] & 0x80)) m--;
    }
    return off;
}

int cpq_postings_positions(cpq_postings *p, uint32_t *pos, size_t cap)
{
    if (p->corrupt || p->blk >= p->nblocks) return -1;
    const uint8_t *b = p->pos;
    uint64_t blen = p->pos_len, off = p->posoff;
    /* Skip the positions of earlier entries of this block. */
    if (p->posi < p->i) {
        uint64_t m = 0;
        const uint32_t *tfs = cpq_postings_tfs(p);
        for (uint32_t j = p->posi; j < p->i; j++) m += tfs[j];
        off = skip_varints(b, blen, off, m);
        if (off == UINT64_MAX) { p->corrupt = 1; return -1; }
        p->posi = p->i;
    }
    p->posoff = off;
    uint32_t tf = cpq_postings_tf(p), len = cpq_index_passage_len(p->ix, p->ids[p->i]);
    uint64_t cur = 0;
    uint64_t o2 = off;
    for (uint32_t j = 0; j < tf; j++) {
        uint64_t v;
        if (o2 < blen && b[o2] < 0x80) {
            v = b[o2++];            /* the common one-byte gap */
        } else {
            size_t k = o2 < blen ? cpq_varint_get(b + o2, (size_t)(blen - o2), &v) : 0;
            if (!k) { p->corrupt = 1; return -1; }
            o2 += k;
        }
        /* Compare before adding: a 64-bit delta must not wrap around. */
        if (j == 0 ? v >= len : v >= (uint64_t)len - cur - 1) { p->corrupt = 1; return -1; }
        cur = j == 0 ? v : cur + v + 1;
        if (j < cap) pos[j] = (uint32_t)cur;
    }
    return (int)tf;
}

void cpq_postings_block_at(const cpq_postings *p, uint32_t k, uint32_t *last, float *max_score,
                           uint32_t *max_tf, uint32_t *min_len)
{
    if (p->skips && k < p->nblocks) {
        const uint8_t *s = p->skips + (size_t)k * CPQ_SKIP_ENTRY;
        if (last) *last = cpq_get32(s);
        if (max_score) *max_score = cpq_getf32(s + 16);
        if (max_tf) *max_tf = cpq_get32(s + 20);
        if (min_len) *min_len = cpq_get32(s + 24);
        return;
    }
    /* One block, no skip table: compute the bounds from the block itself. */
    cpq_postings q = *p;
    uint32_t l = 0, mt = 0, ml = UINT32_MAX;
    float ms = 0;
    if (q.nblocks == 1 && (q.blk == 0 || load_block(&q, 0) == 0)) {
        const cpq_index_info *in = &p->ix->info;
        float idf = cpq_bm25_idf(in->passages, p->df);
        const uint32_t *tfs = cpq_postings_tfs(&q);
        for (uint32_t i = 0; i < q.n; i++) {
            uint32_t len = cpq_index_passage_len(p->ix, q.ids[i]);
            float s = cpq_bm25(idf, tfs[i], len, in->avg_len, CPQ_BM25_K1, CPQ_BM25_B);
            if (s > ms) ms = s;
            if (tfs[i] > mt) mt = tfs[i];
            if (len < ml) ml = len;
        }
        l = q.n ? q.ids[q.n - 1] : 0;
        ms = cpq_round_up(ms);
    }
    if (last) *last = l;
    if (max_score) *max_score = ms;
    if (max_tf) *max_tf = mt;
    if (min_len) *min_len = ml;
}

/* ---- passages and documents -------------------------------------------------- */

uint32_t cpq_index_passage_len(const cpq_index *ix, uint32_t p)
{
    if (p >= ix->info.passages) return 0;
    const uint8_t *l = ix->s[CPQ_SEC_LENGTHS].p;
    return ix->lw == 2 ? cpq_get16(l + (size_t)p * 2) : cpq_get32(l + (size_t)p * 4);
}

int cpq_index_passage(const cpq_index *ix, uint32_t p, cpq_passage_info *out)
{
    prec r;
    drec d;
    if (p >= ix->info.passages) return CPQ_ENOTFOUND;
    if (passage_get(ix, p, &r) || doc_get(ix, r.doc, &d)) return CPQ_ECORRUPT;
    out->doc = r.doc;
    out->start = r.start;
    out->len = r.len;
    out->tokens = cpq_index_passage_len(ix, p);
    out->ordinal = p - d.first_passage;
    return CPQ_OK;
}

/* The public records of passage p from its decoded table records. */
static int fill_full(const cpq_index *ix, uint32_t p, const prec *r, const drec *d, cpq_passage_info *pi,
                     cpq_doc_info *di)
{
    if (d->id_off > ix->s[CPQ_SEC_DOCIDS].len || d->id_len > ix->s[CPQ_SEC_DOCIDS].len - d->id_off)
        return CPQ_ECORRUPT;
    pi->doc = r->doc;
    pi->start = r->start;
    pi->len = r->len;
    pi->tokens = cpq_index_passage_len(ix, p);
    pi->ordinal = p - d->first_passage;
    di->id = (const char *)ix->s[CPQ_SEC_DOCIDS].p + d->id_off;
    di->idlen = d->id_len;
    di->first_passage = d->first_passage;
    di->npassages = d->npassages;
    di->text_len = d->text_len;
    return CPQ_OK;
}

int cpq_index_passage_full(const cpq_index *ix, uint32_t p, cpq_passage_info *pi, cpq_doc_info *di)
{
    prec r;
    drec d;
    if (p >= ix->info.passages) return CPQ_ENOTFOUND;
    if (passage_get(ix, p, &r) || doc_get(ix, r.doc, &d)) return CPQ_ECORRUPT;
    return fill_full(ix, p, &r, &d, pi, di);
}

/* Only the document of passage p (every search hit asks): from the
 * checkpoint, each record's first varint read and the other three
 * skipped.  Open checked every record, so skipping cannot go astray;
 * the bounds are still checked. */
int cpq_index_passage_docnum(const cpq_index *ix, uint32_t p, uint32_t *doc)
{
    if (p >= ix->info.passages) return CPQ_ENOTFOUND;
    const struct pck *c = &ix->pck[p / TABLE_CK];
    const uint8_t *b = ix->pdata;
    uint64_t n = ix->pdata_len, o = c->o, d = c->doc;
    for (uint32_t j = p - p % TABLE_CK;; j++) {
        uint64_t dd;
        if (vget(b, n, &o, &dd)) return CPQ_ECORRUPT;
        d = j % CPQ_TABLE_BLOCK == 0 ? dd : d + dd;
        if (d > UINT32_MAX) return CPQ_ECORRUPT;
        if (j == p) break;
        for (int k = 0; k < 3; k++) {
            while (o < n && b[o] & 0x80) o++;
            if (o++ >= n) return CPQ_ECORRUPT;
        }
    }
    *doc = (uint32_t)d;
    return CPQ_OK;
}

int cpq_index_passage_doc(const cpq_index *ix, uint32_t p, uint32_t *doc, uint32_t *first, uint32_t *end)
{
    if (p >= ix->info.passages) return CPQ_ENOTFOUND;
    /* The last document block whose first passage is <= p... */
    uint64_t nb = (ix->info.docs + CPQ_TABLE_BLOCK - 1) / CPQ_TABLE_BLOCK, lo = 0, hi = nb;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (cpq_get32(ix->didx + mid * CPQ_DOC_INDEX_ENTRY) <= p) lo = mid; else hi = mid;
    }
    /* ...then its records, to the document holding p (empty documents are
     * skipped since their range is empty). */
    const uint8_t *ie = ix->didx + lo * CPQ_DOC_INDEX_ENTRY;
    uint64_t fp = cpq_get32(ie), o = cpq_get64(ie + 16);
    uint64_t d = lo * CPQ_TABLE_BLOCK, dend = d + CPQ_TABLE_BLOCK;
    if (dend > ix->info.docs) dend = ix->info.docs;
    for (; d < dend; d++) {
        uint64_t np, tl, il;
        if (vget(ix->ddata, ix->ddata_len, &o, &np) || vget(ix->ddata, ix->ddata_len, &o, &tl) ||
            vget(ix->ddata, ix->ddata_len, &o, &il))
            return CPQ_ECORRUPT;
        if (p < fp + np) {
            *doc = (uint32_t)d;
            *first = (uint32_t)fp;
            *end = (uint32_t)(fp + np);
            return CPQ_OK;
        }
        fp += np;
    }
    return CPQ_ECORRUPT;
}

int cpq_index_doc(const cpq_index *ix, uint32_t d, cpq_doc_info *out)
{
    drec r;
    if (d >= ix->info.docs) return CPQ_ENOTFOUND;
    if (doc_get(ix, d, &r)) return CPQ_ECORRUPT;
    out->id = (const char *)ix->s[CPQ_SEC_DOCIDS].p + r.id_off;
    out->idlen = r.id_len;
    out->first_passage = r.first_passage;
    out->npassages = r.npassages;
    out->text_len = r.text_len;
    return CPQ_OK;
}

int cpq_index_doc_find(const cpq_index *ix, const char *id, size_t len, uint32_t *d)
{
    uint64_t lo = 0, hi = ix->info.docs;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint32_t dn = docmap_get(ix, mid);
        cpq_doc_info di;
        if (cpq_index_doc(ix, dn, &di)) return CPQ_ECORRUPT;
        int c = cmp_bytes(di.id, di.idlen, id, len);
        if (c == 0) { *d = dn; return CPQ_OK; }
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return CPQ_ENOTFOUND;
}

/* ---- passage text -------------------------------------------------------------- */

/* A cached passage: its text and records, as cpq_fetch_passage_full
 * returns them; one allocation with the text after it. */
typedef struct pc_ent {
    struct pc_ent *hnext;              /* hash chain */
    struct pc_ent *newer, *older;      /* recency list */
    uint32_t p;
    cpq_passage_info pi;
    cpq_doc_info di;
    size_t len;
    char text[];
} pc_ent;

struct cpq_fetch {
    const cpq_index *ix;
    ZSTD_DCtx *dctx;
    char *buf;
    size_t cap;
    /* Passage cache (cpq_fetch_set_cache): a hash of passage numbers and
     * a recency list, the least recently used evicted first. */
    pc_ent **tab;
    size_t tabmask;
    pc_ent *newest, *oldest;
    size_t budget, used;
    cpq_fetch_cache_stats st;
};

/* Each entry's charge against the budget: its text, the entry (104 bytes
 * on 64-bit targets) and what malloc keeps beside it. */
#define PC_COST(len) (sizeof(pc_ent) + (len) + 16)

static size_t pc_slot(const cpq_fetch *f, uint32_t p)
{
    return (size_t)(((uint64_t)p * 0x9E3779B97F4A7C15ull) >> 32) & f->tabmask;
}

static void pc_unlink(cpq_fetch *f, pc_ent *e)
{
    if (e->newer) e->newer->older = e->older; else f->newest = e->older;
    if (e->older) e->older->newer = e->newer; else f->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void pc_push(cpq_fetch *f, pc_ent *e)
{
    e->older = f->newest;
    e->newer = NULL;
    if (f->newest) f->newest->newer = e; else f->oldest = e;
    f->newest = e;
}

static void pc_evict_oldest(cpq_fetch *f)
{
    pc_ent *e = f->oldest;
    pc_ent **pp = &f->tab[pc_slot(f, e->p)];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    pc_unlink(f, e);
    f->used -= PC_COST(e->len);
    f->st.entries--;
    free(e);
}

static pc_ent *pc_find(cpq_fetch *f, uint32_t p)
{
    for (pc_ent *e = f->tab[pc_slot(f, p)]; e; e = e->hnext)
        if (e->p == p) {
            if (f->newest != e) {
                pc_unlink(f, e);
                pc_push(f, e);
            }
            return e;
        }
    return NULL;
}

/* Remember passage p; a failed allocation only means it is not cached. */
static void pc_add(cpq_fetch *f, uint32_t p, const char *text, size_t len, const cpq_passage_info *pi,
                   const cpq_doc_info *di)
{
    size_t cost = PC_COST(len);
    if (cost > f->budget / 8) return;          /* a huge passage would flush the rest */
    while (f->oldest && f->used + cost > f->budget) pc_evict_oldest(f);
    pc_ent *e = malloc(sizeof *e + len);
    if (!e) return;
    e->p = p;
    e->pi = *pi;
    e->di = *di;
    e->len = len;
    memcpy(e->text, text, len);
    size_t k = pc_slot(f, p);
    e->hnext = f->tab[k];
    f->tab[k] = e;
    pc_push(f, e);
    f->used += cost;
    f->st.entries++;
}

static void pc_clear(cpq_fetch *f)
{
    while (f->oldest) pc_evict_oldest(f);
    free(f->tab);
    f->tab = NULL;
    f->budget = f->used = 0;
}

int cpq_fetch_set_cache(cpq_fetch *f, size_t bytes)
{
    pc_clear(f);
    if (bytes < PC_COST(0) * 8) return CPQ_OK;   /* too small to hold anything: off */
    /* About one chain per 256 bytes of budget (passages are a few hundred
     * bytes), so chains stay short; at most 2^24 of them. */
    size_t n = 64;
    while (n < bytes / 256 && n < ((size_t)1 << 24)) n <<= 1;
    f->tab = calloc(n, sizeof *f->tab);
    if (!f->tab) return CPQ_ENOMEM;
    f->tabmask = n - 1;
    f->budget = bytes;
    return CPQ_OK;
}

void cpq_fetch_cache_get_stats(const cpq_fetch *f, cpq_fetch_cache_stats *st)
{
    *st = f->st;
    st->bytes = f->used;
    st->budget = f->budget;
}

int cpq_fetch_create(const cpq_index *ix, cpq_fetch **out)
{
    *out = NULL;
    cpq_fetch *f = calloc(1, sizeof *f);
    if (!f) return CPQ_ENOMEM;
    f->ix = ix;
    f->dctx = ZSTD_createDCtx();
    if (!f->dctx) { free(f); return CPQ_ENOMEM; }
    ZSTD_DCtx_setParameter(f->dctx, ZSTD_d_format, ZSTD_f_zstd1_magicless);
    if (ix->ddict) ZSTD_DCtx_refDDict(f->dctx, ix->ddict);
    *out = f;
    return CPQ_OK;
}

void cpq_fetch_free(cpq_fetch *f)
{
    if (!f) return;
    pc_clear(f);
    ZSTD_freeDCtx(f->dctx);
    free(f->buf);
    free(f);
}

/* Decompress passage p's slice of its document's text to f->buf + at: from
 * the passage's start (the document's start for its first passage) to the
 * next passage's start (the document's end for its last).  *r and *d
 * receive the passage's and its document's records. */
static int fetch_slice(cpq_fetch *f, uint32_t p, size_t at, size_t *slen, uint64_t *sstart, prec *r,
                       drec *d)
{
    const cpq_index *ix = f->ix;
    prec rn;
    int has_next;
    if (passage_get2(ix, p, r, &rn, &has_next) || doc_get(ix, r->doc, d)) return CPQ_ECORRUPT;
    uint64_t s0 = p == d->first_passage ? 0 : r->start, s1;
    if (p + 1 < (uint64_t)d->first_passage + d->npassages) {
        if (!has_next && passage_get(ix, p + 1, &rn)) return CPQ_ECORRUPT;
        s1 = rn.start;
    } else {
        s1 = d->text_len;
    }
    if (s1 < s0 || s1 - s0 > (uint64_t)SIZE_MAX / 2) return CPQ_ECORRUPT;
    size_t want = (size_t)(s1 - s0);
    if (at + want + 1 > f->cap) {
        size_t nc = (at + want + 1) * 2;
        char *nb = realloc(f->buf, nc);
        if (!nb) return CPQ_ENOMEM;
        f->buf = nb;
        f->cap = nc;
    }
    size_t got = ZSTD_decompressDCtx(f->dctx, f->buf + at, want, ix->s[CPQ_SEC_STORE].p + r->store_off, r->csize);
    if (ZSTD_isError(got) || got != want) return CPQ_ECORRUPT;
    *slen = want;
    *sstart = s0;
    return CPQ_OK;
}

int cpq_fetch_passage_full(cpq_fetch *f, uint32_t p, const char **text, size_t *len, cpq_passage_info *pi,
                           cpq_doc_info *di)
{
    if (p >= f->ix->info.passages) return CPQ_ENOTFOUND;
    if (f->tab) {
        pc_ent *e = pc_find(f, p);
        if (e) {
            f->st.hits++;
            *text = e->text;
            *len = e->len;
            if (pi) {
                *pi = e->pi;
                *di = e->di;
            }
            return CPQ_OK;
        }
        f->st.misses++;
    }
    size_t slen;
    uint64_t s0;
    prec r;
    drec d;
    int rc = fetch_slice(f, p, 0, &slen, &s0, &r, &d);
    if (rc) return rc;
    if (r.start < s0 || r.start - s0 + r.len > slen) return CPQ_ECORRUPT;
    *text = f->buf + (r.start - s0);
    *len = (size_t)r.len;
    if (pi || f->tab) {
        cpq_passage_info pi1;
        cpq_doc_info di1;
        if ((rc = fill_full(f->ix, p, &r, &d, &pi1, &di1))) return rc;
        if (pi) {
            *pi = pi1;
            *di = di1;
        }
        if (f->tab) pc_add(f, p, *text, *len, &pi1, &di1);
    }
    return CPQ_OK;
}

int cpq_fetch_passage(cpq_fetch *f, uint32_t p, const char **text, size_t *len)
{
    return cpq_fetch_passage_full(f, p, text, len, NULL, NULL);
}

int cpq_fetch_doc(cpq_fetch *f, uint32_t d, const char **text, size_t *len)
{
    cpq_doc_info di;
    if (cpq_index_doc(f->ix, d, &di)) return CPQ_ENOTFOUND;
    size_t at = 0;
    for (uint32_t i = 0; i < di.npassages; i++) {
        size_t slen;
        uint64_t s0;
        prec r;
        drec dr;
        int rc = fetch_slice(f, di.first_passage + i, at, &slen, &s0, &r, &dr);
        if (rc) return rc;
        if (s0 != at) return CPQ_ECORRUPT;
        at += slen;
    }
    if (at != di.text_len && di.npassages) return CPQ_ECORRUPT;
    if (!f->buf) {
        f->buf = malloc(1);
        if (!f->buf) return CPQ_ENOMEM;
        f->cap = 1;
    }
    *text = f->buf;
    *len = at;
    return CPQ_OK;
}

/* ---- verify ---------------------------------------------------------------------- */

/* Decode every block of one term and check it against its skip entries and
 * positions; *pos_used receives the positions bytes consumed. */
static int verify_term(const cpq_index *ix, const cpq_term *t, cpq_errinfo *e)
{
    cpq_postings p;
    if (cpq_postings_open(ix, t, &p)) return CORRUPT(e, "postings", "term '%s': bad ranges", t->text);
    const cpq_index_info *in = &ix->info;
    float idf = cpq_bm25_idf(in->passages, t->df);
    uint64_t data_end = 0, pos_end = 0;
    uint32_t count = 0, prev = 0;
    uint32_t posv[64];
    for (uint32_t k = 0; k < p.nblocks; k++) {
        if (load_block(&p, k)) return CORRUPT(e, "postings", "term '%s': block %u does not decode", t->text, k);
        uint64_t doff, poff;
        uint32_t pv;
        block_loc(&p, k, &doff, &poff, &pv);
        if (doff != data_end) return CORRUPT(e, "postings", "term '%s': block %u is not where the previous ended", t->text, k);
        data_end = doff + cpq_block_decode(p.blocks + doff, (size_t)(p.blocks_len - doff), pv, p.n, p.ids, p.tfs);
        p.tfs_done = 1;
        if (poff != pos_end) return CORRUPT(e, "positions", "term '%s': block %u positions misplaced", t->text, k);
        float ms = 0;
        uint32_t mt = 0, ml = UINT32_MAX;
        for (uint32_t i = 0; i < p.n; i++) {
            if (count && p.ids[i] <= prev) return CORRUPT(e, "postings", "term '%s': passages not increasing", t->text);
            prev = p.ids[i];
            count++;
            uint32_t len = cpq_index_passage_len(ix, p.ids[i]);
            if (p.tfs[i] > len) return CORRUPT(e, "postings", "term '%s': tf above passage length", t->text);
            p.i = i;
            if (cpq_postings_positions(&p, posv, 64) != (int)p.tfs[i])
                return CORRUPT(e, "positions", "term '%s': bad positions in passage %u", t->text, p.ids[i]);
            float s = cpq_bm25(idf, p.tfs[i], len, in->avg_len, CPQ_BM25_K1, CPQ_BM25_B);
            if (s > ms) ms = s;
            if (p.tfs[i] > mt) mt = p.tfs[i];
            if (len < ml) ml = len;
        }
        /* The end of this block's positions: skip past the last entry's. */
        {
            const uint8_t *b = p.pos, *end = p.pos + p.pos_len;
            uint64_t off = p.posoff;
            for (uint32_t j = 0; j < p.tfs[p.n - 1]; j++) {
                uint64_t v;
                size_t kk = cpq_varint_get(b + off, (size_t)(end - (b + off)), &v);
                if (!kk) return CORRUPT(e, "positions", "term '%s': truncated", t->text);
                off += kk;
            }
            pos_end = off;
        }
        if (p.skips) {
            uint32_t last, smt, sml;
            float sms;
            cpq_postings_block_at(&p, k, &last, &sms, &smt, &sml);
            if (last != p.ids[p.n - 1] || smt != mt || sml != ml || sms != cpq_round_up(ms))
                return CORRUPT(e, "postings", "term '%s': skip entry %u does not match its block", t->text, k);
        }
    }
    if (count != t->df) return CORRUPT(e, "postings", "term '%s': %u postings, df says %u", t->text, count, t->df);
    if (data_end != p.blocks_len) return CORRUPT(e, "postings", "term '%s': %llu stray bytes", t->text,
                                                 (unsigned long long)(p.blocks_len - data_end));
    if (pos_end != t->pos_len) return CORRUPT(e, "positions", "term '%s': %llu stray bytes", t->text,
                                              (unsigned long long)(t->pos_len - pos_end));
    return CPQ_OK;
}

int cpq_index_verify(const cpq_index *ix, cpq_errinfo *e)
{
    const cpq_index_info *in = &ix->info;
    for (uint32_t id = 1; id < CPQ_SEC_COUNT_; id++)
        if (XXH3_64bits(ix->s[id].p, (size_t)ix->s[id].len) != ix->s[id].sum)
            return cpq_err_set(e, CPQ_ECORRUPT, "section '%s': checksum mismatch", cpq_section_name(id));
    /* Terms: sorted, unique, contiguous, each term's postings sound. */
    cpq_term_iter it;
    cpq_term t;
    char prev[CPQ_TERM_MAX];
    size_t prevlen = 0;
    uint64_t n = 0, post_end = 0, pos_end = 0;
    if (cpq_index_prefix(ix, "", 0, &it)) return CORRUPT(e, "terms", "cannot start");
    int rc;
    while ((rc = cpq_term_iter_next(&it, &t)) == CPQ_OK) {
        if (!cpq_utf8_valid(t.text, t.len))
            return CORRUPT(e, "terms", "term %llu is not valid UTF-8", (unsigned long long)n);
        if (n && cmp_bytes(prev, prevlen, t.text, t.len) >= 0)
            return CORRUPT(e, "terms", "term %llu ('%s') out of order", (unsigned long long)n, t.text);
        if (t.post_off != post_end || t.pos_off != pos_end)
            return CORRUPT(e, "termindex", "term %llu ('%s') offsets disagree", (unsigned long long)n, t.text);
        if ((rc = verify_term(ix, &t, e))) return rc;
        memcpy(prev, t.text, t.len);
        prevlen = t.len;
        post_end += t.post_len;
        pos_end += t.pos_len;
        n++;
    }
    if (rc != CPQ_ENOTFOUND) return CORRUPT(e, "terms", "entry %llu does not decode", (unsigned long long)n);
    if (n != in->terms) return CORRUPT(e, "terms", "%llu terms, meta says %llu", (unsigned long long)n, (unsigned long long)in->terms);
    if (it.off != ix->s[CPQ_SEC_TERMS].len) return CORRUPT(e, "terms", "stray bytes at the end");
    if (post_end != ix->s[CPQ_SEC_POSTINGS].len) return CORRUPT(e, "postings", "stray bytes at the end");
    if (pos_end != ix->s[CPQ_SEC_POSITIONS].len) return CORRUPT(e, "positions", "stray bytes at the end");
    /* Document ids: no NUL; the map is a permutation in id order. */
    const uint8_t *ids = ix->s[CPQ_SEC_DOCIDS].p;
    if (memchr(ids, 0, (size_t)ix->s[CPQ_SEC_DOCIDS].len)) return CORRUPT(e, "docids", "NUL inside an id");
    uint8_t *seen = calloc(in->docs ? in->docs : 1, 1);
    if (!seen) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    cpq_doc_info a, b;
    rc = CPQ_OK;
    for (uint64_t i = 0; i < in->docs && !rc; i++) {
        uint32_t d = docmap_get(ix, i);
        if (seen[d]++) { rc = CORRUPT(e, "docmap", "document %u listed twice", d); break; }
        cpq_index_doc(ix, d, &b);
        if (i && cmp_bytes(a.id, a.idlen, b.id, b.idlen) > 0) rc = CORRUPT(e, "docmap", "not sorted at %llu", (unsigned long long)i);
        a = b;
    }
    free(seen);
    if (rc) return rc;
    /* Every stored passage decompresses to exactly its slice. */
    cpq_fetch *f;
    if (cpq_fetch_create(ix, &f)) return cpq_err_set(e, CPQ_ENOMEM, "out of memory");
    for (uint64_t p = 0; p < in->passages && !rc; p++) {
        const char *txt;
        size_t len;
        int r = cpq_fetch_passage(f, (uint32_t)p, &txt, &len);
        if (r == CPQ_ENOMEM) rc = cpq_err_set(e, CPQ_ENOMEM, "out of memory");
        else if (r) rc = CORRUPT(e, "store", "passage %llu does not decompress to its recorded size", (unsigned long long)p);
        else if (!cpq_utf8_valid(txt, len))
            rc = CORRUPT(e, "store", "passage %llu is not valid UTF-8 or splits a character", (unsigned long long)p);
    }
    cpq_fetch_free(f);
    return rc;
}
