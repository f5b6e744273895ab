#!/usr/bin/env bash
# scripts/quickstart.sh - the README's first command: install what is missing,
# build, index corpus/, and serve it with cpqd in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
cpq_install_deps

BUILD=${BUILD:-build}
if [ -d "$BUILD" ]; then meson setup --reconfigure "$BUILD" >/dev/null; else meson setup "$BUILD" --buildtype=release; fi
ninja -C "$BUILD"

INDEX=${INDEX:-corpus.cpqx}
"$BUILD/indexer/cpq-index" build -o "$INDEX" corpus/
"$BUILD/indexer/cpq-index" verify "$INDEX"

# cpqd's default port, so `cpq` and `nc` need no --port.
PORT=${PORT:-7878}
portopt=""
[ "$PORT" = 7878 ] || portopt=" --port $PORT"
echo
echo "Serving $INDEX on 127.0.0.1:$PORT (Ctrl-C stops it). From another terminal:"
echo "  $BUILD/client/cpq$portopt search internet sovereignty"
echo "  $BUILD/client/cpq$portopt                  (an interactive shell: type a query, or help)"
echo "  printf 'SEARCH internet sovereignty\\r\\n' | nc -q1 127.0.0.1 $PORT"
echo "  nc 127.0.0.1 $PORT          (then type HELP, SEARCH ..., QUIT)"
echo "After rebuilding $INDEX, reload it without a restart: kill -HUP <cpqd's pid>"
exec "$BUILD/daemon/cpqd" --index "$INDEX" --listen "127.0.0.1:$PORT"
