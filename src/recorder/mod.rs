//! The recorder: native recording of rooms (no headless browser).
//!
//! A recorded room gets a *tap* on its media worker ([`tap`]): every tick the
//! worker encodes the room mix (and, when asked, each participant's own
//! audio) to 48 kHz Opus and `try_send`s it into a bounded queue; a writer
//! thread per recording ([`job`]) turns the frames into Ogg Opus pages
//! ([`ogg_opus`]) and a sidecar JSON. The [`service`] task keeps the jobs in
//! the `recordings` table, starts and stops taps, heartbeats, repairs what a
//! killed worker left, and deletes recordings past their retention.

pub mod job;
pub mod ogg_opus;
pub mod remote;
pub mod service;
pub mod tap;
pub mod wire;
pub mod worker;

pub use service::{RecorderCommand, RecorderSettings, RecordingEnded};

/// Checks a recording id from outside (the API): 16 to 32 lowercase hex
/// digits, so that it is safe as a file name stem.
pub fn valid_id(id: &str) -> bool {
    (16..=32).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
