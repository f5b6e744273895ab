#!/usr/bin/env bash
# scripts/test.sh - the README's second command, and what CI runs: install
# what is missing, then build with gcc and clang (warnings are errors) and run
# the whole suite, plain and under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
cpq_install_deps

setup() { # dir, then meson options
  local dir=$1; shift
  if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null; else meson setup "$dir" "$@" >/dev/null; fi
}

echo "== gcc, -Werror"
setup build-test -Dwerror=true --buildtype=debugoptimized
ninja -C build-test
meson test -C build-test --print-errorlogs

echo "== clang, -Werror (build)"
CC=clang setup build-test-clang -Dwerror=true --buildtype=debugoptimized
ninja -C build-test-clang

echo "== cppcheck"
scripts/lint.sh

echo "== gcc, ASan + UBSan"
setup build-test-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized
ninja -C build-test-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-test-asan --print-errorlogs

# Valgrind memcheck, once, over the suites it can run in reasonable time;
# the daemon's test runs cpqd itself under valgrind too (children are
# traced).  Left out, and why (all of them run under ASan+UBSan above):
#   analyze, query, engine, corrupt, spill - thousands of random inputs and
#     whole-index rebuilds: 2-10 minutes each under valgrind;
#   cli, client_cli, client_install, daemon-nc, fuzz-replay-* - scripts and
#     replays around the programs the other suites already cover;
#   alloc, daemon-failmalloc - they replace malloc themselves, as valgrind does.
echo "== valgrind memcheck (codec passage jsonl builder snippet proto client daemon)"
meson test -C build-test --print-errorlogs --num-processes 2 --timeout-multiplier 6 \
  --wrapper "valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --trace-children=yes --trace-children-skip=*/cpq-index,/usr/*,/bin/*" \
  codec passage jsonl builder snippet proto client daemon

if [ -d ../shared/corpora ]; then
  echo "== effectiveness floors (bench/eval-floors.txt)"
  bench/eval-check "$PWD/build-test"
else
  echo "== ../shared not present: effectiveness check skipped"
fi

echo "== all tests passed"
