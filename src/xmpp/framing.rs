//! Cutting XML into stream events: an RFC 6120 TCP stream (one long
//! document whose root is `<stream:stream>`, read incrementally) and RFC 7395
//! WebSocket frames (one whole element per message).
//!
//! rxml does the XML 1.0 work and refuses DTDs, entity declarations and
//! processing instructions; minidom's tree builder turns the events under the
//! stream root into stanzas. Sizes and depth are bounded so a peer cannot
//! make the server hold or recurse over an unbounded tree.

use std::collections::BTreeMap;

use minidom::Element;
use minidom::tree_builder::TreeBuilder;
use rxml::{Parse, RawEvent, RawParser};

use super::ns;

/// Deepest nesting accepted inside a stanza (the stanza itself is depth 1).
pub const MAX_DEPTH: usize = 32;

/// One thing read from a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The stream header (`<stream:stream>` or RFC 7395 `<open/>`), attributes by local name.
    Open(BTreeMap<String, String>),
    /// A complete top-level element.
    Element(Element),
    /// The end of the stream (`</stream:stream>` or `<close/>`).
    Close,
}

/// Why a stream cannot be read further; each maps to a stream error condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Not XML, or XML that breaks namespace rules.
    #[error("not well-formed XML: {0}")]
    NotWellFormed(String),
    /// Well-formed but not an XMPP stream (wrong root, text at the top level).
    #[error("bad format: {0}")]
    BadFormat(String),
    /// A stanza larger or deeper than allowed.
    #[error("stanza too large or too deep")]
    TooLarge,
}

impl FramingError {
    /// The RFC 6120 stream error condition for this error.
    pub fn condition(&self) -> &'static str {
        match self {
            FramingError::NotWellFormed(_) => "not-well-formed",
            FramingError::BadFormat(_) => "bad-format",
            FramingError::TooLarge => "policy-violation",
        }
    }
}

/// Incremental reader of an RFC 6120 stream. Feed bytes with [`StreamReader::next`].
pub struct StreamReader {
    parser: RawParser,
    max_stanza: usize,
    /// 0 before the root, 1 inside the root, more inside a stanza.
    depth: usize,
    header: Option<BTreeMap<String, String>>,
    tree: Option<TreeBuilder>,
    stanza_bytes: usize,
    /// Prefixes declared on the stream root (for stanzas that use them).
    root_prefixes: BTreeMap<Option<String>, String>,
    failed: bool,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// A reader for a new stream whose stanzas may be up to `max_stanza` bytes.
    pub fn new(max_stanza: usize) -> Self {
        StreamReader {
            parser: RawParser::new(),
            max_stanza,
            depth: 0,
            header: None,
            tree: None,
            stanza_bytes: 0,
            root_prefixes: BTreeMap::new(),
            failed: false,
        }
    }

    /// Starts over for a stream restart (after SASL success).
    pub fn reset(&mut self) {
        *self = StreamReader::new(self.max_stanza);
    }

    /// Reads from `buf` (advancing it past what was used) until one event is
    /// complete; `Ok(None)` means more bytes are needed (all of `buf` was used).
    pub fn next(&mut self, buf: &mut &[u8]) -> Result<Option<Event>, FramingError> {
        if self.failed {
            return Err(FramingError::NotWellFormed("stream already failed".into()));
        }
        let r = self.next_inner(buf);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn next_inner(&mut self, buf: &mut &[u8]) -> Result<Option<Event>, FramingError> {
        loop {
            let ev = match self.parser.parse(buf, false) {
                Ok(Some(ev)) => ev,
                Ok(None) => return Ok(Some(Event::Close)),
                Err(rxml::error::EndOrError::NeedMoreData) => {
                    if self.depth >= 2 && self.stanza_bytes + buf.len() > self.max_stanza {
                        return Err(FramingError::TooLarge);
                    }
                    return Ok(None);
                }
                Err(rxml::error::EndOrError::Error(e)) => {
                    return Err(FramingError::NotWellFormed(e.to_string()));
                }
            };
            if let Some(e) = self.on_event(ev)? {
                return Ok(Some(e));
            }
        }
    }

    fn on_event(&mut self, ev: RawEvent) -> Result<Option<Event>, FramingError> {
        if self.depth >= 1 && self.tree.is_some() {
            self.stanza_bytes += ev.metrics().len();
            if self.stanza_bytes > self.max_stanza {
                return Err(FramingError::TooLarge);
            }
        }
        match ev {
            RawEvent::XmlDeclaration(..) => Ok(None),
            RawEvent::ElementHeadOpen(m, (prefix, name)) => {
                if self.depth == 0 {
                    if prefix.as_ref().map(|p| p.as_str()) != Some("stream")
                        || name.as_str() != "stream"
                    {
                        return Err(FramingError::BadFormat(
                            "the root element must be stream:stream".into(),
                        ));
                    }
                    self.header = Some(BTreeMap::new());
                    self.depth = 1;
                    return Ok(None);
                }
                if self.depth == 1 {
                    self.tree = Some(
                        TreeBuilder::new()
                            .with_prefixes_stack(vec![self.root_prefixes.clone().into()]),
                    );
                    self.stanza_bytes = m.len();
                }
                self.depth += 1;
                if self.depth > MAX_DEPTH + 1 {
                    return Err(FramingError::TooLarge);
                }
                self.feed(RawEvent::ElementHeadOpen(m, (prefix, name)))
            }
            RawEvent::Attribute(m, (prefix, name), value) => {
                if let Some(h) = self.header.as_mut() {
                    match (prefix.as_ref().map(|p| p.as_str()), name.as_str()) {
                        (None, "xmlns") => {
                            self.root_prefixes.insert(None, value.to_string());
                        }
                        (Some("xmlns"), p) => {
                            self.root_prefixes
                                .insert(Some(p.to_string()), value.to_string());
                        }
                        (_, local) => {
                            h.insert(local.to_string(), value.to_string());
                        }
                    }
                    return Ok(None);
                }
                self.feed(RawEvent::Attribute(m, (prefix, name), value))
            }
            RawEvent::ElementHeadClose(m) => {
                if let Some(h) = self.header.take() {
                    if self
                        .root_prefixes
                        .get(&Some("stream".into()))
                        .map(String::as_str)
                        != Some(ns::STREAM)
                    {
                        return Err(FramingError::BadFormat(
                            "the stream prefix is not bound to the streams namespace".into(),
                        ));
                    }
                    return Ok(Some(Event::Open(h)));
                }
                self.feed(RawEvent::ElementHeadClose(m))
            }
            RawEvent::Text(m, text) => {
                if self.depth <= 1 {
                    if text.as_str().chars().all(|c| c.is_ascii_whitespace()) {
                        return Ok(None);
                    }
                    return Err(FramingError::BadFormat("text at the stream level".into()));
                }
                self.feed(RawEvent::Text(m, text))
            }
            RawEvent::ElementFoot(m) => {
                if self.depth == 1 {
                    self.depth = 0;
                    return Ok(Some(Event::Close));
                }
                self.depth -= 1;
                self.feed(RawEvent::ElementFoot(m))?;
                if self.depth == 1 {
                    let tree = self.tree.take().expect("a stanza is open at depth 2");
                    return match tree.root {
                        Some(el) => Ok(Some(Event::Element(el))),
                        None => Err(FramingError::NotWellFormed("empty stanza".into())),
                    };
                }
                Ok(None)
            }
        }
    }

    fn feed(&mut self, ev: RawEvent) -> Result<Option<Event>, FramingError> {
        let tree = self
            .tree
            .as_mut()
            .ok_or_else(|| FramingError::BadFormat("content before the stream header".into()))?;
        tree.process_event(ev)
            .map_err(|e| FramingError::NotWellFormed(e.to_string()))?;
        Ok(None)
    }
}

/// Reads one RFC 7395 WebSocket message: `<open/>`, `<close/>` or a stanza.
pub fn read_frame(text: &str, max_stanza: usize) -> Result<Event, FramingError> {
    if text.len() > max_stanza {
        return Err(FramingError::TooLarge);
    }
    let mut parser = RawParser::new();
    let mut tree = TreeBuilder::new();
    let mut buf = text.as_bytes();
    let mut depth = 0usize;
    loop {
        match parser.parse(&mut buf, true) {
            Ok(Some(ev)) => {
                match &ev {
                    RawEvent::ElementHeadOpen(..) => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(FramingError::TooLarge);
                        }
                    }
                    RawEvent::ElementFoot(..) => depth -= 1,
                    _ => {}
                }
                tree.process_event(ev)
                    .map_err(|e| FramingError::NotWellFormed(e.to_string()))?;
            }
            Ok(None) => break,
            Err(rxml::error::EndOrError::NeedMoreData) => {
                return Err(FramingError::NotWellFormed("truncated frame".into()));
            }
            Err(rxml::error::EndOrError::Error(e)) => {
                return Err(FramingError::NotWellFormed(e.to_string()));
            }
        }
    }
    let el = tree
        .root
        .ok_or_else(|| FramingError::NotWellFormed("no element".into()))?;
    if el.ns() == ns::FRAMING {
        return match el.name() {
            "open" => Ok(Event::Open(
                el.attrs()
                    .iter()
                    .map(|((_, k), v)| (k.as_str().to_string(), v.clone()))
                    .collect(),
            )),
            "close" => Ok(Event::Close),
            _ => Err(FramingError::BadFormat("unknown framing element".into())),
        };
    }
    Ok(Event::Element(el))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &mut StreamReader, mut data: &[u8]) -> Result<Vec<Event>, FramingError> {
        let mut out = Vec::new();
        while let Some(e) = r.next(&mut data)? {
            let close = e == Event::Close;
            out.push(e);
            if close {
                break;
            }
        }
        Ok(out)
    }

    const HEAD: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

    #[test]
    fn a_stream_split_byte_by_byte_yields_the_header_stanzas_and_close() {
        let doc = format!(
            "{HEAD}<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq> \n<presence/></stream:stream>"
        );
        let mut r = StreamReader::new(4096);
        let mut events = Vec::new();
        for b in doc.as_bytes().chunks(1) {
            let mut s = b;
            while let Some(e) = r.next(&mut s).unwrap() {
                events.push(e);
            }
        }
        assert_eq!(events.len(), 4, "{events:?}");
        let Event::Open(h) = &events[0] else { panic!() };
        assert_eq!(h.get("to").map(String::as_str), Some("localhost"));
        let Event::Element(iq) = &events[1] else {
            panic!()
        };
        assert!(iq.is("iq", ns::CLIENT));
        assert!(iq.get_child("ping", ns::PING).is_some());
        let Event::Element(p) = &events[2] else {
            panic!()
        };
        assert!(p.is("presence", ns::CLIENT));
        assert_eq!(events[3], Event::Close);
    }

    #[test]
    fn garbage_is_not_well_formed() {
        let mut r = StreamReader::new(4096);
        let e = all(&mut r, format!("{HEAD}<iq><</iq>").as_bytes()).unwrap_err();
        assert_eq!(e.condition(), "not-well-formed");
        let mut r = StreamReader::new(4096);
        let e = all(&mut r, b"<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream/>").unwrap_err();
        assert_eq!(e.condition(), "not-well-formed");
    }

    #[test]
    fn a_wrong_root_is_bad_format() {
        let mut r = StreamReader::new(4096);
        let e = all(&mut r, b"<html xmlns='x'>").unwrap_err();
        assert_eq!(e.condition(), "bad-format");
    }

    #[test]
    fn an_oversized_or_deep_stanza_is_a_policy_violation() {
        let mut r = StreamReader::new(100);
        let big = format!("{HEAD}<message><body>{}</body></message>", "x".repeat(500));
        assert_eq!(
            all(&mut r, big.as_bytes()).unwrap_err(),
            FramingError::TooLarge
        );
        let mut r = StreamReader::new(1 << 20);
        let deep = format!("{HEAD}<message>{}", "<a>".repeat(100));
        assert_eq!(
            all(&mut r, deep.as_bytes()).unwrap_err(),
            FramingError::TooLarge
        );
    }

    #[test]
    fn a_restart_reads_a_second_header_from_the_same_bytes() {
        let doc = format!(
            "{HEAD}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>{HEAD}<iq/>"
        );
        let mut r = StreamReader::new(4096);
        let mut s = doc.as_bytes();
        assert!(matches!(r.next(&mut s).unwrap(), Some(Event::Open(_))));
        assert!(matches!(r.next(&mut s).unwrap(), Some(Event::Element(_))));
        r.reset();
        assert!(matches!(r.next(&mut s).unwrap(), Some(Event::Open(_))));
        assert!(matches!(r.next(&mut s).unwrap(), Some(Event::Element(_))));
    }

    #[test]
    fn websocket_frames_are_open_close_or_a_stanza() {
        let o = read_frame(
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>",
            4096,
        )
        .unwrap();
        let Event::Open(h) = o else { panic!() };
        assert_eq!(h["to"], "localhost");
        assert_eq!(
            read_frame("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", 4096).unwrap(),
            Event::Close
        );
        assert!(matches!(
            read_frame("<iq xmlns='jabber:client' type='get'/>", 4096).unwrap(),
            Event::Element(_)
        ));
        assert!(read_frame("<iq", 4096).is_err());
        assert!(read_frame("<a/><b/>", 4096).is_err());
    }
}
