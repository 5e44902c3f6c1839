//! Audio codecs for phone legs and the DTMF event payload.
//!
//! [`Codec`] names the four codecs a leg can negotiate and what the RTP and
//! SDP layers need to know about them; an [`Encoder`] / [`Decoder`] pair
//! turns 20 ms of PCM at the codec's native rate into a payload and back.
//! Both are enums over the concrete codecs (no trait objects) and never
//! allocate after construction, so the media worker can call them once per
//! leg per tick. Resampling to and from the mixer's 48 kHz is
//! [`crate::media::resample`]'s job.
//!
//! | codec | PT | SDP rtpmap | RTP clock | PCM rate | 20 ms |
//! |---|---|---|---|---|---|
//! | PCMU | 0 | `PCMU/8000` | 8000 | 8000 | 160 samples, 160 bytes |
//! | PCMA | 8 | `PCMA/8000` | 8000 | 8000 | 160 samples, 160 bytes |
//! | G.722 | 9 | `G722/8000` | 8000 (RFC 3551's historical error) | 16000 | 320 samples, 160 bytes |
//! | Opus | 111 (dynamic) | `opus/48000/2` | 48000 | 48000 (mono) | 960 samples, ~80 bytes |

pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod opus;

use self::g722::{G722Decoder, G722Encoder};
use self::opus::{OpusConfig, OpusDecoder, OpusEncoder, OpusError};

/// A codec a phone leg can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 at 64 kbit/s (wideband).
    G722,
    /// Opus, mono, 20 ms.
    Opus,
}

impl Codec {
    /// Every codec, in the order we prefer them when offering.
    pub const ALL: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

    /// The static RTP payload type (RFC 3551), if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            Codec::Opus => None,
        }
    }

    /// The payload type to offer: the static one, or 111 for Opus (as browsers do).
    pub fn default_payload_type(self) -> u8 {
        self.static_payload_type().unwrap_or(111)
    }

    /// The codec of a static payload type (0, 8, 9).
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            9 => Some(Codec::G722),
            _ => None,
        }
    }

    /// The encoding name as written in SDP.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::Opus => "opus",
        }
    }

    /// The RTP clock rate (what timestamps count; 8000 for G.722, see RFC 3551 §4.5.2).
    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::Opus => 48000,
        }
    }

    /// The channel count written in SDP (Opus is always `/2`, RFC 7587 §7).
    pub fn sdp_channels(self) -> u8 {
        match self {
            Codec::Opus => 2,
            _ => 1,
        }
    }

    /// The `a=rtpmap` value after the payload type.
    pub fn rtpmap(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU/8000",
            Codec::Pcma => "PCMA/8000",
            Codec::G722 => "G722/8000",
            Codec::Opus => "opus/48000/2",
        }
    }

    /// The codec of an SDP encoding name and clock rate (name case-insensitive).
    pub fn from_sdp(name: &str, clock: u32) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name) && c.rtp_clock_rate() == clock)
    }

    /// The PCM sample rate the codec's encoder takes and decoder gives.
    pub fn native_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::G722 => 16000,
            Codec::Opus => 48000,
        }
    }

    /// PCM samples in 20 ms at the native rate (160, 160, 320, 960).
    pub fn samples_per_frame(self) -> usize {
        (self.native_rate() / 50) as usize
    }

    /// RTP timestamp increment per 20 ms packet (160, 160, 160, 960).
    pub fn rtp_ticks_per_frame(self) -> u32 {
        self.rtp_clock_rate() / 50
    }

    /// Whether a receiver that otherwise gets our encoder's packets may be
    /// sent another sender's packet unchanged. G.711 keeps no state. An Opus
    /// decoder does carry state from frame to frame (SILK's long-term
    /// prediction, CELT's energy prediction), so a change of encoder is a
    /// short mismatch, but one it is built to recover from within a frame or
    /// two, as after a lost packet. G.722's ADPCM decoder adapts its
    /// predictor and step size to one encoder's stream and re-converges
    /// slowly and audibly after a switch.
    pub fn passes_on(self) -> bool {
        matches!(self, Codec::Pcmu | Codec::Pcma | Codec::Opus)
    }

    /// The largest payload one 20 ms frame can encode to.
    pub fn max_payload_len(self) -> usize {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 160,
            Codec::Opus => opus::MAX_PAYLOAD,
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.rtpmap())
    }
}

/// What can go wrong encoding or decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// libopus refused a setting, a frame or a packet.
    #[error(transparent)]
    Opus(#[from] OpusError),
    /// The output buffer cannot hold the result.
    #[error("buffer of {got} too small, {needed} needed")]
    BufferTooSmall {
        /// Length needed.
        needed: usize,
        /// Length given.
        got: usize,
    },
}

enum EncoderKind {
    Pcmu,
    Pcma,
    G722(Box<G722Encoder>),
    Opus(OpusEncoder),
}

/// Turns PCM at the codec's native rate into RTP payloads.
pub struct Encoder {
    codec: Codec,
    kind: EncoderKind,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for `codec`; `complexity` (0-10) only matters for Opus,
    /// which otherwise gets [`OpusConfig::default`] (32 kbit/s, in-band FEC).
    pub fn new(codec: Codec, complexity: u8) -> Result<Self, CodecError> {
        Self::with_opus_config(
            codec,
            OpusConfig {
                complexity: complexity.min(10),
                ..OpusConfig::default()
            },
        )
    }

    /// An encoder for `codec` with explicit Opus settings (ignored for the others).
    pub fn with_opus_config(codec: Codec, config: OpusConfig) -> Result<Self, CodecError> {
        let kind = match codec {
            Codec::Pcmu => EncoderKind::Pcmu,
            Codec::Pcma => EncoderKind::Pcma,
            Codec::G722 => EncoderKind::G722(Box::default()),
            Codec::Opus => EncoderKind::Opus(OpusEncoder::new(config)?),
        };
        Ok(Self { codec, kind })
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The Opus encoder, to change its bitrate or expected loss (None for other codecs).
    pub fn opus_mut(&mut self) -> Option<&mut OpusEncoder> {
        match &mut self.kind {
            EncoderKind::Opus(e) => Some(e),
            _ => None,
        }
    }

    /// Starts over as a fresh encoder would (G.711 keeps no state).
    pub fn reset(&mut self) {
        match &mut self.kind {
            EncoderKind::Pcmu | EncoderKind::Pcma => {}
            EncoderKind::G722(e) => **e = G722Encoder::default(),
            EncoderKind::Opus(e) => {
                let _ = e.reset();
            }
        }
    }

    /// Encodes one frame (normally [`Codec::samples_per_frame`] samples) into
    /// `out` ([`Codec::max_payload_len`] bytes is always enough); returns the payload length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let needed = match self.kind {
            EncoderKind::Pcmu | EncoderKind::Pcma => pcm.len(),
            EncoderKind::G722(_) => pcm.len() / 2,
            EncoderKind::Opus(_) => 0,
        };
        if out.len() < needed {
            return Err(CodecError::BufferTooSmall {
                needed,
                got: out.len(),
            });
        }
        Ok(match &mut self.kind {
            EncoderKind::Pcmu => g711::encode_ulaw(pcm, out),
            EncoderKind::Pcma => g711::encode_alaw(pcm, out),
            EncoderKind::G722(e) => e.encode(pcm, out),
            EncoderKind::Opus(e) => e.encode(pcm, out)?,
        })
    }
}

enum DecoderKind {
    Pcmu,
    Pcma,
    G722(Box<G722Decoder>),
    Opus(OpusDecoder),
}

/// Longest frame a G.711/G.722 decoder keeps for concealment (60 ms at 16 kHz).
const MAX_KEPT: usize = 960;
/// Concealed frames before silence: 3 x 20 ms = 60 ms of fading.
const FADE_FRAMES: u32 = 3;

/// Turns RTP payloads into PCM at the codec's native rate, and conceals lost frames.
pub struct Decoder {
    codec: Codec,
    kind: DecoderKind,
    /// The last frame decoded (G.711/G.722), replayed when frames are lost.
    last: Vec<i16>,
    last_len: usize,
    /// Consecutive frames concealed since the last good one.
    lost: u32,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("codec", &self.codec)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: Codec) -> Result<Self, CodecError> {
        let kind = match codec {
            Codec::Pcmu => DecoderKind::Pcmu,
            Codec::Pcma => DecoderKind::Pcma,
            Codec::G722 => DecoderKind::G722(Box::default()),
            Codec::Opus => DecoderKind::Opus(OpusDecoder::new()?),
        };
        let keep = if codec == Codec::Opus { 0 } else { MAX_KEPT };
        Ok(Self {
            codec,
            kind,
            last: vec![0; keep],
            last_len: 0,
            lost: 0,
        })
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Decodes one payload into `out`; returns the samples written. `out`
    /// must hold the whole packet (20 ms is [`Codec::samples_per_frame`];
    /// a longer packet needs a longer buffer, else `BufferTooSmall`).
    /// Arbitrary bytes never panic: G.711/G.722 accept every byte, Opus
    /// reports a corrupt packet as an error.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let needed = match self.kind {
            DecoderKind::Pcmu | DecoderKind::Pcma => payload.len(),
            DecoderKind::G722(_) => payload.len() * 2,
            DecoderKind::Opus(_) => 0,
        };
        if out.len() < needed {
            return Err(CodecError::BufferTooSmall {
                needed,
                got: out.len(),
            });
        }
        let n = match &mut self.kind {
            DecoderKind::Pcmu => g711::decode_ulaw(payload, out),
            DecoderKind::Pcma => g711::decode_alaw(payload, out),
            DecoderKind::G722(d) => d.decode(payload, out),
            DecoderKind::Opus(d) => d.decode(payload, out)?,
        };
        if !self.last.is_empty() && n > 0 {
            let keep = n.min(self.last.len());
            self.last[..keep].copy_from_slice(&out[n - keep..n]);
            self.last_len = keep;
        }
        self.lost = 0;
        Ok(n)
    }

    /// Fills `out` with a stand-in for one lost frame; returns the samples
    /// written (one frame, capped to `out.len()`). Opus uses its own PLC;
    /// G.711/G.722 replay the last good frame, alternately backwards and
    /// forwards (so the joins are continuous), fading to silence over 60 ms.
    pub fn conceal(&mut self, out: &mut [i16]) -> usize {
        self.lost = self.lost.saturating_add(1);
        let frame = self.codec.samples_per_frame().min(out.len());
        if let DecoderKind::Opus(d) = &mut self.kind {
            return match d.decode_lost(out) {
                Ok(n) => n,
                Err(_) => {
                    out[..frame].fill(0);
                    frame
                }
            };
        }
        self.replay(&mut out[..frame]);
        frame
    }

    /// Fills `out` with a stand-in for one lost frame when the packet after it,
    /// `next_payload`, has already arrived: Opus rebuilds the frame from the
    /// in-band FEC in that packet; the others conceal as [`conceal`](Self::conceal).
    /// Decode `next_payload` normally afterwards.
    pub fn recover(&mut self, next_payload: &[u8], out: &mut [i16]) -> usize {
        if let DecoderKind::Opus(d) = &mut self.kind {
            self.lost = self.lost.saturating_add(1);
            match d.decode_fec(next_payload, out) {
                Ok(n) => return n,
                Err(_) => {
                    self.lost -= 1;
                }
            }
        }
        self.conceal(out)
    }

    /// Consecutive frames concealed since the last decoded one.
    pub fn lost_in_a_row(&self) -> u32 {
        self.lost
    }

    fn replay(&mut self, out: &mut [i16]) {
        let len = self.last_len;
        let k = self.lost; // 1 for the first lost frame
        if len == 0 || k > FADE_FRAMES {
            out.fill(0);
            return;
        }
        let total = (FADE_FRAMES as usize * out.len()) as f32;
        let done = ((k - 1) as usize * out.len()) as f32;
        let backwards = k % 2 == 1;
        for (i, o) in out.iter_mut().enumerate() {
            // Position in the replayed frame, bouncing off both ends.
            let j = i % len;
            let pass = (i / len) % 2 == 1;
            let src = if backwards != pass { len - 1 - j } else { j };
            let gain = 1.0 - (done + i as f32) / total;
            *o = (f32::from(self.last[src]) * gain).round() as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::{tone_amplitude, tone_snr_db};
    use crate::media::tones::Sine;

    #[test]
    fn sdp_names_clock_rates_and_frame_sizes() {
        let rows: Vec<_> = [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus]
            .into_iter()
            .map(|c| {
                (
                    c.default_payload_type(),
                    c.rtpmap(),
                    c.native_rate(),
                    c.samples_per_frame(),
                    c.rtp_ticks_per_frame(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (0, "PCMU/8000", 8000, 160, 160),
                (8, "PCMA/8000", 8000, 160, 160),
                (9, "G722/8000", 16000, 320, 160),
                (111, "opus/48000/2", 48000, 960, 960),
            ]
        );
        assert_eq!(Codec::from_sdp("pcmu", 8000), Some(Codec::Pcmu));
        assert_eq!(Codec::from_sdp("OPUS", 48000), Some(Codec::Opus));
        assert_eq!(Codec::from_sdp("G722", 16000), None);
        assert_eq!(Codec::from_sdp("GSM", 8000), None);
        assert_eq!(Codec::from_static_payload_type(9), Some(Codec::G722));
        assert_eq!(Codec::from_static_payload_type(111), None);
        assert_eq!(Codec::Opus.to_string(), "opus/48000/2");
        assert_eq!(Codec::Opus.sdp_channels(), 2);
    }

    #[test]
    fn every_codec_round_trips_a_tone_frame_by_frame() {
        for codec in Codec::ALL {
            let rate = codec.native_rate();
            let mut enc = Encoder::new(codec, 5).unwrap();
            let mut dec = Decoder::new(codec).unwrap();
            let mut src = Sine::new(1000.0, rate, -10.0);
            let mut pcm = vec![0i16; codec.samples_per_frame()];
            let mut payload = vec![0u8; codec.max_payload_len()];
            let mut frame = vec![0i16; codec.samples_per_frame()];
            let mut out = Vec::new();
            for _ in 0..25 {
                src.fill(&mut pcm);
                let n = enc.encode(&pcm, &mut payload).unwrap();
                assert!(n > 0 && n <= codec.max_payload_len());
                assert_eq!(dec.decode(&payload[..n], &mut frame).unwrap(), frame.len());
                out.extend_from_slice(&frame);
            }
            let w = &out[out.len() / 2..];
            let snr = tone_snr_db(w, 1000.0, rate);
            assert!(snr > 25.0, "{codec}: {snr} dB");
            assert_eq!(enc.codec(), codec);
            assert_eq!(dec.codec(), codec);
        }
    }

    #[test]
    fn buffers_that_are_too_small_are_errors() {
        let mut enc = Encoder::new(Codec::Pcmu, 0).unwrap();
        assert_eq!(
            enc.encode(&[0; 160], &mut [0; 100]),
            Err(CodecError::BufferTooSmall {
                needed: 160,
                got: 100
            })
        );
        let mut dec = Decoder::new(Codec::G722).unwrap();
        assert_eq!(
            dec.decode(&[0; 240], &mut [0; 320]),
            Err(CodecError::BufferTooSmall {
                needed: 480,
                got: 320
            })
        );
        assert!(Encoder::new(Codec::Opus, 10).unwrap().opus_mut().is_some());
        assert!(Encoder::new(Codec::G722, 10).unwrap().opus_mut().is_none());
    }

    #[test]
    fn concealment_repeats_then_fades_to_silence_after_60ms() {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            let rate = codec.native_rate();
            let n = codec.samples_per_frame();
            let mut enc = Encoder::new(codec, 0).unwrap();
            let mut dec = Decoder::new(codec).unwrap();
            let mut src = Sine::new(500.0, rate, -10.0);
            let mut pcm = vec![0i16; n];
            let mut payload = vec![0u8; 160];
            let mut frame = vec![0i16; n];
            for _ in 0..10 {
                src.fill(&mut pcm);
                let len = enc.encode(&pcm, &mut payload).unwrap();
                dec.decode(&payload[..len], &mut frame).unwrap();
            }
            let level = tone_amplitude(&frame, 500.0, rate);
            let mut levels = Vec::new();
            for _ in 0..4 {
                assert_eq!(dec.conceal(&mut frame), n);
                levels.push(tone_amplitude(&frame, 500.0, rate) / level);
            }
            assert_eq!(dec.lost_in_a_row(), 4);
            // Progressively quieter, then silent.
            assert!(levels[0] > 0.6 && levels[0] < 1.0, "{codec}: {levels:?}");
            assert!(
                levels[1] < levels[0] && levels[2] < levels[1],
                "{codec}: {levels:?}"
            );
            assert!(
                frame.iter().all(|&x| x == 0),
                "{codec}: not silent after 60 ms"
            );
            // The first concealed sample continues the last decoded one.
            let mut dec2 = Decoder::new(codec).unwrap();
            let len = enc.encode(&pcm, &mut payload).unwrap();
            dec2.decode(&payload[..len], &mut frame).unwrap();
            let last = frame[n - 1];
            dec2.conceal(&mut frame);
            assert!(
                (i32::from(frame[0]) - i32::from(last)).abs() < 200,
                "{codec}: jump"
            );
            // A good frame resets the count.
            dec2.decode(&payload[..len], &mut frame).unwrap();
            assert_eq!(dec2.lost_in_a_row(), 0);
        }
    }

    #[test]
    fn concealment_before_any_frame_is_silence() {
        for codec in Codec::ALL {
            let mut dec = Decoder::new(codec).unwrap();
            let mut out = vec![1i16; codec.samples_per_frame()];
            assert_eq!(dec.conceal(&mut out), out.len());
            assert!(out.iter().all(|&x| x.abs() < 10), "{codec}");
        }
    }

    #[test]
    fn opus_recovers_a_lost_frame_from_the_next_packet() {
        let mut enc = Encoder::new(Codec::Opus, 5).unwrap();
        enc.opus_mut().unwrap().set_packet_loss_percent(20).unwrap();
        let mut dec = Decoder::new(Codec::Opus).unwrap();
        let mut src = Sine::new(440.0, 48000, -10.0);
        let mut pcm = [0i16; 960];
        let mut payloads = Vec::new();
        for _ in 0..12 {
            src.fill(&mut pcm);
            let mut p = vec![0u8; 1275];
            let n = enc.encode(&pcm, &mut p).unwrap();
            p.truncate(n);
            payloads.push(p);
        }
        let mut out = [0i16; 960];
        for p in &payloads[..10] {
            dec.decode(p, &mut out).unwrap();
        }
        assert_eq!(dec.recover(&payloads[11], &mut out), 960);
        assert!(tone_amplitude(&out, 440.0, 48000) > 3000.0);
        assert_eq!(dec.decode(&payloads[11], &mut out).unwrap(), 960);
        // Garbage "next packet": falls back to PLC.
        assert_eq!(dec.recover(&[0xFF, 0xFF, 0xFF], &mut out), 960);
    }

    #[test]
    fn random_payloads_never_panic() {
        let mut x: u32 = 1;
        let mut payload = [0u8; 400];
        for codec in Codec::ALL {
            let mut dec = Decoder::new(codec).unwrap();
            let mut out = vec![0i16; 5760];
            for len in 0..400 {
                for b in payload[..len].iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *b = x as u8;
                }
                let _ = dec.decode(&payload[..len], &mut out);
                let _ = dec.decode(&payload[..len], &mut out[..3]);
                if len % 7 == 0 {
                    dec.conceal(&mut out);
                    dec.recover(&payload[..len], &mut out[..17]);
                }
            }
        }
    }
}
