//! The hub in memory: sessions are numbers, stanzas are parsed literals.

use super::*;

fn el(s: &str) -> Element {
    s.parse().unwrap()
}

fn hub_with(users: &[(SessionId, &str)]) -> Hub {
    let mut h = Hub::new("localhost").unwrap();
    let mut out = Vec::new();
    for (sid, j) in users {
        h.connect(*sid, FullJid::new(j).unwrap(), &mut out);
    }
    assert!(out.is_empty());
    h
}

fn sent_to(out: &[Delivery], sid: SessionId) -> Vec<&Element> {
    out.iter()
        .filter_map(|d| match d {
            Delivery::Send(s, e) if *s == sid => Some(e),
            _ => None,
        })
        .collect()
}

fn join(h: &mut Hub, sid: SessionId, from: &str, nick: &str, extra: &str) -> Vec<Delivery> {
    let mut out = Vec::new();
    h.stanza(
        sid,
        el(&format!(
            "<presence xmlns='jabber:client' from='{from}' to='r1@conference.localhost/{nick}'><x xmlns='http://jabber.org/protocol/muc'>{extra}</x></presence>"
        )),
        &mut out,
    );
    out
}

fn status_codes(p: &Element) -> Vec<String> {
    p.get_child("x", ns::MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ping_to_the_server_gets_a_result() {
    let mut h = hub_with(&[(1, "a@localhost/r")]);
    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='get' id='p' from='a@localhost/r' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"), &mut out);
    let r = sent_to(&out, 1);
    assert_eq!(r[0].attr("type"), Some("result"));
    assert_eq!(r[0].attr("id"), Some("p"));
}

#[test]
fn an_unknown_iq_gets_service_unavailable() {
    let mut h = hub_with(&[(1, "a@localhost/r")]);
    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='get' id='v' from='a@localhost/r' to='localhost'><query xmlns='jabber:iq:version'/></iq>"), &mut out);
    let r = sent_to(&out, 1);
    assert_eq!(r[0].attr("type"), Some("error"));
    assert!(
        r[0].get_child("error", ns::CLIENT)
            .unwrap()
            .has_child("service-unavailable", ns::STANZA_ERRORS)
    );
}

#[test]
fn the_first_joiner_creates_and_owns_the_room_and_the_second_sees_both() {
    let mut h = hub_with(&[(1, "a@localhost/r"), (2, "b@localhost/r")]);
    let out = join(&mut h, 1, "a@localhost/r", "alice", "");
    let self_p = sent_to(&out, 1);
    assert_eq!(self_p.len(), 2, "self-presence, then the subject");
    assert!(self_p[1].has_child("subject", ns::CLIENT));
    assert_eq!(status_codes(self_p[0]), ["100", "110", "201"]);
    let item = self_p[0]
        .get_child("x", ns::MUC_USER)
        .unwrap()
        .get_child("item", ns::MUC_USER)
        .unwrap();
    assert_eq!(item.attr("affiliation"), Some("owner"));
    assert_eq!(item.attr("role"), Some("moderator"));
    assert_eq!(item.attr("jid"), Some("a@localhost/r"));

    let out = join(&mut h, 2, "b@localhost/r", "bob", "");
    let to_b = sent_to(&out, 2);
    assert_eq!(to_b.len(), 3, "alice's presence, bob's own, the subject");
    assert_eq!(to_b[0].attr("from"), Some("r1@conference.localhost/alice"));
    assert_eq!(status_codes(to_b[1]), ["100", "110"]);
    let to_a = sent_to(&out, 1);
    assert_eq!(to_a[0].attr("from"), Some("r1@conference.localhost/bob"));
    let item = to_a[0]
        .get_child("x", ns::MUC_USER)
        .unwrap()
        .get_child("item", ns::MUC_USER)
        .unwrap();
    assert_eq!(item.attr("role"), Some("participant"));
}

#[test]
fn a_taken_nick_is_a_conflict_and_a_wrong_password_not_authorized() {
    let mut h = hub_with(&[(1, "a@localhost/r"), (2, "b@localhost/r")]);
    join(&mut h, 1, "a@localhost/r", "alice", "");
    let out = join(&mut h, 2, "b@localhost/r", "alice", "");
    let e = sent_to(&out, 2)[0];
    assert_eq!(e.attr("type"), Some("error"));
    assert!(
        e.get_child("error", ns::CLIENT)
            .unwrap()
            .has_child("conflict", ns::STANZA_ERRORS)
    );

    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='set' id='c' from='a@localhost/r' to='r1@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomsecret'><value>pw</value></field></x></query></iq>"), &mut out);
    assert_eq!(sent_to(&out, 1)[0].attr("type"), Some("result"));
    let out = join(
        &mut h,
        2,
        "b@localhost/r",
        "bob",
        "<password>nope</password>",
    );
    let e = sent_to(&out, 2)[0];
    assert!(
        e.get_child("error", ns::CLIENT)
            .unwrap()
            .has_child("not-authorized", ns::STANZA_ERRORS)
    );
    let out = join(&mut h, 2, "b@localhost/r", "bob", "<password>pw</password>");
    let to_b = sent_to(&out, 2);
    assert_eq!(status_codes(to_b[to_b.len() - 2]), ["100", "110"]);
}

#[test]
fn groupchat_reaches_everyone_from_the_occupant_jid() {
    let mut h = hub_with(&[(1, "a@localhost/r"), (2, "b@localhost/r")]);
    join(&mut h, 1, "a@localhost/r", "alice", "");
    join(&mut h, 2, "b@localhost/r", "bob", "");
    let mut out = Vec::new();
    h.stanza(1, el("<message xmlns='jabber:client' type='groupchat' from='a@localhost/r' to='r1@conference.localhost'><body>hi</body></message>"), &mut out);
    for sid in [1, 2] {
        let m = sent_to(&out, sid);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].attr("from"), Some("r1@conference.localhost/alice"));
    }
}

#[test]
fn a_moderator_kicks_with_307_and_a_participant_cannot() {
    let mut h = hub_with(&[(1, "a@localhost/r"), (2, "b@localhost/r")]);
    join(&mut h, 1, "a@localhost/r", "alice", "");
    join(&mut h, 2, "b@localhost/r", "bob", "");
    let kick = |from: &str, nick: &str| {
        el(&format!(
            "<iq xmlns='jabber:client' type='set' id='k' from='{from}' to='r1@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='{nick}' role='none'/></query></iq>"
        ))
    };
    let mut out = Vec::new();
    h.stanza(2, kick("b@localhost/r", "alice"), &mut out);
    assert!(
        sent_to(&out, 2)[0]
            .get_child("error", ns::CLIENT)
            .unwrap()
            .has_child("forbidden", ns::STANZA_ERRORS)
    );
    let mut out = Vec::new();
    h.stanza(1, kick("a@localhost/r", "bob"), &mut out);
    let to_b = sent_to(&out, 2);
    assert_eq!(to_b[0].attr("type"), Some("unavailable"));
    assert_eq!(status_codes(to_b[0]), ["307", "110"]);
    assert!(h.take_events().contains(&FocusEvent::OccupantLeft {
        room: jid::BareJid::new("r1@conference.localhost").unwrap(),
        nick: "bob".into()
    }));
}

#[test]
fn the_focus_joins_on_the_conference_iq_and_answers_ready() {
    let mut h = hub_with(&[(1, "a@localhost/r")]);
    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='set' id='c1' from='a@localhost/r' to='focus.localhost'><conference xmlns='http://jitsi.org/protocol/focus' room='r1@conference.localhost' machine-uid='x'/></iq>"), &mut out);
    let r = sent_to(&out, 1)[0];
    assert_eq!(r.attr("type"), Some("result"));
    let c = r.get_child("conference", ns::FOCUS).unwrap();
    assert_eq!(c.attr("ready"), Some("true"));
    assert_eq!(c.attr("focusjid"), Some("focus@auth.localhost"));
    let out = join(&mut h, 1, "a@localhost/r", "abcd1234", "");
    let to_a = sent_to(&out, 1);
    assert_eq!(to_a[0].attr("from"), Some("r1@conference.localhost/focus"));
    let item = to_a[0]
        .get_child("x", ns::MUC_USER)
        .unwrap()
        .get_child("item", ns::MUC_USER)
        .unwrap();
    assert_eq!(item.attr("jid"), Some("focus@auth.localhost/focus"));
    assert_eq!(
        status_codes(to_a[1]),
        ["100", "110"],
        "the focus created the room, not alice"
    );

    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='set' id='c2' from='a@localhost/r' to='focus.localhost'><conference xmlns='http://jitsi.org/protocol/focus' room='nope@elsewhere'/></iq>"), &mut out);
    assert!(
        sent_to(&out, 1)[0]
            .get_child("error", ns::CLIENT)
            .unwrap()
            .has_child("bad-request", ns::STANZA_ERRORS)
    );
}

#[test]
fn leaving_broadcasts_unavailable_and_the_last_one_ends_the_room() {
    let mut h = hub_with(&[(1, "a@localhost/r"), (2, "b@localhost/r")]);
    join(&mut h, 1, "a@localhost/r", "alice", "");
    join(&mut h, 2, "b@localhost/r", "bob", "");
    h.take_events();
    let mut out = Vec::new();
    h.disconnect(2, &mut out);
    let to_a = sent_to(&out, 1);
    assert_eq!(to_a[0].attr("type"), Some("unavailable"));
    assert_eq!(to_a[0].attr("from"), Some("r1@conference.localhost/bob"));
    let mut out = Vec::new();
    h.stanza(1, el("<presence xmlns='jabber:client' type='unavailable' from='a@localhost/r' to='r1@conference.localhost/alice'/>"), &mut out);
    assert_eq!(status_codes(sent_to(&out, 1)[0]), ["110"]);
    assert!(
        h.take_events()
            .iter()
            .any(|e| matches!(e, FocusEvent::RoomEnded { .. }))
    );
}

fn phone(h: &mut Hub, ev: crate::bridge::PhoneEvent) -> Vec<Delivery> {
    let mut out = Vec::new();
    h.phone(ev, &mut out);
    out
}

#[test]
fn a_phone_caller_is_an_occupant_in_jigasis_shape_that_never_owns_the_room() {
    use crate::bridge::PhoneEvent;
    let mut h = hub_with(&[(1, "a@localhost/r")]);
    // The caller is there first: the room exists for it.
    let out = phone(
        &mut h,
        PhoneEvent::Joined {
            leg: 7,
            room: "R1".into(),
            display: "Phone …4567".into(),
            muted: false,
        },
    );
    assert!(out.is_empty(), "nobody to tell yet: {out:?}");
    assert!(matches!(
        h.take_events().as_slice(),
        [FocusEvent::PhoneJoined { nick, ssrc, .. }] if nick == "phone-7" && *ssrc == crate::bridge::phone_ssrc(7)
    ));
    // A browser joins: it sees the caller, and is owner itself.
    let out = join(&mut h, 1, "a@localhost/r", "alice", "");
    let got = sent_to(&out, 1);
    let p = got
        .iter()
        .find(|p| p.attr("from") == Some("r1@conference.localhost/phone-7"))
        .expect("the caller's presence");
    assert_eq!(
        p.get_child("nick", "http://jabber.org/protocol/nick")
            .unwrap()
            .text(),
        "Phone …4567"
    );
    let features = p.get_child("features", ns::CLIENT).unwrap();
    assert!(
        features
            .children()
            .any(|f| f.attr("var") == Some("http://jitsi.org/protocol/jigasi"))
    );
    assert_eq!(
        p.get_child("audiomuted", ns::CLIENT).unwrap().text(),
        "false"
    );
    let me = got
        .iter()
        .find(|p| status_codes(p).contains(&"110".to_string()))
        .unwrap();
    let item = me
        .get_child("x", ns::MUC_USER)
        .unwrap()
        .get_child("item", ns::MUC_USER)
        .unwrap();
    assert_eq!(item.attr("affiliation"), Some("owner"));
    // Muting shows; leaving is an unavailable presence and an OccupantLeft.
    let out = phone(
        &mut h,
        PhoneEvent::Muted {
            leg: 7,
            muted: true,
        },
    );
    assert_eq!(
        sent_to(&out, 1)[0]
            .get_child("audiomuted", ns::CLIENT)
            .unwrap()
            .text(),
        "true"
    );
    h.take_events();
    let out = phone(&mut h, PhoneEvent::Left { leg: 7 });
    assert_eq!(sent_to(&out, 1)[0].attr("type"), Some("unavailable"));
    assert!(matches!(
        h.take_events().as_slice(),
        [FocusEvent::OccupantLeft { nick, .. }] if nick == "phone-7"
    ));
}

/// Room r1 with the focus, alice (session 1, moderator) and bob (2).
fn focus_alice_and_bob() -> Hub {
    let mut h = hub_with(&[(1, "a@localhost/r"), (2, "b@localhost/r")]);
    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='set' id='c1' from='a@localhost/r' to='focus.localhost'><conference xmlns='http://jitsi.org/protocol/focus' room='r1@conference.localhost' machine-uid='x'/></iq>"), &mut out);
    join(&mut h, 1, "a@localhost/r", "alice", "");
    join(&mut h, 2, "b@localhost/r", "bob", "");
    h
}

#[test]
fn a_moderator_mutes_and_kicks_a_phone_caller_through_call_control_and_others_may_not() {
    use crate::bridge::{PhoneEvent, RoomRequest};
    let mut h = focus_alice_and_bob();
    phone(
        &mut h,
        PhoneEvent::Joined {
            leg: 7,
            room: "R1".into(),
            display: "Phone …4567".into(),
            muted: false,
        },
    );
    h.take_events();
    // (alice's and bob's joins, told to call control)
    assert_eq!(h.take_requests().len(), 2);
    let mute = |h: &mut Hub, sid: SessionId, from: &str, on: &str| {
        let mut out = Vec::new();
        h.stanza(
            sid,
            el(&format!(
                "<iq xmlns='jabber:client' type='set' id='m' from='{from}' to='r1@conference.localhost/focus'>\
                 <mute xmlns='http://jitsi.org/jitmeet/audio' jid='r1@conference.localhost/phone-7'>{on}</mute></iq>"
            )),
            &mut out,
        );
        sent_to(&out, sid)[0].attr("type").map(str::to_string)
    };
    // bob is a participant: refused, nothing asked of call control.
    assert_eq!(
        mute(&mut h, 2, "b@localhost/r", "true").as_deref(),
        Some("error")
    );
    assert!(h.take_requests().is_empty());
    // alice moderates: muting is asked of call control (by the SIP room name).
    assert_eq!(
        mute(&mut h, 1, "a@localhost/r", "true").as_deref(),
        Some("result")
    );
    assert_eq!(
        h.take_requests(),
        vec![RoomRequest::Mute {
            room: "R1".into(),
            leg: 7,
            muted: true
        }]
    );
    // Unmuting someone else is not a moderator's to do (jicofo's rule).
    assert_eq!(
        mute(&mut h, 1, "a@localhost/r", "false").as_deref(),
        Some("error")
    );
    // An IQ to the caller itself is refused, not left unanswered.
    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='get' id='v' from='a@localhost/r' to='r1@conference.localhost/phone-7'><query xmlns='jabber:iq:version'/></iq>"), &mut out);
    assert_eq!(sent_to(&out, 1)[0].attr("type"), Some("error"));
    // A kick hangs the call up.
    let mut out = Vec::new();
    h.stanza(1, el("<iq xmlns='jabber:client' type='set' id='k' from='a@localhost/r' to='r1@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='phone-7' role='none'/></query></iq>"), &mut out);
    h.take_events();
    assert_eq!(
        h.take_requests(),
        vec![RoomRequest::Kick {
            room: "R1".into(),
            leg: 7
        }]
    );
    // The hang-up that follows is not a second kick.
    phone(&mut h, PhoneEvent::Left { leg: 7 });
    h.take_events();
    assert!(h.take_requests().is_empty());
}

#[test]
fn a_moderators_jibri_iq_asks_call_control_to_record_and_the_focus_shows_the_status() {
    use crate::bridge::{PhoneEvent, RoomRequest};
    let mut h = focus_alice_and_bob();
    h.take_events();
    // The two browsers were told to call control.
    let joined: Vec<String> = h
        .take_requests()
        .into_iter()
        .filter_map(|r| match r {
            RoomRequest::Browser(crate::bridge::BrowserPresence::Joined { room, nick, .. }) => {
                Some(format!("{room}/{nick}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(joined, ["r1/alice", "r1/bob"]);
    let jibri = |h: &mut Hub, sid: SessionId, from: &str, attrs: &str| {
        let mut out = Vec::new();
        h.stanza(
            sid,
            el(&format!(
                "<iq xmlns='jabber:client' type='set' id='j' from='{from}' to='r1@conference.localhost/focus'>\
                 <jibri xmlns='http://jitsi.org/protocol/jibri' {attrs}/></iq>"
            )),
            &mut out,
        );
        sent_to(&out, sid)
            .first()
            .and_then(|e| e.get_child("error", ns::CLIENT))
            .and_then(|e| e.children().next().map(|c| c.name().to_string()))
    };
    // Not a moderator: forbidden. Streaming: not implemented.
    assert_eq!(
        jibri(
            &mut h,
            2,
            "b@localhost/r",
            "action='start' recording_mode='file'"
        )
        .as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        jibri(
            &mut h,
            1,
            "a@localhost/r",
            "action='start' recording_mode='stream' streamid='k'"
        )
        .as_deref(),
        Some("feature-not-implemented")
    );
    assert!(h.take_requests().is_empty());
    // The moderator: a Record request for call control, answered later.
    assert_eq!(
        jibri(
            &mut h,
            1,
            "a@localhost/r",
            "action='start' recording_mode='file'"
        ),
        None
    );
    match h.take_requests().as_slice() {
        [
            RoomRequest::Record {
                room, on, by, to, ..
            },
        ] => {
            assert_eq!((room.as_str(), *on), ("r1", true));
            assert_eq!(by, "r1@conference.localhost/alice");
            assert_eq!(to, "a@localhost/r");
        }
        other => panic!("{other:?}"),
    }
    // Call control says it records: everyone sees the focus's status.
    let out = phone(
        &mut h,
        PhoneEvent::Recording {
            room: "R1".into(),
            session: Some("abc".into()),
        },
    );
    for sid in [1, 2] {
        let p = sent_to(&out, sid)[0];
        assert_eq!(p.attr("from"), Some("r1@conference.localhost/focus"));
        let st = p
            .get_child("jibri-recording-status", "http://jitsi.org/protocol/jibri")
            .unwrap();
        assert_eq!(
            (st.attr("status"), st.attr("session_id")),
            (Some("on"), Some("abc"))
        );
    }
    let out = phone(
        &mut h,
        PhoneEvent::Recording {
            room: "R1".into(),
            session: None,
        },
    );
    let p = sent_to(&out, 1)[0];
    let st: Vec<_> = p
        .children()
        .filter(|c| c.name() == "jibri-recording-status")
        .collect();
    assert_eq!(st.len(), 1, "the status is replaced, not added");
    assert_eq!(st[0].attr("status"), Some("off"));
}

#[test]
fn a_moderators_rayo_dial_and_hangup_go_to_call_control_and_others_are_refused() {
    use crate::bridge::RoomRequest;
    let mut h = focus_alice_and_bob();
    h.take_events();
    h.take_requests();
    let iq = |h: &mut Hub, sid: SessionId, from: &str, to: &str, payload: &str| {
        let mut out = Vec::new();
        h.stanza(
            sid,
            el(&format!(
                "<iq xmlns='jabber:client' type='set' id='d' from='{from}' to='{to}'>{payload}</iq>"
            )),
            &mut out,
        );
        sent_to(&out, sid).first().map(|e| {
            e.get_child("error", ns::CLIENT)
                .and_then(|e| e.children().next().map(|c| c.name().to_string()))
                .unwrap_or_else(|| e.attr("type").unwrap_or("").to_string())
        })
    };
    let focus = "r1@conference.localhost/focus";
    let dial = "<dial xmlns='urn:xmpp:rayo:1' to='+15551234'/>";
    // bob is no moderator; a dial without a number is bad.
    assert_eq!(
        iq(&mut h, 2, "b@localhost/r", focus, dial).as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        iq(
            &mut h,
            1,
            "a@localhost/r",
            focus,
            "<dial xmlns='urn:xmpp:rayo:1'/>"
        )
        .as_deref(),
        Some("bad-request")
    );
    assert!(h.take_requests().is_empty());
    // alice is: call control gets the dial (and answers it later).
    assert_eq!(iq(&mut h, 1, "a@localhost/r", focus, dial), None);
    match h.take_requests().as_slice() {
        [
            RoomRequest::Dial {
                room,
                room_jid,
                number,
                by,
                to,
                ..
            },
        ] => {
            assert_eq!(
                (room.as_str(), room_jid.as_str(), number.as_str()),
                ("r1", "r1@conference.localhost", "+15551234")
            );
            assert_eq!(by, "r1@conference.localhost/alice");
            assert_eq!(to, "a@localhost/r");
        }
        other => panic!("{other:?}"),
    }
    // Hanging up the <ref>'s occupant (ringing: not in the room yet).
    let hangup = "<hangup xmlns='urn:xmpp:rayo:1'/>";
    let callee = "r1@conference.localhost/phone-42";
    assert_eq!(
        iq(&mut h, 2, "b@localhost/r", callee, hangup).as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        iq(&mut h, 1, "a@localhost/r", callee, hangup).as_deref(),
        Some("result")
    );
    assert_eq!(
        h.take_requests(),
        [RoomRequest::Kick {
            room: "r1".into(),
            leg: 42
        }]
    );
}
