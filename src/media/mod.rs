//! Media: codecs, resampling, jitter buffering, mixing, tones and prompts.

pub mod codec;
