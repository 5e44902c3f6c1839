//! XEP-0045 multi-user chat at `conference.<domain>`: rooms, occupants with
//! roles and affiliations, presence broadcast, groupchat, private messages
//! and IQs between occupants, passwords, kicks and the owner form.
//!
//! Sans-IO: every call appends `(real full JID, stanza)` deliveries to `out`;
//! the hub turns real JIDs into sessions. Rooms are non-anonymous (every
//! occupant sees real JIDs, as Jitsi needs) and never locked (see
//! docs/architecture.md, "XMPP").

use std::collections::HashMap;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;

use super::focus::FocusEvent;
use super::ns;
use super::stanza::{self, n};

/// An occupant's role in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May kick and change roles.
    Moderator,
    /// May speak (send groupchat).
    Participant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
        }
    }
}

/// A user's long-lived standing in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affiliation {
    /// Created the room (or was made owner): may configure it.
    Owner,
    /// Nothing special.
    None,
}

impl Affiliation {
    fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::None => "none",
        }
    }
}

/// One occupant.
#[derive(Debug, Clone)]
pub struct Occupant {
    /// The nick (resource of the occupant JID).
    pub nick: String,
    /// The real JID.
    pub real: FullJid,
    /// Role.
    pub role: Role,
    /// Affiliation.
    pub affiliation: Affiliation,
    /// The children of the occupant's last presence (broadcast as they are).
    pub payload: Vec<Element>,
    /// True for the focus (it has no session; stanzas to it go to the focus).
    pub is_focus: bool,
    /// True for a phone caller shown by the bridge (no session either).
    pub is_phone: bool,
}

/// One room.
#[derive(Debug, Clone)]
pub struct Room {
    /// The room's bare JID.
    pub jid: BareJid,
    /// Occupants in join order.
    pub occupants: Vec<Occupant>,
    /// The password joins must give, if any.
    pub password: Option<String>,
}

impl Room {
    /// The nick of the occupant whose real JID is `real`.
    pub fn nick_of_real(&self, real: &str) -> Option<&str> {
        self.occupant_by_real(real)
            .map(|i| self.occupants[i].nick.as_str())
    }
    fn occupant_by_real(&self, real: &str) -> Option<usize> {
        self.occupants.iter().position(|o| o.real.as_str() == real)
    }
    fn occupant_by_nick(&self, nick: &str) -> Option<usize> {
        self.occupants.iter().position(|o| o.nick == nick)
    }
    fn humans(&self) -> usize {
        self.occupants.iter().filter(|o| !o.is_focus).count()
    }
    fn occupant_jid(&self, nick: &str) -> String {
        format!("{}/{nick}", self.jid)
    }
}

/// Deliveries to real JIDs.
pub type Out = Vec<(String, Element)>;

/// Every room of the service.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<String, Room>,
}

/// The presence an occupant JID sends for `o`, to one recipient.
fn occupant_presence(
    room: &Room,
    o: &Occupant,
    to: &str,
    codes: &[u16],
    unavailable: bool,
) -> Element {
    let mut b = Element::builder("presence", ns::CLIENT)
        .attr(n("from"), room.occupant_jid(&o.nick))
        .attr(n("to"), to);
    if unavailable {
        b = b.attr(n("type"), "unavailable");
    } else {
        b = b.append_all(o.payload.iter().cloned());
    }
    let role = if unavailable { "none" } else { o.role.as_str() };
    let mut x = Element::builder("x", ns::MUC_USER).append(
        Element::builder("item", ns::MUC_USER)
            .attr(n("jid"), o.real.as_str())
            .attr(n("affiliation"), o.affiliation.as_str())
            .attr(n("role"), role)
            .build(),
    );
    for c in codes {
        x = x.append(
            Element::builder("status", ns::MUC_USER)
                .attr(n("code"), c.to_string())
                .build(),
        );
    }
    b.append(x.build()).build()
}

fn err(out: &mut Out, stanza: &Element, t: &str, cond: &str) {
    if let (Some(to), Some(mut e)) = (stanza.attr("from"), stanza::error_reply(stanza, t, cond)) {
        if stanza.name() == "presence" {
            // XEP-0045 echoes the join element in presence errors; clients
            // (slixmpp) match MUC join errors by it.
            e.append_child(Element::builder("x", ns::MUC).build());
        }
        out.push((to.to_string(), e));
    }
}

impl Rooms {
    /// The room, if it exists.
    pub fn get(&self, room: &str) -> Option<&Room> {
        self.rooms.get(room)
    }

    /// Room JIDs, for disco#items.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.rooms.keys().cloned().collect();
        v.sort();
        v
    }

    /// The focus joins `room` (creating it) if it is not there yet.
    pub fn focus_join(
        &mut self,
        room: &BareJid,
        focus: &FullJid,
        presence: Vec<Element>,
        out: &mut Out,
    ) {
        let r = self.rooms.entry(room.to_string()).or_insert_with(|| Room {
            jid: room.clone(),
            occupants: Vec::new(),
            password: None,
        });
        if r.occupants.iter().any(|o| o.is_focus) {
            return;
        }
        let o = Occupant {
            nick: "focus".into(),
            real: focus.clone(),
            role: Role::Moderator,
            affiliation: Affiliation::Owner,
            payload: presence,
            is_focus: true,
            is_phone: false,
        };
        for other in &r.occupants {
            out.push((
                other.real.to_string(),
                occupant_presence(r, &o, other.real.as_str(), &[], false),
            ));
        }
        r.occupants.push(o);
    }

    /// A presence addressed to `to` (an occupant JID) from a local user.
    pub fn presence(
        &mut self,
        to: &FullJid,
        p: Element,
        out: &mut Out,
        events: &mut Vec<FocusEvent>,
    ) {
        let Some(from) = p.attr("from").map(str::to_string) else {
            return;
        };
        let Ok(real) = FullJid::new(&from) else {
            return;
        };
        let room_jid = to.to_bare();
        let nick = to.resource().as_str().to_string();
        let t = stanza::kind_type(&p).to_string();
        match t.as_str() {
            "" => self.available(room_jid, nick, real, p, out, events),
            "unavailable" => {
                let key = room_jid.to_string();
                let Some(room) = self.rooms.get_mut(&key) else {
                    return;
                };
                let Some(i) = room.occupant_by_real(real.as_str()) else {
                    return;
                };
                self.leave(&key, i, &[], out, events);
            }
            _ => {}
        }
    }

    fn available(
        &mut self,
        room_jid: BareJid,
        nick: String,
        real: FullJid,
        p: Element,
        out: &mut Out,
        events: &mut Vec<FocusEvent>,
    ) {
        let key = room_jid.to_string();
        let payload: Vec<Element> = p
            .children()
            .filter(|c| !c.is("x", ns::MUC) && !c.is("x", ns::MUC_USER))
            .cloned()
            .collect();
        if let Some(room) = self.rooms.get_mut(&key)
            && let Some(i) = room.occupant_by_real(real.as_str())
        {
            if room.occupants[i].nick != nick {
                // Nick changes (status 303) are not supported yet.
                return err(out, &p, "modify", "not-acceptable");
            }
            room.occupants[i].payload = payload;
            let o = room.occupants[i].clone();
            for other in &room.occupants {
                if other.is_focus {
                    continue;
                }
                let codes: &[u16] = if other.real == o.real { &[110] } else { &[] };
                out.push((
                    other.real.to_string(),
                    occupant_presence(room, &o, other.real.as_str(), codes, false),
                ));
            }
            return;
        }
        if nick.is_empty() {
            return err(out, &p, "modify", "jid-malformed");
        }
        if nick == "focus" {
            // Reserved: Jitsi clients treat Jingle from any other nick as P2P.
            return err(out, &p, "cancel", "conflict");
        }
        let created = !self.rooms.contains_key(&key);
        let room = self.rooms.entry(key.clone()).or_insert_with(|| Room {
            jid: room_jid.clone(),
            occupants: Vec::new(),
            password: None,
        });
        if let Some(pw) = &room.password {
            let given = p
                .get_child("x", ns::MUC)
                .and_then(|x| x.get_child("password", ns::MUC))
                .map(|e| e.text());
            if given.as_deref() != Some(pw.as_str()) {
                return err(out, &p, "auth", "not-authorized");
            }
        }
        if room.occupant_by_nick(&nick).is_some() {
            return err(out, &p, "cancel", "conflict");
        }
        // The first person in a room owns it (jicofo's auto-owner when the
        // focus created the room; XEP-0045's creator otherwise). Phone
        // callers already there do not count: they cannot moderate.
        let first = !room.occupants.iter().any(|o| !o.is_focus && !o.is_phone);
        let o = Occupant {
            nick: nick.clone(),
            real: real.clone(),
            role: if first {
                Role::Moderator
            } else {
                Role::Participant
            },
            affiliation: if first {
                Affiliation::Owner
            } else {
                Affiliation::None
            },
            payload,
            is_focus: false,
            is_phone: false,
        };
        for other in &room.occupants {
            out.push((
                real.to_string(),
                occupant_presence(room, other, real.as_str(), &[], false),
            ));
            if !other.is_focus {
                out.push((
                    other.real.to_string(),
                    occupant_presence(room, &o, other.real.as_str(), &[], false),
                ));
            }
        }
        let mut codes = vec![100, 110];
        if created {
            codes.push(201);
        }
        out.push((
            real.to_string(),
            occupant_presence(room, &o, real.as_str(), &codes, false),
        ));
        // XEP-0045 §7.2.15: the subject (empty) ends the join; clients wait for it.
        let subject = Element::builder("message", ns::CLIENT)
            .attr(n("type"), "groupchat")
            .attr(n("from"), room.jid.as_str())
            .attr(n("to"), real.as_str())
            .attr(n("id"), super::session::random_uuid())
            .append(Element::builder("subject", ns::CLIENT).build())
            .build();
        out.push((real.to_string(), subject));
        room.occupants.push(o.clone());
        events.push(FocusEvent::OccupantJoined {
            room: room_jid,
            nick,
            real,
            presence: o.payload,
        });
    }

    /// A phone caller joins `room` (creating it) as occupant `nick` with
    /// `payload` as its presence; everyone there sees it.
    pub fn phone_join(
        &mut self,
        room: &BareJid,
        nick: &str,
        real: &FullJid,
        payload: Vec<Element>,
        out: &mut Out,
    ) -> bool {
        let r = self.rooms.entry(room.to_string()).or_insert_with(|| Room {
            jid: room.clone(),
            occupants: Vec::new(),
            password: None,
        });
        if r.occupant_by_nick(nick).is_some() {
            return false;
        }
        let o = Occupant {
            nick: nick.to_string(),
            real: real.clone(),
            role: Role::Participant,
            affiliation: Affiliation::None,
            payload,
            is_focus: false,
            is_phone: true,
        };
        for other in r.occupants.iter().filter(|o| !o.is_focus && !o.is_phone) {
            out.push((
                other.real.to_string(),
                occupant_presence(r, &o, other.real.as_str(), &[], false),
            ));
        }
        r.occupants.push(o);
        true
    }

    /// A phone caller's presence changed (muted): everyone sees the new one.
    pub fn phone_update(&mut self, room: &str, nick: &str, payload: Vec<Element>, out: &mut Out) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(i) = r.occupant_by_nick(nick) else {
            return;
        };
        r.occupants[i].payload = payload;
        let o = &r.occupants[i];
        for other in r.occupants.iter().filter(|o| !o.is_focus && !o.is_phone) {
            out.push((
                other.real.to_string(),
                occupant_presence(r, o, other.real.as_str(), &[], false),
            ));
        }
    }

    /// Replaces (or adds) the focus's presence child named like `el` and
    /// shows everyone the focus's new presence (e.g. the recording status).
    pub fn focus_status(&mut self, room: &str, el: Element, out: &mut Out) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(f) = r.occupants.iter_mut().find(|o| o.is_focus) else {
            return;
        };
        f.payload
            .retain(|c| c.name() != el.name() || c.ns() != el.ns());
        f.payload.push(el);
        let f = r
            .occupants
            .iter()
            .find(|o| o.is_focus)
            .expect("found above");
        for other in r.occupants.iter().filter(|o| !o.is_focus && !o.is_phone) {
            out.push((
                other.real.to_string(),
                occupant_presence(r, f, other.real.as_str(), &[], false),
            ));
        }
    }

    /// An operator removes occupant `nick` (not the focus or a phone
    /// caller) from `room`: everyone sees it leave with status 307.
    pub fn kick(&mut self, room: &str, nick: &str, out: &mut Out, events: &mut Vec<FocusEvent>) {
        let Some(i) = self.rooms.get(room).and_then(|r| {
            r.occupant_by_nick(nick)
                .filter(|&i| !r.occupants[i].is_focus && !r.occupants[i].is_phone)
        }) else {
            return;
        };
        self.leave(room, i, &[307], out, events);
    }

    /// A phone caller leaves.
    pub fn phone_leave(
        &mut self,
        room: &str,
        nick: &str,
        out: &mut Out,
        events: &mut Vec<FocusEvent>,
    ) {
        if let Some(i) = self.rooms.get(room).and_then(|r| r.occupant_by_nick(nick)) {
            self.leave(room, i, &[], out, events);
        }
    }

    /// Removes occupant `i` of `key`, telling everyone (`codes` e.g. 307 for a kick).
    fn leave(
        &mut self,
        key: &str,
        i: usize,
        codes: &[u16],
        out: &mut Out,
        events: &mut Vec<FocusEvent>,
    ) {
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        let o = room.occupants[i].clone();
        for other in &room.occupants {
            if other.is_focus {
                continue;
            }
            let mut c = codes.to_vec();
            if other.real == o.real {
                c.push(110);
            }
            out.push((
                other.real.to_string(),
                occupant_presence(room, &o, other.real.as_str(), &c, true),
            ));
        }
        room.occupants.remove(i);
        events.push(FocusEvent::OccupantLeft {
            room: room.jid.clone(),
            nick: o.nick.clone(),
        });
        if room.humans() == 0 {
            let jid = room.jid.clone();
            self.rooms.remove(key);
            events.push(FocusEvent::RoomEnded { room: jid });
        }
    }

    /// A session ended: it leaves every room it was in.
    pub fn gone(&mut self, real: &FullJid, out: &mut Out, events: &mut Vec<FocusEvent>) {
        let keys: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.occupant_by_real(real.as_str()).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(i) = self
                .rooms
                .get(&k)
                .and_then(|r| r.occupant_by_real(real.as_str()))
            {
                self.leave(&k, i, &[], out, events);
            }
        }
    }

    /// A message to a room or an occupant JID.
    pub fn message(&mut self, to: &Jid, m: Element, out: &mut Out) {
        let Some(from) = m.attr("from").map(str::to_string) else {
            return;
        };
        let key = to.to_bare().to_string();
        let Some(room) = self.rooms.get(&key) else {
            return err(out, &m, "cancel", "item-not-found");
        };
        let Some(si) = room.occupant_by_real(&from) else {
            return err(out, &m, "modify", "not-acceptable");
        };
        let sender = room.occupant_jid(&room.occupants[si].nick);
        match to.resource() {
            None => {
                if stanza::kind_type(&m) != "groupchat" {
                    return err(out, &m, "cancel", "feature-not-implemented");
                }
                for o in room.occupants.iter().filter(|o| !o.is_focus) {
                    out.push((
                        o.real.to_string(),
                        stanza::readdress(m.clone(), &sender, o.real.as_str()),
                    ));
                }
            }
            Some(nick) => {
                if stanza::kind_type(&m) == "groupchat" {
                    return err(out, &m, "modify", "bad-request");
                }
                let Some(ti) = room.occupant_by_nick(nick.as_str()) else {
                    return err(out, &m, "cancel", "item-not-found");
                };
                let t = &room.occupants[ti];
                if !t.is_focus {
                    out.push((
                        t.real.to_string(),
                        stanza::readdress(m, &sender, t.real.as_str()),
                    ));
                }
            }
        }
    }

    /// An IQ to an occupant JID: routed to the occupant's real JID with `from`
    /// rewritten to the sender's occupant JID (XEP-0045 §7.8.2; Jingle uses it).
    /// Returns the IQ back when it is addressed to the focus occupant.
    pub fn iq_to_occupant(
        &mut self,
        to: &FullJid,
        iq: Element,
        out: &mut Out,
    ) -> Option<(String, Element)> {
        let from = iq.attr("from")?.to_string();
        let key = to.to_bare().to_string();
        let Some(room) = self.rooms.get(&key) else {
            err(out, &iq, "cancel", "item-not-found");
            return None;
        };
        let Some(si) = room.occupant_by_real(&from) else {
            err(out, &iq, "modify", "not-acceptable");
            return None;
        };
        let Some(ti) = room.occupant_by_nick(to.resource().as_str()) else {
            err(out, &iq, "cancel", "item-not-found");
            return None;
        };
        let sender = room.occupant_jid(&room.occupants[si].nick);
        // XEP-0410 self-ping: answered by the service.
        if si == ti && iq.has_child("ping", ns::PING) {
            out.push((from, stanza::iq_result(&iq, None)));
            return None;
        }
        let t = &room.occupants[ti];
        if t.is_focus {
            return Some((sender, iq));
        }
        if t.is_phone {
            // A phone caller has no XMPP client to answer (jigasi's would):
            // refuse rather than leave the IQ unanswered.
            err(out, &iq, "cancel", "service-unavailable");
            return None;
        }
        out.push((
            t.real.to_string(),
            stanza::readdress(iq, &sender, t.real.as_str()),
        ));
        None
    }

    /// An IQ to a room's bare JID: disco, kick (muc#admin), the owner form.
    pub fn iq_to_room(
        &mut self,
        to: &BareJid,
        iq: Element,
        out: &mut Out,
        events: &mut Vec<FocusEvent>,
    ) {
        let Some(from) = iq.attr("from").map(str::to_string) else {
            return;
        };
        let key = to.to_string();
        let Some(room) = self.rooms.get(&key) else {
            return err(out, &iq, "cancel", "item-not-found");
        };
        let t = stanza::kind_type(&iq).to_string();
        let Some(q) = stanza::payload(&iq).cloned() else {
            return err(out, &iq, "modify", "bad-request");
        };
        let me = room
            .occupant_by_real(&from)
            .map(|i| room.occupants[i].clone());
        match (t.as_str(), q.name(), q.ns().as_str()) {
            ("get", "query", ns::DISCO_INFO) => {
                let info = super::disco::room_info(room.password.is_some(), room.humans());
                out.push((from, stanza::iq_result(&iq, Some(info))));
            }
            ("get", "query", ns::DISCO_ITEMS) => {
                let items = Element::builder("query", ns::DISCO_ITEMS).build();
                out.push((from, stanza::iq_result(&iq, Some(items))));
            }
            ("set", "query", ns::MUC_ADMIN) => {
                let Some(me) = me.filter(|m| m.role == Role::Moderator) else {
                    return err(out, &iq, "auth", "forbidden");
                };
                let Some(item) = q.get_child("item", ns::MUC_ADMIN) else {
                    return err(out, &iq, "modify", "bad-request");
                };
                if item.attr("role") != Some("none") {
                    return err(out, &iq, "cancel", "feature-not-implemented");
                }
                let Some(ti) = item.attr("nick").and_then(|nk| room.occupant_by_nick(nk)) else {
                    return err(out, &iq, "cancel", "item-not-found");
                };
                let target = &room.occupants[ti];
                if target.is_focus
                    || (target.affiliation == Affiliation::Owner
                        && me.affiliation != Affiliation::Owner)
                {
                    return err(out, &iq, "cancel", "not-allowed");
                }
                out.push((from, stanza::iq_result(&iq, None)));
                self.leave(&key, ti, &[307], out, events);
            }
            ("get", "query", ns::MUC_OWNER) => {
                if me.map(|m| m.affiliation) != Some(Affiliation::Owner) {
                    return err(out, &iq, "auth", "forbidden");
                }
                let form = owner_form(room.password.as_deref());
                let q = Element::builder("query", ns::MUC_OWNER)
                    .append(form)
                    .build();
                out.push((from, stanza::iq_result(&iq, Some(q))));
            }
            ("set", "query", ns::MUC_OWNER) => {
                if me.map(|m| m.affiliation) != Some(Affiliation::Owner) {
                    return err(out, &iq, "auth", "forbidden");
                }
                let Some(x) = q.get_child("x", ns::DATA) else {
                    // <destroy/> and others are not supported yet.
                    return err(out, &iq, "cancel", "feature-not-implemented");
                };
                if x.attr("type") == Some("submit") {
                    let field = |var: &str| {
                        x.children()
                            .find(|f| f.is("field", ns::DATA) && f.attr("var") == Some(var))
                            .and_then(|f| f.get_child("value", ns::DATA).map(|v| v.text()))
                    };
                    let protected = field("muc#roomconfig_passwordprotectedroom");
                    let secret = field("muc#roomconfig_roomsecret");
                    let room = self.rooms.get_mut(&key).expect("looked up above");
                    match (protected.as_deref(), secret) {
                        (Some("0" | "false"), _) => room.password = None,
                        (_, Some(s)) if !s.is_empty() => room.password = Some(s),
                        (_, Some(_)) => room.password = None,
                        _ => {}
                    }
                }
                out.push((from, stanza::iq_result(&iq, None)));
            }
            _ => err(out, &iq, "cancel", "service-unavailable"),
        }
    }
}

fn owner_form(password: Option<&str>) -> Element {
    let field = |var: &str, ty: &str, value: &str| {
        Element::builder("field", ns::DATA)
            .attr(n("var"), var)
            .attr(n("type"), ty)
            .append(Element::builder("value", ns::DATA).append(value).build())
            .build()
    };
    Element::builder("x", ns::DATA)
        .attr(n("type"), "form")
        .append(field(
            "FORM_TYPE",
            "hidden",
            "http://jabber.org/protocol/muc#roomconfig",
        ))
        .append(field(
            "muc#roomconfig_passwordprotectedroom",
            "boolean",
            if password.is_some() { "1" } else { "0" },
        ))
        .append(field(
            "muc#roomconfig_roomsecret",
            "text-private",
            password.unwrap_or(""),
        ))
        .append(field("muc#roomconfig_whois", "list-single", "anyone"))
        .build()
}
