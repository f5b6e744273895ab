/* cpq_error.c - names and messages for the error enum in cpq_error.h. */
#include "cpq_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const struct { const char *name, *text; } errtab[] = {
    [CPQ_OK]        = { "OK",        "success" },
    [CPQ_ENOMEM]    = { "ENOMEM",    "out of memory" },
    [CPQ_EIO]       = { "EIO",       "input/output error" },
    [CPQ_ECORRUPT]  = { "ECORRUPT",  "index file is corrupt" },
    [CPQ_EVERSION]  = { "EVERSION",  "unsupported index format version" },
    [CPQ_EINVAL]    = { "EINVAL",    "invalid argument" },
    [CPQ_EPARSE]    = { "EPARSE",    "malformed input record" },
    [CPQ_ELIMIT]    = { "ELIMIT",    "limit exceeded" },
    [CPQ_ENOTFOUND] = { "ENOTFOUND", "not found" },
    [CPQ_EZSTD]     = { "EZSTD",     "compression error" },
    [CPQ_ELANG]     = { "ELANG",     "unknown stemmer language" },
};

const char *cpq_err_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof errtab / sizeof errtab[0] || !errtab[code].name)
        return "EUNKNOWN";
    return errtab[code].name;
}

const char *cpq_err_str(int code)
{
    if (code < 0 || (size_t)code >= sizeof errtab / sizeof errtab[0] || !errtab[code].text)
        return "unknown error";
    return errtab[code].text;
}

int cpq_err_set(cpq_errinfo *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int cpq_parse_size(const char *s, size_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') return -1;      /* no sign, no blanks */
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    unsigned long long mul = 1;
    switch (*end) {
    case 0: break;
    case 'k': case 'K': mul = 1ULL << 10; end++; break;
    case 'm': case 'M': mul = 1ULL << 20; end++; break;
    case 'g': case 'G': mul = 1ULL << 30; end++; break;
    case 't': case 'T': mul = 1ULL << 40; end++; break;
    default: return -1;
    }
    if ((*end == 'B' || *end == 'b') && mul > 1) end++;
    if (*end || (v && mul > ~0ULL / v) || v * mul > SIZE_MAX) return -1;
    *out = (size_t)(v * mul);
    return 0;
}
