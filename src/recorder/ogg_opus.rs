//! Opus in Ogg (RFC 7845): the `OpusHead` and `OpusTags` headers written
//! here, pages through the `ogg` crate, granule positions at 48 kHz.
//!
//! A page is ended (and the file flushed to the kernel) at least every
//! [`PAGE_PACKETS`] packets (one second of 20 ms frames), so a process that
//! is killed leaves a file that decodes up to its last second; [`repair`]
//! cuts such a file back to its last complete page.

use std::io::{self, Read, Seek, SeekFrom, Write};

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Samples per 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: u64 = 960;

/// Packets per page: a page (and a flush) every second.
pub const PAGE_PACKETS: u32 = 50;

/// The `OpusHead` packet (RFC 7845 §5.1): version 1, mono, `pre_skip`
/// samples to drop at 48 kHz, input rate 48 kHz, gain 0, mapping family 0.
pub fn opus_head(pre_skip: u16) -> [u8; 19] {
    let mut h = [0u8; 19];
    h[..8].copy_from_slice(b"OpusHead");
    h[8] = 1;
    h[9] = 1;
    h[10..12].copy_from_slice(&pre_skip.to_le_bytes());
    h[12..16].copy_from_slice(&48_000u32.to_le_bytes());
    // output gain 0 (h[16..18]), channel mapping family 0 (h[18])
    h
}

/// The `OpusTags` packet (RFC 7845 §5.2): vendor string and `KEY=value` comments.
pub fn opus_tags(vendor: &str, comments: &[(&str, &str)]) -> Vec<u8> {
    let mut t = Vec::with_capacity(64);
    t.extend_from_slice(b"OpusTags");
    t.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    t.extend_from_slice(vendor.as_bytes());
    t.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for (k, v) in comments {
        let c = format!("{k}={v}");
        t.extend_from_slice(&(c.len() as u32).to_le_bytes());
        t.extend_from_slice(c.as_bytes());
    }
    t
}

/// Writes one mono Ogg Opus stream of 20 ms packets.
pub struct OggOpusWriter<W: Write> {
    pages: PacketWriter<'static, W>,
    serial: u32,
    pre_skip: u16,
    /// Packets written (each 20 ms).
    packets: u64,
    /// The newest packet, held back so that the last one can carry the
    /// end-of-stream flag when the stream is finished.
    held: Option<Vec<u8>>,
    in_page: u32,
}

impl<W: Write> std::fmt::Debug for OggOpusWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream: writes and flushes the two header pages.
    pub fn new(out: W, serial: u32, pre_skip: u16, comments: &[(&str, &str)]) -> io::Result<Self> {
        let mut pages = PacketWriter::new(out);
        pages.write_packet(
            opus_head(pre_skip).to_vec(),
            serial,
            PacketWriteEndInfo::EndPage,
            0,
        )?;
        pages.write_packet(
            opus_tags(concat!("dialroom ", env!("CARGO_PKG_VERSION")), comments),
            serial,
            PacketWriteEndInfo::EndPage,
            0,
        )?;
        pages.inner_mut().flush()?;
        Ok(OggOpusWriter {
            pages,
            serial,
            pre_skip,
            packets: 0,
            held: None,
            in_page: 0,
        })
    }

    /// Adds one 20 ms Opus packet. Every [`PAGE_PACKETS`] packets a page is
    /// ended and the writer flushed.
    pub fn push(&mut self, packet: &[u8]) -> io::Result<()> {
        if let Some(prev) = self.held.take() {
            self.in_page += 1;
            let end = if self.in_page >= PAGE_PACKETS {
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            // Granule: samples up to the end of this packet (pre-skip included).
            let granule = self.packets * FRAME_SAMPLES;
            self.pages.write_packet(prev, self.serial, end, granule)?;
            if end == PacketWriteEndInfo::EndPage {
                self.in_page = 0;
                self.pages.inner_mut().flush()?;
            }
        }
        self.held = Some(packet.to_vec());
        self.packets += 1;
        Ok(())
    }

    /// Packets pushed so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The audio a decoder will play, in 48 kHz samples (granule minus pre-skip).
    pub fn decoded_samples(&self) -> u64 {
        (self.packets * FRAME_SAMPLES).saturating_sub(u64::from(self.pre_skip))
    }

    /// Writes the last packet with the end-of-stream flag and flushes;
    /// returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        match self.held.take() {
            Some(last) => {
                let granule = self.packets * FRAME_SAMPLES;
                self.pages.write_packet(
                    last,
                    self.serial,
                    PacketWriteEndInfo::EndStream,
                    granule,
                )?;
            }
            None => {
                // No audio at all: a one-frame silent packet (TOC only: a
                // 20 ms CELT frame of zero bytes) so that the stream ends.
                self.pages.write_packet(
                    vec![0xF8],
                    self.serial,
                    PacketWriteEndInfo::EndStream,
                    FRAME_SAMPLES,
                )?;
            }
        }
        let mut w = self.pages.into_inner();
        w.flush()?;
        Ok(w)
    }
}

/// What [`repair`] found in a file a killed worker left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    /// The file's length after cutting it at its last complete page.
    pub bytes: u64,
    /// The last page's granule position (48 kHz samples, pre-skip included).
    pub granule: u64,
    /// The stream's pre-skip.
    pub pre_skip: u16,
    /// Bytes cut off (a page the worker was writing when it died).
    pub cut: u64,
    /// The last page carried the end-of-stream flag (the file was complete).
    pub complete: bool,
}

impl Repaired {
    /// Audio a decoder plays, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.granule.saturating_sub(u64::from(self.pre_skip)) / 48
    }
}

/// What [`scan`] found: the prefix of whole pages in an Ogg Opus stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Bytes of whole pages (CRC checked) from the start.
    pub good: u64,
    /// Pages in them.
    pub pages: u32,
    /// The last of them with a granule position.
    pub granule: u64,
    /// The pre-skip of the `OpusHead` in the first page, if it is one.
    pub pre_skip: Option<u16>,
    /// The last whole page carried the end-of-stream flag.
    pub complete: bool,
}

/// Reads pages from `r` until one is torn, fails its CRC or is not a page.
/// Never panics, on any input (fuzz target `ogg_scan`).
pub fn scan(mut r: impl Read) -> Scan {
    let mut out = Scan {
        good: 0,
        pages: 0,
        granule: 0,
        pre_skip: None,
        complete: false,
    };
    loop {
        let mut hdr = [0u8; 27];
        if r.read_exact(&mut hdr).is_err() || &hdr[..4] != b"OggS" {
            break;
        }
        let Ok((mut parser, nseg)) = ogg::reading::PageParser::new(hdr) else {
            break;
        };
        let mut segs = vec![0u8; nseg];
        if r.read_exact(&mut segs).is_err() {
            break;
        }
        let body_len: usize = segs.iter().map(|&s| usize::from(s)).sum();
        parser.parse_segments(segs);
        let mut body = vec![0u8; body_len];
        if r.read_exact(&mut body).is_err() {
            break;
        }
        let head = (out.pages == 0 && body.len() >= 12 && &body[..8] == b"OpusHead")
            .then(|| u16::from_le_bytes([body[10], body[11]]));
        if parser.parse_packet_data(body).is_err() {
            break; // CRC mismatch: a torn page
        }
        if out.pages == 0 {
            out.pre_skip = head;
        }
        out.pages += 1;
        let gp = u64::from_le_bytes(hdr[6..14].try_into().expect("8 bytes"));
        if gp != u64::MAX {
            out.granule = gp;
        }
        out.complete = hdr[5] & 0x04 != 0;
        out.good += 27 + nseg as u64 + body_len as u64;
    }
    out
}

/// Scans `f` page by page (checking each page's CRC) and truncates it after
/// the last complete page. `None` when not even the headers are whole.
pub fn repair(f: &mut std::fs::File) -> io::Result<Option<Repaired>> {
    let len = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    let sc = scan(io::BufReader::new(&mut *f));
    let Some(pre_skip) = sc.pre_skip.filter(|_| sc.pages >= 2) else {
        return Ok(None);
    };
    if sc.good < len {
        f.set_len(sc.good)?;
    }
    f.sync_all()?;
    Ok(Some(Repaired {
        bytes: sc.good,
        granule: sc.granule,
        pre_skip,
        cut: len - sc.good,
        complete: sc.complete,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of an Ogg stream: (header type, granule, sequence, body).
    fn pages(b: &[u8]) -> Vec<(u8, u64, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut p = 0;
        while p + 27 <= b.len() {
            assert_eq!(&b[p..p + 4], b"OggS");
            let flags = b[p + 5];
            let gp = u64::from_le_bytes(b[p + 6..p + 14].try_into().unwrap());
            let seq = u32::from_le_bytes(b[p + 18..p + 22].try_into().unwrap());
            let n = usize::from(b[p + 26]);
            let body: usize = b[p + 27..p + 27 + n].iter().map(|&s| usize::from(s)).sum();
            let start = p + 27 + n;
            out.push((flags, gp, seq, b[start..start + body].to_vec()));
            p = start + body;
        }
        assert_eq!(p, b.len(), "trailing bytes");
        out
    }

    fn stream(packets: usize, finish: bool) -> Vec<u8> {
        let mut w = OggOpusWriter::new(Vec::new(), 7, 312, &[("ROOM", "r1")]).unwrap();
        for i in 0..packets {
            w.push(&[0xF8, i as u8]).unwrap();
        }
        if finish {
            w.finish().unwrap()
        } else {
            std::mem::take(w.pages.inner_mut())
        }
    }

    #[test]
    fn headers_are_the_first_two_pages_with_granule_zero() {
        let b = stream(3, true);
        let p = pages(&b);
        assert_eq!(p[0].0 & 0x02, 0x02, "first page is BOS");
        assert_eq!((p[0].1, p[1].1), (0, 0));
        let head = &p[0].3;
        assert_eq!(&head[..8], b"OpusHead");
        assert_eq!(head[8], 1, "version");
        assert_eq!(head[9], 1, "mono");
        assert_eq!(u16::from_le_bytes([head[10], head[11]]), 312);
        assert_eq!(u32::from_le_bytes(head[12..16].try_into().unwrap()), 48_000);
        assert_eq!(head[18], 0, "mapping family 0");
        let tags = &p[1].3;
        assert_eq!(&tags[..8], b"OpusTags");
        assert!(String::from_utf8_lossy(tags).contains("ROOM=r1"));
        assert_eq!(
            p.iter().map(|x| x.2).collect::<Vec<_>>(),
            (0..p.len() as u32).collect::<Vec<_>>(),
            "page sequence numbers count up"
        );
    }

    #[test]
    fn a_page_per_second_with_granules_at_48_khz_and_eos_last() {
        let b = stream(120, true);
        let p = pages(&b);
        // headers, then pages ending at packets 50 and 100, then the last page.
        let granules: Vec<u64> = p[2..].iter().map(|x| x.1).collect();
        assert_eq!(granules, [50 * 960, 100 * 960, 120 * 960]);
        assert_eq!(p.last().unwrap().0 & 0x04, 0x04, "last page is EOS");
        assert!(p[..p.len() - 1].iter().all(|x| x.0 & 0x04 == 0));
    }

    #[test]
    fn an_unfinished_file_is_cut_back_to_its_last_page() {
        let mut b = stream(120, false);
        // Flushed so far: headers + pages up to packet 100; add a torn page.
        let whole = b.len() as u64;
        b.extend_from_slice(b"OggS\0\0garbage that is not a page");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.opus");
        std::fs::write(&path, &b).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let r = repair(&mut f).unwrap().unwrap();
        assert_eq!(r.bytes, whole);
        assert_eq!(r.granule, 100 * 960);
        assert_eq!(r.pre_skip, 312);
        assert!(!r.complete);
        assert_eq!(r.duration_ms(), (100 * 960 - 312) / 48);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        // A flipped byte inside the last page fails its CRC: cut there.
        let mut b2 = std::fs::read(&path).unwrap();
        let n = b2.len();
        b2[n - 3] ^= 0xFF;
        std::fs::write(&path, &b2).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let r = repair(&mut f).unwrap().unwrap();
        assert_eq!(r.granule, 50 * 960);
        // Nothing usable: None.
        std::fs::write(&path, b"OggS").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert_eq!(repair(&mut f).unwrap(), None);
    }
}
