//! Any byte stream, cut anywhere: framing never panics and never yields a
//! frame longer than the limit.
#![no_main]
use dialroom::sip::framing::{Frame, Framer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cut = data.first().copied().unwrap_or(1).max(1) as usize;
    let mut f = Framer::new(4096);
    for chunk in data.chunks(cut) {
        f.push(chunk);
        loop {
            match f.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    assert!(m.len() <= 4096);
                    let _ = dialroom::sip::message::parse(&m);
                }
                Ok(Some(Frame::Ping)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
