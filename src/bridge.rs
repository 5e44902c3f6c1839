//! The bridge between phone legs and browser participants of the same room
//! (docs/architecture.md, "The phone-browser bridge").
//!
//! * Browser audio reaches the phone mix: the SFU hands every audio packet a
//!   browser sends to the media worker of its room as a [`BrowserRtp`]; the
//!   worker keeps one receive-only *bridge leg* per browser (jitter buffer,
//!   Opus decoder) that takes part in talker selection like a phone leg, and
//!   decodes it only while its RFC 6464 level says it may be talking.
//! * Phone audio reaches the browsers: each phone caller who is one of the
//!   room's mixed talkers has its own 48 kHz input encoded to Opus once per
//!   tick ([`PhoneRtp`]) and the SFU writes it, as the caller's own source,
//!   to every browser of the room. Nothing is sent while a caller is silent
//!   (browsers treat the gap like DTX).
//! * Signaling: call control reports [`PhoneEvent`]s; the XMPP hub shows each
//!   caller as a MUC occupant (jigasi's presence shape: a `jigasi` feature, a
//!   masked number as nick, `audiomuted`) and the focus announces its source
//!   ([`phone_ssrc`]) in Jingle.
//!
//! Room names meet in one place: a SIP room `R` is the MUC room
//! `lowercase(R)@conference.<domain>`, and media for browsers joins the
//! worker room named like the MUC room's node ([`muc_node`]).

use std::sync::Arc;
use std::sync::OnceLock;

use crate::conference::LegId;

/// Bridge legs (one per browser participant) live above this id; phone legs
/// are numbered from 1 by call control.
pub const BRIDGE_LEG_BASE: LegId = 1 << 48;

/// The media leg of SFU endpoint `ep`.
pub fn bridge_leg(ep: u64) -> LegId {
    BRIDGE_LEG_BASE + ep
}

/// SFU endpoints of SIP legs with WebRTC media (browser softphones over
/// SIP over WebSocket) are numbered from here: `SIP_EP_BASE + leg`.
pub const SIP_EP_BASE: u64 = 1 << 62;

/// The SFU endpoint of SIP leg `leg` (WebRTC media).
pub fn sip_ep(leg: LegId) -> u64 {
    SIP_EP_BASE + leg
}

/// The SIP leg an SFU endpoint carries, if it is one of [`sip_ep`]'s.
pub fn sip_leg_of(ep: u64) -> Option<LegId> {
    (ep >= SIP_EP_BASE).then(|| ep - SIP_EP_BASE)
}

/// True for a browser's bridge leg.
pub fn is_bridge_leg(leg: LegId) -> bool {
    leg >= BRIDGE_LEG_BASE
}

/// The SSRC under which phone leg `leg` is sent to browsers: a per-process
/// salted mix of the leg id, so that the worker (which sends) and the focus
/// (which announces it) agree without telling each other.
pub fn phone_ssrc(leg: LegId) -> u32 {
    static SALT: OnceLock<u64> = OnceLock::new();
    let salt = *SALT.get_or_init(rand::random);
    // splitmix64
    let mut z = leg.wrapping_add(salt).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let s = (z ^ (z >> 31)) as u32;
    s.max(1)
}

/// A phone leg's occupant nick in its MUC room (also what a Rayo `<ref>`
/// names, so that a `<hangup>` finds the call).
pub fn phone_nick(leg: LegId) -> String {
    format!("phone-{leg}")
}

/// The leg a [`phone_nick`] is for.
pub fn leg_of_phone_nick(nick: &str) -> Option<LegId> {
    nick.strip_prefix("phone-")?.parse().ok()
}

/// The MUC room node (and the media room of browsers) for a SIP room name.
pub fn muc_node(room: &str) -> String {
    room.to_lowercase()
}

/// Call control -> XMPP: a phone caller's presence in a room, and the
/// room's recording state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    /// The caller is in the room's mix.
    Joined {
        /// The leg.
        leg: LegId,
        /// The SIP room name.
        room: String,
        /// What browsers see of the caller (`Phone …1234`,
        /// [`crate::conference::masked_phone`]).
        display: String,
        /// Muted on arrival.
        muted: bool,
    },
    /// Muted or unmuted (`*6`, `*7`, the admin).
    Muted {
        /// The leg.
        leg: LegId,
        /// Muted?
        muted: bool,
    },
    /// Left the room or hung up.
    Left {
        /// The leg.
        leg: LegId,
    },
    /// An operator kicks a browser participant (a MUC kick, status 307).
    KickBrowser {
        /// The SIP room name.
        room: String,
        /// Its occupant nick.
        nick: String,
    },
    /// An operator mutes a browser participant (the focus's mute IQ to it).
    MuteBrowser {
        /// The SIP room name.
        room: String,
        /// Its occupant nick.
        nick: String,
    },
    /// The room's recording started (`session` its id) or ended (`None`):
    /// browsers show it from the focus's presence.
    Recording {
        /// The SIP room name.
        room: String,
        /// The recording's id while it runs.
        session: Option<String>,
    },
}

/// XMPP -> call control: what a browser moderator asked (the focus's mute,
/// jibri and Rayo IQs, a MUC kick of a phone caller), and who is in a room
/// from a browser.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomRequest {
    /// Mute or unmute the caller (it hears "you are muted").
    Mute {
        /// The SIP room name.
        room: String,
        /// The leg.
        leg: LegId,
        /// Muted?
        muted: bool,
    },
    /// Hang the caller up (BYE from us).
    Kick {
        /// The SIP room name.
        room: String,
        /// The leg.
        leg: LegId,
    },
    /// Start or stop recording the room (Jitsi's jibri IQ); `iq` is
    /// answered to `to` once call control has.
    Record {
        /// The MUC room node.
        room: String,
        /// Start (true) or stop.
        on: bool,
        /// The occupant JID asking.
        by: String,
        /// The IQ to answer.
        iq: minidom::Element,
        /// Its sender's real JID.
        to: String,
    },
    /// Call a number into the room (a Rayo `<dial>` to the focus); `iq` is
    /// answered to `to` with a `<ref>` once call control has placed it.
    Dial {
        /// The MUC room node.
        room: String,
        /// The MUC room's JID (the `<ref>` names an occupant of it).
        room_jid: String,
        /// The number.
        number: String,
        /// The occupant JID asking.
        by: String,
        /// The IQ to answer.
        iq: minidom::Element,
        /// Its sender's real JID.
        to: String,
    },
    /// A browser came or went (passed on to call control as it is).
    Browser(BrowserPresence),
}

/// A browser participant (a MUC occupant that is neither the focus nor a
/// phone caller) joining or leaving a room, as the hub tells call control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserPresence {
    /// It joined.
    Joined {
        /// The MUC room node.
        room: String,
        /// Its occupant nick.
        nick: String,
        /// The name it gave (its `<nick>`), else its occupant nick.
        display: String,
    },
    /// It left.
    Left {
        /// The MUC room node.
        room: String,
        /// Its occupant nick.
        nick: String,
    },
}

/// SFU -> media worker: one audio packet a browser sent.
#[derive(Debug, Clone)]
pub struct BrowserRtp {
    /// The browser's bridge leg.
    pub leg: LegId,
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (48 kHz).
    pub ts: u32,
    /// RFC 6464 level (-dBov, 127 silence), when the browser sent one.
    pub level: Option<u8>,
    /// The Opus payload.
    pub payload: Arc<[u8]>,
}

/// Media worker -> SFU: 20 ms of one phone caller for the browsers of a room.
#[derive(Debug, Clone)]
pub struct PhoneRtp {
    /// The media (and SFU) room.
    pub room: Arc<str>,
    /// The caller's browser-side SSRC ([`phone_ssrc`]).
    pub ssrc: u32,
    /// 48 kHz timestamp (advances with the worker's ticks, also in silence).
    pub ts: u32,
    /// First packet after a silence.
    pub marker: bool,
    /// RFC 6464 level (-dBov).
    pub level: u8,
    /// The Opus payload.
    pub payload: Arc<[u8]>,
}

/// -dBov (0 loudest .. 127 silence) of an RMS level of 16-bit samples.
pub fn dbov(rms: u32) -> u8 {
    if rms == 0 {
        return 127;
    }
    let db = -20.0 * (f64::from(rms) / 32768.0).log10();
    db.clamp(0.0, 127.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_ssrcs_are_stable_per_leg_and_differ_between_legs() {
        assert_eq!(phone_ssrc(7), phone_ssrc(7));
        let set: std::collections::HashSet<u32> = (1..2000).map(phone_ssrc).collect();
        assert!(set.len() > 1990, "collisions: {}", 1999 - set.len());
        assert!(!set.contains(&0));
    }

    #[test]
    fn bridge_legs_are_apart_from_phone_legs() {
        assert!(is_bridge_leg(bridge_leg(1)));
        assert!(!is_bridge_leg(42));
    }

    #[test]
    fn levels_map_to_dbov() {
        assert_eq!(dbov(0), 127);
        assert_eq!(dbov(32768), 0);
        assert_eq!(dbov(3277), 19);
    }
}
