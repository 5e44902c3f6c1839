//! The media engine's interface: commands from call control to the media
//! workers and the events they send back. Legs and rooms are named by id;
//! nothing is shared between the signaling task and the workers.

use std::net::SocketAddr;

use crate::conference::LegId;
use crate::sip::sdp::{Direction, PayloadFormat};

/// How one leg's RTP is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSpec {
    /// Our RTP address (RTCP on port + 1).
    pub local: SocketAddr,
    /// Where to send; `None` until known (or on hold with c=0.0.0.0). The
    /// worker latches onto the address RTP actually comes from (symmetric RTP).
    pub remote: Option<SocketAddr>,
    /// The negotiated audio format.
    pub codec: PayloadFormat,
    /// RFC 4733 payload type, when negotiated; else DTMF is detected in-band.
    pub dtmf_pt: Option<u8>,
    /// Our direction: a leg that does not receive is out of the mix.
    pub direction: Direction,
    /// SRTP keys (SDES on a TLS leg); `None` for plain RTP.
    pub srtp: Option<super::srtp::Keys>,
    /// WebRTC media through the SFU's socket (a browser softphone): no
    /// socket of its own; what it sends arrives from the SFU by leg id, what
    /// it hears goes to the SFU.
    pub sfu: Option<SfuLink>,
}

/// Where a WebRTC leg's audio goes in the SFU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfuLink {
    /// The SFU room its endpoint is alone in.
    pub room: String,
    /// The SSRC the room's audio is sent to it with.
    pub ssrc: u32,
}

/// A sound played to one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sound {
    /// Short rising chime: someone joined.
    Join,
    /// Short falling chime: someone left.
    Leave,
}

/// Call control -> media worker.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// Bind the leg's sockets and start receiving.
    Open {
        /// The leg.
        leg: LegId,
        /// Its setup.
        spec: LegSpec,
        /// The room it goes into right away (the worker is chosen by room).
        room: Option<String>,
    },
    /// A browser participant's receive-only leg in `room` (the phone-browser
    /// bridge): its Opus packets come from the SFU, nothing is sent to it.
    OpenBridge {
        /// The leg ([`crate::bridge::bridge_leg`]).
        leg: LegId,
        /// The room.
        room: String,
    },
    /// A re-INVITE or UPDATE changed codec, address or direction.
    Update {
        /// The leg.
        leg: LegId,
        /// The new setup (same local address).
        spec: LegSpec,
    },
    /// Put the leg into a room's mix.
    Join {
        /// The leg.
        leg: LegId,
        /// The room.
        room: String,
        /// Join muted.
        muted: bool,
    },
    /// The leg's display name (a caller's masked number, a browser's
    /// name): recordings name its audio and events with it.
    Name {
        /// The leg.
        leg: LegId,
        /// The name.
        name: String,
    },
    /// Mute or unmute (a muted leg still hears the room).
    Mute {
        /// The leg.
        leg: LegId,
        /// Muted?
        muted: bool,
    },
    /// Play prompts to one leg (over whatever it hears); `PlayDone` with the
    /// same id follows when the last one ends (queued after any still playing).
    Play {
        /// The leg.
        leg: LegId,
        /// Prompt names (dialplans/prompts), played in order.
        prompts: Vec<String>,
        /// Names this playback in its `PlayDone`.
        id: u64,
    },
    /// Stop the leg's prompts (e.g. the caller started typing); no `PlayDone` follows.
    StopPlay {
        /// The leg.
        leg: LegId,
    },
    /// Leave the room (the leg stays open, e.g. back in the IVR).
    Leave {
        /// The leg.
        leg: LegId,
    },
    /// Play a sound to everyone in a room.
    RoomSound {
        /// The room.
        room: String,
        /// The sound.
        sound: Sound,
    },
    /// Start recording a room's audio into `tap` (`None` stops it). The
    /// worker encodes the room mix (and, when the tap asks, each
    /// participant's own audio) to Opus every tick and `try_send`s it.
    Record {
        /// The room.
        room: String,
        /// Where the frames go; `None` removes the room's tap.
        tap: Option<crate::recorder::tap::Tap>,
    },
    /// Leave the room and close the sockets.
    Close {
        /// The leg.
        leg: LegId,
    },
}

/// Media worker -> call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit arrived (RFC 4733 or in-band).
    Dtmf {
        /// The leg.
        leg: LegId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
    },
    /// No RTP for the configured time while not on hold.
    RtpTimeout {
        /// The leg.
        leg: LegId,
    },
    /// The prompts of a `Play` have finished playing.
    PlayDone {
        /// The leg.
        leg: LegId,
        /// The `Play`'s id.
        id: u64,
    },
    /// The leg's sockets could not be bound.
    OpenFailed {
        /// The leg.
        leg: LegId,
        /// Why.
        reason: String,
    },
}
