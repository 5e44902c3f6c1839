//! Counters the media workers keep for `/metrics` and the benchmarks:
//! lock-free atomics, updated once per tick or per event, never per sample.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the tick-lateness and tick-work histograms, seconds.
pub const BUCKETS: [f64; 9] = [
    0.0005,
    0.001,
    0.002,
    0.005,
    0.010,
    0.020,
    0.050,
    0.100,
    f64::INFINITY,
];

/// A Prometheus-style histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 9],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BUCKETS.len() - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// How many observations there were (for the media workers' tick
    /// histogram: how many ticks ran, which `/health` watches grow).
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (b, c) in BUCKETS.iter().zip(&self.counts) {
            cum += c.load(Ordering::Relaxed);
            let le = if b.is_infinite() {
                "+Inf".to_string()
            } else {
                b.to_string()
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cum}");
        }
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {}", self.count.load(Ordering::Relaxed));
    }
}

/// One phone leg's receive and send counts, as the admin API shows them
/// (each worker publishes its legs' once a second).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LegRtp {
    /// RTP packets of the leg's codec taken into its jitter buffer.
    pub received: u64,
    /// Frames that never came (skipped as lost).
    pub lost: u64,
    /// Packets that came after their frame was played (dropped).
    pub late: u64,
    /// Frames concealed (missing when due: Opus PLC, G.711 fade).
    pub concealed: u64,
    /// Frames dropped to bring built-up delay down.
    pub drained: u64,
    /// RFC 3550 interarrival jitter, microseconds.
    pub jitter_us: u64,
    /// The jitter buffer's playout target, milliseconds.
    pub buffer_ms: u64,
    /// RTP packets sent to the leg.
    pub sent: u64,
}

/// Everything the media workers count.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// How late each tick started against its fixed 20 ms schedule (a
    /// tick made up after an overrun counts as late as it really was).
    pub tick_lateness: Histogram,
    /// How long each tick's work took.
    pub tick_work: Histogram,
    /// RTP packets received.
    pub rtp_in: AtomicU64,
    /// RTP packets sent.
    pub rtp_out: AtomicU64,
    /// Frames concealed (lost or late on arrival).
    pub concealed: AtomicU64,
    /// Frames skipped as lost.
    pub lost: AtomicU64,
    /// Frames dropped by a jitter buffer to bring built-up delay down.
    pub drained: AtomicU64,
    /// Encodes done (one per distinct mix and codec, plus private ones).
    pub encodes: AtomicU64,
    /// Frames sent as the talker's own packet, not encoded: to a listener
    /// on the talker's codec who heard that talker alone.
    pub passed_on: AtomicU64,
    /// Ticks a worker skipped because it fell too far behind its schedule.
    pub ticks_skipped: AtomicU64,
    /// Recording frames handed to a recorder (room mixes and tracks).
    pub rec_frames: AtomicU64,
    /// Recording frames dropped because a recorder's queue was full.
    pub rec_lost: AtomicU64,
    /// Open legs.
    pub legs: AtomicI64,
    /// Rooms being mixed.
    pub rooms: AtomicI64,
    /// Phone legs by codec (in [`crate::media::codec::Codec::ALL`] order).
    pub legs_by_codec: [AtomicI64; 4],
    /// Room participants on the phone (phone legs in a room's mix).
    pub phone_participants: AtomicI64,
    /// Room participants in a browser (the bridge's legs).
    pub browser_participants: AtomicI64,
    /// Legs last heard in a mix, and when (each worker writes its talkers
    /// every 10 ticks: one lock per 200 ms, never per packet).
    pub talking:
        std::sync::Mutex<std::collections::HashMap<crate::conference::LegId, std::time::Instant>>,
    /// Phone legs' RTP counts (each worker writes its legs' once a second
    /// and removes a leg it closes).
    pub leg_rtp: std::sync::Mutex<std::collections::HashMap<crate::conference::LegId, LegRtp>>,
}

/// A lock of the shared maps; a worker that panicked holding it leaves
/// plain data behind, still good to read and overwrite.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MediaStats {
    /// Records `legs` as talking at `now` and forgets legs not heard for 2 s.
    pub fn set_talking(
        &self,
        legs: impl Iterator<Item = crate::conference::LegId>,
        now: std::time::Instant,
    ) {
        let mut t = lock(&self.talking);
        for leg in legs {
            t.insert(leg, now);
        }
        t.retain(|_, at| now.saturating_duration_since(*at) < Duration::from_secs(2));
    }

    /// Publishes phone legs' counts (a worker, once a second).
    pub fn set_leg_rtp(&self, legs: impl Iterator<Item = (crate::conference::LegId, LegRtp)>) {
        lock(&self.leg_rtp).extend(legs);
    }

    /// Forgets a closed leg's counts.
    pub fn forget_leg(&self, leg: crate::conference::LegId) {
        lock(&self.leg_rtp).remove(&leg);
    }

    /// A phone leg's last published counts.
    pub fn leg_rtp(&self, leg: crate::conference::LegId) -> Option<LegRtp> {
        lock(&self.leg_rtp).get(&leg).copied()
    }

    /// True when `leg` was among its room's mixed talkers in the last 0.6 s.
    pub fn is_talking(&self, leg: crate::conference::LegId) -> bool {
        lock(&self.talking)
            .get(&leg)
            .is_some_and(|at| at.elapsed() < Duration::from_millis(600))
    }
}

impl MediaStats {
    /// Prometheus text exposition.
    pub fn render(&self, out: &mut String) {
        self.tick_lateness.render(
            out,
            "dialroom_mixer_tick_lateness_seconds",
            "How late a phase of a media tick started (four phases 5 ms apart).",
        );
        self.tick_work.render(
            out,
            "dialroom_mixer_tick_work_seconds",
            "Time a media tick (all its phases) took to do its work.",
        );
        let c = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        c(
            out,
            "dialroom_rtp_packets_received_total",
            "RTP packets received on phone legs.",
            self.rtp_in.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_rtp_packets_sent_total",
            "RTP packets sent on phone legs.",
            self.rtp_out.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_rtp_frames_concealed_total",
            "Frames played by concealment.",
            self.concealed.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_rtp_frames_lost_total",
            "Frames that never arrived.",
            self.lost.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_rtp_frames_drained_total",
            "Frames a jitter buffer dropped to bring built-up delay down.",
            self.drained.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_recording_frames_total",
            "Frames handed to a recorder (room mixes and participant tracks).",
            self.rec_frames.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_recording_frames_lost_total",
            "Recording frames dropped because a recorder's queue was full.",
            self.rec_lost.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_mixer_encodes_total",
            "Audio frames encoded.",
            self.encodes.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_mixer_passed_on_total",
            "Frames sent as a talker's own packet instead of an encoding: to a listener on its codec who heard that talker alone.",
            self.passed_on.load(Ordering::Relaxed),
        );
        c(
            out,
            "dialroom_mixer_ticks_skipped_total",
            "Media ticks skipped by a worker too far behind its schedule.",
            self.ticks_skipped.load(Ordering::Relaxed),
        );
        let g = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        g(
            out,
            "dialroom_media_legs",
            "Open media legs (phone legs and browsers' bridge legs).",
            self.legs.load(Ordering::Relaxed),
        );
        g(
            out,
            "dialroom_media_rooms",
            "Rooms being mixed.",
            self.rooms.load(Ordering::Relaxed),
        );
        let name = "dialroom_media_legs_by_codec";
        let _ = writeln!(
            out,
            "# HELP {name} Open phone legs by codec.\n# TYPE {name} gauge"
        );
        for (c, n) in crate::media::codec::Codec::ALL
            .iter()
            .zip(&self.legs_by_codec)
        {
            let _ = writeln!(
                out,
                "{name}{{codec=\"{}\"}} {}",
                c.encoding_name(),
                n.load(Ordering::Relaxed)
            );
        }
        let name = "dialroom_room_participants";
        let _ = writeln!(
            out,
            "# HELP {name} People in rooms, by how they joined.\n# TYPE {name} gauge\n\
             {name}{{kind=\"phone\"}} {}\n{name}{{kind=\"browser\"}} {}",
            self.phone_participants.load(Ordering::Relaxed),
            self.browser_participants.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(1));
        let mut s = String::new();
        h.render(&mut s, "x", "y");
        assert!(s.contains("x_bucket{le=\"0.0005\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"0.005\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_count 3\n"), "{s}");
    }
}
