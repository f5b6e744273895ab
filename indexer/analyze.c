/*
 * analyze.c - the text analyser: segmentation, normalisation, CJK bigrams,
 * stopwords and stemming, as specified in analyze.h.
 *
 * Speed
 * -----
 * The indexer must take English text at > 35 MB/s on one core, everything
 * included, so the common case never leaves this file:
 *   - Bytes are decoded here (strict UTF-8, the same rules as
 *     utf8proc_iterate).  Runs of ASCII letters and digits are classified
 *     and lowercased eight bytes at a time (SWAR, little-endian GCC/clang;
 *     a byte loop elsewhere): 140 -> 220 MB/s with stemming off.
 *   - A token made only of ASCII letters, digits and apostrophes (ASCII or
 *     U+2019) is folded by that lowercasing.  For those characters NFKC +
 *     case folding is exactly ASCII lowercasing, so this is no approximation.
 *   - Only tokens holding other characters go through utf8proc, and then
 *     through utf8proc_decompose_custom into a fixed buffer, never
 *     utf8proc_map (which mallocs per call).
 *   - Snowball stemming costs ~0.4 us a word, far more than the rest, so
 *     each analyser keeps a cache, folded token -> stem: 64K sets of two
 *     32-byte slots (4 MiB), set-associative with move-to-front.  A hit
 *     compares the whole key, so the cache returns exactly what the stemmer
 *     would.  On gcide (41 MB, 348K distinct words in 7.4M) it misses 430K
 *     times; direct-mapped 64-byte slots of the same size missed 616K times,
 *     8 MiB would miss 381K.  Words whose key and stem do not fit a slot
 *     (about 30 bytes) are stemmed every time.
 *   - A cache lookup that misses the CPU caches stalls for a memory access,
 *     so word tokens wait in a small ring while the next ones are scanned,
 *     their cache line prefetched (see emit_word): +6%.
 * Measured with a throwaway driver on gcide's raw corpus.jsonl, one core,
 * -O2: ~85 MB/s with english stemming, ~220 MB/s with "none" (noisy host).
 * Nothing is allocated per token; cpq_analyze allocates nothing at all
 * (libstemmer may grow its own buffer, which is where CPQ_ENOMEM comes from).
 *
 * cpq_analyze_sparse (snippets) has a loop of its own: 64 bytes at a time
 * it builds bit masks of ASCII letters and digits and of the bytes that may
 * make a token anything but a plain ASCII word (bytes >= 0x80,
 * apostrophes), and handles each plain word between them by its first two
 * bytes and length, leaving the rest to the scalar loop.  On the hits of
 * the AOL queries on gcide (518-byte passages, ~75 words of which ~10 pass)
 * it takes 1.0 us a passage where cpq_analyze takes 3.5.
 *
 * Decisions the header leaves open
 * --------------------------------
 *   - Normalisation is NFKC_Casefold as utf8proc does it: NFKC, full case
 *     folding, and removal of default-ignorable code points (variation
 *     selectors, Hangul fillers, the combining grapheme joiner).
 *   - A token that normalises to nothing (a lone combining mark with
 *     strip_accents, a lone ignorable) is no token: nothing is emitted and
 *     no position is consumed.
 *   - A combining mark starts a token when it follows a separator; after a
 *     letter or number it continues the token.  An apostrophe joins when it
 *     follows a letter (possibly followed by marks) and precedes a letter.
 *   - strip_accents does not apply to CJK: NFKD would strip the voicing
 *     mark from kana (ガ -> カ), which changes the word.
 *   - A stem longer than CPQ_TERM_MAX (no Snowball stemmer makes one) is
 *     dropped like an overlong token; an empty stem is replaced by the
 *     folded token.
 *   - The stopword string is cut into tokens exactly like text, so an entry
 *     the tokeniser splits ("e-mail") adds each part, and entries are
 *     normalised (and accent-stripped) like the text they are matched to.
 *   - Positions are uint32_t and wrap around; callers keep texts far
 *     smaller than 2^32 tokens.
 *
 * CJK ranges
 * ----------
 * A letter or number (by category) is CJK when its code point lies in:
 *   U+1100-11FF     Hangul Jamo
 *   U+2E80-9FFF     CJK radicals, Kangxi, CJK symbols (々 〇 〡..), Hiragana,
 *                   Katakana, Bopomofo, Hangul compatibility Jamo, Kanbun,
 *                   Katakana phonetic extensions, enclosed CJK, CJK compatibility,
 *                   CJK unified ideographs extension A, Yijing symbols, the URO
 *   U+A960-A97F     Hangul Jamo extended A
 *   U+AC00-D7FF     Hangul syllables, Hangul Jamo extended B
 *   U+F900-FAFF     CJK compatibility ideographs
 *   U+FF66-FFDC     halfwidth Katakana and Hangul
 *   U+1AFF0-1B16F   Kana extended B, Kana supplement, Kana extended A, small Kana
 *   U+20000-3FFFF   planes 2 and 3: ideograph extensions B-H, compatibility supplement
 * A CJK "character" (what bigrams are made of) is one such code point plus
 * the combining marks, Hangul medial vowel / final consonant Jamo
 * (U+1160-11FF, U+D7B0-D7FF) and halfwidth voicing marks (U+FF9E-FF9F) that
 * follow it, so a decomposed syllable or a kana with a combining voicing mark
 * stays one character.
 *
 * Known weak spots: scripts written without spaces that are not CJK (Thai,
 * Lao, Khmer, Myanmar) come out as one long token, usually dropped as
 * overlong; a dictionary segmenter would cure it.  strip_accents removes
 * all marks, including the vowel signs of Indic scripts.
 */
#include "analyze.h"

#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Stem cache: STEM_SETS sets of STEM_WAYS slots; a set is one cache line. */
#define STEM_SET_BITS 16
#define STEM_WAYS 2
#define STEM_SLOT_BYTES 32
#define STEM_SETS ((size_t)1 << STEM_SET_BITS)
#define STEM_SLOT_DATA (STEM_SLOT_BYTES - 2)
#define STEM_PREFIX 0x80 /* slot.slen flag: the stem is key[0..slen) */

/* utf8proc output is held as code points before re-encoding.  Canonical
 * composition folds at most 4 code points into one (e.g. U+1F82 = 4
 * decomposed code points), so more than 4 * CPQ_TERM_MAX decomposed code
 * points always re-encode to more than CPQ_TERM_MAX bytes: the token is
 * overlong and need not be stored. */
#define FOLD_CAP (4 * CPQ_TERM_MAX)

/* Word tokens in flight between scanning and stemming (4, 8 and 16 measured
 * the same). */
#define PIPE_DEPTH 8

typedef struct stem_slot {
    uint8_t klen;                /* 0: empty */
    uint8_t slen;                /* stem length, | STEM_PREFIX */
    char data[STEM_SLOT_DATA];   /* key, then the stem unless STEM_PREFIX */
} stem_slot;

typedef struct stem_set {
    stem_slot way[STEM_WAYS];    /* way[0] most recently used */
} stem_set;

_Static_assert(sizeof(stem_set) == 64, "a stem-cache set is one cache line");

typedef struct stop_ent {
    uint64_t hash;
    uint32_t off;                /* into stop_chars */
    uint32_t len;                /* 0: empty */
} stop_ent;

struct cpq_analyzer {
    struct sb_stemmer *stemmer;  /* NULL: language "none" (or building the stopword set) */
    utf8proc_option_t word_opts; /* normalisation of non-CJK tokens */
    utf8proc_option_t cjk_opts;  /* normalisation of CJK characters */
    stop_ent *stop;              /* open addressing, linear probing; NULL: no stopwords */
    size_t stop_mask;
    char *stop_chars;
    size_t stop_used;            /* bytes of stop_chars in use */
    stem_set *cache;             /* STEM_SETS sets, NULL without a stemmer */
    int sparse_ok;               /* 1: the stemmer suits cpq_analyze_sparse's test */

    /* Word tokens waiting for their stem-cache line (see emit_word): a ring
     * of PIPE_DEPTH slots, pend_head the oldest, pend_n in use.  Tokens are
     * folded straight into ring[cur]'s term. */
    struct pend_tok {
        unsigned char term[CPQ_TERM_MAX + 8]; /* +8: SWAR stores and term_hash read whole words */
        size_t len, start, end;
        uint32_t pos;
        uint64_t hash;
    } ring[PIPE_DEPTH];
    unsigned pend_head, pend_n, cur;
    utf8proc_int32_t ubuf[FOLD_CAP + 1]; /* +1: utf8proc_reencode writes a NUL after the bytes */
};

/* ------------------------------------------------------------------ */
/* Character classes                                                   */
/* ------------------------------------------------------------------ */

enum { A_SEP = 0, A_DIGIT = 1, A_ALPHA = 2 };

static const uint8_t ascii_class[128] = {
    0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 1,1,1,1,1,1,1,1, 1,1,0,0,0,0,0,0, /* 0-9 */
    0,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2, 2,2,2,0,0,0,0,0, /* A-Z */
    0,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2, 2,2,2,0,0,0,0,0, /* a-z */
};

/* Eight bytes at a time: on little-endian GCC/clang targets, runs of ASCII
 * letters and digits are classified and lowercased a machine word at a time
 * (measured: ~1.6x on English text with stemming off). */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Bit 7 of each byte is set where lo < byte < hi (lo, hi <= 128); bytes
 * >= 0x80 never match.  Exact per byte: no carry crosses a byte. */
static inline uint64_t swar_between(uint64_t x, unsigned lo, unsigned hi)
{
    uint64_t low7 = x & (ONES * 127);

    return (ONES * (127 + hi) - low7) & ~x & (low7 + ONES * (127 - lo)) & HIGHS;
}

static inline uint64_t swar_alpha(uint64_t x)
{
    return swar_between(x | (ONES * 0x20), 'a' - 1, 'z' + 1);
}

static inline uint64_t swar_digit(uint64_t x)
{
    return swar_between(x, '0' - 1, '9' + 1);
}
#endif

/* Kinds of non-ASCII code points. */
enum {
    K_SEP,      /* separates tokens */
    K_LETTER,   /* L*, not CJK */
    K_NUMBER,   /* N*, not CJK */
    K_MARK,     /* M* */
    K_CJK,      /* L* or N* in a CJK range: starts a CJK character */
    K_CJK_EXT,  /* Hangul medial/final Jamo, halfwidth voicing marks: extends one */
    K_APOS,     /* U+2019, an apostrophe when between letters */
};

static int in_cjk_range(int32_t cp)
{
    if (cp < 0x1100)
        return 0;
    if (cp <= 0x11FF)
        return 1;
    if (cp < 0x2E80)
        return 0;
    if (cp <= 0x9FFF)
        return 1;
    if (cp < 0xA960)
        return 0;
    if (cp <= 0xA97F)
        return 1;
    if (cp >= 0xAC00 && cp <= 0xD7FF)
        return 1;
    if (cp >= 0xF900 && cp <= 0xFAFF)
        return 1;
    if (cp >= 0xFF66 && cp <= 0xFFDC)
        return 1;
    if (cp >= 0x1AFF0 && cp <= 0x1B16F)
        return 1;
    return cp >= 0x20000 && cp <= 0x3FFFF;
}

static int cp_kind(int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category(cp);

    if (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME)
        return K_MARK;
    if (cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_NO)
        return cp == 0x2019 ? K_APOS : K_SEP;
    if (!in_cjk_range(cp))
        return cat <= UTF8PROC_CATEGORY_LO ? K_LETTER : K_NUMBER;
    if ((cp >= 0x1160 && cp <= 0x11FF) || (cp >= 0xD7B0 && cp <= 0xD7FF) ||
        cp == 0xFF9E || cp == 0xFF9F)
        return K_CJK_EXT;
    return K_CJK;
}

/* CJK code points that NFKC_Casefold maps to themselves and that compose
 * with no neighbour that can start a CJK character, so a bigram of two of
 * them is its own normal form.  tests/test_analyze.c checks every one of
 * them against utf8proc. */
static int cjk_is_normal(int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x309D && cp <= 0x309E) ||
           (cp >= 0x30A1 && cp <= 0x30FE) || (cp >= 0xAC00 && cp <= 0xD7A3);
}

/* Decode one UTF-8 sequence at s[0..n), s[0] >= 0x80, by the rules of
 * utf8proc_iterate (no overlongs, surrogates or code points past U+10FFFF).
 * Returns its length, or 0 when s[0] does not start a valid sequence. */
static inline size_t utf8_decode(const unsigned char *s, size_t n, int32_t *cp)
{
    unsigned c = s[0];

    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        *cp = (int32_t)(((c & 0x1Fu) << 6) | (s[1] & 0x3Fu));
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
            return 0;
        *cp = (int32_t)(((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu));
        return 3;
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
        return 0;
    if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
        return 0;
    *cp = (int32_t)(((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) |
                    ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu));
    return 4;
}

/* Kind of the code point at s[i] (i < len): ASCII letters count as
 * K_LETTER, digits as K_NUMBER.  *m gets its length (0 when invalid). */
static int kind_at(const unsigned char *s, size_t len, size_t i, size_t *m)
{
    int32_t cp;

    if (s[i] < 0x80) {
        *m = 1;
        switch (ascii_class[s[i]]) {
        case A_ALPHA: return K_LETTER;
        case A_DIGIT: return K_NUMBER;
        default: return s[i] == '\'' ? K_APOS : K_SEP;
        }
    }
    *m = utf8_decode(s + i, len - i, &cp);
    return *m ? cp_kind(cp) : K_SEP;
}

/* ------------------------------------------------------------------ */
/* Hashing, stopwords, stem cache                                      */
/* ------------------------------------------------------------------ */

/* Hash of t[0..n); t must have 8 readable bytes past n.  The tail is read
 * as one word and masked rather than zero-padded in memory: a store
 * followed by an overlapping wider load stalls store forwarding, which cost
 * 10% of the analyser's time. */
static uint64_t term_hash(const unsigned char *t, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15u * (uint64_t)(n + 1), w;
    size_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, t + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
        h ^= h >> 29;
    }
    if (i < n) {
#ifdef SWAR
        memcpy(&w, t + i, 8);
        w &= ~UINT64_C(0) >> (64 - 8 * (n - i));
#else
        size_t j;

        for (w = 0, j = i; j < n; j++)
            w |= (uint64_t)t[j] << (8 * (j - i));
#endif
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
        h ^= h >> 29;
    }
    h *= 0x94D049BB133111EBu;
    h ^= h >> 32;
    return h;
}

static int stop_has(const cpq_analyzer *a, const unsigned char *t, size_t n, uint64_t h)
{
    size_t i;

    for (i = h & a->stop_mask; a->stop[i].len; i = (i + 1) & a->stop_mask)
        if (a->stop[i].hash == h && a->stop[i].len == n &&
            memcmp(a->stop_chars + a->stop[i].off, t, n) == 0)
            return 1;
    return 0;
}

/* t[0..n) == k[0..n), for 1 <= n; both must have 16 readable bytes. */
static inline int key_eq(const unsigned char *t, const char *k, size_t n)
{
#ifdef SWAR
    if (n <= 16) {
        uint64_t x0, y0, x1, y1;

        memcpy(&x0, t, 8);
        memcpy(&y0, k, 8);
        if (n <= 8)
            return ((x0 ^ y0) & (~UINT64_C(0) >> (64 - 8 * n))) == 0;
        memcpy(&x1, t + 8, 8);
        memcpy(&y1, k + 8, 8);
        return x0 == y0 && ((x1 ^ y1) & (~UINT64_C(0) >> (128 - 8 * n))) == 0;
    }
#endif
    return memcmp(t, k, n) == 0;
}

/* The stem of the folded token t[0..n), 1 <= n <= CPQ_TERM_MAX, through the
 * cache.  *out points into the cache or the stemmer's buffer, valid until
 * the next call.  Returns CPQ_OK or CPQ_ENOMEM. */
static int stem(cpq_analyzer *a, const unsigned char *t, size_t n, uint64_t h,
                const unsigned char **out, size_t *outlen)
{
    stem_set *set = &a->cache[h & (STEM_SETS - 1)];
    stem_slot *sl, tmp;
    const sb_symbol *st;
    size_t sn, w;

    for (w = 0; w < STEM_WAYS; w++) {
        sl = &set->way[w];
        if (sl->klen == n && key_eq(t, sl->data, n)) {
            if (w > 0) {            /* move to front */
                tmp = *sl;
                memmove(&set->way[1], &set->way[0], w * sizeof tmp);
                set->way[0] = tmp;
                sl = &set->way[0];
            }
            *outlen = sl->slen & ~STEM_PREFIX;
            *out = (const unsigned char *)sl->data + ((sl->slen & STEM_PREFIX) ? 0 : n);
            return CPQ_OK;
        }
    }
    st = sb_stemmer_stem(a->stemmer, t, (int)n);
    if (!st)
        return CPQ_ENOMEM;
    memset(&tmp, 0, sizeof tmp);
    sn = (size_t)sb_stemmer_length(a->stemmer);
    *out = st;
    *outlen = sn;
    if (sn <= n && memcmp(st, t, sn) == 0) {
        if (n > STEM_SLOT_DATA)
            return CPQ_OK;
        tmp.slen = (uint8_t)(sn | STEM_PREFIX);
    } else {
        if (n + sn > STEM_SLOT_DATA)
            return CPQ_OK;
        memcpy(tmp.data + n, st, sn);
        tmp.slen = (uint8_t)sn;
    }
    tmp.klen = (uint8_t)n;
    memcpy(tmp.data, t, n);
    memmove(&set->way[1], &set->way[0], (STEM_WAYS - 1) * sizeof tmp);
    set->way[0] = tmp;
    return CPQ_OK;
}

/* ------------------------------------------------------------------ */
/* The sparse filter                                                   */
/* ------------------------------------------------------------------ */

static inline unsigned pair_bit(unsigned b0, unsigned b1)
{
    return (b0 * 31u + b1) & 255u;
}

static void set_pair(cpq_sparse_filter *f, unsigned b0, unsigned b1)
{
    unsigned h = pair_bit(b0, b1);

    f->pair[h >> 3] |= (uint8_t)(1u << (h & 7));
}

void cpq_sparse_filter_add(cpq_sparse_filter *f, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    if (len == 0 || len > CPQ_TERM_MAX)   /* no term starts with it */
        return;
    if (f->need[u[0]] == 0 || len < f->need[u[0]])
        f->need[u[0]] = (uint8_t)len;
    if (len >= 2) {
        set_pair(f, u[0], u[1]);
        /* english's exceptions to "the stem keeps the first two bytes":
         * dying, lying, tying -> die, lie, tie */
        if (u[1] == 'i' && (u[0] == 'd' || u[0] == 'l' || u[0] == 't'))
            set_pair(f, u[0], 'y');
    }
}

/* May the folded token t[0..n) (1 <= n), whose bytes are t[i] | lower,
 * be skipped?  Yes if no wanted string w can start it or its stem, i.e.
 * (the stem being no longer than t and keeping its first byte, and its
 * first two bytes when it has two) when no w has w[0] == t[0], |w| <= n
 * and, unless some w starting with t[0] is one byte long (then the stem
 * may be just that byte), w[0..2) == t[0..2).  need[] holds the shortest
 * |w| per first byte, pair[] a superset of the wanted pairs; a need[] of
 * 0 wraps to 255 in the subtraction, which no n reaches. */
static inline int sparse_skips(const cpq_sparse_filter *f, const unsigned char *t, size_t n,
                               unsigned lower)
{
    unsigned b0 = t[0] | lower, m = f->need[b0], h;

    if ((uint8_t)(m - 1) >= n)
        return 1;
    if (m < 2)
        return 0;
    h = pair_bit(b0, t[1] | lower);
    return !(f->pair[h >> 3] >> (h & 7) & 1);
}

/* ------------------------------------------------------------------ */
/* Emitting                                                            */
/* ------------------------------------------------------------------ */

static utf8proc_int32_t map_apostrophe(utf8proc_int32_t cp, void *data)
{
    (void)data;
    return cp == 0x2019 ? '\'' : cp;
}

/* Normalise src[0..n) (valid UTF-8) with opts into ring[cur].term.  Returns the
 * length (0 when nothing is left), or -1 when the result is longer than
 * CPQ_TERM_MAX. */
static long fold(cpq_analyzer *a, const unsigned char *src, size_t n, utf8proc_option_t opts)
{
    utf8proc_ssize_t m;

    m = utf8proc_decompose_custom(src, (utf8proc_ssize_t)n, a->ubuf, FOLD_CAP, opts,
                                  map_apostrophe, NULL);
    /* m < 0 cannot happen (valid input, valid options); drop the token then. */
    if (m < 0 || m > FOLD_CAP)
        return -1;
    m = utf8proc_reencode(a->ubuf, m, opts);
    if (m < 0 || m > CPQ_TERM_MAX)
        return -1;
    memcpy(a->ring[a->cur].term, a->ubuf, (size_t)m);
    return (long)m;
}

/* Stem the oldest waiting word token and hand it to the callback.  On a
 * stop, *pos becomes the position after that token and the rest of the
 * ring is dropped. */
static int flush_one(cpq_analyzer *a, uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    struct pend_tok *p = &a->ring[a->pend_head];
    const unsigned char *st;
    cpq_token tok;
    size_t sn;
    int rc;

    a->pend_head = (a->pend_head + 1) % PIPE_DEPTH;
    a->pend_n--;
    if ((rc = stem(a, p->term, p->len, p->hash, &st, &sn)) != CPQ_OK)
        goto stop;
    if (sn > CPQ_TERM_MAX)       /* dropped; its position is consumed */
        return CPQ_OK;
    tok.term = (const char *)(sn ? st : p->term);
    tok.len = sn ? sn : p->len;
    tok.pos = p->pos;
    tok.start = p->start;
    tok.end = p->end;
    if ((rc = fn(ctx, &tok)) == 0)
        return CPQ_OK;
stop:
    *pos = p->pos + 1;
    a->pend_n = 0;               /* drop the rest */
    a->pend_head = a->cur;
    return rc;
}

static int flush_all(cpq_analyzer *a, uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    int rc;

    while (a->pend_n)
        if ((rc = flush_one(a, pos, fn, ctx)) != CPQ_OK)
            return rc;
    return CPQ_OK;
}

/* Stopword check, stemming and the callback for a non-CJK token whose
 * folded form is ring[cur].term[0..n), 1 <= n <= CPQ_TERM_MAX.
 *
 * Pipelining: a stem-cache lookup is a random access into 4 MiB, which
 * misses the CPU caches for all but the commonest words.  So the cache line
 * is prefetched when a token is scanned and used PIPE_DEPTH tokens later:
 * tokens wait in a ring, which is flushed before a CJK term and at the end
 * of the text so that callbacks stay in text order. */
static int emit_word(cpq_analyzer *a, size_t n, size_t start, size_t end,
                     uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    struct pend_tok *p = &a->ring[a->cur];
    cpq_token tok;
    uint64_t h = 0;

    if (a->stop || a->stemmer)
        h = term_hash(p->term, n);
    if (a->stop && stop_has(a, p->term, n, h)) {
        (*pos)++;
        return CPQ_OK;
    }
    if (!a->stemmer) {
        tok.term = (const char *)p->term;
        tok.len = n;
        tok.pos = (*pos)++;
        tok.start = start;
        tok.end = end;
        return fn(ctx, &tok);
    }
#if defined(__GNUC__)
    __builtin_prefetch(&a->cache[h & (STEM_SETS - 1)]);
#endif
    p->len = n;
    p->start = start;
    p->end = end;
    p->hash = h;
    p->pos = (*pos)++;
    a->pend_n++;
    a->cur = (a->cur + 1) % PIPE_DEPTH;
    if (a->pend_n == PIPE_DEPTH)
        return flush_one(a, pos, fn, ctx);
    return CPQ_OK;
}

/* A CJK term: the characters in s[start..end); simple means each is one
 * code point for which cjk_is_normal holds. */
static int emit_cjk(cpq_analyzer *a, const unsigned char *s, size_t start, size_t end, int simple,
                    uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    cpq_token tok;
    long n;
    int rc;

    if ((rc = flush_all(a, pos, fn, ctx)) != CPQ_OK)
        return rc;
    if (simple) {
        tok.term = (const char *)s + start;
        tok.len = end - start;
    } else {
        n = fold(a, s + start, end - start, a->cjk_opts);
        if (n == 0)
            return CPQ_OK;
        if (n < 0) {
            (*pos)++;
            return CPQ_OK;
        }
        tok.term = (const char *)a->ring[a->cur].term;
        tok.len = (size_t)n;
    }
    tok.pos = (*pos)++;
    tok.start = start;
    tok.end = end;
    return fn(ctx, &tok);
}

/* ------------------------------------------------------------------ */
/* Scanning                                                            */
/* ------------------------------------------------------------------ */

/* Is s[i] a letter that may follow an apostrophe inside a token? */
static int letter_at(const unsigned char *s, size_t len, size_t i)
{
    size_t m;

    return i < len && kind_at(s, len, i, &m) == K_LETTER;
}

/* A non-CJK token starts at s[*ip]: scan it, emit it, advance *ip past it. */
static int scan_word(cpq_analyzer *a, const unsigned char *s, size_t len, size_t *ip,
                     uint32_t *pos, cpq_token_fn fn, void *ctx, const cpq_sparse_filter *flt)
{
    unsigned char *term = a->ring[a->cur].term;
    size_t start = *ip, i = *ip, n = 0, m;
    int after_letter = 0, ascii = 1;
    long fl;

    while (i < len) {
        unsigned c;
        int k;

#ifdef SWAR
        while (len - i >= 8) {
            uint64_t x, alpha, word, low;
            unsigned nb;

            memcpy(&x, s + i, 8);
            alpha = swar_alpha(x);
            word = alpha | swar_digit(x);
            low = x | (alpha >> 2);          /* 'A'..'Z' += 0x20 */
            if (n < CPQ_TERM_MAX)
                memcpy(term + n, &low, 8); /* term has 8 bytes of slack */
            if (word == HIGHS) {
                n += 8;
                i += 8;
                after_letter = (int)(alpha >> 63);
                continue;
            }
            nb = (unsigned)__builtin_ctzll(~word & HIGHS) >> 3;
            if (nb)
                after_letter = (int)((alpha >> (8 * nb - 1)) & 1);
            n += nb;
            i += nb;
            break;
        }
        if (i >= len)
            break;
#endif
        c = s[i];
        if (c < 0x80) {
            unsigned cl = ascii_class[c];

            if (cl != A_SEP) {
                if (n < CPQ_TERM_MAX)
                    term[n] = (unsigned char)(cl == A_ALPHA ? (c | 0x20) : c);
                n++;
                i++;
                after_letter = cl == A_ALPHA;
                continue;
            }
            if (c != '\'' || !after_letter || !letter_at(s, len, i + 1))
                break;
            if (n < CPQ_TERM_MAX)
                term[n] = '\'';
            n++;
            i++;
            after_letter = 0;
            continue;
        }
        k = kind_at(s, len, i, &m);
        if (k == K_LETTER || k == K_NUMBER || k == K_MARK) {
            ascii = 0;
            if (k != K_MARK)
                after_letter = k == K_LETTER;
            i += m;
        } else if (k == K_APOS && after_letter && letter_at(s, len, i + m)) {
            /* U+2019 folds to "'": the fast path still holds */
            if (n < CPQ_TERM_MAX)
                term[n] = '\'';
            n++;
            i += m;
            after_letter = 0;
        } else {
            break;
        }
    }
    *ip = i;

    if (ascii) {
        if (n > CPQ_TERM_MAX) {
            (*pos)++;
            return CPQ_OK;
        }
    } else {
        fl = fold(a, s + start, i - start, a->word_opts);
        if (fl == 0)
            return CPQ_OK;
        if (fl < 0) {
            (*pos)++;
            return CPQ_OK;
        }
        n = (size_t)fl;
    }
    if (flt && term[0] != '\'' && sparse_skips(flt, term, n, 0)) {
        (*pos)++;
        return CPQ_OK;
    }
    return emit_word(a, n, start, i, pos, fn, ctx);
}

/* A run of CJK characters starts at s[*ip] (code point cp of kind K_CJK or
 * K_CJK_EXT, m bytes): emit its bigrams (or the single character), advance
 * *ip past the run. */
static int scan_cjk(cpq_analyzer *a, const unsigned char *s, size_t len, size_t *ip,
                    int32_t cp, size_t m, uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    size_t i = *ip, prev_start = 0, ustart;
    int have_prev = 0, prev_simple = 0, simple, rc = CPQ_OK, k;

    for (;;) {
        /* One character: cp, then any extenders. */
        ustart = i;
        simple = cjk_is_normal(cp);
        i += m;
        for (k = K_SEP; i < len && s[i] >= 0x80; i += m) {
            m = utf8_decode(s + i, len - i, &cp);
            k = m ? cp_kind(cp) : K_SEP;
            if (k != K_MARK && k != K_CJK_EXT)
                break;
            simple = 0;
        }
        if (have_prev) {
            rc = emit_cjk(a, s, prev_start, i, prev_simple && simple, pos, fn, ctx);
            if (rc)
                break;
        }
        if (k != K_CJK) {   /* the run ends; cp and m describe s[i] only if it is CJK */
            if (!have_prev)
                rc = emit_cjk(a, s, ustart, i, simple, pos, fn, ctx);
            break;
        }
        prev_start = ustart;
        prev_simple = simple;
        have_prev = 1;
    }
    *ip = i;
    return rc;
}

/* For cpq_analyze_sparse: the token starting at s[i] (an ASCII letter or
 * digit) if it is a plain run of ASCII letters and digits, ended by the
 * end of the text or an ASCII byte that is neither a letter, a digit nor an
 * apostrophe.  scan_word would fold such a token to the run lowercased (a
 * digit has bit 5 set already, so "| 0x20" lowercases both), so when the
 * filter skips it (or it is overlong) it only takes a position.  Returns
 * the run's end if the token can be dropped so, else 0 (scan it). */
static size_t skip_plain(const cpq_sparse_filter *flt, const unsigned char *s, size_t len, size_t i)
{
    size_t e = i + 1;

#ifdef SWAR
    while (len - e >= 8) {
        uint64_t x, word;

        memcpy(&x, s + e, 8);
        word = swar_alpha(x) | swar_digit(x);
        if (word != HIGHS) {
            e += (unsigned)__builtin_ctzll(~word & HIGHS) >> 3;
            goto ended;
        }
        e += 8;
    }
#endif
    while (e < len && s[e] < 0x80 && ascii_class[s[e]] != A_SEP)
        e++;
#ifdef SWAR
ended:
#endif
    if (e < len && (s[e] >= 0x80 || s[e] == '\''))
        return 0;
    if (e - i > CPQ_TERM_MAX)
        return e;
    return sparse_skips(flt, s + i, e - i, 0x20) ? e : 0;
}

#ifdef SWAR
/* Bit j of the result is bit 7 of byte j of x (x has no other bits set):
 * the multiplier moves byte j's bit to bit 56 + j, and no two partial
 * products meet or carry into the top byte. */
static inline unsigned movemask8(uint64_t x)
{
    return (unsigned)((x * UINT64_C(0x0002040810204081)) >> 56);
}

/* For cpq_analyze_sparse: what cpq_analyze's loop does from s[*ip] on, for
 * as much of the next 64 bytes as it can do with bit masks.  Those mark
 * ASCII letters and digits (A) and the bytes that can make a token other
 * than a plain run of A - bytes >= 0x80 and apostrophes (X).  A run of A
 * that neither touches an X byte nor may run past the block is a token
 * folded to its lowercased bytes: when the filter skips it, it only takes a
 * position, else scan_word emits it.  The rest (from the first X byte, or
 * the run of A just before it, or a run reaching the block's end) is left
 * to the caller, which must take one step of the scalar loop at the
 * returned *ip before calling again.  Returns CPQ_OK or the callback's
 * value. */
static int sparse_block(cpq_analyzer *a, const cpq_sparse_filter *flt, const unsigned char *s,
                        size_t len, size_t *ip, uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    unsigned char tail[64];
    const unsigned char *blk = s + *ip;
    size_t b = *ip, avail = len - b;
    uint64_t A = 0, X = 0, starts, todo;
    unsigned h;
    int rc;

    if (avail < 64) {   /* zero padding: a zero byte separates, as the end of the text does */
        memset(tail, 0, sizeof tail);
        memcpy(tail, blk, avail);
        blk = tail;
    }
    for (unsigned k = 0; k < 8; k++) {
        uint64_t x;

        memcpy(&x, blk + 8 * k, 8);
        A |= (uint64_t)movemask8(swar_alpha(x) | swar_digit(x)) << (8 * k);
        X |= (uint64_t)movemask8((x & HIGHS) | swar_between(x, '\'' - 1, '\'' + 1)) << (8 * k);
    }
    starts = A & ~(A << 1);
    h = X ? (unsigned)__builtin_ctzll(X) : 64;
    if (h > 0 && h < 64 && (A >> (h - 1) & 1))   /* the run before the X byte */
        h = 63 - (unsigned)__builtin_clzll(starts & ((UINT64_C(1) << h) - 1));
    if (avail > 64 && (A >> 63) && starts) {     /* a run that may go on past the block */
        unsigned r = 63 - (unsigned)__builtin_clzll(starts);

        if (r < h)
            h = r;
    }
    todo = h == 64 ? starts : starts & ((UINT64_C(1) << h) - 1);
    while (todo) {
        unsigned p = (unsigned)__builtin_ctzll(todo);
        uint64_t rest = ~(A >> p);
        size_t n = rest ? (size_t)__builtin_ctzll(rest) : 64 - p;

        todo &= todo - 1;
        if (n > CPQ_TERM_MAX || sparse_skips(flt, blk + p, n, 0x20)) {
            (*pos)++;
        } else {
            size_t i = b + p;

            /* it passed the filter: no need to test it again */
            if ((rc = scan_word(a, s, len, &i, pos, fn, ctx, NULL)) != CPQ_OK) {
                *ip = i;
                return rc;
            }
        }
    }
    *ip = h < avail ? b + h : len;
    return CPQ_OK;
}
#endif

/* The byte at s[*ip] is not ASCII: scan the CJK run or word it starts, or
 * step over it (a separator, or invalid UTF-8).  Shared by both loops;
 * inlined, so flt == NULL costs cpq_analyze nothing. */
static inline int scan_other(cpq_analyzer *a, const unsigned char *s, size_t len, size_t *ip,
                             uint32_t *pos, cpq_token_fn fn, void *ctx, const cpq_sparse_filter *flt)
{
    int32_t cp;
    size_t m = utf8_decode(s + *ip, len - *ip, &cp);
    int k;

    if (!m) {
        (*ip)++;
        return CPQ_OK;
    }
    k = cp_kind(cp);
    if (k == K_CJK || k == K_CJK_EXT)
        return scan_cjk(a, s, len, ip, cp, m, pos, fn, ctx);
    if (k == K_LETTER || k == K_NUMBER || k == K_MARK)
        return scan_word(a, s, len, ip, pos, fn, ctx, flt);
    *ip += m;
    return CPQ_OK;
}

/* The end of both loops: emit what waits for its stem (unless the loop
 * failed or was stopped, then drop it). */
static int analyze_finish(cpq_analyzer *a, int rc, uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    if (rc == CPQ_OK)
        rc = flush_all(a, pos, fn, ctx);
    a->pend_n = 0;
    a->pend_head = a->cur;
    return rc;
}

int cpq_analyze(cpq_analyzer *a, const char *text, size_t len, uint32_t pos0,
                cpq_token_fn fn, void *ctx, uint32_t *npos)
{
    const unsigned char *s = (const unsigned char *)text;
    uint32_t pos = pos0;
    size_t i = 0;
    int rc = CPQ_OK;

    while (i < len) {
#ifdef SWAR
        if (len - i >= 8) {
            uint64_t x, stop;

            memcpy(&x, s + i, 8);
            stop = swar_alpha(x) | swar_digit(x) | (x & HIGHS);
            if (!stop) {
                i += 8;
                continue;
            }
            i += (unsigned)__builtin_ctzll(stop) >> 3;
        }
#endif
        if (s[i] < 0x80) {
            if (ascii_class[s[i]] == A_SEP) {
                i++;
                continue;
            }
            rc = scan_word(a, s, len, &i, &pos, fn, ctx, NULL);
        } else {
            rc = scan_other(a, s, len, &i, &pos, fn, ctx, NULL);
        }
        if (rc)
            break;
    }
    rc = analyze_finish(a, rc, &pos, fn, ctx);
    if (npos)
        *npos = pos;
    return rc;
}

/* cpq_analyze's loop with the sparse filter: sparse_block takes what it
 * can, and after it one step of the scalar loop, which drops what
 * skip_plain can, runs before the next block.  A copy rather than a flag
 * in cpq_analyze: a test in the indexer's path (even one never taken) cost
 * it 10%. */
static int analyze_sparse(cpq_analyzer *a, const cpq_sparse_filter *flt, const unsigned char *s,
                          size_t len, uint32_t *pos, cpq_token_fn fn, void *ctx)
{
    size_t i = 0, m;
    int rc = CPQ_OK;

    while (i < len) {
#ifdef SWAR
        rc = sparse_block(a, flt, s, len, &i, pos, fn, ctx);
        if (rc || i >= len)
            break;
#endif
        if (s[i] < 0x80) {
            if (ascii_class[s[i]] == A_SEP) {
                i++;
                continue;
            }
            if ((m = skip_plain(flt, s, len, i)) != 0) {
                i = m;
                (*pos)++;
                continue;
            }
            rc = scan_word(a, s, len, &i, pos, fn, ctx, flt);
        } else {
            rc = scan_other(a, s, len, &i, pos, fn, ctx, flt);
        }
        if (rc)
            break;
    }
    return analyze_finish(a, rc, pos, fn, ctx);
}

int cpq_analyze_sparse(cpq_analyzer *a, const char *text, size_t len, uint32_t pos0,
                       const cpq_sparse_filter *f, cpq_token_fn fn, void *ctx, uint32_t *npos)
{
    uint32_t pos = pos0;
    int rc;

    if (!a->sparse_ok)
        return cpq_analyze(a, text, len, pos0, fn, ctx, npos);
    rc = analyze_sparse(a, f, (const unsigned char *)text, len, &pos, fn, ctx);
    if (npos)
        *npos = pos;
    return rc;
}

int cpq_analyzer_same_fold(const cpq_analyzer *a, const cpq_analyzer *b)
{
    return a->word_opts == b->word_opts && a->cjk_opts == b->cjk_opts;
}

/* ------------------------------------------------------------------ */
/* Creation                                                            */
/* ------------------------------------------------------------------ */

void cpq_analysis_cfg_default(cpq_analysis_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->language, "english");
}

const char **cpq_analyzer_languages(void)
{
    return sb_stemmer_list();
}

/* Stopword set building: the stopword string is run through the analyser
 * itself (no stemmer, no stopwords yet), once to count, once to insert. */
typedef struct stop_build {
    cpq_analyzer *a;
    size_t count, bytes;
    int insert;
} stop_build;

static int stop_collect(void *ctx, const cpq_token *tok)
{
    stop_build *b = ctx;
    cpq_analyzer *a = b->a;
    unsigned char t[CPQ_TERM_MAX + 8] = { 0 };
    uint64_t h;
    size_t i;

    if (!b->insert) {
        b->count++;
        b->bytes += tok->len;
        return 0;
    }
    memcpy(t, tok->term, tok->len);
    h = term_hash(t, tok->len);
    for (i = h & a->stop_mask; a->stop[i].len; i = (i + 1) & a->stop_mask)
        if (a->stop[i].hash == h && a->stop[i].len == tok->len &&
            memcmp(a->stop_chars + a->stop[i].off, t, tok->len) == 0)
            return 0;
    memcpy(a->stop_chars + a->stop_used, t, tok->len);
    a->stop[i].hash = h;
    a->stop[i].off = (uint32_t)a->stop_used;
    a->stop[i].len = (uint32_t)tok->len;
    a->stop_used += tok->len;
    return 0;
}

static int build_stopwords(cpq_analyzer *a, const char *words, cpq_errinfo *e)
{
    stop_build b = { a, 0, 0, 0 };
    size_t len = strlen(words), slots = 16;

    cpq_analyze(a, words, len, 0, stop_collect, &b, NULL);
    if (b.count == 0)
        return CPQ_OK;
    if (b.bytes > UINT32_MAX)
        return cpq_err_set(e, CPQ_EINVAL, "stopword list too long (%zu bytes)", b.bytes);
    while (slots < 2 * b.count)
        slots *= 2;
    a->stop = calloc(slots, sizeof *a->stop);
    a->stop_chars = malloc(b.bytes);
    if (!a->stop || !a->stop_chars)
        return cpq_err_set(e, CPQ_ENOMEM, "out of memory for %zu stopwords", b.count);
    a->stop_mask = slots - 1;
    b.insert = 1;
    cpq_analyze(a, words, len, 0, stop_collect, &b, NULL);
    return CPQ_OK;
}

int cpq_analyzer_create_prefix(const cpq_analysis_cfg *cfg, cpq_analyzer **out, cpq_errinfo *e)
{
    cpq_analysis_cfg pc;

    if (!cfg) {
        if (out)
            *out = NULL;
        return cpq_err_set(e, CPQ_EINVAL, "cpq_analyzer_create_prefix: NULL settings");
    }
    pc = *cfg;
    memset(pc.language, 0, sizeof pc.language);
    memcpy(pc.language, "none", 5);
    pc.stopwords = NULL;
    return cpq_analyzer_create(&pc, out, e);
}

int cpq_analyzer_create(const cpq_analysis_cfg *cfg, cpq_analyzer **out, cpq_errinfo *e)
{
    cpq_analyzer *a = NULL;
    const char *lang;
    int rc;

    if (out)
        *out = NULL;
    if (!cfg || !out)
        return cpq_err_set(e, CPQ_EINVAL, "analyser: NULL argument");
    lang = cfg->language;
    if (!memchr(lang, '\0', CPQ_LANG_MAX) || !lang[0])
        return cpq_err_set(e, CPQ_EINVAL, "analyser: language name empty or not terminated");
    if (cfg->strip_accents != 0 && cfg->strip_accents != 1)
        return cpq_err_set(e, CPQ_EINVAL, "analyser: strip_accents must be 0 or 1, not %d",
                           cfg->strip_accents);

    a = calloc(1, sizeof *a);
    if (!a)
        return cpq_err_set(e, CPQ_ENOMEM, "analyser: out of memory");
    a->cjk_opts = UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE;
    a->word_opts = a->cjk_opts | (cfg->strip_accents ? UTF8PROC_STRIPMARK : 0);

    /* Stopwords first, while there is no stemmer: they are stored folded. */
    if (cfg->stopwords && cfg->stopwords[0]) {
        rc = build_stopwords(a, cfg->stopwords, e);
        if (rc)
            goto fail;
    }

    /* cpq_analyze_sparse needs a stemmer whose stem of a folded word w
     * is no longer than w (in bytes) and keeps w's first character, and its
     * first two when the stem has two, but for exceptions the filter knows.
     * "none" keeps w.  english.sbl (Snowball 2.x, porter2) changes only a
     * word's end and never lengthens it:
     *   - the whole-word exceptions (skis, skies, dying, lying, tying, idly,
     *     gently, ugly, early, only, singly) become shorter words with the
     *     same first letter, and the same first two but for dying, lying,
     *     tying -> die, lie, tie (the filter's exceptions);
     *   - words of fewer than three characters are left alone;
     *   - every other rule replaces a suffix by a string no longer than it,
     *     and all are ASCII: in R1 or R2 (1b 'eed', steps 2 to 5), which
     *     start at the third character at the earliest; after a vowel and
     *     one more character (1a 's', 1c 'y' -> 'i'); after a vowel (1b 'ed',
     *     'ing' and so on: what remains gains an 'e' only at R1's start or
     *     after 'at', 'bl', 'iz', or loses the last letter of a double
     *     consonant, which follows that vowel; a one-letter rest stays one
     *     letter); 1a's 'sses', 'ied', 'ies' -> 'ss', 'i' or 'ie', which
     *     keep the suffix's first two letters where they matter; 1a's
     *     apostrophe suffixes ("x's" -> "x");
     *   - the prelude's y -> Y is undone by the postlude; its removal of a
     *     leading apostrophe never applies to a folded token (and such a
     *     token is never skipped).
     * Checked against libstemmer 2.2.0 on the 405K distinct folded words of
     * gcide, scifact, cranfield and linux-doc and 40M random words and
     * suffix chains: no other exception. */
    a->sparse_ok = strcmp(lang, "none") == 0 || strcmp(lang, "english") == 0
                   || strcmp(lang, "en") == 0 || strcmp(lang, "eng") == 0;
    if (strcmp(lang, "none") != 0) {
        a->stemmer = sb_stemmer_new(lang, "UTF_8");
        if (!a->stemmer) {
            /* NULL means unknown language or no memory; tell them apart by
             * the list (aliases such as "en" are not listed, so an alias
             * that fails for lack of memory is reported as ELANG). */
            const char **l;

            rc = CPQ_ELANG;
            for (l = sb_stemmer_list(); *l; l++)
                if (strcmp(*l, lang) == 0)
                    rc = CPQ_ENOMEM;
            if (rc == CPQ_ELANG)
                cpq_err_set(e, rc, "no stemmer for language '%s'", lang);
            else
                cpq_err_set(e, rc, "out of memory creating the '%s' stemmer", lang);
            goto fail;
        }
        a->cache = aligned_alloc(64, STEM_SETS * sizeof *a->cache);
        if (!a->cache) {
            rc = cpq_err_set(e, CPQ_ENOMEM, "analyser: out of memory for the stem cache");
            goto fail;
        }
        memset(a->cache, 0, STEM_SETS * sizeof *a->cache);
    }
    *out = a;
    return CPQ_OK;

fail:
    cpq_analyzer_free(a);
    return rc;
}

void cpq_analyzer_free(cpq_analyzer *a)
{
    if (!a)
        return;
    free(a->cache);
    if (a->stemmer)
        sb_stemmer_delete(a->stemmer);
    free(a->stop_chars);
    free(a->stop);
    free(a);
}
