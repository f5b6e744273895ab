/*
 * format.h - constants of the index file format.  FORMAT.md beside this
 * file is the normative description; the two change in the same commit.
 */
#ifndef CPQ_FORMAT_H
#define CPQ_FORMAT_H

#include <stdint.h>

/* PNG-style magic: a high byte catches 7-bit transfers, CR LF and ^Z catch
 * text-mode mangling. */
#define CPQ_MAGIC "\x89" "CPQ\r\n\x1a\n"
#define CPQ_MAGIC_LEN 8

/* Bump CPQ_FORMAT_VERSION whenever a reader of the previous version would
 * misread a file written by this code: a field added, removed, resized or
 * reinterpreted, a section or codec changed.  Readers refuse any other
 * version with CPQ_EVERSION.  Adding a new optional section id that old
 * readers may ignore does not need a bump (readers skip unknown ids). */
#define CPQ_FORMAT_VERSION 1

#define CPQ_HEADER_SIZE 64
#define CPQ_TOC_ENTRY 32
#define CPQ_MAX_SECTIONS 64

enum cpq_section_id {
    CPQ_SEC_META      = 1,
    CPQ_SEC_TERMINDEX = 2,
    CPQ_SEC_TERMS     = 3,
    CPQ_SEC_POSTINGS  = 4,
    CPQ_SEC_POSITIONS = 5,
    CPQ_SEC_LENGTHS   = 6,
    CPQ_SEC_PASSAGES  = 7,
    CPQ_SEC_DOCS      = 8,
    CPQ_SEC_DOCIDS    = 9,
    CPQ_SEC_DOCMAP    = 10,
    CPQ_SEC_STORE     = 11,
    CPQ_SEC_ZDICT     = 12,
    CPQ_SEC_COUNT_    = 13 /* one past the last id */
};

#define CPQ_META_SIZE 128          /* fixed part of META before the stopwords */
#define CPQ_TERMS_PER_BLOCK 16     /* front-coding restart interval */
#define CPQ_TERMINDEX_ENTRY 24
#define CPQ_SKIP_ENTRY 32
#define CPQ_TABLE_BLOCK 64         /* passages / documents per table block */
#define CPQ_PASSAGE_INDEX_ENTRY 16
#define CPQ_DOC_INDEX_ENTRY 24
#define CPQ_DOCID_MAX 4096         /* longest document id, bytes */

/* Name of a section id for messages and `cpq-index info` ("postings");
 * "unknown" for ids this version does not know. */
const char *cpq_section_name(uint32_t id);

/* BM25 defaults; the block bounds stored in the file are exact for these. */
#define CPQ_BM25_K1 0.9f
#define CPQ_BM25_B 0.4f

#endif
