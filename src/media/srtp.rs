//! SRTP and SRTCP (RFC 3711) with the SDES suites phones offer
//! (RFC 4568): `AES_CM_128_HMAC_SHA1_80` and `AES_CM_128_HMAC_SHA1_32`.
//! Sans-IO: a [`Context`] protects what a media leg sends and checks and
//! decrypts what it receives, in place, in the worker's own buffers.
//!
//! * Session keys come from each side's master key and salt with the AES-CM
//!   key derivation (§4.3.1, key derivation rate 0).
//! * The packet index is the 16-bit sequence number extended by a rollover
//!   counter, guessed on receipt as Appendix A says, and only updated once
//!   the packet authenticated.
//! * A replay of a recent packet is dropped (a 64-packet window, §3.3.2).
//! * SRTCP always carries an 80-bit tag (RFC 4568 §6.2.2) and encrypts
//!   everything after the first 8 bytes.

use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use base64::Engine;

/// Master key length (AES-128).
const KEY_LEN: usize = 16;
/// Master salt length.
const SALT_LEN: usize = 14;
/// SRTCP tag length (both suites).
const SRTCP_TAG: usize = 10;

/// An SDES crypto suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// 80-bit authentication tag.
    AesCm128HmacSha1_80,
    /// 32-bit tag on SRTP (80 on SRTCP).
    AesCm128HmacSha1_32,
}

impl Suite {
    /// The SDP name.
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite an SDP name stands for, if we do it.
    pub fn from_name(s: &str) -> Option<Suite> {
        match s {
            "AES_CM_128_HMAC_SHA1_80" => Some(Suite::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Suite::AesCm128HmacSha1_32),
            _ => None,
        }
    }

    fn rtp_tag(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }
}

/// One side's master key and salt (the `inline:` value of `a=crypto`).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    key: [u8; KEY_LEN],
    salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh random key and salt.
    pub fn random() -> MasterKey {
        MasterKey {
            key: rand::random(),
            salt: rand::random(),
        }
    }

    /// From the base64 of key || salt (30 bytes); `None` if it is not that.
    pub fn from_inline(b64: &str) -> Option<MasterKey> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        if raw.len() != KEY_LEN + SALT_LEN {
            return None;
        }
        let mut k = MasterKey {
            key: [0; KEY_LEN],
            salt: [0; SALT_LEN],
        };
        k.key.copy_from_slice(&raw[..KEY_LEN]);
        k.salt.copy_from_slice(&raw[KEY_LEN..]);
        Some(k)
    }

    /// The base64 of key || salt.
    pub fn inline(&self) -> String {
        let mut raw = Vec::with_capacity(KEY_LEN + SALT_LEN);
        raw.extend_from_slice(&self.key);
        raw.extend_from_slice(&self.salt);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

/// What SDES agreed for a leg: the suite, our key (for what we send) and
/// the peer's (for what it sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The suite.
    pub suite: Suite,
    /// Ours.
    pub ours: MasterKey,
    /// The peer's.
    pub theirs: MasterKey,
}

/// The keys of one direction, RTP or RTCP.
struct SessionKeys {
    enc: EncryptingKey,
    auth: hmac::Key,
    salt: [u8; SALT_LEN],
}

/// AES-CM keystream for `iv` XORed into `data`.
fn ctr(key: &EncryptingKey, iv: [u8; 16], data: &mut [u8]) -> bool {
    key.less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .is_ok()
}

impl SessionKeys {
    /// §4.3.1: the session keys of labels `base`, `base + 1`, `base + 2`.
    fn derive(master: &MasterKey, base: u8) -> Option<SessionKeys> {
        let mk = EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &master.key).ok()?).ok()?;
        let prf = |label: u8, out: &mut [u8]| -> bool {
            let mut iv = [0u8; 16];
            iv[..SALT_LEN].copy_from_slice(&master.salt);
            iv[7] ^= label;
            out.fill(0);
            ctr(&mk, iv, out)
        };
        let (mut k, mut a, mut s) = ([0u8; KEY_LEN], [0u8; 20], [0u8; SALT_LEN]);
        if !(prf(base, &mut k) && prf(base + 1, &mut a) && prf(base + 2, &mut s)) {
            return None;
        }
        Some(SessionKeys {
            enc: EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &k).ok()?).ok()?,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &a),
            salt: s,
        })
    }

    /// §4.1.1: the IV of packet `index` of `ssrc`.
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..SALT_LEN].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        iv
    }

    fn tag(&self, parts: &[&[u8]]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.auth);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign()
    }
}

/// What arrives from one peer: the rollover counter, the highest sequence
/// number and the replay window.
#[derive(Debug, Default, Clone, Copy)]
struct RxState {
    roc: u32,
    s_l: Option<u16>,
    /// Bit n: index (highest - n) was seen.
    window: u64,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// Shorter than a header and a tag.
    #[error("too short")]
    Short,
    /// The tag does not match (wrong key, or altered).
    #[error("authentication failed")]
    Auth,
    /// Seen already.
    #[error("replayed")]
    Replay,
    /// No room for the tag, or the cipher failed.
    #[error("cannot protect")]
    Protect,
}

/// SRTP for one media leg: our key for what we send, the peer's for what
/// it sends.
pub struct Context {
    suite: Suite,
    tx_rtp: SessionKeys,
    tx_rtcp: SessionKeys,
    rx_rtp: SessionKeys,
    rx_rtcp: SessionKeys,
    tx_roc: u32,
    tx_last: Option<u16>,
    tx_rtcp_index: u32,
    rx: RxState,
    rx_ctl: RxState,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "srtp::Context({})", self.suite.name())
    }
}

/// The length of an RTP header with its CSRCs and extension, if whole.
fn rtp_header_len(p: &[u8]) -> Option<usize> {
    if p.len() < 12 {
        return None;
    }
    let mut n = 12 + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        let ext = p.get(n + 2..n + 4)?;
        n += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    (n <= p.len()).then_some(n)
}

impl Context {
    /// A context sending with `ours` and receiving with `theirs`.
    pub fn new(suite: Suite, ours: &MasterKey, theirs: &MasterKey) -> Option<Context> {
        Some(Context {
            suite,
            tx_rtp: SessionKeys::derive(ours, 0)?,
            tx_rtcp: SessionKeys::derive(ours, 3)?,
            rx_rtp: SessionKeys::derive(theirs, 0)?,
            rx_rtcp: SessionKeys::derive(theirs, 3)?,
            tx_roc: 0,
            tx_last: None,
            tx_rtcp_index: 0,
            rx: RxState::default(),
            rx_ctl: RxState::default(),
        })
    }

    /// The context for what SDES agreed.
    pub fn from_keys(k: &Keys) -> Option<Context> {
        Context::new(k.suite, &k.ours, &k.theirs)
    }

    /// Encrypts the RTP packet in `buf[..len]` and appends its tag;
    /// returns the new length (`buf` needs room for the tag).
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtp_tag();
        if buf.len() < len + tag_len {
            return Err(SrtpError::Protect);
        }
        let h = rtp_header_len(&buf[..len]).ok_or(SrtpError::Short)?;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        if self
            .tx_last
            .is_some_and(|last| seq < last && last - seq > 0x8000)
        {
            self.tx_roc = self.tx_roc.wrapping_add(1);
        }
        self.tx_last = Some(seq);
        let index = (u64::from(self.tx_roc) << 16) | u64::from(seq);
        let iv = self.tx_rtp.iv(ssrc, index);
        if !ctr(&self.tx_rtp.enc, iv, &mut buf[h..len]) {
            return Err(SrtpError::Protect);
        }
        let tag = self.tx_rtp.tag(&[&buf[..len], &self.tx_roc.to_be_bytes()]);
        buf[len..len + tag_len].copy_from_slice(&tag.as_ref()[..tag_len]);
        Ok(len + tag_len)
    }

    /// Checks and decrypts the SRTP packet in `buf`; returns the length of
    /// the RTP packet left at its start.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtp_tag();
        if buf.len() < 12 + tag_len {
            return Err(SrtpError::Short);
        }
        let len = buf.len() - tag_len;
        let h = rtp_header_len(&buf[..len]).ok_or(SrtpError::Short)?;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        // Appendix A: the rollover counter this packet was sent with.
        let rx = self.rx;
        let v = match rx.s_l {
            None => rx.roc,
            Some(s_l) if s_l < 0x8000 => {
                if seq > s_l && seq - s_l > 0x8000 {
                    rx.roc.wrapping_sub(1)
                } else {
                    rx.roc
                }
            }
            Some(s_l) => {
                if seq < s_l - 0x8000 {
                    rx.roc.wrapping_add(1)
                } else {
                    rx.roc
                }
            }
        };
        let index = (u64::from(v) << 16) | u64::from(seq);
        let highest = rx.s_l.map(|s| (u64::from(rx.roc) << 16) | u64::from(s));
        check_replay(&rx, highest, index)?;
        let tag = self.rx_rtp.tag(&[&buf[..len], &v.to_be_bytes()]);
        if !constant_eq(&tag.as_ref()[..tag_len], &buf[len..]) {
            return Err(SrtpError::Auth);
        }
        let iv = self.rx_rtp.iv(ssrc, index);
        if !ctr(&self.rx_rtp.enc, iv, &mut buf[h..len]) {
            return Err(SrtpError::Protect);
        }
        let r = &mut self.rx;
        accept(r, highest, index);
        if v == r.roc.wrapping_add(1) || r.s_l.is_none() {
            r.roc = v;
            r.s_l = Some(seq);
        } else if v == r.roc && r.s_l.is_some_and(|s| seq > s) {
            r.s_l = Some(seq);
        }
        Ok(len)
    }

    /// Encrypts the RTCP compound packet in `buf[..len]` (after its first
    /// 8 bytes), appends E|index and the tag; returns the new length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if len < 8 || buf.len() < len + 4 + SRTCP_TAG {
            return Err(SrtpError::Protect);
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let index = self.tx_rtcp_index & 0x7fff_ffff;
        self.tx_rtcp_index = self.tx_rtcp_index.wrapping_add(1);
        let iv = self.tx_rtcp.iv(ssrc, u64::from(index));
        if !ctr(&self.tx_rtcp.enc, iv, &mut buf[8..len]) {
            return Err(SrtpError::Protect);
        }
        buf[len..len + 4].copy_from_slice(&(index | 0x8000_0000).to_be_bytes());
        let tag = self.tx_rtcp.tag(&[&buf[..len + 4]]);
        buf[len + 4..len + 4 + SRTCP_TAG].copy_from_slice(&tag.as_ref()[..SRTCP_TAG]);
        Ok(len + 4 + SRTCP_TAG)
    }

    /// Checks and decrypts an SRTCP packet; returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() < 8 + 4 + SRTCP_TAG {
            return Err(SrtpError::Short);
        }
        let tag_at = buf.len() - SRTCP_TAG;
        let tag = self.rx_rtcp.tag(&[&buf[..tag_at]]);
        if !constant_eq(&tag.as_ref()[..SRTCP_TAG], &buf[tag_at..]) {
            return Err(SrtpError::Auth);
        }
        let len = tag_at - 4;
        let e_index = u32::from_be_bytes([buf[len], buf[len + 1], buf[len + 2], buf[len + 3]]);
        let index = u64::from(e_index & 0x7fff_ffff);
        let r = self.rx_ctl;
        let highest = r.s_l.map(|_| u64::from(r.roc));
        check_replay(&r, highest, index)?;
        if e_index & 0x8000_0000 != 0 {
            let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
            let iv = self.rx_rtcp.iv(ssrc, index);
            if !ctr(&self.rx_rtcp.enc, iv, &mut buf[8..len]) {
                return Err(SrtpError::Protect);
            }
        }
        let r = &mut self.rx_ctl;
        accept(r, highest, index);
        // For SRTCP the index is explicit: `roc` holds the highest seen.
        if highest.is_none_or(|h| index > h) {
            r.roc = index as u32;
            r.s_l = Some(0);
        }
        Ok(len)
    }
}

/// §3.3.2: refuses an index seen already or too old for the window.
fn check_replay(r: &RxState, highest: Option<u64>, index: u64) -> Result<(), SrtpError> {
    let Some(h) = highest else {
        return Ok(());
    };
    if index > h {
        return Ok(());
    }
    let back = h - index;
    if back >= 64 || r.window & (1 << back) != 0 {
        return Err(SrtpError::Replay);
    }
    Ok(())
}

/// Marks `index` seen (after it authenticated).
fn accept(r: &mut RxState, highest: Option<u64>, index: u64) {
    match highest {
        Some(h) if index <= h => r.window |= 1 << (h - index),
        Some(h) => {
            let shift = index - h;
            r.window = if shift >= 64 { 0 } else { r.window << shift } | 1;
        }
        None => r.window = 1,
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// RFC 3711 Appendix B.3: the key derivation test vectors.
    #[test]
    fn session_keys_match_rfc3711_appendix_b3() {
        let mut master = MasterKey {
            key: [0; 16],
            salt: [0; 14],
        };
        master
            .key
            .copy_from_slice(&hex("E1F97A0D3E018BE0D64FA32C06DE4139"));
        master
            .salt
            .copy_from_slice(&hex("0EC675AD498AFEEBB6960B3AABE6"));
        let mk = EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &master.key).unwrap()).unwrap();
        let prf = |label: u8, n: usize| {
            let mut iv = [0u8; 16];
            iv[..14].copy_from_slice(&master.salt);
            iv[7] ^= label;
            let mut out = vec![0u8; n];
            assert!(ctr(&mk, iv, &mut out));
            out
        };
        assert_eq!(prf(0, 16), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(prf(2, 14), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(prf(1, 20), hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
        assert!(SessionKeys::derive(&master, 0).is_some());
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream for a known session key,
    /// salt, SSRC and index.
    #[test]
    fn the_keystream_matches_rfc3711_appendix_b2() {
        let key = hex("2B7E151628AED2A6ABF7158809CF4F3C");
        let enc = EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &key).unwrap()).unwrap();
        let mut salt = [0u8; 14];
        salt.copy_from_slice(&hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
        let s = SessionKeys {
            enc,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[0; 20]),
            salt,
        };
        let iv = s.iv(0, 0);
        assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        let mut out = [0u8; 32];
        assert!(ctr(&s.enc, iv, &mut out));
        assert_eq!(
            out.to_vec(),
            hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB")
        );
    }

    fn pair(suite: Suite) -> (Context, Context) {
        let (a, b) = (MasterKey::random(), MasterKey::random());
        (
            Context::new(suite, &a, &b).unwrap(),
            Context::new(suite, &b, &a).unwrap(),
        )
    }

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn what_one_side_protects_the_other_decrypts_across_a_rollover() {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
            let (mut a, mut b) = pair(suite);
            for seq in (65530..=65535).chain(0..5) {
                let plain = rtp(seq, b"hello audio");
                let mut buf = plain.clone();
                buf.resize(plain.len() + 10, 0);
                let n = a.protect_rtp(&mut buf, plain.len()).unwrap();
                assert_eq!(n, plain.len() + suite.rtp_tag());
                assert_ne!(&buf[12..plain.len()], &plain[12..], "encrypted");
                let m = b.unprotect_rtp(&mut buf[..n]).unwrap();
                assert_eq!(&buf[..m], &plain[..], "seq {seq}");
            }
            assert_eq!(b.rx.roc, 1);
        }
    }

    #[test]
    fn altered_replayed_and_wrongly_keyed_packets_are_dropped() {
        let (mut a, mut b) = pair(Suite::AesCm128HmacSha1_80);
        let plain = rtp(7, b"payload");
        let mut buf = plain.clone();
        buf.resize(plain.len() + 10, 0);
        let n = a.protect_rtp(&mut buf, plain.len()).unwrap();
        let sent = buf[..n].to_vec();
        let mut altered = sent.clone();
        altered[14] ^= 1;
        assert_eq!(b.unprotect_rtp(&mut altered), Err(SrtpError::Auth));
        let mut ok = sent.clone();
        assert!(b.unprotect_rtp(&mut ok).is_ok());
        let mut again = sent.clone();
        assert_eq!(b.unprotect_rtp(&mut again), Err(SrtpError::Replay));
        let (_, mut stranger) = pair(Suite::AesCm128HmacSha1_80);
        let mut other = sent;
        assert_eq!(stranger.unprotect_rtp(&mut other), Err(SrtpError::Auth));
        assert_eq!(b.unprotect_rtp(&mut [0u8; 5]), Err(SrtpError::Short));
    }

    #[test]
    fn srtcp_round_trips_and_is_authenticated() {
        let (mut a, mut b) = pair(Suite::AesCm128HmacSha1_32);
        let report: Vec<u8> = (0..28u8).collect();
        let mut buf = report.clone();
        buf.resize(report.len() + 14, 0);
        let n = a.protect_rtcp(&mut buf, report.len()).unwrap();
        assert_eq!(n, report.len() + 14);
        let mut copy = buf[..n].to_vec();
        let m = b.unprotect_rtcp(&mut copy).unwrap();
        assert_eq!(&copy[..m], &report[..]);
        let mut replay = buf[..n].to_vec();
        assert_eq!(b.unprotect_rtcp(&mut replay), Err(SrtpError::Replay));
        let mut altered = buf[..n].to_vec();
        altered[9] ^= 0x80;
        assert_eq!(b.unprotect_rtcp(&mut altered), Err(SrtpError::Auth));
    }

    #[test]
    fn inline_keys_round_trip_and_bad_ones_are_refused() {
        let k = MasterKey::random();
        assert_eq!(MasterKey::from_inline(&k.inline()), Some(k));
        assert!(MasterKey::from_inline("c2hvcnQ=").is_none());
        assert!(MasterKey::from_inline("not base64!").is_none());
    }
}
