/*
 * search.c - the smallest useful libcpq program: search and print.
 *
 *   cpq-example-search [-h HOST] [-p PORT] QUERY
 *
 * Prints rank, score, document id and the snippet with highlights in
 * [brackets].  Exit status 0 with hits, 1 without, 3 on an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpq.h"

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    unsigned port = CPQ_CLIENT_PORT_DEFAULT;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-h") == 0)
            host = argv[i + 1];
        else if (strcmp(argv[i], "-p") == 0)
            port = (unsigned)atoi(argv[i + 1]);
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [-h HOST] [-p PORT] QUERY\n", argv[0]);
        return 2;
    }

    cpq_client *c = cpq_client_new(NULL);
    if (c == NULL) {
        fprintf(stderr, "out of memory\n");
        return 3;
    }
    int status = 3;
    cpq_client_hits *r = NULL;
    if (cpq_client_connect(c, host, port) != CPQ_RC_OK) {
        fprintf(stderr, "connect: %s\n", cpq_client_errmsg(c));
        goto out;
    }
    cpq_client_search_opts so;
    cpq_client_search_opts_init(&so);
    so.limit = 5;
    int rc = cpq_client_search(c, argv[i], &so, &r);
    if (rc != CPQ_RC_OK) {
        /* For a server error the code is there too: "QUERY", "ARG"... */
        fprintf(stderr, "search: %s (%s%s%s)\n", cpq_client_errmsg(c), cpq_strerror(rc),
                CPQ_RC_IS_SERVER(rc) ? ", server code " : "", cpq_client_server_code(c));
        goto out;
    }
    for (size_t k = 0; k < r->count; k++) {
        const cpq_client_hit *h = cpq_client_hits_at(r, k);
        printf("%llu. %.3f %s (passage %llu)\n   ", (unsigned long long)h->rank, h->score,
               h->doc, (unsigned long long)h->passage);
        size_t span = 0;
        for (size_t b = 0; b < h->snippet_len; b++) {
            if (span < h->nhl && b == h->hl[2 * span])
                putchar('[');
            putchar(h->snippet[b] == '\n' ? ' ' : h->snippet[b]);
            if (span < h->nhl && b + 1 == h->hl[2 * span + 1]) {
                putchar(']');
                span++;
            }
        }
        putchar('\n');
    }
    printf("%zu of %s%llu\n", r->count, r->exact ? "" : ">= ", (unsigned long long)r->total);
    status = r->count > 0 ? 0 : 1;
out:
    cpq_client_hits_free(r);
    cpq_client_free(c);
    return status;
}
