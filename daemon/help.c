/* help.c - see help.h.  Kept in step with PROTOCOL.md section 6. */
#include "help.h"

#include "cpqproto.h"

static const char *const summary[] = {
    "PING                                  check the connection: OK PONG",
    "SEARCH [:options] [--] QUERY          ranked passages with snippets",
    "COUNT [:group] [:all] [:budget=MS] [--] QUERY   number of matches, exact",
    "EXPLAIN [:k1=F] [:b=F] PASSAGE QUERY  how a passage's score is made",
    "GET PASSAGE                           one passage and its text",
    "DOC ID | DOC :num=D                   a document, its passages and its text",
    "STATS                                 server counters and latencies",
    "INFO                                  facts about the index and the server",
    "AUTH PASSWORD                         authenticate this connection",
    "RELOAD                                reopen the index file (admin)",
    "MODE text|json                        reply format of this connection",
    "HELP [COMMAND]                        this list, or one command in detail",
    "QUIT                                  close the connection",
    "A request may start with @tag; the reply's status line repeats it.",
    NULL,
};

static const char *const h_ping[] = {
    "PING -> OK PONG. Needs no authentication and does not touch the index.", NULL,
};
static const char *const h_search[] = {
    "SEARCH [options] [--] QUERY",
    "One 'hit' line (rank passage doc docnum ord start end score win hl) and one 'snippet' line per hit,",
    "then OK hits= total= exact= partial= capped= gen= us=.",
    "Options come before the query; '--' ends them so any query text can be searched:",
    "  :limit=N       hits to return, 0..1000 (10)",
    "  :offset=N      hits to skip, offset+limit <= 10000 (0)",
    "  :snippet=N     snippet window in bytes, 0 or 16..65536 (200); 0 = no snippet",
    "  :open=S :close=S :ellipsis=S   highlight markers and ellipsis ([ ] ...), token-escaped",
    "  :group         one hit per document",
    "  :all           all words required",
    "  :exact         count every match exactly",
    "  :k1=F :b=F     BM25 parameters (0.9, 0.4)",
    "  :budget=MS     time budget, at most the server's",
    "Query language: words, +required -excluded, AND OR NOT, (groups), \"phrases\", a NEAR/3 b, prefix*.",
    NULL,
};
static const char *const h_count[] = {
    "COUNT [:group] [:all] [:budget=MS] [--] QUERY -> OK count= gen= us=",
    "The exact number of matching passages (documents with :group).", NULL,
};
static const char *const h_explain[] = {
    "EXPLAIN [:k1=F] [:b=F] PASSAGE QUERY",
    "One 'term' line per scoring leaf (text phrase df idf tf len norm score),",
    "then OK passage= matched= excluded= score= k1= b= avglen= len= truncated= gen=.", NULL,
};
static const char *const h_get[] = {
    "GET PASSAGE -> a 'passage' line (passage doc docnum ord start end len), 'text N' and N bytes, OK gen=",
    "ERR NOTFOUND when there is no such passage.", NULL,
};
static const char *const h_doc[] = {
    "DOC ID | DOC :num=D",
    "A 'doc' line (doc docnum passages bytes), one 'passage' line per passage, 'text L' and the",
    "document's L bytes, OK gen=.  ID is token-escaped (\\x20 for a space).", NULL,
};
static const char *const h_stats[] = {
    "STATS -> 'stat NAME VALUE' lines (uptime, connections, commands, search latency percentiles,",
    "generation, reloads, index counts, memory, bytes in and out), then OK gen=", NULL,
};
static const char *const h_info[] = {
    "INFO -> 'info NAME VALUE' lines about the index and the server, then OK gen=", NULL,
};
static const char *const h_auth[] = {
    "AUTH PASSWORD -> OK auth=user|admin|none, or ERR AUTH wrong password.",
    "When the server has a password, commands other than AUTH PING HELP QUIT MODE need it.", NULL,
};
static const char *const h_reload[] = {
    "RELOAD -> OK gen= passages= docs= once the index file was reopened and verified;",
    "ERR RELOAD reason when it failed (the old index keeps serving); ERR DISABLED when the server",
    "runs with --no-remote-reload; needs the admin password when the server has one.", NULL,
};
static const char *const h_mode[] = {
    "MODE text | MODE json -> OK mode=..., written in the new mode.",
    "In json mode every reply is one JSON object on one line.", NULL,
};
static const char *const h_help[] = {
    "HELP -> one line per command; HELP COMMAND -> that command in detail.", NULL,
};
static const char *const h_quit[] = {
    "QUIT -> OK BYE; the server closes the connection once the reply is sent.", NULL,
};

const char *const *cpqd_help_summary(void) { return summary; }

const char *const *cpqd_help_command(int cmd)
{
    switch (cmd) {
    case CPQ_CMD_PING: return h_ping;
    case CPQ_CMD_SEARCH: return h_search;
    case CPQ_CMD_COUNT: return h_count;
    case CPQ_CMD_EXPLAIN: return h_explain;
    case CPQ_CMD_GET: return h_get;
    case CPQ_CMD_DOC: return h_doc;
    case CPQ_CMD_STATS: return h_stats;
    case CPQ_CMD_INFO: return h_info;
    case CPQ_CMD_AUTH: return h_auth;
    case CPQ_CMD_RELOAD: return h_reload;
    case CPQ_CMD_MODE: return h_mode;
    case CPQ_CMD_HELP: return h_help;
    case CPQ_CMD_QUIT: return h_quit;
    default: return NULL;
    }
}
