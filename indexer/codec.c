/* codec.c - varints, bit packing and postings blocks; see codec.h. */
#include "codec.h"

#include <string.h>

size_t cpq_varint_get(const uint8_t *src, size_t avail, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < avail && i < CPQ_VARINT_MAX; i++) {
        uint64_t b = src[i] & 0x7f;
        if (i == 9 && b > 1) return 0; /* would overflow 64 bits */
        r |= b << (7 * i);
        if (!(src[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

unsigned cpq_bits_needed(const uint32_t *v, size_t n)
{
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= v[i];
    unsigned b = 0;
    while (acc) { b++; acc >>= 1; }
    return b;
}

void cpq_pack(const uint32_t *in, size_t n, unsigned bits, uint8_t *out)
{
    size_t nbytes = cpq_pack_size(n, bits);
    if (bits == 0) return;
    memset(out, 0, nbytes);
    uint64_t acc = 0;
    unsigned have = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (uint64_t)in[i] << have;
        have += bits;
        while (have >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            have -= 8;
        }
    }
    if (have) out[o++] = (uint8_t)acc;
}

/* Unpacking reads the packed bytes through a zero-padded copy, so every
 * value is one unaligned 64-bit load, a shift and a mask, whatever its
 * position (shift <= 7 and bits <= 32: 39 bits suffice).  Eight values of
 * B bits are exactly B bytes, so with B a constant the offsets and shifts
 * of a group of eight are constants too and the compiler emits straight
 * code; one such loop per width.  A block is at most 128 values of 32 bits
 * (512 bytes). */
static inline uint64_t load64le(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

#define CPQ_UNPACK_FIXED(B)                                                          \
    static void unpack_##B(const uint8_t *in, size_t n, uint32_t *out)             \
    {                                                                                \
        const uint64_t mask = B == 32 ? 0xffffffffu : ((uint64_t)1 << B) - 1;        \
        size_t g = 0;                                                                \
        for (; g + 8 <= n; g += 8, in += B)                                          \
            for (unsigned k = 0; k < 8; k++)                                         \
                out[g + k] = (uint32_t)((load64le(in + (k * B) / 8) >> ((k * B) % 8)) & mask); \
        for (unsigned k = 0; g + k < n; k++)                                         \
            out[g + k] = (uint32_t)((load64le(in + (k * B) / 8) >> ((k * B) % 8)) & mask); \
    }
CPQ_UNPACK_FIXED(1) CPQ_UNPACK_FIXED(2) CPQ_UNPACK_FIXED(3) CPQ_UNPACK_FIXED(4)
CPQ_UNPACK_FIXED(5) CPQ_UNPACK_FIXED(6) CPQ_UNPACK_FIXED(7) CPQ_UNPACK_FIXED(8)
CPQ_UNPACK_FIXED(9) CPQ_UNPACK_FIXED(10) CPQ_UNPACK_FIXED(11) CPQ_UNPACK_FIXED(12)
CPQ_UNPACK_FIXED(13) CPQ_UNPACK_FIXED(14) CPQ_UNPACK_FIXED(15) CPQ_UNPACK_FIXED(16)
CPQ_UNPACK_FIXED(17) CPQ_UNPACK_FIXED(18) CPQ_UNPACK_FIXED(19) CPQ_UNPACK_FIXED(20)
CPQ_UNPACK_FIXED(21) CPQ_UNPACK_FIXED(22) CPQ_UNPACK_FIXED(23) CPQ_UNPACK_FIXED(24)
CPQ_UNPACK_FIXED(25) CPQ_UNPACK_FIXED(26) CPQ_UNPACK_FIXED(27) CPQ_UNPACK_FIXED(28)
CPQ_UNPACK_FIXED(29) CPQ_UNPACK_FIXED(30) CPQ_UNPACK_FIXED(31) CPQ_UNPACK_FIXED(32)
#undef CPQ_UNPACK_FIXED

static void (*const unpack_fixed[33])(const uint8_t *, size_t, uint32_t *) = {
    NULL, unpack_1, unpack_2, unpack_3, unpack_4, unpack_5, unpack_6, unpack_7, unpack_8,
    unpack_9, unpack_10, unpack_11, unpack_12, unpack_13, unpack_14, unpack_15, unpack_16,
    unpack_17, unpack_18, unpack_19, unpack_20, unpack_21, unpack_22, unpack_23, unpack_24,
    unpack_25, unpack_26, unpack_27, unpack_28, unpack_29, unpack_30, unpack_31, unpack_32};

void cpq_unpack(const uint8_t *in, size_t n, unsigned bits, uint32_t *out)
{
    if (bits == 0) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    uint8_t pad[CPQ_BLOCK * 4 + 8];
    while (n > CPQ_BLOCK) {       /* not used by the index, but allowed */
        memcpy(pad, in, (size_t)CPQ_BLOCK * bits / 8);
        memset(pad + (size_t)CPQ_BLOCK * bits / 8, 0, 8);
        unpack_fixed[bits](pad, CPQ_BLOCK, out);
        in += (size_t)CPQ_BLOCK * bits / 8;
        out += CPQ_BLOCK;
        n -= CPQ_BLOCK;
    }
    size_t nbytes = cpq_pack_size(n, bits);
    memcpy(pad, in, nbytes);
    memset(pad + nbytes, 0, 8);
    unpack_fixed[bits](pad, n, out);
}

size_t cpq_block_encode(uint32_t prev, const uint32_t *ids, const uint32_t *tfs, size_t n, uint8_t *out)
{
    uint32_t gaps[CPQ_BLOCK], tf1[CPQ_BLOCK];
    /* First gap is relative to prev; "none" (UINT32_MAX) makes it the id + 1
     * minus 1, i.e. the id itself, through unsigned wrap-around. */
    uint32_t last = prev;
    for (size_t i = 0; i < n; i++) {
        gaps[i] = ids[i] - last - 1;
        last = ids[i];
        tf1[i] = tfs[i] - 1;
    }
    unsigned gb = cpq_bits_needed(gaps, n), tb = cpq_bits_needed(tf1, n);
    size_t o = 0;
    out[o++] = (uint8_t)gb;
    cpq_pack(gaps, n, gb, out + o);
    o += cpq_pack_size(n, gb);
    out[o++] = (uint8_t)tb;
    cpq_pack(tf1, n, tb, out + o);
    o += cpq_pack_size(n, tb);
    return o;
}

/* The running id in 64 bits never wraps (at most 128 gaps below 2^32 each,
 * from at most 2^32 - 1; "none" starts it at -1), and it only grows, so
 * checking the last id checks them all; a tf - 1 can be UINT32_MAX only at
 * 32 bits.  No test inside the loops, which were a tenth of a cheap
 * query's time with one. */
size_t cpq_block_decode_ids(const uint8_t *in, size_t avail, uint32_t prev, size_t n, uint32_t *ids,
                            uint32_t *tfs, size_t *tfs_at, int *tfs_done)
{
    if (n == 0 || n > CPQ_BLOCK || avail < 1) return 0;
    size_t o = 0;
    unsigned gb = in[o++];
    if (gb > 32) return 0;
    size_t gs = cpq_pack_size(n, gb);
    if (avail - o < gs + 1) return 0;
    unsigned tb = in[o + gs];
    size_t ts = cpq_pack_size(n, tb);
    if (tb > 32 || avail - o - gs - 1 < ts) return 0;
    cpq_unpack(in + o, n, gb, ids);
    uint64_t id = prev == UINT32_MAX ? (uint64_t)-1 : prev;
    for (size_t i = 0; i < n; i++) {
        id += 1 + (uint64_t)ids[i];
        ids[i] = (uint32_t)id;
    }
    if (id > UINT32_MAX - 1) return 0; /* UINT32_MAX is reserved for "none" */
    *tfs_at = o + gs;
    *tfs_done = tb == 32;              /* a tf there may overflow: decode and check now */
    if (tb == 32) {
        cpq_block_decode_tfs(in + o + gs, n, tfs);
        for (size_t i = 0; i < n; i++)
            if (tfs[i] == 0) return 0;     /* tf - 1 was UINT32_MAX: the + 1 wrapped */
    }
    return o + gs + 1 + ts;
}

void cpq_block_decode_tfs(const uint8_t *in, size_t n, uint32_t *tfs)
{
    cpq_unpack(in + 1, n, in[0], tfs);
    for (size_t i = 0; i < n; i++) tfs[i] += 1;
}

size_t cpq_block_decode(const uint8_t *in, size_t avail, uint32_t prev, size_t n, uint32_t *ids, uint32_t *tfs)
{
    size_t at;
    int done;
    size_t used = cpq_block_decode_ids(in, avail, prev, n, ids, tfs, &at, &done);
    if (used && !done) cpq_block_decode_tfs(in + at, n, tfs);
    return used;
}
