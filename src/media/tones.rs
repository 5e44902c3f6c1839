//! Tone generators: sine, dual tone (DTMF), the join/leave chimes and a beep.
//!
//! Every generator is sans-IO and phase-continuous: it keeps its phase between
//! calls and writes into a buffer the caller owns, at any sample rate, so the
//! mixer can ask for one 20 ms frame per tick. Levels are given in dBFS of
//! the peak of each sine (0 dBFS = a sine that just reaches ±32767).

use std::f64::consts::TAU;

/// The DTMF row (low group) frequencies in Hz, ITU-T Q.23.
pub const DTMF_ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// The DTMF column (high group) frequencies in Hz, ITU-T Q.23.
pub const DTMF_COLUMNS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, row by row, in the order of [`DTMF_ROWS`] x [`DTMF_COLUMNS`].
pub const DTMF_KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The (row, column) frequencies of a DTMF key, or `None` for a character not on the keypad.
pub fn dtmf_frequencies(digit: char) -> Option<(f64, f64)> {
    let digit = digit.to_ascii_uppercase();
    for (r, row) in DTMF_KEYPAD.iter().enumerate() {
        for (c, &key) in row.iter().enumerate() {
            if key == digit {
                return Some((DTMF_ROWS[r], DTMF_COLUMNS[c]));
            }
        }
    }
    None
}

/// The peak amplitude (in 16-bit units) of a sine at `level_dbfs`.
pub fn dbfs_to_amplitude(level_dbfs: f64) -> f64 {
    32767.0 * 10f64.powf(level_dbfs.min(0.0) / 20.0)
}

#[inline]
fn to_i16(x: f64) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

#[inline]
fn mix(out: &mut i16, x: f64) {
    *out = to_i16(f64::from(*out) + x);
}

/// A continuous sine tone.
#[derive(Debug, Clone, Copy)]
pub struct Sine {
    phase: f64,
    step: f64,
    amplitude: f64,
}

impl Sine {
    /// A sine of `freq_hz` at `sample_rate` and `level_dbfs`, starting at phase 0.
    pub fn new(freq_hz: f64, sample_rate: u32, level_dbfs: f64) -> Self {
        Self {
            phase: 0.0,
            step: TAU * freq_hz / f64::from(sample_rate.max(1)),
            amplitude: dbfs_to_amplitude(level_dbfs),
        }
    }

    /// Changes the frequency, keeping the phase (no click).
    pub fn set_frequency(&mut self, freq_hz: f64, sample_rate: u32) {
        self.step = TAU * freq_hz / f64::from(sample_rate.max(1));
    }

    /// The next sample, unrounded, at unit amplitude times the level.
    #[inline]
    pub fn next_sample(&mut self) -> f64 {
        let v = self.amplitude * self.phase.sin();
        self.phase += self.step;
        if self.phase >= TAU {
            self.phase -= TAU;
        }
        v
    }

    /// Overwrites `out` with the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            *o = to_i16(self.next_sample());
        }
    }

    /// Adds the next `out.len()` samples to `out`, saturating.
    pub fn add_to(&mut self, out: &mut [i16]) {
        for o in out {
            mix(o, self.next_sample());
        }
    }
}

/// Two sines summed (a DTMF key, a dial tone, a ring-back tone).
#[derive(Debug, Clone, Copy)]
pub struct DualTone {
    low: Sine,
    high: Sine,
}

impl DualTone {
    /// Two sines, each at `level_dbfs` (keep it at -6 dBFS or below to avoid clipping).
    pub fn new(f1_hz: f64, f2_hz: f64, sample_rate: u32, level_dbfs: f64) -> Self {
        Self {
            low: Sine::new(f1_hz, sample_rate, level_dbfs),
            high: Sine::new(f2_hz, sample_rate, level_dbfs),
        }
    }

    /// The tone of a DTMF key ('0'-'9', '*', '#', 'A'-'D'), each component at `level_dbfs`.
    pub fn dtmf(digit: char, sample_rate: u32, level_dbfs: f64) -> Option<Self> {
        let (r, c) = dtmf_frequencies(digit)?;
        Some(Self::new(r, c, sample_rate, level_dbfs))
    }

    /// The next sample, unrounded.
    #[inline]
    pub fn next_sample(&mut self) -> f64 {
        self.low.next_sample() + self.high.next_sample()
    }

    /// Overwrites `out` with the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            *o = to_i16(self.next_sample());
        }
    }

    /// Adds the next `out.len()` samples to `out`, saturating.
    pub fn add_to(&mut self, out: &mut [i16]) {
        for o in out {
            mix(o, self.next_sample());
        }
    }
}

/// One note of a [`Chime`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// Frequency in Hz.
    pub freq_hz: f64,
    /// Length in milliseconds.
    pub ms: u32,
}

const JOIN: [Note; 2] = [
    Note {
        freq_hz: 660.0,
        ms: 90,
    },
    Note {
        freq_hz: 880.0,
        ms: 110,
    },
];
const LEAVE: [Note; 2] = [
    Note {
        freq_hz: 880.0,
        ms: 90,
    },
    Note {
        freq_hz: 660.0,
        ms: 110,
    },
];
const BEEP: [Note; 1] = [Note {
    freq_hz: 1000.0,
    ms: 200,
}];

/// A short sequence of enveloped notes: the join chime (rising), the leave
/// chime (falling) and a beep. Each note has a 4 ms attack, a gentle
/// exponential decay and a 6 ms release, so notes start and end without a click.
#[derive(Debug, Clone)]
pub struct Chime {
    notes: &'static [Note],
    sample_rate: u32,
    amplitude: f64,
    note: usize,
    pos: usize,
    note_len: usize,
    phase: f64,
    step: f64,
}

impl Chime {
    /// A chime playing `notes` at `sample_rate` and a peak of `level_dbfs`.
    pub fn new(notes: &'static [Note], sample_rate: u32, level_dbfs: f64) -> Self {
        let mut c = Self {
            notes,
            sample_rate: sample_rate.max(1),
            amplitude: dbfs_to_amplitude(level_dbfs),
            note: 0,
            pos: 0,
            note_len: 0,
            phase: 0.0,
            step: 0.0,
        };
        c.start_note();
        c
    }

    /// The tone played when someone joins: two notes rising, 200 ms.
    pub fn join(sample_rate: u32, level_dbfs: f64) -> Self {
        Self::new(&JOIN, sample_rate, level_dbfs)
    }

    /// The tone played when someone leaves: two notes falling, 200 ms.
    pub fn leave(sample_rate: u32, level_dbfs: f64) -> Self {
        Self::new(&LEAVE, sample_rate, level_dbfs)
    }

    /// A 1 kHz beep of 200 ms (recording notice, prompts).
    pub fn beep(sample_rate: u32, level_dbfs: f64) -> Self {
        Self::new(&BEEP, sample_rate, level_dbfs)
    }

    fn start_note(&mut self) {
        if let Some(n) = self.notes.get(self.note) {
            self.note_len = (u64::from(self.sample_rate) * u64::from(n.ms) / 1000) as usize;
            self.step = TAU * n.freq_hz / f64::from(self.sample_rate);
            self.pos = 0;
        }
    }

    /// The total length of the chime in samples.
    pub fn len_samples(&self) -> usize {
        self.notes
            .iter()
            .map(|n| (u64::from(self.sample_rate) * u64::from(n.ms) / 1000) as usize)
            .sum()
    }

    /// True once every note has been played.
    pub fn is_finished(&self) -> bool {
        self.note >= self.notes.len()
    }

    /// Starts again from the first note.
    pub fn restart(&mut self) {
        self.note = 0;
        self.phase = 0.0;
        self.start_note();
    }

    fn next_sample(&mut self) -> Option<f64> {
        while self.note < self.notes.len() && self.pos >= self.note_len {
            self.note += 1;
            self.start_note();
        }
        if self.note >= self.notes.len() {
            return None;
        }
        let rate = f64::from(self.sample_rate);
        let t = self.pos as f64 / rate;
        let left = (self.note_len - self.pos) as f64 / rate;
        let attack = (t / 0.004).min(1.0);
        let release = (left / 0.006).min(1.0);
        let decay = (-t / 0.15).exp();
        let v = self.amplitude * attack * release * decay * self.phase.sin();
        self.phase += self.step;
        if self.phase >= TAU {
            self.phase -= TAU;
        }
        self.pos += 1;
        Some(v)
    }

    /// Writes the next samples into `out`, silence after the end; returns how
    /// many chime samples were written.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut written = 0;
        for o in out {
            match self.next_sample() {
                Some(v) => {
                    *o = to_i16(v);
                    written += 1;
                }
                None => *o = 0,
            }
        }
        written
    }

    /// Adds the next samples to `out` (saturating); returns how many chime samples were added.
    pub fn add_to(&mut self, out: &mut [i16]) -> usize {
        let mut written = 0;
        for o in out {
            match self.next_sample() {
                Some(v) => {
                    mix(o, v);
                    written += 1;
                }
                None => break,
            }
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::{peak_frequency, tone_amplitude, tone_snr_db};

    #[test]
    fn sine_is_phase_continuous_across_calls() {
        let mut whole = Sine::new(1000.0, 48000, -6.0);
        let mut a = vec![0i16; 960];
        whole.fill(&mut a);
        let mut parts = Sine::new(1000.0, 48000, -6.0);
        let mut b = vec![0i16; 960];
        for chunk in b.chunks_mut(7) {
            parts.fill(chunk);
        }
        assert_eq!(a, b);
    }

    #[test]
    fn sine_has_its_frequency_and_level_at_any_rate() {
        for rate in [8000, 16000, 48000] {
            let mut s = Sine::new(1000.0, rate, -10.0);
            let mut buf = vec![0i16; rate as usize / 10];
            s.fill(&mut buf);
            let a = tone_amplitude(&buf, 1000.0, rate);
            assert!((a - dbfs_to_amplitude(-10.0)).abs() < 2.0, "{rate}: {a}");
            assert!(tone_snr_db(&buf, 1000.0, rate) > 60.0);
        }
    }

    #[test]
    fn every_dtmf_key_has_a_row_and_a_column() {
        for k in "0123456789*#ABCDabcd".chars() {
            let (r, c) = dtmf_frequencies(k).unwrap();
            assert!(DTMF_ROWS.contains(&r) && DTMF_COLUMNS.contains(&c));
        }
        assert_eq!(dtmf_frequencies('5'), Some((770.0, 1336.0)));
        assert_eq!(dtmf_frequencies('#'), Some((941.0, 1477.0)));
        assert_eq!(dtmf_frequencies('x'), None);
    }

    #[test]
    fn dual_tone_holds_both_components() {
        let mut t = DualTone::dtmf('9', 8000, -10.0).unwrap();
        let mut buf = vec![0i16; 800];
        t.fill(&mut buf);
        let want = dbfs_to_amplitude(-10.0);
        for f in [852.0, 1477.0] {
            assert!((tone_amplitude(&buf, f, 8000) - want).abs() < want * 0.05);
        }
        assert!(tone_amplitude(&buf, 1209.0, 8000) < want * 0.05);
    }

    #[test]
    fn join_chime_rises_and_leave_chime_falls() {
        let rate = 16000;
        let mut join = Chime::join(rate, -12.0);
        let len = join.len_samples();
        assert_eq!(len, 3200);
        let mut buf = vec![0i16; len + 320];
        assert_eq!(join.fill(&mut buf), len);
        assert!(join.is_finished());
        assert!(buf[len..].iter().all(|&x| x == 0));
        let half = len * 9 / 20;
        let first = peak_frequency(&buf[..half], rate, 300.0, 2000.0, 10.0);
        let second = peak_frequency(&buf[half..len], rate, 300.0, 2000.0, 10.0);
        assert!(second > first, "{first} -> {second}");

        let mut leave = Chime::leave(rate, -12.0);
        leave.fill(&mut buf);
        let first = peak_frequency(&buf[..half], rate, 300.0, 2000.0, 10.0);
        let second = peak_frequency(&buf[half..len], rate, 300.0, 2000.0, 10.0);
        assert!(second < first, "{first} -> {second}");
    }

    #[test]
    fn chime_starts_and_ends_without_a_click() {
        let mut c = Chime::beep(48000, -6.0);
        let mut buf = vec![0i16; c.len_samples()];
        c.fill(&mut buf);
        assert!(buf[0].abs() < 100 && buf[buf.len() - 1].abs() < 100);
        let max = buf.iter().map(|x| x.unsigned_abs()).max().unwrap();
        assert!(f64::from(max) <= dbfs_to_amplitude(-6.0) + 1.0);
        c.restart();
        assert!(!c.is_finished());
    }

    #[test]
    fn add_to_mixes_and_saturates() {
        let mut buf = vec![32000i16; 480];
        let mut c = Chime::beep(48000, 0.0);
        let n = c.add_to(&mut buf);
        assert_eq!(n, 480);
        assert!(buf.iter().all(|&x| x >= 32000 - 32767));
        let mut s = Sine::new(500.0, 8000, 0.0);
        let mut full = vec![32767i16; 160];
        s.add_to(&mut full);
        assert!(full.iter().all(|&x| x >= 0));
    }
}
