//! Any bytes as a message on a recorder worker's tap socket: the decoder
//! never panics, and what it accepts encodes back to the same bytes.
#![no_main]
use dialroom::recorder::wire::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(item) = decode(data) {
        let mut out = Vec::new();
        encode(&item, &mut out);
        assert_eq!(out, data);
    }
});
