#!/bin/sh
# test_cpq_cli.sh - the cpq tool against a real cpqd: every command, text
# and --json output (parsed back with jq), exit statuses, environment
# variables, passwords, the stdin shell, and errors.
#
#   test_cpq_cli.sh CPQ BUILD_ROOT SOURCE_ROOT
#
# Exit 77 (skipped) when cpqd or jq is missing.
set -u

CPQ=$1
BUILD=$2
CPQD=$BUILD/daemon/cpqd
INDEXER=$BUILD/indexer/cpq-index

[ -x "$CPQD" ] || { echo "skip: no cpqd at $CPQD"; exit 77; }
[ -x "$INDEXER" ] || { echo "skip: no cpq-index at $INDEXER"; exit 77; }
command -v jq >/dev/null 2>&1 || { echo "skip: jq is not installed"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/cpqcli.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

FAILS=0
N=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { N=$((N + 1)); }

# check_status EXPECTED DESCRIPTION -- COMMAND...: run, compare the exit status.
check_status() {
    want=$1; what=$2; shift 3
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$what: exit status $got, expected $want"
        sed 's/^/    out: /' "$T/out" | head -5
        sed 's/^/    err: /' "$T/err" | head -5
    else
        ok
    fi
}
# expect_out DESCRIPTION PATTERN: grep the last command's stdout.
expect_out() {
    if grep -q -- "$2" "$T/out"; then ok; else fail "$1: stdout lacks '$2'"; sed 's/^/    /' "$T/out" | head -10; fi
}
expect_err() {
    if grep -q -- "$2" "$T/err"; then ok; else fail "$1: stderr lacks '$2'"; sed 's/^/    /' "$T/err" | head -5; fi
}
# jq_true DESCRIPTION FILTER: the filter, run over the last stdout as a
# stream of JSON Lines slurped into an array, must print true.
jq_true() {
    r=$(jq -s "$2" "$T/out" 2>&1)
    if [ "$r" = "true" ]; then ok; else fail "$1: jq '$2' gave '$r'"; head -c 600 "$T/out"; echo; fi
}

# ---- a corpus and its index --------------------------------------------------
mkdir -p "$T/docs"
printf 'The quick brown fox jumps over the lazy dog.\nFoxes are clever; a fox hunts at night.\n' >"$T/docs/fox.txt"
printf 'Internet sovereignty is the idea that a state governs the internet inside its borders.\n' >"$T/docs/net.txt"
printf 'Dogs and cats. A lazy afternoon in the garden, with a dog asleep.\n' >"$T/docs/dog.txt"
printf 'open sesame\n' >"$T/pw"
"$INDEXER" build -o "$T/ix.cpq" "$T/docs" >"$T/index.log" 2>&1 || { cat "$T/index.log"; exit 1; }

# start_cpqd [ARGS...]: start a daemon, set PORT.
NCPQD=0
start_cpqd() {
    NCPQD=$((NCPQD + 1))
    out=$T/cpqd.$NCPQD.out
    : >"$out"
    "$CPQD" --index "$T/ix.cpq" --listen 127.0.0.1:0 --threads 1 --log-level error "$@" >"$out" 2>"$T/cpqd.err" &
    PIDS="$PIDS $!"
    PORT=""
    i=0
    while [ $i -lt 200 ]; do
        PORT=$(sed -n 's/^cpqd listening on .*:\([0-9][0-9]*\)$/\1/p' "$out")
        [ -n "$PORT" ] && break
        sleep 0.05
        i=$((i + 1))
    done
    [ -n "$PORT" ] || { echo "cpqd did not start"; cat "$T/cpqd.err"; exit 1; }
}

start_cpqd
P=$PORT
FOXDOC="$T/docs/fox.txt"
unset CPQ_HOST CPQ_PORT CPQ_PASSWORD NO_COLOR

# ---- help and usage -----------------------------------------------------------
check_status 0 "--help" -- "$CPQ" --help
expect_out "--help" "Exit status"
for c in search get doc count explain stats info ping; do
    check_status 0 "$c --help" -- "$CPQ" "$c" --help
    expect_out "$c --help" "usage: cpq $c"
done
check_status 0 "help search" -- "$CPQ" help search
check_status 0 "--version" -- "$CPQ" --version
expect_out "--version" "cpq 0.1.0"
check_status 2 "unknown command" -- "$CPQ" -p "$P" frobnicate
check_status 2 "unknown option" -- "$CPQ" --frob ping
check_status 2 "search without a query" -- "$CPQ" -p "$P" search
check_status 2 "bad --limit" -- "$CPQ" -p "$P" search --limit abc fox
check_status 2 "--limit too large" -- "$CPQ" -p "$P" search --limit 5000 fox
check_status 2 "get without a number" -- "$CPQ" -p "$P" get abc
check_status 2 "bad port" -- "$CPQ" -p 0 ping
check_status 2 "a query the server rejects" -- "$CPQ" -p "$P" search '"unbalanced'
expect_err "bad query" "QUERY"

# ---- ping ----------------------------------------------------------------------
check_status 0 "ping" -- "$CPQ" -p "$P" ping
expect_out "ping" "PONG"
check_status 0 "ping --json" -- "$CPQ" -p "$P" --json ping
jq_true "ping json" 'length == 1 and .[0].type == "ping" and .[0].reply == "PONG" and .[0].server_version == "0.1.0"'
check_status 0 "CPQ_HOST/CPQ_PORT" -- env CPQ_HOST=localhost CPQ_PORT="$P" "$CPQ" ping
check_status 0 "--host ::1 or 127.0.0.1 by name" -- "$CPQ" --host localhost --port "$P" ping

# ---- search --------------------------------------------------------------------
check_status 0 "search" -- "$CPQ" -p "$P" search fox
expect_out "search shows the doc" "fox.txt"
expect_out "search highlights in brackets when not a terminal" "\[fox\]"
expect_out "search summary" "hits\? of"
if grep -q "$(printf '\033')" "$T/out"; then fail "colour escapes on a pipe"; else ok; fi
check_status 0 "search --color always" -- "$CPQ" -p "$P" --color always search fox
if grep -q "$(printf '\033\\[1;33m')" "$T/out"; then ok; else fail "no colour with --color always"; fi
check_status 1 "search without hits" -- "$CPQ" -p "$P" search zzzzunknownword
check_status 0 "search --json" -- "$CPQ" -p "$P" --json search --limit 5 fox
jq_true "search json: hits then a summary" \
    '(.[-1].type == "search") and (.[-1].hits == (length - 1)) and (.[:-1] | all(.type == "hit"))'
jq_true "search json: hit fields" \
    '.[:-1] | all(has("rank") and has("passage") and has("doc") and has("docnum") and has("ord") and has("start") and has("end") and has("score") and has("win") and has("hl") and has("snippet"))'
jq_true "search json: highlights are fox" \
    '[.[:-1][] | . as $h | .hl[] | ($h.snippet | explode | .[$h.hl[0][0]:$h.hl[0][1]] | implode | ascii_downcase)] | all(startswith("fox"))'
jq_true "search json: ranks" '[.[:-1][].rank] == [range(1; length)]'
PASSAGE=$(jq -s -r '[.[] | select(.type == "hit" and (.doc | endswith("fox.txt")))][0].passage' "$T/out")
check_status 0 "search --limit 1 --offset 1" -- "$CPQ" -p "$P" --json search --limit 1 --offset 1 lazy
jq_true "offset" '.[0].rank == 2 and .[-1].hits == 1'
check_status 0 "search --snippet 0" -- "$CPQ" -p "$P" --json search --snippet 0 fox
jq_true "no snippet" '.[:-1] | all(has("snippet") | not)'
check_status 0 "search --group --exact" -- "$CPQ" -p "$P" --json search --group --exact --limit 100 lazy
jq_true "group: one hit per document, exact total" \
    '(.[:-1] | map(.docnum) | length == (unique | length)) and .[-1].exact == true and .[-1].total == .[-1].hits'
check_status 1 "search --all" -- "$CPQ" -p "$P" search --all fox zzzzunknownword
check_status 0 "search without --all" -- "$CPQ" -p "$P" search fox zzzzunknownword
check_status 0 "search a query starting with --" -- "$CPQ" -p "$P" search -- fox
check_status 0 "search with an excluded word" -- "$CPQ" -p "$P" --json search lazy -fox
jq_true "excluded word" '.[-1].hits == 1 and (.[0].doc | endswith("dog.txt"))'
check_status 0 "search --k1 --b" -- "$CPQ" -p "$P" search --k1 1.2 --b 0.75 fox

# ---- get and doc ---------------------------------------------------------------
check_status 0 "get" -- "$CPQ" -p "$P" get "$PASSAGE"
expect_out "get text" "quick brown fox"
check_status 0 "get --json" -- "$CPQ" -p "$P" --json get "$PASSAGE"
jq_true "get json" ".[0].type == \"passage\" and .[0].passage == $PASSAGE and (.[0].text | contains(\"quick brown fox\"))"
check_status 1 "get a passage that does not exist" -- "$CPQ" -p "$P" get 999999
expect_err "get 999999" "NOTFOUND"
check_status 1 "get --json not found" -- "$CPQ" -p "$P" --json get 999999
jq_true "error json" '.[0].type == "error" and .[0].code == "NOTFOUND" and .[0].server == true'
check_status 0 "doc" -- "$CPQ" -p "$P" --json doc "$FOXDOC"
jq_true "doc json: the file's text" \
    "(.[0].text == $(jq -Rs . "$FOXDOC")) and .[0].doc == \"$FOXDOC\" and (.[0].passages | length) >= 1"
DOCNUM=$(jq -r '.docnum' "$T/out")
check_status 0 "doc --num" -- "$CPQ" -p "$P" --json doc --num "$DOCNUM"
jq_true "doc --num" ".[0].doc == \"$FOXDOC\""
check_status 0 "doc --passages" -- "$CPQ" -p "$P" doc --passages "$FOXDOC"
expect_out "doc --passages" "passage [0-9]"
check_status 0 "doc text" -- "$CPQ" -p "$P" doc "$FOXDOC"
expect_out "doc text" "Foxes are clever"
check_status 1 "doc not found" -- "$CPQ" -p "$P" doc no-such-document

# ---- count, explain, stats, info ----------------------------------------------
check_status 0 "count" -- "$CPQ" -p "$P" count lazy
if [ "$(cat "$T/out")" -ge 2 ]; then ok; else fail "count lazy: $(cat "$T/out")"; fi
check_status 0 "count --json" -- "$CPQ" -p "$P" --json count --group lazy
jq_true "count json" '.[0].type == "count" and .[0].count >= 2'
check_status 1 "count 0" -- "$CPQ" -p "$P" count zzzzunknownword
check_status 0 "explain" -- "$CPQ" -p "$P" explain "$PASSAGE" quick fox
expect_out "explain" "matches"
check_status 0 "explain --json" -- "$CPQ" -p "$P" --json explain "$PASSAGE" quick fox
jq_true "explain json" \
    ".[0].type == \"explain\" and .[0].passage == $PASSAGE and .[0].matched == true and (.[0].terms | length) >= 2 and (.[0].terms | all(.df >= 1))"
check_status 2 "explain without a query" -- "$CPQ" -p "$P" explain "$PASSAGE"
check_status 0 "stats" -- "$CPQ" -p "$P" stats
expect_out "stats" "uptime_s"
check_status 0 "stats --json" -- "$CPQ" -p "$P" --json stats
jq_true "stats json" '.[0].type == "stats" and (.[0].stats.searches | type) == "number" and .[0].stats.searches >= 5'
check_status 0 "info --json" -- "$CPQ" -p "$P" --json info
jq_true "info json" '.[0].type == "info" and .[0].info.docs == 3 and .[0].info.proto == 1'

# ---- the shell, fed from stdin -------------------------------------------------
printf 'search --limit 1 fox\nget %s\nlazy dog\ncount fox\nhelp\nnosuchthing\nquit\nping\n' "$PASSAGE" \
    | "$CPQ" -p "$P" >"$T/out" 2>"$T/err"
st=$?
# The status of the last command run: "nosuchthing" found nothing.
[ $st -eq 1 ] && ok || fail "shell: exit status $st"
expect_out "shell: search" "\[fox\]"
expect_out "shell: get" "quick brown fox"
expect_out "shell: a bare query searches" "dog.txt"
expect_out "shell: help" "Type a query"
if grep -q PONG "$T/out"; then fail "shell: ran a command after quit"; else ok; fi
printf 'search fox\nstats\n' | "$CPQ" -p "$P" --json >"$T/out" 2>"$T/err"
jq_true "shell --json" '(map(.type) | index("search")) != null and .[-1].type == "stats"'

# ---- the interactive shell on a terminal (a pty driven by python3) ----------------
if command -v python3 >/dev/null 2>&1; then
    mkdir -p "$T/home"
    python3 - "$CPQ" "$P" "$T/home" >"$T/out" 2>"$T/err" <<'PY'
import os, pty, select, sys, time
cpq, port, home = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.environ["HOME"] = home
    os.environ.pop("NO_COLOR", None)
    os.environ["TERM"] = "dumb"
    os.execv(cpq, [cpq, "-p", port])
buf = b""
def until(pat, secs=20):
    global buf
    end = time.time() + secs
    while pat not in buf:
        left = end - time.time()
        if left <= 0:
            raise SystemExit("timed out waiting for %r; got %r" % (pat, buf[-400:]))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise SystemExit("EOF waiting for %r; got %r" % (pat, buf[-400:]))
            buf += chunk
until(b"> ")
os.write(fd, b"search fox\r")
until(b"matching")
os.write(fd, b"quit\r")
_, st = os.waitpid(pid, 0)
sys.stdout.write(buf.decode("utf-8", "replace"))
print("\nSTATUS", os.WEXITSTATUS(st) if os.WIFEXITED(st) else -1)
PY
    [ $? -eq 0 ] && ok || { fail "pty shell: $(cat "$T/err")"; }
    expect_out "pty shell: a prompt" "cpq 127.0.0.1:$P> "
    if grep -q "$(printf '\033\\[1;33m')fox" "$T/out"; then ok; else fail "pty shell: no colour highlight on a terminal"; fi
    expect_out "pty shell: exit status" "STATUS 0"
    # libedit writes spaces as \040.
    if grep -q "search.*fox" "$T/home/.cpq_history" 2>/dev/null; then ok; else fail "pty shell: no ~/.cpq_history"; fi
fi

# ---- the examples ----------------------------------------------------------------
EX=$BUILD/client/examples
if [ -x "$EX/cpq-example-search" ]; then
    check_status 0 "example search" -- "$EX/cpq-example-search" -p "$P" fox
    expect_out "example search" "\[fox\]"
    check_status 1 "example search, no hits" -- "$EX/cpq-example-search" -p "$P" zzzzunknownword
    printf 'fox\n\nlazy dog\nzzzzunknownword\n' | "$EX/cpq-example-repl" 127.0.0.1 "$P" >"$T/out" 2>"$T/err"
    [ $? -eq 0 ] && ok || fail "example repl: exit status"
    expect_out "example repl: fox" "^fox: 1 matches; best .*fox.txt"
    expect_out "example repl: lazy dog" "^lazy dog: [0-9]* matches"
    expect_out "example repl: no match" "^zzzzunknownword: no match"
fi

# ---- connection errors ---------------------------------------------------------
check_status 3 "nobody listening" -- "$CPQ" -p 1 ping
expect_err "refused" "refused"
check_status 3 "--json connection error" -- "$CPQ" -p 1 --json ping
jq_true "connection error json" '.[0].type == "error" and .[0].code == "CONNECT" and .[0].server == false'
check_status 3 "unresolvable host" -- "$CPQ" --host no-such-host.invalid ping

# A silent server: a listening socket that never greets (nc -l when available).
if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
conns = []
deadline = time.time() + 30
while time.time() < deadline:
    s.settimeout(1)
    try:
        c, _ = s.accept(); conns.append(c)
    except socket.timeout:
        pass
' >"$T/silent.port" &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s "$T/silent.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    SP=$(cat "$T/silent.port")
    check_status 3 "a server that never answers" -- "$CPQ" -p "$SP" --timeout 200 ping
    expect_err "timeout" "within 200 ms"
fi

# ---- passwords -----------------------------------------------------------------
start_cpqd --password-file "$T/pw"
PP=$PORT
check_status 3 "no password" -- "$CPQ" -p "$PP" search fox
expect_err "no password" "NOAUTH"
check_status 0 "--password-file" -- "$CPQ" -p "$PP" --password-file "$T/pw" search fox
check_status 0 "CPQ_PASSWORD" -- env CPQ_PASSWORD="open sesame" "$CPQ" -p "$PP" search fox
check_status 3 "wrong password" -- env CPQ_PASSWORD=wrong "$CPQ" -p "$PP" search fox
expect_err "wrong password" "AUTH"
check_status 2 "missing password file" -- "$CPQ" -p "$PP" --password-file "$T/nope" ping

echo "$N checks passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
