#!/bin/sh
# daemon_nc.sh - drive cpqd with netcat exactly as a person would:
#   printf 'PING\r\nSEARCH ...\r\n' | nc -q1 127.0.0.1 $PORT
# and check what comes back with grep.
# usage: daemon_nc.sh CPQD CPQ-INDEX CORPUS-DIR
set -eu
CPQD=$1 CPQ_INDEX=$2 CORPUS=$3
command -v nc >/dev/null || { echo "nc not found: skipped"; exit 77; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/cpqd-nc.XXXXXX")
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; echo "--- cpqd log:"; cat "$DIR/log" || true; exit 1; }

"$CPQ_INDEX" build -o "$DIR/corpus.cpqx" "$CORPUS" >/dev/null 2>&1 || fail "cpq-index build"
"$CPQD" --index "$DIR/corpus.cpqx" --listen 127.0.0.1:0 --threads 2 >"$DIR/out" 2>"$DIR/log" &
PID=$!
i=0
while ! grep -q '^cpqd listening on ' "$DIR/out"; do
  i=$((i + 1)); [ $i -gt 200 ] && fail "cpqd did not start"
  kill -0 "$PID" 2>/dev/null || fail "cpqd exited"
  sleep 0.05
done
PORT=$(sed -n 's/^cpqd listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$DIR/out")
[ -n "$PORT" ] || fail "no port in: $(cat "$DIR/out")"

ask() { # the request bytes (printf format); the reply goes to $DIR/reply
  printf "$1" | nc -q1 127.0.0.1 "$PORT" >"$DIR/reply" || true
}
has() { grep -q -- "$1" "$DIR/reply" || fail "no '$1' in the reply to the request above:
$(cat "$DIR/reply")"; }

ask 'PING\r\nSEARCH internet sovereignty\r\n'
has '^OK cpqd proto=1 version=.* gen=1 passages=[0-9]* docs=1 auth=0'
has '^OK PONG'
has '^hit rank=1 passage=[0-9]* doc=.*000_95a09b20b076929a.txt docnum=0 '
has '^snippet .*\[[Ii]nternet\]'
has '^OK hits=[0-9]* total=[0-9]* exact=[01] partial=0 capped=0 gen=1 us=[0-9]*'

ask '@one COUNT internet\nGET 0\nHELP\nHELP search\nBOGUS\nQUIT\nPING\n'
has '^@one OK count=[0-9]* gen=1 us='
has '^passage passage=0 doc='
has '^text [0-9]*$'
has '^help PING'
has '^help   :limit=N'
has '^ERR UNKNOWN '
has '^OK BYE'
if grep -q '^OK PONG' "$DIR/reply"; then fail "answered after QUIT"; fi

ask 'MODE json\nSEARCH :limit=1 :snippet=0 internet\nSTATS\n'
has '^{"ok":true,"mode":"json"}'
has '^{"ok":true,"hits":\[{"rank":1,'
has '"stats":{"uptime_s":'

ask 'DOC :num=0\nINFO\nEXPLAIN 0 internet\nSEARCH :limit=5000 x\n'
has '^doc doc=.* docnum=0 passages='
has '^info language english'
has '^term text=internet phrase=0 '
has '^ERR ARG '

kill -TERM "$PID"
set +e
wait "$PID"
status=$?
set -e
PID=
[ "$status" -eq 0 ] || fail "cpqd exited with $status after SIGTERM"
grep -q ' INFO listening on 127.0.0.1:' "$DIR/log" || fail "no startup log line"
echo "ok: cpqd answered nc as a person would"
