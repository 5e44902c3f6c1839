//! The Goertzel algorithm: the energy of one frequency in a block of samples.
//!
//! The in-band DTMF detector runs eight of these per block; tests use the
//! helpers below to check that a codec or resampler kept a tone's frequency
//! and level ([`tone_amplitude`], [`tone_snr_db`], [`peak_frequency`]).
//! State is `f64`: the cost is the same as `f32` on the targets we run on
//! and long test windows stay exact.

use std::f64::consts::PI;

/// One Goertzel filter tuned to a frequency at a sample rate.
#[derive(Debug, Clone, Copy)]
pub struct Goertzel {
    coeff: f64,
    s1: f64,
    s2: f64,
    n: usize,
}

impl Goertzel {
    /// A filter for `freq_hz` at `sample_rate` (the frequency need not fall on a bin).
    pub fn new(freq_hz: f64, sample_rate: u32) -> Self {
        let w = 2.0 * PI * freq_hz / f64::from(sample_rate.max(1));
        Self {
            coeff: 2.0 * w.cos(),
            s1: 0.0,
            s2: 0.0,
            n: 0,
        }
    }

    /// Feeds one sample.
    #[inline]
    pub fn push(&mut self, x: f64) {
        let s0 = x + self.coeff * self.s1 - self.s2;
        self.s2 = self.s1;
        self.s1 = s0;
        self.n += 1;
    }

    /// Feeds a block of 16-bit samples.
    pub fn push_i16(&mut self, block: &[i16]) {
        for &x in block {
            self.push(f64::from(x));
        }
    }

    /// The squared magnitude of the DFT term at the tuned frequency since the last reset.
    pub fn power(&self) -> f64 {
        (self.s1 * self.s1 + self.s2 * self.s2 - self.coeff * self.s1 * self.s2).max(0.0)
    }

    /// How many samples were fed since the last reset.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when no sample was fed since the last reset.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The peak amplitude of a sinusoid at the tuned frequency that would give this power.
    pub fn amplitude(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        2.0 * self.power().sqrt() / self.n as f64
    }

    /// Forgets the samples fed so far (the tuning is kept).
    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
        self.n = 0;
    }
}

/// The peak amplitude of the `freq_hz` component of `samples` (exact when the
/// block holds a whole number of periods).
pub fn tone_amplitude(samples: &[i16], freq_hz: f64, sample_rate: u32) -> f64 {
    let mut g = Goertzel::new(freq_hz, sample_rate);
    g.push_i16(samples);
    g.amplitude()
}

/// The ratio of the `freq_hz` component's energy to everything else in
/// `samples`, in dB (noise, distortion and other tones count as "else").
/// Choose a block holding a whole number of periods so the tone does not leak.
pub fn tone_snr_db(samples: &[i16], freq_hz: f64, sample_rate: u32) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let total: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    let a = tone_amplitude(samples, freq_hz, sample_rate);
    let tone = a * a / 2.0 * samples.len() as f64;
    let rest = (total - tone).max(1e-9);
    10.0 * (tone.max(1e-9) / rest).log10()
}

/// The frequency in `lo..=hi` (stepped by `step` Hz) with the most energy in `samples`.
pub fn peak_frequency(samples: &[i16], sample_rate: u32, lo: f64, hi: f64, step: f64) -> f64 {
    let mut best = (lo, -1.0);
    let step = if step > 0.0 { step } else { 1.0 };
    let mut f = lo;
    while f <= hi {
        let a = tone_amplitude(samples, f, sample_rate);
        if a > best.1 {
            best = (f, a);
        }
        f += step;
    }
    best.0
}

/// Root-mean-square level of `samples` relative to a full-scale sine, in dB
/// (a full-scale sine reads 0 dB; silence reads -inf).
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let ms: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len() as f64;
    let full = 32767.0f64 * 32767.0 / 2.0;
    10.0 * (ms / full).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, amp: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()).round() as i16)
            .collect()
    }

    #[test]
    fn amplitude_of_a_bin_centred_sine_is_exact() {
        let s = sine(1000.0, 8000, 10000.0, 160);
        let a = tone_amplitude(&s, 1000.0, 8000);
        assert!((a - 10000.0).abs() < 5.0, "{a}");
        assert!(tone_amplitude(&s, 1500.0, 8000) < 50.0);
    }

    #[test]
    fn a_clean_sine_has_a_high_snr_and_its_peak_is_found() {
        let s = sine(1000.0, 16000, 8000.0, 1600);
        assert!(tone_snr_db(&s, 1000.0, 16000) > 60.0);
        assert_eq!(peak_frequency(&s, 16000, 100.0, 7900.0, 50.0), 1000.0);
        assert!((rms_dbfs(&s) - 20.0 * (8000.0f64 / 32767.0).log10()).abs() < 0.05);
    }

    #[test]
    fn reset_forgets_the_samples() {
        let mut g = Goertzel::new(1000.0, 8000);
        g.push_i16(&sine(1000.0, 8000, 1000.0, 80));
        assert_eq!(g.len(), 80);
        g.reset();
        assert!(g.is_empty());
        assert_eq!(g.amplitude(), 0.0);
    }
}
