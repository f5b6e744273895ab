/*
 * repl.c - read queries from stdin, one per line, and print the best
 * passage of each: a tiny loop that keeps one connection open and
 * reconnects when it breaks.
 *
 *   printf 'fox\nquick dog\n' | cpq-example-repl [HOST [PORT]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpq.h"

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    unsigned port = argc > 2 ? (unsigned)atoi(argv[2]) : CPQ_CLIENT_PORT_DEFAULT;

    cpq_client_opts o;
    cpq_client_opts_init(&o);
    o.read_timeout_ms = 5000;
    cpq_client *c = cpq_client_new(&o);
    if (c == NULL)
        return 3;

    cpq_client_search_opts so;
    cpq_client_search_opts_init(&so);
    so.limit = 1;
    so.snippet = 80;

    char line[4096];
    int status = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (!cpq_client_connected(c) && cpq_client_connect(c, host, port) != CPQ_RC_OK) {
            fprintf(stderr, "connect: %s\n", cpq_client_errmsg(c));
            status = 3;
            break;
        }
        cpq_client_hits *r = NULL;
        int rc = cpq_client_search(c, line, &so, &r);
        if (rc != CPQ_RC_OK) {
            printf("%s: error: %s\n", line, cpq_client_errmsg(c));
        } else if (r->count == 0) {
            printf("%s: no match\n", line);
        } else {
            const cpq_client_hit *h = cpq_client_hits_at(r, 0);
            printf("%s: %llu matches; best %s (passage %llu, score %.3f): %.*s\n", line,
                   (unsigned long long)r->total, h->doc, (unsigned long long)h->passage,
                   h->score, (int)h->snippet_len, h->snippet);
        }
        cpq_client_hits_free(r);
        fflush(stdout);
    }
    cpq_client_close(c);
    cpq_client_free(c);
    return status;
}
