//! Any bytes as a recording left on disk: the page scanner that repairs a
//! killed worker's files never panics and never claims more than it read.
#![no_main]
use dialroom::recorder::ogg_opus::scan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = scan(data);
    assert!(s.good <= data.len() as u64);
    assert!(s.pages == 0 || s.good >= 27);
});
