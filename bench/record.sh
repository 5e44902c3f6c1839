#!/usr/bin/env bash
# bench/record.sh: many rooms recorded at once, and what a recording costs.
#
# WHAT IS MEASURED
#   BENCH_ROOMS (50) rooms of BENCH_ROOM_SIZE (4) G.711 phone legs from
#   bench/loadgen (the generator of bench/mix.sh: real SIP calls, 2 talkers
#   per room, real 20 ms µ-law frames).  Three trials, each on a fresh server:
#     base     ROOMS x SIZE legs, nothing recorded;
#     record   the same, every room recorded (a dialplan route with
#              `record = true`, so the recording starts with the first join);
#     plusleg  ROOMS x (SIZE + 1) legs, nothing recorded (one extra G.711 leg
#              per room: the cost the issue compares a recording with).
#   Over the loadgen's window (BENCH_WARMUP 8 s: the join prompts and "this meeting is being recorded" are over; then BENCH_DURATION 30 s):
#   server CPU (utime+stime from /proc) per trial, and
#     CPU per recording  = (record - base) / ROOMS,
#     CPU per extra leg  = (plusleg - base) / ROOMS,
#   both in % of one core.  Frames lost: dialroom_recording_frames_lost_total
#   (the media threads' queue to the writers was full) and the sum of the
#   sidecars' frames_lost; the verdict is PASS when every recording ends
#   `done` with no frame lost.  The loadgen's own verdict (bench/mix.sh's
#   targets: tick lateness, concealment, click delay) is printed beside it
#   for the base trial and the recorded one: it judges the mixing, which the
#   base trial (nothing recorded) shows on its own.
#
# USAGE
#   bench/record.sh                                   # 50 rooms, 30 s
#   BENCH_ROOMS=2 BENCH_DURATION=5 BENCH_RECORD=0 BENCH_DIALROOM_BIN=target/debug/dialroom bench/record.sh
#   BENCH_RECORD=1 (the default) appends a dated row to docs/benchmarks.md.
#   Run it on a quiet host: the generator shares the cores with the server.
#   Needs: cargo, libopus-dev, python3, curl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
ROOMS=${BENCH_ROOMS:-50}
ROOM_SIZE=${BENCH_ROOM_SIZE:-4}
TALKERS=${BENCH_TALKERS:-2}
DURATION=${BENCH_DURATION:-30}
WARMUP=${BENCH_WARMUP:-8}
RATE=${BENCH_RATE:-100}
WORKERS=${BENCH_WORKERS:-2}
RECORD=${BENCH_RECORD:-1}
KEEP=${BENCH_KEEP:-0}
DIALROOM_BIN=${BENCH_DIALROOM_BIN:-}
LOADGEN="$BENCH/loadgen/target/release/dialroom-loadgen"

log() { printf '%s\n' "$*" >&2; }
die() {
    log "record.sh: $*"
    exit 1
}

WORK=$(mktemp -d /tmp/dialroom-record.XXXXXX)
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
if [[ ! -x $LOADGEN ]]; then
    log "loadgen: cargo build --release (bench/loadgen, its own workspace)"
    (cd "$BENCH/loadgen" && cargo build --release --quiet) || die "building bench/loadgen failed"
fi

PORT=
free_port() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}

val() { awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$2"; }
metric() { curl -s "http://127.0.0.1:$WEB_PORT/metrics" | awk -v k="$1" '$1 == k { print $2; exit }'; }
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }

start_server() { # $1 = trial dir, $2 = 1 to record every room
    local dir=$1 rec=$2 record=false
    [[ $rec == 1 ]] && record=true
    free_port
    SIP_PORT=$PORT
    free_port
    WEB_PORT=$PORT
    mkdir -p "$dir/dialplans"
    cat >"$dir/dialplans/bench.toml" <<TOML
[[route]]
name = "rooms"
to = '^(\d{4})$'
action = "conference"
room = "room-\$1"
record = $record
TOML
    cat >"$dir/dialroom.toml" <<TOML
[sip]
listen = ["udp:127.0.0.1:$SIP_PORT"]

[web]
listen = "127.0.0.1:$WEB_PORT"

[xmpp]
enabled = false

[sfu]
enabled = false

[database]
url = "sqlite://$dir/d.db"

[media]
rtp_ports = "20000-29999"
codecs = ["PCMU"]
rtp_timeout = 60
workers = $WORKERS

[recorder]
dir = "$dir/recordings"

[[trunk]]
name = "bench"
sources = ["127.0.0.0/8"]

[dialplan]
path = "$dir/dialplans"
TOML
    (NO_COLOR=1 exec "$DIALROOM_BIN" --config "$dir/dialroom.toml" serve) >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i
    for i in $(seq 100); do
        grep -q '^ready' "$dir/server.log" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$dir/server.log" >&2
    die "dialroom did not start"
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

trial() { # NAME LEGS_PER_ROOM RECORD -> key=value lines in $WORK/NAME.txt
    local name=$1 size=$2 rec=$3 dir="$WORK/$1"
    start_server "$dir" "$rec"
    local legs=$((ROOMS * size))
    "$LOADGEN" --sip "127.0.0.1:$SIP_PORT" --metrics "127.0.0.1:$WEB_PORT" --server-pid "$SERVER_PID" \
        --codec pcmu --legs "$legs" --room-size "$size" --talkers "$TALKERS" --rate "$RATE" \
        --warmup "$WARMUP" --duration "$DURATION" --workers "$WORKERS" \
        --out "$dir/result.txt" >"$dir/loadgen.log" 2>&1 || {
        tail -20 "$dir/loadgen.log" >&2
        die "the load generator failed ($name)"
    }
    local lost frames
    lost=$(metric dialroom_recording_frames_lost_total)
    frames=$(metric dialroom_recording_frames_total)
    # The calls are over (BYE): the rooms empty and the recordings finalize.
    sleep 2
    stop_server
    local done_n=0 not_done=0 side_lost=0 f
    if [[ $rec == 1 ]]; then
        done_n=$(sql "$dir/d.db" "SELECT COUNT(*) FROM recordings WHERE state = 'done'")
        not_done=$(sql "$dir/d.db" "SELECT COUNT(*) FROM recordings WHERE state <> 'done'")
        for f in "$dir"/recordings/*.json; do
            [[ -f $f ]] || continue
            side_lost=$((side_lost + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["frames_lost"])' "$f")))
        done
    fi
    {
        echo "cpu_pct=$(val server_cpu_pct "$dir/result.txt")"
        echo "verdict=$(val verdict "$dir/result.txt")"
        echo "rec_frames=${frames:-0}"
        echo "rec_lost=${lost:-0}"
        echo "rec_done=$done_n"
        echo "rec_not_done=$not_done"
        echo "sidecar_lost=$side_lost"
    } >"$WORK/$name.txt"
    log "  $name: $ROOMS rooms x $size legs, record=$rec: server cpu $(val cpu_pct "$WORK/$name.txt")%," \
        "loadgen $(val verdict "$WORK/$name.txt"), recording frames ${frames:-0}, lost ${lost:-0}," \
        "sidecars lost $side_lost, done $done_n, not done $not_done"
}

log "bench/record.sh: $ROOMS rooms of $ROOM_SIZE G.711 legs, window ${DURATION}s"
trial base "$ROOM_SIZE" 0
trial record "$ROOM_SIZE" 1
trial plusleg "$((ROOM_SIZE + 1))" 0

b=$(val cpu_pct "$WORK/base.txt")
r=$(val cpu_pct "$WORK/record.txt")
p=$(val cpu_pct "$WORK/plusleg.txt")
per_rec=$(awk -v r="$r" -v b="$b" -v n="$ROOMS" 'BEGIN { printf "%.3f", (r - b) / n }')
per_leg=$(awk -v p="$p" -v b="$b" -v n="$ROOMS" 'BEGIN { printf "%.3f", (p - b) / n }')
lost=$(val rec_lost "$WORK/record.txt")
side=$(val sidecar_lost "$WORK/record.txt")
done_n=$(val rec_done "$WORK/record.txt")
not_done=$(val rec_not_done "$WORK/record.txt")
verdict=PASS
[[ $lost == 0 && $side == 0 && $done_n == "$ROOMS" && $not_done == 0 ]] || verdict=FAIL
mixing="base $(val verdict "$WORK/base/result.txt") ($(val why "$WORK/base/result.txt")); recorded $(val verdict "$WORK/record/result.txt") ($(val why "$WORK/record/result.txt"))"
printf 'rooms recorded: %s (done %s, not done %s); recording frames lost: %s (queue) + %s (sidecars)\n' \
    "$ROOMS" "$done_n" "$not_done" "$lost" "$side"
printf 'server cpu: base %s%%, all recorded %s%%, one more leg per room %s%%\n' "$b" "$r" "$p"
printf 'cpu per recording: %s%% of a core; per extra G.711 leg: %s%% of a core\n' "$per_rec" "$per_leg"
printf 'mixing (bench/mix.sh targets): %s\n' "$mixing"
printf 'verdict (recording): %s\n' "$verdict"

if [[ $RECORD == 1 ]]; then
    doc="$ROOT/docs/benchmarks.md"
    grep -q '^## Recording (bench/record.sh)' "$doc" ||
        printf '\n## Recording (bench/record.sh)\n\n| date | rooms x legs | window | cpu base / recorded / +1 leg per room (%% of a core) | cpu per recording | cpu per extra G.711 leg | frames lost | done | verdict |\n|---|---|---|---|---|---|---|---|---|\n' >>"$doc"
    printf '| %s | %s x %s | %ss | %s / %s / %s | %s%% | %s%% | %s | %s/%s | %s |\n' "$(date -u +%Y-%m-%d)" \
        "$ROOMS" "$ROOM_SIZE" "$DURATION" "$b" "$r" "$p" "$per_rec" "$per_leg" "$((lost + side))" "$done_n" "$ROOMS" "$verdict" >>"$doc"
fi
[[ $verdict == PASS ]]
