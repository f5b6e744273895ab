/* fuzz_query.c - libFuzzer target: the query parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cpq_analyzer *an, *pan;
    if (!an) {
        cpq_analysis_cfg c;
        cpq_analysis_cfg_default(&c);
        c.stopwords = "the a of";
        if (cpq_analyzer_create(&c, &an, NULL)) return 0;
        if (cpq_analyzer_create_prefix(&c, &pan, NULL)) return 0;
    }
    for (unsigned flags = 0; flags <= CPQ_QUERY_ALL_WORDS; flags++) {
        cpq_query *q = NULL;
        if (cpq_query_parse((const char *)data, size, an, pan, flags, &q, NULL) == CPQ_OK) {
            char buf[256];
            cpq_query_format(q, buf, sizeof buf);
            cpq_query_free(q);
        }
    }
    return 0;
}
