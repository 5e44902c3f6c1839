//! RFC 4733 telephone events (`telephone-event/8000`): DTMF digits carried
//! as RTP packets instead of tones.
//!
//! One event is a run of packets sharing the RTP timestamp of the key press:
//! the first has the marker bit, each repeats the event with the duration
//! so far, and the last is sent three times with the end bit. The
//! [`DtmfReceiver`] turns such a stream (lost, reordered and repeated
//! packets included) into exactly one digit per key press; the
//! [`DtmfSender`] produces the packet sequence for one digit.

/// Length of one event in the payload.
pub const EVENT_LEN: usize = 4;

/// What can be wrong with a telephone-event payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// A telephone-event payload is at least 4 bytes.
    #[error("telephone-event payload of {0} bytes is shorter than 4")]
    TooShort(usize),
}

/// The digit of event codes 0-15: `0`-`9`, `*` (10), `#` (11), `A`-`D` (12-15).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// The event code of a DTMF digit (case-insensitive for `A`-`D`).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        c @ '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        c @ 'A'..='D' => Some(c as u8 - b'A' + 12),
        _ => None,
    }
}

/// One telephone event (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-15 are DTMF digits, 16 is flash).
    pub event: u8,
    /// The end bit: this is (a repeat of) the last packet of the event.
    pub end: bool,
    /// Power level of the tone, 0 to 63 meaning 0 to -63 dBm0.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units, from the event's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of a payload (any redundant trailing bytes are ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let b: [u8; 4] = payload
            .get(..EVENT_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(DtmfError::TooShort(payload.len()))?;
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4 payload bytes (the reserved bit is zero; volume is capped at 63).
    pub fn to_bytes(&self) -> [u8; EVENT_LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | self.volume.min(63),
            d[0],
            d[1],
        ]
    }

    /// The DTMF digit, if the event is one.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// The event the receiver is following.
#[derive(Debug, Clone, Copy)]
struct Current {
    ts: u32,
    event: u8,
    ended: bool,
    duration: u16,
}

/// Turns received telephone-event packets into one digit per key press.
///
/// An event is identified by its RTP timestamp: the first packet seen with
/// a new timestamp reports the digit (so a lost start packet costs nothing
/// but latency), later packets and the redundant end packets with the same
/// timestamp are ignored, and so are late packets of an older event. A
/// segment of an event longer than 0xFFFF timestamp units (same event, new
/// timestamp, no marker, previous segment not ended) is not a new press.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    current: Option<Current>,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet (its RTP timestamp, marker bit and payload); returns
    /// the digit when this packet starts a new key press. A malformed
    /// payload or a non-DTMF event returns `None`.
    pub fn push(&mut self, ts: u32, marker: bool, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload).ok()?;
        self.push_event(ts, marker, ev)
    }

    /// As [`push`](Self::push), for an already parsed event.
    pub fn push_event(&mut self, ts: u32, marker: bool, ev: TelephoneEvent) -> Option<char> {
        if let Some(cur) = self.current.as_mut() {
            let ahead = ts.wrapping_sub(cur.ts) as i32;
            if ahead == 0 {
                // The same event: keep its progress, never report twice.
                cur.duration = cur.duration.max(ev.duration);
                cur.ended |= ev.end;
                return None;
            }
            if ahead < 0 {
                // A late packet of an older event.
                return None;
            }
            let continues = !marker
                && !cur.ended
                && ev.event == cur.event
                && ahead as u32 <= u32::from(cur.duration) + 0x1_0000;
            *cur = Current {
                ts,
                event: ev.event,
                ended: ev.end,
                duration: ev.duration,
            };
            if continues {
                return None;
            }
            return ev.digit();
        }
        self.current = Some(Current {
            ts,
            event: ev.event,
            ended: ev.end,
            duration: ev.duration,
        });
        ev.digit()
    }

    /// Forgets the current event (a new RTP stream).
    pub fn reset(&mut self) {
        self.current = None;
    }
}

/// One packet produced by [`DtmfSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Send it this many packet intervals after the first one (0, 1, 2, ...).
    pub tick: u32,
    /// The RTP marker bit (set on the first packet of the event).
    pub marker: bool,
    /// The RTP timestamp (the event's start; a new segment every 0xFFFF units).
    pub timestamp: u32,
    /// The payload.
    pub payload: [u8; EVENT_LEN],
}

/// Produces the packets of one key press: a start packet with the marker,
/// an update every packet interval carrying the duration so far, and the
/// final duration three times with the end bit (RFC 4733 §2.5.1). An event
/// longer than 0xFFFF units is cut into segments (§2.5.1.3): the segment's
/// last packet says 0xFFFF and the next segment starts at a timestamp
/// 0xFFFF later, without the marker.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    volume: u8,
    /// Timestamp units per packet interval.
    step: u32,
    /// Total duration in timestamp units.
    total: u32,
    start_ts: u32,
    tick: u32,
    /// Timestamp units covered by the packets sent so far.
    elapsed: u32,
    /// Current segment.
    seg: u32,
    /// The closing packet of a segment went out; the next one opens the next segment.
    closing: bool,
    ends_sent: u8,
}

/// Longest duration one segment can report.
const SEGMENT: u32 = 0xFFFF;

impl DtmfSender {
    /// The packets for `digit` lasting `duration_ms`, for a stream whose RTP
    /// clock is `clock_rate` (8000 for `telephone-event/8000`), sent every
    /// `packet_ms` (20), at `volume` (-dBm0, 10 is typical), starting at
    /// RTP timestamp `start_ts`. `None` for a character not on the keypad.
    pub fn new(
        digit: char,
        duration_ms: u32,
        clock_rate: u32,
        packet_ms: u32,
        volume: u8,
        start_ts: u32,
    ) -> Option<Self> {
        let event = digit_to_event(digit)?;
        let step =
            (u64::from(clock_rate) * u64::from(packet_ms.max(1)) / 1000).clamp(1, 0x8000) as u32;
        let total = (u64::from(clock_rate) * u64::from(duration_ms) / 1000)
            .clamp(u64::from(step), u64::from(u32::MAX / 2)) as u32;
        Some(Self {
            event,
            volume: volume.min(63),
            step,
            total,
            start_ts,
            tick: 0,
            elapsed: 0,
            seg: 0,
            closing: false,
            ends_sent: 0,
        })
    }

    /// Timestamp units the event lasts (the next event should start at or after
    /// `start_ts + duration_units()`).
    pub fn duration_units(&self) -> u32 {
        self.total
    }

    fn packet(&mut self, duration: u32, marker: bool, end: bool, advance: bool) -> DtmfPacket {
        let p = DtmfPacket {
            tick: self.tick,
            marker,
            timestamp: self.start_ts.wrapping_add(self.seg.wrapping_mul(SEGMENT)),
            payload: TelephoneEvent {
                event: self.event,
                end,
                volume: self.volume,
                duration: duration.min(SEGMENT) as u16,
            }
            .to_bytes(),
        };
        if advance {
            self.tick += 1;
        }
        p
    }
}

impl Iterator for DtmfSender {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        if self.closing {
            // Open the next segment in the same packet interval.
            self.closing = false;
            self.seg += 1;
            let end = self.elapsed >= self.total;
            if end {
                self.ends_sent = 1;
            }
            return Some(self.packet(self.elapsed - self.seg * SEGMENT, false, end, true));
        }
        if self.elapsed < self.total {
            let first = self.elapsed == 0;
            if !first && self.elapsed == (self.seg + 1) * SEGMENT {
                // The last packet filled this segment exactly.
                self.seg += 1;
            }
            let boundary = (self.seg + 1) * SEGMENT;
            self.elapsed = (self.elapsed + self.step).min(self.total);
            if self.elapsed > boundary {
                self.closing = true;
                return Some(self.packet(SEGMENT, first, false, false));
            }
            let end = self.elapsed >= self.total;
            if end {
                self.ends_sent = 1;
            }
            return Some(self.packet(self.elapsed - self.seg * SEGMENT, first, end, true));
        }
        if (1..3).contains(&self.ends_sent) {
            self.ends_sent += 1;
            return Some(self.packet(self.elapsed - self.seg * SEGMENT, false, true, true));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(digit: char, ms: u32, ts: u32) -> Vec<DtmfPacket> {
        DtmfSender::new(digit, ms, 8000, 20, 10, ts)
            .unwrap()
            .collect()
    }

    #[test]
    fn every_digit_maps_both_ways() {
        for (code, digit) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(digit_to_event(digit), Some(code as u8));
            assert_eq!(event_to_digit(code as u8), Some(digit));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('E'), None);
    }

    #[test]
    fn payload_parses_and_builds() {
        let ev = TelephoneEvent::parse(&[11, 0x8A, 0x03, 0x20]).unwrap();
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.digit(), Some('#'));
        assert_eq!(ev.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        // The reserved bit is ignored on input.
        assert!(!TelephoneEvent::parse(&[1, 0x4A, 0, 0]).unwrap().end);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort(3))
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3, 4, 5, 6, 7, 8])
                .unwrap()
                .event,
            1
        );
    }

    #[test]
    fn sender_makes_start_updates_and_three_ends() {
        let p = press('5', 100, 1000);
        // 100 ms = 5 packets of 20 ms, the last with the end bit, + 2 more ends.
        assert_eq!(p.len(), 7);
        assert!(p[0].marker && p[1..].iter().all(|x| !x.marker));
        assert!(p.iter().all(|x| x.timestamp == 1000));
        let evs: Vec<_> = p
            .iter()
            .map(|x| TelephoneEvent::parse(&x.payload).unwrap())
            .collect();
        let durations: Vec<u16> = evs.iter().map(|e| e.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = evs.iter().map(|e| e.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(evs.iter().all(|e| e.event == 5 && e.volume == 10));
        assert_eq!(
            p.iter().map(|x| x.tick).collect::<Vec<_>>(),
            (0..7).collect::<Vec<_>>()
        );
    }

    #[test]
    fn one_digit_per_press_including_the_redundant_ends() {
        let mut rx = DtmfReceiver::new();
        let mut digits = String::new();
        let mut ts = 0u32;
        for d in "1234#".chars() {
            let s = DtmfSender::new(d, 80, 8000, 20, 10, ts).unwrap();
            ts = ts.wrapping_add(s.duration_units() + 800);
            for p in s {
                digits.extend(rx.push(p.timestamp, p.marker, &p.payload));
            }
        }
        assert_eq!(digits, "1234#");
    }

    #[test]
    fn the_same_key_twice_gives_two_digits() {
        let mut rx = DtmfReceiver::new();
        let mut digits = String::new();
        for ts in [0u32, 2000] {
            for p in press('7', 60, ts) {
                digits.extend(rx.push(p.timestamp, p.marker, &p.payload));
            }
        }
        assert_eq!(digits, "77");
    }

    #[test]
    fn a_lost_start_packet_still_gives_the_digit_once() {
        let mut rx = DtmfReceiver::new();
        let p = press('9', 100, 5000);
        let got: String = p[1..]
            .iter()
            .filter_map(|x| rx.push(x.timestamp, x.marker, &x.payload))
            .collect();
        assert_eq!(got, "9");
        // Only the end packets of a press that follows (start and updates lost).
        let q = press('9', 100, 9000);
        let got: String = q[4..]
            .iter()
            .filter_map(|x| rx.push(x.timestamp, x.marker, &x.payload))
            .collect();
        assert_eq!(got, "9");
    }

    #[test]
    fn late_and_reordered_packets_do_not_repeat_a_digit() {
        let mut rx = DtmfReceiver::new();
        let a = press('1', 60, 100);
        let b = press('2', 60, 1000);
        let mut got = String::new();
        got.extend(rx.push(a[0].timestamp, a[0].marker, &a[0].payload));
        got.extend(rx.push(b[0].timestamp, b[0].marker, &b[0].payload));
        // Late end packets of '1' arrive after '2' started.
        for p in &a[1..] {
            got.extend(rx.push(p.timestamp, p.marker, &p.payload));
        }
        for p in &b[1..] {
            got.extend(rx.push(p.timestamp, p.marker, &p.payload));
        }
        assert_eq!(got, "12");
    }

    #[test]
    fn timestamps_wrap_around() {
        let mut rx = DtmfReceiver::new();
        let mut got = String::new();
        for (d, ts) in [('3', u32::MAX - 500), ('4', 400)] {
            for p in press(d, 60, ts) {
                got.extend(rx.push(p.timestamp, p.marker, &p.payload));
            }
        }
        assert_eq!(got, "34");
    }

    #[test]
    fn a_long_press_is_split_into_segments_but_stays_one_digit() {
        // 10 s at 8 kHz is 80 000 units: two segments.
        let p = press('0', 10_000, 0);
        let stamps: std::collections::BTreeSet<u32> = p.iter().map(|x| x.timestamp).collect();
        assert_eq!(stamps.into_iter().collect::<Vec<_>>(), [0, 0xFFFF]);
        assert_eq!(p.iter().filter(|x| x.marker).count(), 1);
        let first_seg_last = p.iter().rfind(|x| x.timestamp == 0).unwrap();
        let ev = TelephoneEvent::parse(&first_seg_last.payload).unwrap();
        assert_eq!((ev.duration, ev.end), (0xFFFF, false));
        let last = TelephoneEvent::parse(&p.last().unwrap().payload).unwrap();
        assert_eq!((last.duration, last.end), ((80_000 - 0xFFFF) as u16, true));
        let mut rx = DtmfReceiver::new();
        let got: String = p
            .iter()
            .filter_map(|x| rx.push(x.timestamp, x.marker, &x.payload))
            .collect();
        assert_eq!(got, "0");
    }

    #[test]
    fn garbage_and_non_dtmf_events_give_nothing() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.push(0, true, &[]), None);
        assert_eq!(rx.push(0, true, &[16, 0, 0, 160]), None); // flash
        assert_eq!(rx.push(800, true, &[200, 0x80, 0, 160]), None);
        assert_eq!(rx.push(1600, true, &[4, 0, 0, 160]), Some('4'));
        rx.reset();
        assert_eq!(rx.push(1600, false, &[4, 0x80, 0, 160]), Some('4'));
        assert_eq!(DtmfSender::new('x', 100, 8000, 20, 10, 0).map(|_| ()), None);
    }

    #[test]
    fn a_48khz_clock_scales_the_durations() {
        let p: Vec<_> = DtmfSender::new('#', 40, 48000, 20, 10, 7)
            .unwrap()
            .collect();
        let d: Vec<u16> = p
            .iter()
            .map(|x| TelephoneEvent::parse(&x.payload).unwrap().duration)
            .collect();
        assert_eq!(d, [960, 1920, 1920, 1920]);
    }
}
