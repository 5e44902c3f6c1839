//! Any Contact header values: parsing never panics.
#![no_main]
use dialroom::sip::registrar::parse_contacts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let values: Vec<String> = s.split('\n').map(str::to_string).collect();
    let _ = parse_contacts(&values);
});
