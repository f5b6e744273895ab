#!/usr/bin/env bash
# scripts/deps.sh - install, with apt-get, whatever of cpq's build and test
# dependencies is missing (Debian 12).  Sourced by quickstart.sh and test.sh.
set -euo pipefail

CPQ_PACKAGES=(
  gcc clang libc6-dev pkg-config meson ninja-build
  libevent-dev libxxhash-dev libzstd-dev libcriterion-dev libutf8proc-dev libstemmer-dev
  libedit-dev netcat-openbsd procps jq python3 cppcheck valgrind
)

cpq_install_deps() {
  local missing=() p
  for p in "${CPQ_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#CPQ_PACKAGES[@]} packages present"
    return 0
  fi
  echo "deps: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}
