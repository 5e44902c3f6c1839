//! The focus's Jingle sessions, one per participant, backed by the SFU: the
//! real [`Conductor`]. Sans-IO like the hub it runs in: events in, stanzas
//! out (to real JIDs), SFU [`Command`]s out over the SFU's channel.
//!
//! A participant of a room the focus is in gets a `session-initiate` whose
//! transport is the SFU's (ICE-lite ufrag/pwd made here, the SFU's one
//! certificate fingerprint, the host candidate) and whose sources are the
//! accepted participants' sources. Its `session-accept` hands ICE
//! credentials, fingerprint and SSRCs to the SFU (no SDP on the server) and
//! its sources to the others as `source-add`; leaving, terminating or
//! disconnecting sends `source-remove` and frees the SFU endpoint.

use std::collections::HashMap;

use jid::FullJid;
use minidom::Element;
use str0m::IceCreds;

use super::focus::{Conductor, FocusEvent};
use super::jingle::{self, Action, MediaSources, NS_JINGLE_ERRORS};
use super::ns;
use super::stanza::{self, n};
use crate::sfu::{Command, EndpointId, Sfu, SourceSpec};

struct Session {
    sid: String,
    ep: EndpointId,
    accepted: bool,
    sources: Vec<MediaSources>,
}

struct Member {
    nick: String,
    /// The name it gave (for recordings' sidecars).
    display: String,
    real: FullJid,
    session: Option<Session>,
    /// A phone caller's audio source (sent by the bridge, no session).
    phone: Option<Vec<MediaSources>>,
}

#[derive(Default)]
struct RoomState {
    focus: bool,
    members: Vec<Member>,
}

/// Jingle sessions between the focus and every participant, media in the SFU.
pub struct JingleConductor {
    sfu: Sfu,
    initiator: String,
    rooms: HashMap<String, RoomState>,
    next_ep: EndpointId,
}

impl std::fmt::Debug for JingleConductor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JingleConductor")
            .field("rooms", &self.rooms.len())
            .finish()
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// SFU sources from Jingle sources: an FID group's second SSRC is the RTX of
/// its first, not a source of its own.
fn specs(sources: &[MediaSources]) -> Vec<SourceSpec> {
    let mut out = Vec::new();
    for ms in sources {
        let rtx_of = |ssrc: u32| {
            ms.groups
                .iter()
                .find(|g| g.semantics == "FID" && g.ssrcs.len() == 2 && g.ssrcs[0] == ssrc)
                .map(|g| g.ssrcs[1])
        };
        let is_rtx = |ssrc: u32| {
            ms.groups
                .iter()
                .any(|g| g.semantics == "FID" && g.ssrcs.get(1) == Some(&ssrc))
        };
        for s in &ms.sources {
            if is_rtx(s.ssrc) || out.iter().any(|o: &SourceSpec| o.ssrc == s.ssrc) {
                continue;
            }
            out.push(SourceSpec {
                ssrc: s.ssrc,
                rtx: rtx_of(s.ssrc),
                video: ms.media == jingle::Media::Video,
            });
        }
    }
    out
}

/// The UDP candidates of every content's transport (the only ones the SFU can use).
fn udp_candidates(j: &jingle::Jingle) -> Vec<std::net::SocketAddr> {
    j.contents
        .iter()
        .filter_map(|c| c.transport.as_ref())
        .flat_map(|t| t.candidates.iter())
        .filter(|c| c.protocol == "udp")
        .map(|c| c.addr)
        .collect()
}

/// The sources of a Jingle (per media), each stamped with `owner`.
fn sources_of(j: &jingle::Jingle, owner: &str) -> Vec<MediaSources> {
    let mut out: Vec<MediaSources> = Vec::new();
    for c in &j.contents {
        let Some(media) = c.media else { continue };
        if c.sources.is_empty() && c.groups.is_empty() {
            continue;
        }
        let mut sources = c.sources.clone();
        for s in &mut sources {
            s.owner = Some(owner.to_string());
        }
        match out.iter_mut().find(|m| m.media == media) {
            Some(m) => {
                m.sources.extend(sources);
                m.groups.extend(c.groups.iter().cloned());
            }
            None => out.push(MediaSources {
                media,
                sources,
                groups: c.groups.clone(),
            }),
        }
    }
    out
}

fn merge(into: &mut Vec<MediaSources>, more: &[MediaSources]) {
    for m in more {
        match into.iter_mut().find(|x| x.media == m.media) {
            Some(x) => {
                for s in &m.sources {
                    if !x.sources.iter().any(|y| y.ssrc == s.ssrc) {
                        x.sources.push(s.clone());
                    }
                }
                for g in &m.groups {
                    if !x.groups.contains(g) {
                        x.groups.push(g.clone());
                    }
                }
            }
            None => into.push(m.clone()),
        }
    }
}

/// Removes `gone`'s SSRCs (and groups touching them) from `from`; returns
/// what was actually removed.
fn subtract(from: &mut Vec<MediaSources>, gone: &[MediaSources]) -> Vec<MediaSources> {
    let mut removed = Vec::new();
    for g in gone {
        let ssrcs: Vec<u32> = g
            .sources
            .iter()
            .map(|s| s.ssrc)
            .chain(g.groups.iter().flat_map(|x| x.ssrcs.iter().copied()))
            .collect();
        if let Some(x) = from.iter_mut().find(|x| x.media == g.media) {
            let (out_s, keep_s): (Vec<_>, Vec<_>) = std::mem::take(&mut x.sources)
                .into_iter()
                .partition(|s| ssrcs.contains(&s.ssrc));
            let (out_g, keep_g): (Vec<_>, Vec<_>) = std::mem::take(&mut x.groups)
                .into_iter()
                .partition(|gr| gr.ssrcs.iter().any(|s| ssrcs.contains(s)));
            x.sources = keep_s;
            x.groups = keep_g;
            if !out_s.is_empty() || !out_g.is_empty() {
                removed.push(MediaSources {
                    media: g.media,
                    sources: out_s,
                    groups: out_g,
                });
            }
        }
    }
    from.retain(|x| !x.sources.is_empty() || !x.groups.is_empty());
    removed
}

fn has_sources(s: &[MediaSources]) -> bool {
    s.iter().any(|m| !m.sources.is_empty())
}

/// The SFU's (and the media workers') name of a MUC room: its node.
fn sfu_room(room: &str) -> String {
    room.split_once('@')
        .map_or(room, |(node, _)| node)
        .to_string()
}

/// A phone caller's one audio source, owned by its occupant nick.
fn phone_sources(nick: &str, ssrc: u32) -> Vec<MediaSources> {
    vec![MediaSources {
        media: jingle::Media::Audio,
        sources: vec![jingle::Source {
            ssrc,
            name: Some(format!("{nick}-a0")),
            msid: Some(format!("{nick}-audio-0 {nick}-audio-0")),
            owner: Some(nick.to_string()),
        }],
        groups: Vec::new(),
    }]
}

impl JingleConductor {
    /// A conductor whose media goes to `sfu`; `initiator` is the focus's real
    /// JID (`focus@auth.<domain>/focus`).
    pub fn new(sfu: Sfu, initiator: &str) -> JingleConductor {
        JingleConductor {
            sfu,
            initiator: initiator.to_string(),
            rooms: HashMap::new(),
            next_ep: 1,
        }
    }

    fn set(room: &str, to: &FullJid, jingle: Element) -> Element {
        Element::builder("iq", ns::CLIENT)
            .attr(n("type"), "set")
            .attr(n("from"), format!("{room}/focus"))
            .attr(n("to"), to.as_str())
            .attr(n("id"), random_hex(8))
            .append(jingle)
            .build()
    }

    fn initiate(&mut self, room: &str, idx: usize, out: &mut Vec<(String, Element)>) {
        let ep = self.next_ep;
        self.next_ep += 1;
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let mut others: Vec<MediaSources> = Vec::new();
        for (i, m) in r.members.iter().enumerate() {
            if let Some(s) = m.session.as_ref().filter(|s| s.accepted && i != idx) {
                merge(&mut others, &s.sources);
            }
            if let Some(p) = &m.phone {
                merge(&mut others, p);
            }
        }
        let ufrag = random_hex(4);
        let pwd = random_hex(12);
        self.sfu.send(Command::Add {
            ep,
            room: sfu_room(room),
            name: r.members[idx].display.clone(),
            local: IceCreds {
                ufrag: ufrag.clone(),
                pass: pwd.clone(),
            },
        });
        let (hash, value) = self
            .sfu
            .fingerprint
            .split_once(' ')
            .unwrap_or(("sha-256", self.sfu.fingerprint.as_str()));
        let sid = random_hex(6);
        let offer = jingle::Offer {
            ufrag: &ufrag,
            pwd: &pwd,
            fingerprint: (hash, value),
            candidate: self.sfu.candidate,
        };
        let el = jingle::session_initiate(&sid, &self.initiator, &offer, &others);
        let m = &mut r.members[idx];
        out.push((m.real.to_string(), Self::set(room, &m.real, el)));
        tracing::debug!(room, nick = %m.nick, ep, "focus: session-initiate");
        m.session = Some(Session {
            sid,
            ep,
            accepted: false,
            sources: Vec::new(),
        });
    }

    /// Sends `action` with `sources` to every member of `room` but `skip`
    /// that has a session.
    fn relay(
        &self,
        room: &str,
        skip: usize,
        action: Action,
        sources: &[MediaSources],
        out: &mut Vec<(String, Element)>,
    ) {
        if !has_sources(sources) {
            return;
        }
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        for (i, m) in r.members.iter().enumerate() {
            let Some(s) = m.session.as_ref().filter(|_| i != skip) else {
                continue;
            };
            let el = jingle::source_change(action, &s.sid, sources);
            out.push((m.real.to_string(), Self::set(room, &m.real, el)));
        }
    }

    /// Ends member `idx`'s session (or a phone caller's source): frees the
    /// SFU endpoint and tells the others.
    fn end(&mut self, room: &str, idx: usize, out: &mut Vec<(String, Element)>) {
        if let Some(p) = self
            .rooms
            .get_mut(room)
            .and_then(|r| r.members.get_mut(idx))
            .and_then(|m| m.phone.take())
        {
            for s in p.iter().flat_map(|m| m.sources.iter()) {
                self.sfu.send(Command::Phone {
                    room: sfu_room(room),
                    ssrc: s.ssrc,
                    present: false,
                });
            }
            self.relay(room, idx, Action::SourceRemove, &p, out);
            return;
        }
        let Some(s) = self
            .rooms
            .get_mut(room)
            .and_then(|r| r.members.get_mut(idx))
            .and_then(|m| m.session.take())
        else {
            return;
        };
        self.sfu.send(Command::Remove { ep: s.ep });
        if s.accepted {
            self.relay(room, idx, Action::SourceRemove, &s.sources, out);
        }
    }

    fn on_iq(&mut self, room: &str, nick: &str, iq: Element, out: &mut Vec<(String, Element)>) {
        let Some(from) = iq.attr("from").map(str::to_string) else {
            return;
        };
        let t = stanza::kind_type(&iq);
        if t == "result" {
            return;
        }
        if t == "error" {
            tracing::info!(
                room,
                nick,
                "focus: a participant answered Jingle with an error"
            );
            return;
        }
        let reply_err = |out: &mut Vec<(String, Element)>, ty: &str, cond: &str, jingle: bool| {
            if let Some(mut e) = stanza::error_reply(&iq, ty, cond) {
                if jingle && let Some(err) = e.get_child_mut("error", ns::CLIENT) {
                    err.append_child(Element::builder("unknown-session", NS_JINGLE_ERRORS).build());
                }
                out.push((from.clone(), e));
            }
        };
        let Some(payload) = stanza::payload(&iq) else {
            return reply_err(out, "modify", "bad-request", false);
        };
        if !payload.is("jingle", jingle::NS_JINGLE) || t != "set" {
            // Jibri, Rayo and mute IQs to the focus are not supported yet.
            return reply_err(out, "cancel", "service-unavailable", false);
        }
        let j = match jingle::parse(payload) {
            Ok(j) => j,
            Err(e) => {
                tracing::info!(room, nick, "focus: bad Jingle: {e}");
                return reply_err(out, "modify", "bad-request", false);
            }
        };
        let Some(idx) = self
            .rooms
            .get(room)
            .and_then(|r| r.members.iter().position(|m| m.nick == nick))
        else {
            return reply_err(out, "cancel", "item-not-found", true);
        };
        let r = self.rooms.get_mut(room).expect("found above");
        let m = &mut r.members[idx];
        if m.real.as_str() != from {
            return reply_err(out, "cancel", "item-not-found", true);
        }
        let Some(s) = m.session.as_mut().filter(|s| s.sid == j.sid) else {
            return reply_err(out, "cancel", "item-not-found", true);
        };
        let ep = s.ep;
        let owner = m.nick.clone();
        match j.action {
            Action::SessionAccept => {
                if s.accepted {
                    return reply_err(out, "cancel", "unexpected-request", false);
                }
                let tr = j.transport();
                let (Some(ufrag), Some(pwd), Some(fp)) = (
                    tr.and_then(|t| t.ufrag.clone()),
                    tr.and_then(|t| t.pwd.clone()),
                    tr.and_then(|t| t.fingerprint.clone()),
                ) else {
                    return reply_err(out, "modify", "bad-request", false);
                };
                let candidates = udp_candidates(&j);
                let sources = sources_of(&j, &owner);
                s.accepted = true;
                s.sources = sources.clone();
                self.sfu.send(Command::Accept {
                    ep,
                    remote: IceCreds { ufrag, pass: pwd },
                    fingerprint: format!("{} {}", fp.hash, fp.value),
                    sources: specs(&sources),
                    candidates,
                });
                out.push((from.clone(), stanza::iq_result(&iq, None)));
                self.relay(room, idx, Action::SourceAdd, &sources, out);
            }
            Action::SourceAdd | Action::SourceRemove => {
                let change = sources_of(&j, &owner);
                let applied = if j.action == Action::SourceAdd {
                    merge(&mut s.sources, &change);
                    change
                } else {
                    subtract(&mut s.sources, &change)
                };
                let accepted = s.accepted;
                if accepted {
                    self.sfu.send(Command::Sources {
                        ep,
                        sources: specs(&s.sources),
                    });
                }
                out.push((from.clone(), stanza::iq_result(&iq, None)));
                if accepted {
                    self.relay(room, idx, j.action, &applied, out);
                }
            }
            Action::TransportInfo => {
                let candidates = udp_candidates(&j);
                self.sfu.send(Command::Candidates { ep, candidates });
                out.push((from.clone(), stanza::iq_result(&iq, None)));
            }
            Action::SessionTerminate => {
                out.push((from.clone(), stanza::iq_result(&iq, None)));
                self.end(room, idx, out);
            }
            Action::SessionInfo => out.push((from.clone(), stanza::iq_result(&iq, None))),
            Action::SessionInitiate => reply_err(out, "modify", "bad-request", false),
        }
    }
}

impl Conductor for JingleConductor {
    fn on_event(&mut self, event: FocusEvent, out: &mut Vec<(String, Element)>) {
        match event {
            FocusEvent::FocusJoined { room } => {
                let key = room.to_string();
                let r = self.rooms.entry(key.clone()).or_default();
                r.focus = true;
                let people: Vec<usize> = (0..r.members.len())
                    .filter(|&i| r.members[i].phone.is_none())
                    .collect();
                for i in people {
                    self.initiate(&key, i, out);
                }
            }
            FocusEvent::OccupantJoined {
                room,
                nick,
                real,
                presence,
            } => {
                let key = room.to_string();
                let r = self.rooms.entry(key.clone()).or_default();
                r.members.push(Member {
                    display: super::hub::display_name(&nick, &presence),
                    nick,
                    real,
                    session: None,
                    phone: None,
                });
                if r.focus {
                    let i = r.members.len() - 1;
                    self.initiate(&key, i, out);
                }
            }
            FocusEvent::PhoneJoined {
                room,
                nick,
                real,
                ssrc,
            } => {
                let key = room.to_string();
                let sources = phone_sources(&nick, ssrc);
                let r = self.rooms.entry(key.clone()).or_default();
                r.members.push(Member {
                    display: nick.clone(),
                    nick,
                    real,
                    session: None,
                    phone: Some(sources.clone()),
                });
                let i = r.members.len() - 1;
                self.sfu.send(Command::Phone {
                    room: sfu_room(&key),
                    ssrc,
                    present: true,
                });
                self.relay(&key, i, Action::SourceAdd, &sources, out);
            }
            FocusEvent::OccupantLeft { room, nick } => {
                let key = room.to_string();
                let Some(i) = self
                    .rooms
                    .get(&key)
                    .and_then(|r| r.members.iter().position(|m| m.nick == nick))
                else {
                    return;
                };
                self.end(&key, i, out);
                if let Some(r) = self.rooms.get_mut(&key) {
                    r.members.remove(i);
                }
            }
            FocusEvent::RoomEnded { room } => {
                let key = room.to_string();
                let n = self.rooms.get(&key).map_or(0, |r| r.members.len());
                for i in 0..n {
                    self.end(&key, i, out);
                }
                self.rooms.remove(&key);
            }
            FocusEvent::FocusIq { room, nick, iq, .. } => {
                self.on_iq(room.as_str(), &nick, iq, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jid::BareJid;
    use tokio::sync::mpsc;

    fn conductor() -> (JingleConductor, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sfu = Sfu::detached(
            tx,
            "sha-256 01:02:03".into(),
            "127.0.0.1:10000".parse().unwrap(),
        );
        (JingleConductor::new(sfu, "focus@auth.localhost/focus"), rx)
    }

    fn join(c: &mut JingleConductor, nick: &str, out: &mut Vec<(String, Element)>) {
        c.on_event(
            FocusEvent::OccupantJoined {
                room: BareJid::new("r@conference.localhost").unwrap(),
                nick: nick.into(),
                real: FullJid::new(&format!("{nick}@localhost/x")).unwrap(),
                presence: vec![],
            },
            out,
        );
    }

    fn iq(c: &mut JingleConductor, nick: &str, body: &str, out: &mut Vec<(String, Element)>) {
        let el: Element = format!(
            "<iq xmlns='jabber:client' type='set' id='q' from='{nick}@localhost/x' to='r@conference.localhost/focus'>{body}</iq>"
        )
        .parse()
        .unwrap();
        c.on_event(
            FocusEvent::FocusIq {
                room: BareJid::new("r@conference.localhost").unwrap(),
                nick: nick.into(),
                real: FullJid::new(&format!("{nick}@localhost/x")).unwrap(),
                iq: el,
            },
            out,
        );
    }

    fn sid_of(el: &Element) -> String {
        el.get_child("jingle", jingle::NS_JINGLE)
            .unwrap()
            .attr("sid")
            .unwrap()
            .to_string()
    }

    fn accept(sid: &str, ssrc: u32) -> String {
        format!(
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'>\
             <content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
             <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{ssrc}'/></description>\
             <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='pppppppppppppppppppppp'>\
             <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>AA:BB</fingerprint>\
             </transport></content></jingle>"
        )
    }

    #[test]
    fn joining_after_the_focus_gets_an_offer_with_the_others_sources_and_leaving_removes_them() {
        let (mut c, mut rx) = conductor();
        let mut out = Vec::new();
        c.on_event(
            FocusEvent::FocusJoined {
                room: BareJid::new("r@conference.localhost").unwrap(),
            },
            &mut out,
        );
        join(&mut c, "aaaa0001", &mut out);
        let init_a = out.pop().unwrap().1;
        assert!(matches!(rx.try_recv().unwrap(), Command::Add { .. }));
        iq(
            &mut c,
            "aaaa0001",
            &accept(&sid_of(&init_a), 4242),
            &mut out,
        );
        assert_eq!(out.pop().unwrap().1.attr("type"), Some("result"));
        match rx.try_recv().unwrap() {
            Command::Accept {
                sources,
                fingerprint,
                ..
            } => {
                assert_eq!(sources[0].ssrc, 4242);
                assert_eq!(fingerprint, "sha-256 AA:BB");
            }
            other => panic!("{other:?}"),
        }
        join(&mut c, "bbbb0002", &mut out);
        let (to, init_b) = out.pop().unwrap();
        assert_eq!(to, "bbbb0002@localhost/x");
        let j = jingle::parse(init_b.get_child("jingle", jingle::NS_JINGLE).unwrap()).unwrap();
        assert_eq!(j.contents[0].sources[0].ssrc, 4242);
        assert_eq!(j.contents[0].sources[0].owner.as_deref(), Some("aaaa0001"));
        iq(&mut c, "bbbb0002", &accept(&sid_of(&init_b), 777), &mut out);
        // B's accept: result to B, source-add to A.
        let (to, add) = out.pop().unwrap();
        assert_eq!(to, "aaaa0001@localhost/x");
        let j = jingle::parse(add.get_child("jingle", jingle::NS_JINGLE).unwrap()).unwrap();
        assert_eq!(
            (j.action, j.contents[0].sources[0].ssrc),
            (Action::SourceAdd, 777)
        );
        out.clear();
        c.on_event(
            FocusEvent::OccupantLeft {
                room: BareJid::new("r@conference.localhost").unwrap(),
                nick: "bbbb0002".into(),
            },
            &mut out,
        );
        let (to, rm) = out.pop().unwrap();
        assert_eq!(to, "aaaa0001@localhost/x");
        let j = jingle::parse(rm.get_child("jingle", jingle::NS_JINGLE).unwrap()).unwrap();
        assert_eq!(
            (j.action, j.contents[0].sources[0].ssrc),
            (Action::SourceRemove, 777)
        );
    }

    #[test]
    fn malformed_jingle_and_unknown_sessions_get_errors() {
        let (mut c, _rx) = conductor();
        let mut out = Vec::new();
        c.on_event(
            FocusEvent::FocusJoined {
                room: BareJid::new("r@conference.localhost").unwrap(),
            },
            &mut out,
        );
        join(&mut c, "aaaa0001", &mut out);
        out.clear();
        iq(
            &mut c,
            "aaaa0001",
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept'/>",
            &mut out,
        );
        let e = out.pop().unwrap().1;
        assert_eq!(e.attr("type"), Some("error"));
        assert!(
            e.get_child("error", ns::CLIENT)
                .unwrap()
                .has_child("bad-request", ns::STANZA_ERRORS)
        );
        iq(&mut c, "aaaa0001", &accept("nope", 1), &mut out);
        let e = out.pop().unwrap().1;
        let err = e.get_child("error", ns::CLIENT).unwrap();
        assert!(err.has_child("item-not-found", ns::STANZA_ERRORS));
        assert!(err.has_child("unknown-session", NS_JINGLE_ERRORS));
    }

    #[test]
    fn a_phone_caller_is_offered_to_browsers_and_removed_when_it_leaves() {
        let (mut c, mut rx) = conductor();
        let mut out = Vec::new();
        let room = || BareJid::new("r@conference.localhost").unwrap();
        c.on_event(FocusEvent::FocusJoined { room: room() }, &mut out);
        join(&mut c, "aaaa0001", &mut out);
        let init_a = out.pop().unwrap().1;
        iq(
            &mut c,
            "aaaa0001",
            &accept(&sid_of(&init_a), 4242),
            &mut out,
        );
        out.clear();
        while rx.try_recv().is_ok() {}
        c.on_event(
            FocusEvent::PhoneJoined {
                room: room(),
                nick: "phone-7".into(),
                real: FullJid::new("phone-7@localhost/phone").unwrap(),
                ssrc: 99,
            },
            &mut out,
        );
        // The SFU gets the caller's source for room "r"; A gets a source-add.
        match rx.try_recv().unwrap() {
            Command::Phone {
                room,
                ssrc,
                present,
            } => assert_eq!((room.as_str(), ssrc, present), ("r", 99, true)),
            other => panic!("{other:?}"),
        }
        let (to, add) = out.pop().unwrap();
        assert_eq!(to, "aaaa0001@localhost/x");
        let j = jingle::parse(add.get_child("jingle", jingle::NS_JINGLE).unwrap()).unwrap();
        assert_eq!(j.action, Action::SourceAdd);
        assert_eq!(j.contents[0].sources[0].ssrc, 99);
        assert_eq!(j.contents[0].sources[0].owner.as_deref(), Some("phone-7"));
        // A browser joining later is offered the caller's source at once.
        join(&mut c, "bbbb0002", &mut out);
        let init_b = out.pop().unwrap().1;
        let j = jingle::parse(init_b.get_child("jingle", jingle::NS_JINGLE).unwrap()).unwrap();
        let offered: Vec<u32> = j
            .contents
            .iter()
            .flat_map(|c| c.sources.iter().map(|s| s.ssrc))
            .collect();
        assert!(
            offered.contains(&99) && offered.contains(&4242),
            "{offered:?}"
        );
        out.clear();
        c.on_event(
            FocusEvent::OccupantLeft {
                room: room(),
                nick: "phone-7".into(),
            },
            &mut out,
        );
        let removes: Vec<_> = out
            .iter()
            .map(|(to, el)| {
                let j = jingle::parse(el.get_child("jingle", jingle::NS_JINGLE).unwrap()).unwrap();
                (to.clone(), j.action, j.contents[0].sources[0].ssrc)
            })
            .collect();
        assert!(removes.contains(&("aaaa0001@localhost/x".into(), Action::SourceRemove, 99)));
        assert!(removes.contains(&("bbbb0002@localhost/x".into(), Action::SourceRemove, 99)));
    }
}
