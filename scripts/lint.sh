#!/usr/bin/env bash
# scripts/lint.sh - cppcheck over the project's own code (indexer, protocol,
# daemon, client, the tools); fails on any finding.  test.sh runs it.
# Suppressions are inline (`cppcheck-suppress id ; why`) next to the code
# they excuse, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=()
for d in indexer protocol daemon client; do
  compgen -G "$d/*.c" >/dev/null && dirs+=("$d")
done
out=$(cppcheck --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
  --std=c11 -q -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -Iindexer -Iprotocol -Iclient \
  "${dirs[@]}" 2>&1) || { printf '%s\n' "$out"; echo "lint: cppcheck found problems" >&2; exit 1; }
[ -z "$out" ] || { printf '%s\n' "$out"; echo "lint: cppcheck found problems" >&2; exit 1; }
echo "lint: cppcheck clean on ${dirs[*]}"
