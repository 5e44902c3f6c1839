#!/usr/bin/env bash
# Installs what dialroom needs on Debian: `scripts/deps.sh build` for building
# and running, `scripts/deps.sh test` for the test suite as well,
# `scripts/deps.sh bench` for the benchmarks (Kamailio as the reference).
# Only missing packages are installed; nothing is installed twice.
set -euo pipefail

what=${1:-build}
build_pkgs=(build-essential pkg-config libopus-dev ca-certificates curl)
# chromium (+ node and npm, below): the admin UI's browser test (playwright-core from npm).
# openssl: the TLS tests make their certificates with it; opus-tools: opusdec
# decodes the recordings in the recorder tests.
test_pkgs=(sip-tester baresip-core opus-tools postgresql python3 python3-venv python3-pip chromium openssl)
# kamailio: bench/register.sh's reference; janus: bench/mix.sh's (AudioBridge).
bench_pkgs=(kamailio janus)

pkgs=("${build_pkgs[@]}")
if [ "$what" = test ] || [ "$what" = bench ]; then
  pkgs+=("${test_pkgs[@]}")
fi
if [ "$what" = bench ]; then
  pkgs+=("${bench_pkgs[@]}")
fi
# Node.js with npm: Debian's packages unless a node with its own npm (e.g.
# NodeSource's, which conflicts with Debian's npm) is installed already.
if [ "$what" != build ] && ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a system PostgreSQL and Kamailio on install; the tests run
  # their own instances on random ports, so the system ones are not needed.
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: installing the Rust toolchain (rustup)"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
