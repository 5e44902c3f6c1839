//! Two guests (slixmpp, SASL ANONYMOUS over TCP) join one MUC room, see each
//! other's presence with real JIDs, roles and the status codes XEP-0045
//! requires, and read each other's groupchat; a third cannot take a nick in
//! use; the owner kicks a guest, who cannot kick the owner.

mod common;
use common::{Server, slixmpp};

fn presences_from<'a>(v: &'a serde_json::Value, from: &str) -> Vec<&'a serde_json::Value> {
    v.as_array()
        .unwrap()
        .iter()
        .filter(|p| p["from"] == from)
        .collect()
}

#[test]
fn two_guests_see_each_other_and_their_groupchat() {
    let mut s = Server::new("");
    s.start();
    let v = slixmpp(&s, "muc", &["--room", "standup"]);
    let room = "standup@conference.localhost";
    let (a_jid, b_jid) = (v["a_jid"].as_str().unwrap(), v["b_jid"].as_str().unwrap());
    assert!(
        a_jid.ends_with("@localhost/") || a_jid.contains("@localhost/"),
        "{v}"
    );
    assert_ne!(a_jid, b_jid);
    // Jitsi takes the endpoint id from the first 8 hex digits of the node.
    assert!(a_jid[..8].chars().all(|c| c.is_ascii_hexdigit()), "{a_jid}");

    // Alice created the room: her self-presence has 110 and 201, she owns it.
    let a_self = presences_from(&v["a_presences"], &format!("{room}/alice"));
    let first = a_self.first().unwrap_or_else(|| panic!("{v}"));
    let codes: Vec<&str> = first["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(codes.contains(&"110") && codes.contains(&"201"), "{v}");
    assert_eq!(first["item"]["affiliation"], "owner");
    assert_eq!(first["item"]["role"], "moderator");
    assert_eq!(first["item"]["jid"], a_jid);

    // Alice sees Bob arrive as a participant with his real JID.
    let bob_at_a = presences_from(&v["a_presences"], &format!("{room}/bob"));
    assert_eq!(bob_at_a.len(), 1, "{v}");
    assert_eq!(bob_at_a[0]["item"]["jid"], b_jid);
    assert_eq!(bob_at_a[0]["item"]["role"], "participant");
    // Bob got Alice's presence (without 110) and his own (with 110, no 201).
    let alice_at_b = presences_from(&v["b_presences"], &format!("{room}/alice"));
    assert_eq!(alice_at_b[0]["item"]["jid"], a_jid);
    assert!(alice_at_b[0]["codes"].as_array().unwrap().is_empty());
    let b_self = presences_from(&v["b_presences"], &format!("{room}/bob"));
    let codes: Vec<&str> = b_self[0]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(codes.contains(&"110") && !codes.contains(&"201"), "{v}");

    // The groupchat reached both, from Alice's occupant JID.
    for who in ["a_groupchat", "b_groupchat"] {
        assert_eq!(
            v[who],
            serde_json::json!([[format!("{room}/alice"), "hello from alice"]]),
            "{who}: {v}"
        );
    }
    assert_eq!(v["third_as_alice"], "conflict", "{v}");
}

#[test]
fn the_owner_kicks_a_guest_and_a_guest_cannot_kick_the_owner() {
    let mut s = Server::new("");
    s.start();
    let v = slixmpp(&s, "kick", &["--room", "kicks"]);
    assert_eq!(v["guest_kicks_owner"], "forbidden", "{v}");
    let saw = v["guest_saw"].as_array().unwrap();
    assert_eq!(saw.len(), 1, "{v}");
    assert_eq!(saw[0]["from"], "kicks@conference.localhost/guest");
    let codes = saw[0]["codes"].as_array().unwrap();
    assert!(
        codes.contains(&"307".into()) && codes.contains(&"110".into()),
        "{v}"
    );
    let owner_saw = v["owner_saw"].as_array().unwrap();
    assert_eq!(
        owner_saw[0]["from"], "kicks@conference.localhost/guest",
        "{v}"
    );
    assert!(
        owner_saw[0]["codes"]
            .as_array()
            .unwrap()
            .contains(&"307".into())
    );
}
