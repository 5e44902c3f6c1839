//! ITU-T G.711: µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).
//!
//! One byte per 8 kHz sample. Decoding is a table look-up (the tables are
//! built at compile time from the Recommendation's segment rules); encoding
//! finds the segment from the position of the highest set bit. 16-bit linear
//! PCM in and out: µ-law uses the top 14 bits, A-law the top 13.

/// µ-law bias added before the segment search (33 in 14-bit units).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent before the bias is added.
const ULAW_CLIP: i32 = 32635;

const fn ulaw_decode_one(byte: u8) -> i16 {
    let u = !byte;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_one(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let segment = ((a >> 4) & 0x07) as i32;
    let mut t = ((a & 0x0F) as i32) << 4;
    t += 8;
    if segment != 0 {
        t = (t + 0x100) << (segment - 1);
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_decode_one(i as u8)
        } else {
            ulaw_decode_one(i as u8)
        };
        i += 1;
    }
    t
}

/// µ-law byte -> 16-bit linear sample.
pub static ULAW_TO_LINEAR: [i16; 256] = build_table(false);
/// A-law byte -> 16-bit linear sample.
pub static ALAW_TO_LINEAR: [i16; 256] = build_table(true);

/// Encodes one 16-bit sample as µ-law.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    // Negative values use the one's complement, as ITU-T G.191's reference does.
    let (sign, mag) = if s < 0 { (0x80, !s) } else { (0x00, s) };
    let mag = mag.min(ULAW_CLIP) + ULAW_BIAS;
    // mag is in 132..=32767: its highest bit is bit 7..=14.
    let exponent = (31 - (mag as u32).leading_zeros()) as i32 - 7;
    let mantissa = (mag >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Encodes one 16-bit sample as A-law.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    // Negative values use the one's complement so that -1..-15 land in the
    // first step like 0..15 do (the A-law characteristic has no zero level).
    let (mask, mag) = if s >= 0 { (0xD5, s) } else { (0x55, !s) };
    let code = if mag >= 256 {
        let exponent = (31 - (mag as u32).leading_zeros()) as i32 - 7;
        let mantissa = (mag >> (exponent + 3)) & 0x0F;
        (exponent << 4) | mantissa
    } else {
        mag >> 4
    };
    (code as u8) ^ mask
}

/// Decodes one µ-law byte.
#[inline]
pub fn ulaw_to_linear(byte: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(byte)]
}

/// Decodes one A-law byte.
#[inline]
pub fn alaw_to_linear(byte: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(byte)]
}

/// Encodes `pcm` as µ-law into `out`; returns the bytes written (`min` of both lengths).
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(pcm) {
        *o = linear_to_ulaw(s);
    }
    n
}

/// Encodes `pcm` as A-law into `out`; returns the bytes written (`min` of both lengths).
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(pcm) {
        *o = linear_to_alaw(s);
    }
    n
}

/// Decodes µ-law `payload` into `out`; returns the samples written (`min` of both lengths).
pub fn decode_ulaw(payload: &[u8], out: &mut [i16]) -> usize {
    let n = payload.len().min(out.len());
    for (o, &b) in out[..n].iter_mut().zip(payload) {
        *o = ulaw_to_linear(b);
    }
    n
}

/// Decodes A-law `payload` into `out`; returns the samples written (`min` of both lengths).
pub fn decode_alaw(payload: &[u8], out: &mut [i16]) -> usize {
    let n = payload.len().min(out.len());
    for (o, &b) in out[..n].iter_mut().zip(payload) {
        *o = alaw_to_linear(b);
    }
    n
}

/// The µ-law byte for silence (linear 0).
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law byte for silence (linear +8, the smallest positive step).
pub const ALAW_SILENCE: u8 = 0xD5;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::goertzel::tone_snr_db;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0xEF), 132); // first step of segment 1
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(ulaw_to_linear(0xCE), 988);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(alaw_to_linear(0xFA), 1008);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for b in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "A-law {b:#04x}");
            let back = linear_to_ulaw(ulaw_to_linear(b));
            // µ-law has two zeros (0x7F and 0xFF); zero encodes as 0xFF.
            if b == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, b, "µ-law {b:#04x}");
            }
        }
    }

    #[test]
    fn encoding_is_monotonic_and_error_is_within_half_a_step() {
        let mut prev_u = i32::MIN;
        let mut prev_a = i32::MIN;
        for x in i16::MIN..=i16::MAX {
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(x)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(x)));
            assert!(u >= prev_u && a >= prev_a, "monotonic at {x}");
            prev_u = u;
            prev_a = a;
            let x = i32::from(x);
            // The step at magnitude m is about m/16 (plus the smallest steps near zero).
            let tol = (x.abs() / 16).max(16) + 1;
            if x.abs() < 32000 {
                assert!((u - x).abs() <= tol, "µ-law {x} -> {u}");
                assert!((a - x).abs() <= tol, "A-law {x} -> {a}");
            }
        }
    }

    #[test]
    fn sine_round_trip_has_about_38_db_snr() {
        let pcm: Vec<i16> = (0..8000)
            .map(|i| (10000.0 * (std::f64::consts::TAU * 1000.0 * i as f64 / 8000.0).sin()) as i16)
            .collect();
        let mut bytes = vec![0u8; pcm.len()];
        let mut back = vec![0i16; pcm.len()];
        assert_eq!(encode_ulaw(&pcm, &mut bytes), 8000);
        assert_eq!(decode_ulaw(&bytes, &mut back), 8000);
        let snr_u = tone_snr_db(&back, 1000.0, 8000);
        encode_alaw(&pcm, &mut bytes);
        decode_alaw(&bytes, &mut back);
        let snr_a = tone_snr_db(&back, 1000.0, 8000);
        assert!(snr_u > 33.0 && snr_a > 33.0, "µ {snr_u:.1} A {snr_a:.1}");
    }

    #[test]
    fn buffers_of_unequal_length_are_clipped_not_overrun() {
        let mut out = [0u8; 3];
        assert_eq!(encode_ulaw(&[1, 2, 3, 4, 5], &mut out), 3);
        let mut pcm = [0i16; 10];
        assert_eq!(decode_alaw(&out, &mut pcm), 3);
    }

    #[test]
    fn agrees_with_sox_when_installed() {
        // sox's G.711 is an implementation nobody here wrote. It rounds 16-bit
        // input to 13/14 bits where G.711 truncates, so encoding is compared
        // on the 13-bit grid (every 8th value) and decoding on every code.
        use std::process::Command;
        let Ok(out) = Command::new("sox").arg("--version").output() else {
            return;
        };
        if !out.status.success() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("dialroom-g711-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pcm: Vec<i16> = (-32768..=32767).step_by(8).map(|x| x as i16).collect();
        let raw: Vec<u8> = pcm.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(dir.join("in.raw"), &raw).unwrap();
        std::fs::write(dir.join("codes"), (0..=255u8).collect::<Vec<u8>>()).unwrap();
        type Enc = fn(&[i16], &mut [u8]) -> usize;
        type Dec = fn(u8) -> i16;
        let laws: [(&str, Enc, Dec); 2] = [
            ("ul", encode_ulaw, ulaw_to_linear),
            ("al", encode_alaw, alaw_to_linear),
        ];
        let pcm_args = [
            "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1",
        ];
        for (ext, enc, dec) in laws {
            let encoded = dir.join(format!("out.{ext}"));
            let status = Command::new("sox")
                .arg("-D")
                .args(pcm_args)
                .arg(dir.join("in.raw"))
                .args(["-t", ext])
                .arg(&encoded)
                .status()
                .unwrap();
            assert!(status.success());
            let theirs = std::fs::read(&encoded).unwrap();
            let mut ours = vec![0u8; pcm.len()];
            enc(&pcm, &mut ours);
            assert_eq!(theirs, ours, "{ext}: encoding differs from sox");

            let decoded = dir.join(format!("dec-{ext}.raw"));
            let status = Command::new("sox")
                .args(["-t", ext, "-r", "8000", "-c", "1"])
                .arg(dir.join("codes"))
                .args(pcm_args)
                .arg(&decoded)
                .status()
                .unwrap();
            assert!(status.success());
            let bytes = std::fs::read(&decoded).unwrap();
            let theirs: Vec<i16> = bytes
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            let ours: Vec<i16> = (0..=255u8).map(dec).collect();
            assert_eq!(theirs, ours, "{ext}: decoding differs from sox");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
