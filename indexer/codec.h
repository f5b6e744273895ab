/*
 * codec.h - the integer codecs of the index file.
 *
 * Varints are LEB128 (7 bits a byte, low group first, high bit = more), at
 * most 10 bytes for a uint64_t.  Bit packing stores n unsigned values of a
 * fixed width b (0..32) little-endian, value i at bit offset i*b, in
 * ceil(n*b/8) bytes.  A postings block is two packed arrays: passage-number
 * gaps and term frequencies (see FORMAT.md, "Postings block").
 *
 * Every decoder takes the number of bytes available and fails (returns 0
 * or -1) instead of reading past it: index bytes are untrusted.
 */
#ifndef CPQ_CODEC_H
#define CPQ_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define CPQ_BLOCK 128                   /* postings per full block */
#define CPQ_VARINT_MAX 10
/* Largest encoded postings block: two width bytes + 2 * 128 * 32 bits. */
#define CPQ_BLOCK_MAXBYTES (2 + 2 * CPQ_BLOCK * 4)

/* Encode v at dst (room for CPQ_VARINT_MAX bytes); returns the bytes
 * written.  Inline: it runs once or twice per token while indexing. */
static inline size_t cpq_varint_put(uint8_t *dst, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        dst[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

/* Decode a varint from src[0..avail).  Returns the bytes consumed, or 0 if
 * the varint is truncated or longer than 10 bytes / overflows 64 bits. */
size_t cpq_varint_get(const uint8_t *src, size_t avail, uint64_t *v);

/* Number of bits needed for the largest of v[0..n) (0 when all are 0). */
unsigned cpq_bits_needed(const uint32_t *v, size_t n);

/* Bytes taken by n values of width bits. */
static inline size_t cpq_pack_size(size_t n, unsigned bits) { return (n * bits + 7) / 8; }

/* Pack n values (each < 2^bits, bits <= 32) into out[0..cpq_pack_size). */
void cpq_pack(const uint32_t *in, size_t n, unsigned bits, uint8_t *out);

/* Unpack n values of width bits from in[0..cpq_pack_size(n, bits)). */
void cpq_unpack(const uint8_t *in, size_t n, unsigned bits, uint32_t *out);

/* Encode one postings block of n (1..CPQ_BLOCK) entries.  ids must be
 * strictly increasing and greater than prev (the previous block's last id,
 * or UINT32_MAX for the first block, meaning "none"); tfs >= 1.
 * out needs CPQ_BLOCK_MAXBYTES bytes.  Returns the bytes written. */
size_t cpq_block_encode(uint32_t prev, const uint32_t *ids, const uint32_t *tfs, size_t n, uint8_t *out);

/* Decode a block encoded by cpq_block_encode with the same prev and n from
 * in[0..avail).  Returns the bytes consumed, or 0 if the block is truncated,
 * has a width over 32, or its ids overflow 32 bits. */
size_t cpq_block_decode(const uint8_t *in, size_t avail, uint32_t prev, size_t n, uint32_t *ids, uint32_t *tfs);

/* cpq_block_decode in two steps, for readers that need a block's tfs only
 * for the few entries they score: the ids now, the tfs later.
 * cpq_block_decode_ids decodes the ids and checks the whole block (the
 * same checks and result as cpq_block_decode, which a tf at width 32 needs
 * decoded: then *tfs_done is 1 and tfs is filled); otherwise *tfs_done is 0
 * and *tfs_at is the offset in `in` to pass to cpq_block_decode_tfs, which
 * cannot fail. */
size_t cpq_block_decode_ids(const uint8_t *in, size_t avail, uint32_t prev, size_t n, uint32_t *ids,
                            uint32_t *tfs, size_t *tfs_at, int *tfs_done);
void cpq_block_decode_tfs(const uint8_t *in, size_t n, uint32_t *tfs);

#endif
