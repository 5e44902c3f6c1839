//! Media: codecs, resampling, jitter buffering, mixing, tones and prompts.

pub mod codec;
pub mod dtmf_detect;
pub mod engine;
pub mod goertzel;
pub mod jitter;
pub mod mixer;
pub mod prompts;
pub mod resample;
pub mod rtp;
pub mod srtp;
pub mod stats;
pub mod tones;
pub mod udp;
pub mod worker;
