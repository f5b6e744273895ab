/* cpq_error.c - names and messages for the error enum in cpq_error.h. */
#include "cpq_error.h"

#include <stdarg.h>
#include <stdio.h>

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
