#!/usr/bin/env bash
# Quick start, command 1: install build dependencies, build, and run dialroom
# on its embedded defaults (SQLite in ./data/, SIP on 127.0.0.1:5060 UDP+TCP,
# web on http://127.0.0.1:8080/). Extra arguments go to `dialroom serve`,
# e.g. `scripts/run.sh --config dialroom.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --locked
echo "run: in another terminal, add a user with: target/release/dialroom user add alice --password secret"
exec target/release/dialroom "$@" serve
