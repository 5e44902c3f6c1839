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
