//! Any telephone-event payload, with any timestamp and marker: parsing and
//! the receiver never panic, and a parsed event rebuilds to the same bytes.
#![no_main]
use dialroom::media::codec::dtmf::{DtmfReceiver, TelephoneEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = TelephoneEvent::parse(data) {
        let mut want = [0u8; 4];
        want.copy_from_slice(&data[..4]);
        want[1] &= !0x40; // the reserved bit is not kept
        assert_eq!(ev.to_bytes(), want);
    }
    // Read the input as a stream of (timestamp, marker, payload) packets.
    let mut rx = DtmfReceiver::new();
    let mut digits = 0usize;
    let mut packets = 0usize;
    for chunk in data.chunks(9) {
        let Some((head, payload)) = chunk.split_first_chunk::<5>() else {
            break;
        };
        let ts = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let marker = head[4] & 1 != 0;
        packets += 1;
        if let Some(d) = rx.push(ts, marker, payload) {
            assert!("0123456789*#ABCD".contains(d));
            digits += 1;
        }
    }
    assert!(digits <= packets);
});
