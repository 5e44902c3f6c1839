//! dialroom: a SIP-first conferencing PBX in one binary.
//!
//! This crate holds every part of the server; `src/main.rs` is only the CLI.
//! Protocol cores (SIP transactions, the registrar, digest auth) are sans-IO
//! state machines that take `(now, input)` and return outputs plus their next
//! timeout; the tokio shells in `sip::transport`, `sip::endpoint` and `web`
//! drive them. See docs/architecture.md for the run loop and time model.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod bridge;
pub mod conference;
pub mod config;
pub mod dialplan;
pub mod error;
pub mod media;
pub mod recorder;
pub mod server;
pub mod sfu;
pub mod sip;
pub mod store;
pub mod tls;
pub mod web;
pub mod xmpp;

pub use error::{Error, Result};
