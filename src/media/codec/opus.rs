//! Opus (RFC 6716, RTP per RFC 7587) through libopus: mono, 48 kHz, 20 ms.
//!
//! A thin, allocation-free wrapper over `audiopus`: the caller owns the PCM
//! and payload buffers. The encoder is set up for speech (`VOIP`
//! application) with a configurable bitrate and complexity, in-band FEC and
//! the expected packet loss; the decoder decodes a payload, conceals a lost
//! frame (PLC), or rebuilds a lost frame from the FEC carried in the next one.
//! A stereo payload from a peer (the SDP name is always `opus/48000/2`) is
//! mixed down to mono by libopus.

use audiopus::coder::{Decoder as LibDecoder, Encoder as LibEncoder, GenericCtl};
use audiopus::packet::Packet;
use audiopus::{Application, Bitrate, Channels, MutSignals, SampleRate};

/// Samples in one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// The largest Opus packet (RFC 6716 §3.4: 1275 bytes per frame); a payload
/// buffer this long always suffices for one frame.
pub const MAX_PAYLOAD: usize = 1275;
/// The longest audio one packet can carry: 120 ms at 48 kHz.
pub const MAX_PACKET_SAMPLES: usize = 5760;

/// What can go wrong with Opus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpusError {
    /// libopus refused a setting or a packet (a corrupt payload lands here).
    #[error("opus: {0}")]
    Lib(#[from] audiopus::Error),
    /// Encoder input must be 2.5, 5, 10, 20, 40 or 60 ms at 48 kHz.
    #[error("opus frame of {0} samples is not 120, 240, 480, 960, 1920 or 2880")]
    FrameSize(usize),
    /// An RTP packet with no payload is not an Opus packet.
    #[error("empty opus payload")]
    EmptyPayload,
    /// Complexity is 0 (fastest) to 10 (best).
    #[error("opus complexity {0} is not in 0..=10")]
    Complexity(u8),
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// Target bitrate in bit/s (RFC 7587 suggests 20-32 kbit/s for wideband speech).
    pub bitrate: u32,
    /// 0 (cheapest) to 10 (best); the mixer encodes many streams, so 5 is a good default.
    pub complexity: u8,
    /// Carry a low-bitrate copy of each frame in the next one (LBRR).
    pub inband_fec: bool,
    /// Expected packet loss in percent; FEC is only sent when this is above 0.
    pub packet_loss_percent: u8,
}

impl Default for OpusConfig {
    fn default() -> Self {
        Self {
            bitrate: 32_000,
            complexity: 5,
            inband_fec: true,
            packet_loss_percent: 5,
        }
    }
}

/// A mono 48 kHz Opus encoder.
pub struct OpusEncoder {
    inner: LibEncoder,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder with `config`.
    pub fn new(config: OpusConfig) -> Result<Self, OpusError> {
        let inner = LibEncoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip)?;
        let mut e = Self { inner };
        e.set_complexity(config.complexity)?;
        e.set_bitrate(config.bitrate)?;
        e.set_inband_fec(config.inband_fec)?;
        e.set_packet_loss_percent(config.packet_loss_percent)?;
        Ok(e)
    }

    /// Sets the target bitrate in bit/s (500 to 512 000).
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), OpusError> {
        let bps = i32::try_from(bitrate.clamp(500, 512_000)).unwrap_or(512_000);
        Ok(self.inner.set_bitrate(Bitrate::BitsPerSecond(bps))?)
    }

    /// Sets the computational complexity (0-10).
    pub fn set_complexity(&mut self, complexity: u8) -> Result<(), OpusError> {
        if complexity > 10 {
            return Err(OpusError::Complexity(complexity));
        }
        Ok(self.inner.set_complexity(complexity)?)
    }

    /// Turns in-band forward error correction on or off.
    pub fn set_inband_fec(&mut self, enable: bool) -> Result<(), OpusError> {
        Ok(self.inner.set_inband_fec(enable)?)
    }

    /// Tells the encoder how much loss to expect (0-100 %), e.g. from RTCP receiver reports.
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> Result<(), OpusError> {
        Ok(self.inner.set_packet_loss_perc(percent.min(100))?)
    }

    /// Forgets the audio encoded so far, as a fresh encoder would (for a
    /// stream that resumes after a gap, or after packets from elsewhere).
    pub fn reset(&mut self) -> Result<(), OpusError> {
        Ok(self.inner.reset_state()?)
    }

    /// The encoder's look-ahead in 48 kHz samples (part of the end-to-end delay).
    pub fn lookahead(&self) -> Result<u32, OpusError> {
        Ok(self.inner.lookahead()?)
    }

    /// Encodes one frame (960 samples for 20 ms) into `out`; returns the payload length.
    /// `out` should hold [`MAX_PAYLOAD`] bytes.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        if !matches!(pcm.len(), 120 | 240 | 480 | 960 | 1920 | 2880) {
            return Err(OpusError::FrameSize(pcm.len()));
        }
        Ok(self.inner.encode(pcm, out)?)
    }
}

/// What a receiver's Opus `a=fmtp` asks of the packets it is sent
/// (RFC 7587 §6.1), as far as it matters for passing a packet from another
/// encoder on unchanged. Parsed once per negotiation; unknown parameters
/// and malformed values are ignored, as the RFC asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpusReceiver {
    /// `maxaveragebitrate`: the most it wants to receive, in bit/s.
    pub max_average_bitrate: Option<u32>,
    /// `stereo=1`: it prefers stereo (it can decode stereo either way, but
    /// `stereo=0` asks for mono).
    pub stereo: bool,
    /// `cbr=1`: it wants constant bitrate.
    pub cbr: bool,
}

impl OpusReceiver {
    /// The preferences in a receiver's fmtp parameters (`None`: it gave none).
    pub fn parse(fmtp: Option<&str>) -> OpusReceiver {
        let mut r = OpusReceiver::default();
        for param in fmtp.unwrap_or("").split(';') {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "maxaveragebitrate" => r.max_average_bitrate = value.parse().ok(),
                "stereo" => r.stereo = value == "1",
                "cbr" => r.cbr = value == "1",
                _ => {}
            }
        }
        r
    }

    /// Whether `packet`, one 20 ms Opus packet another encoder made, may be
    /// sent to this receiver as it is: no longer than one frame may be
    /// ([`MAX_PAYLOAD`]), mono unless it prefers stereo, and not to a
    /// receiver that asked for constant bitrate. `average_bitrate` is the
    /// sender's recent average (bit/s), held against `maxaveragebitrate`: a
    /// single packet of a VBR stream may be over it.
    pub fn takes(&self, packet: &[u8], average_bitrate: u32) -> bool {
        let Some(&toc) = packet.first() else {
            return false;
        };
        let stereo = toc & 0x04 != 0;
        packet.len() <= MAX_PAYLOAD
            && !self.cbr
            && (!stereo || self.stereo)
            && self
                .max_average_bitrate
                .is_none_or(|max| average_bitrate <= max)
    }
}

/// A mono 48 kHz Opus decoder.
pub struct OpusDecoder {
    inner: LibDecoder,
    /// Samples in the last frame decoded, the length a concealed frame gets.
    last_len: usize,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("last_len", &self.last_len)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder.
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            inner: LibDecoder::new(SampleRate::Hz48000, Channels::Mono)?,
            last_len: FRAME_SAMPLES,
        })
    }

    /// Decodes `payload` into `out`; returns the samples written (960 for a
    /// 20 ms packet). `out` must hold the packet's whole duration
    /// ([`MAX_PACKET_SAMPLES`] covers any packet). A corrupt payload is an
    /// error, never a panic.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        let packet = Packet::try_from(payload).map_err(|_| OpusError::EmptyPayload)?;
        let signals = MutSignals::try_from(out)?;
        let n = self.inner.decode(Some(packet), signals, false)?;
        if n > 0 {
            self.last_len = n;
        }
        Ok(n)
    }

    /// Conceals one lost frame (libopus PLC) into `out[..len]`, where `len`
    /// is the last frame's length (960 by default) capped to `out.len()`
    /// and rounded down to 2.5 ms; returns the samples written.
    pub fn decode_lost(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        let len = self.last_len.min(out.len()) / 120 * 120;
        if len == 0 {
            return Ok(0);
        }
        let signals = MutSignals::try_from(&mut out[..len])?;
        Ok(self.inner.decode(None, signals, false)?)
    }

    /// Rebuilds the lost frame before `next_payload` from the FEC data that
    /// packet carries, into `out[..len]` as for [`decode_lost`](Self::decode_lost);
    /// libopus falls back to PLC when the packet has none. Decode
    /// `next_payload` normally afterwards.
    pub fn decode_fec(&mut self, next_payload: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        let len = self.last_len.min(out.len()) / 120 * 120;
        if len == 0 {
            return Ok(0);
        }
        let packet = Packet::try_from(next_payload).map_err(|_| OpusError::EmptyPayload)?;
        let signals = MutSignals::try_from(&mut out[..len])?;
        Ok(self.inner.decode(Some(packet), signals, true)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::{peak_frequency, tone_amplitude, tone_snr_db};
    use crate::media::tones::Sine;

    fn frames(freq: f64, n: usize) -> Vec<[i16; FRAME_SAMPLES]> {
        let mut s = Sine::new(freq, 48000, -12.0);
        (0..n)
            .map(|_| {
                let mut f = [0i16; FRAME_SAMPLES];
                s.fill(&mut f);
                f
            })
            .collect()
    }

    #[test]
    fn a_receivers_fmtp_decides_which_packets_it_takes_unchanged() {
        let mono = [0x78u8; 80]; // TOC: CELT FB 20 ms, mono
        let stereo = [0x7cu8; 80];
        let any = OpusReceiver::parse(None);
        assert!(any.takes(&mono, 32_000));
        assert!(
            !any.takes(&stereo, 32_000),
            "stereo=0 is the default: mono wanted"
        );
        assert!(!any.takes(&[], 0));
        let padded = [0x78u8; MAX_PAYLOAD + 1];
        assert!(!any.takes(&padded, 32_000), "longer than one frame may be");
        let r = OpusReceiver::parse(Some(
            "minptime=10; useinbandfec=1;stereo=1;maxaveragebitrate=24000",
        ));
        assert_eq!(
            r,
            OpusReceiver {
                max_average_bitrate: Some(24_000),
                stereo: true,
                cbr: false
            }
        );
        assert!(!r.takes(&mono, 32_000), "a 32 kbit/s stream is over 24");
        assert!(
            r.takes(&mono, 20_000),
            "one big packet of a stream averaging under the limit"
        );
        assert!(r.takes(&stereo, 20_000));
        assert!(!OpusReceiver::parse(Some("cbr=1")).takes(&mono, 20_000));
        assert_eq!(
            OpusReceiver::parse(Some("maxaveragebitrate=lots;stereo;=1")),
            OpusReceiver::default()
        );
    }

    #[test]
    fn a_reset_encoder_encodes_as_a_fresh_one() {
        let mut fresh = OpusEncoder::new(OpusConfig::default()).unwrap();
        let mut used = OpusEncoder::new(OpusConfig::default()).unwrap();
        let mut a = [0u8; MAX_PAYLOAD];
        let mut b = [0u8; MAX_PAYLOAD];
        for f in frames(300.0, 10) {
            used.encode(&f, &mut a).unwrap();
        }
        used.reset().unwrap();
        for f in frames(1000.0, 5) {
            let n = fresh.encode(&f, &mut a).unwrap();
            let m = used.encode(&f, &mut b).unwrap();
            assert_eq!(a[..n], b[..m]);
        }
    }

    #[test]
    fn a_tone_round_trips_with_its_frequency_and_level() {
        let mut enc = OpusEncoder::new(OpusConfig::default()).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut payload = [0u8; MAX_PAYLOAD];
        let mut out = Vec::new();
        let mut pcm = [0i16; FRAME_SAMPLES];
        for f in frames(1000.0, 50) {
            let n = enc.encode(&f, &mut payload).unwrap();
            assert!(n > 0 && n < 400, "{n} bytes");
            assert_eq!(dec.decode(&payload[..n], &mut pcm).unwrap(), FRAME_SAMPLES);
            out.extend_from_slice(&pcm);
        }
        let w = &out[9600..9600 + 4800];
        let snr = tone_snr_db(w, 1000.0, 48000);
        let gain = 20.0 * (tone_amplitude(w, 1000.0, 48000) / (32767.0 * 10f64.powf(-0.6))).log10();
        eprintln!(
            "Opus 1 kHz at 32 kbit/s: SNR {snr:.1} dB, gain {gain:.2} dB, lookahead {}",
            enc.lookahead().unwrap()
        );
        assert!(snr > 20.0, "SNR {snr}");
        assert!(gain.abs() < 1.0, "gain {gain}");
        assert_eq!(peak_frequency(w, 48000, 200.0, 8000.0, 50.0), 1000.0);
    }

    #[test]
    fn a_lost_frame_is_concealed_and_fec_rebuilds_it() {
        let cfg = OpusConfig {
            packet_loss_percent: 20,
            ..OpusConfig::default()
        };
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut payloads = Vec::new();
        let mut buf = [0u8; MAX_PAYLOAD];
        for f in frames(440.0, 30) {
            let n = enc.encode(&f, &mut buf).unwrap();
            payloads.push(buf[..n].to_vec());
        }
        let mut pcm = [0i16; FRAME_SAMPLES];

        // PLC: frame 20 lost, nothing after it yet.
        let mut dec = OpusDecoder::new().unwrap();
        for p in &payloads[..20] {
            dec.decode(p, &mut pcm).unwrap();
        }
        assert_eq!(dec.decode_lost(&mut pcm).unwrap(), FRAME_SAMPLES);
        let plc = tone_amplitude(&pcm, 440.0, 48000);
        assert!(plc > 500.0, "PLC went silent: {plc}");

        // FEC: frame 20 lost, frame 21 arrived and carries it.
        let mut dec = OpusDecoder::new().unwrap();
        for p in &payloads[..20] {
            dec.decode(p, &mut pcm).unwrap();
        }
        assert_eq!(
            dec.decode_fec(&payloads[21], &mut pcm).unwrap(),
            FRAME_SAMPLES
        );
        let fec = tone_amplitude(&pcm, 440.0, 48000);
        // Compare with frame 20 as decoded without loss.
        let mut clean = OpusDecoder::new().unwrap();
        let mut reference = [0i16; FRAME_SAMPLES];
        for p in &payloads[..21] {
            clean.decode(p, &mut reference).unwrap();
        }
        let err: f64 = reference
            .iter()
            .zip(&pcm)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum();
        let sig: f64 = reference.iter().map(|&a| f64::from(a).powi(2)).sum();
        let fec_snr = 10.0 * (sig / err.max(1.0)).log10();
        eprintln!(
            "Opus 440 Hz: PLC amplitude {plc:.0}, FEC amplitude {fec:.0}, FEC vs clean {fec_snr:.1} dB"
        );
        assert!(fec > 2000.0, "FEC frame too weak: {fec}");
        assert!(fec_snr > 6.0, "FEC frame unlike the lost one: {fec_snr} dB");
        assert_eq!(dec.decode(&payloads[21], &mut pcm).unwrap(), FRAME_SAMPLES);
    }

    #[test]
    fn settings_are_checked() {
        let mut enc = OpusEncoder::new(OpusConfig::default()).unwrap();
        assert_eq!(enc.set_complexity(11), Err(OpusError::Complexity(11)));
        enc.set_complexity(0).unwrap();
        enc.set_bitrate(6_000).unwrap();
        enc.set_inband_fec(false).unwrap();
        enc.set_packet_loss_percent(250).unwrap();
        let mut out = [0u8; MAX_PAYLOAD];
        assert_eq!(
            enc.encode(&[0; 100], &mut out),
            Err(OpusError::FrameSize(100))
        );
        assert!(enc.encode(&[0; 960], &mut out).unwrap() > 0);
    }

    #[test]
    fn garbage_payloads_are_errors_not_panics() {
        let mut dec = OpusDecoder::new().unwrap();
        let mut pcm = [0i16; MAX_PACKET_SAMPLES];
        assert_eq!(dec.decode(&[], &mut pcm), Err(OpusError::EmptyPayload));
        let mut x: u32 = 7;
        let mut payload = [0u8; 200];
        for len in 1..200 {
            for b in payload[..len].iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            let _ = dec.decode(&payload[..len], &mut pcm);
            let _ = dec.decode(&payload[..len], &mut pcm[..10]);
            let _ = dec.decode_fec(&payload[..len], &mut pcm);
        }
        assert!(dec.decode_lost(&mut pcm[..960]).is_ok());
        assert_eq!(dec.decode_lost(&mut pcm[..100]).unwrap(), 0);
    }
}
