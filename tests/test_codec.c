/* test_codec.c - varints, bit packing and postings blocks round-trip, and
 * their decoders refuse truncated or overflowing input. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "endian.h"
#include "testutil.h"

Test(codec, varint_edges)
{
    uint64_t vals[] = { 0, 1, 127, 128, 255, 16383, 16384, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
                        UINT64_MAX / 2, UINT64_MAX - 1, UINT64_MAX };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t buf[CPQ_VARINT_MAX];
        size_t n = cpq_varint_put(buf, vals[i]);
        cr_assert(n >= 1 && n <= CPQ_VARINT_MAX);
        uint64_t v = 0;
        cr_assert_eq(cpq_varint_get(buf, n, &v), n);
        cr_assert_eq(v, vals[i]);
        /* Every truncation is refused. */
        for (size_t k = 0; k < n; k++) cr_assert_eq(cpq_varint_get(buf, k, &v), 0);
    }
}

Test(codec, varint_rejects_overlong_and_overflow)
{
    uint8_t eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    eleven[10] = 0;
    uint64_t v;
    cr_assert_eq(cpq_varint_get(eleven, sizeof eleven, &v), 0, "11-byte varint accepted");
    uint8_t over[10];
    memset(over, 0xff, 9);
    over[9] = 0x02; /* bit 64 set */
    cr_assert_eq(cpq_varint_get(over, 10, &v), 0, "65-bit value accepted");
    over[9] = 0x01;
    cr_assert_eq(cpq_varint_get(over, 10, &v), 10);
    cr_assert_eq(v, UINT64_MAX);
}

Test(codec, varint_random)
{
    uint64_t s = 42;
    for (int i = 0; i < 100000; i++) {
        uint64_t x = tu_rand(&s) >> (tu_rand(&s) % 64);
        uint8_t buf[CPQ_VARINT_MAX];
        size_t n = cpq_varint_put(buf, x);
        uint64_t v;
        cr_assert_eq(cpq_varint_get(buf, n, &v), n);
        cr_assert_eq(v, x);
    }
}

Test(codec, pack_all_widths_and_counts)
{
    uint64_t s = 7;
    for (unsigned bits = 0; bits <= 32; bits++) {
        for (size_t n = 0; n <= 130; n++) {
            uint32_t in[130], out[130];
            uint64_t mask = bits == 32 ? 0xffffffffu : (((uint64_t)1 << bits) - 1);
            for (size_t i = 0; i < n; i++) in[i] = (uint32_t)(tu_rand(&s) & mask);
            if (n && bits) in[n - 1] = (uint32_t)mask; /* the extreme value */
            uint8_t buf[130 * 4 + 8];
            memset(buf, 0xAA, sizeof buf);
            cpq_pack(in, n, bits, buf);
            size_t sz = cpq_pack_size(n, bits);
            cr_assert_eq(buf[sz], 0xAA, "pack wrote past its size (bits %u n %zu)", bits, n);
            cpq_unpack(buf, n, bits, out);
            for (size_t i = 0; i < n; i++) cr_assert_eq(out[i], in[i], "bits %u n %zu i %zu", bits, n, i);
        }
    }
}

Test(codec, bits_needed)
{
    uint32_t v[] = { 0, 0, 0 };
    cr_assert_eq(cpq_bits_needed(v, 3), 0);
    v[1] = 1;
    cr_assert_eq(cpq_bits_needed(v, 3), 1);
    v[2] = 0x80000000u;
    cr_assert_eq(cpq_bits_needed(v, 3), 32);
    v[2] = 255;
    cr_assert_eq(cpq_bits_needed(v, 3), 8);
}

/* cpq_block_decode, and the two-step decode (ids now, tfs on demand) of
 * the same bytes: both must accept and refuse the same blocks and agree
 * on every id and tf. */
static size_t dec_both(const uint8_t *in, size_t avail, uint32_t prev, size_t n, uint32_t *ids, uint32_t *tfs)
{
    uint32_t i2[CPQ_BLOCK], t2[CPQ_BLOCK];
    size_t at = 0;
    int done = -1;
    size_t r = cpq_block_decode(in, avail, prev, n, ids, tfs);
    size_t r2 = cpq_block_decode_ids(in, avail, prev, n, i2, t2, &at, &done);
    cr_assert_eq(r2, r, "two-step decode returned %zu, one-step %zu", r2, r);
    if (!r) return 0;
    cr_assert(done == 0 || done == 1);
    cr_assert_eq(done, in[at] == 32, "tfs decoded early only at width 32");
    if (!done) cpq_block_decode_tfs(in + at, n, t2);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(i2[i], ids[i]);
        cr_assert_eq(t2[i], tfs[i]);
    }
    return r;
}

static void block_roundtrip(uint32_t prev, const uint32_t *ids, const uint32_t *tfs, size_t n)
{
    uint8_t buf[CPQ_BLOCK_MAXBYTES];
    uint32_t ri[CPQ_BLOCK], rt[CPQ_BLOCK];
    size_t sz = cpq_block_encode(prev, ids, tfs, n, buf);
    cr_assert(sz >= 2 && sz <= CPQ_BLOCK_MAXBYTES);
    cr_assert_eq(dec_both(buf, sz, prev, n, ri, rt), sz);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ri[i], ids[i]);
        cr_assert_eq(rt[i], tfs[i]);
    }
    /* Truncations are refused (0), never read past the end (ASan). */
    for (size_t k = 0; k < sz; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, buf, k);
        cr_assert_eq(dec_both(cut, k, prev, n, ri, rt), 0, "truncated block of %zu/%zu accepted", k, sz);
        free(cut);
    }
}

Test(codec, block_edges)
{
    uint32_t ids[CPQ_BLOCK], tfs[CPQ_BLOCK];
    /* One posting at 0, first block. */
    ids[0] = 0; tfs[0] = 1;
    block_roundtrip(UINT32_MAX, ids, tfs, 1);
    /* The largest passage number and tf. */
    ids[0] = UINT32_MAX - 1; tfs[0] = UINT32_MAX - 1;
    block_roundtrip(UINT32_MAX, ids, tfs, 1);
    /* Dense full block after a previous block. */
    for (int i = 0; i < CPQ_BLOCK; i++) { ids[i] = 1000 + (uint32_t)i; tfs[i] = 1; }
    block_roundtrip(999, ids, tfs, CPQ_BLOCK);
    /* Sparse full block. */
    for (int i = 0; i < CPQ_BLOCK; i++) { ids[i] = (uint32_t)i * 30000000u; tfs[i] = (uint32_t)i + 1; }
    block_roundtrip(UINT32_MAX, ids, tfs, CPQ_BLOCK);
}

Test(codec, block_random)
{
    uint64_t s = 99;
    for (int round = 0; round < 2000; round++) {
        uint32_t ids[CPQ_BLOCK], tfs[CPQ_BLOCK];
        size_t n = 1 + tu_rand(&s) % CPQ_BLOCK;
        uint32_t prev = (round & 1) ? UINT32_MAX : (uint32_t)(tu_rand(&s) % 1000000);
        uint64_t cur = prev == UINT32_MAX ? 0 : (uint64_t)prev + 1;
        unsigned spread = 1u << (tu_rand(&s) % 20);
        for (size_t i = 0; i < n; i++) {
            cur += tu_rand(&s) % spread;
            ids[i] = (uint32_t)cur;
            cur++;
            tfs[i] = 1 + (uint32_t)(tu_rand(&s) % ((round % 3) ? 3 : 5000));
        }
        block_roundtrip(prev, ids, tfs, n);
    }
}

Test(codec, block_decode_rejects_garbage)
{
    uint32_t ids[CPQ_BLOCK], tfs[CPQ_BLOCK];
    uint8_t bad[4] = { 33, 0, 0, 0 }; /* width 33 */
    cr_assert_eq(dec_both(bad, sizeof bad, UINT32_MAX, 1, ids, tfs), 0);
    /* Gaps that overflow 32 bits. */
    uint8_t big[2 + 4 + 1] = { 32, 0xff, 0xff, 0xff, 0xff, 0 };
    cr_assert_eq(dec_both(big, sizeof big, 5, 1, ids, tfs), 0);
    /* Overflow reached only at a later entry (the decoder checks the last
     * id), a tf - 1 of UINT32_MAX, and the largest id that is allowed. */
    uint8_t two[1 + 8 + 1] = { 32, 0xf0, 0xff, 0xff, 0xff, 0x10, 0, 0, 0, 0 };
    cr_assert_eq(dec_both(two, sizeof two, 5, 2, ids, tfs), 0);
    uint8_t tfmax[1 + 1 + 1 + 4] = { 8, 0, 32, 0xff, 0xff, 0xff, 0xff };
    cr_assert_eq(dec_both(tfmax, sizeof tfmax, UINT32_MAX, 1, ids, tfs), 0);
    tfmax[3] = 0xfe;
    cr_assert_eq(dec_both(tfmax, sizeof tfmax, UINT32_MAX, 1, ids, tfs), sizeof tfmax);
    cr_assert(ids[0] == 0 && tfs[0] == UINT32_MAX);
    uint8_t top[1 + 4 + 1] = { 32, 0xfd, 0xff, 0xff, 0xff, 0 };
    cr_assert_eq(dec_both(top, sizeof top, 0, 1, ids, tfs), sizeof top);
    cr_assert(ids[0] == UINT32_MAX - 1 && tfs[0] == 1);
    top[1] = 0xfe;
    cr_assert_eq(dec_both(top, sizeof top, 0, 1, ids, tfs), 0);
    /* n out of range. */
    cr_assert_eq(dec_both(big, sizeof big, 5, 0, ids, tfs), 0);
    cr_assert_eq(dec_both(big, sizeof big, 5, CPQ_BLOCK + 1, ids, tfs), 0);
    /* Random bytes never crash and never produce non-increasing ids. */
    uint64_t s = 3;
    for (int r = 0; r < 20000; r++) {
        uint8_t buf[64];
        size_t len = tu_rand(&s) % sizeof buf;
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)tu_rand(&s);
        if (len) buf[0] %= 40;
        size_t n = 1 + tu_rand(&s) % 8;
        if (dec_both(buf, len, UINT32_MAX, n, ids, tfs))
            for (size_t i = 1; i < n; i++) cr_assert(ids[i] > ids[i - 1]);
    }
}

Test(codec, endian_helpers_are_little_endian)
{
    uint8_t b[8];
    cpq_put32(b, 0x11223344u);
    cr_assert(b[0] == 0x44 && b[1] == 0x33 && b[2] == 0x22 && b[3] == 0x11);
    cpq_put64(b, 0x0102030405060708ull);
    cr_assert(b[0] == 0x08 && b[7] == 0x01);
    cr_assert_eq(cpq_get64(b), 0x0102030405060708ull);
    cpq_put16(b, 0xabcd);
    cr_assert_eq(cpq_get16(b), 0xabcd);
    cpq_putf32(b, 1.5f);
    cr_assert_eq(cpq_get32(b), 0x3fc00000u);
    cr_assert_eq(cpq_getf32(b), 1.5f);
}
