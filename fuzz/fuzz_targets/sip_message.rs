//! Any datagram: parsing never panics, and whatever parses can be answered
//! and the answer parses again.
#![no_main]
use dialroom::sip::message::{Message, ResponseBuilder, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Message::Request(r)) => {
            let out = ResponseBuilder::new(&r.core.reply, 400)
                .to_tag("t")
                .source("192.0.2.1:5060".parse().unwrap())
                .build();
            assert!(parse(&out).is_ok(), "our own answer does not parse");
        }
        Ok(Message::Response(_)) => {}
        Err(r) => {
            if let Some(ctx) = r.reply {
                let _ = ResponseBuilder::new(&ctx, 400).build();
            }
        }
    }
});
