#!/usr/bin/env bash
# bench/sfu.sh: how many forwarded audio packets per second one core of
# dialroom's SFU sustains.
#
# WHAT IS MEASURED
#   bench/sfuload starts BENCH_ROOMS (20) rooms of BENCH_ROOM_SIZE (10)
#   browser-like participants, each joining the way a browser does (XMPP
#   over /xmpp-websocket, the focus's conference IQ, MUC join, Jingle
#   session-initiate answered with session-accept, then ICE, DTLS and SRTP
#   with str0m against the SFU's one UDP port).  Every participant sends one
#   audio stream, 50 packets/s of 80-byte payloads marked silent by their
#   RFC 6464 level (a meeting where someone else talks; the phone bridge
#   then decodes none of them), so each room forwards SIZE x 50 x (SIZE-1)
#   packets/s.  Over BENCH_DURATION (20 s, after the joins and BENCH_WARMUP
#   3 s) it counts the SRTP packets every participant receives (without
#   decrypting them) and reads the server's CPU (utime+stime from /proc, the
#   whole process and per thread name).
#     forwarded packets/s per core = received packets/s / server CPU (cores)
#   i.e. the rate the SFU would forward with one core to itself.  The
#   generator (encrypting what it sends, ICE consent, one thread per
#   participant) shares the two cores; its CPU is printed beside.  LiveKit
#   publishes about 75,000 forwarded packets/s per vCPU; the issue's target
#   is 100,000 per core.
#
# USAGE
#   bench/sfu.sh                       # 20 x 10 participants, 20 s
#   BENCH_ROOMS=2 BENCH_ROOM_SIZE=3 BENCH_DURATION=5 BENCH_DIALROOM_BIN=target/debug/dialroom bench/sfu.sh
#   Run it on a quiet host.  Needs: cargo, python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
ROOMS=${BENCH_ROOMS:-20}
ROOM_SIZE=${BENCH_ROOM_SIZE:-10}
DURATION=${BENCH_DURATION:-20}
WARMUP=${BENCH_WARMUP:-3}
KEEP=${BENCH_KEEP:-0}
DIALROOM_BIN=${BENCH_DIALROOM_BIN:-}
LOAD="$BENCH/sfuload/target/release/dialroom-sfuload"

log() { printf '%s\n' "$*" >&2; }
die() {
    log "sfu.sh: $*"
    exit 1
}

WORK=$(mktemp -d /tmp/dialroom-sfu.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ $KEEP == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -z $DIALROOM_BIN ]]; then
    DIALROOM_BIN="$ROOT/target/release/dialroom"
    if [[ ! -x $DIALROOM_BIN ]] || [[ -n $(find "$ROOT/src" "$ROOT/Cargo.toml" -newer "$DIALROOM_BIN" | head -1) ]]; then
        log "dialroom: cargo build --release"
        (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
    fi
fi
case $DIALROOM_BIN in /*) ;; *) DIALROOM_BIN="$ROOT/$DIALROOM_BIN" ;; esac
if [[ ! -x $LOAD ]] || [[ -n $(find "$BENCH/sfuload/src" -newer "$LOAD" | head -1) ]]; then
    log "sfuload: cargo build --release (bench/sfuload, its own workspace)"
    (cd "$BENCH/sfuload" && cargo build --release --quiet) || die "building bench/sfuload failed"
fi

free_port() {
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}
SIP_PORT=$(free_port SOCK_DGRAM)
WEB_PORT=$(free_port SOCK_STREAM)
XMPP_PORT=$(free_port SOCK_STREAM)
SFU_PORT=$(free_port SOCK_DGRAM)
cat >"$WORK/dialroom.toml" <<TOML
[sip]
listen = ["udp:127.0.0.1:$SIP_PORT"]

[web]
listen = "127.0.0.1:$WEB_PORT"

[xmpp]
listen = "127.0.0.1:$XMPP_PORT"

[sfu]
port = $SFU_PORT
listen_ip = "127.0.0.1"
public_ip = "127.0.0.1"

[database]
url = "sqlite://$WORK/d.db"

[media]
rtp_ports = "20000-29999"

[recorder]
dir = "$WORK/recordings"

[dialplan]
path = "$WORK/dialplans"
TOML
(NO_COLOR=1 RUST_LOG=warn exec "$DIALROOM_BIN" --config "$WORK/dialroom.toml" serve) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for _ in $(seq 100); do
    grep -q '^ready' "$WORK/server.log" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server did not start: $(cat "$WORK/server.log")"
    sleep 0.1
done
grep -q '^ready' "$WORK/server.log" || die "the server did not get ready: $(cat "$WORK/server.log")"

log "sfu.sh: $ROOMS rooms x $ROOM_SIZE participants, ${DURATION}s window, server pid $SERVER_PID"
OUT=$("$LOAD" --web "127.0.0.1:$WEB_PORT" --rooms "$ROOMS" --size "$ROOM_SIZE" \
    --seconds "$DURATION" --warmup "$WARMUP" --pid "$SERVER_PID" 2>"$WORK/load.log") || {
    log "$(tail -20 "$WORK/load.log")"
    die "the load generator failed"
}
errors=$(grep -c . "$WORK/load.log" || true)
[[ $errors -gt 0 ]] && log "generator errors ($errors lines):" && log "$(head -5 "$WORK/load.log")"
echo "$OUT"
python3 - "$OUT" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
per_core = r["forwarded_pps_per_server_core"]
delivered = r["forwarded_pps"] / r["expected_pps"] if r["expected_pps"] else 0
print(f"connected {r['connected']}/{r['participants']}, sent {r['sent_pps']:.0f} pps, "
      f"forwarded {r['forwarded_pps']:.0f} pps ({delivered:.1%} of expected), "
      f"server {r['server_cores']:.3f} cores {r['server_threads']}, generator {r['generator_cores']:.3f} cores")
print(f"forwarded packets/s per server core: {per_core:.0f} "
      f"(target 100000; LiveKit publishes ~75000 per vCPU): "
      f"{'PASS' if per_core >= 100000 and delivered > 0.99 else 'FAIL'}")
PY
