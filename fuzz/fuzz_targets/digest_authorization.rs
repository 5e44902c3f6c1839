//! Any Authorization header value: parsing and verifying never panic.
#![no_main]
use dialroom::sip::auth::{Algorithm, Credentials, DigestAuth, parse_authorization};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Some(d) = parse_authorization(s) {
        let mut a = DigestAuth::new([0; 32], "example.com", 300, vec![Algorithm::Md5, Algorithm::Sha256]);
        let c = Credentials::from_password("alice", "example.com", "pw");
        let _ = a.verify(1000, "REGISTER", &d, Some(&c));
    }
});
