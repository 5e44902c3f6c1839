//! Any datagram on an RTP port: header parsing never panics and the payload
//! range always lies inside the packet.
#![no_main]
use dialroom::media::rtp::{is_rtcp, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    if let Some((_, payload)) = parse(data) {
        assert!(payload.start <= payload.end && payload.end <= data.len());
    }
});
