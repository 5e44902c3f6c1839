#!/usr/bin/env bash
# bench/register.sh: sustained REGISTER-with-digest rate, dialroom vs Kamailio.
#
# WHAT IS MEASURED
#   The highest rate of registrations per second that a server sustains for
#   BENCH_DURATION seconds (default 30) with zero failed transactions: the
#   "registration rate" of RFC 7501 §3.2, searched for as that RFC describes.
#   One registration is two non-INVITE transactions:
#       REGISTER (no credentials)   -> 401 with a digest challenge
#       REGISTER (MD5 digest)       -> 200
#   so N registrations/s means 2N SIP transactions/s (and 4N datagrams/s).
#   dialroom and Kamailio (bench/kamailio-registrar.cfg: usrloc db_mode 0,
#   pv_www_authenticate with a fixed password) are measured one after the
#   other in the same run, on the same machine, with the same search, so the
#   ratio of the two rates is the number to compare between runs; absolute
#   numbers move with the machine and whatever else runs on it.
#
# ONE TRIAL AT RATE R
#   1. Start the server fresh (dialroom: a copy of a database holding the
#      benchmark users and no bindings; Kamailio: empty in-memory location).
#   2. Start P = ceil(R / BENCH_SIPP_RATE) SIPp processes (one SIPp process
#      saturates near 8,000 REGISTER/s on a 2-core machine) with the scenario
#      bench/register_load.xml, each at R/P calls/s for R/P * DURATION calls,
#      over UDP with one socket per process (-t u1).  Each process has its
#      own slice of the users (injection file), so every user has exactly one
#      Contact that each registration refreshes, as a real phone does.
#      (-t un, a socket per call, would give each registration a new Contact:
#      users would pile up bindings and hit max-contacts, and SIPp would spend
#      its CPU on opening sockets.  Both servers read one UDP socket either
#      way, so u1 favours neither.)
#   3. The trial PASSES when every SIPp process exits 0, no call failed,
#      every call succeeded, and the last call finished within DURATION + 2 s
#      (BENCH_SLACK): a server that falls behind makes the run overrun even
#      when SIPp's retransmissions finally get every call through.  A failed
#      call is any unexpected response (403, 500, a 401 to the authenticated
#      REGISTER ...) or a transaction that times out after SIPp's UDP
#      retransmissions (T1 = 500 ms, 5 retransmissions).  Retransmissions by
#      themselves are allowed (RFC 7501) but reported.
#
# A SHARED MACHINE
#   Before each trial the script waits until the host is quiet (other
#   processes below BENCH_QUIET = 25% of one core, for at most
#   BENCH_QUIET_WAIT = 600 s).  A trial that fails while other processes took
#   more than BENCH_QUIET percent of a core is reported as disturbed and run
#   again (BENCH_RETRIES = 2 times at most); a pass under disturbance stands.
#
# THE SEARCH
#   Bisection on a log scale between BENCH_RATE_MIN (500) and BENCH_RATE_MAX
#   (40000) registrations/s until the passing and failing rates are within
#   BENCH_RESOLUTION percent (5) of each other; the result is the highest
#   passing rate.  The bounds themselves are tried only if every trial failed
#   (result "< MIN") or every trial passed (result ">= MAX").
#
# OUTPUT
#   One line per trial (rate, SIPp processes, pass/fail, calls, failures,
#   retransmissions, elapsed time, CPU of the server, of SIPp and of all
#   other processes), then both rates and the ratio dialroom/kamailio.  A dated
#   row is appended to docs/benchmarks.md (BENCH_RECORD=0 skips that).
#
# USAGE
#   bench/register.sh                          # full run, 30 s trials
#
#   dialroom is built with `cargo build --release` first, unless
#   target/release/dialroom is already newer than every source file.
#   BENCH_DURATION=10 bench/register.sh        # quick run
#   BENCH_TARGETS=kamailio bench/register.sh   # one server only
#
#   Other knobs: BENCH_RATE_MIN, BENCH_RATE_MAX, BENCH_RESOLUTION (percent),
#   BENCH_SIPP_RATE (calls/s per SIPp process, default 4000), BENCH_USERS
#   (default 1000), BENCH_SLACK (seconds, default 2), BENCH_QUIET,
#   BENCH_QUIET_WAIT, BENCH_RETRIES (above), BENCH_KAMAILIO_CHILDREN (UDP
#   worker processes, default 4: on the 2-core reference machine, 2 workers
#   left cores idle and dropped datagrams whenever one was descheduled, which
#   capped Kamailio about 20% lower; 4 is its best setting there), BENCH_KAMAILIO_DUAL
#   (1 = Kamailio also sends dialroom's second, SHA-256 challenge; default 0),
#   BENCH_DIALROOM_BIN (use this binary instead of building target/release),
#   BENCH_KEEP=1 (keep the work directory with every log and SIPp stat file).
#
# Needs: sipp (3.6.x), kamailio (5.x) with the auth, usrloc and registrar
# modules, cargo, awk.  Everything listens on 127.0.0.1, on random free ports.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

DURATION=${BENCH_DURATION:-30}
TARGETS=${BENCH_TARGETS:-"dialroom kamailio"}
RATE_MIN=${BENCH_RATE_MIN:-500}
RATE_MAX=${BENCH_RATE_MAX:-40000}
RESOLUTION=${BENCH_RESOLUTION:-5}
SIPP_RATE=${BENCH_SIPP_RATE:-4000}
USERS=${BENCH_USERS:-1000}
SLACK=${BENCH_SLACK:-2}
KAM_CHILDREN=${BENCH_KAMAILIO_CHILDREN:-4}
KAM_DUAL=${BENCH_KAMAILIO_DUAL:-0}
QUIET=${BENCH_QUIET:-25}
QUIET_WAIT=${BENCH_QUIET_WAIT:-600}
RETRIES=${BENCH_RETRIES:-2}
RECORD=${BENCH_RECORD:-1}
KEEP=${BENCH_KEEP:-0}
PASSWORD=secret

log() { printf '%s\n' "$*" >&2; }
die() { log "register.sh: $*"; exit 1; }

for t in $TARGETS; do
    case $t in dialroom | kamailio) ;; *) die "unknown target '$t' (dialroom, kamailio)" ;; esac
done
for v in DURATION RATE_MIN RATE_MAX RESOLUTION SIPP_RATE USERS SLACK KAM_CHILDREN QUIET QUIET_WAIT; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ $RETRIES =~ ^[0-9]+$ ]] || die "BENCH_RETRIES must be a number (got '$RETRIES')"
((RATE_MIN < RATE_MAX)) || die "BENCH_RATE_MIN must be below BENCH_RATE_MAX"
command -v sipp >/dev/null || die "sipp is not installed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/register-bench.XXXXXX")
PIDS=() # every long-running process started here (servers, SIPp)

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

forget_pid() { # removes $1 from PIDS
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
free_port() { # sets PORT to a port free for UDP and TCP here, and not handed out before
    local p
    for _ in $(seq 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! port_in_use "$p"; then
            TAKEN+="$p "
            PORT=$p
            return
        fi
    done
    die "no free port found"
}

# ------------------------------------------------------ CPU accounting -----

CLK_TCK=$(getconf CLK_TCK)
NPROC=$(nproc)

proc_ticks() { # utime+stime of the given pids and their children (all threads)
    local p all=() t=0 s
    for p in "$@"; do
        all+=("$p")
        all+=($(pgrep -P "$p" 2>/dev/null || true))
    done
    for p in "${all[@]}"; do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        t=$((t + $(awk '{ print $12 + $13 }' <<<"$s")))
    done
    echo "$t"
}
# CPU ticks of every other process on the host: all but this script (whose
# reaped children, SIPp included, are in its own cutime/cstime) and the server
# under test.  utime+stime+cutime+cstime, so a compiler that starts and ends
# between two samples still counts once its parent has reaped it.  (The
# host-wide counters of /proc/stat are tick-sampled and, on this kind of VM,
# disagree with per-process times by tens of percent; these do not.)
others_ticks() {
    local skip=" $$ " f pid line t=0 a
    if [[ -n ${SERVER_PID:-} ]]; then
        skip+="$SERVER_PID $(pgrep -P "$SERVER_PID" | tr '\n' ' ')"
    fi
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}
        pid=${pid%/stat}
        [[ $skip == *" $pid "* ]] && continue
        { read -r line <"$f"; } 2>/dev/null || continue # the process is gone
        read -r -a a <<<"${line##*) }"
        t=$((t + a[11] + a[12] + a[13] + a[14]))
    done
    echo "$t"
}
udp_drops() { awk '/^Udp:/ && $2 ~ /^[0-9]/ { print $6 + $7 }' /proc/net/snmp; }
# CPU seconds of this shell's reaped children (SIPp), from `times`.  Call it
# directly, not in $(...): a subshell would report its own children.
snap_children() { times >"$WORK/times.$1"; }
children_cpu() { # $1 = snapshot name
    awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%.2f\n", t }' "$WORK/times.$1"
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b > 0 ? 100 * a / b : 0) + 0.5 }'; }

# The machine is shared: before a trial, wait (up to BENCH_QUIET_WAIT
# seconds) until the rest of the host uses less than BENCH_QUIET percent of
# one core, e.g. until someone else's compile has finished.
quiet_pct() { # CPU other processes use over one second, percent of one core
    local o0 o1 t0 t1
    t0=$(date +%s%N)
    o0=$(others_ticks)
    sleep 1
    o1=$(others_ticks)
    t1=$(date +%s%N)
    pct "$(((o1 - o0) * 1000000000 / CLK_TCK))" "$((t1 - t0))"
}
wait_quiet() {
    local waited=0 busy
    busy=$(quiet_pct)
    while ((busy > QUIET && waited < QUIET_WAIT)); do
        ((waited % 60 == 0)) && log "  (the host is busy with something else: ${busy}% of a core; waiting for it to calm down)"
        sleep 4
        waited=$((waited + 5))
        busy=$(quiet_pct)
    done
    ((busy <= QUIET)) || log "  (still ${busy}% busy after ${QUIET_WAIT}s; going on)"
}

# ------------------------------------------------------------ dialroom -----

DIALROOM_BIN=${BENCH_DIALROOM_BIN:-}
DIALROOM_BUILD=release

build_dialroom() {
    if [[ -n $DIALROOM_BIN ]]; then
        [[ -x $DIALROOM_BIN ]] || die "BENCH_DIALROOM_BIN=$DIALROOM_BIN is not executable"
        DIALROOM_BIN=$(realpath "$DIALROOM_BIN")
        case $DIALROOM_BIN in
            */target/release/dialroom) DIALROOM_BUILD=release ;;
            */target/debug/dialroom) DIALROOM_BUILD=debug ;;
            *) DIALROOM_BUILD=custom ;;
        esac
        log "dialroom: using $DIALROOM_BIN ($DIALROOM_BUILD build)"
        return
    fi
    DIALROOM_BIN="$ROOT/target/release/dialroom"
    local stale=
    if [[ -x $DIALROOM_BIN ]]; then
        stale=$(find "$ROOT/src" "$ROOT/migrations" "$ROOT/web" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" \
            "$ROOT/build.rs" -newer "$DIALROOM_BIN" -type f -print -quit 2>/dev/null || true)
    else
        stale="(no binary yet)"
    fi
    if [[ -n $stale ]]; then
        log "dialroom: building the release binary (cargo build --release; ~10 min from cold), newer: $stale"
        (cd "$ROOT" && cargo build --release --bin dialroom) >&2
    else
        log "dialroom: $DIALROOM_BIN is newer than the sources, not rebuilding"
    fi
}

DR_DIR="$WORK/dialroom"
DR_CONF="$DR_DIR/dialroom.toml"

setup_dialroom() { # the users, once: kept as a template database
    local web
    mkdir -p "$DR_DIR/db"
    # A private copy: a build running elsewhere may replace target/release
    # while the search runs, and every trial must run the same binary.
    cp "$DIALROOM_BIN" "$DR_DIR/dialroom"
    DIALROOM_BIN="$DR_DIR/dialroom"
    free_port
    DR_PORT=$PORT
    free_port
    web=$PORT
    cat >"$DR_CONF" <<EOF
[sip]
listen = ["udp:127.0.0.1:$DR_PORT"]
auth_failure_limit = 1000000
# Kamailio sends no keepalives here either (no nathelper): like for like.
keepalive_s = 0

[web]
listen = "127.0.0.1:$web"

[xmpp]
enabled = false

[database]
url = "sqlite://$DR_DIR/db/dialroom.db"
EOF
    log "dialroom: adding $USERS users"
    # One process per user; they are written one at a time because two
    # concurrent \`user add\` can fail with "database is locked" on SQLite.
    local i
    for ((i = 0; i < USERS; i++)); do
        printf 'user%04d\n' "$i"
    done | while read -r u; do
        "$DIALROOM_BIN" --config "$DR_CONF" user add "$u" --password "$PASSWORD" >/dev/null ||
            die "dialroom user add $u failed"
    done
    local n
    n=$("$DIALROOM_BIN" --config "$DR_CONF" user list | grep -c '^user[0-9]' || true)
    ((n == USERS)) || die "dialroom has $n users, expected $USERS"
    cp -a "$DR_DIR/db" "$DR_DIR/template"
}

SERVER_PID=
SERVER_PORT=
SERVER_LOG=

start_dialroom() {
    rm -rf "$DR_DIR/db"
    cp -a "$DR_DIR/template" "$DR_DIR/db"
    SERVER_PORT=$DR_PORT
    NO_COLOR=1 "$DIALROOM_BIN" --config "$DR_CONF" serve >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q '^ready$' "$SERVER_LOG" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$SERVER_LOG" >&2
    die "dialroom did not start"
}

# ------------------------------------------------------------ kamailio -----

KAM_DIR="$WORK/kamailio"
KAM_BIN=${BENCH_KAMAILIO_BIN:-$(command -v kamailio || echo /usr/sbin/kamailio)}

setup_kamailio() {
    [[ -x $KAM_BIN ]] || die "kamailio is not installed"
    mkdir -p "$KAM_DIR/run"
    free_port
    KAM_PORT=$PORT
    local defs=()
    [[ $KAM_DUAL == 1 ]] && defs=(-A DUAL_CHALLENGE)
    KAM_CMD=("$KAM_BIN" -f "$BENCH/kamailio-registrar.cfg" "${defs[@]}" -DD -E
        -l "udp:127.0.0.1:$KAM_PORT" -n "$KAM_CHILDREN" -m 128 -M 16 -Y "$KAM_DIR/run" -w "$KAM_DIR")
    "${KAM_CMD[@]}" -c >"$KAM_DIR/check.log" 2>&1 || {
        cat "$KAM_DIR/check.log" >&2
        die "kamailio rejects bench/kamailio-registrar.cfg"
    }
}

start_kamailio() {
    SERVER_PORT=$KAM_PORT
    "${KAM_CMD[@]}" >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# --------------------------------------------------------- the servers -----

start_server() { # $1 = target, $2 = log file; fresh state, waits until it answers OPTIONS
    SERVER_LOG=$2
    "start_$1"
    local i
    for ((i = 0; i < 40; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        free_port
        if (cd "$WORK" && sipp -sf "$ROOT/sipp-scenarios/options_ping.xml" -s ping -m 1 -t u1 \
            -i 127.0.0.1 -p "$PORT" -nostdin -timeout 2 -timeout_error \
            "127.0.0.1:$SERVER_PORT") >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.25
    done
    tail -20 "$SERVER_LOG" >&2
    die "$1 does not answer OPTIONS on 127.0.0.1:$SERVER_PORT"
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    forget_pid "$SERVER_PID"
    SERVER_PID=
}

# ---------------------------------------------------------------- SIPp -----

write_user_slices() { # $1 = number of slices: user i goes to slice i % n
    local n=$1 k
    for ((k = 0; k < n; k++)); do
        awk -v n="$n" -v k="$k" -v users="$USERS" -v pw="$PASSWORD" \
            'BEGIN { print "SEQUENTIAL"; for (i = k; i < users; i += n) printf "user%04d;%s\n", i, pw }' \
            >"$WORK/users_${n}_$k.csv"
    done
}

sum_stat() { # $1 = column name in SIPp's stat CSV; sums the last line of every stat file of this trial
    local f total=0 v
    for f in "$TRIAL_DIR"/stat_*.csv; do
        v=$(awk -F';' -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i }
            { last = $0 } END { split(last, a, ";"); print (c ? a[c] + 0 : 0) }' "$f")
        total=$((total + v))
    done
    echo "$total"
}

# One trial: waits for a quiet host, runs it, and runs it again (up to
# BENCH_RETRIES times) when it failed while other processes took more than
# BENCH_QUIET percent of a core.  (A pass under disturbance stands.)
# Sets TRIAL_PASS.
trial() { # $1 = target, $2 = rate (registrations/s)
    local attempt
    for ((attempt = 0; attempt <= RETRIES; attempt++)); do
        wait_quiet
        trial_once "$@"
        ((!TRIAL_PASS && TRIAL_OTHER > QUIET)) || return 0
        if ((attempt < RETRIES)); then
            printf '  %-8s %6s        -> disturbed: other processes used %d%% of a core, repeating\n' "" "" "$TRIAL_OTHER"
        else
            printf '  %-8s %6s        -> disturbed: other processes used %d%% of a core, kept as is\n' "" "" "$TRIAL_OTHER"
        fi
    done
}

TRIAL_N=0
trial_once() { # $1 = target, $2 = rate; sets TRIAL_PASS (1/0), TRIAL_OTHER, prints a result line
    local target=$1 rate=$2
    local procs=$(((rate + SIPP_RATE - 1) / SIPP_RATE))
    local calls_total=0 k r rc
    TRIAL_N=$((TRIAL_N + 1))
    TRIAL_DIR="$WORK/trial_${TRIAL_N}_${target}_$rate"
    mkdir -p "$TRIAL_DIR"
    [[ -f "$WORK/users_${procs}_0.csv" ]] || write_user_slices "$procs"

    start_server "$target" "$TRIAL_DIR/server.log"

    local t0 t1 srv0 srv1 oth0 oth1 drops0 drops1
    local sipp_pids=() ports=()
    for ((k = 0; k < procs; k++)); do
        free_port
        ports+=("$PORT")
    done
    oth0=$(others_ticks)
    srv0=$(proc_ticks "$SERVER_PID")
    drops0=$(udp_drops)
    snap_children before
    t0=$(date +%s%N)
    for ((k = 0; k < procs; k++)); do
        r=$((rate / procs + (k < rate % procs ? 1 : 0)))
        calls_total=$((calls_total + r * DURATION))
        (cd "$TRIAL_DIR" && exec sipp -sf "$BENCH/register_load.xml" \
            -inf "$WORK/users_${procs}_$k.csv" -t u1 -i 127.0.0.1 -p "${ports[$k]}" \
            -r "$r" -rp 1000 -m $((r * DURATION)) -l $((r * DURATION)) \
            -buff_size 4194304 -default_behaviors abortunexp -nostdin \
            -timeout $((2 * DURATION + 40)) -timeout_error \
            -trace_stat -stf "$TRIAL_DIR/stat_$k.csv" -fd 1 -trace_error_codes \
            "127.0.0.1:$SERVER_PORT") >"$TRIAL_DIR/sipp_$k.out" 2>&1 &
        sipp_pids+=($!)
        PIDS+=($!)
    done
    rc=0
    for k in "${sipp_pids[@]}"; do
        wait "$k" || rc=1
        forget_pid "$k"
    done
    snap_children after
    t1=$(date +%s%N)
    srv1=$(proc_ticks "$SERVER_PID")
    oth1=$(others_ticks)
    drops1=$(udp_drops)
    local alive=1
    kill -0 "$SERVER_PID" 2>/dev/null || alive=0
    stop_server

    local elapsed ok failed retrans maxretrans unexp watchdog codes
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    ok=$(sum_stat 'SuccessfulCall(C)')
    failed=$(sum_stat 'FailedCall(C)')
    retrans=$(sum_stat 'Retransmissions(C)')
    maxretrans=$(sum_stat 'FailedMaxUDPRetrans(C)')
    unexp=$(sum_stat 'FailedUnexpectedMessage(C)')
    watchdog=$(($(sum_stat 'WatchdogMajor(C)') + $(sum_stat 'WatchdogMinor(C)')))
    # Status codes of unexpected responses, from -trace_error_codes.
    codes=$(cat "$TRIAL_DIR"/*_error_codes.csv 2>/dev/null |
        awk -F';' '{ k = split($3, c, ","); for (i = 1; i <= k; i++) if (c[i] ~ /^[0-9]+$/) n[c[i]]++ }
            END { for (x in n) { printf "%s%s x%d", sep, x, n[x]; sep = ", " } }' || true)

    # CPU in percent of one core: the server, SIPp, and every other process
    # (which disturbs the trial).
    local wall_s srv_cpu sipp_cpu
    wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')
    srv_cpu=$(pct "$(awk -v a="$srv0" -v b="$srv1" -v t="$CLK_TCK" 'BEGIN { print (b - a) / t }')" "$wall_s")
    sipp_cpu=$(pct "$(awk -v a="$(children_cpu before)" -v b="$(children_cpu after)" 'BEGIN { print b - a }')" "$wall_s")
    TRIAL_OTHER=$(pct "$(awk -v a="$oth0" -v b="$oth1" -v t="$CLK_TCK" 'BEGIN { print (b - a) / t }')" "$wall_s")

    local why=()
    ((rc == 0)) || why+=("sipp exit code")
    ((failed == 0)) || why+=("$failed failed")
    ((ok == calls_total)) || why+=("$ok/$calls_total succeeded")
    awk -v e="$elapsed" -v d="$DURATION" -v s="$SLACK" 'BEGIN { exit !(e <= d + s) }' ||
        why+=("overran: ${elapsed}s > $DURATION + $SLACK s")
    ((alive == 1)) || why+=("server died")
    if ((${#why[@]} == 0)); then TRIAL_PASS=1; else TRIAL_PASS=0; fi

    local verdict=PASS extra=""
    ((TRIAL_PASS)) || verdict=FAIL
    ((watchdog == 0)) || extra+="  sipp watchdog x$watchdog"
    ((drops1 == drops0)) || extra+="  udp drops $((drops1 - drops0))"
    # Warnings and errors the server logged during the trial (not the
    # harmless start-up notice of Kamailio's sl module about tm).
    local complaints
    complaints=$(grep -E 'WARN|ERROR' "$TRIAL_DIR/server.log" | grep -v 'load_tm_api' || true)
    if [[ -n $complaints ]]; then
        extra+="  server log: $(wc -l <<<"$complaints") warnings/errors, first: $(head -1 <<<"$complaints" | cut -c1-160)"
    fi
    printf '  %-8s %6d reg/s  %2d sipp  %s  ok=%d failed=%d (timeout %d, unexpected %d%s) retrans=%d  %ss  cpu%% of a core: server %d, sipp %d, others %d%s\n' \
        "$target" "$rate" "$procs" "$verdict" "$ok" "$failed" "$maxretrans" "$unexp" \
        "${codes:+: $codes}" "$retrans" "$elapsed" "$srv_cpu" "$sipp_cpu" "$TRIAL_OTHER" "$extra"
    if ((!TRIAL_PASS)); then
        local IFS=,
        printf '  %-8s %6s        -> %s\n' "" "" "${why[*]}"
    fi
}

# A single registration must work before any load is offered.
smoke() { # $1 = target
    local dir="$WORK/smoke_$1"
    mkdir -p "$dir"
    [[ -f "$WORK/users_1_0.csv" ]] || write_user_slices 1
    start_server "$1" "$dir/server.log"
    free_port
    if ! (cd "$dir" && sipp -sf "$BENCH/register_load.xml" -inf "$WORK/users_1_0.csv" -t u1 \
        -i 127.0.0.1 -p "$PORT" -m 3 -r 3 -default_behaviors abortunexp -nostdin \
        -timeout 20 -timeout_error -trace_err -error_file "$dir/errors.log" \
        "127.0.0.1:$SERVER_PORT") >"$dir/sipp.out" 2>&1; then
        stop_server
        tail -40 "$dir/errors.log" "$dir/sipp.out" >&2 || true
        die "$1: a single REGISTER with digest does not succeed (see above)"
    fi
    stop_server
}

# ---------------------------------------------------------- the search -----

declare -A RESULT SHOWN # the rate, and how to show it ("≥ MAX" and "< MIN" at the bounds)
search() { # $1 = target: bisection on a log scale, see the header
    local target=$1 lo=$RATE_MIN hi=$RATE_MAX lo_seen=0 hi_seen=0 mid
    log "== $target: searching $RATE_MIN..$RATE_MAX registrations/s, ${DURATION}s per trial, resolution $RESOLUTION%"
    smoke "$target"
    while ((hi * 100 > lo * (100 + RESOLUTION))); do
        mid=$(awk -v a="$lo" -v b="$hi" 'BEGIN { m = sqrt(a * b); printf "%d", m + 0.5 }')
        ((mid > lo && mid < hi)) || break
        trial "$target" "$mid"
        if ((TRIAL_PASS)); then lo=$mid lo_seen=1; else hi=$mid hi_seen=1; fi
    done
    SHOWN[$target]=""
    if ((!lo_seen)); then
        trial "$target" "$lo"
        if ((!TRIAL_PASS)); then
            RESULT[$target]=0
            SHOWN[$target]="< $RATE_MIN"
            return
        fi
    fi
    if ((!hi_seen)); then
        trial "$target" "$hi"
        if ((TRIAL_PASS)); then
            lo=$hi
            SHOWN[$target]="≥ $hi"
        fi
    fi
    RESULT[$target]=$lo
    SHOWN[$target]=${SHOWN[$target]:-$lo}
}

# ---------------------------------------------------------------- main -----

log "register.sh: work directory $WORK"
for t in $TARGETS; do
    case $t in
        dialroom)
            build_dialroom
            setup_dialroom
            ;;
        kamailio) setup_kamailio ;;
    esac
done

printf 'REGISTER with digest, RFC 7501 search: %s s per trial, %d users, up to %d calls/s per SIPp process\n' \
    "$DURATION" "$USERS" "$SIPP_RATE"
for t in $TARGETS; do search "$t"; done

echo
echo "Highest rate with zero failed transactions over ${DURATION}s (1 registration = 2 transactions):"
for t in $TARGETS; do
    printf '  %-9s %8s registrations/s  (%d transactions/s)\n' "$t" "${SHOWN[$t]}" $((2 * ${RESULT[$t]}))
done
RATIO=-
if [[ -n ${RESULT[dialroom]:-} && -n ${RESULT[kamailio]:-} ]]; then
    RATIO=$(awk -v a="${RESULT[dialroom]}" -v b="${RESULT[kamailio]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    # A rate at a search bound is only a bound, and so is the ratio.
    bounds="${SHOWN[dialroom]}${SHOWN[kamailio]}"
    if [[ $bounds == *"≥"* || $bounds == *"<"* ]]; then RATIO+=" (a rate is at a search bound)"; fi
    echo "  dialroom/kamailio = $RATIO"
fi

# ------------------------------------------------- docs/benchmarks.md ------

record() {
    local doc="$ROOT/docs/benchmarks.md" heading="## REGISTER with digest (bench/register.sh)"
    local cpu dr=- ka=- notes row
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    [[ -n ${SHOWN[dialroom]:-} ]] && dr=${SHOWN[dialroom]}
    [[ -n ${SHOWN[kamailio]:-} ]] && ka=${SHOWN[kamailio]}
    notes="dialroom $DIALROOM_BUILD build; kamailio -n $KAM_CHILDREN"
    [[ $KAM_DUAL == 1 ]] && notes+=" with the dual challenge"
    notes+="; sipp -t u1, ≤$SIPP_RATE calls/s per process; $USERS users"
    [[ $TARGETS == *dialroom* ]] || notes=${notes/dialroom $DIALROOM_BUILD build; /}
    row="| $(date -u +%Y-%m-%d) | $(uname -m) | $NPROC | ${cpu:-?} | ${DURATION} s | $dr | $ka | $RATIO | $notes |"
    mkdir -p "$(dirname "$doc")"
    if [[ ! -f $doc ]]; then
        cat >"$doc" <<'EOF'
# Benchmarks

The numbers here come from the scripts in `bench/`, run on whatever machine
was at hand, usually a small shared virtual machine with noisy neighbours.
Absolute rates move from run to run and from machine to machine. What the
scripts are built for is the **ratio**: dialroom and the reference server are
measured one after the other in the same run, on the same machine, with the
same load generator and the same method, so compare the ratio columns, not
the rates.
EOF
    fi
    if ! grep -qxF "$heading" "$doc"; then
        cat >>"$doc" <<EOF

$heading

Sustained registrations per second (each one a REGISTER answered 401 and a
REGISTER with an MD5 digest answered 200, so two transactions) that a server
keeps up for the whole hold time with zero failed transactions: the RFC 7501
registration rate, found by bisection. Same run, same machine: dialroom
against Kamailio as a registrar (\`bench/kamailio-registrar.cfg\`: usrloc in
memory, \`pv_www_authenticate\` with a fixed password). See the header of
\`bench/register.sh\` for the method.

| Date | Arch | Cores | CPU | Hold | dialroom (reg/s) | Kamailio (reg/s) | dialroom/Kamailio | Notes |
|---|---|---|---|---|---|---|---|---|
EOF
    fi
    # Insert the row after the last table row of this section.
    awk -v heading="$heading" -v row="$row" '
        { line[NR] = $0 }
        $0 == heading { in_s = 1; next }
        in_s && /^## / { in_s = 0 }
        in_s && /^\|/ { last = NR }
        END {
            for (i = 1; i <= NR; i++) {
                print line[i]
                if (i == last) print row
            }
            if (!last) print row
        }' "$doc" >"$WORK/benchmarks.md"
    cat "$WORK/benchmarks.md" >"$doc"
    echo "recorded in docs/benchmarks.md: $row"
}
[[ $RECORD == 1 ]] && record
exit 0
