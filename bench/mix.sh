#!/usr/bin/env bash
# bench/mix.sh: how many phone legs dialroom's mixer carries on this machine.
#
# WHAT IS MEASURED
#   N phone legs, each a real SIP call (INVITE with an SDP offer / 200 / ACK,
#   BYE at the end) from bench/loadgen, in rooms of BENCH_ROOM_SIZE (10) legs
#   dialled as sip:NNNN@server (room-NNNN).  In each room 2 legs talk (a
#   voice-like buzz at about -16 dBFS; one of them adds a full-scale 4 ms
#   click once a second) and the other 8 send quiet noise (-60 dBFS), all as
#   real 20 ms G.711 µ-law or Opus frames at 50 packets/s with their own
#   SSRC, sequence numbers and timestamps, as phones do.  Every leg counts
#   what it gets back; in every room the listening legs (all 9 for G.711, 3
#   for Opus, whose decoding costs the generator more) decode what they hear
#   and time the click.  After the calls are up and BENCH_WARMUP (5) seconds
#   have passed (join prompts and chimes are over), a window of
#   BENCH_DURATION (30) seconds is measured:
#     * CPU per leg: the server's utime+stime (/proc/PID/stat) over the
#       window / legs, in % of one core, and in µs per leg per 20 ms frame;
#       also per server thread, the generator's own CPU, everything else on
#       the host, and steal;
#     * tick lateness p50/p99: from the deltas of the
#       dialroom_mixer_tick_lateness_seconds buckets over the window (so only
#       as exact as a bucket: "<= 2 ms" means the quantile fell in the
#       1-2 ms bucket), and the same for the tick's work time;
#     * loss: RTP sequence gaps on every leg, arrival gaps over 30 ms, the
#       server's concealed and lost frames (its jitter buffers), and ticks the
#       server skipped (dialroom_mixer_ticks_skipped_total: a worker makes
#       late ticks up unless it falls over 200 ms behind).  Concealed frames
#       are also read per leg from the rooms API (a viewer token) at both
#       ends of the window and set against the generator's own late sends:
#       a packet the generator sent over 2 ms after its time (the server's
#       playout guard) may miss its read through no fault of the server, so
#       on each leg as many concealed frames as it had late sends are counted
#       apart ("after late sends") and only the rest ("on time") fail a trial
#       (the API's counts are up to a second old, so late sends are counted
#       from a second before the window);
#     * added delay: kernel receive time (SO_TIMESTAMPNS) of the first
#       decoded sample of the click on a listening leg, minus the time the
#       click's packet was sent plus where the click sits in it (for Opus,
#       where our own encoder puts it once decoded), p50/p99.  So it is the
#       server's whole contribution: waiting for the tick, jitter buffer,
#       decode, resampling, mixing, encoding and sending.
#   A trial PASSES when every call was answered, p99 tick lateness <= 5 ms
#   (BENCH_MAX_LATENESS_MS), no frame was dropped (no sequence gap, nothing
#   concealed on time or lost by the server, no skipped tick, every leg
#   heard) and
#   the p99 added delay is under 40 ms (BENCH_MAX_DELAY_MS) with at least
#   90% of clicks heard.  The leg count search steps on the load targets
#   (lateness and drops) alone, so that a delay miss does not hide the
#   capacity; each trial's delay is printed and recorded beside it.
#
# THE SEARCH (per codec)
#   From BENCH_PCMU_START (500) in steps of BENCH_PCMU_STEP (250) legs until
#   a trial fails (or BENCH_PCMU_MAX), then two bisection steps between the
#   last pass and the first failure.  Opus: BENCH_OPUS_START (100),
#   BENCH_OPUS_STEP (50), BENCH_OPUS_MAX.  BENCH_LEGS_PCMU / BENCH_LEGS_OPUS
#   ("300 600") run fixed counts instead of searching.  Each trial starts a
#   fresh server.
#
# A SHARED MACHINE
#   Before each trial the script waits until other processes use less than
#   BENCH_QUIET (25) % of one core (at most BENCH_QUIET_WAIT = 600 s).  A
#   trial that fails while others used more than that is repeated (at most
#   BENCH_RETRIES = 1 time).  The generator runs on the same 2 cores and its
#   CPU is reported: at high counts it competes with the server, and its
#   own send lateness (gen_send_late_p99, and the number of send slots over
#   1 ms late) shows whether it kept time.  It stands in for phones on other
#   machines, so its sending threads run SCHED_FIFO when allowed (root or
#   CAP_SYS_NICE): their send times are then the phones' clocks rather than
#   whatever the server's threads leave them; they wake once a millisecond
#   and send the legs due in that slot.  Receiving (and decoding the probes'
#   audio) is done by threads at normal priority, once a millisecond, in
#   one sweep (the kernel's receive timestamps keep arrival times exact): on
#   SCHED_FIFO a burst of arrivals kept a core from the server for up to
#   5 ms.
#
# SIDE BY SIDE
#   The issue names no peer for the mixer; the design names Janus
#   AudioBridge (shared/testing/janus-audiobridge.md).  When `janus` is
#   installed (Debian package `janus`; BENCH_JANUS=0 skips it), the same
#   generator, with the same rooms, voices and measurements, joins Janus
#   through its HTTP API (plain-RTP participants, G.711 rooms mixed at
#   16 kHz, Opus rooms at 48 kHz with encoder quality 5 = dialroom's Opus
#   complexity), and dialroom is run at the same leg counts in the same run:
#   BENCH_SIDE_PCMU (200) and BENCH_SIDE_OPUS (50) legs, counts Janus
#   carries on 2 cores (it runs 3 threads per leg).  Janus has no tick
#   metrics, so only CPU, loss and delay are compared.

# OUTPUT
#   One line per trial, the largest passing count per codec, and (with
#   BENCH_RECORD=1, the default) a dated row per codec appended to
#   docs/benchmarks.md under "## Mixing (bench/mix.sh)".
#
# USAGE
#   bench/mix.sh                                  # both codecs, full search
#   BENCH_CODECS=pcmu BENCH_LEGS_PCMU=1000 BENCH_DURATION=10 BENCH_RECORD=0 bench/mix.sh
#   BENCH_PERF=1 ...                              # perf profile of the server in each window
#
#   dialroom is built with `cargo build --release` first, unless
#   target/release/dialroom is newer than every source file
#   (BENCH_DIALROOM_BIN=path uses that binary).  bench/loadgen is built with
#   cargo in its own workspace (bench/loadgen/target).  Other knobs:
#   BENCH_ROOM_SIZE, BENCH_TALKERS, BENCH_RATE (calls/s, 200),
#   BENCH_WORKERS ([media] workers, 2), BENCH_GEN_THREADS (2),
#   BENCH_KEEP=1 (keep the work directory).
#
# Needs: cargo, libopus-dev and pkg-config (audiopus), awk, janus (side by
# side): `scripts/deps.sh bench` installs them; perf for BENCH_PERF=1.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

CODECS=${BENCH_CODECS:-"pcmu opus"}
DURATION=${BENCH_DURATION:-30}
WARMUP=${BENCH_WARMUP:-5}
ROOM_SIZE=${BENCH_ROOM_SIZE:-10}
TALKERS=${BENCH_TALKERS:-2}
RATE=${BENCH_RATE:-200}
WORKERS=${BENCH_WORKERS:-2}
GEN_THREADS=${BENCH_GEN_THREADS:-2}
MAX_LATENESS_MS=${BENCH_MAX_LATENESS_MS:-5}
MAX_DELAY_MS=${BENCH_MAX_DELAY_MS:-40}
PCMU_START=${BENCH_PCMU_START:-500}
PCMU_STEP=${BENCH_PCMU_STEP:-250}
PCMU_MAX=${BENCH_PCMU_MAX:-4000}
OPUS_START=${BENCH_OPUS_START:-100}
OPUS_STEP=${BENCH_OPUS_STEP:-50}
OPUS_MAX=${BENCH_OPUS_MAX:-1500}
QUIET=${BENCH_QUIET:-25}
QUIET_WAIT=${BENCH_QUIET_WAIT:-600}
RETRIES=${BENCH_RETRIES:-1}
RECORD=${BENCH_RECORD:-1}
KEEP=${BENCH_KEEP:-0}
PERF=${BENCH_PERF:-0}
JANUS=${BENCH_JANUS:-1}
SIDE_PCMU=${BENCH_SIDE_PCMU:-200}
SIDE_OPUS=${BENCH_SIDE_OPUS:-50}

log() { printf '%s\n' "$*" >&2; }
die() { log "mix.sh: $*"; exit 1; }

for c in $CODECS; do
    case $c in pcmu | opus) ;; *) die "unknown codec '$c' (pcmu, opus)" ;; esac
done
for v in DURATION WARMUP ROOM_SIZE TALKERS RATE WORKERS GEN_THREADS PCMU_START PCMU_STEP PCMU_MAX \
    OPUS_START OPUS_STEP OPUS_MAX QUIET QUIET_WAIT; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mix-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$p" 2>/dev/null || true
    done
    if [[ $KEEP == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------- ports ----

TAKEN=" "
port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    [[ $TAKEN == *" $1 "* ]] && return 0
    awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
        /proc/net/udp /proc/net/udp6 /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() { # a port outside the RTP ranges used here (20000-29999 server, 40000-60999 generator)
    local p
    for _ in $(seq 200); do
        p=$((30000 + (RANDOM * 32768 + RANDOM) % 9000))
        if ! port_in_use "$p"; then
            TAKEN+="$p "
            PORT=$p
            return
        fi
    done
    die "no free port found"
}

# ------------------------------------------------------ the shared host ----

CLK_TCK=$(getconf CLK_TCK)
others_ticks() { # CPU ticks of every process but this script and its children's live ones
    local skip=" $$ " f pid line t=0 a
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}
        pid=${pid%/stat}
        [[ $skip == *" $pid "* ]] && continue
        { read -r line <"$f"; } 2>/dev/null || continue
        read -r -a a <<<"${line##*) }"
        t=$((t + a[11] + a[12] + a[13] + a[14]))
    done
    echo "$t"
}
quiet_pct() {
    local o0 o1 t0 t1
    t0=$(date +%s%N)
    o0=$(others_ticks)
    sleep 1
    o1=$(others_ticks)
    t1=$(date +%s%N)
    awk -v a="$(((o1 - o0) * 1000000000 / CLK_TCK))" -v b="$((t1 - t0))" 'BEGIN { printf "%d", 100 * a / b + 0.5 }'
}
wait_quiet() {
    local waited=0 busy
    busy=$(quiet_pct)
    while ((busy > QUIET && waited < QUIET_WAIT)); do
        ((waited % 60 == 0)) && log "  (the host is busy with something else: ${busy}% of a core; waiting)"
        sleep 4
        waited=$((waited + 5))
        busy=$(quiet_pct)
    done
    ((busy <= QUIET)) || log "  (still ${busy}% busy after ${QUIET_WAIT}s; going on)"
}

# ------------------------------------------------------------- builds -----

DIALROOM_BIN=${BENCH_DIALROOM_BIN:-}
build_dialroom() {
    if [[ -n $DIALROOM_BIN ]]; then
        [[ -x $DIALROOM_BIN ]] || die "BENCH_DIALROOM_BIN=$DIALROOM_BIN is not executable"
        log "dialroom: using $DIALROOM_BIN"
    else
        DIALROOM_BIN="$ROOT/target/release/dialroom"
        local stale=
        if [[ -x $DIALROOM_BIN ]]; then
            stale=$(find "$ROOT/src" "$ROOT/migrations" "$ROOT/web" "$ROOT/dialplans" "$ROOT/Cargo.toml" \
                "$ROOT/Cargo.lock" -newer "$DIALROOM_BIN" -type f -print -quit 2>/dev/null || true)
        else
            stale="(no binary yet)"
        fi
        if [[ -n $stale ]]; then
            log "dialroom: building the release binary (cargo build --release; ~10 min from cold), newer: $stale"
            (cd "$ROOT" && cargo build --release --bin dialroom) >&2 || die "cargo build --release failed"
        else
            log "dialroom: $DIALROOM_BIN is newer than the sources, not rebuilding"
        fi
    fi
    # A private copy: a build elsewhere may replace target/release meanwhile.
    cp "$DIALROOM_BIN" "$WORK/dialroom"
    # Prompts and dialplans are found next to the config or in the source tree.
    DIALROOM_BIN="$WORK/dialroom"
}

LOADGEN="$BENCH/loadgen/target/release/dialroom-loadgen"
build_loadgen() {
    log "loadgen: cargo build --release (bench/loadgen, its own workspace)"
    (cd "$BENCH/loadgen" && cargo build --release --quiet) >&2 || die "building bench/loadgen failed"
}

# ------------------------------------------------------------- server -----

SERVER_PID=
start_server() { # $1 = codec, $2 = trial dir
    local codec=$1 dir=$2 name
    case $codec in pcmu) name=PCMU ;; opus) name=opus ;; esac
    free_port
    SIP_PORT=$PORT
    free_port
    WEB_PORT=$PORT
    mkdir -p "$dir"
    cat >"$dir/dialroom.toml" <<EOF
[sip]
listen = ["udp:127.0.0.1:$SIP_PORT"]

[web]
listen = "127.0.0.1:$WEB_PORT"

[xmpp]
enabled = false

[database]
url = "sqlite://$dir/d.db"

[media]
rtp_ports = "20000-29999"
codecs = ["$name"]
rtp_timeout = 60
workers = $WORKERS

[[trunk]]
name = "bench"
sources = ["127.0.0.0/8"]

[dialplan]
# The shipped dialplan (4-digit numbers are rooms).
path = "$ROOT/dialplans"
EOF
    (cd "$ROOT" && NO_COLOR=1 exec "$DIALROOM_BIN" --config "$dir/dialroom.toml" serve) >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i
    for ((i = 0; i < 300; i++)); do
        if grep -q '^ready$' "$dir/server.log" 2>/dev/null; then
            # A viewer token: the generator reads the rooms API's per-leg
            # concealment with it.
            API_TOKEN=$(cd "$ROOT" && "$DIALROOM_BIN" --config "$dir/dialroom.toml" token add bench --role viewer 2>>"$dir/server.log") ||
                die "dialroom token add failed"
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$dir/server.log" >&2
    die "dialroom did not start"
}
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    forget_pid "$SERVER_PID"
    SERVER_PID=
}

# -------------------------------------------------------------- janus -----

JANUS_BIN=$(command -v janus || true)
start_janus() { # $1 = trial dir: AudioBridge and the HTTP transport only
    local dir=$1 lib
    lib=$(dirname "$(dirname "$(find /usr/lib* -path '*janus/plugins/libjanus_audiobridge.so' -print -quit 2>/dev/null)")")
    [[ -d $lib/plugins ]] || die "janus is installed but its AudioBridge plugin is not"
    free_port
    JANUS_PORT=$PORT
    mkdir -p "$dir/janus"
    local p off_plugins="" off_transports="" off_events=""
    for p in "$lib"/plugins/libjanus_*.so; do
        [[ $(basename "$p") == libjanus_audiobridge.so ]] || off_plugins+="${off_plugins:+,}$(basename "$p")"
    done
    for p in "$lib"/transports/libjanus_*.so; do
        [[ $(basename "$p") == libjanus_http.so ]] || off_transports+="${off_transports:+,}$(basename "$p")"
    done
    for p in "$lib"/events/libjanus_*.so; do off_events+="${off_events:+,}$(basename "$p")"; done
    cat >"$dir/janus/janus.jcfg" <<EOF
general: {
	configs_folder = "$dir/janus"
	plugins_folder = "$lib/plugins"
	transports_folder = "$lib/transports"
	events_folder = "$lib/events"
	loggers_folder = "$lib/loggers"
	debug_level = 3
	session_timeout = 60
}
media: {
}
nat: {
	ice_enforce_list = "lo"
	ignore_mdns = true
}
plugins: {
	disable = "$off_plugins"
}
transports: {
	disable = "$off_transports"
}
loggers: {
	disable = "libjanus_jsonlog.so"
}
events: {
	broadcast = false
	disable = "$off_events"
}
EOF
    cat >"$dir/janus/janus.transport.http.jcfg" <<EOF
general: {
	json = "compact"
	base_path = "/janus"
	http = true
	port = $JANUS_PORT
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
}
EOF
    cat >"$dir/janus/janus.plugin.audiobridge.jcfg" <<EOF
general: {
	local_ip = "127.0.0.1"
	rtp_port_range = "50000-59999"
	events = false
}
EOF
    "$JANUS_BIN" -C "$dir/janus/janus.jcfg" -F "$dir/janus" -o >"$dir/janus.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$JANUS_PORT") 2>/dev/null; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$dir/janus.log" >&2
    die "janus did not start"
}

# ------------------------------------------------------------- trials -----

val() { awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$2"; }

TRIAL_N=0
trial_once() { # $1 = codec, $2 = legs, $3 = dialroom|janus; sets TRIAL_LOAD_OK, TRIAL_FILE, TRIAL_OTHERS
    local codec=$1 legs=$2 target=${3:-dialroom} dir target_opt=()
    TRIAL_N=$((TRIAL_N + 1))
    dir="$WORK/trial_${TRIAL_N}_${target}_${codec}_$legs"
    if [[ $target == janus ]]; then
        start_janus "$dir"
        target_opt=(--janus "127.0.0.1:$JANUS_PORT")
    else
        start_server "$codec" "$dir"
        target_opt=(--sip "127.0.0.1:$SIP_PORT" --metrics "127.0.0.1:$WEB_PORT" --api-token "$API_TOKEN")
    fi
    local perf_pid=
    if [[ $PERF == 1 ]] && command -v perf >/dev/null; then
        # Sample the server during the window only: start after set-up + warm-up.
        local delay
        delay=$(awk -v l="$legs" -v r="$RATE" -v w="$WARMUP" 'BEGIN { printf "%d", l / r + w + 3 }')
        (sleep "$delay" && exec perf record -F 499 -g -p "$SERVER_PID" -o "$dir/perf.data" -- sleep "$((DURATION - 5))") \
            >"$dir/perf.log" 2>&1 &
        perf_pid=$!
        PIDS+=("$perf_pid")
    fi
    "$LOADGEN" "${target_opt[@]}" --server-pid "$SERVER_PID" \
        --codec "$codec" --legs "$legs" --room-size "$ROOM_SIZE" --talkers "$TALKERS" --rate "$RATE" \
        --warmup "$WARMUP" --duration "$DURATION" --threads "$GEN_THREADS" --workers "$WORKERS" \
        --max-lateness-ms "$MAX_LATENESS_MS" --max-delay-ms "$MAX_DELAY_MS" \
        --out "$dir/result.txt" >"$dir/loadgen.log" 2>&1 || {
        tail -20 "$dir/loadgen.log" >&2
        die "the load generator failed"
    }
    if [[ -n $perf_pid ]]; then
        wait "$perf_pid" 2>/dev/null || true
        forget_pid "$perf_pid"
        perf report -i "$dir/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
            grep -E '^ +[0-9]' | head -25 >"$dir/perf.top" || true
    fi
    stop_server
    local f="$dir/result.txt"
    TRIAL_FILE=$f
    TRIAL_LOAD_OK=$(val load_ok "$f")
    TRIAL_OTHERS=$(val others_cpu_pct "$f")
    printf '  %-8s %-5s %5d legs  %s  cpu/leg %s%% (%s us/frame)  lateness p50 %s p99 %s  work p99 %s  skipped %s  lost %s  concealed %s (on time %s, after late sends %s)  delay p50/p99 %s/%s ms (%s/%s clicks)  cpu%%: server %s gen %s others %s steal %s  gen late p99 %s us\n' \
        "$target" "$codec" "$legs" "$(val verdict "$f")" "$(val server_cpu_pct_per_leg "$f")" "$(val server_us_per_leg_frame "$f")" \
        "$(val lateness_p50 "$f")" "$(val lateness_p99 "$f")" "$(val work_p99 "$f")" "$(val ticks_missing "$f")" \
        "$(val seq_lost "$f")" "$(val server_frames_concealed "$f")" "$(val server_concealed_on_time_legs "$f")" "$(val server_concealed_after_late_sends "$f")" "$(val delay_p50_ms "$f")" "$(val delay_p99_ms "$f")" \
        "$(val click_detections "$f")" "$(val click_detections_expected "$f")" "$(val server_cpu_pct "$f")" \
        "$(val gen_cpu_pct "$f")" "$(val others_cpu_pct "$f")" "$(val host_steal_pct "$f")" "$(val gen_send_late_p99_us "$f")"
    printf '        threads: %s\n' "$(val server_threads "$f")"
    [[ $(val verdict "$f") == PASS ]] || printf '        -> %s\n' "$(val why "$f")"
    if [[ -f $dir/perf.top ]]; then
        printf '        perf (self, top 12):\n'
        head -12 "$dir/perf.top" | sed 's/^/          /'
    fi
}
trial() { # retries a failure seen under disturbance
    local attempt
    TRIED[$1]="${TRIED[$1]:-}${TRIED[$1]:+, }$2"
    for ((attempt = 0; attempt <= RETRIES; attempt++)); do
        wait_quiet
        trial_once "$@"
        if [[ -z ${LOWFILE[$1]:-} ]] || (($2 < $(val legs "${LOWFILE[$1]}"))); then LOWFILE[$1]=$TRIAL_FILE; fi
        [[ $TRIAL_LOAD_OK == 1 ]] && return 0
        awk -v o="$TRIAL_OTHERS" -v q="$QUIET" 'BEGIN { exit !(o > q) }' || return 0
        printf '        (disturbed: other processes used %s%% of a core; repeating)\n' "$TRIAL_OTHERS"
    done
}

declare -A BEST BESTFILE
search() { # $1 = codec
    local codec=$1 start step max fixed legs lo=0 hi=0 lofile=
    case $codec in
        pcmu) start=$PCMU_START step=$PCMU_STEP max=$PCMU_MAX fixed=${BENCH_LEGS_PCMU:-} ;;
        opus) start=$OPUS_START step=$OPUS_STEP max=$OPUS_MAX fixed=${BENCH_LEGS_OPUS:-} ;;
    esac
    if [[ -n $fixed ]]; then
        for legs in $fixed; do
            trial "$codec" "$legs"
            if [[ $TRIAL_LOAD_OK == 1 ]] && ((legs > lo)); then lo=$legs lofile=$TRIAL_FILE; fi
        done
    else
        legs=$start
        while ((legs <= max)); do
            trial "$codec" "$legs"
            if [[ $TRIAL_LOAD_OK == 1 ]]; then
                lo=$legs lofile=$TRIAL_FILE
                legs=$((legs + step))
            else
                hi=$legs
                break
            fi
        done
        # Two bisection steps between the last pass and the first failure.
        local k mid
        for k in 1 2; do
            ((hi > 0)) || break
            mid=$(((lo + hi) / 2 / 10 * 10))
            ((mid > lo && mid < hi)) || break
            trial "$codec" "$mid"
            if [[ $TRIAL_LOAD_OK == 1 ]]; then lo=$mid lofile=$TRIAL_FILE; else hi=$mid; fi
        done
    fi
    BEST[$codec]=$lo
    BESTFILE[$codec]=$lofile
    HIGH[$codec]=$hi
    TRIED[$codec]="${TRIED[$codec]:-}"
}
declare -A TRIED LOWFILE
declare -A HIGH

# ---------------------------------------------------------------- main -----

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "mix.sh: work directory $WORK"
build_dialroom
build_loadgen

MACHINE="$(uname -m), $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "Mixing: rooms of $ROOM_SIZE, $TALKERS talkers each, ${DURATION}s windows after ${WARMUP}s warm-up, $WORKERS media workers; $MACHINE"
for c in $CODECS; do
    echo "== $c"
    search "$c"
done

declare -A SIDE_D SIDE_J
if [[ $JANUS == 1 && -n $JANUS_BIN ]]; then
    echo "== side by side with Janus AudioBridge ($({ "$JANUS_BIN" --version 2>/dev/null || true; } | head -1))"
    for c in $CODECS; do
        case $c in pcmu) n=$SIDE_PCMU ;; opus) n=$SIDE_OPUS ;; esac
        wait_quiet
        trial_once "$c" "$n" dialroom
        SIDE_D[$c]=$TRIAL_FILE
        wait_quiet
        trial_once "$c" "$n" janus
        SIDE_J[$c]=$TRIAL_FILE
    done
elif [[ $JANUS == 1 ]]; then
    echo "(janus is not installed: no side-by-side run; apt-get install janus)"
fi

echo
for c in $CODECS; do
    if [[ -n ${SIDE_D[$c]:-} ]]; then
        printf '%s side by side at %s legs: dialroom %s%% of a core per leg (%s us/frame), Janus %s%% (%s us/frame); delay p50 dialroom %s ms, Janus %s ms\n' \
            "$c" "$(val legs "${SIDE_D[$c]}")" "$(val server_cpu_pct_per_leg "${SIDE_D[$c]}")" \
            "$(val server_us_per_leg_frame "${SIDE_D[$c]}")" "$(val server_cpu_pct_per_leg "${SIDE_J[$c]}")" \
            "$(val server_us_per_leg_frame "${SIDE_J[$c]}")" "$(val delay_p50_ms "${SIDE_D[$c]}")" \
            "$(val delay_p50_ms "${SIDE_J[$c]}")"
    fi
    if ((BEST[$c] > 0)); then
        f=${BESTFILE[$c]}
        printf '%s: %d legs meet the load targets (p99 lateness <= %s ms, nothing dropped)%s; there: %s%% of a core per leg, %s us per leg-frame; delay p50 %s ms, p99 %s ms (%s)\n' \
            "$c" "${BEST[$c]}" "$MAX_LATENESS_MS" "$( ((HIGH[$c] > 0)) && echo ", ${HIGH[$c]} do not")" \
            "$(val server_cpu_pct_per_leg "$f")" "$(val server_us_per_leg_frame "$f")" \
            "$(val delay_p50_ms "$f")" "$(val delay_p99_ms "$f")" \
            "$([[ $(val delay_ok "$f") == 1 ]] && echo "delay target met" || echo "delay target MISSED")"
    else
        printf '%s: no leg count met the load targets\n' "$c"
    fi
done

# ------------------------------------------------- docs/benchmarks.md ------

row_of() { # $1 = run kind, $2 = result file, $3 = legs shown
    local f=$2 cpu
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    local lat="n/a" work="n/a" loss
    if [[ $(val target "$f") == dialroom ]]; then
        lat="$(val lateness_p50 "$f") / $(val lateness_p99 "$f")"
        work=$(val work_p99 "$f")
    fi
    loss="seq gaps $(val seq_lost "$f"), rx $(val rx_pct_of_expected "$f") %"
    [[ $(val target "$f") == dialroom ]] &&
        loss+=", concealed $(val server_frames_concealed "$f") ($(val server_concealed_after_late_sends "$f") after the generator's late sends), skipped ticks $(val ticks_missing "$f")"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s %% | %s | %s | %s | %s / %s ms | %s | server %s %%, generator %s %%, others %s %%, steal %s %% of a core; generator send lateness p99 %s µs, max %s µs; %s s window |\n' \
        "$(date -u +%F)" "$(uname -m)" "$(nproc)" "${cpu:-?}" "$1" "$(val target "$f")" "$(val codec "$f")" \
        "$3" "$(val verdict "$f")" "$(val server_cpu_pct_per_leg "$f")" "$(val server_us_per_leg_frame "$f")" \
        "$lat" "$work" "$(val delay_p50_ms "$f")" "$(val delay_p99_ms "$f")" "$loss" \
        "$(val server_cpu_pct "$f")" "$(val gen_cpu_pct "$f")" "$(val others_cpu_pct "$f")" \
        "$(val host_steal_pct "$f")" "$(val gen_send_late_p99_us "$f")" "$(val gen_send_late_max_us "$f")" "$(val window_s "$f")"
}

record() {
    local doc="$ROOT/docs/benchmarks.md" heading="## Mixing (bench/mix.sh)" rows="" c
    for c in $CODECS; do
        if [[ -n ${BESTFILE[$c]:-} ]]; then
            rows+=$(row_of "largest passing (first failing: $( ((HIGH[$c] > 0)) && echo "${HIGH[$c]}" || echo "none up to the maximum"))" \
                "${BESTFILE[$c]}" "${BEST[$c]}")$'\n'
        elif [[ -n ${LOWFILE[$c]:-} ]]; then
            rows+=$(row_of "largest passing: none (tried ${TRIED[$c]}; smallest shown)" \
                "${LOWFILE[$c]}" "$(val legs "${LOWFILE[$c]}")")$'\n'
        fi
        if [[ -n ${SIDE_D[$c]:-} ]]; then
            rows+=$(row_of "side by side" "${SIDE_D[$c]}" "$(val legs "${SIDE_D[$c]}")")$'\n'
            rows+=$(row_of "side by side" "${SIDE_J[$c]}" "$(val legs "${SIDE_J[$c]}")")$'\n'
        fi
    done
    [[ -n $rows ]] || { log "nothing to record"; return; }
    if ! grep -qxF "$heading" "$doc" 2>/dev/null; then
        cat >>"$doc" <<'EOF'

## Mixing (bench/mix.sh)

Phone legs (real SIP calls from `bench/loadgen`, real 20 ms G.711 µ-law or
Opus frames at 50 packets/s) in rooms of 10 with 2 talkers each. "Largest
passing" is the largest leg count whose 30 s window had p99 mixer tick
lateness <= 5 ms and no dropped frame (no RTP sequence gap, no frame
concealed or lost by the server, no skipped tick, every leg heard); the
Result column adds the added-delay target (p99 < 40 ms). CPU per leg is the
server's CPU over the window divided by the legs, in % of one core. Added
delay is the time from a click leaving one leg to its arrival, decoded, on
the others (kernel receive timestamps). Lateness and work are bucket bounds
of dialroom's histograms. "Side by side" rows are dialroom and Janus
AudioBridge at the same leg count in the same run (Janus: plain-RTP
participants, G.711 rooms at 16 kHz, Opus at 48 kHz, quality 5). The
generator shares the cores; its CPU is in the notes. Method: the header of
`bench/mix.sh`.

| Date | Arch | Cores | CPU | Run | Server | Codec | Legs | Result | CPU per leg | µs per leg-frame | Tick lateness p50 / p99 | Tick work p99 | Added delay p50 / p99 | Loss | Notes |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
    fi
    awk -v heading="$heading" -v rows="$rows" '
        { line[NR] = $0 }
        $0 == heading { in_s = 1; next }
        in_s && /^## / { in_s = 0 }
        # Result tables only (a "| Date | Arch" header), not the other tables
        # of the section: after their last dated row or header separator.
        in_s && /^\| Date \| Arch/ { header = NR }
        in_s && (/^\| [0-9][0-9][0-9][0-9]-/ || (/^\|---/ && header == NR - 1)) { last = NR }
        END {
            sub(/\n$/, "", rows)
            for (i = 1; i <= NR; i++) {
                print line[i]
                if (i == last) print rows
            }
            if (!last) print rows
        }' "$doc" >"$WORK/benchmarks.md"
    cat "$WORK/benchmarks.md" >"$doc"
    log "recorded in docs/benchmarks.md"
    printf '%s' "$rows"
}
[[ $RECORD == 1 ]] && record
exit 0
