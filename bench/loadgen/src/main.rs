//! dialroom-loadgen: puts N phone legs into rooms of a conferencing server
//! and measures what the mixer does to them (bench/mix.sh drives it).
//!
//! Legs are SIP calls over UDP (INVITE with an SDP offer, ACK, BYE) to
//! `sip:NNNN@server`, NNNN being the room number, `--room-size` legs per room.
//! In each room leg 0 talks and clicks once a second, legs 1..talkers talk,
//! the rest send quiet noise; every leg sends real 20 ms G.711 µ-law or Opus
//! frames at 50 packets/s and counts what it gets back, and `--probes` legs
//! per room decode what they hear and time the clicks.
//!
//! After the calls are up and `--warmup` seconds have passed, a window of
//! `--duration` seconds is measured: server CPU (from /proc), its
//! `/metrics` (tick lateness and work histograms, RTP and concealment
//! counters), loss and arrival gaps on every leg, and the click delay.
//! Results go to stdout (readable) and `--out` (key=value lines).

mod codecbench;
mod janus;
mod media;
mod probe;
mod signal;
mod sip;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use media::{Content, LegSock, PHASE_AFTER, PHASE_MEASURE, PHASE_SETUP, Shared, ThreadStats};
use signal::{Codec, Voice};

struct Args {
    sip: Option<SocketAddr>,
    janus: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    /// A viewer token for dialroom's rooms API (per-leg concealment).
    api_token: Option<String>,
    server_pid: Option<u32>,
    codec: Codec,
    legs: usize,
    room_size: usize,
    talkers: usize,
    probes: Option<usize>,
    rate: f64,
    warmup: f64,
    duration: f64,
    threads: usize,
    room_base: u32,
    port_base: u16,
    workers: usize,
    max_lateness_ms: f64,
    max_delay_ms: f64,
    out: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: dialroom-loadgen (--sip HOST:PORT | --janus HOST:PORT) --legs N [--codec pcmu|opus] [--metrics HOST:PORT [--api-token T]]\n\
         \x20      [--server-pid PID] [--room-size 10] [--talkers 2] [--probes K] [--rate 200]\n\
         \x20      [--warmup 5] [--duration 30] [--threads 2] [--room-base 1000] [--port-base 40000] [--workers 2]\n\
         \x20      [--max-lateness-ms 5] [--max-delay-ms 40] [--out FILE]\n\
         \x20      dialroom-loadgen --codec-bench    (libopus and G.711 cost per frame here)"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut m: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let Some(k) = k.strip_prefix("--") else {
            usage()
        };
        if k == "help" {
            usage()
        }
        let Some(v) = it.next() else { usage() };
        m.insert(k.to_string(), v);
    }
    fn get<T: std::str::FromStr>(m: &HashMap<String, String>, k: &str, d: Option<T>) -> T {
        match m.get(k) {
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("--{k}: cannot read {v:?}");
                usage()
            }),
            None => d.unwrap_or_else(|| {
                eprintln!("--{k} is required");
                usage()
            }),
        }
    }
    let codec = m
        .get("codec")
        .map(|c| Codec::parse(c).unwrap_or_else(|| usage()))
        .unwrap_or(Codec::Pcmu);
    Args {
        sip: m.get("sip").map(|v| v.parse().unwrap_or_else(|_| usage())),
        janus: m
            .get("janus")
            .map(|v| v.parse().unwrap_or_else(|_| usage())),
        metrics: m
            .get("metrics")
            .map(|v| v.parse().unwrap_or_else(|_| usage())),
        api_token: m.get("api-token").cloned(),
        server_pid: m
            .get("server-pid")
            .map(|v| v.parse().unwrap_or_else(|_| usage())),
        codec,
        legs: get(&m, "legs", None),
        room_size: get(&m, "room-size", Some(10)),
        talkers: get(&m, "talkers", Some(2)),
        probes: m
            .get("probes")
            .map(|v| v.parse().unwrap_or_else(|_| usage())),
        rate: get(&m, "rate", Some(200.0)),
        warmup: get(&m, "warmup", Some(5.0)),
        duration: get(&m, "duration", Some(30.0)),
        threads: get(&m, "threads", Some(2)),
        room_base: get(&m, "room-base", Some(1000)),
        port_base: get(&m, "port-base", Some(40_000)),
        workers: get(&m, "workers", Some(2)),
        max_lateness_ms: get(&m, "max-lateness-ms", Some(5.0)),
        max_delay_ms: get(&m, "max-delay-ms", Some(40.0)),
        out: m.get("out").cloned(),
    }
}

/// Everything read at one end of the window.
struct Snap {
    at: Instant,
    metrics: HashMap<String, f64>,
    /// Frames the server concealed so far, by (room, participant display).
    concealed_by_leg: HashMap<(String, String), u64>,
    /// The generator's late sends per leg so far (for s0: a second before).
    late_sends: Vec<u64>,
    server_cpu: f64,
    threads: HashMap<String, f64>,
    self_cpu: f64,
    others: f64,
    host: (u64, u64, u64),
    udp: [u64; 3],
}

fn late_counts(shared: &Shared) -> Vec<u64> {
    shared
        .late_sends
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .collect()
}

fn snap(a: &Args) -> Snap {
    let metrics = match a.metrics {
        Some(m) => probe::scrape(m).unwrap_or_else(|e| {
            eprintln!("loadgen: /metrics: {e}");
            HashMap::new()
        }),
        None => HashMap::new(),
    };
    let me = std::process::id();
    let mut skip = vec![me];
    if let Some(p) = a.server_pid {
        skip.push(p);
    }
    let concealed_by_leg = match (a.metrics, &a.api_token) {
        (Some(m), Some(t)) => probe::concealed_by_leg(m, t).unwrap_or_else(|e| {
            eprintln!("loadgen: /api/v1/rooms: {e}");
            HashMap::new()
        }),
        _ => HashMap::new(),
    };
    Snap {
        concealed_by_leg,
        late_sends: Vec::new(),
        at: Instant::now(),
        server_cpu: a.server_pid.and_then(probe::proc_cpu).unwrap_or(0.0),
        threads: a.server_pid.map(probe::thread_cpu).unwrap_or_default(),
        self_cpu: probe::proc_cpu(me).unwrap_or(0.0),
        others: probe::others_cpu(&skip),
        host: probe::host_cpu(),
        udp: probe::udp_errors(),
        metrics,
    }
}

fn quantile(sorted: &[i64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

fn fmt_bound(b: Option<f64>) -> String {
    match b {
        Some(0.0) => "n/a".into(),
        Some(v) => format!("<= {} ms", v * 1000.0),
        None => "> 100 ms".into(),
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--codec-bench") {
        codecbench::run();
        return;
    }
    let a = parse_args();
    if a.talkers == 0
        || a.talkers > a.room_size
        || a.legs == 0
        || a.sip.is_some() == a.janus.is_some()
    {
        usage();
    }
    let probes = a
        .probes
        .unwrap_or(match a.codec {
            Codec::Pcmu => a.room_size - 1,
            Codec::Opus => 3,
        })
        .min(a.room_size - 1);

    // The audio, encoded once.
    let clicker = signal::encode_loop(a.codec, Voice::Clicker);
    let (click_at, click_peak) = signal::calibrate(a.codec, &clicker);
    let content = Arc::new(Content {
        codec: a.codec,
        talker: signal::encode_loop(a.codec, Voice::Talker),
        quiet: signal::encode_loop(a.codec, Voice::Quiet),
        clicker,
        click_offset_ns: click_at as i64 * 1_000_000_000 / i64::from(a.codec.rate()),
    });
    let avg = |v: &Vec<Vec<u8>>| v.iter().map(Vec::len).sum::<usize>() / v.len();
    println!(
        "content: {} frames of {} B (talker) / {} B (quiet); click decodes {:.2} ms into its frame, peak {}",
        a.codec.name(),
        avg(&content.talker),
        avg(&content.quiet),
        content.click_offset_ns as f64 / 1e6,
        click_peak
    );

    // Legs and their sockets.
    let rooms = a.legs.div_ceil(a.room_size);
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(PHASE_SETUP),
        stop: AtomicBool::new(false),
        remote: (0..a.legs).map(|_| AtomicU64::new(0)).collect(),
        pt: (0..a.legs).map(|_| AtomicU8::new(a.codec.pt())).collect(),
        click_ns: (0..rooms).map(|_| AtomicI64::new(0)).collect(),
        clicks_sent: AtomicUsize::new(0),
        late_sends: (0..a.legs).map(|_| AtomicU64::new(0)).collect(),
    });
    let mut per_thread: Vec<Vec<LegSock>> = (0..a.threads.max(1)).map(|_| Vec::new()).collect();
    let mut ports = Vec::with_capacity(a.legs);
    let mut next_port = a.port_base & !1;
    for leg in 0..a.legs {
        let room = leg / a.room_size;
        let pos = leg % a.room_size;
        // RTP on an even port and RTCP on the next, as phones do (the
        // server sends its sender reports to port + 1).
        let (sock, rtcp) = loop {
            next_port += 2;
            if next_port > 60_998 {
                eprintln!("loadgen: no free port pairs left above {}", a.port_base);
                std::process::exit(1)
            }
            let Ok(s) = UdpSocket::bind(("127.0.0.1", next_port)) else {
                continue;
            };
            let Ok(r) = UdpSocket::bind(("127.0.0.1", next_port + 1)) else {
                continue;
            };
            break (s, r);
        };
        media::prepare_socket(&sock).expect("socket options");
        rtcp.set_nonblocking(true).expect("socket options");
        ports.push(next_port);
        let voice = match pos {
            0 => Voice::Clicker,
            p if p < a.talkers => Voice::Talker,
            _ => Voice::Quiet,
        };
        let nt = per_thread.len();
        per_thread[room % nt].push(LegSock {
            leg,
            room,
            voice,
            probe: (1..=probes).contains(&pos),
            sock,
            rtcp,
        });
    }
    let handles: Vec<_> = per_thread
        .into_iter()
        .enumerate()
        .map(|(i, socks)| {
            let (c, s) = (content.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("rtp-{i}"))
                .spawn(move || media::run(socks, c, s, sip::rand_u64() ^ ((i as u64 + 1) * 0x9e37)))
                .expect("thread")
        })
        .collect();

    // Calls (or Janus joins), paced.
    let mut uac = a
        .sip
        .map(|sip| sip::Uac::new(sip, a.codec).expect("SIP socket"));
    let mut jan = a.janus.map(|addr| {
        janus::Janus::connect(addr).unwrap_or_else(|e| {
            eprintln!("loadgen: janus: {e}");
            std::process::exit(1)
        })
    });
    let room_numbers: Vec<u32> = (0..rooms as u32).map(|r| a.room_base + r).collect();
    if let Some(j) = &mut jan {
        for &r in &room_numbers {
            j.create_room(r, a.codec).unwrap_or_else(|e| {
                eprintln!("loadgen: janus: {e}");
                std::process::exit(1)
            });
        }
    }
    let mut janus_stats = sip::SipStats::default();
    let setup_start = Instant::now();
    let on_answer = |leg: usize, ans: sip::Answered| {
        shared.pt[leg].store(ans.pt, Ordering::Relaxed);
        shared.remote[leg].store(media::pack(ans.rtp), Ordering::Relaxed);
    };
    let mut on_answer_mut = on_answer;
    let take_joins = |j: &janus::Janus, st: &mut sip::SipStats| {
        for (leg, rtp) in j.take_joined() {
            st.answered += 1;
            on_answer(
                leg,
                sip::Answered {
                    rtp,
                    pt: a.codec.pt(),
                },
            );
        }
    };
    for (leg, &port) in ports.iter().enumerate().take(a.legs) {
        let due = setup_start + Duration::from_secs_f64(leg as f64 / a.rate);
        let now = Instant::now();
        let room = a.room_base + (leg / a.room_size) as u32;
        if let Some(u) = &mut uac {
            if due > now {
                u.poll(due - now, &mut on_answer_mut);
            }
            u.invite(leg, room, port);
        }
        if let Some(j) = &mut jan {
            if due > now {
                std::thread::sleep(due - now);
            }
            janus_stats.invites += 1;
            if let Err(e) = j.join(leg, room, ports[leg], a.codec) {
                eprintln!("loadgen: janus: {e}");
                janus_stats.failed += 1;
            }
            take_joins(j, &mut janus_stats);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if Instant::now() >= deadline {
            break;
        }
        if let Some(u) = &mut uac {
            if u.pending() == 0 {
                break;
            }
            u.poll(Duration::from_millis(20), &mut on_answer_mut);
        }
        if let Some(j) = &jan {
            take_joins(j, &mut janus_stats);
            if janus_stats.answered + janus_stats.failed >= a.legs {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    {
        let st = uac.as_ref().map_or(&janus_stats, |u| &u.stats);
        println!(
            "setup: {} of {} calls answered in {:.1} s ({} failed {:?}, {} INVITE retransmissions)",
            st.answered, a.legs, setup_s, st.failed, st.failures, st.invite_resends
        );
    }
    let idle = |uac: &mut Option<sip::Uac>, d: Duration| match uac {
        Some(u) => u.poll(d, &mut |_, _| {}),
        None => std::thread::sleep(d),
    };

    // Warm-up, then the window.
    // The server publishes per-leg counts once a second, so the window's
    // concealments may include up to a second before it: the generator's
    // late sends are counted from a second before the window too.
    let until = Instant::now() + Duration::from_secs_f64(a.warmup);
    let mut late_before: Vec<u64> = Vec::new();
    while Instant::now() < until {
        if late_before.is_empty()
            && until.saturating_duration_since(Instant::now()) <= Duration::from_secs(1)
        {
            late_before = late_counts(&shared);
        }
        idle(&mut uac, Duration::from_millis(50));
    }
    if late_before.is_empty() {
        late_before = late_counts(&shared);
    }
    let mut s0 = snap(&a);
    s0.late_sends = late_before;
    shared.phase.store(PHASE_MEASURE, Ordering::SeqCst);
    let until = s0.at + Duration::from_secs_f64(a.duration);
    while Instant::now() < until {
        idle(&mut uac, Duration::from_millis(50));
    }
    shared.phase.store(PHASE_AFTER, Ordering::SeqCst);
    let mut s1 = snap(&a);
    s1.late_sends = late_counts(&shared);
    std::thread::sleep(Duration::from_millis(100));
    shared.stop.store(true, Ordering::SeqCst);
    let stats: Vec<ThreadStats> = handles
        .into_iter()
        .map(|h| h.join().expect("media thread"))
        .collect();
    let gen_total_cpu = probe::proc_cpu(std::process::id()).unwrap_or(0.0);
    if let Some(u) = &mut uac {
        u.hang_up_all(500.0);
    }
    if let Some(j) = jan {
        j.teardown(&room_numbers);
    }
    let after_bye = a.metrics.and_then(|m| {
        std::thread::sleep(Duration::from_millis(500));
        probe::scrape(m).ok()
    });
    let st = uac.as_ref().map_or(&janus_stats, |u| &u.stats);
    report(
        &a,
        probes,
        st,
        setup_s,
        &s0,
        &s1,
        &stats,
        &shared,
        after_bye,
        gen_total_cpu,
    );
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &Args,
    probes: usize,
    sipst: &sip::SipStats,
    setup_s: f64,
    s0: &Snap,
    s1: &Snap,
    stats: &[ThreadStats],
    shared: &Shared,
    after_bye: Option<HashMap<String, f64>>,
    _gen_total_cpu: f64,
) {
    let w = (s1.at - s0.at).as_secs_f64();
    let legs = sipst.answered;
    let mut kv: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| kv.push((k.to_string(), v));
    let d = |k: &str| -> f64 {
        s1.metrics.get(k).copied().unwrap_or(f64::NAN)
            - s0.metrics.get(k).copied().unwrap_or(f64::NAN)
    };
    let pct = |cpu: f64| 100.0 * cpu / w;

    // CPU.
    let server_cpu = s1.server_cpu - s0.server_cpu;
    let gen_cpu = s1.self_cpu - s0.self_cpu;
    let others = s1.others - s0.others;
    let (hb, hs, ht) = (
        s1.host.0 - s0.host.0,
        s1.host.1 - s0.host.1,
        s1.host.2 - s0.host.2,
    );
    let frames = legs as f64 * 50.0 * w;
    put(
        "target",
        if a.janus.is_some() {
            "janus"
        } else {
            "dialroom"
        }
        .into(),
    );
    put("codec", a.codec.name().into());
    put("legs", legs.to_string());
    put("legs_wanted", a.legs.to_string());
    put("rooms", legs.div_ceil(a.room_size).to_string());
    put("window_s", format!("{w:.2}"));
    put("setup_s", format!("{setup_s:.1}"));
    put("server_cpu_pct", format!("{:.1}", pct(server_cpu)));
    put(
        "server_cpu_pct_per_leg",
        format!(
            "{:.4}",
            if legs > 0 {
                pct(server_cpu) / legs as f64
            } else {
                0.0
            }
        ),
    );
    put(
        "server_us_per_leg_frame",
        format!("{:.1}", server_cpu * 1e6 / frames.max(1.0)),
    );
    put("gen_cpu_pct", format!("{:.1}", pct(gen_cpu)));
    put("others_cpu_pct", format!("{:.1}", pct(others)));
    put(
        "host_busy_pct",
        format!(
            "{:.1}",
            if ht > 0 {
                100.0 * hb as f64 / ht as f64 * num_cpus()
            } else {
                0.0
            }
        ),
    );
    put(
        "host_steal_pct",
        format!(
            "{:.1}",
            if ht > 0 {
                100.0 * hs as f64 / ht as f64 * num_cpus()
            } else {
                0.0
            }
        ),
    );
    let mut groups: HashMap<String, f64> = HashMap::new();
    for (name, &t1) in &s1.threads {
        let t0 = s0.threads.get(name).copied().unwrap_or(0.0);
        // dialroom: media-N, tokio-rt-worker, ...; Janus: "mixer ROOM", "rtp ROOM ID", ...
        let g = if name.starts_with("media-") {
            name.clone()
        } else {
            name.split_whitespace().next().unwrap_or(name).to_string()
        };
        *groups.entry(g).or_default() += t1 - t0;
    }
    // Threads that ended inside the window are in the process's time only.
    let listed: f64 = groups.values().sum();
    if !s1.threads.is_empty() && server_cpu - listed > 0.005 * w {
        groups.insert("(exited threads)".into(), server_cpu - listed);
    }
    let mut gl: Vec<(String, f64)> = groups.into_iter().filter(|g| g.1 > 0.0).collect();
    gl.sort_by(|x, y| y.1.total_cmp(&x.1));
    put(
        "server_threads",
        gl.iter()
            .map(|(n, t)| format!("{n}:{:.1}%", pct(*t)))
            .collect::<Vec<_>>()
            .join(","),
    );

    // Server metrics.
    let bounds = media_bounds();
    let hist = |name: &str| -> (Vec<f64>, f64, f64) {
        let cum: Vec<f64> = bounds
            .iter()
            .map(|b| {
                let le = if b.is_infinite() {
                    "+Inf".to_string()
                } else {
                    b.to_string()
                };
                d(&format!("{name}_bucket{{le=\"{le}\"}}"))
            })
            .collect();
        (cum, d(&format!("{name}_sum")), d(&format!("{name}_count")))
    };
    let (lat, lat_sum, lat_n) = hist("dialroom_mixer_tick_lateness_seconds");
    let (work, work_sum, work_n) = hist("dialroom_mixer_tick_work_seconds");
    let lat50 = probe::hist_quantile(&bounds, &lat, 0.50);
    let lat99 = probe::hist_quantile(&bounds, &lat, 0.99);
    let work50 = probe::hist_quantile(&bounds, &work, 0.50);
    let work99 = probe::hist_quantile(&bounds, &work, 0.99);
    let have_metrics = !s0.metrics.is_empty() && !s1.metrics.is_empty();
    let na = |x: String| if have_metrics { x } else { "n/a".into() };
    put("lateness_p50", na(fmt_bound(lat50)));
    put("lateness_p99", na(fmt_bound(lat99)));
    put(
        "lateness_mean_ms",
        format!("{:.3}", 1000.0 * lat_sum / lat_n),
    );
    put("work_p50", na(fmt_bound(work50)));
    put("work_p99", na(fmt_bound(work99)));
    put("work_mean_ms", format!("{:.3}", 1000.0 * work_sum / work_n));
    let over_20 = work_n - work.get(5).copied().unwrap_or(0.0);
    put("ticks_work_over_20ms", format!("{over_20:.0}"));
    let expected_ticks = a.workers as f64 * 50.0 * w;
    // One work sample per tick (lateness has one per phase of a tick).
    put("ticks", format!("{work_n:.0}"));
    put("ticks_expected", format!("{expected_ticks:.0}"));
    // Late ticks are made up (run back to back) unless a worker falls more
    // than 200 ms behind, when it counts the ticks it gives up on: those are
    // frames nobody gets. Servers without that counter (before eef1666) did
    // not make ticks up: there the shortfall in the tick count says it (one
    // per worker is window edge).
    let skipped = d("dialroom_mixer_ticks_skipped_total");
    let short = (expected_ticks - work_n - 2.0 * a.workers as f64)
        .max(0.0)
        .round();
    let has_counter = s1
        .metrics
        .contains_key("dialroom_mixer_ticks_skipped_total");
    let missing_ticks = if has_counter { skipped } else { short };
    put("ticks_missing", na(format!("{missing_ticks:.0}")));
    put("ticks_short", na(format!("{short:.0}")));
    let rtp_in = d("dialroom_rtp_packets_received_total");
    let rtp_out = d("dialroom_rtp_packets_sent_total");
    let concealed = d("dialroom_rtp_frames_concealed_total");
    let lost = d("dialroom_rtp_frames_lost_total");
    let encodes = d("dialroom_mixer_encodes_total");
    put("server_rtp_in_per_s", format!("{:.0}", rtp_in / w));
    put("server_rtp_out_per_s", format!("{:.0}", rtp_out / w));
    put("server_frames_concealed", format!("{concealed:.0}"));
    put("server_frames_lost", format!("{lost:.0}"));
    put("server_encodes_per_s", format!("{:.0}", encodes / w));
    put(
        "server_legs_gauge",
        format!(
            "{:.0}",
            s1.metrics
                .get("dialroom_media_legs")
                .copied()
                .unwrap_or(f64::NAN)
        ),
    );

    // What the legs saw.
    let sum = |f: &dyn Fn(&ThreadStats) -> u64| stats.iter().map(f).sum::<u64>();
    let sent = sum(&|s| s.sent);
    let recv = sum(&|s| s.received);
    let seq_lost = sum(&|s| s.seq_lost);
    let seq_back = sum(&|s| s.seq_back);
    let gaps30 = sum(&|s| s.gaps_over_30ms);
    let max_gap = stats.iter().map(|s| s.max_gap_ns).max().unwrap_or(0) as f64 / 1e6;
    let per_leg: Vec<u64> = stats
        .iter()
        .flat_map(|s| s.per_leg_rx.iter().copied())
        .collect();
    let silent = stats.iter().map(|s| s.silent_legs).sum::<usize>();
    put("gen_sent_per_s", format!("{:.0}", sent as f64 / w));
    put("gen_recv_per_s", format!("{:.0}", recv as f64 / w));
    put(
        "rx_pct_of_expected",
        format!("{:.3}", 100.0 * recv as f64 / frames.max(1.0)),
    );
    put(
        "rx_min_per_leg",
        per_leg.iter().min().copied().unwrap_or(0).to_string(),
    );
    put(
        "rx_max_per_leg",
        per_leg.iter().max().copied().unwrap_or(0).to_string(),
    );
    put("rx_silent_legs", silent.to_string());
    put("seq_lost", seq_lost.to_string());
    put("seq_back", seq_back.to_string());
    put("arrival_gaps_over_30ms", gaps30.to_string());
    put("arrival_gap_max_ms", format!("{max_gap:.1}"));
    let mut lh = [0u64; 9];
    for s in stats {
        for (x, y) in lh.iter_mut().zip(s.late_hist) {
            *x += y;
        }
    }
    let ln: u64 = lh.iter().sum();
    let mut acc = 0;
    let gen_late99 = media::LATE_BUCKETS_US
        .iter()
        .zip(lh)
        .find_map(|(&b, c)| {
            acc += c;
            (acc as f64 >= 0.99 * ln as f64).then_some(b)
        })
        .unwrap_or(0);
    put(
        "gen_send_late_p99_us",
        if gen_late99 == u64::MAX {
            ">20000".into()
        } else {
            format!("<={gen_late99}")
        },
    );
    // Slots (each a 20th of a thread's legs) that went out over 1 ms late:
    // their packets may miss the tick they were meant for.
    put(
        "gen_send_slots_late_over_1ms",
        lh[4..].iter().sum::<u64>().to_string(),
    );
    put(
        "gen_send_late_max_us",
        stats
            .iter()
            .map(|s| s.late_max_us)
            .max()
            .unwrap_or(0)
            .to_string(),
    );

    // Click delay.
    let all: Vec<(usize, i64, i64)> = stats
        .iter()
        .flat_map(|s| s.delays_ns.iter().copied())
        .collect();
    let mut delays: Vec<i64> = all.iter().map(|x| x.2).collect();
    delays.sort_unstable();
    // Per room: the median delay, and how it moved from the window's first
    // half to its second (a jitter buffer that only grows shows up here).
    let mut by_room: HashMap<usize, (Vec<i64>, Vec<i64>)> = HashMap::new();
    let mid = all.iter().map(|x| x.1).min().unwrap_or(0) / 2
        + all.iter().map(|x| x.1).max().unwrap_or(0) / 2;
    for &(r, t, dl) in &all {
        let e = by_room.entry(r).or_default();
        if t < mid { e.0.push(dl) } else { e.1.push(dl) }
    }
    let med = |v: &mut Vec<i64>| {
        v.sort_unstable();
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2] as f64 / 1e6
        }
    };
    let mut room_med = Vec::new();
    let mut growth: f64 = 0.0;
    for (_, (mut a1, mut a2)) in by_room {
        let mut both: Vec<i64> = a1.iter().chain(a2.iter()).copied().collect();
        room_med.push(med(&mut both));
        let g = med(&mut a2) - med(&mut a1);
        if g.is_finite() {
            growth = growth.max(g);
        }
    }
    room_med.sort_by(f64::total_cmp);
    put(
        "delay_room_median_min_ms",
        format!("{:.1}", room_med.first().copied().unwrap_or(f64::NAN)),
    );
    put(
        "delay_room_median_max_ms",
        format!("{:.1}", room_med.last().copied().unwrap_or(f64::NAN)),
    );
    put(
        "delay_rooms_median_over_60ms",
        room_med.iter().filter(|&&m| m > 60.0).count().to_string(),
    );
    put("delay_room_growth_max_ms", format!("{growth:.1}"));
    let clicks = shared.clicks_sent.load(Ordering::Relaxed);
    let expected_detect = clicks * probes;
    put("clicks_sent", clicks.to_string());
    put("click_detections", delays.len().to_string());
    put("click_detections_expected", expected_detect.to_string());
    put("click_unmatched", sum(&|s| s.unmatched).to_string());
    put("delay_min_ms", format!("{:.1}", quantile(&delays, 0.0)));
    put("delay_p50_ms", format!("{:.1}", quantile(&delays, 0.50)));
    put("delay_p99_ms", format!("{:.1}", quantile(&delays, 0.99)));
    put("delay_max_ms", format!("{:.1}", quantile(&delays, 1.0)));
    put("decode_errors", sum(&|s| s.decode_errors).to_string());
    put("udp_in_errors", (s1.udp[0] - s0.udp[0]).to_string());
    put("udp_rcvbuf_errors", (s1.udp[1] - s0.udp[1]).to_string());
    put("udp_sndbuf_errors", (s1.udp[2] - s0.udp[2]).to_string());
    put("rtcp_received", sum(&|s| s.rtcp).to_string());
    put("byes_ok", sipst.byes_ok.to_string());
    if let Some(m) = &after_bye {
        put(
            "calls_after_bye",
            format!(
                "{:.0}",
                m.get("dialroom_calls").copied().unwrap_or(f64::NAN)
            ),
        );
    }

    // The verdict.
    let mut why = Vec::new();
    if legs < a.legs {
        why.push(format!("only {legs} of {} calls answered", a.legs));
    }
    match lat99 {
        _ if !have_metrics => {}
        Some(b) if b <= a.max_lateness_ms / 1000.0 + 1e-12 => {}
        _ => why.push(format!("p99 tick lateness {}", fmt_bound(lat99))),
    }
    if have_metrics && missing_ticks > 0.0 {
        why.push(format!("{missing_ticks:.0} ticks skipped"));
    }
    if seq_lost > 0 {
        why.push(format!("{seq_lost} packets lost"));
    }
    // Which legs the concealed frames were on: a frame the generator sent
    // later than the server's 2 ms guard may miss its read, which is the
    // generator's timing, not the server's. Per leg, concealed frames up to
    // the number of its late sends are put down to the generator.
    let per_leg = !s0.concealed_by_leg.is_empty() && !s1.concealed_by_leg.is_empty();
    let late_sends: Vec<u64> = s1
        .late_sends
        .iter()
        .zip(&s0.late_sends)
        .map(|(a, b)| a - b)
        .collect();
    let (mut on_time, mut after_late) = (0u64, 0u64);
    if per_leg {
        for leg in 0..a.legs {
            let key = (
                format!("room-{:04}", a.room_base + (leg / a.room_size) as u32),
                probe::masked_display(&format!("leg{leg}")),
            );
            let c1 = s1.concealed_by_leg.get(&key).copied().unwrap_or(0);
            let c0 = s0.concealed_by_leg.get(&key).copied().unwrap_or(0);
            let c = c1.saturating_sub(c0);
            let excused = c.min(late_sends.get(leg).copied().unwrap_or(0));
            after_late += excused;
            on_time += c - excused;
        }
        put("server_concealed_on_time_legs", on_time.to_string());
        put("server_concealed_after_late_sends", after_late.to_string());
    }
    put(
        "gen_late_sends_over_2ms",
        late_sends.iter().sum::<u64>().to_string(),
    );
    let server_concealed = if per_leg { on_time as f64 } else { concealed };
    if have_metrics && server_concealed + lost > 0.0 {
        why.push(format!(
            "server concealed {server_concealed:.0} / lost {lost:.0} frames{}",
            if per_leg {
                format!(" (besides {after_late} after the generator's own late sends)")
            } else {
                String::new()
            }
        ));
    }
    // The phones' own sends in the window are the clock the server's must
    // keep (one frame per leg per tick): the same threads count both while
    // measuring, whereas the window's wall length also holds the moments
    // they take to notice its edges (1-3 frames per leg).
    if (recv as f64) < sent as f64 - 2.0 * legs as f64 {
        why.push(format!(
            "legs got {:.2} % of the frames the generator sent meanwhile ({:.2} % of 50 a second)",
            100.0 * recv as f64 / (sent as f64).max(1.0),
            100.0 * recv as f64 / frames.max(1.0)
        ));
    }
    if silent > 0 {
        why.push(format!("{silent} legs heard nothing"));
    }
    let load_ok = why.is_empty();
    let p99 = quantile(&delays, 0.99);
    let delay_ok =
        !delays.is_empty() && p99 < a.max_delay_ms && delays.len() * 10 >= expected_detect * 9;
    if !delay_ok {
        why.push(format!(
            "delay p99 {p99:.1} ms, {} of {expected_detect} clicks heard",
            delays.len()
        ));
    }
    let gen_ok = gen_late99 <= 2_000;
    put("load_ok", (load_ok as u8).to_string());
    put("delay_ok", (delay_ok as u8).to_string());
    put("gen_ok", (gen_ok as u8).to_string());
    put(
        "verdict",
        if load_ok && delay_ok { "PASS" } else { "FAIL" }.into(),
    );
    put(
        "why",
        if why.is_empty() {
            "-".into()
        } else {
            why.join("; ")
        },
    );

    let mut text = String::new();
    for (k, v) in &kv {
        let _ = writeln!(text, "{k}={v}");
    }
    print!("{text}");
    if let Some(p) = &a.out {
        std::fs::write(p, &text).unwrap_or_else(|e| eprintln!("loadgen: writing {p}: {e}"));
    }
}

fn media_bounds() -> Vec<f64> {
    vec![
        0.0005,
        0.001,
        0.002,
        0.005,
        0.010,
        0.020,
        0.050,
        0.100,
        f64::INFINITY,
    ]
}

fn num_cpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}
