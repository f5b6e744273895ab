/* fuzz_jsonl.c - libFuzzer target: the JSON Lines record parser and the
 * UTF-8 repair on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cpq_jsonl_rec rec;
    memset(&rec, 0, sizeof rec);
    char err[128];
    cpq_jsonl_parse((const char *)data, size, &rec, err, sizeof err);
    cpq_jsonl_rec_free(&rec);
    char *out = malloc(size * 3 + 1);
    if (out) {
        size_t nbad = 0;
        size_t n = cpq_utf8_repair((const char *)data, size, out, &nbad);
        if (!cpq_utf8_valid(out, n)) abort(); /* repair must yield valid UTF-8 */
        if ((nbad == 0) != (cpq_utf8_valid((const char *)data, size) != 0)) abort();
        free(out);
    }
    return 0;
}
