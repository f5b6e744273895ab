/*
 * endian.h - the only way integers reach the index file: explicit
 * little-endian stores and loads through byte arrays, so the file is the
 * same on every host and no pointer is ever cast to a wider type.
 */
#ifndef CPQ_ENDIAN_H
#define CPQ_ENDIAN_H

#include <stdint.h>
#include <string.h>

static inline void cpq_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void cpq_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void cpq_put64(uint8_t *p, uint64_t v) { cpq_put32(p, (uint32_t)v); cpq_put32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t cpq_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t cpq_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t cpq_get64(const uint8_t *p) { return (uint64_t)cpq_get32(p) | ((uint64_t)cpq_get32(p + 4) << 32); }
/* IEEE-754 binary32 through its bit pattern. */
static inline void cpq_putf32(uint8_t *p, float f) { uint32_t u; memcpy(&u, &f, 4); cpq_put32(p, u); }
static inline float cpq_getf32(const uint8_t *p) { uint32_t u = cpq_get32(p); float f; memcpy(&f, &u, 4); return f; }

#endif
