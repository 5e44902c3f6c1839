//! What the legs send: one second of audio per kind of leg, encoded once
//! before the run (50 frames of 20 ms that loop), and the decoders the
//! listening legs use to find the clicks in what they hear.
//!
//! * talker A (the room's clicker): a buzzy voice-like tone (harmonics of
//!   200 Hz, amplitude-modulated at 3 Hz, peak about -16 dBFS) with one click
//!   per loop: 4 ms of a full-scale 1 kHz sine, 5 ms into frame 25;
//! * talker B: the same on 250 Hz, no click;
//! * everyone else: low noise (about -60 dBFS RMS), as a phone with a quiet
//!   room behind it sends, below the server's talk threshold.
//!
//! Opus loops are encoded twice in a row and the second pass kept, so the
//! encoder state at the loop's end matches its start.

use audiopus::coder::{Decoder as OpusDec, Encoder as OpusEnc};
use audiopus::packet::Packet;
use audiopus::{Application, Bitrate, Channels, MutSignals, SampleRate};

/// Frames in one loop (one second).
pub const LOOP: usize = 50;
/// The loop frame that carries the click.
pub const CLICK_FRAME: usize = 25;
/// A decoded sample at or above this magnitude is a click (talkers peak
/// near 5,000, so two of them stay well below).
pub const CLICK_THRESHOLD: i32 = 16_000;
/// Peak of a talker's tone.
const TALK_PEAK: f64 = 5_000.0;
/// Peak of the noise silent legs send.
const NOISE_PEAK: f64 = 40.0;

/// The codec the run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, PT 0.
    Pcmu,
    /// Opus, PT 111, mono 48 kHz, 32 kbit/s.
    Opus,
}

impl Codec {
    pub fn parse(s: &str) -> Option<Codec> {
        match s.to_ascii_lowercase().as_str() {
            "pcmu" | "g711" | "g.711" => Some(Codec::Pcmu),
            "opus" => Some(Codec::Opus),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Opus => "opus",
        }
    }
    pub fn rate(self) -> u32 {
        match self {
            Codec::Pcmu => 8_000,
            Codec::Opus => 48_000,
        }
    }
    pub fn samples(self) -> usize {
        (self.rate() / 50) as usize
    }
    /// RTP timestamp step per packet.
    pub fn ts_step(self) -> u32 {
        self.samples() as u32
    }
    pub fn pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Opus => 111,
        }
    }
}

/// The kinds of legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    Clicker,
    Talker,
    Quiet,
}

/// Deterministic noise in [-1, 1].
struct Lcg(u32);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        f64::from(self.0 >> 8) / f64::from(1u32 << 23) - 1.0
    }
}

/// One second of PCM at `rate` for a voice.
pub fn pcm_loop(voice: Voice, rate: u32) -> Vec<i16> {
    let n = rate as usize;
    let mut noise = Lcg(match voice {
        Voice::Clicker => 1,
        Voice::Talker => 2,
        Voice::Quiet => 3,
    });
    let f0 = match voice {
        Voice::Clicker => 200.0,
        _ => 250.0,
    };
    let mut out = Vec::with_capacity(n);
    let tau = 2.0 * std::f64::consts::PI;
    // Harmonics up to 3.4 kHz with 1/k amplitudes; normalised to TALK_PEAK.
    let harmonics: Vec<(f64, f64)> = (1..)
        .map(|k| (f0 * f64::from(k), 1.0 / f64::from(k)))
        .take_while(|&(f, _)| f <= 3_400.0)
        .collect();
    let norm: f64 = harmonics.iter().map(|h| h.1).sum();
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let v = match voice {
            Voice::Quiet => NOISE_PEAK * noise.next(),
            _ => {
                let env = 0.55 + 0.45 * (tau * 3.0 * t).sin();
                let s: f64 = harmonics
                    .iter()
                    .map(|&(f, a)| a * (tau * f * t).sin())
                    .sum();
                TALK_PEAK * env * s / norm + 100.0 * noise.next()
            }
        };
        out.push(v.round().clamp(-32768.0, 32767.0) as i16);
    }
    if voice == Voice::Clicker {
        // The click: 4 ms of a full-scale 1 kHz sine, 5 ms into frame 25.
        let start = CLICK_FRAME * n / LOOP + (rate as usize) / 200;
        for j in 0..(rate as usize) / 250 {
            let t = j as f64 / f64::from(rate);
            out[start + j] = (32_000.0 * (tau * 1_000.0 * t).sin()).round() as i16;
        }
    }
    out
}

/// G.711 µ-law encoding of one sample (ITU-T G.711, as in G.191).
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let s = i32::from(sample);
    let (sign, mut mag) = if s < 0 {
        (0x80, (-s).min(CLIP))
    } else {
        (0x00, s.min(CLIP))
    };
    mag += BIAS;
    let exponent = (31 - (mag as u32).leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (mag >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// G.711 µ-law decoding.
pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// The encoded loop of one voice: `LOOP` payloads.
pub fn encode_loop(codec: Codec, voice: Voice) -> Vec<Vec<u8>> {
    let pcm = pcm_loop(voice, codec.rate());
    let spf = codec.samples();
    match codec {
        Codec::Pcmu => pcm
            .chunks(spf)
            .map(|f| f.iter().map(|&s| ulaw_encode(s)).collect())
            .collect(),
        Codec::Opus => {
            let mut enc = OpusEnc::new(SampleRate::Hz48000, Channels::Mono, Application::Voip)
                .expect("libopus encoder");
            enc.set_bitrate(Bitrate::BitsPerSecond(32_000))
                .expect("bitrate");
            enc.set_complexity(5).expect("complexity");
            enc.set_inband_fec(true).expect("fec");
            let mut out = Vec::new();
            let mut buf = [0u8; 1275];
            for pass in 0..2 {
                for f in pcm.chunks(spf) {
                    let n = enc.encode(f, &mut buf).expect("opus encode");
                    if pass == 1 {
                        out.push(buf[..n].to_vec());
                    }
                }
            }
            out
        }
    }
}

/// Decodes received payloads to PCM at the codec's rate.
pub enum Dec {
    Pcmu,
    Opus(Box<OpusDec>),
}

impl Dec {
    pub fn new(codec: Codec) -> Dec {
        match codec {
            Codec::Pcmu => Dec::Pcmu,
            Codec::Opus => Dec::Opus(Box::new(
                OpusDec::new(SampleRate::Hz48000, Channels::Mono).expect("libopus decoder"),
            )),
        }
    }

    /// Decodes into `out`; returns the samples written.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            Dec::Pcmu => {
                let n = payload.len().min(out.len());
                for (o, &b) in out.iter_mut().zip(&payload[..n]) {
                    *o = ulaw_decode(b);
                }
                n
            }
            Dec::Opus(d) => {
                let Ok(p) = Packet::try_from(payload) else {
                    return 0;
                };
                let Ok(s) = MutSignals::try_from(&mut out[..]) else {
                    return 0;
                };
                d.decode(Some(p), s, false).unwrap_or(0)
            }
        }
    }
}

/// The index of the first sample at or above the click threshold.
pub fn find_click(pcm: &[i16]) -> Option<usize> {
    pcm.iter()
        .position(|&s| i32::from(s).abs() >= CLICK_THRESHOLD)
}

/// Where the click is once decoded, as the server sees it: samples after
/// the start of frame `CLICK_FRAME` (Opus moves it by its look-ahead), and
/// the peak it reaches. Found by decoding the clicker's own loop twice.
pub fn calibrate(codec: Codec, frames: &[Vec<u8>]) -> (usize, i16) {
    let spf = codec.samples();
    let mut dec = Dec::new(codec);
    let mut pcm = vec![0i16; 5760];
    let mut found = None;
    let mut peak = 0i16;
    for pass in 0..2 {
        for (i, f) in frames.iter().enumerate() {
            let n = dec.decode(f, &mut pcm);
            if pass == 1 && (CLICK_FRAME..CLICK_FRAME + 3).contains(&i) {
                if found.is_none()
                    && let Some(k) = find_click(&pcm[..n])
                {
                    found = Some((i - CLICK_FRAME) * spf + k);
                }
                peak = peak.max(
                    pcm[..n]
                        .iter()
                        .map(|s| s.saturating_abs())
                        .max()
                        .unwrap_or(0),
                );
            }
        }
    }
    (found.expect("the click survives our own encoder"), peak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trips_within_its_step() {
        for s in [-32768i16, -20000, -1000, -5, 0, 5, 1000, 20000, 32767] {
            let d = ulaw_decode(ulaw_encode(s));
            let err = (i32::from(d) - i32::from(s)).abs();
            assert!(err <= (i32::from(s).abs() / 16).max(8) + 140, "{s} -> {d}");
        }
        assert_eq!(ulaw_encode(0), 0xff);
    }

    #[test]
    fn the_click_is_found_where_it_was_put() {
        let f = encode_loop(Codec::Pcmu, Voice::Clicker);
        let (at, peak) = calibrate(Codec::Pcmu, &f);
        assert!((40..44).contains(&at), "{at}");
        assert!(peak > 30_000);
        for v in [Voice::Talker, Voice::Quiet] {
            let f = encode_loop(Codec::Pcmu, v);
            let mut d = Dec::new(Codec::Pcmu);
            let mut pcm = [0i16; 160];
            for p in &f {
                let n = d.decode(p, &mut pcm);
                assert!(find_click(&pcm[..n]).is_none());
            }
        }
    }
}
