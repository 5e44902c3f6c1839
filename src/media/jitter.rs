//! An adaptive jitter buffer for one RTP stream (sans-IO).
//!
//! Packets go in as they arrive (`push`); the mixer takes one 20 ms frame
//! per tick (`pop`). The playout depth follows the measured interarrival
//! jitter (RFC 3550 §6.4.1) between one and `MAX_DEPTH` frames. Storage is a
//! fixed ring allocated once: nothing is allocated per packet.

/// Frames the ring can hold.
const SLOTS: usize = 32;
/// Largest payload kept (bigger ones are dropped).
pub const MAX_PAYLOAD: usize = 1500;
/// A stream starts playing at the first tick that was due at least this
/// long after its first frame arrived (arrival times from the kernel; see
/// `media::udp`). A worker reads a room's sockets at or after the moment
/// the tick was due, how long after depending on what the rooms mixed
/// before it had to do; a stream whose packets land just before that read
/// would make it on one tick and miss it on another: a concealed frame
/// each time. Against the due time, a stream's frames are read in time
/// however the reads move, unless they come later than this (a phone's
/// own jitter). Costs up to this much delay.
pub const GUARD_MS: f64 = 2.0;
/// Frames that can have come after the guard when a worker that skipped
/// ticks reads again (its next tick is due less than a tick before the
/// read, and its phase's rooms before this one take a few ms): more than
/// these over the target are backlog even when their arrival times are the
/// read's own (a socket without kernel timestamps).
const FRESH_AFTER_SKIP: usize = 2;
/// Deepest playout target, in frames.
const MAX_DEPTH: usize = 10;
/// Frames above the target that are drained quickly.
const DRAIN_SLACK: usize = 1;
/// Ticks in a row with more than `target + DRAIN_SLACK` frames waiting
/// before one frame is dropped (so an excess drains at 4 % speed-up).
const DRAIN_AFTER: u32 = 25;
/// Ticks in a row with any frame over the target (and so nothing missing)
/// before that frame is dropped too: a frame of margin that a late packet
/// left (it was concealed and then played a tick late) is given back after
/// 3 s of calm, unless the stream needs it to stay [`GUARD_MS`] clear of
/// the tick's due time.
const CALM_AFTER: u32 = 150;

/// What `pop` yields for this tick.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<'a> {
    /// The next frame's payload.
    Frame(&'a [u8]),
    /// The next frame did not arrive in time: conceal it.
    Lost,
    /// Nothing buffered yet (or the stream stopped): play nothing.
    Idle,
}

/// Loss and jitter numbers for the admin UI and RTCP.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Packets accepted.
    pub received: u64,
    /// Frames played as lost.
    pub lost: u64,
    /// Packets that came after their playout time.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Ticks filled by concealment.
    pub concealed: u64,
    /// Frames dropped to bring the delay back down to the target.
    pub drained: u64,
    /// Interarrival jitter estimate, milliseconds.
    pub jitter_ms: f64,
    /// Current playout depth, frames.
    pub depth: usize,
}

#[derive(Clone)]
struct Slot {
    seq: Option<u16>,
    /// When it arrived (the caller's millisecond clock).
    arrival_ms: f64,
    len: usize,
    data: Box<[u8; MAX_PAYLOAD]>,
}

/// The buffer.
pub struct JitterBuffer {
    slots: Vec<Slot>,
    /// Sequence number of the next frame to play.
    next: Option<u16>,
    target: usize,
    started: bool,
    /// Frames in a row we played as lost (the stream may have stopped).
    misses: u32,
    /// Pops in a row with more frames waiting than the target needs.
    over: u32,
    transit: Option<f64>,
    /// When the newest packet arrived (the caller's clock).
    last_arrival_ms: f64,
    jitter: f64,
    ms_per_ts: f64,
    stats: JitterStats,
    /// The slot of the frame the last pop played, while its payload is
    /// still there (no packet written over it since).
    played: Option<usize>,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("next", &self.next)
            .field("stats", &self.stats)
            .finish()
    }
}

fn seq_lt(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

impl JitterBuffer {
    /// A buffer for an RTP clock of `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        JitterBuffer {
            slots: vec![
                Slot {
                    seq: None,
                    arrival_ms: 0.0,
                    len: 0,
                    data: Box::new([0; MAX_PAYLOAD]),
                };
                SLOTS
            ],
            next: None,
            target: 1,
            started: false,
            misses: 0,
            over: 0,
            transit: None,
            last_arrival_ms: 0.0,
            jitter: 0.0,
            ms_per_ts: 1000.0 / f64::from(clock_rate.max(1)),
            stats: JitterStats::default(),
            played: None,
        }
    }

    /// The numbers so far.
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            jitter_ms: self.jitter,
            depth: self.target,
            ..self.stats
        }
    }

    /// When the newest packet arrived (the clock of [`push`](Self::push)).
    pub fn last_arrival_ms(&self) -> f64 {
        self.last_arrival_ms
    }

    /// The payload of the frame the last pop played, until a packet is
    /// written over it (`None` if the last pop played no frame).
    pub fn last_played(&self) -> Option<&[u8]> {
        self.played
            .map(|i| &self.slots[i].data[..self.slots[i].len])
    }

    /// Forgets everything (a new stream or codec).
    pub fn reset(&mut self) {
        for s in &mut self.slots {
            s.seq = None;
        }
        self.played = None;
        self.next = None;
        self.started = false;
        self.misses = 0;
        self.over = 0;
        self.transit = None;
    }

    fn buffered(&self) -> usize {
        self.slots.iter().filter(|s| s.seq.is_some()).count()
    }

    /// A packet arrived at `arrival_ms` (any monotonic millisecond clock).
    pub fn push(&mut self, arrival_ms: f64, seq: u16, ts: u32, payload: &[u8]) {
        if payload.len() > MAX_PAYLOAD {
            return;
        }
        // RFC 3550 jitter: J += (|D| - J) / 16
        let transit = arrival_ms - f64::from(ts) * self.ms_per_ts;
        if let Some(prev) = self.transit {
            let d = (transit - prev).abs();
            if d < 5000.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.transit = Some(transit);
        self.last_arrival_ms = arrival_ms;
        // One frame (what a tick reads) plus whole frames for twice the
        // jitter: sub-frame jitter is what the start guard keeps clear of.
        self.target = ((self.jitter * 2.0 / 20.0).floor() as usize + 1).clamp(1, MAX_DEPTH);
        if let Some(next) = self.next {
            if seq_lt(seq, next) {
                self.stats.late += 1;
                return;
            }
            if seq.wrapping_sub(next) as usize >= SLOTS {
                // Far ahead (a jump or a new stream): restart from here.
                self.reset();
            }
        }
        let idx = usize::from(seq) % SLOTS;
        if self.slots[idx].seq == Some(seq) {
            self.stats.duplicates += 1;
            return;
        }
        if self.played == Some(idx) {
            self.played = None;
        }
        let slot = &mut self.slots[idx];
        slot.seq = Some(seq);
        slot.arrival_ms = arrival_ms;
        slot.len = payload.len();
        slot.data[..payload.len()].copy_from_slice(payload);
        self.stats.received += 1;
        if self.next.is_none() {
            self.next = Some(seq);
        }
    }

    /// Drops the oldest waiting frames down to the target at once (the
    /// caller skipped ticks, whose frames would otherwise stay as delay);
    /// frames that came less than [`GUARD_MS`] before the tick due at
    /// `tick_ms` are kept (see [`waiting`](Self::waiting)); returns how
    /// many. Counted as drained.
    pub fn catch_up(&mut self, tick_ms: f64) -> u64 {
        let mut dropped = 0;
        while self.started
            && self.next.is_some()
            && (self.waiting(tick_ms) > self.target
                || self.buffered() > self.target + FRESH_AFTER_SKIP)
        {
            dropped += u64::from(self.skip_next());
        }
        dropped
    }

    /// The frames that were waiting [`GUARD_MS`] before the tick due at
    /// `tick_ms`: a stream that plays behind its guard has exactly its
    /// target of them, and any more is delay that can be given back. Frames
    /// that came later are the next ticks' however many there are: a read
    /// long after the tick was due (a worker catching up) finds two or
    /// three, and counting them as delay would drain the stream ahead of
    /// its guard, to be concealed at the first read that comes before its
    /// packet.
    fn waiting(&self, tick_ms: f64) -> usize {
        let by = tick_ms - GUARD_MS;
        self.slots
            .iter()
            .filter(|s| s.seq.is_some() && s.arrival_ms <= by)
            .count()
    }

    /// Gives up the next frame to play (counted as drained when it was
    /// there); returns whether it was.
    fn skip_next(&mut self) -> bool {
        let Some(next) = self.next else {
            return false;
        };
        let slot = &mut self.slots[usize::from(next) % SLOTS];
        let there = slot.seq == Some(next);
        if there {
            slot.seq = None;
            self.stats.drained += 1;
        }
        self.next = Some(next.wrapping_add(1));
        there
    }

    /// The frame for this tick.
    ///
    /// Playout follows sequence numbers, one per tick. A missing frame is
    /// concealed; it is skipped (counted lost) once later frames are waiting,
    /// after at most one tick of grace when the buffer is shallower than its
    /// target. An empty buffer never skips, so a pause (silence suppression,
    /// hold) resumes without loss; after a second of nothing the stream is idle.
    pub fn pop(&mut self) -> Pop<'_> {
        self.pop_at(f64::INFINITY)
    }

    /// [`pop`](Self::pop) for the tick scheduled at `tick_ms` (the clock of
    /// [`push`](Self::push)): a stream that has not started yet starts only
    /// once its first frame arrived at least [`GUARD_MS`] before the tick.
    pub fn pop_at(&mut self, tick_ms: f64) -> Pop<'_> {
        self.played = None;
        let Some(mut next) = self.next else {
            return Pop::Idle;
        };
        if !self.started {
            let head = &self.slots[usize::from(next) % SLOTS];
            let fresh = head.seq == Some(next) && head.arrival_ms > tick_ms - GUARD_MS;
            if self.buffered() < self.target || fresh {
                return Pop::Idle;
            }
            self.started = true;
        }
        // Delay that built up (a burst after a stall, a target that has
        // come down, a late packet's frame of margin) is drained, one frame
        // at a time, when it persists: quickly above target + DRAIN_SLACK,
        // after CALM_AFTER ticks for the last frame over the target.
        let waiting = self.waiting(tick_ms);
        if waiting > self.target {
            self.over += 1;
        } else {
            self.over = 0;
        }
        if (waiting > self.target + DRAIN_SLACK && self.over >= DRAIN_AFTER)
            || self.over >= CALM_AFTER
        {
            self.over = 0;
            if self.slots[usize::from(next) % SLOTS].seq == Some(next) {
                self.skip_next();
                next = next.wrapping_add(1);
            }
        }
        loop {
            let idx = usize::from(next) % SLOTS;
            if self.slots[idx].seq == Some(next) {
                self.misses = 0;
                self.next = Some(next.wrapping_add(1));
                self.played = Some(idx);
                let slot = &mut self.slots[idx];
                slot.seq = None;
                return Pop::Frame(&slot.data[..slot.len]);
            }
            let buffered = self.buffered();
            if buffered == 0 {
                self.misses += 1;
                if self.misses > 50 {
                    self.next = None;
                    self.started = false;
                    return Pop::Idle;
                }
                self.stats.concealed += 1;
                return Pop::Lost;
            }
            if buffered < self.target && self.misses == 0 {
                self.misses += 1;
                self.stats.concealed += 1;
                return Pop::Lost;
            }
            self.stats.lost += 1;
            self.misses = 0;
            next = next.wrapping_add(1);
            self.next = Some(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(b: &mut JitterBuffer) -> Option<u8> {
        match b.pop() {
            Pop::Frame(p) => Some(p[0]),
            _ => None,
        }
    }

    #[test]
    fn in_order_packets_play_in_order() {
        let mut b = JitterBuffer::new(8000);
        for i in 0..5u16 {
            b.push(f64::from(i) * 20.0, 100 + i, u32::from(i) * 160, &[i as u8]);
            assert_eq!(frame(&mut b), Some(i as u8));
        }
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn reordered_packets_are_put_back_in_order() {
        let mut b = JitterBuffer::new(8000);
        b.push(0.0, 10, 0, &[0]);
        b.push(1.0, 12, 320, &[2]);
        b.push(2.0, 11, 160, &[1]);
        assert_eq!(frame(&mut b), Some(0));
        assert_eq!(frame(&mut b), Some(1));
        assert_eq!(frame(&mut b), Some(2));
    }

    #[test]
    fn a_lost_packet_is_concealed_then_skipped_and_a_late_one_dropped() {
        let mut b = JitterBuffer::new(8000);
        b.push(0.0, 1, 0, &[1]);
        assert_eq!(frame(&mut b), Some(1));
        // packet 2 never comes: this tick is concealed
        assert_eq!(b.pop(), Pop::Lost);
        b.push(40.0, 3, 320, &[3]);
        assert_eq!(frame(&mut b), Some(3));
        b.push(60.0, 2, 160, &[2]);
        let st = b.stats();
        assert_eq!((st.late, st.lost, st.concealed), (1, 1, 1));
    }

    #[test]
    fn duplicates_are_dropped_and_wraparound_works() {
        let mut b = JitterBuffer::new(8000);
        b.push(0.0, 65535, 0, &[1]);
        b.push(0.0, 65535, 0, &[1]);
        b.push(20.0, 0, 160, &[2]);
        assert_eq!(frame(&mut b), Some(1));
        assert_eq!(frame(&mut b), Some(2));
        assert_eq!(b.stats().duplicates, 1);
    }

    #[test]
    fn a_pause_resumes_without_loss() {
        let mut b = JitterBuffer::new(8000);
        b.push(0.0, 1, 0, &[1]);
        assert_eq!(frame(&mut b), Some(1));
        for _ in 0..10 {
            assert_eq!(b.pop(), Pop::Lost);
        }
        b.push(220.0, 2, 8000, &[2]);
        assert_eq!(frame(&mut b), Some(2));
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn jitter_deepens_the_target() {
        let mut b = JitterBuffer::new(8000);
        for i in 0..200u16 {
            let wobble = if i % 2 == 0 { 0.0 } else { 60.0 };
            b.push(f64::from(i) * 20.0 + wobble, i, u32::from(i) * 160, &[0]);
            let _ = b.pop();
        }
        assert!(b.stats().jitter_ms > 20.0, "{:?}", b.stats());
        assert!(b.stats().depth >= 3, "{:?}", b.stats());
    }

    #[test]
    fn a_backlog_drains_back_to_the_target() {
        let mut b = JitterBuffer::new(8000);
        // Steady stream, then a 200 ms stall of the reader: 10 frames pile up
        // and the stream keeps coming at its pace.
        let mut seq = 0u16;
        let push = |b: &mut JitterBuffer, seq: &mut u16| {
            let s = *seq;
            b.push(f64::from(s) * 20.0, s, u32::from(s) * 160, &[s as u8]);
            *seq += 1;
        };
        for _ in 0..10 {
            push(&mut b, &mut seq);
            assert!(frame(&mut b).is_some());
        }
        for _ in 0..10 {
            push(&mut b, &mut seq);
        }
        let waiting = |b: &JitterBuffer| b.slots.iter().filter(|s| s.seq.is_some()).count();
        assert_eq!(waiting(&b), 10);
        let mut last = None;
        for _ in 0..500 {
            push(&mut b, &mut seq);
            let f = frame(&mut b).expect("a frame every tick");
            if let Some(l) = last {
                assert!(
                    f.wrapping_sub(l) <= 2,
                    "at most one frame dropped at a time"
                );
            }
            last = Some(f);
        }
        let st = b.stats();
        assert!(waiting(&b) <= st.depth + DRAIN_SLACK, "{st:?}");
        assert!(st.drained >= 7, "{st:?}");
        assert_eq!((st.lost, st.concealed), (0, 0), "{st:?}");
    }

    #[test]
    fn a_steady_stream_is_never_drained() {
        let mut b = JitterBuffer::new(8000);
        for i in 0..1000u16 {
            b.push(f64::from(i) * 20.0, i, u32::from(i) * 160, &[0]);
            assert!(frame(&mut b).is_some());
        }
        assert_eq!(b.stats().drained, 0);
    }

    #[test]
    fn a_frame_of_margin_is_given_back_after_three_seconds_of_calm() {
        let mut b = JitterBuffer::new(8000);
        let mut played = 0;
        for i in 0..1000u16 {
            b.push(f64::from(i) * 20.0, i, u32::from(i) * 160, &[0]);
            // The reader starts a tick late: one frame more than needed waits.
            if i >= 1 && frame(&mut b).is_some() {
                played += 1;
            }
        }
        let st = b.stats();
        assert_eq!(st.drained, 1, "{st:?}");
        assert_eq!((st.lost, st.concealed), (0, 0), "{st:?}");
        assert_eq!(played, 999, "a frame every tick");
    }

    #[test]
    fn a_stopped_stream_goes_idle() {
        let mut b = JitterBuffer::new(8000);
        b.push(0.0, 1, 0, &[1]);
        assert_eq!(frame(&mut b), Some(1));
        for _ in 0..50 {
            assert_eq!(b.pop(), Pop::Lost);
        }
        assert_eq!(b.pop(), Pop::Idle);
        assert_eq!(b.pop(), Pop::Idle);
    }

    /// A stream that played one frame, then ten ticks skipped by the
    /// reader: frame `i` of theirs came in at `arrival(i)`.
    fn after_a_stall(arrival: impl Fn(u16) -> f64) -> JitterBuffer {
        let mut b = JitterBuffer::new(8000);
        b.push(0.0, 0, 0, &[0]);
        assert_eq!(frame(&mut b), Some(0));
        for i in 1..=10u16 {
            b.push(arrival(i), i, u32::from(i) * 160, &[i as u8]);
        }
        b
    }

    #[test]
    fn the_frame_played_last_stays_readable_until_a_packet_takes_its_slot() {
        let mut b = JitterBuffer::new(8000);
        b.push(0.0, 1, 0, &[1; 160]);
        b.push(20.0, 2, 160, &[2; 160]);
        b.push(40.0, 3, 320, &[3; 160]);
        while !matches!(b.pop_at(100.0), Pop::Frame(_)) {}
        let played = b.last_played().expect("a frame was played")[0];
        // Another packet, in another slot: still there.
        b.push(60.0, 4, 480, &[4; 160]);
        assert_eq!(b.last_played().map(|p| p[0]), Some(played));
        // A packet SLOTS later lands in the same slot (without restarting
        // the buffer: it is less than SLOTS ahead of the next frame): gone.
        let over = u16::from(played) + SLOTS as u16;
        b.push(80.0, over, u32::from(over) * 160, &[9; 160]);
        assert_eq!(b.last_played(), None);
        // A pop that plays nothing plays no frame.
        let mut idle = JitterBuffer::new(8000);
        assert_eq!(idle.pop(), Pop::Idle);
        assert_eq!(idle.last_played(), None);
    }

    #[test]
    fn catching_up_drops_a_backlog_stamped_when_read() {
        // No kernel timestamps: the frames' arrival is the read itself, so
        // none of them was there GUARD_MS before the tick.
        let mut b = after_a_stall(|_| 200.0);
        let target = b.stats().depth;
        b.catch_up(200.0);
        assert_eq!(b.buffered(), target + FRESH_AFTER_SKIP);
    }

    #[test]
    fn catching_up_keeps_the_guards_frame() {
        // Stamped by the kernel as they came, 20 ms apart, while the reader
        // stalled; read at 200 ms: the newest frame came 0.5 ms before.
        let mut b = after_a_stall(|i| 20.0 * f64::from(i) - 0.5);
        let target = b.stats().depth;
        assert_eq!(b.catch_up(200.0) as usize, 10 - target - 1);
        assert_eq!(b.buffered(), target + 1);
    }

    /// Packets that land 0.3 ms before each tick, give or take 0.5 ms (a
    /// phone whose clock sits right at the mixer's tick), read at each tick.
    fn run_at_the_tick_boundary(guarded: bool) -> (u64, usize) {
        let mut b = JitterBuffer::new(8000);
        let arrival = |i: u16| 20.0 * f64::from(i + 1) - 0.3 + if i % 2 == 1 { 0.5 } else { 0.0 };
        let (mut sent, mut played) = (0u16, 0usize);
        for k in 1..=500u16 {
            let tick = 20.0 * f64::from(k);
            while arrival(sent) <= tick {
                b.push(arrival(sent), sent, u32::from(sent) * 160, &[0]);
                sent += 1;
            }
            let at = if guarded { tick } else { f64::INFINITY };
            if let Pop::Frame(_) = b.pop_at(at) {
                played += 1;
            }
        }
        (b.stats().concealed + b.stats().lost, played)
    }

    #[test]
    fn a_stream_at_the_tick_boundary_starts_a_tick_later_and_is_never_concealed() {
        let (glitches, played) = run_at_the_tick_boundary(true);
        assert_eq!(glitches, 0);
        assert_eq!(
            played, 499,
            "one tick waited at the start, then a frame every tick"
        );
        // Without the guard the same stream starts at once and its late
        // packet costs a concealed frame.
        let (glitches, _) = run_at_the_tick_boundary(false);
        assert!(glitches > 0);
    }

    #[test]
    fn a_stream_just_before_the_read_keeps_its_frame_of_margin() {
        // Every packet lands 0.5 ms before the read: the stream starts a
        // tick late and that frame of margin is never drained.
        let mut b = JitterBuffer::new(8000);
        let mut sent = 0u16;
        for k in 1..=1000u16 {
            let tick = 20.0 * f64::from(k);
            while 20.0 * f64::from(sent + 1) - 0.5 <= tick {
                b.push(
                    20.0 * f64::from(sent + 1) - 0.5,
                    sent,
                    u32::from(sent) * 160,
                    &[0],
                );
                sent += 1;
            }
            let _ = b.pop_at(tick);
        }
        let st = b.stats();
        assert_eq!((st.drained, st.concealed, st.lost), (0, 0, 0), "{st:?}");
    }

    /// Frame `i` arriving at `arrival(i)`, tick `k` due at 20·k ms and
    /// read `read_after(k)` ms later, for `ticks` ticks.
    fn run_reads(
        arrival: impl Fn(u16) -> f64,
        read_after: impl Fn(u16) -> f64,
        ticks: u16,
    ) -> JitterStats {
        let mut b = JitterBuffer::new(8000);
        let mut sent = 0u16;
        for k in 1..=ticks {
            let due = 20.0 * f64::from(k);
            while arrival(sent) <= due + read_after(k) {
                b.push(arrival(sent), sent, u32::from(sent) * 160, &[0]);
                sent += 1;
            }
            let _ = b.pop_at(due);
        }
        b.stats()
    }

    #[test]
    fn a_worker_reading_late_does_not_drain_a_stream_ahead_of_its_guard() {
        // Packets land 8 ms after each tick is due, give or take 0.2 ms.
        let arrival = |i: u16| 20.0 * f64::from(i) + 8.0 + if i % 2 == 1 { 0.2 } else { -0.2 };
        // For 6 s the worker reads 35 ms after the tick was due (two
        // frames come after the guard), then 8 ms after, between the
        // packets of the two phases: a stream played as soon as read would
        // miss every other one.
        let st = run_reads(arrival, |k| if k < 300 { 35.0 } else { 8.0 }, 1000);
        assert_eq!((st.drained, st.concealed, st.lost), (0, 0, 0), "{st:?}");
    }

    #[test]
    fn a_frame_that_arrived_well_before_the_tick_starts_at_once() {
        let mut b = JitterBuffer::new(8000);
        b.push(5.0, 7, 0, &[7]);
        assert_eq!(b.pop_at(20.0), Pop::Frame(&[7]));
    }

    #[test]
    fn catching_up_drops_the_backlog_down_to_the_target() {
        // Read together and stamped when read (as the SFU's are).
        let mut b = after_a_stall(|_| 200.0);
        // The burst raised the jitter estimate: what stays is its target.
        let target = b.stats().depth;
        assert!((1..10).contains(&target), "{:?}", b.stats());
        let dropped = b.catch_up(f64::INFINITY);
        assert_eq!(dropped as usize, 10 - target);
        assert_eq!(b.buffered(), target);
        assert_eq!(
            frame(&mut b),
            Some(dropped as u8 + 1),
            "the oldest kept frame plays next"
        );
        assert_eq!(b.stats().drained, dropped);
        assert_eq!((b.stats().lost, b.stats().concealed), (0, 0));
        // Nothing more to catch up on.
        assert_eq!(b.catch_up(f64::INFINITY), 0);
    }
}
