/*
 * test_corrupt.c - a damaged index file is an error, never a crash.
 *
 * A small index (~8 KB: a few multi-paragraph documents, a blank one and
 * 130 tiny ones sharing a word, so that one term has two postings blocks
 * and a skip table) is built through the library, then damaged every way
 * a single byte can be: flipped (xor 0xFF, then xor 0x01, at every offset)
 * and truncated (every length).  cpq_index_open must refuse each damaged
 * copy with CPQ_ECORRUPT (or CPQ_EVERSION) and a message.  A copy that
 * opens with CPQ_OPEN_NO_CHECKSUM must fail cpq_index_verify, and reading
 * every term, posting, position, block bound, passage and document of it
 * must not crash (the tests run under ASan/UBSan, so "no crash" means "no
 * bad read").
 *
 * The checksums catch every flip long before the structural checks see
 * it, so a second family of tests *reseals* the damaged file (recomputes
 * the section, TOC and header checksums) to drive the structural
 * validation of open and verify directly: every byte flipped, then random
 * multi-byte damage.  There a change may be harmless (a letter of the
 * stored text), but when verify accepts the file every read must succeed.
 * Last, targeted damage checks invariants verify is documented to check
 * (FORMAT.md) one by one.
 *
 * The damaged copy is one file, patched in place with pwrite and restored
 * after each case; the index maps it afresh on every open.  Set
 * CPQ_TEST_TRACE=1 to print each case before it runs (to locate a crash),
 * CPQ_TEST_FUZZ=N for a longer random run.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cpqindex.h"
#include "testutil.h"

#define HEADER 64
#define TOC_ENTRY 32
#define NTINY 130  /* one-passage documents sharing a word */

/* ---- little-endian helpers (the test reads the format independently) ---- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_sum(uint8_t *dst, const uint8_t *data, size_t len)
{
    XXH64_canonical_t c;
    XXH64_canonicalFromHash(&c, XXH3_64bits(data, len));
    memcpy(dst, c.digest, 8);
}

/* ---- the fixture ---------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    char path[4096];         /* the pristine index */
    char dmg[4096];          /* the damaged copy */
    uint8_t *data;
    size_t size;
    /* layout, parsed from the pristine file */
    uint32_t nsec;
    uint64_t tocoff;
    uint32_t sid[64];
    uint64_t soff[64], slen[64];
    void *scratch[16];       /* freed with the fixture, even after a failed assertion */
    int nscratch;
} fixture;

static const char *const long_docs[] = {
    "The river rose slowly through the night, and by morning the lower fields were under water.\n\n"
    "Farmers moved their animals to the ridge, where the old chapel stands among the oaks.\n\n"
    "Nobody remembered a flood like it since the winter of the great storm.",

    "Caf\xc3\xa9 owners on the square argued about the new market rules for a whole season.\n\n"
    "Some wanted stalls on Sundays; others said the bells and the crowds were already too much.\n\n"
    "In the end the council voted, and the shared square stayed quiet on Sunday mornings.",

    "A lighthouse keeper writes in his log every evening: wind, sea, ships, and the state of the lamp.\n\n"
    "Over forty years the log fills twelve volumes, and the shared handwriting never changes.\n\n"
    "Readers today find storms, rescues, and long stretches where nothing happens at all.",

    "Bees build their combs from wax made in their own bodies, cell by cell, in perfect hexagons.\n\n"
    "A hive can hold tens of thousands of workers and a single queen.\n\n"
    "Honey honey honey: the word repeats because the keeper of the hive repeats it every spring.",
};

static const char *const vocab[] = { "ash", "elm", "oak", "yew", "fir", "bay" };

/* Build the test index (empty: one with no documents at all) into a new
 * temporary directory and parse its layout. */
static void build_index_of(fixture *fx, int empty)
{
    memset(fx, 0, sizeof *fx);
    fx->dir = tu_tempdir();
    cr_assert_not_null(fx->dir);
    snprintf(fx->path, sizeof fx->path, "%s/small.cpq", fx->dir);
    snprintf(fx->dmg, sizeof fx->dmg, "%s/damaged.cpq", fx->dir);

    cpq_build_opts o;
    cpq_build_opts_default(&o);
    o.threads = 1;
    o.passage_words = 16;
    o.memory = CPQ_MEMORY_MIN * 8;
    o.tmpdir = fx->dir;
    cpq_errinfo e = { 0 };
    cpq_builder *b = NULL;
    cr_assert_eq(cpq_builder_create(&o, fx->path, &b, &e), CPQ_OK, "%s", e.msg);
    char id[32], text[256];
    for (size_t i = 0; !empty && i < sizeof long_docs / sizeof *long_docs; i++) {
        snprintf(id, sizeof id, "long/%zu", i);
        cr_assert_eq(cpq_builder_add(b, id, strlen(id), long_docs[i], strlen(long_docs[i]), &e), CPQ_OK, "%s", e.msg);
    }
    /* A document with no passages. */
    if (!empty) cr_assert_eq(cpq_builder_add(b, "blank", 5, "  \n\n \t ", 7, &e), CPQ_OK, "%s", e.msg);
    for (int i = 0; !empty && i < NTINY; i++) {
        snprintf(id, sizeof id, "t%03d", i);
        snprintf(text, sizeof text, "shared %s", vocab[i % 6]);
        cr_assert_eq(cpq_builder_add(b, id, strlen(id), text, strlen(text), &e), CPQ_OK, "%s", e.msg);
    }
    cr_assert_eq(cpq_builder_finish(b, &e), CPQ_OK, "%s", e.msg);
    cpq_builder_free(b);

    fx->data = (uint8_t *)tu_read_file(fx->path, &fx->size);
    cr_assert_not_null(fx->data);
    cr_assert_gt(fx->size, HEADER);
    cr_assert_lt(fx->size, 16 * 1024, "the test index should stay small (%zu bytes)", fx->size);
    cr_assert_eq(tu_write_file(fx->dmg, fx->data, fx->size), 0);

    fx->nsec = le32(fx->data + 16);
    fx->tocoff = le64(fx->data + 24);
    cr_assert(fx->nsec >= 1 && fx->nsec <= 64);
    cr_assert_eq(fx->tocoff + (uint64_t)fx->nsec * TOC_ENTRY, fx->size);
    for (uint32_t i = 0; i < fx->nsec; i++) {
        const uint8_t *t = fx->data + fx->tocoff + (size_t)i * TOC_ENTRY;
        fx->sid[i] = le32(t);
        fx->soff[i] = le64(t + 8);
        fx->slen[i] = le64(t + 16);
    }
}

static void *fx_alloc(fixture *fx, size_t n)
{
    cr_assert_lt(fx->nscratch, 16);
    void *p = calloc(1, n ? n : 1);
    cr_assert_not_null(p);
    return fx->scratch[fx->nscratch++] = p;
}

static void free_fixture(fixture *fx)
{
    for (int i = 0; i < fx->nscratch; i++) free(fx->scratch[i]);
    free(fx->data);
    tu_rmrf(fx->dir);
    free(fx->dir);
}

/* Every test gets a freshly built index (a few milliseconds), released by
 * the suite's fini even when an assertion fails. */
static fixture FX;
static void suite_init(void) { build_index_of(&FX, 0); }
static void suite_fini(void) { free_fixture(&FX); }
TestSuite(corrupt, .init = suite_init, .fini = suite_fini);

static const char *const secnames[] = { "?", "meta", "termindex", "terms", "postings", "positions", "lengths",
                                        "passages", "docs", "docids", "docmap", "store", "zdict" };

/* Where offset off lies: "header", "toc" or a section name. */
static const char *region(const fixture *fx, size_t off, int *sec)
{
    *sec = -1;
    if (off < HEADER) return "header";
    if (off >= fx->tocoff) return "toc";
    for (uint32_t i = 0; i < fx->nsec; i++)
        if (off >= fx->soff[i] && off < fx->soff[i] + fx->slen[i]) {
            *sec = (int)i;
            return fx->sid[i] < 13 ? secnames[fx->sid[i]] : "unknown";
        }
    return "?";
}

/* Recompute the checksums that cover offset off in buf (a copy of the
 * pristine file with off changed), so that only structural checks can
 * notice the change.  A flip inside a checksum field is left as it is. */
static void reseal(const fixture *fx, uint8_t *buf, size_t off)
{
    if (off >= 56 && off < 64) return;          /* the header checksum itself */
    if (off >= HEADER && off < fx->tocoff) {
        int sec;
        region(fx, off, &sec);
        if (sec >= 0)
            put_sum(buf + fx->tocoff + (size_t)sec * TOC_ENTRY + 24, buf + fx->soff[sec], (size_t)fx->slen[sec]);
    }
    if (!(off >= 40 && off < 48))               /* not the TOC checksum itself */
        put_sum(buf + 40, buf + fx->tocoff, (size_t)fx->nsec * TOC_ENTRY);
    put_sum(buf + 56, buf, 56);
}

/* Write bytes [off, off + n) of src into the damaged copy open at fd. */
static void patch(int fd, size_t off, const uint8_t *src, size_t n)
{
    cr_assert_eq(pwrite(fd, src + off, n, (off_t)off), (ssize_t)n, "pwrite: %s", strerror(errno));
}

/* ---- reading everything ------------------------------------------------------ */

static volatile unsigned sink;

static void touch(const void *p, size_t n)
{
    const unsigned char *c = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += c[i];
    sink += s;
}

/* Read every posting of t three ways (next with positions, seek, block
 * bounds); returns the number of errors seen. */
static unsigned walk_postings(const cpq_index *ix, const cpq_term *t)
{
    const cpq_index_info *in = cpq_index_get_info(ix);
    unsigned err = 0;
    uint32_t pos[32];
    cpq_postings p;
    if (cpq_postings_open(ix, t, &p) != CPQ_OK) return 1;
    uint32_t d, prev = CPQ_END, n = 0;
    (void)cpq_postings_positions(&p, pos, 32);   /* before the first posting: an error, not a crash */
    while ((d = cpq_postings_next(&p)) != CPQ_END) {
        if ((prev != CPQ_END && d <= prev) || d >= in->passages || cpq_postings_doc(&p) != d) err++;
        prev = d;
        int tf = cpq_postings_positions(&p, pos, 32);
        if (tf < 0 || (uint32_t)tf != cpq_postings_tf(&p)) err++;
        /* Twice: the cursor must not lose its place in the positions. */
        if (n % 3 == 0 && cpq_postings_positions(&p, pos, 1) != tf) err++;
        if (++n > t->df) { err++; break; }
    }
    if (cpq_postings_corrupt(&p) || n != t->df) err++;
    (void)cpq_postings_positions(&p, pos, 32);   /* after the end */
    (void)cpq_postings_next(&p);

    uint32_t nb = cpq_postings_nblocks(&p);
    for (uint32_t k = 0; k <= nb; k++) {
        uint32_t last = 0, mt = 0, ml = 0;
        float ms = 0;
        cpq_postings_block_at(&p, k, &last, &ms, &mt, &ml);
        cpq_postings_block_at(&p, k, NULL, NULL, NULL, NULL);
        sink += last + mt + ml + (unsigned)ms;
    }

    /* Seeks, ascending, interleaved with next and positions. */
    const uint32_t targets[] = { 0, 1, 2, 40, 129, 130, 131, 150, 151, 152, 157,
                                 (uint32_t)in->passages - 1, (uint32_t)in->passages, CPQ_END - 1 };
    cpq_postings q;
    if (cpq_postings_open(ix, t, &q) != CPQ_OK) return err + 1;
    uint32_t last_found = 0;
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        d = cpq_postings_seek(&q, targets[i]);
        if (d == CPQ_END) continue;
        if (d < targets[i] || d < last_found || d >= in->passages) err++;
        last_found = d;
        if (cpq_postings_positions(&q, pos, 32) < 0) err++;
        if (i % 4 == 0) {
            d = cpq_postings_next(&q);
            if (d != CPQ_END && d <= last_found) err++;
            if (d != CPQ_END) last_found = d;
        }
    }
    for (uint32_t k = 0; k < cpq_postings_nblocks(&q); k++) {
        uint32_t last, mt, ml;
        float ms;
        cpq_postings_block_at(&q, k, &last, &ms, &mt, &ml);
        sink += last;
    }
    if (cpq_postings_corrupt(&q)) err++;
    return err;
}

/* Read everything the API offers; returns the number of errors seen (0 for
 * a sound index).  Must never crash, whatever the file holds. */
static unsigned exercise(const cpq_index *ix)
{
    const cpq_index_info *in = cpq_index_get_info(ix);
    unsigned err = 0;
    int rc;
    touch(in->analysis.stopwords, strlen(in->analysis.stopwords));
    cpq_section_info secs[64];
    size_t ns = cpq_index_sections(ix, secs, 64);
    for (size_t i = 0; i < ns && i < 64; i++) touch(secs[i].name, strlen(secs[i].name));

    /* Every term, every posting. */
    cpq_term_iter it;
    cpq_term t, t2;
    uint64_t nterms = 0;
    if (cpq_index_prefix(ix, "", 0, &it) != CPQ_OK) {
        err++;
    } else {
        while ((rc = cpq_term_iter_next(&it, &t)) == CPQ_OK) {
            if (t.len == 0 || t.len > CPQ_TERM_MAX || strlen(t.text) > t.len) err++;
            if (cpq_index_term(ix, t.text, t.len, &t2) != CPQ_OK || t2.ord != t.ord || t2.df != t.df) err++;
            err += walk_postings(ix, &t);
            if (++nterms > in->terms) { err++; break; }
        }
        if (rc != CPQ_ENOTFOUND) err++;
        if (nterms != in->terms) err++;
    }
    /* Prefix ranges and lookups of terms that are not there. */
    static const char *const probes[] = { "sh", "share", "h", "zzzz", "\xff\xff", "a", "0" };
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        if (cpq_index_prefix(ix, probes[i], strlen(probes[i]), &it) == CPQ_OK)
            for (int k = 0; k < 1000 && cpq_term_iter_next(&it, &t) == CPQ_OK; k++) touch(t.text, t.len);
        (void)cpq_index_term(ix, probes[i], strlen(probes[i]), &t);
    }
    char big[CPQ_TERM_MAX + 2];
    memset(big, 'z', sizeof big);
    (void)cpq_index_term(ix, big, CPQ_TERM_MAX, &t);
    (void)cpq_index_term(ix, big, CPQ_TERM_MAX + 1, &t);
    (void)cpq_index_term(ix, "", 0, &t);
    (void)cpq_index_prefix(ix, big, CPQ_TERM_MAX + 1, &it);

    /* Passages and documents, metadata and text. */
    cpq_fetch *f = NULL;
    if (cpq_fetch_create(ix, &f) != CPQ_OK) return err + 1;
    const char *txt;
    size_t len;
    for (uint64_t p = 0; p <= in->passages; p++) {
        cpq_passage_info pi;
        rc = cpq_index_passage(ix, (uint32_t)p, &pi);
        sink += cpq_index_passage_len(ix, (uint32_t)p);
        if (p == in->passages) {
            if (rc != CPQ_ENOTFOUND || cpq_fetch_passage(f, (uint32_t)p, &txt, &len) != CPQ_ENOTFOUND) err++;
            break;
        }
        if (rc != CPQ_OK || pi.doc >= in->docs) err++;
        rc = cpq_fetch_passage(f, (uint32_t)p, &txt, &len);
        if (rc == CPQ_OK) touch(txt, len);
        else err++;
        if (rc == CPQ_OK && pi.len != len) err++;
    }
    for (uint64_t d = 0; d <= in->docs; d++) {
        cpq_doc_info di;
        rc = cpq_index_doc(ix, (uint32_t)d, &di);
        if (d == in->docs) {
            if (rc != CPQ_ENOTFOUND || cpq_fetch_doc(f, (uint32_t)d, &txt, &len) != CPQ_ENOTFOUND) err++;
            break;
        }
        if (rc != CPQ_OK) { err++; continue; }
        touch(di.id, di.idlen);
        /* A lookup decodes log2(D) table records: every 8th document will do. */
        uint32_t found;
        if ((d % 8 == 0 || d + 1 == in->docs) && cpq_index_doc_find(ix, di.id, di.idlen, &found) != CPQ_OK) err++;
        rc = cpq_fetch_doc(f, (uint32_t)d, &txt, &len);
        if (rc == CPQ_OK) touch(txt, len);
        else err++;
        if (rc == CPQ_OK && di.npassages && len != di.text_len) err++;
    }
    uint32_t found;
    (void)cpq_index_doc_find(ix, "no such document", 16, &found);
    (void)cpq_index_doc_find(ix, "", 0, &found);
    (void)cpq_index_doc_find(ix, "t129", 4, &found);
    /* Out of range, far away. */
    (void)cpq_fetch_passage(f, UINT32_MAX, &txt, &len);
    (void)cpq_fetch_doc(f, UINT32_MAX, &txt, &len);
    cpq_doc_info di;
    cpq_passage_info pi;
    (void)cpq_index_doc(ix, UINT32_MAX, &di);
    (void)cpq_index_passage(ix, UINT32_MAX, &pi);
    cpq_fetch_free(f);
    return err;
}

/* ---- the sound index ---------------------------------------------------------- */

Test(corrupt, pristine_opens_verifies_and_reads)
{
    fixture *fx = &FX;
    cpq_index *ix = NULL;
    cpq_errinfo e = { 0 };
    for (unsigned flags = 0; flags < 2; flags++) {
        cr_assert_eq(cpq_index_open(fx->path, flags, &ix, &e), CPQ_OK, "%s", e.msg);
        cr_assert_eq(cpq_index_verify(ix, &e), CPQ_OK, "%s", e.msg);
        const cpq_index_info *in = cpq_index_get_info(ix);
        cr_assert_eq(in->docs, 4 + 1 + NTINY);
        cr_assert_gt(in->passages, NTINY + 4);
        cr_assert_eq(in->file_bytes, fx->size);
        cr_assert_eq(cpq_index_sections(ix, NULL, 0), 12);
        /* The shared word spans two postings blocks, so there is a skip table. */
        cpq_term t;
        cr_assert_eq(cpq_index_term(ix, "share", 5, &t), CPQ_OK);
        cr_assert_gt(t.df, 128);
        cpq_postings p;
        cr_assert_eq(cpq_postings_open(ix, &t, &p), CPQ_OK);
        cr_assert_eq(cpq_postings_nblocks(&p), 2);
        cr_assert_eq(exercise(ix), 0);
        cpq_index_close(ix);
        ix = NULL;
    }
}

/* ---- single-byte flips --------------------------------------------------------- */

static int trace_on(void)
{
    const char *s = getenv("CPQ_TEST_TRACE");
    return s && *s && strcmp(s, "0");
}

/* Flip every byte with mask; every damaged copy must be refused by a
 * checksummed open, and anything that opens without checksums must fail
 * verify and survive being read. */
static void flip_every_byte(uint8_t mask)
{
    fixture *fx = &FX;
    int fd = open(fx->dmg, O_RDWR);
    cr_assert_geq(fd, 0);
    int trace = trace_on();
    unsigned failures = 0, opened_nock = 0;
    for (size_t off = 0; off < fx->size; off++) {
        int sec;
        const char *where = region(fx, off, &sec);
        uint8_t b = (uint8_t)(fx->data[off] ^ mask);
        cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
        if (trace) fprintf(stderr, "flip ^%#x at %zu (%s)\n", mask, off, where);

        cpq_index *ix = NULL;
        cpq_errinfo e = { 0 };
        int rc = cpq_index_open(fx->dmg, CPQ_OPEN_DEFAULT, &ix, &e);
        if (!((rc == CPQ_ECORRUPT || rc == CPQ_EVERSION) && !ix && e.msg[0])) {
            if (++failures <= 20)
                cr_expect(0, "flip ^%#x at %zu (%s): open gave %s '%s'", mask, off, where, cpq_err_name(rc), e.msg);
            cpq_index_close(ix);
            ix = NULL;
        }
        memset(&e, 0, sizeof e);
        rc = cpq_index_open(fx->dmg, CPQ_OPEN_NO_CHECKSUM, &ix, &e);
        if (rc == CPQ_OK) {
            opened_nock++;
            (void)exercise(ix);
            memset(&e, 0, sizeof e);
            int vr = cpq_index_verify(ix, &e);
            if ((vr != CPQ_ECORRUPT || !e.msg[0]) && ++failures <= 20)
                cr_expect(0, "flip ^%#x at %zu (%s): verify gave %s '%s'", mask, off, where, cpq_err_name(vr), e.msg);
            cpq_index_close(ix);
        } else if ((rc != CPQ_ECORRUPT && rc != CPQ_EVERSION) || !e.msg[0]) {
            if (++failures <= 20)
                cr_expect(0, "flip ^%#x at %zu (%s): unchecked open gave %s '%s'", mask, off, where, cpq_err_name(rc), e.msg);
        }
        patch(fd, off, fx->data, 1);
    }
    close(fd);
    cr_log_info("flip ^%#x: %zu offsets, %u opened without checksums and were read", mask, fx->size, opened_nock);
    cr_assert_eq(failures, 0, "%u of %zu flips were not handled", failures, fx->size);
}

Test(corrupt, flip_xff_every_byte) { flip_every_byte(0xFF); }
Test(corrupt, flip_x01_every_byte) { flip_every_byte(0x01); }

/* Is off inside the checksum field of a TOC entry for one of the large
 * sections, whose checksums CPQ_OPEN_NO_CHECKSUM skips? */
static int big_sum_field(const fixture *fx, size_t off)
{
    if (off < fx->tocoff || (off - fx->tocoff) % TOC_ENTRY < 24) return 0;
    uint32_t id = fx->sid[(off - fx->tocoff) / TOC_ENTRY];
    return id == 4 || id == 5 || id == 11;   /* postings, positions, store */
}

/* Flip every byte with mask and reseal the checksums, so that the
 * structural checks of open and verify see the change:
 *   - every header and TOC field is validated, so those flips must still
 *     be refused (except, without checksums, a large section's checksum);
 *   - a flip inside a section may be harmless (a letter of a stored
 *     passage, a posting moved to another passage), but whatever verify
 *     accepts must then read back without a single error;
 *   - nothing may crash.
 * The store is zstd frames whose decoding zstd's own fuzzers cover, and
 * the plain flip tests already read every damaged store byte, so only
 * every 8th store byte is tried here, to keep the test fast. */
static void flip_resealed(uint8_t mask)
{
    fixture *fx = &FX;
    int fd = open(fx->dmg, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t *buf = fx_alloc(fx, fx->size);
    cr_assert_not_null(buf);
    int trace = trace_on();
    unsigned failures = 0, cases = 0, open_ok[64] = { 0 }, verify_ok[64] = { 0 };
    for (size_t off = 0; off < fx->size; off++) {
        int sec;
        const char *where = region(fx, off, &sec);
        if (sec >= 0 && fx->sid[sec] == 11 && (off - fx->soff[sec]) % 8) continue;
        cases++;
        memcpy(buf, fx->data, fx->size);
        buf[off] ^= mask;
        reseal(fx, buf, off);
        cr_assert_eq(pwrite(fd, buf, fx->size, 0), (ssize_t)fx->size);
        if (trace) fprintf(stderr, "resealed flip ^%#x at %zu (%s)\n", mask, off, where);

        /* With sound checksums the two open modes differ only on the
         * large sections' checksum fields. */
        for (unsigned flags = 0; flags < (sec < 0 ? 2u : 1u); flags++) {
            cpq_index *ix = NULL;
            cpq_errinfo e = { 0 };
            int rc = cpq_index_open(fx->dmg, flags, &ix, &e);
            if (rc != CPQ_OK) {
                if (((rc != CPQ_ECORRUPT && rc != CPQ_EVERSION) || !e.msg[0] || ix) && ++failures <= 20)
                    cr_expect(0, "resealed flip ^%#x at %zu (%s): open(%u) gave %s '%s'", mask, off, where, flags,
                              cpq_err_name(rc), e.msg);
                cpq_index_close(ix);
                continue;
            }
            int sum_only = sec < 0 && flags == CPQ_OPEN_NO_CHECKSUM && big_sum_field(fx, off);
            if (sec < 0 && !sum_only && ++failures <= 20)
                cr_expect(0, "resealed flip ^%#x at %zu (%s): open(%u) accepted it", mask, off, where, flags);
            if (sec >= 0) open_ok[sec]++;
            unsigned errs = exercise(ix);
            memset(&e, 0, sizeof e);
            int vr = cpq_index_verify(ix, &e);
            if (vr == CPQ_OK && sec >= 0) verify_ok[sec]++;
            if (vr == CPQ_OK && trace)
                fprintf(stderr, "  accepted: %s+%llu\n", where, (unsigned long long)(off - (sec >= 0 ? fx->soff[sec] : 0)));
            if (vr != CPQ_OK && (vr != CPQ_ECORRUPT || !e.msg[0]) && ++failures <= 20)
                cr_expect(0, "resealed flip ^%#x at %zu (%s): verify gave %s '%s'", mask, off, where, cpq_err_name(vr),
                          e.msg);
            if (vr == CPQ_OK && (sec < 0 || errs) && ++failures <= 20)
                cr_expect(0, "resealed flip ^%#x at %zu (%s): verify passed but %u reads failed", mask, off, where,
                          errs);
            cpq_index_close(ix);
        }
    }
    patch(fd, 0, fx->data, fx->size);
    close(fd);
    for (uint32_t i = 0; i < fx->nsec; i++)
        cr_log_info("resealed ^%#x %-9s %5llu bytes: %4u opened, %4u passed verify", mask,
                    fx->sid[i] < 13 ? secnames[fx->sid[i]] : "?", (unsigned long long)fx->slen[i], open_ok[i], verify_ok[i]);
    cr_assert_eq(failures, 0, "%u of %u resealed flips were mishandled", failures, cases);
}

Test(corrupt, resealed_flip_xff_every_byte) { flip_resealed(0xFF); }
Test(corrupt, resealed_flip_x01_every_byte) { flip_resealed(0x01); }

/* Recompute every section checksum (from the pristine layout), the TOC
 * checksum and the header checksum of buf. */
static void reseal_all(const fixture *fx, uint8_t *buf)
{
    for (uint32_t i = 0; i < fx->nsec; i++)
        put_sum(buf + fx->tocoff + (size_t)i * TOC_ENTRY + 24, buf + fx->soff[i], (size_t)fx->slen[i]);
    put_sum(buf + 40, buf + fx->tocoff, (size_t)fx->nsec * TOC_ENTRY);
    put_sum(buf + 56, buf, 56);
}

/* Random damage of several bytes in one or more sections, resealed: what
 * single flips cannot reach (a varint made longer, two fields changed
 * together).  Deterministic; CPQ_TEST_FUZZ=N runs N cases instead of the
 * default, CPQ_TEST_SEED picks another sequence. */
Test(corrupt, resealed_random_damage)
{
    fixture *fx = &FX;
    int fd = open(fx->dmg, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t *buf = fx_alloc(fx, fx->size);
    cr_assert_not_null(buf);
    const char *env = getenv("CPQ_TEST_FUZZ");
    unsigned long iters = env && *env ? strtoul(env, NULL, 10) : 1500;
    env = getenv("CPQ_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 10) : 0x5eed;
    uint64_t rs = seed ? seed : 1;
    int trace = trace_on();
    unsigned failures = 0, opened = 0, passed = 0;
    static const uint8_t values[] = { 0x00, 0x01, 0x7F, 0x80, 0xFF, 0x40, 0x20, 0x10 };
    for (unsigned long c = 0; c < iters; c++) {
        memcpy(buf, fx->data, fx->size);
        unsigned nsecs = 1 + (unsigned)(tu_rand(&rs) % 3);
        char what[256];
        size_t wl = 0;
        for (unsigned k = 0; k < nsecs; k++) {
            uint32_t i = (uint32_t)(tu_rand(&rs) % fx->nsec);
            if (fx->slen[i] == 0) continue;
            unsigned nbytes = 1 + (unsigned)(tu_rand(&rs) % 4);
            size_t at = (size_t)(tu_rand(&rs) % fx->slen[i]);
            for (unsigned j = 0; j < nbytes; j++) {
                /* Mostly neighbouring bytes (one field), sometimes anywhere. */
                size_t o = tu_rand(&rs) % 4 ? (at + j) % fx->slen[i] : (size_t)(tu_rand(&rs) % fx->slen[i]);
                uint64_t r = tu_rand(&rs);
                uint8_t v = r % 3 == 0 ? values[(r >> 8) % 8] : r % 3 == 1 ? (uint8_t)(buf[fx->soff[i] + o] ^ (1u << ((r >> 8) % 8)))
                                                                         : (uint8_t)(r >> 16);
                buf[fx->soff[i] + o] = v;
                if (wl < sizeof what - 40)
                    wl += (size_t)snprintf(what + wl, sizeof what - wl, " %s+%zu=%#x", secnames[fx->sid[i] < 13 ? fx->sid[i] : 0], o, v);
            }
        }
        if (wl == 0) continue;
        reseal_all(fx, buf);
        cr_assert_eq(pwrite(fd, buf, fx->size, 0), (ssize_t)fx->size);
        if (trace) fprintf(stderr, "random case %lu:%s\n", c, what);
        cpq_index *ix = NULL;
        cpq_errinfo e = { 0 };
        int rc = cpq_index_open(fx->dmg, CPQ_OPEN_DEFAULT, &ix, &e);
        if (rc != CPQ_OK) {
            if ((rc != CPQ_ECORRUPT || !e.msg[0] || ix) && ++failures <= 20)
                cr_expect(0, "case %lu (%s): open gave %s '%s'", c, what, cpq_err_name(rc), e.msg);
            cpq_index_close(ix);
            continue;
        }
        opened++;
        unsigned errs = exercise(ix);
        memset(&e, 0, sizeof e);
        int vr = cpq_index_verify(ix, &e);
        if (vr == CPQ_OK) passed++;
        if (vr != CPQ_OK && (vr != CPQ_ECORRUPT || !e.msg[0]) && ++failures <= 20)
            cr_expect(0, "case %lu (%s): verify gave %s '%s'", c, what, cpq_err_name(vr), e.msg);
        if (vr == CPQ_OK && errs && ++failures <= 20)
            cr_expect(0, "case %lu (%s): verify passed but %u reads failed", c, what, errs);
        cpq_index_close(ix);
    }
    close(fd);
    cr_log_info("random damage: %lu cases (seed %llu), %u opened, %u passed verify", iters,
                (unsigned long long)seed, opened, passed);
    cr_assert_eq(failures, 0, "%u of %lu random damages were mishandled", failures, iters);
}

/* ---- invariants verify must check (targeted damage, resealed) ----------------- */

static int sec_index(const fixture *fx, uint32_t id)
{
    for (uint32_t i = 0; i < fx->nsec; i++)
        if (fx->sid[i] == id) return (int)i;
    cr_assert_fail("no section %u", id);
    return -1;
}

static uint64_t get_varint(const uint8_t *p, size_t *o)
{
    uint64_t v = 0;
    for (int sh = 0;; sh += 7) {
        uint8_t b = p[(*o)++];
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) return v;
    }
}

/* Offset in the terms section of term ord's entry (walked from its block). */
static size_t term_entry_at(const fixture *fx, uint32_t ord)
{
    const uint8_t *ti = fx->data + fx->soff[sec_index(fx, 2)];
    const uint8_t *terms = fx->data + fx->soff[sec_index(fx, 3)];
    size_t o = le32(ti + (size_t)(ord / 16) * 24);
    for (uint32_t k = ord / 16 * 16; k < ord; k++) {
        o += 2 + terms[o + 1];
        for (int j = 0; j < 3; j++) (void)get_varint(terms, &o);
    }
    return o;
}

/* Write buf (the damaged file) to the fixture's damaged path, open it and
 * return verify's result (or open's, when open refuses it). */
static int open_and_verify(const fixture *fx, const uint8_t *buf, size_t size, cpq_errinfo *e)
{
    cr_assert_eq(tu_write_file(fx->dmg, buf, size), 0);
    cpq_index *ix = NULL;
    memset(e, 0, sizeof *e);
    int rc = cpq_index_open(fx->dmg, CPQ_OPEN_DEFAULT, &ix, e);
    if (rc) return rc;
    rc = cpq_index_verify(ix, e);
    (void)exercise(ix);
    cpq_index_close(ix);
    return rc;
}

/* The file with section id's bytes replaced by (p, n): later sections
 * move, and the TOC, the header and every checksum are rewritten. */
static uint8_t *replace_section(fixture *fx, uint32_t id, const uint8_t *p, size_t n, size_t *size)
{
    size_t total = fx->size - (size_t)fx->slen[sec_index(fx, id)] + n;
    uint8_t *buf = fx_alloc(fx, total);
    memcpy(buf, fx->data, HEADER);
    size_t off = HEADER;
    uint64_t tocoff = total - (size_t)fx->nsec * TOC_ENTRY;
    for (uint32_t i = 0; i < fx->nsec; i++) {
        const uint8_t *src = fx->sid[i] == id ? p : fx->data + fx->soff[i];
        size_t len = fx->sid[i] == id ? n : (size_t)fx->slen[i];
        memcpy(buf + off, src, len);
        uint8_t *t = buf + tocoff + (size_t)i * TOC_ENTRY;
        put_le32(t, fx->sid[i]);
        put_le32(t + 4, 0);
        put_le32(t + 8, (uint32_t)off);
        put_le32(t + 12, 0);
        put_le32(t + 16, (uint32_t)len);
        put_le32(t + 20, 0);
        put_sum(t + 24, buf + off, len);
        off += len;
    }
    put_le32(buf + 24, (uint32_t)tocoff);
    put_le32(buf + 28, 0);
    put_le32(buf + 32, (uint32_t)total);
    put_le32(buf + 36, 0);
    put_sum(buf + 40, buf + tocoff, (size_t)fx->nsec * TOC_ENTRY);
    put_sum(buf + 56, buf, 56);
    *size = total;
    return buf;
}

Test(corrupt, replace_section_roundtrip)
{
    /* The helper itself: replacing a section by its own bytes is a no-op. */
    fixture *fx = &FX;
    int i = sec_index(fx, 5);
    size_t n;
    uint8_t *buf = replace_section(fx, 5, fx->data + fx->soff[i], (size_t)fx->slen[i], &n);
    cr_assert(n == fx->size && memcmp(buf, fx->data, n) == 0);
}

/* meta's "bytes of document text indexed" is the sum of the documents'
 * text lengths; a file where they disagree is not sound. */
Test(corrupt, verify_checks_meta_text_bytes)
{
    fixture *fx = &FX;
    uint8_t *buf = fx_alloc(fx, fx->size);
    memcpy(buf, fx->data, fx->size);
    buf[fx->soff[sec_index(fx, 1)] + 32] ^= 0x01;   /* meta: text bytes */
    reseal_all(fx, buf);
    cpq_errinfo e;
    cr_expect_eq(open_and_verify(fx, buf, fx->size, &e), CPQ_ECORRUPT,
                 "meta's text byte count disagrees with the documents, yet open + verify say '%s'", e.msg);
    /* The same through a document with no passages (the blank one, number
     * 4): its text length is not checked against any stored slice. */
    memcpy(buf, fx->data, fx->size);
    const uint8_t *docs = fx->data + fx->soff[sec_index(fx, 8)];
    size_t o = 24 * ((4 + 1 + NTINY + 63) / 64);      /* past the index entries */
    for (int d = 0; d < 4; d++)
        for (int j = 0; j < 3; j++) (void)get_varint(docs, &o);
    cr_assert_eq(get_varint(docs, &o), 0, "document 4 should have no passages");
    cr_assert_eq(docs[o], 7, "document 4's text length");
    buf[fx->soff[sec_index(fx, 8)] + o] = 6;
    reseal_all(fx, buf);
    cr_expect_eq(open_and_verify(fx, buf, fx->size, &e), CPQ_ECORRUPT,
                 "a passage-less document's text length changed, yet open + verify say '%s'", e.msg);
}

/* An index whose stemmer language this build does not know cannot be
 * queried (the query analyser cannot be created): verify must say so. */
Test(corrupt, verify_checks_language)
{
    fixture *fx = &FX;
    uint8_t *buf = fx_alloc(fx, fx->size);
    memcpy(buf, fx->data, fx->size);
    uint8_t *lang = buf + fx->soff[sec_index(fx, 1)] + 56;
    cr_assert_str_eq((const char *)lang, "english");
    memset(lang, 0, 32);
    memcpy(lang, "klingon", 7);
    reseal_all(fx, buf);
    cpq_errinfo e;
    cr_expect_eq(open_and_verify(fx, buf, fx->size, &e), CPQ_ECORRUPT,
                 "an unknown stemmer language is accepted: '%s'", e.msg);
}

/* Terms are valid UTF-8 (FORMAT.md, terms): a 0xFF byte in the last term
 * keeps the dictionary sorted but is not a term the analyser can make. */
Test(corrupt, verify_checks_terms_are_utf8)
{
    fixture *fx = &FX;
    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(fx->path, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    uint32_t last = (uint32_t)cpq_index_get_info(ix)->terms - 1;
    cpq_index_close(ix);
    size_t at = term_entry_at(fx, last);
    uint8_t *buf = fx_alloc(fx, fx->size);
    memcpy(buf, fx->data, fx->size);
    uint8_t *terms = buf + fx->soff[sec_index(fx, 3)];
    uint8_t suf = terms[at + 1];
    cr_assert_gt(suf, 0);
    terms[at + 2 + suf - 1] = 0xFF;                    /* the last byte of the last term */
    reseal_all(fx, buf);
    cr_expect_eq(open_and_verify(fx, buf, fx->size, &e), CPQ_ECORRUPT,
                 "a term with a 0xFF byte is accepted: '%s'", e.msg);
}

/* A position delta of 2^64 - 1 wraps the running position back onto the
 * previous one: positions must strictly increase, and a delta that large
 * is out of range whatever the passage length. */
Test(corrupt, verify_checks_position_deltas)
{
    fixture *fx = &FX;
    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(fx->path, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    cpq_term t;
    cr_assert_eq(cpq_index_term(ix, "honey", 5, &t), CPQ_OK);
    cr_assert_eq(t.df, 1);
    cpq_postings p;
    cr_assert_eq(cpq_postings_open(ix, &t, &p), CPQ_OK);
    cr_assert_neq(cpq_postings_next(&p), CPQ_END);
    uint32_t pos[8];
    cr_assert_eq(cpq_postings_positions(&p, pos, 8), 3, "'Honey honey honey' has tf 3");
    cr_assert_lt(t.pos_len, 100);
    cpq_index_close(ix);

    /* positions: the term's varints [first, 0, 0] become [first, 2^64-1, 0]. */
    const uint8_t *old = fx->data + fx->soff[sec_index(fx, 5)];
    size_t oldlen = (size_t)fx->slen[sec_index(fx, 5)], q = (size_t)t.pos_off;
    (void)get_varint(old, &q);
    cr_assert_eq(old[q], 0, "the second occurrence follows the first");
    uint8_t *pos_sec = fx_alloc(fx, oldlen + 9);
    memcpy(pos_sec, old, q);
    static const uint8_t wrap[10] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    memcpy(pos_sec + q, wrap, 10);
    memcpy(pos_sec + q + 10, old + q + 1, oldlen - q - 1);
    /* The term's positions byte count (terms) and the positions offsets
     * of the later term blocks (termindex) grow by 9. */
    uint8_t *saved = fx_alloc(fx, fx->size);
    memcpy(saved, fx->data, fx->size);
    size_t at = term_entry_at(fx, t.ord), o = at + 2 + fx->data[fx->soff[sec_index(fx, 3)] + at + 1];
    uint8_t *terms = fx->data + fx->soff[sec_index(fx, 3)];
    (void)get_varint(terms, &o);
    (void)get_varint(terms, &o);
    cr_assert_eq(terms[o], t.pos_len);
    terms[o] = (uint8_t)(t.pos_len + 9);
    uint8_t *ti = fx->data + fx->soff[sec_index(fx, 2)];
    for (uint64_t k = t.ord / 16 + 1; k < fx->slen[sec_index(fx, 2)] / 24; k++)
        put_le32(ti + k * 24 + 16, (uint32_t)(le64(ti + k * 24 + 16) + 9));
    size_t n;
    uint8_t *buf = replace_section(fx, 5, pos_sec, oldlen + 9, &n);
    memcpy(fx->data, saved, fx->size);

    cr_assert_eq(tu_write_file(fx->dmg, buf, n), 0);
    cr_assert_eq(cpq_index_open(fx->dmg, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_index_term(ix, "honey", 5, &t), CPQ_OK);
    cr_assert_eq(cpq_postings_open(ix, &t, &p), CPQ_OK);
    cr_assert_neq(cpq_postings_next(&p), CPQ_END);
    int tf = cpq_postings_positions(&p, pos, 8);
    cr_expect(tf < 0 || (pos[0] < pos[1] && pos[1] < pos[2]),
              "positions are not ascending: %u %u %u", pos[0], pos[1], pos[2]);
    memset(&e, 0, sizeof e);
    cr_expect_eq(cpq_index_verify(ix, &e), CPQ_ECORRUPT, "a wrapped position delta is accepted: '%s'", e.msg);
    cpq_index_close(ix);
}

/* ---- truncation and extension ------------------------------------------------ */

static void truncate_every_length(void)
{
    fixture *fx = &FX;
    int fd = open(fx->dmg, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned failures = 0;
    /* Shrinking one file step by step gives every prefix of the index. */
    for (size_t len = fx->size; len-- > 0;) {
        cr_assert_eq(ftruncate(fd, (off_t)len), 0);
        for (unsigned flags = 0; flags < 2; flags++) {
            cpq_index *ix = NULL;
            cpq_errinfo e = { 0 };
            int rc = cpq_index_open(fx->dmg, flags, &ix, &e);
            if ((rc != CPQ_ECORRUPT || ix || !e.msg[0]) && ++failures <= 20)
                cr_expect(0, "truncated to %zu bytes: open(%u) gave %s '%s'", len, flags, cpq_err_name(rc), e.msg);
            cpq_index_close(ix);
        }
    }
    close(fd);
    cr_assert_eq(failures, 0, "%u truncations were not refused", failures);
}

Test(corrupt, truncate_every_length) { truncate_every_length(); }

/* An index of nothing: zero passages, documents and terms, empty sections. */
Test(corrupt, empty_index_flips_and_truncations)
{
    free_fixture(&FX);
    build_index_of(&FX, 1);
    cpq_index *ix;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(FX.path, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(cpq_index_get_info(ix)->docs, 0);
    cr_assert_eq(cpq_index_verify(ix, &e), CPQ_OK, "%s", e.msg);
    cr_assert_eq(exercise(ix), 0);
    cpq_index_close(ix);
    flip_every_byte(0xFF);
    flip_every_byte(0x01);
    flip_resealed(0xFF);
    flip_resealed(0x01);
    truncate_every_length();
}

Test(corrupt, appended_bytes)
{
    fixture *fx = &FX;
    static const uint8_t junk[4096];
    static const size_t extra[] = { 1, 2, 31, 32, 4096 };
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        int fd = open(fx->dmg, O_RDWR);
        cr_assert_geq(fd, 0);
        cr_assert_eq(pwrite(fd, junk, extra[i], (off_t)fx->size), (ssize_t)extra[i]);
        close(fd);
        for (unsigned flags = 0; flags < 2; flags++) {
            cpq_index *ix = NULL;
            cpq_errinfo e = { 0 };
            cr_assert_eq(cpq_index_open(fx->dmg, flags, &ix, &e), CPQ_ECORRUPT, "+%zu bytes", extra[i]);
            cr_assert_null(ix);
            cr_assert(strstr(e.msg, "header"), "message: %s", e.msg);
        }
        cr_assert_eq(truncate(fx->dmg, (off_t)fx->size), 0);
    }
    /* Back to the original size: sound again. */
    cpq_index *ix = NULL;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(fx->dmg, 0, &ix, &e), CPQ_OK, "%s", e.msg);
    cpq_index_close(ix);
}

/* ---- other files --------------------------------------------------------------- */

Test(corrupt, other_versions_are_eversion)
{
    fixture *fx = &FX;
    uint8_t *buf = fx_alloc(fx, fx->size);
    static const uint32_t versions[] = { 0, 2, 3, 0x100, 0xFFFFFFFF };
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        memcpy(buf, fx->data, fx->size);
        put_le32(buf + 8, versions[i]);
        put_sum(buf + 56, buf, 56);
        cr_assert_eq(tu_write_file(fx->dmg, buf, fx->size), 0);
        for (unsigned flags = 0; flags < 2; flags++) {
            cpq_index *ix = NULL;
            cpq_errinfo e = { 0 };
            cr_assert_eq(cpq_index_open(fx->dmg, flags, &ix, &e), CPQ_EVERSION, "version %u: %s", versions[i], e.msg);
            cr_assert_null(ix);
            cr_assert(strstr(e.msg, "version"), "message: %s", e.msg);
            cr_assert_eq(e.code, CPQ_EVERSION);
        }
    }
    /* Version patched without resealing the header: a checksum error. */
    memcpy(buf, fx->data, fx->size);
    put_le32(buf + 8, 2);
    cr_assert_eq(tu_write_file(fx->dmg, buf, fx->size), 0);
    cpq_index *ix = NULL;
    cpq_errinfo e = { 0 };
    cr_assert_eq(cpq_index_open(fx->dmg, 0, &ix, &e), CPQ_ECORRUPT, "%s", e.msg);
}

Test(corrupt, missing_path_and_directory_are_eio)
{
    const char *dir = FX.dir;
    char path[4200];
    cpq_index *ix = (cpq_index *)&path;   /* must be reset to NULL */
    cpq_errinfo e = { 0 };
    snprintf(path, sizeof path, "%s/no-such.cpq", dir);
    cr_assert_eq(cpq_index_open(path, 0, &ix, &e), CPQ_EIO);
    cr_assert_null(ix);
    cr_assert(strstr(e.msg, "no-such.cpq"), "message: %s", e.msg);
    memset(&e, 0, sizeof e);
    cr_assert_eq(cpq_index_open(dir, 0, &ix, &e), CPQ_EIO);
    cr_assert_null(ix);
    cr_assert(e.msg[0]);
    memset(&e, 0, sizeof e);
    cr_assert_eq(cpq_index_open(dir, CPQ_OPEN_NO_CHECKSUM, &ix, &e), CPQ_EIO);
    /* A NULL errinfo is allowed. */
    cr_assert_eq(cpq_index_open(path, 0, &ix, NULL), CPQ_EIO);
}

Test(corrupt, not_an_index)
{
    const char *path = FX.dmg;
    static const char text[] = "This is a plain text file, not an index, but it is longer than sixty-four bytes.\n";
    static const uint8_t zeros[4096];
    struct { const void *p; size_t n; } files[] = {
        { "", 0 }, { "\x89" "CPQ", 4 }, { text, sizeof text - 1 }, { zeros, sizeof zeros }, { zeros, 64 },
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        cr_assert_eq(tu_write_file(path, files[i].p, files[i].n), 0);
        cpq_index *ix = NULL;
        cpq_errinfo e = { 0 };
        cr_assert_eq(cpq_index_open(path, 0, &ix, &e), CPQ_ECORRUPT, "file %zu: %s", i, e.msg);
        cr_assert(strstr(e.msg, "header"), "file %zu: %s", i, e.msg);
    }
}
