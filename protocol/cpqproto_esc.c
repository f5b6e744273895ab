/*
 * cpqproto_esc.c - UTF-8 checking and the escapes of PROTOCOL.md section 5.
 *
 * Escaping is total: any bytes escape to valid UTF-8 without control bytes
 * (and without SP in token mode), and unescaping the result gives the
 * bytes back.  Unescaping is strict: only \\ \n \r \t \xHH are accepted.
 */
#include <stdint.h>
#include <string.h>

#include "cpqproto_int.h"

size_t cpq_proto_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;   /* range of the second byte */

    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;          /* overlong */
        if (c == 0xED) hi = 0x9F;          /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;          /* overlong */
        if (c == 0xF4) hi = 0x8F;          /* > U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

int cpq_proto_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = cpq_proto_utf8_seq(u + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

int cpq_proto_tag_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

int cpq_proto_tag_valid(const char *s, size_t n)
{
    if (n == 0 || n > CPQ_PROTO_TAG_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!cpq_proto_tag_char((unsigned char)s[i])) return 0;
    return 1;
}

static const char hexdig[] = "0123456789abcdef";

/* Eight bytes at a time: 1 when none of the word's bytes ends a plain run -
 * a byte below `lo` (0x20, or 0x21 in tokens to take SP too), DEL, '\\' or
 * a byte >= 0x80.  The "has a byte below n" and "has a zero byte" tests are
 * the exact classic ones (n <= 0x80): a borrow only reaches a higher byte
 * from a byte that is itself flagged. */
static int plain8(const unsigned char *p, uint64_t lo)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t below = (x - ones * lo) & ~x;
    uint64_t del = x ^ (ones * 0x7f), bs = x ^ (ones * '\\');
    uint64_t zero = ((del - ones) & ~del) | ((bs - ones) & ~bs);
    return ((below | zero | x) & highs) == 0;
}

size_t cpq_proto_escape(char *dst, size_t cap, const char *src, size_t len, unsigned flags)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    char e[4];

/* Append k bytes; only what fits before the NUL is stored. */
#define PUT(bytes, k)                                                \
    do {                                                             \
        for (size_t j_ = 0; j_ < (k); j_++, o++)                     \
            if (o + 1 < cap) dst[o] = (bytes)[j_];                   \
    } while (0)

    while (i < len) {
        unsigned char c = s[i];
        size_t l;

        /* A run of printable ASCII other than '\\' (and SP in tokens) is
         * copied as it is, in one piece: most text is such runs. */
        if (c >= 0x20 && c < 0x7F && c != '\\' && (c != ' ' || !(flags & CPQ_PROTO_ESC_TOKEN))) {
            size_t r = i + 1;
            uint64_t lo = (flags & CPQ_PROTO_ESC_TOKEN) ? 0x21 : 0x20;
            while (len - r >= 8 && plain8(s + r, lo))
                r += 8;
            while (r < len && s[r] >= 0x20 && s[r] < 0x7F && s[r] != '\\' &&
                   (s[r] != ' ' || !(flags & CPQ_PROTO_ESC_TOKEN)))
                r++;
            if (o + 1 < cap) {
                size_t room = cap - 1 - o, k = r - i < room ? r - i : room;
                memcpy(dst + o, s + i, k);
            }
            o += r - i;
            i = r;
            continue;
        }
        if (c >= 0x80) {
            l = cpq_proto_utf8_seq(s + i, len - i);
            if (l) {
                PUT((const char *)s + i, l);
                i += l;
                continue;
            }
        } else if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            e[0] = '\\';
            e[1] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            PUT(e, 2);
            i++;
            continue;
        } else if (c >= 0x20 && c != 0x7F && (c != ' ' || !(flags & CPQ_PROTO_ESC_TOKEN))) {
            PUT((const char *)s + i, 1);
            i++;
            continue;
        }
        /* control byte, token SP, or a byte outside valid UTF-8 */
        e[0] = '\\';
        e[1] = 'x';
        e[2] = hexdig[c >> 4];
        e[3] = hexdig[c & 15];
        PUT(e, 4);
        i++;
    }
#undef PUT
    if (cap) dst[o < cap ? o : cap - 1] = '\0';
    return o;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long cpq_proto_unescape(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0, i = 0;

    /* o <= i throughout, so dst == src works: each write lands at or
     * before the byte just read. */
    while (i < len) {
        unsigned char c = (unsigned char)src[i];

        if (c == '\\') {
            if (i + 1 >= len) return -1;
            switch (src[i + 1]) {
            case '\\': c = '\\'; i += 2; break;
            case 'n': c = '\n'; i += 2; break;
            case 'r': c = '\r'; i += 2; break;
            case 't': c = '\t'; i += 2; break;
            case 'x': {
                if (i + 3 >= len) return -1;
                int h = hexval((unsigned char)src[i + 2]), l = hexval((unsigned char)src[i + 3]);
                if (h < 0 || l < 0) return -1;
                c = (unsigned char)(h << 4 | l);
                i += 4;
                break;
            }
            default:
                return -1;
            }
        } else {
            i++;
        }
        if (o >= cap) return -1;
        dst[o++] = (char)c;
    }
    return (long)o;
}
