//! The shared core: who is bound where, and where each stanza goes (the
//! server itself, a user, the MUC service, the focus). Sans-IO: calls return
//! [`Delivery`]s; one tokio task owns the hub (docs/architecture.md, "XMPP").

use std::collections::HashMap;

use jid::{FullJid, Jid};
use minidom::Element;

use super::disco;
use super::focus::{Focus, FocusEvent};
use super::muc::{self, Rooms};
use super::ns;
use super::stanza::{self, Kind};

/// A session's handle in the hub.
pub type SessionId = u64;

/// What the shell must do after a hub call.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Send this stanza on that session.
    Send(SessionId, Element),
    /// Close that session with a stream error condition.
    Close(SessionId, &'static str),
}

/// The hub.
#[derive(Debug)]
pub struct Hub {
    domain: String,
    focus: Focus,
    sessions: HashMap<SessionId, FullJid>,
    by_jid: HashMap<String, SessionId>,
    rooms: Rooms,
    events: Vec<FocusEvent>,
    /// Phone callers shown in rooms, by leg.
    phones: HashMap<crate::conference::LegId, PhoneOccupant>,
    /// What browser moderators asked, and browsers coming and going, for
    /// call control.
    requests: Vec<crate::bridge::RoomRequest>,
    /// Each recorded room's `jibri-recording-status` (by MUC room JID),
    /// part of the focus's presence there.
    recording: HashMap<String, Element>,
}

/// A phone caller shown as an occupant.
#[derive(Debug, Clone)]
struct PhoneOccupant {
    /// The SIP room (call control's name for it).
    room: String,
    /// The MUC room's bare JID.
    key: String,
    nick: String,
    shown: String,
}

impl Hub {
    /// A hub for `domain`.
    pub fn new(domain: &str) -> Result<Self, jid::Error> {
        Ok(Hub {
            domain: domain.to_ascii_lowercase(),
            focus: Focus::new(domain)?,
            sessions: HashMap::new(),
            by_jid: HashMap::new(),
            rooms: Rooms::default(),
            events: Vec::new(),
            phones: HashMap::new(),
            requests: Vec::new(),
            recording: HashMap::new(),
        })
    }

    /// Bound sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Focus events since the last call, in order. A phone caller that
    /// left the MUC without call control saying so was kicked by a
    /// moderator: its call is to be hung up ([`Hub::take_requests`]).
    pub fn take_events(&mut self) -> Vec<FocusEvent> {
        use crate::bridge::{BrowserPresence, RoomRequest};
        let events = std::mem::take(&mut self.events);
        for e in &events {
            match e {
                FocusEvent::OccupantLeft { room, nick } => {
                    if let Some(leg) = self.phone_leg(room.as_str(), nick) {
                        if let Some(p) = self.phones.remove(&leg) {
                            tracing::info!(leg, room = %p.room, "phone caller kicked from the MUC: hanging up");
                            self.requests.push(RoomRequest::Kick { room: p.room, leg });
                        }
                    } else if nick != "focus" {
                        self.requests
                            .push(RoomRequest::Browser(BrowserPresence::Left {
                                room: node_of(room),
                                nick: nick.clone(),
                            }));
                    }
                }
                FocusEvent::OccupantJoined {
                    room,
                    nick,
                    presence,
                    ..
                } => {
                    let display = display_name(nick, presence);
                    self.requests
                        .push(RoomRequest::Browser(BrowserPresence::Joined {
                            room: node_of(room),
                            nick: nick.clone(),
                            display,
                        }));
                }
                _ => {}
            }
        }
        events
    }

    /// Requests for call control (mute, kick) since the last call.
    pub fn take_requests(&mut self) -> Vec<crate::bridge::RoomRequest> {
        std::mem::take(&mut self.requests)
    }

    fn phone_leg(&self, key: &str, nick: &str) -> Option<crate::conference::LegId> {
        self.phones
            .iter()
            .find(|(_, p)| p.key == key && p.nick == nick)
            .map(|(leg, _)| *leg)
    }

    /// The MUC room JID of a SIP room name.
    fn room_key(&self, room: &str) -> String {
        format!(
            "{}@{}",
            crate::bridge::muc_node(room),
            self.focus.muc_domain
        )
    }

    /// True when `nick` is a moderator of `room`.
    fn is_moderator(&self, room: &jid::BareJid, nick: &str) -> bool {
        self.rooms.get(room.as_str()).is_some_and(|r| {
            r.occupants
                .iter()
                .any(|x| x.nick == nick && x.role == muc::Role::Moderator)
        })
    }

    /// Jitsi's jibri IQ to the focus (jitsi.md §7): a moderator starts or
    /// stops the room's recording (file mode: dialroom's own recorder).
    /// Call control answers it ([`crate::bridge::RoomRequest::Record`]).
    fn focus_jibri(&mut self, room: &jid::BareJid, sender: &str, iq: Element, o: &mut muc::Out) {
        let Some((from, j)) = set_payload(&iq, o) else {
            return;
        };
        let fail = |o: &mut muc::Out, t: &str, cond: &str| refuse(&iq, o, t, cond);
        let on = match j.attr("action") {
            Some("start") => true,
            Some("stop") => false,
            _ => return fail(o, "modify", "bad-request"),
        };
        match j.attr("recording_mode") {
            None | Some("file") => {}
            // Live streaming is not something dialroom does.
            Some(_) => return fail(o, "cancel", "feature-not-implemented"),
        }
        if !self.is_moderator(room, sender) {
            return fail(o, "auth", "forbidden");
        }
        self.requests.push(crate::bridge::RoomRequest::Record {
            room: node_of(room),
            on,
            by: format!("{room}/{sender}"),
            iq: iq.clone(),
            to: from,
        });
    }

    /// Rayo `<dial>` to the focus (jitsi.md §6): a moderator calls a phone
    /// number into the room. Call control answers it
    /// ([`crate::bridge::RoomRequest::Dial`]) with a `<ref>` to the
    /// callee's occupant JID, which a `<hangup>` is sent to.
    fn focus_dial(&mut self, room: &jid::BareJid, sender: &str, iq: Element, o: &mut muc::Out) {
        let Some((from, d)) = set_payload(&iq, o) else {
            return;
        };
        let Some(number) = d.attr("to").map(str::trim).filter(|n| !n.is_empty()) else {
            return refuse(&iq, o, "modify", "bad-request");
        };
        if !self.is_moderator(room, sender) {
            return refuse(&iq, o, "auth", "forbidden");
        }
        self.requests.push(crate::bridge::RoomRequest::Dial {
            room: node_of(room),
            room_jid: room.to_string(),
            number: number.to_string(),
            by: format!("{room}/{sender}"),
            iq: iq.clone(),
            to: from,
        });
    }

    /// Rayo `<hangup>` to a phone occupant's JID (`ROOM/phone-LEG`, the
    /// `<ref>` a dial gave): a moderator hangs up a call, ringing or
    /// answered.
    fn rayo_hangup(&mut self, to: &FullJid, iq: Element, o: &mut muc::Out) {
        let Some((from, _)) = set_payload(&iq, o) else {
            return;
        };
        let room = to.to_bare();
        let sender = self
            .rooms
            .get(room.as_str())
            .and_then(|r| r.nick_of_real(&from))
            .map(str::to_string);
        let Some(sender) = sender else {
            return refuse(&iq, o, "modify", "not-acceptable");
        };
        if !self.is_moderator(&room, &sender) {
            return refuse(&iq, o, "auth", "forbidden");
        }
        let Some(leg) = crate::bridge::leg_of_phone_nick(to.resource().as_str()) else {
            return refuse(&iq, o, "cancel", "item-not-found");
        };
        self.requests.push(crate::bridge::RoomRequest::Kick {
            room: node_of(&room),
            leg,
        });
        o.push((from, stanza::iq_result(&iq, None)));
    }

    /// The focus's mute IQ (`http://jitsi.org/jitmeet/audio`, as jicofo
    /// takes it): a moderator may mute anyone, anyone may unmute only
    /// themselves. A phone caller is muted by call control; a browser is
    /// sent the mute IQ from the focus, and mutes itself.
    fn focus_mute(&mut self, room: &jid::BareJid, sender: &str, iq: Element, o: &mut muc::Out) {
        let Some((from, m)) = set_payload(&iq, o) else {
            return;
        };
        let fail = |o: &mut muc::Out, t: &str, cond: &str| refuse(&iq, o, t, cond);
        let muted = match m.text().trim() {
            "true" => true,
            "false" => false,
            _ => return fail(o, "modify", "bad-request"),
        };
        let target = m.attr("jid").and_then(|j| FullJid::new(j).ok());
        let Some(target) = target.filter(|t| t.to_bare() == *room) else {
            return fail(o, "modify", "bad-request");
        };
        let nick = target.resource().as_str();
        let Some(r) = self.rooms.get(room.as_str()) else {
            return fail(o, "cancel", "item-not-found");
        };
        let moderator = self.is_moderator(room, sender);
        let Some(t) = r.occupants.iter().find(|x| x.nick == nick) else {
            return fail(o, "cancel", "item-not-found");
        };
        if t.is_focus {
            return fail(o, "modify", "bad-request");
        }
        if !(nick == sender || (moderator && muted)) {
            return fail(o, "auth", "forbidden");
        }
        if t.is_phone {
            let Some(leg) = self.phone_leg(room.as_str(), nick) else {
                return fail(o, "cancel", "item-not-found");
            };
            let room = self.phones[&leg].room.clone();
            self.requests
                .push(crate::bridge::RoomRequest::Mute { room, leg, muted });
        } else {
            o.push((
                t.real.to_string(),
                mute_iq(room.as_str(), t.real.as_str(), muted),
            ));
        }
        o.push((from, stanza::iq_result(&iq, None)));
    }

    /// A session bound `jid`. An older session with the same full JID is closed
    /// with `conflict` (RFC 6120 §7.7.2.2).
    pub fn connect(&mut self, sid: SessionId, jid: FullJid, out: &mut Vec<Delivery>) {
        if let Some(old) = self.by_jid.insert(jid.to_string(), sid) {
            self.sessions.remove(&old);
            let mut o = Vec::new();
            self.rooms.gone(&jid, &mut o, &mut self.events);
            self.deliver(o, out);
            out.push(Delivery::Close(old, "conflict"));
        }
        self.sessions.insert(sid, jid);
    }

    /// A session ended: it leaves its rooms.
    pub fn disconnect(&mut self, sid: SessionId, out: &mut Vec<Delivery>) {
        let Some(jid) = self.sessions.remove(&sid) else {
            return;
        };
        if self.by_jid.get(jid.as_str()) == Some(&sid) {
            self.by_jid.remove(jid.as_str());
        }
        let mut o = Vec::new();
        self.rooms.gone(&jid, &mut o, &mut self.events);
        self.deliver(o, out);
    }

    /// A phone caller joined, muted or left a room (the bridge): it is a
    /// MUC occupant like jigasi's callers (jitsi.md §6), whose one audio
    /// source the focus announces.
    pub fn phone(&mut self, ev: crate::bridge::PhoneEvent, out: &mut Vec<Delivery>) {
        use crate::bridge::PhoneEvent;
        let mut o = Vec::new();
        match ev {
            PhoneEvent::Joined {
                leg,
                room,
                display,
                muted,
            } => {
                if let Some(p) = self.phones.remove(&leg) {
                    self.rooms
                        .phone_leave(&p.key, &p.nick, &mut o, &mut self.events);
                }
                let node = crate::bridge::muc_node(&room);
                let nick = crate::bridge::phone_nick(leg);
                let (Ok(jid), Ok(real)) = (
                    jid::BareJid::new(&format!("{node}@{}", self.focus.muc_domain)),
                    FullJid::new(&format!("{nick}@{}/phone", self.domain)),
                ) else {
                    tracing::info!(%room, "xmpp: room name is not a JID node; its phone callers are not shown to browsers");
                    return;
                };
                if self.rooms.phone_join(
                    &jid,
                    &nick,
                    &real,
                    phone_presence(&display, muted),
                    &mut o,
                ) {
                    self.events.push(FocusEvent::PhoneJoined {
                        room: jid.clone(),
                        nick: nick.clone(),
                        real,
                        ssrc: crate::bridge::phone_ssrc(leg),
                    });
                    self.phones.insert(
                        leg,
                        PhoneOccupant {
                            room,
                            key: jid.to_string(),
                            nick,
                            shown: display,
                        },
                    );
                }
            }
            PhoneEvent::Muted { leg, muted } => {
                if let Some(p) = self.phones.get(&leg) {
                    let presence = phone_presence(&p.shown, muted);
                    self.rooms.phone_update(&p.key, &p.nick, presence, &mut o);
                }
            }
            PhoneEvent::Left { leg } => {
                if let Some(p) = self.phones.remove(&leg) {
                    self.rooms
                        .phone_leave(&p.key, &p.nick, &mut o, &mut self.events);
                }
            }
            PhoneEvent::KickBrowser { room, nick } => {
                let key = self.room_key(&room);
                self.rooms.kick(&key, &nick, &mut o, &mut self.events);
            }
            PhoneEvent::MuteBrowser { room, nick } => {
                let key = self.room_key(&room);
                if let Some(real) = self
                    .rooms
                    .get(&key)
                    .and_then(|r| r.occupants.iter().find(|x| x.nick == nick))
                    .filter(|x| !x.is_focus && !x.is_phone)
                    .map(|x| x.real.to_string())
                {
                    o.push((real.clone(), mute_iq(&key, &real, true)));
                }
            }
            PhoneEvent::Recording { room, session } => {
                let key = self.room_key(&room);
                let st = recording_status(session.as_deref());
                if session.is_some() {
                    self.recording.insert(key.clone(), st.clone());
                } else {
                    self.recording.remove(&key);
                }
                self.rooms.focus_status(&key, st, &mut o);
            }
        }
        self.deliver(o, out);
    }

    /// Turns deliveries to real JIDs (e.g. a conductor's stanzas) into sends.
    pub fn deliver(&self, o: muc::Out, out: &mut Vec<Delivery>) {
        for (to, el) in o {
            if let Some(sid) = self.by_jid.get(&to) {
                out.push(Delivery::Send(*sid, el));
            }
        }
    }

    fn reply(&self, sid: SessionId, el: Option<Element>, out: &mut Vec<Delivery>) {
        if let Some(el) = el {
            out.push(Delivery::Send(sid, el));
        }
    }

    /// A stanza from a bound session (`from` already stamped).
    pub fn stanza(&mut self, sid: SessionId, el: Element, out: &mut Vec<Delivery>) {
        let Some(kind) = Kind::of(&el) else { return };
        if !self.sessions.contains_key(&sid) {
            return;
        }
        let to = match stanza::to(&el) {
            Ok(t) => t,
            Err(_) => {
                return self.reply(
                    sid,
                    stanza::error_reply(&el, "modify", "jid-malformed"),
                    out,
                );
            }
        };
        let Some(to) = to else {
            return self.for_server(sid, kind, el, out);
        };
        let domain = to.domain().as_str().to_string();
        if domain == self.domain && to.node().is_none() && to.resource().is_none() {
            self.for_server(sid, kind, el, out)
        } else if domain == self.focus.muc_domain {
            self.for_muc(sid, kind, to, el, out)
        } else if domain == self.focus.component {
            self.for_focus(sid, kind, el, out)
        } else if domain == self.domain {
            self.for_user(sid, kind, to, el, out)
        } else {
            self.reply(
                sid,
                stanza::error_reply(&el, "cancel", "remote-server-not-found"),
                out,
            )
        }
    }

    fn for_server(&mut self, sid: SessionId, kind: Kind, el: Element, out: &mut Vec<Delivery>) {
        if kind != Kind::Iq {
            // Initial presence and messages to the server: nothing to do (no rosters).
            return;
        }
        let t = stanza::kind_type(&el);
        if t == "result" || t == "error" {
            return;
        }
        let Some(q) = stanza::payload(&el) else {
            return self.reply(sid, stanza::error_reply(&el, "modify", "bad-request"), out);
        };
        let answer = match (t, q.name(), q.ns().as_str()) {
            ("get", "ping", ns::PING) => Some(None),
            ("get", "query", ns::DISCO_INFO) => Some(Some(disco::server_info())),
            ("get", "query", ns::DISCO_ITEMS) => Some(Some(disco::server_items(
                &self.focus.muc_domain,
                &self.focus.component,
            ))),
            ("get", "services", ns::EXTDISCO_2 | ns::EXTDISCO_1) => {
                Some(Some(Element::builder("services", q.ns()).build()))
            }
            ("get", "query", "jabber:iq:roster") => {
                Some(Some(Element::builder("query", "jabber:iq:roster").build()))
            }
            _ => None,
        };
        let reply = match answer {
            Some(child) => Some(stanza::iq_result(&el, child)),
            None => stanza::error_reply(&el, "cancel", "service-unavailable"),
        };
        self.reply(sid, reply, out);
    }

    fn for_muc(
        &mut self,
        sid: SessionId,
        kind: Kind,
        to: Jid,
        el: Element,
        out: &mut Vec<Delivery>,
    ) {
        let mut o = Vec::new();
        match (kind, to.node().is_some(), to.try_as_full()) {
            // The service itself.
            (Kind::Iq, false, _) => {
                let t = stanza::kind_type(&el);
                let q = stanza::payload(&el);
                let reply = match (t, q.map(|q| (q.name().to_string(), q.ns()))) {
                    ("get", Some((name, qns))) if name == "query" && qns == ns::DISCO_INFO => {
                        Some(stanza::iq_result(&el, Some(disco::muc_info())))
                    }
                    ("get", Some((name, qns))) if name == "query" && qns == ns::DISCO_ITEMS => {
                        Some(stanza::iq_result(
                            &el,
                            Some(disco::muc_items(&self.rooms.names())),
                        ))
                    }
                    ("get", Some((name, qns))) if name == "ping" && qns == ns::PING => {
                        Some(stanza::iq_result(&el, None))
                    }
                    _ => stanza::error_reply(&el, "cancel", "service-unavailable"),
                };
                return self.reply(sid, reply, out);
            }
            (_, false, _) => {
                return self.reply(
                    sid,
                    stanza::error_reply(&el, "cancel", "service-unavailable"),
                    out,
                );
            }
            (Kind::Presence, true, Ok(full)) => {
                let full = full.clone();
                self.rooms.presence(&full, el, &mut o, &mut self.events);
            }
            (Kind::Presence, true, Err(_)) => {
                return self.reply(
                    sid,
                    stanza::error_reply(&el, "modify", "jid-malformed"),
                    out,
                );
            }
            (Kind::Message, true, _) => self.rooms.message(&to, el, &mut o),
            (Kind::Iq, true, Ok(full))
                if crate::bridge::leg_of_phone_nick(full.resource().as_str()).is_some()
                    && stanza::payload(&el).is_some_and(|p| p.is("hangup", NS_RAYO)) =>
            {
                let full = full.clone();
                self.rayo_hangup(&full, el, &mut o);
            }
            (Kind::Iq, true, Ok(full)) => {
                let full = full.clone();
                if let Some((sender, iq)) = self.rooms.iq_to_occupant(&full, el, &mut o) {
                    // The focus occupant: mute is the focus's own business;
                    // Jingle (and later jibri, Rayo) go to the conductor.
                    let nick = sender.rsplit_once('/').map(|(_, n)| n.to_string());
                    if let Some(n) = &nick
                        && stanza::payload(&iq).is_some_and(|p| p.is("mute", NS_AUDIO_MUTE))
                    {
                        self.focus_mute(&full.to_bare(), n, iq, &mut o);
                        self.deliver(o, out);
                        return;
                    }
                    if let Some(n) = &nick
                        && stanza::payload(&iq).is_some_and(|p| p.is("jibri", NS_JIBRI))
                    {
                        self.focus_jibri(&full.to_bare(), n, iq, &mut o);
                        self.deliver(o, out);
                        return;
                    }
                    if let Some(n) = &nick
                        && stanza::payload(&iq).is_some_and(|p| p.is("dial", NS_RAYO))
                    {
                        self.focus_dial(&full.to_bare(), n, iq, &mut o);
                        self.deliver(o, out);
                        return;
                    }
                    let real = self.sessions.get(&sid).cloned();
                    if let (Some(nick), Some(real)) = (nick, real) {
                        self.events.push(FocusEvent::FocusIq {
                            room: full.to_bare(),
                            nick,
                            real,
                            iq,
                        });
                    }
                }
            }
            (Kind::Iq, true, Err(bare)) => {
                let bare = bare.clone();
                self.rooms.iq_to_room(&bare, el, &mut o, &mut self.events);
            }
        }
        self.deliver(o, out);
    }

    fn for_focus(&mut self, sid: SessionId, kind: Kind, el: Element, out: &mut Vec<Delivery>) {
        if kind != Kind::Iq {
            return;
        }
        let t = stanza::kind_type(&el);
        if t == "result" || t == "error" {
            return;
        }
        if t == "get" && el.has_child("query", ns::DISCO_INFO) {
            return self.reply(
                sid,
                Some(stanza::iq_result(&el, Some(disco::focus_info()))),
                out,
            );
        }
        if t == "get" && el.has_child("ping", ns::PING) {
            return self.reply(sid, Some(stanza::iq_result(&el, None)), out);
        }
        if t != "set" {
            return self.reply(
                sid,
                stanza::error_reply(&el, "cancel", "service-unavailable"),
                out,
            );
        }
        match self.focus.conference_room(&el) {
            Ok(room) => {
                let mut o = Vec::new();
                let mut payload = self.focus.presence_payload(&room);
                if let Some(st) = self.recording.get(room.as_str()) {
                    payload.push(st.clone());
                }
                let had_focus = self
                    .rooms
                    .get(room.as_str())
                    .is_some_and(|r| r.occupants.iter().any(|o| o.is_focus));
                if !had_focus {
                    self.events
                        .push(FocusEvent::FocusJoined { room: room.clone() });
                }
                self.rooms
                    .focus_join(&room, &self.focus.occupant_real, payload, &mut o);
                self.deliver(o, out);
                let r = self.focus.conference_result(&el, &room);
                self.reply(sid, Some(r), out);
            }
            Err(cond) => {
                let ty = if cond == "bad-request" {
                    "modify"
                } else {
                    "cancel"
                };
                self.reply(sid, stanza::error_reply(&el, ty, cond), out);
            }
        }
    }

    fn for_user(
        &mut self,
        sid: SessionId,
        kind: Kind,
        to: Jid,
        el: Element,
        out: &mut Vec<Delivery>,
    ) {
        let targets: Vec<SessionId> = match to.try_as_full() {
            Ok(full) => self
                .by_jid
                .get(full.as_str())
                .copied()
                .into_iter()
                .collect(),
            Err(bare) if kind == Kind::Message => {
                let bare = bare.as_str();
                self.sessions
                    .iter()
                    .filter(|(_, j)| j.to_bare().as_str() == bare)
                    .map(|(s, _)| *s)
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        if targets.is_empty() {
            if kind != Kind::Presence {
                self.reply(
                    sid,
                    stanza::error_reply(&el, "cancel", "service-unavailable"),
                    out,
                );
            }
            return;
        }
        for t in targets {
            out.push(Delivery::Send(t, el.clone()));
        }
    }
}

/// An error answer to `iq`, to its sender.
fn refuse(iq: &Element, o: &mut muc::Out, t: &str, cond: &str) {
    if let (Some(from), Some(e)) = (iq.attr("from"), stanza::error_reply(iq, t, cond)) {
        o.push((from.to_string(), e));
    }
}

/// The sender and payload of an IQ `set` to the focus; anything else is
/// refused with `bad-request` (None).
fn set_payload<'a>(iq: &'a Element, o: &mut muc::Out) -> Option<(String, &'a Element)> {
    let from = iq.attr("from")?.to_string();
    match stanza::payload(iq).filter(|_| stanza::kind_type(iq) == "set") {
        Some(p) => Some((from, p)),
        None => {
            refuse(iq, o, "modify", "bad-request");
            None
        }
    }
}

/// The focus's mute IQ to a browser in `room` (it mutes itself).
fn mute_iq(room: &str, real: &str, muted: bool) -> Element {
    Element::builder("iq", ns::CLIENT)
        .attr(stanza::n("type"), "set")
        .attr(stanza::n("from"), format!("{room}/focus"))
        .attr(stanza::n("to"), real)
        .attr(stanza::n("id"), super::session::random_uuid())
        .append(
            Element::builder("mute", NS_AUDIO_MUTE)
                .append(if muted { "true" } else { "false" })
                .build(),
        )
        .build()
}

/// Jitsi's audio mute IQ namespace.
const NS_AUDIO_MUTE: &str = "http://jitsi.org/jitmeet/audio";

/// Rayo (XEP-0327), as Jitsi clients dial out through the focus.
pub const NS_RAYO: &str = "urn:xmpp:rayo:1";

/// Jitsi's recording (jibri) namespace.
pub const NS_JIBRI: &str = "http://jitsi.org/protocol/jibri";

/// XEP-0172 user nickname.
const NS_NICK: &str = "http://jabber.org/protocol/nick";

/// The name an occupant gave (its XEP-0172 `<nick>`), else its occupant nick.
pub(crate) fn display_name(nick: &str, presence: &[Element]) -> String {
    presence
        .iter()
        .find(|c| c.is("nick", NS_NICK))
        .map(|c| c.text())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| nick.to_string())
}

/// A MUC room's node (its name for call control and the media workers).
fn node_of(room: &jid::BareJid) -> String {
    room.node()
        .map_or_else(String::new, |n| n.as_str().to_string())
}

/// The focus's recording status element for a room (jitsi.md §7).
fn recording_status(session: Option<&str>) -> Element {
    let mut b = Element::builder("jibri-recording-status", NS_JIBRI)
        .attr(
            stanza::n("status"),
            if session.is_some() { "on" } else { "off" },
        )
        .attr(stanza::n("recording_mode"), "file");
    if let Some(s) = session {
        b = b.attr(stanza::n("session_id"), s);
    }
    b.build()
}

/// A phone caller's presence payload, in jigasi's shape: the nick shown,
/// the jigasi and audio-mute features, and the legacy `audiomuted`.
fn phone_presence(shown: &str, muted: bool) -> Vec<Element> {
    let feature = |var: &str| {
        Element::builder("feature", ns::CLIENT)
            .attr(stanza::n("var"), var)
            .build()
    };
    vec![
        Element::builder("nick", "http://jabber.org/protocol/nick")
            .append(shown)
            .build(),
        Element::builder("features", ns::CLIENT)
            .append(feature("http://jitsi.org/protocol/jigasi"))
            .append(feature("http://jitsi.org/protocol/audio-mute"))
            .build(),
        Element::builder("audiomuted", ns::CLIENT)
            .append(if muted { "true" } else { "false" })
            .build(),
    ]
}

#[cfg(test)]
mod tests;
