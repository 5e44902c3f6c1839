//! In-band DTMF detection (ITU-T Q.23 frequencies, Q.24-style acceptance)
//! for legs that send key presses as tones rather than RFC 4733 events.
//!
//! Every 10 ms the detector runs the eight Goertzel filters over the last
//! 20 ms at the leg's own rate (8, 16 or 48 kHz: no decimation needed, the
//! window is always 20 ms so the filters are always 50 Hz wide). A window
//! holds a digit when the strongest row and column tones are both
//! - loud enough (each above -38 dBFS, about -35 dBm0),
//! - within 8 dB of each other (twist),
//! - at least 8 dB above the second strongest tone of their group,
//! - together at least 70 % of the window's energy (speech, music and noise
//!   spread their energy; a key press does not).
//!
//! A digit is reported once it has held for three windows in a row (40 ms of
//! tone); it is not reported again until two windows without it have passed
//! (a gap of about 30 ms), so a held key gives one digit and "11" gives two.

use crate::media::goertzel::Goertzel;
use crate::media::tones::{DTMF_COLUMNS, DTMF_KEYPAD, DTMF_ROWS};

/// Analysis window, in ms.
const WINDOW_MS: u32 = 20;
/// Hop between windows, in ms.
const HOP_MS: u32 = 10;
/// Windows in a row a digit must hold before it is reported.
const HITS_TO_REPORT: u8 = 3;
/// Windows in a row without the digit before the same key can be reported again.
const MISSES_TO_REARM: u8 = 2;
/// Minimum peak amplitude of each tone (-38 dBFS).
const MIN_AMPLITUDE: f64 = 412.0;
/// Largest level difference between the row and the column tone (8 dB, amplitude ratio).
const MAX_TWIST: f64 = 2.512;
/// The second strongest tone of a group must be this much weaker (8 dB, amplitude ratio).
const MIN_GROUP_DOMINANCE: f64 = 2.512;
/// Share of the window's energy the two tones must carry.
const MIN_TONE_SHARE: f64 = 0.70;
/// Digits found but not yet returned by [`DtmfDetector::push`].
const PENDING: usize = 8;

/// Finds DTMF key presses in a stream of PCM.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    rate: u32,
    rows: [Goertzel; 4],
    cols: [Goertzel; 4],
    /// The last window of samples (a ring), and where the next one goes.
    ring: Vec<i16>,
    pos: usize,
    /// Samples since the last analysis.
    since: usize,
    hop: usize,
    /// Samples received in total, capped at the window (the first window must be full).
    filled: usize,
    /// The digit the last windows held, and for how many windows.
    candidate: Option<char>,
    hits: u8,
    /// The digit reported and still held (not re-armed yet), and the misses since.
    reported: Option<char>,
    misses: u8,
    pending: [char; PENDING],
    pending_len: usize,
}

impl DtmfDetector {
    /// A detector for PCM at `sample_rate` (8000, 16000 or 48000; any rate
    /// of at least 4 kHz that gives whole 10 ms hops works).
    pub fn new(sample_rate: u32) -> Self {
        let rate = sample_rate.max(4000);
        let window = (rate * WINDOW_MS / 1000) as usize;
        let hop = (rate * HOP_MS / 1000) as usize;
        Self {
            rate,
            rows: DTMF_ROWS.map(|f| Goertzel::new(f, rate)),
            cols: DTMF_COLUMNS.map(|f| Goertzel::new(f, rate)),
            ring: vec![0; window],
            pos: 0,
            since: 0,
            hop,
            filled: 0,
            candidate: None,
            hits: 0,
            reported: None,
            misses: 0,
            pending: ['\0'; PENDING],
            pending_len: 0,
        }
    }

    /// The sample rate the detector expects.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Feeds `pcm` (any length, typically one 20 ms frame); returns a digit
    /// when a key press was recognised. Should one call complete several
    /// presses (a long buffer), the others come out of the next calls.
    pub fn push(&mut self, pcm: &[i16]) -> Option<char> {
        let mut pending = std::mem::take(&mut self.pending_len);
        let mut buf = self.pending;
        self.push_with(pcm, |d| {
            if pending < PENDING {
                buf[pending] = d;
                pending += 1;
            }
        });
        self.pending = buf;
        self.pending_len = pending;
        if self.pending_len == 0 {
            return None;
        }
        let d = self.pending[0];
        self.pending.copy_within(1..self.pending_len, 0);
        self.pending_len -= 1;
        Some(d)
    }

    /// Feeds `pcm` and calls `on_digit` for every key press recognised, in order.
    pub fn push_with(&mut self, pcm: &[i16], mut on_digit: impl FnMut(char)) {
        let window = self.ring.len();
        for &x in pcm {
            self.ring[self.pos] = x;
            self.pos = (self.pos + 1) % window;
            self.filled = (self.filled + 1).min(window);
            self.since += 1;
            if self.since >= self.hop && self.filled == window {
                self.since = 0;
                let seen = self.analyse();
                if let Some(d) = self.track(seen) {
                    on_digit(d);
                }
            }
        }
    }

    /// Forgets everything (a new stream).
    pub fn reset(&mut self) {
        *self = Self::new(self.rate);
    }

    /// The digit the current window holds, if any.
    fn analyse(&mut self) -> Option<char> {
        for g in self.rows.iter_mut().chain(self.cols.iter_mut()) {
            g.reset();
        }
        let mut energy = 0.0;
        let (newer, older) = self.ring.split_at(self.pos);
        for &x in older.iter().chain(newer) {
            let x = f64::from(x);
            energy += x * x;
            for g in self.rows.iter_mut().chain(self.cols.iter_mut()) {
                g.push(x);
            }
        }
        let (r, row, row2) = strongest(&self.rows);
        let (c, col, col2) = strongest(&self.cols);
        if row < MIN_AMPLITUDE || col < MIN_AMPLITUDE {
            return None;
        }
        if row > col * MAX_TWIST || col > row * MAX_TWIST {
            return None;
        }
        if row < row2 * MIN_GROUP_DOMINANCE || col < col2 * MIN_GROUP_DOMINANCE {
            return None;
        }
        let n = self.ring.len() as f64;
        let tones = (row * row + col * col) * n / 2.0;
        if tones < MIN_TONE_SHARE * energy {
            return None;
        }
        Some(DTMF_KEYPAD[r][c])
    }

    /// Applies the duration and gap rules to one window's verdict.
    fn track(&mut self, seen: Option<char>) -> Option<char> {
        if seen.is_some() && seen == self.candidate {
            self.hits = self.hits.saturating_add(1);
        } else {
            self.candidate = seen;
            self.hits = u8::from(seen.is_some());
        }
        match self.reported {
            Some(held) if seen == Some(held) => {
                self.misses = 0;
                None
            }
            Some(_) => {
                self.misses = self.misses.saturating_add(1);
                if self.misses >= MISSES_TO_REARM {
                    self.reported = None;
                    self.misses = 0;
                    // A different key may already have held long enough.
                    return self.maybe_report();
                }
                None
            }
            None => self.maybe_report(),
        }
    }

    fn maybe_report(&mut self) -> Option<char> {
        if self.hits >= HITS_TO_REPORT {
            self.reported = self.candidate;
            self.misses = 0;
            return self.candidate;
        }
        None
    }
}

/// Index and amplitude of the strongest filter, and the second strongest amplitude.
fn strongest(filters: &[Goertzel; 4]) -> (usize, f64, f64) {
    let mut best = (0, -1.0);
    let mut second = -1.0f64;
    for (i, g) in filters.iter().enumerate() {
        let a = g.amplitude();
        if a > best.1 {
            second = best.1;
            best = (i, a);
        } else if a > second {
            second = a;
        }
    }
    (best.0, best.1, second.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::g711::{decode_ulaw, encode_ulaw};
    use crate::media::tones::{DualTone, Sine};

    /// Deterministic white-ish noise (sum of uniforms, roughly Gaussian).
    struct Noise(u32, f64);
    impl Noise {
        fn next(&mut self) -> f64 {
            let mut s = 0.0;
            for _ in 0..4 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 17;
                self.0 ^= self.0 << 5;
                s += f64::from(self.0) / f64::from(u32::MAX) - 0.5;
            }
            // Variance of the sum of 4 uniforms is 1/3.
            s * self.1 * 3f64.sqrt()
        }
        fn add_to(&mut self, buf: &mut [i16]) {
            for x in buf {
                *x = (f64::from(*x) + self.next())
                    .round()
                    .clamp(-32768.0, 32767.0) as i16;
            }
        }
    }

    /// `digits` as tones of `on_ms` separated by `off_ms` of silence, at `rate`.
    fn keyed(digits: &str, rate: u32, level: f64, on_ms: u32, off_ms: u32) -> Vec<i16> {
        let on = (rate * on_ms / 1000) as usize;
        let off = (rate * off_ms / 1000) as usize;
        let mut v = vec![0i16; off];
        for d in digits.chars() {
            let mut t = DualTone::dtmf(d, rate, level).unwrap();
            let start = v.len();
            v.resize(start + on, 0);
            t.fill(&mut v[start..]);
            v.resize(v.len() + off, 0);
        }
        v
    }

    fn detect(pcm: &[i16], rate: u32) -> String {
        let mut det = DtmfDetector::new(rate);
        let mut got = String::new();
        // Feed 20 ms frames, as the media worker does.
        for frame in pcm.chunks((rate / 50) as usize) {
            got.extend(det.push(frame));
        }
        got
    }

    const ALL: &str = "0123456789*#ABCD";

    #[test]
    fn every_digit_is_detected_at_every_rate_and_level() {
        for rate in [8000, 16000, 48000] {
            for level in [-4.0, -10.0, -20.0, -30.0] {
                let pcm = keyed(ALL, rate, level, 70, 60);
                assert_eq!(detect(&pcm, rate), ALL, "{rate} Hz at {level} dBFS");
            }
        }
    }

    #[test]
    fn every_digit_is_detected_in_noise() {
        for rate in [8000, 16000, 48000] {
            for level in [-10.0, -20.0] {
                let mut pcm = keyed(ALL, rate, level, 70, 60);
                // Noise 15 dB below each tone.
                let noise_rms = 32767.0 * 10f64.powf((level - 15.0) / 20.0) / 2f64.sqrt();
                Noise(0xDEAD_BEEF, noise_rms).add_to(&mut pcm);
                assert_eq!(
                    detect(&pcm, rate),
                    ALL,
                    "{rate} Hz at {level} dBFS in noise"
                );
            }
        }
    }

    #[test]
    fn a_sequence_is_detected_exactly() {
        let pcm = keyed("1234#", 8000, -10.0, 100, 100);
        assert_eq!(detect(&pcm, 8000), "1234#");
    }

    #[test]
    fn a_sequence_survives_g711() {
        let pcm = keyed("1234#", 8000, -16.0, 60, 60);
        let mut bytes = vec![0u8; pcm.len()];
        encode_ulaw(&pcm, &mut bytes);
        let mut back = vec![0i16; pcm.len()];
        decode_ulaw(&bytes, &mut back);
        assert_eq!(detect(&back, 8000), "1234#");
    }

    #[test]
    fn a_held_key_gives_one_digit_and_a_repeated_key_two() {
        assert_eq!(detect(&keyed("5", 8000, -10.0, 3000, 100), 8000), "5");
        assert_eq!(detect(&keyed("55", 16000, -10.0, 80, 50), 16000), "55");
    }

    #[test]
    fn minimum_duration_is_about_40ms() {
        for rate in [8000, 48000] {
            assert_eq!(
                detect(&keyed("159", rate, -10.0, 45, 50), rate),
                "159",
                "45 ms at {rate}"
            );
            assert_eq!(
                detect(&keyed("159", rate, -10.0, 20, 50), rate),
                "",
                "20 ms at {rate}"
            );
        }
    }

    #[test]
    fn a_1khz_tone_with_noise_is_not_a_digit() {
        for rate in [8000, 16000, 48000] {
            let mut pcm = vec![0i16; rate as usize * 2];
            Sine::new(1000.0, rate, -6.0).fill(&mut pcm);
            Noise(7, 2000.0).add_to(&mut pcm);
            assert_eq!(detect(&pcm, rate), "", "{rate}");
        }
    }

    #[test]
    fn speech_like_harmonics_are_not_a_digit() {
        // A voiced sound: harmonics of a gliding 100-250 Hz pitch with a
        // formant-like envelope, plus breath noise. Its harmonics pass near
        // row and column frequencies, but never carry most of the energy.
        let rate = 8000;
        let mut pcm = vec![0i16; rate as usize * 4];
        let mut phase = [0f64; 30];
        let mut noise = Noise(99, 300.0);
        for (i, x) in pcm.iter_mut().enumerate() {
            let t = i as f64 / f64::from(rate);
            let f0 = 175.0 + 75.0 * (t * 1.3).sin();
            let mut v = 0.0;
            for (h, p) in phase.iter_mut().enumerate() {
                let f = f0 * (h + 1) as f64;
                if f > 3800.0 {
                    break;
                }
                *p += std::f64::consts::TAU * f / f64::from(rate);
                let formants = (-((f - 700.0) / 300.0).powi(2)).exp()
                    + 0.7 * (-((f - 1200.0) / 300.0).powi(2)).exp()
                    + 0.3 * (-((f - 2500.0) / 400.0).powi(2)).exp();
                v += 3000.0 * formants * p.sin();
            }
            *x = (v + noise.next()).clamp(-32768.0, 32767.0) as i16;
        }
        assert_eq!(detect(&pcm, rate), "");
    }

    #[test]
    fn silence_and_noise_alone_are_not_digits() {
        assert_eq!(detect(&vec![0i16; 16000], 8000), "");
        let mut pcm = vec![0i16; 48000];
        Noise(3, 8000.0).add_to(&mut pcm);
        assert_eq!(detect(&pcm, 48000), "");
    }

    #[test]
    fn a_long_buffer_yields_every_digit_in_order() {
        let pcm = keyed("147*", 8000, -10.0, 60, 60);
        let mut det = DtmfDetector::new(8000);
        let mut got = String::new();
        got.extend(det.push(&pcm));
        while let Some(d) = det.push(&[]) {
            got.push(d);
        }
        assert_eq!(got, "147*");
        det.reset();
        assert_eq!(det.sample_rate(), 8000);
    }

    #[test]
    fn strong_twist_is_rejected() {
        // Row at -10 dBFS, column 12 dB weaker.
        let rate = 8000;
        let mut pcm = vec![0i16; 1600];
        Sine::new(770.0, rate, -10.0).fill(&mut pcm);
        Sine::new(1336.0, rate, -22.0).add_to(&mut pcm);
        assert_eq!(detect(&pcm, rate), "");
    }
}
