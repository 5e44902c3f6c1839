//! RTP fixed header (RFC 3550 §5.1), read and written in place.
//!
//! Hand-written rather than through `rtp-rs` because the hot path needs two
//! things that crate's builder does not give without a copy: writing the
//! header straight into a reused send buffer, and skipping CSRCs and header
//! extensions to reach the payload without allocating.

/// The header fields a leg uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Payload type.
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Parses a packet: the header and where the payload is (padding removed).
/// `None` for anything that is not RTP version 2 or is cut short.
pub fn parse(buf: &[u8]) -> Option<(RtpHeader, std::ops::Range<usize>)> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(buf[0] & 0x0f);
    let mut off = 12 + 4 * cc;
    if buf[0] & 0x10 != 0 {
        if buf.len() < off + 4 {
            return None;
        }
        let words = usize::from(u16::from_be_bytes([buf[off + 2], buf[off + 3]]));
        off += 4 + 4 * words;
    }
    let mut end = buf.len();
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(*buf.last()?);
        if pad == 0 || pad > end.saturating_sub(off) {
            return None;
        }
        end -= pad;
    }
    if off > end {
        return None;
    }
    let h = RtpHeader {
        pt: buf[1] & 0x7f,
        marker: buf[1] & 0x80 != 0,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
    };
    Some((h, off..end))
}

/// True for RTCP (payload types 200–204 in the second byte, RFC 5761 §4).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (200..=204).contains(&buf[1])
}

/// Writes a 12-byte header into `buf[..12]`.
pub fn write_header(buf: &mut [u8], h: &RtpHeader) {
    buf[0] = 0x80;
    buf[1] = (h.pt & 0x7f) | if h.marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&h.seq.to_be_bytes());
    buf[4..8].copy_from_slice(&h.ts.to_be_bytes());
    buf[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_header_reads_back() {
        let h = RtpHeader {
            pt: 9,
            marker: true,
            seq: 65535,
            ts: 0xdead_beef,
            ssrc: 42,
        };
        let mut b = [0u8; 20];
        write_header(&mut b, &h);
        let (r, payload) = parse(&b).unwrap();
        assert_eq!(r, h);
        assert_eq!(payload, 12..20);
    }

    #[test]
    fn csrcs_extensions_and_padding_are_skipped() {
        let mut b = vec![0xb1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]; // V=2 P X CC=1
        b.extend_from_slice(&[0, 0, 0, 9]); // CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        b.extend_from_slice(&[7, 7, 0, 2]); // payload 7 7, padding 2
        let (_, p) = parse(&b).unwrap();
        assert_eq!(&b[p], &[7, 7]);
    }

    #[test]
    fn short_or_foreign_packets_are_not_rtp() {
        assert!(parse(&[0x80; 11]).is_none());
        assert!(parse(&[0x40; 12]).is_none());
        let mut b = [0u8; 12];
        b[0] = 0xa0; // padding bit with pad length 0
        assert!(parse(&b).is_none());
        assert!(is_rtcp(&[0x80, 200, 0, 6, 0, 0, 0, 1]));
    }
}

/// What a receiver knows about one incoming stream, for an RTCP report block
/// (RFC 3550 §6.4.1, appendix A.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceptionStats {
    /// The sender's SSRC.
    pub ssrc: u32,
    base_seq: u16,
    max_seq: u16,
    cycles: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    started: bool,
}

impl ReceptionStats {
    /// Counts one packet.
    pub fn packet(&mut self, ssrc: u32, seq: u16) {
        if !self.started || ssrc != self.ssrc {
            *self = ReceptionStats {
                ssrc,
                base_seq: seq,
                max_seq: seq,
                started: true,
                ..Default::default()
            };
        } else if seq.wrapping_sub(self.max_seq) < 0x8000 && seq != self.max_seq {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
        }
        self.received += 1;
    }

    fn extended_max(&self) -> u32 {
        self.cycles + u32::from(self.max_seq)
    }

    /// (fraction lost since the last report, cumulative lost, extended highest seq).
    pub fn report(&mut self) -> (u8, u32, u32) {
        let expected = self.extended_max().wrapping_sub(u32::from(self.base_seq)) + 1;
        let lost = expected.saturating_sub(self.received);
        let exp_int = expected.wrapping_sub(self.expected_prior);
        let rec_int = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_int = exp_int.saturating_sub(rec_int);
        let fraction = (lost_int << 8)
            .checked_div(exp_int)
            .map_or(0, |f| f.min(255) as u8);
        (fraction, lost.min(0x7f_ffff), self.extended_max())
    }
}

/// Writes an RTCP sender report with one report block (or none before any
/// packet was received) into `buf`; returns its length.
#[allow(clippy::too_many_arguments)]
pub fn write_sender_report(
    buf: &mut [u8],
    ssrc: u32,
    ntp: u64,
    rtp_ts: u32,
    packets: u32,
    octets: u32,
    rx: Option<&mut ReceptionStats>,
    jitter_ts: u32,
) -> usize {
    let blocks = usize::from(rx.as_ref().is_some_and(|r| r.started));
    let len = 28 + 24 * blocks;
    buf[0] = 0x80 | blocks as u8;
    buf[1] = 200;
    buf[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&ssrc.to_be_bytes());
    buf[8..16].copy_from_slice(&ntp.to_be_bytes());
    buf[16..20].copy_from_slice(&rtp_ts.to_be_bytes());
    buf[20..24].copy_from_slice(&packets.to_be_bytes());
    buf[24..28].copy_from_slice(&octets.to_be_bytes());
    if let Some(r) = rx.filter(|r| r.started) {
        let (fraction, cumulative, ext_max) = r.report();
        buf[28..32].copy_from_slice(&r.ssrc.to_be_bytes());
        buf[32] = fraction;
        buf[33..36].copy_from_slice(&cumulative.to_be_bytes()[1..]);
        buf[36..40].copy_from_slice(&ext_max.to_be_bytes());
        buf[40..44].copy_from_slice(&jitter_ts.to_be_bytes());
        buf[44..52].fill(0); // LSR, DLSR: we do not track the peer's SRs
    }
    len
}

/// An NTP timestamp (RFC 3550 §4) for a wall-clock time.
pub fn ntp_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() + 2_208_988_800;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod rtcp_tests {
    use super::*;

    #[test]
    fn loss_is_reported_as_a_fraction_and_a_total() {
        let mut r = ReceptionStats::default();
        for seq in (100u16..200).filter(|s| s % 10 != 0) {
            r.packet(7, seq);
        }
        let (fraction, lost, max) = r.report();
        assert_eq!(max, 199);
        assert_eq!(lost, 9, "100 was the first, so 110..190 are missing");
        assert_eq!(fraction, (9 * 256 / 100) as u8);
    }

    #[test]
    fn a_sender_report_is_well_formed_rtcp() {
        let mut r = ReceptionStats::default();
        r.packet(9, 65535);
        r.packet(9, 0);
        let mut buf = [0u8; 64];
        let n = write_sender_report(&mut buf, 1, ntp_now(), 160, 10, 1600, Some(&mut r), 3);
        assert_eq!(n, 52);
        assert!(is_rtcp(&buf[..n]));
        assert_eq!(buf[0] & 0x1f, 1);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 12);
        assert_eq!(
            u32::from_be_bytes([buf[36], buf[37], buf[38], buf[39]]),
            65536,
            "sequence wrap counted"
        );
    }
}
