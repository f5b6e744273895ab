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

void cpq_unpack(const uint8_t *in, size_t n, unsigned bits, uint32_t *out)
{
    if (bits == 0) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    size_t nbytes = cpq_pack_size(n, bits);
    uint64_t mask = bits == 32 ? 0xffffffffu : ((uint64_t)1 << bits) - 1;
    uint64_t acc = 0;
    unsigned have = 0;
    size_t ip = 0;
    for (size_t i = 0; i < n; i++) {
        while (have < bits) {
            /* Refill a byte at a time; ip < nbytes always holds here because
             * n*bits bits fit in nbytes. */
            acc |= (uint64_t)(ip < nbytes ? in[ip] : 0) << have;
            ip++;
            have += 8;
        }
        out[i] = (uint32_t)(acc & mask);
        acc >>= bits;
        have -= bits;
    }
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

size_t cpq_block_decode(const uint8_t *in, size_t avail, uint32_t prev, size_t n, uint32_t *ids, uint32_t *tfs)
{
    if (n == 0 || n > CPQ_BLOCK || avail < 1) return 0;
    size_t o = 0;
    unsigned gb = in[o++];
    if (gb > 32) return 0;
    size_t gs = cpq_pack_size(n, gb);
    if (avail - o < gs + 1) return 0;
    cpq_unpack(in + o, n, gb, ids);
    o += gs;
    unsigned tb = in[o++];
    if (tb > 32) return 0;
    size_t ts = cpq_pack_size(n, tb);
    if (avail - o < ts) return 0;
    cpq_unpack(in + o, n, tb, tfs);
    o += ts;
    uint64_t last = prev == UINT32_MAX ? (uint64_t)-1 : prev;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = last + 1 + ids[i];
        if (id > UINT32_MAX - 1) return 0; /* UINT32_MAX is reserved for "none" */
        ids[i] = (uint32_t)id;
        last = id;
        if (tfs[i] == UINT32_MAX) return 0;
        tfs[i] += 1;
    }
    return o;
}
