//! Cutting SIP messages out of a byte stream (TCP, TLS): RFC 3261 §18.3.
//!
//! On a stream, Content-Length is mandatory and is the only framing. Leading
//! CRLFs are keep-alives (RFC 5626 §3.5.1): a double CRLF "ping" is answered
//! with a single CRLF "pong". Sans-IO: feed bytes in, take frames out.

use bytes::{Buf, BytesMut};

use super::message::head_end;

/// What the framer found in the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete message (head and exactly Content-Length body bytes).
    Message(Vec<u8>),
    /// A CRLFCRLF keep-alive ping: answer with CRLF.
    Ping,
}

/// The stream cannot be framed any more; the connection must be closed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The head grew past the size limit without ending.
    #[error("message head longer than {0} bytes")]
    TooLong(usize),
    /// No usable Content-Length.
    #[error("{0}")]
    BadLength(String),
}

/// Accumulates stream bytes and yields frames.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max: usize,
}

impl Framer {
    /// A framer that refuses messages longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Framer {
            buf: BytesMut::with_capacity(4096),
            max,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The head of what is buffered, for a 400 before closing.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the next frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        // Keep-alives and stray line ends between messages.
        let mut crlfs = 0;
        while self.buf.len() > crlfs && matches!(self.buf[crlfs], b'\r' | b'\n') {
            crlfs += 1;
        }
        if crlfs > 0 {
            let ping = self.buf[..crlfs].windows(4).any(|w| w == b"\r\n\r\n");
            self.buf.advance(crlfs);
            if ping {
                return Ok(Some(Frame::Ping));
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some(end) = head_end(&self.buf) else {
            if self.buf.len() > self.max {
                return Err(FramingError::TooLong(self.max));
            }
            return Ok(None);
        };
        let len = content_length(&self.buf[..end])?;
        if end + len > self.max {
            return Err(FramingError::TooLong(self.max));
        }
        if self.buf.len() < end + len {
            return Ok(None);
        }
        let frame = self.buf.split_to(end + len).to_vec();
        Ok(Some(Frame::Message(frame)))
    }
}

fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let text = String::from_utf8_lossy(head);
    let mut found = None;
    for line in text.split('\n').skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let v = value.trim();
            let n: usize = v
                .parse()
                .ok()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| FramingError::BadLength(format!("bad Content-Length {v:.20}")))?;
            if found.is_some_and(|f| f != n) {
                return Err(FramingError::BadLength("conflicting Content-Length".into()));
            }
            found = Some(n);
        }
    }
    found.ok_or_else(|| FramingError::BadLength("no Content-Length on a stream".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nl: 5\r\n\r\nhello";

    #[test]
    fn messages_split_across_reads_are_joined() {
        let mut f = Framer::new(65535);
        f.push(&MSG[..10]);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&MSG[10..]);
        f.push(&MSG[..3]);
        assert_eq!(f.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&MSG[3..]);
        assert_eq!(f.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
    }

    #[test]
    fn double_crlf_is_a_ping_and_single_crlf_is_skipped() {
        let mut f = Framer::new(65535);
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
        f.push(b"\r\n");
        f.push(MSG);
        assert_eq!(f.next_frame(), Ok(Some(Frame::Message(MSG.to_vec()))));
    }

    #[test]
    fn missing_or_bad_content_length_closes_the_stream() {
        let mut f = Framer::new(65535);
        f.push(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n");
        assert!(matches!(f.next_frame(), Err(FramingError::BadLength(_))));
        let mut f = Framer::new(65535);
        f.push(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert!(f.next_frame().is_err());
    }

    #[test]
    fn an_endless_head_is_refused() {
        let mut f = Framer::new(100);
        f.push(&[b'a'; 200]);
        assert_eq!(f.next_frame(), Err(FramingError::TooLong(100)));
    }
}
