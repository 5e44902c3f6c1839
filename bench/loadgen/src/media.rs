//! The RTP side: a few threads, each owning whole rooms. A thread sends one
//! packet per leg every 20 ms (legs spread over 20 one-millisecond slots, as
//! unsynchronised phones would be), on SCHED_FIFO; a receiver thread of its
//! own, at normal priority, reads what comes back through epoll, with the
//! kernel's receive timestamp (SO_TIMESTAMPNS) on every packet so that the
//! receiver's own scheduling does not count as server delay.
//!
//! Counted only while the measurement window is open (`PHASE_MEASURE`):
//! packets in, sequence gaps, longest arrival gap, send lateness of the
//! generator itself, and click delays.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::signal::{self, CLICK_FRAME, Codec, Dec, LOOP, Voice};

pub const PHASE_SETUP: u8 = 0;
pub const PHASE_MEASURE: u8 = 1;
pub const PHASE_AFTER: u8 = 2;

/// Buckets of the generator's own send lateness, microseconds.
pub const LATE_BUCKETS_US: [u64; 9] =
    [100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, u64::MAX];

/// State shared between the SIP thread and the media threads.
pub struct Shared {
    pub phase: AtomicU8,
    pub stop: AtomicBool,
    /// Per leg: the server's RTP address packed as ip << 16 | port (0 = not answered yet).
    pub remote: Vec<AtomicU64>,
    /// Per leg: the payload type to send.
    pub pt: Vec<AtomicU8>,
    /// Per room: CLOCK_REALTIME ns at which the last click left (as the server will decode it).
    pub click_ns: Vec<AtomicI64>,
    /// Clicks sent in the window.
    pub clicks_sent: AtomicUsize,
    /// Per leg: packets sent over 2 ms after their time, since the start
    /// (the main thread reads them around the window).
    pub late_sends: Vec<AtomicU64>,
}

pub fn pack(a: SocketAddr) -> u64 {
    match a {
        SocketAddr::V4(v) => (u64::from(u32::from(*v.ip())) << 16) | u64::from(v.port()),
        SocketAddr::V6(_) => 0,
    }
}

fn unpack(v: u64) -> SocketAddr {
    let ip = std::net::Ipv4Addr::from((v >> 16) as u32);
    SocketAddr::new(ip.into(), (v & 0xffff) as u16)
}

pub fn realtime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// One leg as a media thread sees it.
pub struct LegSock {
    pub leg: usize,
    pub room: usize,
    pub voice: Voice,
    pub probe: bool,
    pub sock: UdpSocket,
    /// RTCP (port + 1): drained and counted.
    pub rtcp: UdpSocket,
}

/// What one thread counted in the window.
#[derive(Debug, Default, Clone)]
pub struct ThreadStats {
    /// RTCP packets received (any time).
    pub rtcp: u64,
    pub sent: u64,
    pub received: u64,
    /// Packets missing by sequence number (gaps).
    pub seq_lost: u64,
    /// Packets that came with an older sequence number (reordered or duplicated).
    pub seq_back: u64,
    /// Per leg received in the window (for the fewest / most).
    pub per_leg_rx: Vec<u64>,
    /// Longest arrival gap on any leg, ns.
    pub max_gap_ns: i64,
    /// Arrival gaps over 30 ms (a frame late or missing).
    pub gaps_over_30ms: u64,
    /// Click delays: (room, when heard (CLOCK_REALTIME ns), delay ns).
    pub delays_ns: Vec<(usize, i64, i64)>,
    /// Clicks detected that matched no recent click.
    pub unmatched: u64,
    /// Send lateness of this thread's slots.
    pub late_hist: [u64; 9],
    pub late_max_us: u64,
    /// Legs that never received anything at all (in the window).
    pub silent_legs: usize,
    pub decode_errors: u64,
}

/// A leg's sending side (the media thread's).
struct Leg {
    s: LegSock,
    ssrc: u32,
    seq: u16,
    ts: u32,
    frame: usize,
}

/// A leg's receiving side (the receiver thread's).
struct RxLeg {
    room: usize,
    sock: UdpSocket,
    rtcp: UdpSocket,
    last_seq: Option<u16>,
    last_rx_ns: i64,
    rx: u64,
    dec: Option<Dec>,
    last_loud_ns: i64,
}

const RTCP_TOKEN: u64 = 1 << 63;
const SO_TIMESTAMPNS: libc::c_int = 35; // asm-generic/socket.h (x86_64, aarch64)

/// Receives one datagram with its kernel timestamp (CLOCK_REALTIME ns).
fn recv_ts(fd: libc::c_int, buf: &mut [u8]) -> Option<(usize, i64)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: the iovec and control buffer outlive the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    let mut ts = 0;
    // SAFETY: walking the control messages the kernel wrote into cbuf.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == SO_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                ts = t.tv_sec * 1_000_000_000 + t.tv_nsec;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if ts == 0 {
        ts = realtime_ns();
    }
    Some((n as usize, ts))
}

pub fn prepare_socket(sock: &UdpSocket) -> std::io::Result<()> {
    sock.set_nonblocking(true)?;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The generator stands in for phones on other machines: its media threads
/// ask for SCHED_FIFO so that their send times are the phones' clocks, not
/// the leftovers of the two cores the server also runs on. Without the
/// privilege (not root, no CAP_SYS_NICE) they run as ordinary threads; the
/// send lateness in the report shows the difference.
fn realtime_priority() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: sets this thread's scheduling policy from a plain struct.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if r != 0 {
        eprintln!(
            "loadgen: SCHED_FIFO refused ({}); media threads run at normal priority",
            std::io::Error::last_os_error()
        );
    }
}

pub struct Content {
    pub codec: Codec,
    pub clicker: Vec<Vec<u8>>,
    pub talker: Vec<Vec<u8>>,
    pub quiet: Vec<Vec<u8>>,
    /// Where the click sits after frame CLICK_FRAME starts, in ns.
    pub click_offset_ns: i64,
}

/// Runs one media thread until `shared.stop`: it sends (on SCHED_FIFO,
/// see [`realtime_priority`]) and a receiver thread of its own, at normal
/// priority, takes in what comes back. Only sending needs the phones'
/// clock; arrival times are the kernel's. (When one thread did both, a
/// burst of arrivals to decode kept a core from the server for up to 5 ms
/// on SCHED_FIFO: `perf sched` showed the server's media thread runnable
/// and waiting all that time.)
pub fn run(
    socks: Vec<LegSock>,
    content: Arc<Content>,
    shared: Arc<Shared>,
    seed: u64,
) -> ThreadStats {
    let codec = content.codec;
    let rx_legs: Vec<RxLeg> = socks
        .iter()
        .map(|s| RxLeg {
            room: s.room,
            sock: s.sock.try_clone().expect("dup socket"),
            rtcp: s.rtcp.try_clone().expect("dup socket"),
            last_seq: None,
            last_rx_ns: 0,
            rx: 0,
            dec: s.probe.then(|| Dec::new(codec)),
            last_loud_ns: 0,
        })
        .collect();
    let receiver = {
        let (content, shared) = (content.clone(), shared.clone());
        let name = std::thread::current()
            .name()
            .map_or_else(|| "rx".to_string(), |n| format!("{n}-rx"));
        std::thread::Builder::new()
            .name(name)
            .spawn(move || receive(rx_legs, &content, &shared))
            .expect("thread")
    };
    let mut st = send(socks, &content, &shared, seed);
    let rx = receiver.join().expect("receiver thread");
    st.take_received(rx);
    st
}

impl ThreadStats {
    /// Takes the receiver's counts into the sender's.
    fn take_received(&mut self, rx: ThreadStats) {
        let ThreadStats {
            sent,
            late_hist,
            late_max_us,
            ..
        } = *self;
        *self = ThreadStats {
            sent,
            late_hist,
            late_max_us,
            ..rx
        };
    }
}

/// The sending loop: each leg's packet in its 1 ms slot of 20.
fn send(socks: Vec<LegSock>, content: &Content, shared: &Shared, seed: u64) -> ThreadStats {
    let codec = content.codec;
    realtime_priority();
    let mut rng = seed | 1;
    let mut next_rand = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut legs: Vec<Leg> = socks
        .into_iter()
        .map(|s| Leg {
            s,
            ssrc: next_rand() as u32,
            seq: next_rand() as u16,
            ts: next_rand() as u32,
            // Talkers start at a random place in their loop.
            frame: (next_rand() % LOOP as u64) as usize,
        })
        .collect();
    // 20 one-millisecond slots; each leg sends in its own.
    let mut slots: Vec<Vec<usize>> = vec![Vec::new(); 20];
    for (i, l) in legs.iter().enumerate() {
        slots[(l.s.leg * 7 + l.s.leg / 20) % 20].push(i);
    }
    let mut st = ThreadStats::default();
    let mut pkt = [0u8; 1500];
    let start = Instant::now();
    let mut slot = 0usize;
    let mut next_slot = start + Duration::from_millis(1);
    while !shared.stop.load(Ordering::Relaxed) {
        let measuring = shared.phase.load(Ordering::Relaxed) == PHASE_MEASURE;
        let mut now = Instant::now();
        while next_slot <= now {
            if measuring {
                let late = (now - next_slot).as_micros() as u64;
                let b = LATE_BUCKETS_US.iter().position(|&x| late <= x).unwrap_or(8);
                st.late_hist[b] += 1;
                st.late_max_us = st.late_max_us.max(late);
            }
            for &i in &slots[slot] {
                let l = &mut legs[i];
                // Each packet's own lateness: a slot's packets leave one
                // after another.
                if Instant::now().saturating_duration_since(next_slot) > Duration::from_millis(2) {
                    shared.late_sends[l.s.leg].fetch_add(1, Ordering::Relaxed);
                }
                let remote = shared.remote[l.s.leg].load(Ordering::Relaxed);
                if remote == 0 {
                    continue;
                }
                let frames = match l.s.voice {
                    Voice::Clicker => &content.clicker,
                    Voice::Talker => &content.talker,
                    Voice::Quiet => &content.quiet,
                };
                let payload = &frames[l.frame];
                pkt[0] = 0x80;
                pkt[1] = shared.pt[l.s.leg].load(Ordering::Relaxed) & 0x7f;
                pkt[2..4].copy_from_slice(&l.seq.to_be_bytes());
                pkt[4..8].copy_from_slice(&l.ts.to_be_bytes());
                pkt[8..12].copy_from_slice(&l.ssrc.to_be_bytes());
                pkt[12..12 + payload.len()].copy_from_slice(payload);
                if l.s.voice == Voice::Clicker && l.frame == CLICK_FRAME {
                    shared.click_ns[l.s.room]
                        .store(realtime_ns() + content.click_offset_ns, Ordering::Relaxed);
                    if measuring {
                        shared.clicks_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if l.s
                    .sock
                    .send_to(&pkt[..12 + payload.len()], unpack(remote))
                    .is_ok()
                    && measuring
                {
                    st.sent += 1;
                }
                l.seq = l.seq.wrapping_add(1);
                l.ts = l.ts.wrapping_add(codec.ts_step());
                l.frame = (l.frame + 1) % LOOP;
            }
            slot = (slot + 1) % 20;
            next_slot += Duration::from_millis(1);
            now = Instant::now();
        }
        std::thread::sleep(next_slot.saturating_duration_since(now));
    }
    st
}

/// The window is over: what each leg received in it.
fn window_closed(st: &mut ThreadStats, legs: &[RxLeg], rx_at_start: &[u64]) {
    st.per_leg_rx = legs
        .iter()
        .zip(rx_at_start)
        .map(|(l, &at_start)| l.rx - at_start)
        .collect();
    st.silent_legs = st.per_leg_rx.iter().filter(|&&n| n == 0).count();
}

/// The receiving loop: once a millisecond, everything that arrived, in one
/// sweep (phones do not wake per packet either, and the kernel's receive
/// timestamps keep the arrival times exact), until `shared.stop`.
fn receive(mut legs: Vec<RxLeg>, content: &Content, shared: &Shared) -> ThreadStats {
    let codec = content.codec;
    // SAFETY: plain epoll set-up on fds this thread owns.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0, "epoll_create1");
    for (i, l) in legs.iter().enumerate() {
        for (fd, token) in [
            (l.sock.as_raw_fd(), i as u64),
            (l.rtcp.as_raw_fd(), RTCP_TOKEN | i as u64),
        ] {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: token,
            };
            // SAFETY: registering a socket fd we own.
            let r = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) };
            assert_eq!(r, 0, "epoll_ctl");
        }
    }
    let mut st = ThreadStats::default();
    let mut rbuf = [0u8; 2048];
    let mut pcm = vec![0i16; 5760];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let mut rx_at_start: Vec<u64> = vec![0; legs.len()];
    let mut was_measuring = false;
    let mut drained = true;
    while !shared.stop.load(Ordering::Relaxed) {
        if drained {
            std::thread::sleep(Duration::from_millis(1));
        }
        let measuring = shared.phase.load(Ordering::Relaxed) == PHASE_MEASURE;
        if measuring && !was_measuring {
            for (i, l) in legs.iter().enumerate() {
                rx_at_start[i] = l.rx;
            }
        }
        if !measuring && was_measuring {
            window_closed(&mut st, &legs, &rx_at_start);
        }
        was_measuring = measuring;
        // SAFETY: events has room for events.len() entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 0) };
        drained = (n.max(0) as usize) < events.len();
        for e in events.iter().take(n.max(0) as usize) {
            if e.u64 & RTCP_TOKEN != 0 {
                let l = &legs[(e.u64 & !RTCP_TOKEN) as usize];
                while l.rtcp.recv_from(&mut rbuf).is_ok() {
                    st.rtcp += 1;
                }
                continue;
            }
            let l = &mut legs[e.u64 as usize];
            let Some((len, ts)) = recv_ts(l.sock.as_raw_fd(), &mut rbuf) else {
                continue;
            };
            if len < 12 || rbuf[0] >> 6 != 2 || (200..=204).contains(&rbuf[1]) {
                continue;
            }
            let seq = u16::from_be_bytes([rbuf[2], rbuf[3]]);
            l.rx += 1;
            if measuring {
                st.received += 1;
                if let Some(prev) = l.last_seq {
                    let d = seq.wrapping_sub(prev);
                    if d == 0 || d >= 0x8000 {
                        st.seq_back += 1;
                    } else if d > 1 {
                        st.seq_lost += u64::from(d - 1);
                    }
                }
                if l.last_rx_ns != 0 {
                    let gap = ts - l.last_rx_ns;
                    st.max_gap_ns = st.max_gap_ns.max(gap);
                    if gap > 30_000_000 {
                        st.gaps_over_30ms += 1;
                    }
                }
            }
            if l.last_seq.is_none_or(|p| {
                let d = seq.wrapping_sub(p);
                d != 0 && d < 0x8000
            }) {
                l.last_seq = Some(seq);
            }
            l.last_rx_ns = ts;
            // Listening probes: decode and look for the click.
            if let Some(dec) = &mut l.dec {
                let cc = usize::from(rbuf[0] & 0x0f);
                let off = 12 + 4 * cc;
                if off >= len {
                    continue;
                }
                let n = dec.decode(&rbuf[off..len], &mut pcm);
                if n == 0 {
                    st.decode_errors += 1;
                    continue;
                }
                if let Some(k) = signal::find_click(&pcm[..n]) {
                    let armed = ts - l.last_loud_ns > 300_000_000;
                    l.last_loud_ns = ts;
                    if armed && measuring {
                        let heard = ts + (k as i64) * 1_000_000_000 / i64::from(codec.rate());
                        let sent = shared.click_ns[l.room].load(Ordering::Relaxed);
                        let d = heard - sent;
                        if sent != 0 && (0..900_000_000).contains(&d) {
                            st.delays_ns.push((l.room, heard, d));
                        } else {
                            st.unmatched += 1;
                        }
                    }
                }
            }
        }
    }
    if st.per_leg_rx.is_empty() {
        window_closed(&mut st, &legs, &rx_at_start);
    }
    // SAFETY: closing the epoll fd we created.
    unsafe { libc::close(ep) };
    st
}
