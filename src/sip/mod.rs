//! SIP: messages, framing, transactions, transports, digest auth, the
//! registrar and the endpoint core that ties them together.

pub mod admin;
pub mod auth;
pub mod call;
pub mod dialout;
pub mod endpoint;
mod fork;
pub mod framing;
pub mod message;
pub mod outbound;
mod recording;
pub mod registrar;
pub mod sdp;
pub mod stateless;
pub mod stats;
pub mod transaction;
pub mod transport;
pub mod webrtc;
