//! Any datagram on an SRTP leg: checking and decrypting it as SRTP and as
//! SRTCP never panics, and what authenticates is never longer than the input.
#![no_main]
use dialroom::media::srtp::{Context, MasterKey, Suite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_inline("WnD7c1ksDGs+dIefCEr1CT+Kg1BYjNbGuXQtUzvF").unwrap();
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
        let mut c = Context::new(suite, &key, &key).unwrap();
        let mut buf = data.to_vec();
        if let Ok(n) = c.unprotect_rtp(&mut buf) {
            assert!(n <= data.len());
        }
        let mut buf = data.to_vec();
        if let Ok(n) = c.unprotect_rtcp(&mut buf) {
            assert!(n <= data.len());
        }
        // What we protect, we can read back.
        let mut out = data.to_vec();
        out.resize(data.len() + 14, 0);
        if let Ok(n) = c.protect_rtp(&mut out, data.len()) {
            assert!(c.unprotect_rtp(&mut out[..n]).is_ok());
        }
    }
});
