/*
 * cpqproto_int.h - helpers shared by the codec's files (not installed, not
 * part of the contract in cpqproto.h).
 */
#ifndef CPQ_PROTO_INT_H
#define CPQ_PROTO_INT_H

#include <stddef.h>

#include "cpqproto.h"

/* Length (2..4) of the valid UTF-8 sequence at s[0..n) whose first byte is
 * >= 0x80, or 0 when it is not one (overlong, surrogate, > U+10FFFF,
 * truncated). */
size_t cpq_proto_utf8_seq(const unsigned char *s, size_t n);

/* 1 for the characters a tag may hold: [A-Za-z0-9._:-]. */
int cpq_proto_tag_char(unsigned char c);

/* 1 if s[0..n) is a valid tag (without '@'): 1..CPQ_PROTO_TAG_MAX tag chars. */
int cpq_proto_tag_valid(const char *s, size_t n);

#endif
