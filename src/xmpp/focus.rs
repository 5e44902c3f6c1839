//! The focus at `focus.<domain>`: Jitsi's `<conference/>` request (read
//! `../shared/protocols/jitsi.md` §2) and the focus occupant of each room.
//!
//! The focus answers the conference IQ with `ready='true'` and its
//! `focusjid` once it has joined the room as the occupant `focus` (owner and
//! moderator, real JID `focus@auth.<domain>/focus`). The hub emits a
//! [`FocusEvent`] whenever the focus or an occupant joins or leaves, a room
//! ends, or an IQ reaches the focus occupant; the shell hands them to a
//! [`Conductor`] (`xmpp::conductor::JingleConductor` with the SFU, else
//! [`LogConductor`]).

use jid::{BareJid, FullJid};
use minidom::Element;

use super::ns;
use super::stanza::{self, n};

/// What happened in a room, for whoever drives media sessions.
#[derive(Debug, Clone, PartialEq)]
pub enum FocusEvent {
    /// Someone joined (`presence` holds the children of their join presence:
    /// SourceInfo, features, nick, ...).
    OccupantJoined {
        /// The room.
        room: BareJid,
        /// The occupant's nick (a Jitsi client's endpoint id).
        nick: String,
        /// The occupant's real JID.
        real: FullJid,
        /// Their presence payload.
        presence: Vec<Element>,
    },
    /// A phone caller appeared in the room (through the bridge); it sends
    /// one audio source, `ssrc`, and has no Jingle session.
    PhoneJoined {
        /// The room.
        room: BareJid,
        /// Its occupant nick.
        nick: String,
        /// Its (virtual) real JID.
        real: FullJid,
        /// Its audio source's SSRC ([`crate::bridge::phone_ssrc`]).
        ssrc: u32,
    },
    /// Someone left or was kicked.
    OccupantLeft {
        /// The room.
        room: BareJid,
        /// The occupant's nick.
        nick: String,
    },
    /// The last person left; the room is gone.
    RoomEnded {
        /// The room.
        room: BareJid,
    },
    /// The focus joined the room (after a conference IQ).
    FocusJoined {
        /// The room.
        room: BareJid,
    },
    /// An IQ from an occupant to the focus occupant (Jingle, jibri, ...);
    /// `from` is the sender's real JID, `to` the focus occupant JID.
    FocusIq {
        /// The room.
        room: BareJid,
        /// The sender's nick.
        nick: String,
        /// The sender's real JID.
        real: FullJid,
        /// The IQ as sent.
        iq: Element,
    },
}

/// Consumes focus events (the Jingle/SFU side, `xmpp::conductor`).
pub trait Conductor: Send {
    /// Called in order, from the hub's task; must not block. Stanzas to send
    /// go to `out` as (real JID, stanza).
    fn on_event(&mut self, event: FocusEvent, out: &mut Vec<(String, Element)>);
}

/// The conductor when there is no SFU: logs, and refuses IQs to the focus.
#[derive(Debug, Default)]
pub struct LogConductor;

impl Conductor for LogConductor {
    fn on_event(&mut self, event: FocusEvent, out: &mut Vec<(String, Element)>) {
        if let FocusEvent::FocusIq { real, iq, .. } = &event {
            if let Some(e) = stanza::error_reply(iq, "cancel", "service-unavailable") {
                out.push((real.to_string(), e));
            }
            return;
        }
        tracing::debug!(?event, "focus event (no SFU)");
    }
}

/// The focus's addresses.
#[derive(Debug, Clone)]
pub struct Focus {
    /// `focus.<domain>`: where conference IQs go.
    pub component: String,
    /// `focus@auth.<domain>`: the bare JID given as `focusjid`.
    pub jid: BareJid,
    /// `focus@auth.<domain>/focus`: the focus occupant's real JID.
    pub occupant_real: FullJid,
    /// `conference.<domain>`.
    pub muc_domain: String,
}

impl Focus {
    /// The focus for `domain`.
    pub fn new(domain: &str) -> Result<Self, jid::Error> {
        let jid = BareJid::new(&format!("focus@auth.{domain}"))?;
        Ok(Focus {
            component: format!("focus.{domain}"),
            occupant_real: jid.with_resource_str("focus")?,
            jid,
            muc_domain: format!("conference.{domain}"),
        })
    }

    /// Checks a conference request; `Ok(room)` when the focus should join
    /// `room`, `Err(condition)` for the error reply.
    pub fn conference_room(&self, iq: &Element) -> Result<BareJid, &'static str> {
        let c = iq
            .get_child("conference", ns::FOCUS)
            .ok_or("service-unavailable")?;
        let room = c.attr("room").ok_or("bad-request")?;
        let room = BareJid::new(room).map_err(|_| "bad-request")?;
        if room.domain().as_str() != self.muc_domain || room.node().is_none() {
            return Err("bad-request");
        }
        Ok(room)
    }

    /// The result for a conference request once the focus is in `room`.
    pub fn conference_result(&self, iq: &Element, room: &BareJid) -> Element {
        let prop = |name: &str, value: &str| {
            Element::builder("property", ns::FOCUS)
                .attr(n("name"), name)
                .attr(n("value"), value)
                .build()
        };
        let c = Element::builder("conference", ns::FOCUS)
            .attr(n("room"), room.as_str())
            .attr(n("ready"), "true")
            .attr(n("focusjid"), self.jid.as_str())
            .append(prop("authentication", "false"))
            .append(prop("visitors-supported", "false"))
            .append(prop("sipGatewayEnabled", "false"))
            .build();
        stanza::iq_result(iq, Some(c))
    }

    /// The focus occupant's presence payload (jicofo's shape, jitsi.md §3).
    pub fn presence_payload(&self, room: &BareJid) -> Vec<Element> {
        vec![
            Element::builder("etherpad", "http://jitsi.org/jitmeet/etherpad")
                .append(room.node().map(|n| n.as_str()).unwrap_or(""))
                .build(),
            Element::builder("versions", "http://jitsi.org/jitmeet")
                .append(
                    Element::builder("component", "http://jitsi.org/jitmeet")
                        .attr(n("name"), "focus")
                        .append(env!("CARGO_PKG_VERSION"))
                        .build(),
                )
                .build(),
            Element::builder("conference-properties", ns::FOCUS)
                .append(
                    Element::builder("property", ns::FOCUS)
                        .attr(n("key"), "support-terminate-restart")
                        .attr(n("value"), "false")
                        .build(),
                )
                .build(),
        ]
    }
}
